# ---
# jupyter:
#   kernelspec:
#     display_name: Python (tsvq)
#     language: python
#     name: tsvq
# ---

# %% [markdown]
# # Conclusions
#
# This page answers the five research questions from the results the book holds when it is built.
# Its tables and sentences are computed from the metric files under `results/`, never typed by hand,
# so they cannot drift from the numbers. Per question and metric, a grid gives for every dataset (row)
# and SSL setting (column) the mean paired difference to the naive tokenizer over the seeds both ran,
# marked with the verdict of one rule, which uses the 95 % t-interval of that difference, the paired
# t-test p-value and the Holm p-value over the family of comparisons the question's chapter makes for
# that dataset:
#
# - **supported**: Holm p < 0.05 and the interval excludes 0;
# - **suggestive**: only the uncorrected p < 0.05;
# - **no evidence**: otherwise.
#
# A direction (higher/lower, better/worse) is named only with a verdict other than "no evidence". Under
# each grid, the verdicts are counted; the sentences with every interval and p-value are folded below
# them ("Show code cell output").
# Results of the `smoke` profile only show that the pipeline runs. The chapter of each question holds
# its figures and full tables; the *Summary of results* holds every number side by side with the
# thesis' and the view across datasets. Where one SSL tokenizer must stand for all (RQ5) it is chosen
# on the VAL prior loss, never on a TEST metric.

# %% tags=["parameters"]
dataset = "GunPoint"
profile = "cpu"
seeds = [0]
data_dir = None
results_dir = "results"

# %%
import pandas as pd
from IPython.display import Markdown, display

from tsvq import book, report
from tsvq.experiments import STAGE1_SETTINGS, collect_current
from tsvq.identity import Setting

stage1 = collect_current(results_dir, "stage1.csv", data_dir)  # rows of the current config only
stage2 = collect_current(results_dir, "stage2.csv", data_dir)
names = [Setting(*s).name for s in STAGE1_SETTINGS]


def grids(tests, metrics, *, by="setting", order=names):
    """A verdict grid per metric (``metrics``: {metric: higher_is_better}), then the verdicts counted."""
    if tests.empty:
        display(Markdown("No results yet."))
        return
    for m, higher in metrics.items():
        grid = report.verdict_grid(tests, m, by=by, order=order)
        if not grid.empty:
            sense = "" if higher is None else f" ({'higher' if higher else 'lower'} is better)"
            display(book.table(book.short_settings(grid), drop_constant=("profile",), small=True,
                               caption=f"{report.WORDS.get(m, m)}{sense}: {report.GROUP_WORDS[by]} − naive, mean "
                                       f"paired difference; {report.MARK_LEGEND}"
                                       + (f"; {book.SHORT_LEGEND}" if by == "setting" else "")))
    display(Markdown("Verdicts — " + report.verdict_counts(tests, metrics) + "."))

# %% [markdown]
# ## RQ1 — Classification from the learned representation
#
# *Does the SSL extension improve downstream classification of the learned representation while
# still reconstructing well?* The answer is "yes" where the SSL settings' TEST probe accuracies
# (linear SVM, KNN on the pooled quantised latents) rise above the naive tokenizer's while their TEST
# reconstruction error stays close to it. The RQ1 chapter shows the probes per setting, the paired
# tests, reconstructions, codebook usage and latent maps.

# %%
rq1 = report.compare_family(stage1, report.RQ1_METRICS)
grids(rq1, {"knn_accuracy": True, "svm_accuracy": True, "test_time_mse": False})

# %% tags=["hide-output"]
Markdown(report.markdown_list(report.describe_versus(rq1, higher_is_better=report.RQ1_METRICS)))

# %% [markdown]
# Across datasets, per SSL setting: the median of the per-dataset differences with its distribution-free
# 95 % interval, how many datasets are better, tied (interval containing 0) or worse, the Wilcoxon
# signed-rank p-value, its Holm correction over the six settings × three metrics, and the verdict of the
# same rule (the median's interval standing for the interval).

# %%
across = report.across_family(stage1, report.RQ1_METRICS)
book.table(report.across_table(across), drop_constant=("profile",), small=True) if not across.empty else \
    Markdown("No dataset has results yet.")

# %% [markdown]
# ## RQ2 — The influence of the augmentations on the tokenizer
#
# *How do the augmentations influence reconstruction and downstream classification?* Per seed the
# two SSL losses sharing an augmentation are averaged, and each augmentation is set against the naive
# tokenizer: which augmentation gives the highest probe accuracy, and which costs the most
# reconstruction. The RQ2 chapter shows the trade-off figure and the tests per setting.

# %%
per_aug = report.per_augmentation(stage1, report.RQ2_METRICS) if not stage1.empty else stage1
rq2 = report.compare_family(per_aug, report.RQ2_METRICS, baseline="none", by="aug")
rq2 = rq2[rq2["metric"] != "perplexity"] if not rq2.empty else rq2
grids(rq2, {"knn_accuracy": True, "svm_accuracy": True, "test_time_mse": False}, by="aug",
      order=["warp", "slice", "gauss"])

# %% tags=["hide-output"]
Markdown(report.markdown_list(report.describe_versus(rq2, higher_is_better=report.RQ2_METRICS, by="aug",
                                                     baseline="none")))

# %% [markdown]
# ## RQ3 — Expressive tokens and prior learning
#
# *Do more expressive tokens make prior learning easier?* A lower VAL loss alone does not say so: a
# tokenizer whose tokens have a lower unigram entropy is easier to predict without any context. The
# verdict therefore rests on the **context gain**, the TRAIN token entropy minus the best VAL loss
# (nats), SSL against naive under each prior; the raw loss stands beside it. The RQ3 chapter adds the
# epochs each prior needs to reach the naive tokenizer's final VAL loss, and the VAL-loss curves against
# $\log K$.

# %%
rq3 = report.rq3_tests(stage2) if not stage2.empty else pd.DataFrame()
grids(rq3, {"context_gain": True, "best_val_loss": False})

# %% tags=["hide-output"]
Markdown(report.markdown_list(report.describe_versus(rq3, higher_is_better=report.RQ3_METRICS)))

# %% [markdown]
# ## RQ4 — The influence of the augmentations on generation
#
# *How do the augmentations influence prior learning and the quality of synthetic samples?* Under
# each prior (the rows), FID and KID of unconditional samples against real TEST at equal size (lower
# is better), CAS of class-conditional samples (higher is better) and the copy rate (the fraction of
# samples closer to a TRAIN series than real TEST series are: neither better nor worse, a warning when
# high), SSL tokenizers against the naive one. The folded sentences add the evaluator-free ROCKET-FID.
# The RQ4 chapter shows them per augmentation, with the real-data, reconstruction and noise anchors
# and real against synthetic series.

# %%
rq4 = report.compare_family(stage2, report.RQ4_METRICS, within="prior")
grids(rq4, {"fid": False, "kid": False, "cas": True, "copy_rate": None})

# %% tags=["hide-output"]
shown = rq4[rq4["metric"].isin(["fid", "rocket_fid", "kid", "cas"])] if not rq4.empty else rq4
Markdown(report.markdown_list(report.describe_versus(shown, higher_is_better=report.RQ4_METRICS)))

# %% [markdown]
# ## RQ5 — Token prior against embedding prior
#
# *How does the SSL tokenizer fare under another prior?* The 2 × 2 of {naive, SSL} tokenizer ×
# {token, embedding} prior, with the SSL tokenizer chosen by the lowest VAL prior loss. "Yes" means
# the SSL tokenizer is better than the naive one under both priors, not only on the thesis' diagonal
# (naive + token against SSL + embedding). The lines give the tokenizer's effect within each prior,
# the prior's effect within each tokenizer (with the thesis' own token prior, `token_thesis`, where
# it was run) and the diagonal. The RQ5 chapter shows the table, the grouped bars and all tests.

# %%
rq5 = report.rq5_tests(stage2) if not stage2.empty else pd.DataFrame()
if rq5.empty:
    display(Markdown("No dataset has both priors yet."))
else:
    display(book.table(report.rq5_grid(rq5, ("fid", "kid", "cas", "copy_rate")), drop_constant=("profile",),
                       small=True, caption="mean paired difference (FID and KID: lower is better, CAS: higher is "
                                           f"better); {report.MARK_LEGEND}"))
    display(Markdown("Verdicts — " + report.verdict_counts(rq5, ["fid", "kid", "cas", "copy_rate"]) + "."))

# %% tags=["hide-output"]
Markdown(report.markdown_list(report.describe_rq5(rq5, show=["fid", "rocket_fid", "kid", "cas"])
                              if not rq5.empty else []))

# %% [markdown]
# ## Limitations
#
# What these answers rest on, counted from the same tables: the profile (the `cpu` profile trains smaller
# networks for fewer epochs than the thesis), the number of seeds behind each comparison, and the datasets.
# A verdict on one dataset says nothing about another; the view across datasets (RQ1 above, and the
# *Summary*) needs many datasets before a Wilcoxon test can reach p < 0.05.

# %%
Markdown(report.markdown_list(report.limitations(stage1, stage2)))

# %%
book.reproduce("conclusions", dataset=dataset, profile=profile, seeds=seeds, results_dir=results_dir,
               files=["stage1.csv", "stage2.csv"], all_datasets=True)
