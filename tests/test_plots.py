import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd
from matplotlib.patches import Rectangle

from tsvq import plots


def test_real_vs_synthetic_shows_only_the_classes_that_were_sampled():
    rng = np.random.default_rng(0)
    real, y_real = rng.standard_normal((12, 1, 30)), np.repeat([0, 1, 2], 4)
    one_class = plots.plot_real_vs_synthetic(real, y_real, rng.standard_normal((5, 1, 30)), np.full(5, 1))
    assert [ax.get_title() for ax in one_class.axes] == ["real, class 1", "synthetic, class 1"]
    every_class = plots.plot_real_vs_synthetic(real, y_real, real, y_real)
    assert len(every_class.axes) == 6 and all(ax.lines for ax in every_class.axes)


def _runs():
    rng = np.random.default_rng(0)
    rows = [{"setting": s, "prior": p, "seed": seed, "fid": 1 + rng.random(), "svm_accuracy": 0.8 + rng.random() / 10,
             "test_time_mse": 0.02 + rng.random() / 100}
            for s in ("naive", "vibcreg-slice", "barlowtwins-warp") for p in ("token", "embedding") for seed in range(3)]
    return pd.DataFrame(rows)


def test_one_palette_naive_always_grey():
    assert plots.setting_color("naive") == plots.NAIVE
    assert plots.setting_color("vibcreg-slice-weight0.1") == plots.setting_color("vibcreg-slice")
    assert plots.setting_color("vibcreg-slice + embedding") == plots.setting_color("vibcreg-slice")
    assert len(set(plots.SETTING_COLORS.values())) == len(plots.SETTING_COLORS)
    assert plots.color_for("prior", "token") != plots.color_for("prior", "embedding")
    assert plots.label("svm_accuracy") == "SVM accuracy on TEST"


def test_result_figures_are_points_with_intervals_labelled_in_words():
    runs = _runs()
    fig = plots.plot_metric_points(runs, metrics=["svm_accuracy", "test_time_mse"])
    assert not any(isinstance(p, Rectangle) and p.get_height() > 0 for ax in fig.axes for p in ax.patches)
    labels = [ax.get_xlabel() for ax in fig.axes]
    assert "svm_accuracy" not in " ".join(labels) and "SVM accuracy" in labels[0] and "MSE" in labels[1]
    naive = [line for line in fig.axes[0].lines if line.get_color() == plots.NAIVE]
    assert naive  # the naive point, grey
    grouped = plots.plot_grouped_points(runs, metrics=["fid", "svm_accuracy"], x="setting", hue="prior")
    log_axes = [ax for ax in grouped.axes if ax.get_yscale() == "log"]
    assert log_axes and not any(isinstance(p, Rectangle) and p.get_height() > 0 for ax in log_axes for p in ax.patches)
    assert grouped.legends and not any(ax.get_legend() for ax in grouped.axes)  # one legend, below the axes


def test_differences_are_drawn_around_zero_with_their_intervals():
    from tsvq import report

    runs = _runs()
    tests = report.compare_family(runs, {"fid": False, "svm_accuracy": True}, within="prior")
    fig = plots.plot_differences(tests, hue="prior")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["vibcreg-slice", "barlowtwins-warp"]
    assert any(np.allclose(line.get_xdata(), 0) for line in ax.lines)  # the no-difference line
    assert len(fig.legends[0].get_texts()) == 2  # one entry per prior


def test_overview_has_a_row_of_panels_per_stage_and_a_line_per_dataset():
    from tsvq import report

    runs = _runs().assign(dataset="A", profile="cpu", knn_accuracy=0.7, kid=0.1, cas=0.9)
    runs["knn_accuracy"] += np.arange(len(runs)) / 100
    both = pd.concat([runs, runs.assign(dataset="B")], ignore_index=True)
    stage1 = both[both["prior"] == "token"].drop(columns="prior")
    t = report.overview_tests(stage1, both)
    fig = plots.plot_overview(t)
    drawn = [ax for ax in fig.axes if ax.axison]
    assert len(drawn) == 6  # knn, svm, mse on top; fid, kid, cas below
    assert "FID" in drawn[3].get_xlabel() and len(fig.legends[0].get_texts()) == 2 + 2  # two SSL settings, two priors
    assert [x.get_text() for x in drawn[0].get_yticklabels()] == ["A", "B"]
    assert "SSL − naive" in drawn[0].get_xlabel()


def test_critical_difference_uses_aeon_and_the_palette():
    scores = pd.DataFrame({"naive": [0.7, 0.8, 0.6], "vibcreg-slice": [0.75, 0.85, 0.7],
                           "barlowtwins-warp": [0.72, 0.79, 0.65]}, index=["A", "B", "C"])
    fig = plots.plot_critical_difference(scores)
    texts = {t.get_text(): t.get_color() for ax in fig.axes for t in ax.texts}
    assert matplotlib.colors.same_color(texts["naive"], plots.NAIVE)
    assert "3 datasets" in fig.axes[0].get_title()
