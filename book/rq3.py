# ---
# jupyter:
#   kernelspec:
#     display_name: Python (tsvq)
#     language: python
#     name: tsvq
# ---

# %% [markdown]
# # RQ3 — Expressive tokens and prior learning
#
# **Question.** If the SSL branch makes tokens carry class-level semantics, is the prior over those
# tokens easier to learn: does its validation loss fall faster, or lower?
#
# **How this chapter answers it.** For every tokenizer of the stage-2 grid (`STAGE2_SETTINGS`) and
# every seed, both stage-2 priors are trained on its tokens: the *token* prior (learned token embeddings, TimeVQVAE)
# and the *embedding* prior (a trainable copy of the codebook as input, NC-VQVAE). After every
# validation pass the masked-token cross-entropy on the VAL split is recorded, with masks from a
# fixed seed so that epochs are comparable. This chapter reads those curves (`prior_curves.csv`) and
# the per-run summary (`stage2.csv`); the same runs also feed the sample-quality metrics of RQ4 and
# RQ5.
#
# A prior that has learned nothing predicts every code with probability $1/K$ and scores a loss of
# $\log K$ per band; the curves are drawn against that line. The loss depends on the token
# distribution as well as on the prior: a tokenizer that uses few codes, or some codes much more than
# others, is easier to predict for a reason that has nothing to do with context. A prior that ignored
# the context and predicted every position from the code frequencies alone would score the unigram
# entropy $H$ of the tokens. So the verdict of this chapter rests on the **context gain**
# $H - \text{VAL loss}$ (nats): what the prior learns from the other tokens beyond their frequencies
# ($H$ from the TRAIN tokens, the loss on VAL: column `token_entropy` of `stage2.csv`). The raw loss is
# shown beside it.
#
# Each SSL tokenizer is compared with the naive one on the same seeds, within each prior: the mean
# paired difference, its 95 % interval, the p-value, the Holm p-value over every comparison of this
# chapter for this dataset (context gain, VAL loss and epochs to the naive loss) and a verdict word
# of one rule: **supported** (Holm p < 0.05 and the interval excludes 0), **suggestive** (only the
# uncorrected p < 0.05), **no evidence** (otherwise).

# %% tags=["parameters"]
dataset = "GunPoint"
profile = "cpu"
seeds = [0]
data_dir = None
results_dir = "results"

# %%
import math

from IPython.display import Markdown, display

from tsvq import book, plots, report
from tsvq.book import results_path
from tsvq.experiments import PRIORS, STAGE1_SETTINGS, STAGE2_SETTINGS, current_rows, grid_rows, read_table
from tsvq.train import n_epochs

ds, cfg, _ = book.setup(dataset, profile, seeds, data_dir)
stage2 = grid_rows(ds, "stage2.csv", profile=profile, seeds=seeds, settings=STAGE2_SETTINGS, priors=PRIORS,
                   results_dir=results_dir)
n_seeds = book.seeds_present(stage2, seeds)
curves = current_rows(read_table(results_path(results_dir, dataset, profile, "prior_curves.csv")), ds)
curves = curves[curves["seed"].isin(seeds)] if not curves.empty else curves
n_bands = 1 if cfg.tokenizer.bands == "single" else 2
log_k = n_bands * math.log(cfg.tokenizer.codebook_size)
stop = (f", stopping early once its best VAL epoch lies {cfg.stage2.patience:.0%} of them behind"
        if cfg.stage2.patience else "")
Markdown(f"{dataset}, profile `{profile}`: every prior trains for at most {n_epochs(cfg.stage2, len(ds.x_train))} "
         f"epochs{stop}; {n_seeds}. A uniform guess scores {log_k:.3f} nats per token.")


# %%
display(book.missing(stage2, dataset=dataset, profile=profile, seeds=seeds))
book.stop_unless(stage2, what="prior runs")

# %%
gain_tests = report.rq3_tests(stage2, report.convergence(curves, reference="naive", within="prior", by="setting")
                              if not curves.empty else None)
Markdown(report.finding(gain_tests, {"context_gain": True}, profile=profile,
                        lead="The context gain (TRAIN token entropy − best VAL prior loss) of the SSL tokenizer "
                             "against the naive one, within each prior, on the same seeds:"))

# %% [markdown]
# ## VAL loss against epoch
#
# {numref}`fig-curves`: mean over seeds (line) ± one standard deviation (band), one panel per prior;
# the naive tokenizer is the thick grey line. Below it means easier to predict.

# %%
book.figure(plots.plot_prior_curves(curves, panel="prior", line="setting", reference=log_k,
                                    reference_label=f"log K = {log_k:.2f} nats (uniform guess)"), "curves",
            f"{dataset}, profile {profile}: masked-token cross-entropy of each prior on the VAL split "
            f"({ds.meta.n_val} series) against epoch, per tokenizer setting: mean over {n_seeds} (line) ± one "
            "standard deviation (band; with more than three settings only the naive band); dotted: log K.",
            dataset=dataset)

# %% [markdown]
# ## Speed of convergence
#
# Two speeds per run. *Epochs to the naive loss*: the first epoch at which the run's VAL loss reaches
# the final VAL loss of the naive tokenizer under the same prior (mean over seeds); runs that never
# reach it count as missing, so the `n` of a cell is the number of runs that did. *Epochs to own
# best*: the first epoch within 5 % of the run's own lowest VAL loss, a speed that ignores the level
# reached.

# %%
speed = report.convergence(curves, reference="naive", within="prior", by="setting", rel=0.05)
speed.assign(dataset=dataset, profile=profile).to_csv(results_path(results_dir, dataset, profile, "rq3.csv"),
                                                       index=False)
book.table(report.summarize(speed, ["epochs_to_reference", "epochs_to_own_best"], by=("prior", "setting"),
                            cells_only=True))

# %% [markdown]
# ## Final and best VAL loss
#
# Per prior and tokenizer: the VAL loss at the last epoch, the lowest one and the epoch it was
# reached, with the tokenizer's codebook perplexity on TEST from the stage-1 grid beside them.

# %%
stage1 = grid_rows(ds, "stage1.csv", profile=profile, seeds=seeds, settings=STAGE1_SETTINGS, results_dir=results_dir)
runs = stage2.merge(stage1[["seed", "setting", "perplexity"]], on=["seed", "setting"], how="left")
book.table(report.summarize(runs, ["final_val_loss", "best_val_loss", "best_epoch", "perplexity"],
                            by=("prior", "setting"), cells_only=True))

# %% [markdown]
# ## Loss against the entropy of the tokens
#
# Per prior and tokenizer: the best VAL loss, the unigram entropy of the TRAIN tokens and the context
# gain (entropy − loss), mean ± std over seeds; then, against the naive tokenizer on the same seeds,
# the difference in context gain (positive: the prior learns more from context on these tokens) with
# its interval, p, Holm p and verdict, and the raw loss difference with its verdict beside it.
# Older tables without `token_entropy` show it as missing.

# %%
book.table(report.entropy_table(stage2, speed))

# %% [markdown]
# ## Paired tests against the naive tokenizer
#
# The whole family of this chapter: within each prior, every SSL tokenizer against the naive one on
# the same seeds, on the context gain, the best VAL loss (negative: lower than naive) and the epochs
# to the naive tokenizer's final loss. One table per prior (Holm runs over all of them together).

# %%
tests = report.rq3_tests(stage2, speed)
for prior, part in (tests.groupby("prior", sort=False) if "prior" in tests else []):
    display(Markdown(f"**{prior} prior**"))
    display(book.table(report.tests_table(part.drop(columns="prior"))))

# %% [markdown]
# ## Reading the result
#
# Computed from the tests above. "Yes" to RQ3 would show as SSL tokenizers with a higher context gain
# than the naive tokenizer under every prior: a lower raw loss alone can come from a lower token
# entropy. A `smoke` run only shows that the pipeline works.

# %%
Markdown(report.markdown_list(report.describe_versus(tests, higher_is_better=report.RQ3_METRICS)))

# %%
book.reproduce("rq3", dataset=dataset, profile=profile, seeds=seeds, results_dir=results_dir,
               files=["stage2.csv", "prior_curves.csv", "stage1.csv", "rq3.csv"])
