# ---
# jupyter:
#   kernelspec:
#     display_name: Python (tsvq)
#     language: python
#     name: tsvq
# ---

# %% [markdown]
# # tsvq: blending low- and high-level semantics for masked time series generation
#
# This book is the executable companion of the master thesis *You're your own best teacher: A
# Self-Supervised Learning Approach For Expressive Representations* (J. V. Mathisen, NTNU, 2024),
# published in short as *Blending Low and High-Level Semantics of Time Series for Better Masked Time
# Series Generation* (Mathisen, Lokna, Lee, Aune; arXiv 2408.16613). Every chapter after this one is a notebook that
# calls the `tsvq` library, was executed on a named dataset with a named profile, and can be re-run
# with one command.

# %% [markdown]
# ## The answers in brief
#
# Computed when this page was executed from every result table under `results/` (current configuration only),
# with the tests of each chapter: the mean paired difference to the naive tokenizer over the seeds, its 95 %
# interval and the verdict word of the book's rule, **supported** (Holm-corrected p < 0.05 and the interval
# excludes 0), **suggestive** (only the uncorrected p < 0.05) or **no evidence**. First, across datasets: for
# each dataset the SSL setting chosen on validation data (never TEST) against naive, by the Wilcoxon
# signed-rank test over datasets (the *Summary* has the medians and intervals). Then per question and
# metric, one line over all datasets: where some SSL setting is better, or worse, than naive, by the strongest
# verdict it reaches there ("2 of 6": two of the six settings reach it), and where no setting shows evidence
# either way. The *Conclusions* give every difference as a grid; each chapter gives the evidence.

# %% tags=["parameters"]
dataset = "GunPoint"
profile = "cpu"
seeds = [0]
data_dir = None
results_dir = "results"

# %%
from IPython.display import Markdown

from tsvq import book, report
from tsvq.experiments import collect_current

stage1 = collect_current(results_dir, "stage1.csv", data_dir)
stage2 = collect_current(results_dir, "stage2.csv", data_dir)
stage1 = stage1[stage1["profile"] == profile] if not stage1.empty else stage1  # one profile: the book's
stage2 = stage2[stage2["profile"] == profile] if not stage2.empty else stage2
selection = collect_current(results_dir, "selection.csv", data_dir)
selection = selection[selection["profile"] == profile] if not selection.empty else selection
Markdown(report.tldr(stage1, stage2, selection))

# %% [markdown]
# ## The thesis in brief
#
# **TimeVQVAE** (Lee, Malacarne, Aune, AISTATS 2023) generates time series in two stages. In stage 1 a
# VQ-VAE working in the time-frequency domain turns a series into a small grid of discrete tokens; in
# stage 2 a bidirectional MaskGIT transformer learns the prior over those tokens and generates new
# token grids, which the stage-1 decoder turns back into series. The tokens are learned for
# reconstruction alone, so they describe *shape*: local, low-level structure. What a series *is* (its
# class, its high-level semantics) is left for the prior to discover from tokens that were never asked
# to carry it.
#
# **NC-VQVAE** (non-contrastive VQ-VAE) adds a self-supervised branch to stage 1. Next to the original
# series the tokenizer sees an augmented view of it; a projector on the pooled latents of both views is
# trained with a non-contrastive loss (Barlow Twins, VICReg or VIbCReg) that makes the two views agree.
# The same encoder and codebook serve both branches, so the codebook is shaped by reconstruction *and*
# by view invariance: the tokens blend low-level shape with high-level, class-relevant semantics.
#
# The hypothesis is that such tokens are more *expressive*: a simple classifier on top of them does
# better, and a prior over them is easier to learn and generates better samples, while reconstruction
# stays good. The *Method* chapter gives the models, losses and metrics in full.
#
# ## Research questions
#
# Each question is one chapter, with one section per dataset it was run on.
#
# - **RQ1** Does the SSL extension improve downstream classification of the learned representation
#   while still reconstructing well? (linear SVM and KNN probes against the reconstruction error)
# - **RQ2** How do the augmentations influence reconstruction and downstream classification?
# - **RQ3** Do more expressive tokens make prior learning easier? (prior validation loss against epoch,
#   convergence speed)
# - **RQ4** How do the augmentations influence prior learning and synthetic sample quality? (FID, IS,
#   CAS, visual inspection)
# - **RQ5** How does the SSL tokenizer fare under a stronger prior: the token MaskGIT against the
#   embedding MaskGIT?
#
# ## Where tsvq departs from the thesis
#
# `tsvq` re-implements the method and corrects a few choices of the original experiments, so its numbers
# are not expected to match the thesis' one to one:
#
# - a stratified, seeded validation split is carved from TRAIN for monitoring and model selection; TEST
#   is touched only for final metrics (the thesis used TEST throughout);
# - the probes run with the model in evaluation mode, so probing never changes the codebook or the
#   BatchNorm statistics;
# - the token prior masks with the cosine schedule and scores the masked positions only, and every
#   tokenizer is paired with both priors (the full 2 × 2 of {naive, SSL} tokenizer × {token, embedding}
#   prior), so tokenizer and prior effects are not confounded;
# - the FCN evaluator behind FID, IS and CAS is trained here, offline, and CAS reports the final test
#   accuracy; the evaluator-free ROCKET-FID is reported beside FID;
# - every metric is a mean ± std over seeds, with a paired test against the baseline.
#
# ## How to read this book
#
# The chapters run from the method and the data, through the five research questions, to a summary.
# The page of every research question lists the datasets it was executed on, with the **profile** and
# the **seeds** used. Profiles are named sets of settings:
#
# - `smoke`: seconds per notebook, for tests only; its numbers mean nothing;
# - `cpu` (the default): the whole book for one dataset and one seed in about an hour on two CPU cores,
#   with settings chosen so that the thesis' effects can still show;
# - `paper`: the thesis settings (1000 + 1000 epochs, the 4096-wide projector), for GPUs.
#
# A result computed with `smoke`, or with fewer than three seeds, is a demonstration, not evidence.
#
# ## How to re-run it
#
# From the repository root, with the virtual environment installed:
#
# ```bash
# make run DATASET=GunPoint PROFILE=cpu   # execute every notebook for one dataset
# make run DATASET=ECG5000 PROFILE=cpu SEEDS="0 1 2" DATA_DIR=../shared/datasets/UCR
# make book                               # render the executed notebooks into _build/html
# ```
#
# `make run` first computes the dataset's grid (the seven tokenizers, both priors on each, the sample-quality
# anchors; runs whose rows exist for the current configuration are skipped), writing the small metric files to
# `results/<dataset>/<profile>/`, then executes each notebook with papermill into `book/executed/<dataset>/`.
# The notebooks only read those tables, and a page names any run it still lacks; a failing notebook is reported
# with its cell, the others still run, and the exit code says whether all succeeded. `make book` lists exactly the
# notebooks that
# ran successfully and builds the HTML with every warning treated as an error. Datasets bundled with
# aeon (such as GunPoint) need no `DATA_DIR`; others are read from a folder in the UCR 2018 layout
# (`<Name>/<Name>_TRAIN.tsv`), given by `DATA_DIR` or the `TSVQ_DATA_DIR` environment variable.
#
# The notebooks are plain Python files in percent format, `book/<chapter>.py`: edit them in any editor
# and review them as ordinary diffs. With jupytext installed, Jupyter opens such a file as a notebook and
# keeps the outputs in a paired `book/_notebooks/<chapter>.ipynb`; the `.py` never stores outputs. Each
# notebook begins with a cell tagged `parameters` (`dataset`, `profile`, `seeds`, `data_dir`,
# `results_dir`) that papermill overrides, and holds narrative, figures and calls into `tsvq` only: the
# models and training loops live in the library.
