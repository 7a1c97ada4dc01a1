# ---
# jupyter:
#   kernelspec:
#     display_name: Python (tsvq)
#     language: python
#     name: tsvq
# ---

# %% [markdown]
# # RQ4 — The influence of the augmentations on generation
#
# **Question.** Do the tokens of an SSL tokenizer, and the augmentation it was trained with, change
# the quality of the series the stage-2 prior generates?
#
# **How this chapter answers it.** It reads back the stage-2 grid of RQ3 (naive and VIbCReg-slice tokenizers, and
# any other SSL tokenizer a batch added, × both
# priors × seeds) and the sample-quality metrics recorded for each run:
#
# - **FID**: the Fréchet distance between Gaussian fits of the features of real TEST series and of as
#   many unconditional samples, features from an FCN classifier trained on TRAIN (lower is better);
# - **ROCKET-FID**: the same distance on seeded MiniRocket features, which need no trained network
#   (lower is better);
# - **IS**: the Inception Score of the unconditional samples under that FCN, from 1 (one class, or
#   no confident prediction) to the number of classes (higher is better);
# - **CAS**: the TEST accuracy of a fresh FCN trained only on class-conditional samples (higher is
#   better);
# - where the grid recorded them: **KID**, the kernel Inception distance on the same features, unbiased
#   at any sample size (`kid`, with the std of its estimate `kid_std`; lower is better), and the
#   **copy rate** (`copy_rate`), a memorisation check: the share of samples closer to their nearest
#   TRAIN series than all but 5 % of real TEST series are (≈ 0.05 for a generator that draws from the
#   data distribution, towards 1 for one that replays TRAIN).
#
# Numbers alone are hard to read, so four anchors are computed with the same evaluator: the real
# TRAIN split (the best a generator could hope for); the naive tokenizer's reconstructions of TRAIN
# (what a perfect prior would produce, since the prior learns the tokens of TRAIN: the ceiling that
# stage 1 sets for stage 2); its reconstructions of TEST (that ceiling plus the tokenizer's
# generalisation gap); and Gaussian noise with the data's mean and std (a floor).
#
# Each SSL tokenizer is compared with the naive one on the same seeds, within each prior: the mean
# paired difference, its 95 % interval, the p-value, the Holm p-value over every comparison of this
# chapter for this dataset and a verdict word of one rule: **supported** (Holm p < 0.05 and the
# interval excludes 0), **suggestive** (only the uncorrected p < 0.05), **no evidence** (otherwise).

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

from tsvq import book, plots, report
from tsvq.experiments import PRIORS, STAGE2_SETTINGS, equal_size_quality, grid_rows

ds, cfg, _ = book.setup(dataset, profile, seeds, data_dir)
stage2 = grid_rows(ds, "stage2.csv", profile=profile, seeds=seeds, settings=STAGE2_SETTINGS, priors=PRIORS,
                   results_dir=results_dir)
n_seeds = book.seeds_present(stage2, seeds)
anchors = grid_rows(ds, "reference_quality.csv", profile=profile, seeds=seeds, results_dir=results_dir)
accuracy = stage2.groupby("seed")["evaluator_test_accuracy"].first() if not stage2.empty else pd.Series()
mixed = report.mixed_evaluators(stage2, anchors)
retrained = report.retrained_tokenizers(grid_rows(ds, "stage1.csv", profile=profile, seeds=seeds,
                                                  results_dir=results_dir), stage2)
Markdown(f"{dataset}, profile `{profile}`, {n_seeds}."
         + (" The FCN evaluator classifies TEST with accuracy "
            + ", ".join(f"{a:.3f} (seed {s})" for s, a in accuracy.items()) + "." if len(accuracy) else "")
         + ("" if mixed.empty else
            " **Not every row of a seed was scored by one evaluator.** An evaluator retrained on another machine "
            "is another evaluator (CPUs round differently), and FID, KID and IS from two evaluators do not "
            "compare: the paired tests below leave such pairs out and say how many; the tables of means mix "
            f"them (`tsvq grid --datasets {dataset} --rescore` mends a seed). "
            + " ".join(f"Seed {r.seed}: {r.rows}." for r in mixed.itertuples()))
         + ("" if retrained.empty else
            " **Some priors read the tokens of a tokenizer trained again for stage 2**, not of the one whose "
            "reconstruction error and probes RQ1 reports (same seed and settings; a seed reproduces bit for bit "
            "on one machine only): "
            + "; ".join(f"seed {r.seed} {r.setting} ({r.prior} prior), TEST MSE {r.tokenizer_test_time_mse:.4f} "
                        f"against {r.stage1_test_time_mse:.4f}" for r in retrained.itertuples())
            + "."))


# %%
display(book.missing(stage2, anchors, dataset=dataset, profile=profile, seeds=seeds))
book.stop_unless(stage2, what="prior runs")

# %%
quality_tests = report.compare_family(stage2, report.RQ4_METRICS, within="prior")
Markdown(report.finding(quality_tests, {m: report.RQ4_METRICS[m] for m in ("fid", "kid", "cas", "copy_rate")},
                        profile=profile, lead="Samples of each SSL tokenizer's prior against the naive tokenizer's, "
                                              "within each prior, on the same seeds (copy rate: neither direction "
                                              "is better):"))

# %% [markdown]
# ## Sample quality per setting
#
# Mean ± std over seeds for every prior and tokenizer, the anchors at the bottom (CAS is not defined
# for noise, which has no classes). FID and IS mean what they say only as far as the evaluator
# separates the classes: its TEST accuracy is given above.

# %%
metrics = [m for m in ["fid", "rocket_fid", "kid", "kid_std", "is_mean", "cas", "copy_rate"] if m in stage2]
rows = pd.concat([stage2] + ([] if anchors.empty else [anchors.assign(prior="anchor", setting=anchors["reference"])]),
                 ignore_index=True)
book.table(report.summarize(rows, metrics, by=("prior", "setting"), cells_only=True))

# %% [markdown]
# ## Do the samples sit between the anchors?
#
# Per seed and distance, every prior's samples should lie between real TRAIN and noise. The two
# reconstruction anchors need more care. The prior learns the tokens of TRAIN, so a perfect prior
# would produce series like the reconstructions of TRAIN, not of TEST; when the tokenizer fits the few
# TRAIN series better than TEST, samples can beat the TEST reconstructions. And a Fréchet distance
# between Gaussian fits falls as more series enter the fit, so the TRAIN reconstructions (as many
# series as TRAIN holds) cannot be set against samples as numerous as TEST: the next table compares
# them at equal size.

# %%
order = []
for seed, a in ([] if anchors.empty else anchors.groupby("seed")):
    ref = a.set_index("reference")[["fid", "rocket_fid"]]
    recon = {kind: [r for r in ref.index if r.startswith(f"reconstruction of {kind}")] for kind in ("TRAIN", "TEST")}
    runs = stage2[stage2["seed"] == seed]
    for metric in ("fid", "rocket_fid"):
        real, noise, samples = ref.loc["real TRAIN", metric], ref.loc["Gaussian noise", metric], runs[metric]
        row = {"seed": seed, "metric": metric, "real TRAIN": real,
               **{f"recon {kind}": ref.loc[names[0], metric] for kind, names in recon.items() if names},
               "best prior": samples.min(), "worst prior": samples.max(), "noise": noise,
               "real < priors < noise": bool(real < samples.min() and samples.max() < noise)}
        if recon["TEST"]:
            row["recon TEST ≤ priors"] = bool(row["recon TEST"] <= samples.min())
        order.append(row)
order = pd.DataFrame(order)
if order.empty:
    display(Markdown("No anchors yet: no seed has its rows in `reference_quality.csv` (the table of missing runs "
                     "above names them), so the priors cannot be placed between real data and noise."))
else:
    display(Markdown(
        f"Real TRAIN < every prior < noise in {order['real < priors < noise'].sum()} of {len(order)} (seed, distance) "
        "cases" + (f"; TEST reconstructions at or below every prior in {order['recon TEST ≤ priors'].sum()}"
                   if "recon TEST ≤ priors" in order else "") + "."))
    book.table(order)

# %% [markdown]
# ### At equal size
#
# For the seed with the most prior runs (the first of those): the naive tokenizer's reconstructions of TRAIN against reconstructions of as
# many randomly drawn TEST series and as many unconditional samples of each prior (drawn afresh, so not
# the very samples of the tables above), all scored against the whole real TEST set. If the prior
# reproduces what the tokenizer learnt from TRAIN, its samples land near the TRAIN reconstructions, and
# the gap between the two reconstruction rows is the tokenizer's own TRAIN–TEST gap.

# %%
book.table(equal_size_quality(ds, profile=profile, seed=int(stage2.groupby("seed").size().idxmax()),
                              settings=STAGE2_SETTINGS,
                              priors=PRIORS, results_dir=results_dir))

# %% [markdown]
# ## Per tokenizer and prior
#
# {numref}`fig-quality`: one group of points per tokenizer, one colour per prior, each a mean over the
# seeds with its 95 % interval; the labelled horizontal lines are the anchors. A tokenizer that helps
# generation pulls FID and ROCKET-FID down towards the real-data line and CAS up towards it.

# %%
bars = [m for m in metrics if m != "kid_std"]
lines = {m: {name: v for name, v in anchors.groupby("reference", sort=False)[m].mean().items() if np.isfinite(v)}
         for m in bars if m in anchors}
book.figure(plots.plot_grouped_points(stage2, metrics=bars, x="setting", hue="prior", references=lines), "quality",
            f"{dataset}, profile {profile}: sample quality per tokenizer setting and prior, mean over {n_seeds} "
            "with 95 % t-intervals (FID and ROCKET-FID on a log axis); the lines are the same metrics for real "
            "TRAIN series, reconstructions and Gaussian noise (the anchors).", dataset=dataset)

# %% [markdown]
# ## Paired tests against the naive tokenizer
#
# Within each prior, each SSL tokenizer against the naive one on the same seeds (setting − naive; for
# FID, ROCKET-FID and KID negative is better, for IS and CAS positive), Holm over the whole table;
# {numref}`fig-quality-differences` draws the differences with their intervals.

# %%
tests = report.compare_family(stage2, report.RQ4_METRICS, within="prior")
book.table(report.tests_table(tests))

# %%
book.figure(plots.plot_differences(tests, metrics=["fid", "rocket_fid", "cas"], hue="prior"), "quality-differences",
            f"{dataset}, profile {profile}: each SSL tokenizer minus the naive one under the same prior (colour), "
            f"paired on the seeds ({n_seeds}), with 95 % t-intervals; filled: supported, half-filled: "
            "suggestive, hollow: no evidence.", dataset=dataset)

# %% [markdown]
# ## Each augmentation, averaged over the SSL losses
#
# As in RQ2: per seed and prior, the two SSL losses that share an augmentation are averaged.

# %%
per_aug = stage2.groupby(["prior", "seed", "aug"], sort=False)[bars].mean().reset_index()
book.table(report.summarize(per_aug, bars, by=("prior", "aug"), cells_only=True))

# %% [markdown]
# ## Real and synthetic series
#
# The *Gallery* chapter of this dataset draws class-conditional samples of every tokenizer under every prior
# beside real TEST series of the same class, on shared axes.

# %% [markdown]
# ## Reading the result
#
# Computed from the tables above. What to look for: SSL tokenizers whose samples are closer to the
# real data (lower FID and ROCKET-FID, higher CAS) than the naive tokenizer's under the same prior,
# and whether the two FIDs agree, since only ROCKET-FID is independent of a trained evaluator. Each
# line gives the difference, its 95 % interval and the verdict of the rule; a `smoke` run only shows
# that the pipeline works.

# %%
Markdown(report.markdown_list(report.describe_versus(tests, higher_is_better=report.RQ4_METRICS)))

# %%
book.reproduce("rq4", dataset=dataset, profile=profile, seeds=seeds, results_dir=results_dir,
               files=["stage2.csv", "reference_quality.csv"])
