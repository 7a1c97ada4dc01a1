# ---
# jupyter:
#   kernelspec:
#     display_name: Python (tsvq)
#     language: python
#     name: tsvq
# ---

# %% [markdown]
# # Datasets
#
# The experiments use univariate datasets of the UCR time series archive (2018 release). This chapter
# shows what one of them looks like to the models: the splits, the series, the classes and their
# balance.
#
# **Splits.** The official TRAIN/TEST split is kept. A stratified, seeded 20 % of TRAIN is held out as
# VAL for monitoring and model selection, so TEST is touched only for final metrics. (The thesis used
# TEST throughout; tsvq does not.)
#
# **Scaling.** One global mean and standard deviation, computed on the TRAIN part only, scale all
# three splits, as in the thesis. Labels are encoded $0 \dots K-1$ from TRAIN.

# %% tags=["parameters"]
dataset = "GunPoint"
profile = "cpu"
seeds = [0]
data_dir = None
results_dir = "results"

# %%
from IPython.display import Markdown

from tsvq import book, plots
from tsvq.book import class_balance_table, dataset_table, results_path
from tsvq.config import get_config
from tsvq.data import load_ucr
from tsvq.tokenizer import Tokenizer

ds = load_ucr(dataset, data_dir, seed=seeds[0])
meta = ds.meta
Markdown(f"{meta.name}: series of length {meta.length}, {meta.n_classes} classes. Scaling from TRAIN: mean "
         f"{book.sig(meta.mean)}, std {book.sig(meta.std)}; the VAL split is drawn with seed {seeds[0]}.")

# %% [markdown]
# ## Splits
#
# The number of series per split and how many of the classes each split contains. With very small
# classes a split can miss a class entirely, which a probe or CAS score on that split cannot reveal.

# %%
table = dataset_table(ds)
table.to_csv(results_path(results_dir, dataset, profile, "datasets_splits.csv"))
book.table(table)

# %% [markdown]
# ## Tokens per series
#
# The stage-1 tokenizer of the current profile cuts every series into a grid of tokens, one per
# (frequency row, time segment) cell; this is the sequence the prior of stage 2 models.

# %%
tokenizer = Tokenizer(config=get_config(profile).tokenizer, length=meta.length)
Markdown("\n".join(f"- band `{band}`: {tokenizer.grid(band)[0]} frequency rows × {tokenizer.grid(band)[1]} time "
                   f"segments = {tokenizer.n_tokens(band)} tokens" for band in tokenizer.band_names))

# %% [markdown]
# ## Examples per class
#
# {numref}`fig-examples` shows a few TRAIN series of every class (thin lines) and the class mean (thick
# line), in the z-scaled units the models see. What separates the classes (a level shift, a peak, a shape at one moment) is what
# the tokens must preserve for the probes of RQ1 and for class-conditional generation.

# %%
book.figure(plots.plot_examples_per_class(ds, seed=seeds[0]), "examples",
            f"{dataset}: up to 8 TRAIN series per class (thin lines, drawn with seed {seeds[0]}) and the mean of "
            f"all TRAIN series of the class (thick line), z-scaled; {meta.n_train} TRAIN series in all.",
            dataset=dataset)

# %% [markdown]
# ## Class balance
#
# Series per class and split, with each class's share of its split (the table, and
# {numref}`fig-balance`). Imbalance shapes two metrics:
# the probes' accuracy, and CAS, whose synthetic training set follows the class counts of TRAIN.

# %%
balance = class_balance_table(ds)
balance.to_csv(results_path(results_dir, dataset, profile, "datasets_balance.csv"))
book.table(balance)

# %%
book.figure(plots.plot_class_balance(ds), "balance",
            f"{dataset}: number of series per class in TRAIN ({meta.n_train}), VAL ({meta.n_val}) and TEST "
            f"({meta.n_test}); VAL drawn from the official TRAIN with seed {seeds[0]}.", dataset=dataset)

# %%
book.reproduce("datasets", dataset=dataset, profile=profile, seeds=seeds, results_dir=results_dir,
               files=["datasets_splits.csv", "datasets_balance.csv"])
