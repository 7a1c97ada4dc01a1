# ---
# jupyter:
#   kernelspec:
#     display_name: Python (tsvq)
#     language: python
#     name: tsvq
# ---

# %% [markdown]
# # RQ1 — Classification from the learned representation
#
# **Question.** Does the self-supervised branch of NC-VQVAE make the tokenizer's representation more
# useful for classification, while it still reconstructs the series well?
#
# **How this chapter answers it.** Every tokenizer of the stage-1 grid is trained for each seed: the
# *naive* tokenizer (reconstruction only, as in TimeVQVAE) and the six SSL settings
# ({Barlow Twins, VIbCReg} × {warp, slice, gauss}). The quantised latents $z_q$ of a series are
# average-pooled into one vector; a linear SVM ($C = 1$) and a KNN classifier ($k = 5$) are fitted on
# the TRAIN vectors and scored on TEST, with the tokenizer in evaluation mode. The reconstruction
# error on TEST tells what, if anything, the SSL branch costs. Every number is a mean ± std over the
# seeds, and each SSL setting is compared with the naive tokenizer on the same seeds: the mean paired
# difference, its 95 % t-interval, the paired t-test p-value and that p-value Holm-corrected over
# every comparison of this chapter for this dataset. The verdict words follow one rule, computed
# and never typed: **supported** (Holm p < 0.05 and the interval excludes 0), **suggestive** (only
# the uncorrected p < 0.05), **no evidence** (otherwise).
#
# The figures below compare the naive tokenizer with *one* SSL tokenizer; that one is chosen on the
# VAL split (its KNN accuracy there), so that nothing shown is selected on TEST.

# %% tags=["parameters"]
dataset = "GunPoint"
profile = "cpu"
seeds = [0]
data_dir = None
results_dir = "results"

# %%
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from tsvq import book, experiments, plots, report
from tsvq.book import results_path
from tsvq.experiments import STAGE1_SETTINGS, grid_rows, read_table
from tsvq.probe import codebook_stats, embed_2d, pooled_features

ds, cfg, _ = book.setup(dataset, profile, seeds, data_dir)
stage1 = grid_rows(ds, "stage1.csv", profile=profile, seeds=seeds, settings=STAGE1_SETTINGS, results_dir=results_dir)
n_seeds = book.seeds_present(stage1, seeds)
tests = report.compare_family(stage1, report.RQ1_METRICS)
Markdown(f"{dataset}: {ds.meta.n_train} TRAIN / {ds.meta.n_val} VAL / {ds.meta.n_test} TEST series, "
         f"{ds.meta.n_classes} classes. Profile `{profile}`: {book.stage1_length(cfg, len(ds.x_train))}, "
         f"codebook {cfg.tokenizer.codebook_size} × {cfg.tokenizer.hidden_dim}; {n_seeds}.")


# %%
display(book.missing(stage1, dataset=dataset, profile=profile, seeds=seeds))
book.stop_unless(stage1, what="tokenizer runs")

# %%
Markdown(report.finding(tests, report.RQ1_METRICS, profile=profile,
                        lead="Each SSL setting against the naive tokenizer on the same seeds (SSL − naive):"))

# %% [markdown]
# ## The stage-1 grid
#
# One row per tokenizer and seed is written to `stage1.csv` as it finishes; tokenizers already trained
# are read from the cache, so re-running this chapter costs nothing. The table gives, per setting,
# the probes' TEST accuracy, the TEST reconstruction error (time domain and STFT, on z-scaled data),
# and the codebook perplexity (the effective number of codes in use).

# %%
metrics = ["svm_accuracy", "knn_accuracy", "test_time_mse", "test_stft_mse", "perplexity"]
book.table(report.summarize(stage1, metrics, cells_only=True))

# %% [markdown]
# ## Probe accuracy against reconstruction error
#
# {numref}`fig-probes` shows each setting's mean over the seeds with its 95 % interval (none with a
# single seed), the naive tokenizer's mean as a dashed line. An SSL setting answers RQ1 with "yes" when
# its probe accuracies lie to the right of the naive line while its reconstruction error does not lie
# far to the right of it.

# %%
book.figure(plots.plot_metric_points(stage1, metrics=["svm_accuracy", "knn_accuracy", "test_time_mse"]), "probes",
            f"{dataset}, profile {profile}: TEST accuracy of the SVM and KNN probes on the pooled quantised "
            f"latents ({ds.meta.n_test} TEST series) and TEST reconstruction MSE, per tokenizer setting: mean "
            f"over {n_seeds} with its 95 % t-interval; dashed: the naive tokenizer's mean.", dataset=dataset)

# %% [markdown]
# ## Paired tests against the naive tokenizer
#
# For every SSL setting and metric, the mean difference to the naive tokenizer over the seeds both ran
# with (positive: higher than naive), its 95 % interval, the two-sided paired t-test p-value, the Holm
# p-value over the whole table (one family: every setting × metric of this dataset) and the verdict.
# With a single seed no test is possible and the table says so. {numref}`fig-differences` draws the
# same differences with their intervals.

# %%
book.table(report.tests_table(tests))

# %%
book.figure(plots.plot_differences(tests, metrics=list(report.RQ1_METRICS)), "differences",
            f"{dataset}, profile {profile}: each SSL setting minus the naive tokenizer, paired on the seeds "
            f"({n_seeds}), with the 95 % t-interval of the mean difference; filled: supported, half-filled: "
            "suggestive, hollow: no evidence (Holm over this page's family).", dataset=dataset)

# %% [markdown]
# ## Choosing the SSL tokenizer for the figures
#
# The same probes, fitted on TRAIN and scored on the VAL split, for every tokenizer (written to
# `rq1.csv`). The figures show the SSL setting that goes to stage 2, chosen by cross-validation on
# TRAIN ∪ VAL (`selection.csv`, last section); while the validation search is incomplete, the SSL setting
# with the highest mean VAL KNN accuracy here.

# %%
val = experiments.val_probes(ds, profile=profile, seeds=seeds, results_dir=results_dir)
if val.attrs["kept"]:
    display(Markdown(f"{val.attrs['kept']} of these {len(val)} rows are those `rq1.csv` holds from the last "
                     "execution that probed their tokenizers: this machine's model cache lacks them."))
book.stop_unless(val, what="cached tokenizers",
                 why=f"The tokenizers of these runs are not in this machine's model cache, so the VAL probes and "
                     f"the figures below, which need the models, end the page here (the numbers above come from the "
                     f"tables alone); `tsvq run --dataset {dataset}` trains the tokenizers again.")
selection = read_table(results_path(results_dir, dataset, profile, "selection.csv"))
selection = selection[selection["seed"].isin(seeds)] if not selection.empty else selection
chosen = report.val_chosen(selection)
probed = sorted(set(val["seed"]))
if chosen.empty:
    ssl = report.best_setting(val, "val_knn_accuracy", lower=False)
    why = (f"highest mean VAL KNN accuracy over seed{'s' if len(probed) != 1 else ''} "
           f"{', '.join(map(str, probed))}; the validation search is incomplete")
else:
    ssl = chosen["setting"].iloc[0]
    why = "the setting chosen for stage 2 by cross-validation on TRAIN ∪ VAL"
shown = [s for s in probed if all(experiments.is_cached(ds, profile=profile, setting=n, seed=s) for n in ("naive", ssl))]
display(Markdown(f"The SSL tokenizer shown below is **{ssl}** ({why})"
                 + (f"; the figures use the models of seed {shown[0]}." if shown else ".")))
book.table(report.summarize(val, ["val_svm_accuracy", "val_knn_accuracy"], cells_only=True))

# %%
book.stop_unless(pd.DataFrame({"seed": shown}), what="cached tokenizers",
                 why=f"No seed of the naive and the {ssl} tokenizer is in this machine's model cache, so the "
                     f"figures below, which need the models, end the page here; `tsvq run --dataset {dataset}` "
                     "trains them again.")
models = {name: experiments.tokenizer_for(ds, profile=profile, setting=name, seed=shown[0]) for name in ("naive", ssl)}
per_class = max(1, 6 // ds.meta.n_classes)
pick = np.concatenate([np.flatnonzero(ds.y_test == c)[:per_class] for c in range(ds.meta.n_classes)])[:6]

# %% [markdown]
# ## Reconstructions
#
# {numref}`fig-reconstructions`: a few TEST series of every class (black) with the reconstructions of
# both tokenizers (dashed). The
# SSL branch shares the encoder, codebook and decoder with the reconstruction task; what to look for
# is whether the SSL tokenizer loses detail (peaks, sharp turns) that the naive one keeps.

# %%
x = ds.x_test[pick]
book.figure(plots.plot_reconstructions_compared(x, {name: experiments.reconstruct(m, x) for name, m in models.items()},
                                                ds.y_test[pick], class_names=ds.meta.class_names),
            "reconstructions",
            f"{dataset}: {len(pick)} TEST series (the first {per_class} of each class; black) and their reconstructions by "
            f"the naive and the {ssl} tokenizer (dashed), models of seed {shown[0]}; z-scaled values against "
            "time step.", dataset=dataset)

# %% [markdown]
# ## Codebook usage
#
# {numref}`fig-codebook`: how often each code is used on TEST, codes sorted by use. A codebook that collapses onto a few codes
# limits what the tokens can express; the thesis observed that the SSL branch tends to spread usage
# and to decorrelate the codewords.

# %%
book.figure(plots.plot_codebook_usage({name: codebook_stats(m, ds.x_test)["all"]["counts"]
                                       for name, m in models.items()}), "codebook",
            f"{dataset}: share of the tokens of all {ds.meta.n_test} TEST series that each code takes, codes "
            f"sorted by use, for the naive and the {ssl} tokenizer of seed {shown[0]}.", dataset=dataset)

# %% [markdown]
# ## Maps of the pooled latents
#
# The pooled TEST latents (at most 1000 series, drawn with the first seed) projected to two dimensions
# with PCA (linear: what a linear probe can see, {numref}`fig-pca`) and t-SNE (neighbourhoods: what KNN
# sees, {numref}`fig-tsne`), coloured by class. Classes that form separate groups are what the probes' accuracy measures.

# %%
rng = np.random.default_rng(seeds[0])
sub = np.sort(rng.permutation(len(ds.x_test))[:1000])
features = {name: pooled_features(m, ds.x_test[sub]) for name, m in models.items()}
book.figure(plots.plot_latent_maps({name: embed_2d(f, method="pca", seed=seeds[0]) for name, f in features.items()},
                                   ds.y_test[sub], class_names=ds.meta.class_names), "pca",
            f"{dataset}: the pooled quantised latents of {len(sub)} TEST series projected on their first two "
            f"principal components, per tokenizer (seed {shown[0]}), coloured by class.", dataset=dataset)

# %%
book.figure(plots.plot_latent_maps({name: embed_2d(f, method="tsne", seed=seeds[0]) for name, f in features.items()},
                                   ds.y_test[sub], class_names=ds.meta.class_names), "tsne",
            f"{dataset}: t-SNE map of the pooled quantised latents of {len(sub)} TEST series, per tokenizer (seed "
            f"{shown[0]}), coloured by class; distances between groups are not meaningful, neighbourhoods are.",
            dataset=dataset)

# %% [markdown]
# ## Beside the thesis
#
# The thesis' numbers (4 runs each) for this dataset, where it has them, next to ours. They are not
# expected to agree one to one: the thesis probed in training mode and selected on TEST, trained
# 1000 epochs, and its `recon_loss` is the error of the last TEST batch (see `tsvq/reference/README.md`).

# %%
beside = report.compare_with_thesis(stage1, dataset, ["svm_accuracy", "knn_accuracy", "perplexity", "recon_loss"])
(Markdown(f"The thesis reports no numbers for {dataset}.") if beside.empty
 else book.table(beside[["setting", "metric", "tsvq", "thesis", "difference"]]))

# %% [markdown]
# ## Beyond the thesis' settings: a search on validation data
#
# The thesis' SSL weights (1 for Barlow Twins, 0.01 for VICReg and VIbCReg), projector width and
# epochs were set for its own, much longer training. `selection.csv` holds further settings — another
# SSL weight (`weight…`), projector width (`proj_dim…`), number of stage-1 epochs (`stage1_epochs…`)
# or step budget (`stage1_max_steps…`) — scored without looking at TEST: KNN and SVM accuracy
# cross-validated (5 stratified folds) on TRAIN ∪ VAL, and the VAL reconstruction error. The search is run per dataset
# with `tsvq.experiments.run_selection_grid`; the figure puts each setting's cross-validated KNN
# accuracy against its reconstruction error. The grid above uses the thesis' weights throughout.
#
# Two facts of this project's history belong beside it. SSL-weight variants were first measured on
# TEST, before this validation search existed; those rows are no longer in the tables. And the
# `cpu` profile's 500 stage-1 epochs were chosen after looking at TEST probes of one dataset at 50 to 1000
# epochs (`stage1_longer_training.csv`, shown below on the page of the dataset that has it), not on validation
# data. The lines
# below are computed from `selection.csv` alone: for each SSL setting and length of training, which
# SSL weight has the highest mean cross-validated accuracy, and what the validation numbers say about
# the number of epochs (with the paired SSL − naive difference at each length, its interval and
# verdict, Holm over those comparisons). Last, the SSL setting the grid sends to stage 2 for this
# dataset: the highest mean cross-validated KNN accuracy over the seeds every SSL setting ran.

# %%
if selection.empty:
    display(Markdown(f"No validation search was run for {dataset} at this profile and these seeds."))
else:
    for metric in ("cv_knn_accuracy", "cv_svm_accuracy"):
        display(Markdown(report.describe_selection(selection, metric)))
    chosen = report.val_chosen(selection)
    display(Markdown(
        f"The SSL setting chosen on validation data for stage 2: **{chosen['setting'].iloc[0]}** (mean "
        f"cross-validated KNN accuracy {chosen['cv_knn_accuracy'].iloc[0]:.3f} over {chosen['seeds'].iloc[0]} "
        "seeds)." if not chosen.empty else
        "No SSL setting is chosen yet: not every SSL setting has a validation row on common seeds."))
    display(book.table(report.summarize(selection, ["cv_knn_accuracy", "cv_svm_accuracy", "val_time_mse"],
                                        cells_only=True)))

# %%
if not selection.empty:
    display(book.figure(
        plots.plot_tradeoff(selection, x="val_time_mse", y="cv_knn_accuracy"), "selection",
        f"{dataset}, profile {profile}: KNN accuracy cross-validated on TRAIN ∪ VAL (5 folds) against the VAL "
        f"reconstruction MSE, per setting of the validation search: mean over the seeds with 95 % t-intervals; "
        "each setting's variants share its colour, with one marker each; grey star: the naive tokenizer.",
        dataset=dataset, intro="{ref} puts the validation search's settings side by side."))

# %% [markdown]
# ## Quantised or not
#
# The probes read the *quantised* latents, so every tokenizer's representation passes through the
# same 32-code bottleneck. `feature_probes.csv` (written by `tsvq.experiments.run_feature_probes`, where
# it was run) sets those TEST probes beside the same probes on the encoder's output before quantisation:
# the difference is what quantisation costs each tokenizer's representation.

# %%
feature_probes = read_table(results_path(results_dir, dataset, profile, "feature_probes.csv"))
if not feature_probes.empty:
    feature_probes = feature_probes[feature_probes["seed"].isin(seeds)]
(Markdown(f"No comparison of quantised and unquantised features was run for {dataset} at this profile.")
 if feature_probes.empty else
 book.table(report.summarize(feature_probes, ["knn_accuracy", "svm_accuracy"], by=("setting", "features"),
                             cells_only=True)))

# %% [markdown]
# ## Longer training, and the thesis' settings
#
# The thesis trained each tokenizer for 1000 epochs, with a larger network (64 channels, 4 residual
# blocks, projector 4096 × 3: the `paper` profile). The `cpu` profile trains its smaller networks for
# 500. It first trained them for 50; the 500 were chosen after the first side table below, a TEST
# table, had been seen (the validation numbers on epochs are in the previous section). A comparison at
# one length of training says nothing of the two tokenizers at their own best lengths: compare the
# naive rows across lengths as well. Two side tables, where they exist for this dataset, show what the
# length of training does, measured on TEST as above and compared on the same seeds:
#
# - `stage1_longer_training.csv`: the `cpu` profile's networks trained for 50, 200, 500 (the profile's
#   own: these rows repeat the grid's) and 1000 epochs (written by `scripts/investigations.py`);
# - `results/<dataset>/paper/stage1.csv`: the `paper` profile, which takes hours per run on 2 CPU cores
#   and is run on a GPU by `scripts/gpu_check.py` (a GPU's results match a CPU's only to rounding; the
#   rows record the torch build).

# %%
longer = read_table(results_path(results_dir, dataset, profile, "stage1_longer_training.csv"))
paper = read_table(results_path(results_dir, dataset, "paper", "stage1.csv")) if profile != "paper" else stage1
longer = longer.sort_values("epochs", kind="stable") if not longer.empty else longer
for name, table in [(f"{profile} networks, longer training", longer), ("paper profile", paper)]:
    if table.empty:
        display(Markdown(f"- {name}: no results for {dataset}"))
        continue
    display(Markdown(f"**{name}**"))
    display(book.table(report.summarize(table, ["knn_accuracy", "svm_accuracy", "test_time_mse"],
                                        by=("epochs", "setting"), cells_only=True)))

# %% [markdown]
# Paired against the naive tokenizer trained for as long (SSL − naive), with interval, Holm p (one
# family per side table) and verdict:

# %%
for table in (longer, paper):
    if not table.empty:
        same_epochs = table.assign(setting=table["setting"].str.replace(r"-stage1_epochs\d+", "", regex=True))
        display(book.table(report.tests_table(report.compare_family(same_epochs, report.RQ1_METRICS,
                                                                    within="epochs"))))

# %% [markdown]
# ## Reading the result
#
# The lines below are computed from the paired tests above: for every metric, each SSL setting's
# difference to the naive tokenizer, its 95 % interval, p, Holm p and the verdict word of the rule.
# A `smoke` run only shows that the pipeline works.

# %%
Markdown(report.markdown_list(report.describe_versus(tests, higher_is_better=report.RQ1_METRICS)))

# %%
book.reproduce("rq1", dataset=dataset, profile=profile, seeds=seeds, results_dir=results_dir,
               files=["stage1.csv", "rq1.csv", "selection.csv", "feature_probes.csv", "stage1_longer_training.csv"])
