import matplotlib

matplotlib.use("Agg")
import numpy as np

from tsvq import plots


def test_real_vs_synthetic_shows_only_the_classes_that_were_sampled():
    rng = np.random.default_rng(0)
    real, y_real = rng.standard_normal((12, 1, 30)), np.repeat([0, 1, 2], 4)
    one_class = plots.plot_real_vs_synthetic(real, y_real, rng.standard_normal((5, 1, 30)), np.full(5, 1))
    assert [ax.get_title() for ax in one_class.axes] == ["real, class 1", "synthetic, class 1"]
    every_class = plots.plot_real_vs_synthetic(real, y_real, real, y_real)
    assert len(every_class.axes) == 6 and all(ax.lines for ax in every_class.axes)
