# ---
# jupyter:
#   kernelspec:
#     display_name: Python (tsvq)
#     language: python
#     name: tsvq
# ---

# %% [markdown]
# # Method
#
# Data flows one way through `tsvq`: **data → tokenizer (stage 1, with or without the SSL branch) →
# prior (stage 2) → evaluation → book**, and each stage is one module of the library (`tsvq.data`,
# `tsvq.tokenizer` with `tsvq.ssl` and `tsvq.augment`, `tsvq.prior`, `tsvq.evaluate`). This chapter
# describes the models, their losses and the metrics. Numbers in brackets are the thesis settings,
# which the `paper` profile uses; the table at the end lists what the other profiles change.

# %% tags=["parameters"]
dataset = "GunPoint"
profile = "cpu"
seeds = [0]
data_dir = None
results_dir = "results"

# %%
from tsvq import book, plots
from tsvq.book import profile_table

# %% [markdown]
# {numref}`fig-architecture` shows both stages. In stage 1 the original series (branch A) passes through the
# TimeVQVAE tokenizer; NC-VQVAE adds branch B, an augmented view that shares the encoder and the
# decoder but skips the quantiser, and an SSL head that ties the two branches together. Stage 2 learns
# a prior over the token grids of branch A and generates new ones.

# %%
book.figure(plots.plot_architecture(), "architecture",
            "The two stages. Top: the NC-VQVAE tokenizer, whose branch A (original series) is the TimeVQVAE "
            "tokenizer and whose branch B (an augmented view) shares the encoder and decoder but skips the "
            "quantiser; the SSL head ties the pooled latents of the branches. Bottom: the MaskGIT prior over "
            "the token grid of branch A, and sampling through the frozen stage-1 decoder.")

# %% [markdown]
# ## Stage 1: the TimeVQVAE tokenizer
#
# **Time-frequency input.** A series $x \in \mathbb{R}^{L}$ is mapped by a short-time Fourier
# transform (Hann window, $n_\mathrm{fft}$ [8], hop $n_\mathrm{fft}/4$, centred, one-sided) to
# $u = \mathrm{STFT}(x) \in \mathbb{R}^{2 \times F \times W}$: real and imaginary parts as two channels,
# $F = 5$ frequency rows and $W$ time frames. The inverse transform returns a series of exactly
# length $L$.
#
# **Encoder and decoder.** The encoder $E$ is a stack of 2-D convolutions with kernel $(3, 4)$ and
# stride $(1, 2)$ that halve **only the time axis**, until the time width is about
# `downsampled_width` [8], followed by residual blocks [4] at hidden dimension $d$ [64], with
# BatchNorm and LeakyReLU. The decoder $D$ mirrors it and ends on the exact STFT grid. The latent
# $z = E(u) \in \mathbb{R}^{d \times F \times w}$ keeps the frequency rows, so a **token** is one
# (frequency row, time segment) cell: 40–75 tokens per series for the thesis datasets.
#
# **Vector quantiser.** Every latent vector is replaced by its nearest code in a codebook
# $\{e_k\}_{k=1}^{K}$, $K$ [32] codes of dimension $d$:
#
# $$
# z_q^{(f,t)} = e_{k^*}, \qquad k^* = \arg\min_{k} \big\lVert z^{(f,t)} - e_k \big\rVert_2 .
# $$
#
# Gradients pass the non-differentiable lookup with the straight-through estimator,
# $z + \mathrm{sg}(z_q - z)$, where $\mathrm{sg}$ stops the gradient. The codebook is not trained by
# gradient descent but by exponential moving averages of the latents assigned to each code (decay
# $\gamma$ [0.9], Laplace smoothing $\epsilon$ [$10^{-5}$] against dead codes), and only in training
# mode:
#
# $$
# N_k \leftarrow \gamma N_k + (1-\gamma)\, n_k, \qquad
# m_k \leftarrow \gamma m_k + (1-\gamma) \sum_{z \mapsto k} z, \qquad
# e_k = m_k / \tilde N_k ,
# $$
#
# with $n_k$ the number of latents assigned to code $k$ in the batch and $\tilde N_k$ the smoothed
# counts.
#
# **Loss.** Reconstruction is scored in time and on the STFT, plus the commitment term that keeps
# the encoder close to its codes ($\beta$ [1]); each squared norm is a mean squared error:
#
# $$
# \mathcal{L}_\mathrm{VQ}(x) = \lVert x - \hat x \rVert^2 + \lVert u - \hat u \rVert^2
# + \beta\, \lVert z - \mathrm{sg}(z_q) \rVert^2 ,
# \qquad \hat x = \mathrm{iSTFT}\big(D(z_q)\big).
# $$
#
# How much of the codebook is in use is summarised by the **perplexity**
# $\exp\!\big(-\sum_k p_k \log p_k\big)$, with $p_k$ the share of tokens assigned to code $k$: 1 when
# a single code is used, $K$ when all are used equally.
#
# **Bands.** In the `single` band mode (the thesis tokenizer) all frequency rows share one encoder,
# codebook and decoder. The `lf_hf` mode of TimeVQVAE (2023) gives the low-frequency row 0 and the
# high-frequency rows their own encoder, codebook and decoder (time widths 8 and 32); since the STFT
# is linear, the two band reconstructions sum to $\hat x$.

# %% [markdown]
# ## Stage 1 with SSL: NC-VQVAE
#
# **Two views.** Every series is seen twice: as itself, $x$, and as an augmented view
# $x' = a(x)$, with a fresh random augmentation drawn from a seeded generator every time. Both views
# pass the same encoder, quantiser and decoder:
#
# - branch A: $x \to E \to$ **quantised** $z_q \to D \to \hat x$, with the loss $\mathcal{L}_\mathrm{VQ}(x)$;
# - branch B: $x' \to E \to$ **unquantised** $z' \to D \to \hat x'$, a reconstruction of $x'$ weighted
#   by $\alpha$ = `aug_recon_weight` [0.1].
#
# **SSL head.** Each latent grid is pooled to $h(z) = [\,\mathrm{avg}(z) \,\Vert\, \max(z)\,] \in
# \mathbb{R}^{2d}$ (global average and max pooling, concatenated) and projected by an MLP $g$ of three
# linear layers with BatchNorm and ReLU between them [$128 \to 4096 \to 4096 \to 4096$]. With
# $Z_1 = g(h(z_q))$ and $Z_2 = g(h(z'))$, both in $\mathbb{R}^{B \times D}$ for a batch of $B$ series,
# the stage-1 objective is
#
# $$
# \mathcal{L} = \mathcal{L}_\mathrm{VQ}(x)
# + \alpha \big( \lVert x' - \hat x' \rVert^2 + \lVert u' - \hat u' \rVert^2 \big)
# + w\, \mathcal{L}_\mathrm{SSL}(Z_1, Z_2).
# $$
#
# The head is discarded after stage 1: it only shapes the encoder, and through the quantised branch,
# the codebook. The projector width is a setting: the thesis width costs about 34 M parameters, so
# the `cpu` profile uses a narrower one.
#
# ### The non-contrastive losses
#
# None of the three losses needs negative pairs. Each pulls the two views together and keeps the
# features from collapsing to a constant in its own way.
#
# **Barlow Twins** ($w$ [1]) standardises every feature over the batch, $\tilde Z = (Z - \mu)/\sigma$,
# and pushes the cross-correlation matrix $C = \tilde Z_1^\top \tilde Z_2 / B$ towards the identity:
#
# $$
# \mathcal{L}_\mathrm{BT} = \frac{1}{D} \Big[ \sum_i (1 - C_{ii})^2 + \lambda \sum_{i \ne j} C_{ij}^2 \Big],
# \qquad \lambda\ [0.005].
# $$
#
# **VICReg** ($w$ [0.01]) combines invariance, a variance hinge and a covariance penalty:
#
# $$
# \mathcal{L}_\mathrm{VIC} = \lambda\, \mathrm{MSE}(Z_1, Z_2) + \mu \big[ v(Z_1) + v(Z_2) \big]
# + \nu \big[ c(Z_1) + c(Z_2) \big],
# $$
#
# $$
# v(Z) = \frac{1}{D} \sum_j \mathrm{relu}\Big(1 - \sqrt{\mathrm{Var}(Z_{:,j}) + 10^{-4}}\Big),
# \qquad
# c(Z) = \frac{1}{D} \sum_{i \ne j} \mathrm{Cov}(Z)_{ij}^2 ,
# $$
#
# with $\lambda = \mu$ [25] and $\nu$ [1].
#
# **VIbCReg** ($w$ [0.01]) passes the projector output through IterNorm (group whitening with 64
# groups and 5 Newton–Schulz iterations), keeps VICReg's invariance and variance terms, and replaces
# the covariance term by the mean squared off-diagonal entry of the correlation matrix of the
# feature-normalised $Z$ (every column centred and scaled to unit norm, $\bar Z$):
#
# $$
# c_\mathrm{b}(Z) = \frac{1}{D(D-1)} \sum_{i \ne j} \big(\bar Z^\top \bar Z\big)_{ij}^2 ,
# \qquad \lambda = \mu\ [25],\ \nu\ [100].
# $$
#
# The normalisation makes the term scale-free: it cannot be lowered by shrinking the features.
#
# ### Augmentations
#
# Every augmentation keeps the shape of the batch:
#
# - `warp`: a window warp (a random window of 40 % of the series is resampled by a factor drawn from
#   $U(0.9, 2.0)$ and the whole series resampled back to length $L$), then an amplitude resize by a
#   factor $1 + \mathcal{N}(0, 0.2^2)$ per series;
# - `slice`: the series is cut into 4 segments at random points and the segments are permuted;
# - `gauss`: noise $\mathcal{N}(0, 0.05^2)$ is added at every time step.
#
# The augmentation decides what the tokens become invariant to, which is what RQ2 and RQ4 examine.

# %% [markdown]
# ## Stage 2: the MaskGIT prior
#
# The prior is a bidirectional transformer [hidden 256, depth 4, 2 heads, feed-forward multiplier 1]
# over the flattened token grid, with a class token prepended. During training the label is replaced
# by a "null" class with probability $p_\mathrm{uncond}$ [0.2], so that one network learns both the
# conditional and the unconditional distribution.
#
# Two input variants are compared:
#
# - the **token prior** (TimeVQVAE): the inputs are learned token embeddings, initialised from the
#   stage-1 codebook, plus a [MASK] token; the output is logits over the $K$ codes;
# - the **embedding prior** (NC-VQVAE): the inputs are the codeword vectors of a trainable copy of the
#   stage-1 codebook plus a learned mask vector, with an untied linear output head. Decoding still
#   uses the frozen stage-1 codebook.
#
# **Training.** For every sequence of $N$ tokens draw $t \sim U(0, 1)$ and mask a fraction
# $\gamma(t) = \cos(\pi t / 2)$ of the positions, chosen at random; the loss is the cross-entropy on the
# **masked positions only**, $M$:
#
# $$
# \mathcal{L}_\mathrm{prior} = -\frac{1}{|M|} \sum_{i \in M} \log p_\theta\big(s_i \,\big|\, s_{\setminus M}, c\big).
# $$
#
# **Iterative decoding.** Sampling starts from an all-masked grid and takes $T$ [10] steps. At step
# $s = 0, \dots, T-1$ every masked position is sampled, each sampled token is scored by its
# confidence $\log p + \tau_s\, g$ with Gumbel noise $g$ and a temperature that anneals from the
# choice temperature $\tau_0$ [4] to zero, $\tau_s = \tau_0 \big(1 - \tfrac{s+1}{T}\big)$, the most
# confident tokens are kept and the $\big\lfloor n \cos\!\big(\tfrac{\pi}{2} \cdot \tfrac{s+1}{T}\big) \big\rfloor$
# least confident of the $n$ unknown positions are masked again. Tokens decided at an earlier step never change.
#
# **Classifier-free guidance.** For class-conditional samples the logits of the class $c$ and of the
# null class $\varnothing$, computed in one batched forward pass, are combined with a guidance scale
# $s$:
#
# $$
# \ell = \ell_\varnothing + s\, (\ell_c - \ell_\varnothing);
# $$
#
# $s = 1$ is plain conditional sampling and $s > 1$ trades diversity for class fidelity. In the
# `lf_hf` band mode the LF prior generates first and the HF prior is conditioned on the LF tokens.
#
# **The 2 × 2 design.** The thesis paired SSL tokenizers only with the embedding prior (and its token
# prior inverted the masking schedule and scored all positions), so the effect of the tokenizer and
# the effect of the prior could not be told apart. `tsvq` trains the full 2 × 2:
# {naive, SSL} tokenizer × {token, embedding} prior.

# %% [markdown]
# ## Evaluation
#
# **Probes (RQ1, RQ2).** The representation of a series is its quantised latent $z_q$, average-pooled
# over the grid to a $d$-dimensional vector and scaled to $[-1, 1]$ with a MinMax scaler fitted on
# TRAIN. A linear SVM ($C = 1$) and a KNN classifier ($k = 5$) are fitted on TRAIN and scored on TEST.
# The model stays in evaluation mode while probing, so no BatchNorm statistic or code moves. Codebook
# perplexity and usage, and PCA and t-SNE maps of the pooled latents coloured by class, complete the
# picture.
#
# **The evaluator.** Sample quality is measured through the FCN of Wang et al. (2017): three Conv1d
# blocks (128 filters of width 8, 256 of width 5, 128 of width 3, each with BatchNorm and ReLU),
# global average pooling to a 128-d feature and a linear head, trained on the dataset's TRAIN split
# with early stopping on VAL and cached.
#
# **FID** is the Fréchet distance between Gaussian fits $(\mu_r, \Sigma_r)$ of the FCN features of the
# real TEST set and $(\mu_g, \Sigma_g)$ of as many unconditional samples:
#
# $$
# \mathrm{FID} = \lVert \mu_r - \mu_g \rVert_2^2
# + \mathrm{Tr}\Big(\Sigma_r + \Sigma_g - 2 \big(\Sigma_r \Sigma_g\big)^{1/2}\Big).
# $$
#
# **IS**, the inception score, rewards samples that the evaluator classifies confidently and that
# cover the classes evenly; it is computed on 10 splits and reported as mean ± std:
#
# $$
# \mathrm{IS} = \exp\Big( \mathbb{E}_{x}\, \mathrm{KL}\big( p(y \mid x) \,\Vert\, p(y) \big) \Big).
# $$
#
# **CAS**, the classification accuracy score, trains a fresh FCN on class-conditional synthetic data
# only (per class as many samples as TRAIN holds, scaled up to at least 1000 in total) and reports its
# final accuracy on the real TEST set.
#
# **ROCKET-FID** is the same Fréchet distance on seeded MiniRocket features. It needs no trained
# evaluator, so it is comparable across runs and machines.
#
# Every metric is reported as mean ± std over seeds (at least three for a claim), with a paired test
# against the baseline.

# %% [markdown]
# ## Profiles
#
# A profile is a named set of overrides on top of the thesis settings. The table lists every setting
# that differs between the three profiles; all others are the thesis values above.

# %%
book.table(profile_table())

# %% [markdown]
# ### How long a tokenizer trains
#
# A `cpu` tokenizer trains 500 epochs, but never fewer than 200 optimiser steps (a dataset of a few dozen
# series has one step per epoch) and never more than 2000 (ECG5000's 500 epochs). The upper bound binds
# only on the three large datasets. It was chosen on validation data: naive and VIbCReg-slice tokenizers of
# ElectricDevices (seed 0) trained for 500, 1000 and 2000 steps and scored by KNN and SVM accuracy
# cross-validated on TRAIN ∪ VAL and by the VAL reconstruction error (`scripts/investigations.py --budget`,
# rows in `results/ElectricDevices/cpu/selection.csv`, shown below). Each doubling still raised both
# tokenizers' cross-validated KNN accuracy and lowered their VAL error (the SVM accuracy moved by less
# than a point either way), so the budget is the largest one tried; larger ones were not tried on this
# machine, where one ElectricDevices VIbCReg tokenizer takes about 10 minutes at 2000 steps.

# %%
import pandas as pd
from IPython.display import Markdown, display

from tsvq.config import get_config
from tsvq.data import list_datasets, load_ucr
from tsvq.report import parse_setting
from tsvq.results import read_table, results_path

cpu = get_config("cpu")
splits = {d["name"]: load_ucr(d["name"], data_dir).meta for d in list_datasets(data_dir) if not d.get("error")}
display(book.table(pd.DataFrame([{"dataset": n, "TRAIN (after VAL)": m.n_train, "length": m.length,
                                  "cpu stage-1 training": book.stage1_length(cpu, m.n_train)}
                                 for n, m in splits.items()]), drop_constant=()))
budget = read_table(results_path(results_dir, "ElectricDevices", "cpu", "selection.csv"))
if not budget.empty:
    budget = budget[budget["setting"].str.contains("stage1_max_steps")]
if budget.empty:
    display(Markdown("The step-budget search has not been run in this results folder."))
else:
    budget = budget.assign(base=[parse_setting(s)["base"] for s in budget["setting"]],
                           steps=[int(parse_setting(s)["stage1_max_steps"]) for s in budget["setting"]])
    display(book.table(budget.sort_values(["base", "steps"])[
        ["base", "seed", "steps", "epochs", "cv_knn_accuracy", "cv_svm_accuracy", "val_time_mse"]], drop_constant=()))

# %%
book.reproduce("method", dataset=dataset, profile=profile, seeds=seeds, results_dir=results_dir)
