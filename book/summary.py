# ---
# jupyter:
#   kernelspec:
#     display_name: Python (tsvq)
#     language: python
#     name: tsvq
# ---

# %% [markdown]
# # Summary of results
#
# Every metric file the research-question chapters have written, gathered across datasets, profiles
# and seeds: `results/<dataset>/<profile>/stage1.csv` (tokenizers), `stage2.csv` (priors and their
# samples) and `reference_quality.csv` (the sample-quality anchors). Each cell is a mean ± std over the
# seeds that ran, with the number of runs; results of the `smoke` profile only show that the
# pipeline runs. The comparisons with the naive tokenizer, their intervals and verdicts live in the
# chapters and in the Conclusions; this page adds the view across datasets.
#
# Where the thesis reports the same dataset, its numbers (4 runs each) stand beside tsvq's. They are
# not expected to match one to one: the thesis trained 1000 + 1000 epochs on a GPU, probed in
# training mode, selected on TEST and paired each tokenizer with one prior only (see
# `tsvq/reference/README.md` and the introduction).
#
# This page does not depend on a dataset: it reads whatever the results folder holds when it runs.

# %% tags=["parameters"]
dataset = "GunPoint"
profile = "cpu"
seeds = [0]
data_dir = None
results_dir = "results"

# %%
import pandas as pd
from IPython.display import Markdown, display

from tsvq import book, plots, report
from tsvq.data import list_datasets
from tsvq.experiments import STAGE1_SETTINGS, collect_current
from tsvq.identity import Setting

pd.set_option("display.max_rows", None)  # a summary shows every row, not the first and last thirty
stage1 = report.with_recon_loss(collect_current(results_dir, "stage1.csv", data_dir))  # current config only
stage2 = collect_current(results_dir, "stage2.csv", data_dir)
anchors = collect_current(results_dir, "reference_quality.csv", data_dir)
peer = collect_current(results_dir, "peer.csv", data_dir)
selection = collect_current(results_dir, "selection.csv", data_dir)
thesis = report.thesis_table()
names = [Setting(*s).name for s in STAGE1_SETTINGS]  # the grid's order: naive, then the six SSL settings

# %% [markdown]
# ## The headline: the SSL tokenizer a user would choose, against naive
#
# A user of NC-VQVAE picks one SSL setting per dataset; tsvq picks it the way the grid does, on
# validation data only: the setting with the highest mean cross-validated KNN accuracy on TRAIN ∪ VAL
# (`selection.csv`; ties go to the first setting in the grid's order). That setting's TEST numbers minus
# the naive tokenizer's, per dataset (paired on the seeds), are then summarised over datasets: the
# median difference with its distribution-free 95 % interval (order statistics; it needs at least 6
# datasets), win / tie / loss counts (a tie when the dataset's paired interval contains 0) and the
# Wilcoxon signed-rank p-value. The stage-2 rows use the token and embedding prior runs of that setting,
# where the grid ran them (`tsvq grid --stages 2 --settings naive val-best`); the thesis-style token prior
# is an ablation of RQ5 and stays out of this family. The figure draws the per-dataset differences
# behind these numbers, with each chapter's verdict (Holm over the chapter's whole family).

# %%
chosen = report.val_chosen(selection)
if chosen.empty:
    display(Markdown("No dataset has a complete validation search yet (every SSL setting's `selection.csv` "
                     "rows on common seeds; `tsvq grid --stages 1` writes them)."))
else:
    display(Markdown("The SSL setting chosen on VAL, per dataset: " + "; ".join(
        f"{r.dataset} ({r.profile}) **{r.setting}** ({r.seeds} seed{'s' if r.seeds != 1 else ''})" for r in chosen.itertuples()) + "."))
    top = report.headline(stage1, stage2, selection)
    if not top.empty:
        display(book.table(report.across_table(top), drop_constant=()))
        display(Markdown(report.verdict_groups(top)))
    picked = report.only_val_chosen(report.overview_tests(stage1, report.method_priors(stage2)), chosen)
    if not picked.empty:
        display(book.figure(
            plots.plot_overview(picked), "headline",
            "The SSL setting chosen on VAL for each dataset (colour) minus the naive tokenizer: mean paired "
            "difference over the shared seeds with its 95 % t-interval; top: TEST KNN and SVM accuracy and TEST "
            "reconstruction MSE, bottom: FID, KID and CAS of its samples under each prior (colour: prior). "
            "Filled: supported, half-filled: suggestive, hollow: no evidence or a single seed.",
            intro="{ref} shows the differences dataset by dataset."))

# %% [markdown]
# ## Every SSL setting against naive, dataset by dataset
#
# The same comparison for all six SSL settings, not only the chosen one: for every dataset and profile,
# each SSL tokenizer minus the naive one, paired on the seeds both ran with, with the 95 % t-interval of
# the mean difference and the verdict of the chapter's rule (Holm over that chapter's family for the dataset). Top: the
# tokenizers (RQ1); bottom: the samples of the SSL tokenizer's prior against the naive tokenizer's,
# under each prior (RQ4). A point right of the dashed line is higher than naive; for accuracy and
# CAS higher is better, for the reconstruction error, FID and KID lower is.

# %%
overview = report.overview_tests(stage1, stage2)
if overview.empty:
    display(Markdown("No paired comparison with the naive tokenizer yet: the overview needs stage-1 or stage-2 "
                     "results with the naive tokenizer and an SSL setting on the same seeds."))
else:
    seeds_per = overview.groupby("row")["n"].max()
    display(book.figure(
        plots.plot_overview(overview), "overview",
        "SSL tokenizer minus naive tokenizer per dataset"
        + (" and profile" if overview["profile"].nunique() > 1 else f" (profile {overview['profile'].iloc[0]})")
        + ": mean paired difference over the shared seeds ("
        + ", ".join(f"{r} {n}" for r, n in seeds_per.items()) + ") with its 95 % t-interval; top: TEST KNN and "
        "SVM accuracy and TEST reconstruction MSE of the six SSL settings (colour: setting), bottom: FID, KID and "
        "CAS of the SSL tokenizer's samples (colour: prior). Filled: supported, half-filled: suggestive, hollow: "
        "no evidence or a single seed; an interval wider than the panel runs past its edge.",
        intro="{ref} draws every paired difference to the naive tokenizer, dataset by dataset."))

# %% [markdown]
# ## The seven tokenizers ranked across datasets
#
# A critical-difference diagram of the TEST KNN accuracy (each dataset's mean over its seeds): the
# average rank of each tokenizer setting over the datasets that ran all seven, and bars joining the
# settings that a pairwise Wilcoxon signed-rank test with Holm's correction (α = 0.1, aeon's default)
# does not tell apart. With a handful of datasets few differences can be told apart; the diagram is
# exploratory.

# %%
if stage1.empty:
    display(Markdown("No stage-1 results yet: no ranking of the tokenizers."))
else:
    cd_table, cd_missing = report.cd_scores(stage1, "knn_accuracy", settings=names)
    if len(cd_table) >= 2:
        display(book.figure(
            plots.plot_critical_difference(cd_table, metric="knn_accuracy"), "critical-difference",
            f"Profile {cd_table.attrs['profile']}: average rank of the seven tokenizer settings by mean TEST KNN "
            f"accuracy over {len(cd_table)} datasets "
            f"({', '.join(cd_table.index)}; each the mean over its seeds; rank 1 is best); thick bars join settings "
            "not told apart by Holm-corrected pairwise Wilcoxon signed-rank tests at α = 0.1 (aeon).",
            intro="{ref} ranks the seven tokenizers across datasets."))
    if len(cd_table) < 2 or cd_missing:
        display(Markdown(
            f"{'No critical-difference diagram: it needs at least two datasets with all seven settings, and ' if len(cd_table) < 2 else ''}"
            f"{len(cd_table)} dataset{'s' if len(cd_table) != 1 else ''} "
            f"{'has' if len(cd_table) == 1 else 'have'} all seven"
            + (f"; missing at least one setting: {', '.join(cd_missing)}" if cd_missing else "") + "."))

# %% [markdown]
# ## What has been run
#
# One row per dataset and profile with results, then every dataset of the data folder that has none yet
# (marked "–", not left out): its size, the seeds of the stage-1 grid, the tokenizer runs and the seeds
# with all seven settings, the prior runs and priors, the TimeVQVAE peer runs, and the hours spent training
# tokenizers and priors (as the result rows record them; evaluation not counted). A paired comparison
# needs at least two seeds; the design asks for five where a conclusion rests on it.

# %%
done = report.coverage(stage1, stage2, peer, available=list_datasets(data_dir))
if done.empty:
    display(Markdown("No results and no dataset folder yet: run the RQ chapters first (`make run`)."))
else:
    display(book.table(done, drop_constant=()))

# %% [markdown]
# ## Stage 1: tokenizers
#
# TEST KNN accuracy of the pooled latents and TEST reconstruction error (time domain), the mean over
# the seeds, per dataset (rows) and tokenizer setting (columns); the full table under them adds the SVM
# accuracy, the codebook perplexity and the std over seeds.

# %%
for metric in ("knn_accuracy", "test_time_mse"):
    if not stage1.empty:
        display(book.table(book.short_settings(report.pivot_means(stage1, metric, order=names)),
                           drop_constant=("profile",), small=True,
                           caption=f"{report.WORDS[metric]}, mean over the seeds; {book.SHORT_LEGEND}"))

# %% tags=["hide-output"]
if not stage1.empty:
    display(book.table(report.summarize(stage1, ["svm_accuracy", "knn_accuracy", "test_time_mse", "perplexity"],
                                        by=("dataset", "profile", "setting"), cells_only=True), drop_constant=()))

# %% [markdown]
# ## Stage 2: priors and samples
#
# FID, CAS and copy rate of the samples, the mean over the seeds, per dataset and prior (rows) and
# tokenizer setting (columns); the full table under them adds ROCKET-FID, KID, IS, the prior's best VAL
# loss, the TRAIN token entropy where recorded, and the std over seeds; then the anchors (real TRAIN,
# reconstructions, noise) of each dataset.

# %%
quality = ["fid", "rocket_fid", "kid", "is_mean", "cas", "copy_rate"]
if stage2.empty:
    display(Markdown("No stage-2 results yet."))
for metric in ("fid", "cas", "copy_rate"):
    if metric in stage2:
        grid = report.pivot_means(stage2, metric, rows=("dataset", "profile", "prior"), order=names)
        display(book.table(book.short_settings(grid), drop_constant=("profile",), small=True,
                           caption=f"{report.WORDS[metric]}, mean over the seeds; {book.SHORT_LEGEND}"))

# %% tags=["hide-output"]
if not stage2.empty:
    display(book.table(report.summarize(stage2, [m for m in quality + ["best_val_loss", "token_entropy"] if m in stage2],
                                        by=("dataset", "profile", "prior", "setting"), cells_only=True),
                       drop_constant=("profile",)))

# %%
if not anchors.empty:
    display(book.table(report.summarize(anchors, [m for m in quality if m in anchors],
                                        by=("dataset", "profile", "reference"), cells_only=True), drop_constant=("profile",)))

# %% [markdown]
# ### One evaluator per seed?
#
# FID, KID and IS are read off the FCN evaluator of each dataset and seed. It is retrained where no cache
# holds it, and one retrained on another machine is another evaluator: its weights round differently, its
# TEST accuracy differs in the third digit. Values from two evaluators do not compare, so every paired test
# of this book leaves out a pair whose two runs were scored by different evaluators (its note says how
# many); ROCKET-FID, CAS and the copy rate do not use the evaluator and keep every pair. The seeds whose
# rows (priors, anchors, TimeVQVAE) were scored by more than one evaluator:

# %%
mixed = report.mixed_evaluators(stage2, anchors, peer)
display(Markdown("Every seed of every dataset was scored by one evaluator." if mixed.empty else
                 f"{len(mixed)} (dataset, seed) pairs of {mixed['dataset'].nunique()} dataset(s); "
                 "`tsvq grid --datasets <name> --seeds <seeds> --rescore` runs again, on one machine, the "
                 "stage-2 units and anchors that machine's evaluator did not score, and all their pairs count."))
if not mixed.empty:
    display(book.table(mixed, drop_constant=()))

# %% [markdown]
# ## Across datasets
#
# Per profile and SSL setting (and prior, for stage 2): the per-dataset mean paired difference to the
# naive tokenizer, summarised over datasets by its median with a distribution-free 95 % interval (order
# statistics; from 6 datasets on), the Wilcoxon signed-rank p-value of those differences (it needs several
# datasets: with four, no p-value falls below 0.125), win / tie / loss counts, a tie being a dataset whose
# paired 95 % interval contains 0 (or is undefined, with one seed), and the verdict of the book's rule with
# Holm over the table (settings × metrics, and priors for stage 2).

# %%
for title, table, metrics, within in [("Tokenizers (stage 1)", stage1, report.RQ1_METRICS, ()),
                                      ("Samples (stage 2)", stage2, report.RQ4_METRICS, ("prior",))]:
    across = report.across_family(table, metrics, within=within)
    if not across.empty:
        display(Markdown(f"**{title}**"))
        display(book.table(report.across_table(across), drop_constant=()))

# %% [markdown]
# ## Beside TimeVQVAE
#
# The official implementation, TimeVQVAE 1.0.1 at its README configuration, trained with the step
# budget of tsvq's naive tokenizer and token prior at the same profile (`benchmarks/timevqvae_peer.py`),
# its unconditional samples scored by each seed's evaluator against real TEST at equal size. The test is
# tsvq minus TimeVQVAE, paired on the seed, with Holm over the metrics of one dataset; on FID, KID and IS
# a seed whose two runs were scored by different evaluators is left out (above).
#
# Read FID beside the copy rate: real TRAIN itself, drawn to TEST's size, scores a low FID against
# TEST (the anchors of RQ4), and so does a model that returns its training series. A copy rate near 1
# (almost every sample closer to a TRAIN series than 95 % of real TEST series are) means a low FID
# measures memorisation, which matters most where TRAIN holds a few dozen series.

# %%
peer_cells, peer_table = report.peer_tests(stage2, peer)
if peer_cells.empty:
    display(Markdown("No dataset has TimeVQVAE peer runs beside tsvq's naive token-prior runs yet "
                     "(`benchmarks/timevqvae_peer.py` writes them)."))
else:
    display(book.table(peer_cells, drop_constant=()))
    display(Markdown(report.markdown_list(report.describe_versus(
        peer_table, higher_is_better=report.PEER_METRICS, by="model", baseline=peer["peer"].iloc[0]))))
    display(book.table(report.tests_table(peer_table), drop_constant=("profile", "model")))

# %% [markdown]
# ## Beside the thesis
#
# For every dataset that both tsvq and the thesis report: tsvq's mean ± std next to the thesis', the
# difference of the means, and whether tsvq's mean lies within one thesis std of the thesis' mean. Stage-1 metrics first (probe accuracies, perplexity and `recon_loss`,
# the TEST time + STFT error), then the stage-2 metrics, where each setting is taken under the prior
# the thesis paired it with (token prior for naive, embedding prior for SSL).

# %%
common = sorted(set(thesis["dataset"]) & set(stage1.get("dataset", pd.Series(dtype=str))))
display(Markdown("Datasets in both tsvq's results and the thesis: " + (", ".join(common) if common else "none yet")
                 + "."))
first = report.compare_all_with_thesis(stage1, ["svm_accuracy", "knn_accuracy", "perplexity", "recon_loss"],
                                       thesis=thesis)
if not first.empty:
    display(book.table(first[["tsvq", "thesis", "difference", "within_thesis_std"]], drop_constant=()))

# %% [markdown]
# The same stage-1 comparison as a figure: one point per dataset and setting (naive in grey), tsvq
# against the thesis; points on the dotted diagonal agree.

# %%
if not first.empty:
    display(book.figure(
        plots.plot_versus_thesis(first.reset_index(), metrics=["svm_accuracy", "knn_accuracy"]), "versus-thesis",
        "tsvq's mean TEST SVM and KNN accuracy (over its seeds, per profile) against the thesis' mean of 4 runs, one "
        f"point per dataset ({', '.join(common)}), profile and tokenizer setting; colour: the setting, marker: "
        "the dataset; dotted: equal values.", intro="{ref} shows the same comparison as a figure."))

# %%
second = report.compare_all_with_thesis(stage2, ["fid", "is_mean", "cas"], thesis=thesis)
if second.empty:
    display(Markdown("No stage-2 results for a dataset the thesis reports."))
else:
    display(book.table(second[["tsvq", "thesis", "difference", "within_thesis_std"]], drop_constant=()))

# %% [markdown]
# How many of the thesis' numbers tsvq reproduces, counting a number as reproduced when tsvq's mean lies
# within one thesis std of the thesis' mean (with four thesis runs that std is itself uncertain), how
# many of tsvq's means lie above the thesis', and, metric by metric, what differs between the two
# measurements: the profile, the probing mode, the evaluator, the masking schedule of the thesis' token
# prior and how each number was aggregated (`tsvq/reference/README.md`).

# %%
agreement = report.thesis_agreement(first, second)
if agreement.empty:
    display(Markdown("No number both tsvq and the thesis report yet."))
else:
    for p, part in agreement[agreement["metric"] == "all"].set_index("profile").iterrows():
        display(Markdown(f"Profile `{p}`: **{part['within_thesis_std']} of {part['compared']}** thesis numbers "
                         "reproduced within the thesis' std."))
    display(book.table(agreement.set_index(["profile", "metric"]), drop_constant=()))
    display(Markdown(report.describe_thesis_agreement(agreement)))

# %%
book.reproduce("summary", dataset=dataset, profile=profile, seeds=seeds, results_dir=results_dir,
               files=["stage1.csv", "stage2.csv", "reference_quality.csv"], all_datasets=True)
