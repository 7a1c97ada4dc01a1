# ---
# jupyter:
#   kernelspec:
#     display_name: Python (tsvq)
#     language: python
#     name: tsvq
# ---

# %% [markdown]
# # RQ2 — The influence of the augmentations on the tokenizer
#
# **Question.** The SSL branch learns from two views of a series, the original and an augmented
# copy. How does the choice of augmentation (window warp, slice-and-shuffle, Gaussian noise) shape
# the tokenizer: its reconstruction error and the class information its latents carry?
#
# **How this chapter answers it.** It reads back the stage-1 grid of RQ1 (the same runs: tokenizers
# and metrics come from the cache and from `stage1.csv`) and looks at it along the augmentation axis:
# each augmentation with each SSL loss, then each augmentation averaged over the two SSL losses, both
# against the naive tokenizer on the same seeds. A comparison reports the mean paired difference, its
# 95 % interval, the p-value, the Holm p-value over its family and a verdict word of one rule:
# **supported** (Holm p < 0.05 and the interval excludes 0), **suggestive** (only the uncorrected
# p < 0.05), **no evidence** (otherwise).

# %% tags=["parameters"]
dataset = "GunPoint"
profile = "cpu"
seeds = [0]
data_dir = None
results_dir = "results"

# %%
import torch
from IPython.display import Markdown, display

from tsvq import book, plots, report
from tsvq.augment import AUGMENTATIONS, augment
from tsvq.book import results_path
from tsvq.experiments import STAGE1_SETTINGS, grid_rows

ds, cfg, _ = book.setup(dataset, profile, seeds, data_dir)
stage1 = grid_rows(ds, "stage1.csv", profile=profile, seeds=seeds, settings=STAGE1_SETTINGS, results_dir=results_dir)
n_seeds = book.seeds_present(stage1, seeds)
Markdown(f"{dataset}, profile `{profile}`: the seven tokenizer settings of RQ1, {n_seeds}.")


# %%
display(book.missing(stage1, dataset=dataset, profile=profile, seeds=seeds))
book.stop_unless(stage1, what="tokenizer runs")

# %%
aug_tests = report.compare_family(report.per_augmentation(stage1, report.RQ2_METRICS), report.RQ2_METRICS,
                                  baseline="none", by="aug")
Markdown(report.finding(aug_tests, {m: report.RQ2_METRICS[m] for m in ("knn_accuracy", "svm_accuracy",
                                                                       "test_time_mse")},
                        by="aug", baseline="none", per="group", profile=profile,
                        lead="Each augmentation, averaged over the SSL losses that use it, against the naive "
                             "tokenizer (`none`) on the same seeds:"))

# %% [markdown]
# ## The three augmentations
#
# {numref}`fig-augmentations`: three TRAIN series (light grey) and one draw of each augmentation (dark). *warp* stretches a random
# window of 40 % of the series by a factor in $[0.9, 2]$ and rescales the amplitude by
# $1 + \mathcal{N}(0, 0.2^2)$; *slice* cuts the series at three random points and permutes the four
# pieces; *gauss* adds $\mathcal{N}(0, 0.05^2)$ noise at every step. The SSL loss asks the pooled latent
# of the original and of the view to agree, so each augmentation names what the representation
# should *ignore*: local timing and scale (warp), the order of segments (slice), or fine-grained
# noise (gauss).

# %%
x = torch.as_tensor(ds.x_train[:3])
views = {name: augment(x, name, torch.Generator().manual_seed(seeds[0])).numpy() for name in AUGMENTATIONS}
book.figure(plots.plot_augmentations(x.numpy(), views), "augmentations",
            f"{dataset}: the first three TRAIN series (light grey) and one augmented view of each (dark), one "
            f"column per augmentation, drawn with seed {seeds[0]}; z-scaled values against time step.",
            dataset=dataset)

# %% [markdown]
# ## Reconstruction against probe accuracy
#
# One point per setting: the TEST reconstruction error (time domain) against the TEST KNN
# ({numref}`fig-tradeoff-knn`) and SVM ({numref}`fig-tradeoff-svm`) accuracy of the pooled latents,
# mean over seeds with 95 % intervals. A setting to the upper left of the naive
# tokenizer gains class information at no reconstruction cost; to the upper right it trades one
# for the other.

# %%
book.figure(plots.plot_tradeoff(stage1, x="test_time_mse", y="knn_accuracy"), "tradeoff-knn",
            f"{dataset}, profile {profile}: TEST KNN accuracy against TEST reconstruction MSE per tokenizer "
            f"setting ({ds.meta.n_test} TEST series), mean over {n_seeds} with 95 % t-intervals; grey star: naive.",
            dataset=dataset)

# %%
book.figure(plots.plot_tradeoff(stage1, x="test_time_mse", y="svm_accuracy"), "tradeoff-svm",
            f"{dataset}, profile {profile}: TEST SVM accuracy against TEST reconstruction MSE per tokenizer "
            f"setting ({ds.meta.n_test} TEST series), mean over {n_seeds} with 95 % t-intervals; grey star: naive.",
            dataset=dataset)

# %% [markdown]
# ## Each augmentation with each SSL loss
#
# {numref}`fig-by-augmentation`: points by augmentation, one colour per SSL loss (each in the colour
# of its slice setting), with 95 % intervals over the seeds; the naive tokenizer's mean is the dotted line.

# %%
ssl_runs = stage1[stage1["setting"] != "naive"]
naive = stage1[stage1["setting"] == "naive"]
metrics = ["knn_accuracy", "svm_accuracy", "test_time_mse", "perplexity"]
book.figure(plots.plot_grouped_points(ssl_runs, metrics=metrics, x="aug", hue="ssl",
                                      references={m: {"naive": naive[m].mean()} for m in metrics}),
            "by-augmentation",
            f"{dataset}, profile {profile}: TEST KNN and SVM accuracy, TEST reconstruction MSE and codebook "
            f"perplexity of the SSL tokenizers by augmentation and SSL loss, mean over {n_seeds} with 95 % "
            "t-intervals; dotted line: the naive tokenizer's mean.", dataset=dataset)

# %%
book.table(report.summarize(stage1, metrics + ["test_stft_mse", "mean_abs_corr_off_diagonal"], by=("aug", "ssl"),
                            cells_only=True))

# %% [markdown]
# ## Paired tests per setting
#
# Each SSL setting against the naive tokenizer on the same seeds: mean difference (setting − naive),
# interval, p, Holm p and verdict. These are RQ1's comparisons (the same family, so the same
# verdicts); the perplexity, which RQ1 does not test, is summarised above.

# %%
book.table(report.tests_table(report.compare_family(stage1, report.RQ1_METRICS)))

# %% [markdown]
# ## Each augmentation, averaged over the SSL losses
#
# Per seed, the two SSL losses that share an augmentation are averaged, which isolates the
# augmentation's effect; the paired test is again against the naive tokenizer (`aug = none`) on the
# same seeds, Holm over every augmentation × metric of this table (RQ2's family), drawn in
# {numref}`fig-augmentation-differences`. The
# per-augmentation means are written to `rq2.csv`.

# %%
per_aug = report.per_augmentation(stage1, report.RQ2_METRICS)
per_aug.to_csv(results_path(results_dir, dataset, profile, "rq2.csv"), index=False)
tests = report.compare_family(per_aug, report.RQ2_METRICS, baseline="none", by="aug")
book.table(report.tests_table(tests))

# %%
book.figure(plots.plot_differences(tests, metrics=["knn_accuracy", "svm_accuracy", "test_time_mse"], by="aug",
                                   baseline="naive"), "augmentation-differences",
            f"{dataset}, profile {profile}: each augmentation (averaged over the two SSL losses) minus the naive "
            f"tokenizer, paired on the seeds ({n_seeds}), with 95 % t-intervals; filled: supported, half-filled: "
            "suggestive, hollow: no evidence.", dataset=dataset)

# %% [markdown]
# ## Reading the result
#
# Computed from the tables above. What to look for: whether one augmentation helps the probes under
# both SSL losses (a property of the augmentation, not of the loss), and whether the augmentations
# that help classification are the ones that raise the reconstruction error. Each line gives the
# difference, its 95 % interval and the verdict of the rule; a `smoke` run only shows that the
# pipeline works.

# %%
Markdown(report.markdown_list(report.describe_versus(tests, higher_is_better=report.RQ2_METRICS, by="aug",
                                                     baseline="none")))

# %%
book.reproduce("rq2", dataset=dataset, profile=profile, seeds=seeds, results_dir=results_dir,
               files=["stage1.csv", "rq2.csv"])
