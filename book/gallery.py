# ---
# jupyter:
#   kernelspec:
#     display_name: Python (tsvq)
#     language: python
#     name: tsvq
# ---

# %% [markdown]
# # Gallery — real series and samples
#
# Numbers summarise; a reader should also *see* what the priors generate. Every stage-2 run of the
# grid keeps the first three class-conditional samples of each class it drew for CAS (`samples.csv`).
# This page draws them beside real TEST series of the same class: one column per class, one row per
# tokenizer, one figure per prior, every panel on the same y-scale, so that shape, amplitude and
# noise compare at a glance. The lowest seed with samples stands for each tokenizer × prior; naive is grey,
# each SSL setting has its colour from the rest of the book.

# %% tags=["parameters"]
dataset = "GunPoint"
profile = "cpu"
seeds = [0]
data_dir = None
results_dir = "results"

# %%
from IPython.display import Markdown, display

from tsvq import book, plots
from tsvq.experiments import ALL_PRIORS, STAGE2_SETTINGS, as_setting, gallery_series, grid_rows

ds, cfg, n_seeds = book.setup(dataset, profile, seeds, data_dir)
samples = grid_rows(ds, "samples.csv", profile=profile, seeds=seeds, settings=STAGE2_SETTINGS, priors=ALL_PRIORS,
                    results_dir=results_dir)
samples.attrs["missing"] = []  # a prior without samples shows as an empty row below, not as a missing run
order = [as_setting(s).name for s in STAGE2_SETTINGS]
# each tokenizer × prior shows its lowest seed with samples
shown = samples[samples["seed"] == samples.groupby(["setting", "prior"])["seed"].transform("min")] \
    if not samples.empty else samples
if not shown.empty:
    display(Markdown(f"{dataset}, profile `{profile}`: samples of {shown.groupby(['setting', 'prior']).ngroups} "
                     "tokenizer × prior runs, each of its lowest seed with samples (seeds "
                     f"{', '.join(map(str, sorted(set(shown['seed']))))})."))
book.stop_unless(shown, what="samples (stage-2 runs keep a few per class)")

# %%
for prior in [p for p in ALL_PRIORS if not shown.empty and (shown["prior"] == p).any()]:
    part = shown[shown["prior"] == prior]
    rows = {}
    for name in [s for s in order if (part["setting"] == s).any()]:
        cell = part[part["setting"] == name].sort_values(["label", "sample"])
        rows[name] = (gallery_series(cell), cell["label"].to_numpy())
    n_real = 3
    real_idx = [i for c in sorted(set(ds.y_test)) for i in (ds.y_test == c).nonzero()[0][:n_real]]
    display(book.figure(
        plots.plot_gallery(ds.x_test[real_idx], ds.y_test[real_idx], rows, n=n_real), f"gallery-{prior}",
        f"{dataset}, profile {profile}, {prior} prior: the first {n_real} real TEST series of each class (top row, "
        f"dark grey) and {n_real} class-conditional samples of the prior of each tokenizer (one row per tokenizer, "
        f"seed{'s' if part['seed'].nunique() > 1 else ''} {', '.join(map(str, sorted(set(part['seed']))))}; naive "
        "grey, SSL settings in their colours); every panel on one y-scale (z-scaled values).", dataset=dataset,
        intro=f"{{ref}} shows the samples of the {prior} prior."))

# %%
book.reproduce("gallery", dataset=dataset, profile=profile, seeds=seeds, results_dir=results_dir,
               files=["samples.csv"])
