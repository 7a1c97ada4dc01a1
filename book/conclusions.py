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
# cannot drift from the numbers: every line names the dataset, the profile, the number of seeds, and
# whether that is **evidence** (the `cpu` or `paper` profile with at least three seeds) or a
# **demonstration only**. The chapter of each question holds its figures, tables and paired tests;
# the *Summary of results* holds every number side by side with the thesis'.
#
# Two conventions run through all lines. "Mean of SSL settings" averages the six SSL settings
# ({Barlow Twins, VIbCReg} × {warp, slice, gauss}); "best" names the best of them on the very metric
# reported, which flatters it and is shown only to locate the effect. Where one SSL tokenizer must
# stand for all (RQ5) it is chosen on the VAL prior loss, never on a TEST metric.

# %% tags=["parameters"]
dataset = "GunPoint"
profile = "cpu"
seeds = [0]
data_dir = None
results_dir = "results"

# %%
from tsvq import report

stage1 = report.collect(results_dir, "stage1.csv")
stage2 = report.collect(results_dir, "stage2.csv")
speed = report.collect(results_dir, "rq3.csv")
per_prior = dict(keys=("dataset", "profile", "prior"), extra=("prior",))

# %% [markdown]
# ## RQ1 — Classification from the learned representation
#
# *Does the SSL extension improve downstream classification of the learned representation while
# still reconstructing well?* The answer is "yes" where the SSL settings' TEST probe accuracies
# (linear SVM, KNN on the pooled quantised latents) rise above the naive tokenizer's while their TEST
# reconstruction error stays close to it. The RQ1 chapter shows the probes per setting, the paired
# tests, reconstructions, codebook usage and latent maps.

# %%
for metric, higher in [("knn_accuracy", True), ("svm_accuracy", True), ("test_time_mse", False)]:
    print(*report.versus_lines(stage1, metric, higher_is_better=higher), sep="\n")

# %% [markdown]
# ## RQ2 — The influence of the augmentations on the tokenizer
#
# *How do the augmentations influence reconstruction and downstream classification?* Per seed the
# two SSL losses sharing an augmentation are averaged, and each augmentation is set against the naive
# tokenizer: which augmentation gives the highest probe accuracy, and which costs the most
# reconstruction. The RQ2 chapter shows the trade-off figure and the tests per setting.

# %%
if stage1.empty:
    print("no stage-1 results yet")
else:
    metrics = ["knn_accuracy", "svm_accuracy", "test_time_mse"]
    per_aug = stage1.groupby(["dataset", "profile", "seed", "aug"], sort=False)[metrics].mean().reset_index()
    for metric, higher in [("knn_accuracy", True), ("test_time_mse", False)]:
        print(*report.versus_lines(per_aug, metric, higher_is_better=higher, baseline="none", by="aug",
                                   others="augmentations"), sep="\n")

# %% [markdown]
# ## RQ3 — Expressive tokens and prior learning
#
# *Do more expressive tokens make prior learning easier?* Under each prior, the best VAL loss of the
# priors trained on SSL tokens against those trained on naive tokens, and the epochs they need to
# reach the naive tokenizer's final VAL loss. The RQ3 chapter shows the VAL-loss curves against
# $\log K$ and the codebook perplexity that can explain a lower loss away.

# %%
print(*report.versus_lines(stage2, "best_val_loss", higher_is_better=False, **per_prior), sep="\n")
print(*report.versus_lines(speed, "epochs_to_reference", higher_is_better=False, **per_prior), sep="\n")

# %% [markdown]
# ## RQ4 — The influence of the augmentations on generation
#
# *How do the augmentations influence prior learning and the quality of synthetic samples?* Under
# each prior, FID and the evaluator-free ROCKET-FID of unconditional samples (lower is better) and
# CAS of class-conditional samples (higher is better), SSL tokenizers against the naive one. The
# RQ4 chapter shows them per augmentation, with the real-data, reconstruction and noise anchors and
# real against synthetic series.

# %%
for metric, higher in [("fid", False), ("rocket_fid", False), ("cas", True)]:
    print(*report.versus_lines(stage2, metric, higher_is_better=higher, **per_prior), sep="\n")

# %% [markdown]
# ## RQ5 — Token prior against embedding prior
#
# *How does the SSL tokenizer fare under a stronger prior?* The 2 × 2 of {naive, SSL} tokenizer ×
# {token, embedding} prior, with the SSL tokenizer chosen by the lowest VAL prior loss. "Yes" means
# the SSL row beats the naive row under both priors, not only on the thesis' diagonal (naive + token
# against SSL + embedding). The RQ5 chapter shows the table, the grouped bars and both sets of paired
# tests.

# %%
if stage2.empty:
    print("no stage-2 results yet")
else:
    grid = report.two_by_two(stage2, ["fid", "rocket_fid", "cas", "best_val_loss"])
    for metric, higher in [("fid", False), ("rocket_fid", False), ("cas", True)]:
        print(*report.describe_two_by_two(grid, metric, higher_is_better=higher), sep="\n")
