"""Figures for the book: each function takes data and returns a matplotlib ``Figure``.

Every figure is closed in pyplot before it is returned, so pyplot keeps no reference to it: a notebook
shows it exactly once (through :func:`tsvq.book.figure`, which numbers and captions it), scripts can call
these functions in a loop without accumulating open figures, and no display is needed (``fig.savefig``).

One palette serves the whole book: every tokenizer setting has one colour on every page (the naive
tokenizer is always grey, Barlow Twins blues, VIbCReg oranges, VICReg greens; the augmentation sets the
shade), every prior has one, and axes are labelled in words with units (:func:`label`), never with a
column name. Small effects are drawn as points with 95 % intervals (Student t over the seeds), not as
bars from zero, and nothing is drawn as a bar on a log axis.
"""
from __future__ import annotations

import functools
import math
import textwrap

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

# ----------------------------------------------------------------------------------------------- helpers

DPI = 110
COLORS = {  # one colour per role, shared across figures
    "data": "#e8e8e8",
    "transform": "#fdf1d6",
    "network": "#d6e6f5",
    "quantiser": "#f9d3b4",
    "ssl": "#d5ecd4",
    "prior": "#e6dcf2",
}


NAIVE = "#7f7f7f"  # the naive tokenizer (and any baseline), on every page
SETTING_COLORS = {
    "naive": NAIVE,
    "barlowtwins-warp": "#08306b", "barlowtwins-slice": "#2171b5", "barlowtwins-gauss": "#6baed6",
    "vibcreg-warp": "#7f2704", "vibcreg-slice": "#d94801", "vibcreg-gauss": "#fd8d3c",
    "vicreg-warp": "#00441b", "vicreg-slice": "#238b45", "vicreg-gauss": "#74c476",
}
PRIOR_COLORS = {"token": "#6a3d9a", "embedding": "#01857a", "token_thesis": "#c51b7d"}
SPLIT_COLORS = {"train": "#3a3a3a", "val": "#8c8c8c", "test": "#c8c8c8"}
REAL = "#222222"  # real series
REFERENCE_COLORS = ["#000000", "#b2182b", "#636363", "#2166ac", "#8c510a"]  # anchor lines, each its own style
OTHER = ["#8c564b", "#bcbd22", "#17becf", "#e377c2", "#9467bd", "#393b79"]  # anything outside the palette
# Each class of a dataset (examples, latent maps): a palette of its own, used only where classes are shown.
CLASS_COLORS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666",
                "#1f78b4", "#b2df8a"]

# Axis labels in words, with units; :func:`label` falls back to the name with spaces.
LABELS = {
    "svm_accuracy": "SVM accuracy on TEST",
    "knn_accuracy": "KNN accuracy on TEST",
    "val_svm_accuracy": "SVM accuracy on VAL",
    "val_knn_accuracy": "KNN accuracy on VAL",
    "cv_knn_accuracy": "KNN accuracy, 5-fold CV on TRAIN ∪ VAL",
    "cv_svm_accuracy": "SVM accuracy, 5-fold CV on TRAIN ∪ VAL",
    "test_time_mse": "TEST reconstruction MSE (z-scaled units²)",
    "val_time_mse": "VAL reconstruction MSE (z-scaled units²)",
    "test_stft_mse": "TEST STFT reconstruction MSE (z-scaled units²)",
    "recon_loss": "TEST reconstruction loss, time + STFT MSE",
    "perplexity": "codebook perplexity (codes in use)",
    "mean_abs_corr_off_diagonal": "mean |correlation| between codewords",
    "fid": "FID on FCN features (lower is better)",
    "rocket_fid": "ROCKET-FID on MiniRocket features (lower is better)",
    "kid": "KID on FCN features (lower is better)",
    "is_mean": "Inception Score (1 to number of classes)",
    "cas": "CAS: TEST accuracy of an FCN trained on samples",
    "copy_rate": "copy rate (share of samples)",
    "best_val_loss": "best VAL prior loss (nats per token)",
    "final_val_loss": "final VAL prior loss (nats per token)",
    "val_loss": "VAL prior loss (nats per token)",
    "context_gain": "context gain (nats per token)",
    "token_entropy": "TRAIN token entropy (nats per token)",
    "epochs_to_reference": "epochs to reach naive's final VAL loss",
    "epochs_to_own_best": "epochs to within 5 % of own best VAL loss",
}
STYLE = {"font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "xtick.labelsize": 8, "ytick.labelsize": 8,
         "legend.fontsize": 8, "figure.titlesize": 10, "axes.spines.top": False, "axes.spines.right": False}


def label(metric: str, width: int = 34) -> str:
    """The words for a metric column (e.g. ``svm_accuracy`` -> "SVM accuracy on TEST"), wrapped at ``width``."""
    return textwrap.fill(LABELS.get(metric, metric.replace("_", " ")), width)


def setting_color(name) -> str:
    """The colour of a tokenizer setting on every page; a variant (``vibcreg-slice-weight0.1``) or a cell of the
    2 × 2 (``vibcreg-slice + embedding``) takes the colour of its setting, an unknown name a fixed other one."""
    name = str(name).split(" + ")[0]
    if name in SETTING_COLORS:
        return SETTING_COLORS[name]
    base = "naive" if name.startswith("naive") else "-".join(name.split("-")[:2])
    if base in SETTING_COLORS:
        return SETTING_COLORS[base]
    return OTHER[sum(map(ord, name)) % len(OTHER)]


def prior_color(name) -> str:
    return PRIOR_COLORS.get(str(name), OTHER[sum(map(ord, str(name))) % len(OTHER)])


def color_for(column: str, value) -> str:
    """The palette colour of ``value`` in a table column: priors by prior, everything else by setting."""
    if column == "prior" or str(value) in PRIOR_COLORS:
        return prior_color(value)
    if column in ("ssl", "aug"):  # a part of a setting: the slice shade of that loss / the VIbCReg shade
        return setting_color(f"{value}-slice" if column == "ssl" else ("naive" if value == "none" else
                                                                        f"vibcreg-{value}"))
    return setting_color(value)


def _styled(fn):
    """Draw under the book's font sizes (rc settings are read when artists are made, so the whole call)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with plt.rc_context(STYLE):
            return fn(*args, **kwargs)
    return wrapper


def _ci(values) -> tuple[float, float, int]:
    """Mean and half-width of the 95 % Student-t interval of ``values`` (NaN half-width with < 2 values)."""
    from scipy.stats import t as student

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    n = len(v)
    if n == 0:
        return float("nan"), float("nan"), 0
    if n < 2:
        return float(v.mean()), float("nan"), 1
    return float(v.mean()), float(student.ppf(0.975, n - 1) * v.std(ddof=1) / math.sqrt(n)), n


def _legend_below(fig, handles, labels, *, max_cols: int = 4):
    """A legend under the axes, in as many columns as fit: it never squeezes the plot."""
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=min(max_cols, len(labels)), frameon=False)


def _figure(width: float, height: float) -> Figure:
    # Made through pyplot so that Jupyter's inline backend knows how to render it, then closed at once
    # so that the backend does not also show it at the end of the cell.
    fig = plt.figure(figsize=(width, height), dpi=DPI, layout="constrained")
    plt.close(fig)
    return fig


def _box(ax, x: float, y: float, text: str, role: str, *, w: float = 1.6, h: float = 0.9, fontsize: float = 9):
    """A rounded box centred on (x, y); returns its (left, right, bottom, top) edges for arrows."""
    ax.add_patch(
        FancyBboxPatch(
            (x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.12",
            facecolor=COLORS[role], edgecolor="#444444", linewidth=1.0,
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)
    return (x - w / 2, x + w / 2, y - h / 2, y + h / 2)


def _arrow(ax, start, end, *, style: str = "-|>", ls: str = "-", color: str = "#333333", text: str = "",
           text_offset=(0.0, 0.18), fontsize: float = 8):
    ax.add_patch(
        FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=11, linewidth=1.1, linestyle=ls,
                        color=color, shrinkA=0, shrinkB=0)
    )
    if text:
        mx, my = (start[0] + end[0]) / 2 + text_offset[0], (start[1] + end[1]) / 2 + text_offset[1]
        ax.text(mx, my, text, ha="center", va="center", fontsize=fontsize, color=color)


# ----------------------------------------------------------------------------------------------- figures


@_styled
def plot_architecture() -> Figure:
    """NC-VQVAE stage 1 (two branches sharing one encoder/decoder, SSL head) and the stage-2 MaskGIT prior.

    Branch A is the TimeVQVAE tokenizer; branch B feeds an augmented view through the same encoder
    without quantisation. The SSL loss ties the pooled quantised latent of A to the unquantised latent
    of B, which is what pushes class-level semantics into the codebook.
    """
    fig = _figure(10.5, 5.6)
    ax = fig.add_subplot()
    ax.set_xlim(-0.3, 15.3)
    ax.set_ylim(-0.2, 8.9)
    ax.set_axis_off()

    ya, yb, ys = 7.3, 3.9, 5.6  # branch A, branch B, SSL head
    xs = dict(x=0.6, stft=2.5, enc=4.6, vq=6.9, dec=9.2, istft=11.3, out=13.3)

    ax.text(-0.2, 8.65, "Stage 1 — tokenizer with a self-supervised branch (NC-VQVAE)", fontsize=11,
            fontweight="bold", va="center")
    ax.text(15.2, ya + 0.75, "branch A: original view", fontsize=8.5, ha="right", style="italic")
    ax.text(15.2, yb - 0.75, "branch B: augmented view", fontsize=8.5, ha="right", style="italic")

    # branch A: x -> STFT -> encoder -> quantiser -> decoder -> iSTFT -> x_hat
    a = {
        "x": _box(ax, xs["x"], ya, "$x$", "data", w=0.9),
        "stft": _box(ax, xs["stft"], ya, "STFT\n(re, im)", "transform"),
        "enc": _box(ax, xs["enc"], ya, "encoder\n(time ↓ only)", "network"),
        "vq": _box(ax, xs["vq"], ya, "quantiser\ncodebook $K\\times d$", "quantiser", w=1.8),
        "dec": _box(ax, xs["dec"], ya, "decoder", "network"),
        "istft": _box(ax, xs["istft"], ya, "iSTFT", "transform"),
        "out": _box(ax, xs["out"], ya, "$\\hat{x}$", "data", w=0.9),
    }
    chain = ["x", "stft", "enc", "vq", "dec", "istft", "out"]
    labels = {("enc", "vq"): "$z$", ("vq", "dec"): "$z_q$"}
    for s, e in zip(chain, chain[1:]):
        _arrow(ax, (a[s][1], ya), (a[e][0], ya), text=labels.get((s, e), ""))

    # branch B: x' -> STFT -> encoder -> (no quantiser) -> decoder -> iSTFT -> x'_hat
    b = {
        "x": _box(ax, xs["x"], yb, "$x'$", "data", w=0.9),
        "stft": _box(ax, xs["stft"], yb, "STFT\n(re, im)", "transform"),
        "enc": _box(ax, xs["enc"], yb, "encoder", "network"),
        "dec": _box(ax, xs["dec"], yb, "decoder", "network"),
        "istft": _box(ax, xs["istft"], yb, "iSTFT", "transform"),
        "out": _box(ax, xs["out"], yb, "$\\hat{x}'$", "data", w=0.9),
    }
    chain = ["x", "stft", "enc", "dec", "istft", "out"]
    for s, e in zip(chain, chain[1:]):
        _arrow(ax, (b[s][1], yb), (b[e][0], yb), text="$z'$ (not quantised)" if s == "enc" else "",
               text_offset=(-0.9, 0.2))

    # augmentation and weight sharing
    _arrow(ax, (xs["x"], a["x"][2]), (xs["x"], b["x"][3]), text="augment\nwarp | slice | gauss",
           text_offset=(0.05, 0.0))
    for k in ("enc", "dec"):
        _arrow(ax, (xs[k], a[k][2]), (xs[k], b[k][3]), style="<|-|>", ls="--", color="#777777")
        ax.text(xs[k] - 0.15, ys, "shared weights", rotation=90, ha="center", va="center", fontsize=7.5,
                color="#777777")

    # SSL head between the branches: pooled z_q (branch A) against pooled z' (branch B)
    ssl = _box(ax, xs["vq"], ys, "SSL head: [avg ‖ max] pool → projector\n"
               "$\\mathcal{L}_{\\mathrm{SSL}}$: Barlow Twins | VICReg | VIbCReg", "ssl", w=3.9, h=0.9, fontsize=8.5)
    _arrow(ax, (xs["vq"], a["vq"][2]), (xs["vq"], ssl[3]))
    ax.plot([xs["vq"]], [yb], "o", color="#333333", markersize=3)
    _arrow(ax, (xs["vq"], yb), (xs["vq"], ssl[2]))

    # loss annotations
    ax.text(xs["out"], a["out"][2] - 0.25, "MSE time + STFT\n+ commitment", ha="center", va="top", fontsize=7.5)
    ax.text(xs["out"], b["out"][3] + 0.25, "MSE × aug_recon_weight", ha="center", va="bottom", fontsize=7.5)

    # stage 2
    ax.plot([-0.2, 15.2], [2.75, 2.75], color="#bbbbbb", linewidth=0.8)
    ax.text(-0.2, 2.35, "Stage 2 — prior over tokens (MaskGIT)", fontsize=11, fontweight="bold", va="center")
    y2 = 1.0
    s2 = [
        _box(ax, 1.1, y2, "class $c$ or ∅\n+ stage-1 token grid\n(partly [MASK])", "data", w=2.0, h=1.15, fontsize=8),
        _box(ax, 4.3, y2, "bidirectional transformer\ntoken | embedding prior", "prior", w=3.0, h=1.15, fontsize=8.5),
        _box(ax, 7.9, y2, "iterative decoding\n$T$ steps, cosine re-masking\n"
             "CFG: $\\ell_\\emptyset + s(\\ell_c-\\ell_\\emptyset)$", "prior", w=3.4, h=1.15, fontsize=8),
        _box(ax, 11.2, y2, "frozen codebook\n+ decoder + iSTFT", "network", w=2.4, h=1.15, fontsize=8.5),
        _box(ax, 13.6, y2, "$\\tilde{x}$", "data", w=0.9, h=1.15),
    ]
    for s, e in zip(s2, s2[1:]):
        _arrow(ax, (s[1], y2), (e[0], y2))
    return fig


@_styled
def plot_examples_per_class(ds, *, n_per_class: int = 8, split: str = "train", seed: int = 0) -> Figure:
    """A few series of every class (thin lines) and the class mean (thick), one panel per class.

    Seeing the classes side by side shows what a tokenizer has to keep apart; shared y-limits keep
    amplitudes comparable across panels. Values are in the z-scaled units the models see.
    """
    x, y = ds.split(split)
    x = x[:, 0, :]  # (n, L)
    names = ds.meta.class_names
    k = len(names)
    cols = min(k, 3)
    rows = -(-k // cols)
    fig = _figure(3.0 * cols, 2.2 * rows)
    axes = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False)
    rng = np.random.default_rng(seed)
    t = np.arange(x.shape[1])
    for c, ax in enumerate(axes.flat):
        if c >= k:
            ax.set_axis_off()
            continue
        members = np.flatnonzero(y == c)
        color = CLASS_COLORS[c % len(CLASS_COLORS)]
        if len(members):
            pick = rng.choice(members, size=min(n_per_class, len(members)), replace=False)
            ax.plot(t, x[pick].T, color=color, alpha=0.35, linewidth=0.8)
            ax.plot(t, x[members].mean(axis=0), color=color, linewidth=2.2)
        ax.set_title(f"class {names[c]}  (n={len(members)})", fontsize=9)
        ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("time step")
    for ax in axes[:, 0]:
        ax.set_ylabel("z-scaled value")
    fig.suptitle(f"{ds.meta.name}: {split.upper()} examples per class (thick: class mean)", fontsize=10)
    return fig


@_styled
def plot_class_balance(ds) -> Figure:
    """Series per class in TRAIN, VAL and TEST as grouped bars.

    Imbalance matters twice in this project: the probes' accuracy and CAS both depend on it, and
    CAS samples each class as often as TRAIN holds it.
    """
    names = ds.meta.class_names
    k = len(names)
    splits = ("train", "val", "test")
    fig = _figure(max(4.0, 0.9 * k + 2.5), 2.8)
    ax = fig.add_subplot()
    width = 0.8 / len(splits)
    pos = np.arange(k)
    for i, split in enumerate(splits):
        counts = np.bincount(ds.split(split)[1], minlength=k)
        bars = ax.bar(pos + (i - 1) * width, counts, width, label=f"{split.upper()} (n={counts.sum()})",
                      color=SPLIT_COLORS[split], edgecolor="#333333", linewidth=0.5)
        ax.bar_label(bars, fontsize=7, padding=1)
    ax.set_xticks(pos, [str(n) for n in names])
    ax.set_xlabel("class")
    ax.set_ylabel("number of series")
    ax.margins(y=0.15)
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(f"{ds.meta.name}: class balance per split", fontsize=10)
    return fig


# ----------------------------------------------------------------------------------------------- results


@_styled
def plot_reconstructions(x: np.ndarray, x_hat: np.ndarray, y: np.ndarray | None = None, *, n: int = 6,
                         class_names=None, title: str = "") -> Figure:
    """Series (solid) and their tokenizer reconstructions (dashed), one panel each."""
    return plot_reconstructions_compared(x, {"reconstruction": x_hat}, y, n=n, class_names=class_names, title=title)


@_styled
def plot_codebook_usage(counts: dict[str, np.ndarray]) -> Figure:
    """How often each code is used (codes sorted by use), one panel per tokenizer, in the tokenizer's colour."""
    fig = _figure(min(7.2, 3.6 * len(counts)), 2.6)
    axes = np.atleast_1d(fig.subplots(1, len(counts), squeeze=False, sharey=True).ravel())
    for ax, (name, c) in zip(axes, counts.items()):
        c = np.asarray(c, dtype=float)
        order = np.argsort(-c)
        ax.bar(np.arange(len(c)), c[order] / c.sum(), color=setting_color(name), width=0.85)
        p = c / c.sum()
        ppl = float(np.exp(-(p[p > 0] * np.log(p[p > 0])).sum()))
        ax.set_title(f"{name}\nperplexity {ppl:.1f}, {int((c > 0).sum())} of {len(c)} codes used")
        ax.set_xlabel("code, sorted by use")
    axes[0].set_ylabel("share of TEST tokens")
    return fig


@_styled
def plot_latent_maps(maps: dict[str, np.ndarray], y: np.ndarray, *, class_names=None, title: str = "") -> Figure:
    """2-D maps (PCA / t-SNE) of pooled latents coloured by class, one panel per tokenizer."""
    fig = _figure(min(7.2, 3.4 * len(maps)), 3.5)
    axes = fig.subplots(1, len(maps), squeeze=False).ravel()
    classes = np.unique(y)
    handles = []
    for ax, (name, xy) in zip(axes, maps.items()):
        for j, c in enumerate(classes):
            m = y == c
            h = ax.scatter(xy[m, 0], xy[m, 1], s=6, alpha=0.7, color=CLASS_COLORS[j % len(CLASS_COLORS)],
                           label=f"class {class_names[c] if class_names else c}")
            if ax is axes[0]:
                handles.append(h)
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    _legend_below(fig, handles, [h.get_label() for h in handles], max_cols=6)
    if title:
        fig.suptitle(title)
    return fig


@_styled
def plot_metric_points(table, *, metrics, group: str = "setting", baseline: str | None = "naive",
                       title: str = "") -> Figure:
    """Mean over seeds with its 95 % interval, one row per ``group`` value and one panel per metric.

    ``table`` has one row per (group, seed). Points, not bars: the differences between settings are
    small beside the values, and a bar from zero would hide them. The ``baseline``'s mean is drawn as a
    grey line across each panel; with one seed a point has no interval (hollow marker).
    """
    groups = list(dict.fromkeys(table[group]))
    fig = _figure(min(7.2, 2.5 * len(metrics) + 1.2), 0.32 * len(groups) + 1.3)
    axes = fig.subplots(1, len(metrics), squeeze=False, sharey=True).ravel()
    for ax, metric in zip(axes, metrics):
        for i, g in enumerate(groups):
            m, h, n = _ci(table.loc[table[group] == g, metric])
            color = color_for(group, g)
            ax.errorbar(m, i, xerr=None if not np.isfinite(h) else h, fmt="o", color=color, capsize=3,
                        markersize=5, markerfacecolor=color if np.isfinite(h) else "white")
            if g == baseline:
                ax.axvline(m, color=NAIVE, lw=1, ls="--", zorder=0)
        ax.set_xlabel(label(metric, 26))
        ax.ticklabel_format(axis="x", useOffset=False)
        ax.grid(axis="x", alpha=0.3)
        ax.locator_params(axis="x", nbins=4)
    axes[0].set_yticks(range(len(groups)), [str(g) for g in groups])
    axes[0].invert_yaxis()
    if title:
        fig.suptitle(title)
    return fig


def _difference_panel(ax, part, *, groups, by: str, hue, hues, handles: dict):
    """One panel of paired differences: a row per ``by`` group, a point (and 95 % interval) per ``hue`` value,
    filled / half-filled / hollow by the verdict; the legend's handles (one per hue value) go to ``handles``."""
    step = 0.6 / max(1, len(hues))
    ax.axvline(0, color=NAIVE, lw=1, ls="--", zorder=0)
    for i, g in enumerate(groups):
        for j, h in enumerate(hues):
            r = part[(part[by] == g) & ((part[hue] == h) if hue else True)]
            if r.empty:
                continue
            r = r.iloc[0]
            y = i + (j - (len(hues) - 1) / 2) * step
            color = color_for(hue, h) if hue else color_for(by, g)
            lo, hi, d = float(r["ci_low"]), float(r["ci_high"]), float(r["difference"])
            if not np.isfinite(d):
                continue
            err = [[d - lo], [hi - d]] if np.isfinite(lo) and np.isfinite(hi) else None
            verdict = str(r.get("verdict", ""))
            style = dict(markerfacecolor=color) if verdict == "supported" else \
                dict(fillstyle="left", markerfacecoloralt="white") if verdict == "suggestive" else \
                dict(markerfacecolor="white")
            line = ax.errorbar(d, y, xerr=err, fmt="o", color=color, capsize=3, markersize=5, **style)
            if hue:
                handles.setdefault(f"{hue} {h}" if hue == "prior" else str(h), line)
    ax.grid(axis="x", alpha=0.3)
    ax.locator_params(axis="x", nbins=4)


@_styled
def plot_differences(tests, *, metrics=None, by: str = "setting", hue: str | None = None, baseline: str = "naive",
                     title: str = "") -> Figure:
    """The paired differences of a :func:`tsvq.report.compare_family` table with their 95 % intervals.

    One panel per metric, one row per ``by`` group, a line at 0 (no difference to ``baseline``). With
    ``hue`` (e.g. ``"prior"``) each row holds one point per hue value in that value's colour; without,
    each point takes its group's colour. Filled: the verdict is "supported"; half-filled: "suggestive";
    hollow: "no evidence" (or no interval, with fewer than two seeds).
    """
    metrics = [m for m in (metrics or list(dict.fromkeys(tests["metric"]))) if (tests["metric"] == m).any()]
    groups = list(dict.fromkeys(tests[by]))
    hues = list(dict.fromkeys(tests[hue])) if hue else [None]
    fig = _figure(min(7.2, 2.4 * len(metrics) + 1.6), 0.3 * len(groups) * max(1, len(hues) * 0.7) + 1.5)
    axes = fig.subplots(1, max(1, len(metrics)), squeeze=False, sharey=True).ravel()
    handles = {}
    for ax, metric in zip(axes, metrics):
        _difference_panel(ax, tests[tests["metric"] == metric], groups=groups, by=by, hue=hue, hues=hues,
                          handles=handles)
        ax.set_xlabel(textwrap.fill(f"{LABELS.get(metric, metric.replace('_', ' '))}: difference to {baseline}", 28))
    axes[0].set_yticks(range(len(groups)), [str(g) for g in groups])
    axes[0].invert_yaxis()
    _legend_below(fig, list(handles.values()), list(handles))
    if title:
        fig.suptitle(title)
    return fig


def _clipped_limits(part, factor: float = 2.5) -> tuple[float, float]:
    """x-limits holding every point and every interval no wider than ``factor`` times the largest |difference|
    or the median interval, whichever is wider (intervals of two seeds can be ten times wider than any
    effect: those run past the panel edge); with fewer than five intervals every one is held."""
    d = part["difference"].to_numpy(float)
    lo, hi = part["ci_low"].to_numpy(float), part["ci_high"].to_numpy(float)
    d = d[np.isfinite(d)]
    if not len(d):
        return -1.0, 1.0
    span = max(np.abs(d).max(), 1e-12) * factor
    width = hi - lo
    finite = np.isfinite(width)
    limit = max(2 * span, float(np.median(width[finite])) if finite.any() else 0.0)
    keep = finite & (width <= limit) if finite.sum() >= 5 else finite  # with a few, every interval is shown
    left = min([0.0, d.min(), *lo[keep]])
    right = max([0.0, d.max(), *hi[keep]])
    pad = 0.08 * (right - left or 1.0)
    return left - pad, right + pad


@_styled
def plot_overview(tests, *, rows=(("tokenizer", ("knn_accuracy", "svm_accuracy", "test_time_mse"), "setting"),
                                  ("prior", ("fid", "kid", "cas"), "prior")),
                  by: str = "row", baseline: str = "naive") -> Figure:
    """SSL − naive across datasets: a row of panels per ``stage`` of :func:`tsvq.report.overview_tests` (one panel
    per metric, one line per dataset), each point a paired difference with its 95 % interval, coloured by
    the SSL setting (tokenizer metrics) or by the prior (sample-quality metrics); fill as in
    :func:`plot_differences`. ``rows``: (stage, metrics, hue) per row of panels; rows without data are left out.
    """
    blocks = [(stage, [m for m in metrics if ((tests["stage"] == stage) & (tests["metric"] == m)).any()], hue)
              for stage, metrics, hue in rows]
    blocks = [b for b in blocks if b[1]]
    sizes = [tests.loc[tests["stage"] == b[0], by].nunique() for b in blocks]
    ncols = max([len(b[1]) for b in blocks] + [1])
    fig = _figure(min(7.2, 2.3 * ncols + 1.4), sum(0.32 * max(1, n) + 1.3 for n in sizes) + 0.9)
    if not blocks:
        ax = fig.subplots()
        ax.set_axis_off()
        ax.text(0.5, 0.5, "no paired comparisons yet", ha="center", va="center")
        return fig
    axes = fig.subplots(len(blocks), ncols, squeeze=False, sharey="row",
                        gridspec_kw={"height_ratios": [max(1, n) + 3 for n in sizes]})
    handles = {}
    for row, (stage, metrics, hue) in zip(axes, blocks):
        part = tests[tests["stage"] == stage]
        groups = list(dict.fromkeys(part[by]))
        hues = list(dict.fromkeys(part[hue]))
        for ax, metric in zip(row, metrics):
            panel = part[part["metric"] == metric]
            _difference_panel(ax, panel, groups=groups, by=by, hue=hue, hues=hues, handles=handles)
            ax.set_xlim(*_clipped_limits(panel))
            ax.set_xlabel(textwrap.fill(f"{LABELS.get(metric, metric.replace('_', ' '))}: SSL − {baseline}", 24))
        for ax in row[len(metrics):]:
            ax.set_axis_off()
        row[0].set_yticks(range(len(groups)), [str(g) for g in groups])
        row[0].invert_yaxis()
    _legend_below(fig, list(handles.values()), list(handles))
    return fig


def plot_critical_difference(scores, *, metric: str = "knn_accuracy", lower_better: bool = False,
                             alpha: float = 0.1) -> Figure:
    """aeon's critical-difference diagram (``aeon.visualisation.plot_critical_difference``: average ranks, and
    cliques of settings that a Holm-corrected pairwise Wilcoxon test does not separate at ``alpha``) of a
    (dataset × setting) table of scores (:func:`tsvq.report.cd_scores`), each setting in its palette colour."""
    from aeon.visualisation import plot_critical_difference as cd

    labels = [str(c) for c in scores.columns]
    with plt.rc_context(STYLE):
        fig, ax = cd(np.asarray(scores, dtype=float), labels, highlight={n: setting_color(n) for n in labels},
                     lower_better=lower_better, alpha=alpha, width=6.5, textspace=1.6)
    plt.close(fig)
    fig.set_dpi(DPI)
    ax.set_title(f"Average rank of {LABELS.get(metric, metric)} over {len(scores)} datasets", fontsize=9, pad=18)
    return fig


@_styled
def plot_grouped_points(table, *, metrics, x: str, hue: str, references: dict | None = None, log=("fid",),
                        title: str = "") -> Figure:
    """Mean and 95 % interval over seeds, one group of points per ``x`` value and one colour per ``hue``
    value, one panel per metric. ``references`` maps a metric to ``{label: value}``, drawn as horizontal
    lines (anchors such as real data, or noise), each label with its own colour and dash in the legend; metrics in ``log`` (names containing one of
    them) get a log axis, which suits points (never bars) when distances span orders of magnitude."""
    references = references or {}
    xs = list(dict.fromkeys(table[x]))
    hues = list(dict.fromkeys(table[hue]))
    cols = min(len(metrics), 2)
    rows = -(-len(metrics) // cols)
    fig = _figure(7.2 if cols > 1 else 4.6, 2.7 * rows + 0.5)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    step = 0.7 / max(1, len(hues))
    handles, refs = {}, {}
    for ax, metric in zip(axes, metrics):
        for j, h in enumerate(hues):
            for i, v in enumerate(xs):
                vals = table.loc[(table[x] == v) & (table[hue] == h), metric] if metric in table else []
                m, half, n = _ci(vals)
                if n == 0:
                    continue
                color = color_for(hue, h)
                line = ax.errorbar(i + (j - (len(hues) - 1) / 2) * step, m, yerr=half if np.isfinite(half) else None,
                                   fmt="o", color=color, capsize=3, markersize=5,
                                   markerfacecolor=color if np.isfinite(half) else "white")
                handles.setdefault(f"{hue} {h}", line)
        for name, value in references.get(metric, {}).items():
            k = refs.setdefault(name, len(refs))
            line = ax.axhline(value, color=REFERENCE_COLORS[k % len(REFERENCE_COLORS)],
                              ls=[":", "--", "-.", (0, (5, 1, 1, 1, 1, 1))][k % 4], lw=1.1, zorder=0)
            handles.setdefault(name, line)
        ax.set_xticks(range(len(xs)), [str(v) for v in xs], rotation=30 if len(xs) > 3 else 0,
                      ha="right" if len(xs) > 3 else "center")
        ax.set_xlim(-0.6, len(xs) - 0.4)
        is_log = any(tag in metric for tag in log)
        if is_log:
            ax.set_yscale("log")
        else:
            ax.ticklabel_format(axis="y", useOffset=False)
        ax.set_ylabel(label(metric, 30) + ("\n(log scale)" if is_log else ""))
        ax.grid(axis="y", alpha=0.3)
    for ax in axes[len(metrics):]:
        ax.axis("off")
    _legend_below(fig, list(handles.values()), list(handles))
    if title:
        fig.suptitle(title)
    return fig


@_styled
def plot_loss_curves(curves: dict[str, list[tuple[int, float]]], *, ylabel: str = "VAL prior loss (nats per token)",
                     reference: float | None = None, reference_label: str = "") -> Figure:
    """Loss against epoch, one line per run, in the run's setting colour (RQ3 convergence)."""
    fig = _figure(5.5, 3.4)
    ax = fig.subplots()
    for name, pts in curves.items():
        e, v = zip(*pts)
        ax.plot(e, v, lw=1.4, label=name, color=setting_color(name))
    if reference is not None:
        ax.axhline(reference, color="#555555", ls=":", lw=1, label=reference_label)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    _legend_below(fig, *ax.get_legend_handles_labels())
    return fig


@_styled
def plot_real_vs_synthetic(real: np.ndarray, y_real: np.ndarray, synth: np.ndarray, y_synth: np.ndarray, *,
                           class_names=None, n: int = 5, title: str = "", color: str = "#d94801") -> Figure:
    """Per class that has synthetic series: real series (left column, dark grey) next to synthetic series of
    the same class (right column, ``color``), both columns of a row on the same y-scale."""
    classes = np.intersect1d(np.unique(y_real), np.unique(y_synth))
    fig = _figure(6.4, 1.7 * len(classes) + 0.4)
    axes = fig.subplots(len(classes), 2, squeeze=False, sharex=True)
    for r, c in enumerate(classes):
        for col, (x, y, kind, tint) in enumerate([(real, y_real, "real", REAL), (synth, y_synth, "synthetic", color)]):
            ax = axes[r, col]
            sel = x[y == c][:n]
            for s in sel:
                ax.plot(np.ravel(s), lw=0.9, alpha=0.75, color=tint)
            name = class_names[c] if class_names else c
            ax.set_title(f"{kind}, class {name}")
        axes[r, 1].sharey(axes[r, 0])
        axes[r, 0].set_ylabel("z-scaled value")
    for ax in axes[-1]:
        ax.set_xlabel("time step")
    if title:
        fig.suptitle(title)
    return fig


@_styled
def plot_gallery(real: np.ndarray, y_real: np.ndarray, samples: dict[str, tuple[np.ndarray, np.ndarray]], *,
                 class_names=None, n: int = 3) -> Figure:
    """Real series beside samples, one column per class and one row per source: the first row real TEST series
    (dark grey), then one row per ``samples`` entry ({row name: (series (m, L), labels (m,))}, coloured by the
    setting the name starts with). Every panel shares one y-scale, so amplitudes compare across rows."""
    classes = np.unique(y_real)
    rows = [("real TEST", np.asarray(real).reshape(len(real), -1), np.asarray(y_real), REAL)]
    rows += [(name, np.asarray(x).reshape(len(x), -1), np.asarray(y), setting_color(name))
             for name, (x, y) in samples.items()]
    fig = _figure(min(1.9 * len(classes) + 1.4, 12.5), 1.05 * len(rows) + 0.7)
    axes = fig.subplots(len(rows), len(classes), squeeze=False, sharex=True, sharey=True)
    for r, (name, x, y, tint) in enumerate(rows):
        for col, c in enumerate(classes):
            ax = axes[r, col]
            for s in x[y == c][:n]:
                ax.plot(s, lw=0.8, alpha=0.8, color=tint)
            if r == 0:
                ax.set_title(f"class {class_names[c] if class_names else c}")
            if not (y == c).any():
                ax.text(0.5, 0.5, "no samples", ha="center", va="center", transform=ax.transAxes, color="#888888")
        axes[r, 0].set_ylabel(textwrap.fill(name, 16), rotation=0, ha="right", va="center", fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("time step")
    return fig


# ----------------------------------------------------------------------------------------------- research questions


@_styled
def plot_reconstructions_compared(x: np.ndarray, recons: dict[str, np.ndarray], y: np.ndarray | None = None, *,
                                  n: int = 6, class_names=None, title: str = "") -> Figure:
    """Series (solid black) and the reconstructions of several tokenizers (dashed, each in its setting's
    colour) in one panel each, so that what one tokenizer keeps and another smooths away is visible on the
    same series."""
    n = min(n, len(x))
    cols = min(3, n)
    rows = -(-n // cols)
    fig = _figure(2.4 * cols, 1.9 * rows + 0.5)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    handles = []
    for i, ax in enumerate(axes):
        if i >= n:
            ax.axis("off")
            continue
        h = ax.plot(np.ravel(x[i]), color=REAL, lw=1.4, label="real series")
        for name, x_hat in recons.items():
            h += ax.plot(np.ravel(x_hat[i]), color=setting_color(name), lw=1.2, ls="--", label=name)
        if i == 0:
            handles = h
        if y is not None:
            ax.set_title(f"class {class_names[y[i]] if class_names else y[i]}")
    _legend_below(fig, handles, [h.get_label() for h in handles])
    if title:
        fig.suptitle(title)
    return fig


@_styled
def plot_augmentations(x: np.ndarray, views: dict[str, np.ndarray], *, title: str = "") -> Figure:
    """One series per row: the original (light grey) and its augmented view (dark), one column per
    augmentation."""
    n = len(x)
    fig = _figure(min(7.2, 2.4 * len(views)), 1.5 * n + 0.6)
    axes = fig.subplots(n, len(views), squeeze=False, sharex=True)
    handles = []
    for r in range(n):
        for c, (name, v) in enumerate(views.items()):
            ax = axes[r, c]
            h = ax.plot(np.ravel(x[r]), color="#b0b0b0", lw=1.6, label="original series")
            h += ax.plot(np.ravel(v[r]), color=REAL, lw=1.0, label="augmented view")
            handles = handles or h
            if r == 0:
                ax.set_title(name)
            if r == n - 1:
                ax.set_xlabel("time step")
    _legend_below(fig, handles, [h.get_label() for h in handles])
    if title:
        fig.suptitle(title)
    return fig


_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "h"]


@_styled
def plot_tradeoff(table, *, x: str, y: str, group: str = "setting", baseline: str = "naive",
                  title: str = "") -> Figure:
    """Mean and 95 % interval of two metrics per group, one point per setting in its colour (the baseline a
    grey star): e.g. reconstruction error against probe accuracy, to see whether a setting buys one with
    the other. With many groups (variants of a few settings) the legend names the settings' colours and
    each variant of a setting gets its own marker, listed in the legend below the axes."""
    groups = list(dict.fromkeys(table[group]))
    fig = _figure(6.4, 4.2 + 0.16 * max(0, len(groups) - 8))
    ax = fig.subplots()
    seen: dict[str, int] = {}
    handles, names = [], []
    for name in groups:
        rows = table[table[group] == name]
        mx, hx, _ = _ci(rows[x])
        my, hy, _ = _ci(rows[y])
        color = color_for(group, name)
        k = seen.setdefault(color, -1) + 1
        seen[color] = k
        style = dict(fmt="*", markersize=12) if name == baseline else dict(fmt=_MARKERS[k % len(_MARKERS)],
                                                                           markersize=6)
        h = ax.errorbar(mx, my, xerr=hx if np.isfinite(hx) else None, yerr=hy if np.isfinite(hy) else None,
                        capsize=2, color=color, elinewidth=0.8, **style)
        handles.append(h)
        names.append(str(name))
    ax.set_xlabel(label(x, 50))
    ax.set_ylabel(label(y, 34))
    ax.grid(alpha=0.3)
    _legend_below(fig, handles, names, max_cols=2 if max(map(len, names)) > 24 else 3)
    if title:
        ax.set_title(title)
    return fig


@_styled
def plot_prior_curves(curves, *, panel: str = "prior", line: str = "setting", reference: float | None = None,
                      reference_label: str = "", ylabel: str = "VAL prior loss (nats per token)") -> Figure:
    """VAL loss against epoch, mean over seeds (line) ± std (band), one panel per ``panel`` value.

    Each ``line`` value in its palette colour; the naive tokenizer grey and thick. With more than three
    lines only the naive band is drawn. ``curves`` is a long table with columns ``epoch``, ``val_loss``,
    ``seed``, ``panel`` and ``line``.
    """
    panels = list(dict.fromkeys(curves[panel]))
    fig = _figure(min(7.2, 3.5 * len(panels) + 0.4), 3.6)
    axes = fig.subplots(1, len(panels), squeeze=False, sharey=True).ravel()
    lines = list(dict.fromkeys(curves[line]))
    handles = {}
    for ax, p in zip(axes, panels):
        sub = curves[curves[panel] == p]
        for j, name in enumerate(lines):
            g = sub[sub[line] == name].groupby("epoch")["val_loss"]
            if not len(g):
                continue
            m, s = g.mean(), g.std().fillna(0.0)
            color = color_for(line, name)
            base = name == "naive"
            h, = ax.plot(m.index, m.values, color=color, lw=2.2 if base else 1.2, zorder=3 if base else 2)
            handles.setdefault(str(name), h)
            if base or len(lines) <= 3:  # with many lines, only the baseline's band stays readable
                ax.fill_between(m.index, m - s, m + s, color=color, alpha=0.15, lw=0)
        if reference is not None:
            handles.setdefault(reference_label or "reference",
                               ax.axhline(reference, color="#555555", ls=":", lw=1))
        ax.set_title(f"{panel} {p}")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(ylabel)
    _legend_below(fig, list(handles.values()), list(handles))
    return fig


@_styled
def plot_versus_thesis(table, *, metrics) -> Figure:
    """tsvq's mean (y) against the thesis' mean (x), one point per dataset and setting, one panel per metric;
    points on the diagonal agree. Colour: the setting; marker: the dataset. ``table`` has columns metric,
    dataset, setting, tsvq_mean, thesis_mean."""
    fig = _figure(min(7.2, 3.2 * len(metrics) + 0.4), 3.8)
    axes = fig.subplots(1, len(metrics), squeeze=False).ravel()
    datasets = list(dict.fromkeys(table["dataset"]))
    settings = list(dict.fromkeys(table["setting"]))
    for ax, metric in zip(axes, metrics):
        sub = table[table["metric"] == metric]
        for j, d in enumerate(datasets):
            part = sub[sub["dataset"] == d]
            ax.scatter(part["thesis_mean"], part["tsvq_mean"], s=22, marker=_MARKERS[j % len(_MARKERS)],
                       color=[setting_color(s) for s in part["setting"]])
        if len(sub):
            lo = float(min(sub["thesis_mean"].min(), sub["tsvq_mean"].min()))
            hi = float(max(sub["thesis_mean"].max(), sub["tsvq_mean"].max()))
            ax.plot([lo, hi], [lo, hi], color="#888888", ls=":", lw=1)
        ax.set_title(label(metric, 30))
        ax.set_xlabel("thesis (mean of 4 runs)")
        ax.set_ylabel("tsvq (mean over seeds)")
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], ls="", marker="o", color=setting_color(s)) for s in settings]
    handles += [Line2D([], [], ls="", marker=_MARKERS[j % len(_MARKERS)], color="#555555") for j in range(len(datasets))]
    _legend_below(fig, handles, settings + datasets)
    return fig
