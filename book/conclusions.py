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
# Its sentences are computed from the metric files under `results/`, never typed by hand, so they
# cannot drift from the numbers. Every line names the dataset and the profile, and for each SSL
# setting the mean paired difference to the naive tokenizer over the seeds both ran, its 95 %
# t-interval, the paired t-test p-value, the Holm p-value over the family of comparisons the
# question's chapter makes for that dataset, and a verdict word of one rule:
#
# - **supported**: Holm p < 0.05 and the interval excludes 0;
# - **suggestive**: only the uncorrected p < 0.05;
# - **no evidence**: otherwise.
#
# A direction (higher/lower, better/worse) is named only with a verdict other than "no evidence".
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
from IPython.display import Markdown, display

from tsvq import book, report
from tsvq.experiments import collect_current

stage1 = collect_current(results_dir, "stage1.csv", data_dir)  # rows of the current config only
stage2 = collect_current(results_dir, "stage2.csv", data_dir)

# %% [markdown]
# ## RQ1 — Classification from the learned representation
#
# *Does the SSL extension improve downstream classification of the learned representation while
# still reconstructing well?* The answer is "yes" where the SSL settings' TEST probe accuracies
# (linear SVM, KNN on the pooled quantised latents) rise above the naive tokenizer's while their TEST
# reconstruction error stays close to it. The RQ1 chapter shows the probes per setting, the paired
# tests, reconstructions, codebook usage and latent maps.

# %%
Markdown(report.versus_markdown(stage1, report.RQ1_METRICS))

# %% [markdown]
# Across datasets, per SSL setting: the median of the per-dataset differences with its distribution-free
# 95 % interval, how many datasets are better, tied (interval containing 0) or worse, the Wilcoxon
# signed-rank p-value, its Holm correction over the six settings × three metrics, and the verdict of the
# same rule (the median's interval standing for the interval).

# %%
Markdown(report.markdown_list(report.describe_across(report.across_family(stage1, report.RQ1_METRICS))))

# %% [markdown]
# ## RQ2 — The influence of the augmentations on the tokenizer
#
# *How do the augmentations influence reconstruction and downstream classification?* Per seed the
# two SSL losses sharing an augmentation are averaged, and each augmentation is set against the naive
# tokenizer: which augmentation gives the highest probe accuracy, and which costs the most
# reconstruction. The RQ2 chapter shows the trade-off figure and the tests per setting.

# %%
per_aug = report.per_augmentation(stage1, report.RQ2_METRICS) if not stage1.empty else stage1
Markdown(report.versus_markdown(per_aug, report.RQ2_METRICS, baseline="none", by="aug",
                                show=["knn_accuracy", "svm_accuracy", "test_time_mse"]))

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
if stage2.empty:
    display(Markdown("- no stage-2 results yet"))
else:
    rq3 = report.rq3_tests(stage2)
    display(Markdown(report.markdown_list(report.describe_versus(rq3, higher_is_better=report.RQ3_METRICS))))

# %% [markdown]
# ## RQ4 — The influence of the augmentations on generation
#
# *How do the augmentations influence prior learning and the quality of synthetic samples?* Under
# each prior, FID and the evaluator-free ROCKET-FID of unconditional samples (lower is better) and
# CAS of class-conditional samples (higher is better), SSL tokenizers against the naive one. The
# RQ4 chapter shows them per augmentation, with the real-data, reconstruction and noise anchors and
# real against synthetic series.

# %%
Markdown(report.versus_markdown(stage2, report.RQ4_METRICS, within="prior", show=["fid", "rocket_fid", "kid", "cas"]))

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
Markdown(report.markdown_list(report.describe_rq5(report.rq5_tests(stage2), show=["fid", "rocket_fid", "kid", "cas"])
                              if not stage2.empty else []))

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
