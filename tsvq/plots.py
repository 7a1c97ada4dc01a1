"""Figures for the book: each function takes data and returns a matplotlib ``Figure``.

Every figure is closed in pyplot before it is returned, so pyplot keeps no reference to it: a notebook
shows it exactly once (as the cell's last expression, or with ``display(fig)``), scripts can call these
functions in a loop without accumulating open figures, and no display is needed (``fig.savefig``).
"""
from __future__ import annotations

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
        color = f"C{c % 10}"
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
                      color=f"C{i}", alpha=0.85)
        ax.bar_label(bars, fontsize=7, padding=1)
    ax.set_xticks(pos, [str(n) for n in names])
    ax.set_xlabel("class")
    ax.set_ylabel("series")
    ax.margins(y=0.15)
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(f"{ds.meta.name}: class balance per split", fontsize=10)
    return fig


# ----------------------------------------------------------------------------------------------- results


def plot_reconstructions(x: np.ndarray, x_hat: np.ndarray, y: np.ndarray | None = None, *, n: int = 6,
                         class_names=None, title: str = "") -> Figure:
    """Series (solid) and their tokenizer reconstructions (dashed), one panel each."""
    return plot_reconstructions_compared(x, {"reconstruction": x_hat}, y, n=n, class_names=class_names, title=title)


def plot_codebook_usage(counts: dict[str, np.ndarray]) -> Figure:
    """Bar chart of how often each code is used, one panel per tokenizer (e.g. naive vs SSL)."""
    fig = _figure(4.2 * len(counts), 2.6)
    axes = np.atleast_1d(fig.subplots(1, len(counts), squeeze=False).ravel())
    for ax, (name, c) in zip(axes, counts.items()):
        c = np.asarray(c, dtype=float)
        order = np.argsort(-c)
        ax.bar(np.arange(len(c)), c[order] / c.sum(), color="#1f77b4")
        p = c / c.sum()
        ppl = float(np.exp(-(p[p > 0] * np.log(p[p > 0])).sum()))
        ax.set_title(f"{name}: perplexity {ppl:.1f}, {int((c > 0).sum())}/{len(c)} codes used", fontsize=9)
        ax.set_xlabel("code (sorted by use)")
        ax.set_ylabel("fraction of tokens")
    return fig


def plot_latent_maps(maps: dict[str, np.ndarray], y: np.ndarray, *, class_names=None, title: str = "") -> Figure:
    """2-D maps (PCA / t-SNE) of pooled latents coloured by class, one panel per tokenizer."""
    fig = _figure(3.8 * len(maps), 3.4)
    axes = fig.subplots(1, len(maps), squeeze=False).ravel()
    classes = np.unique(y)
    cmap = plt.get_cmap("tab10")
    for ax, (name, xy) in zip(axes, maps.items()):
        for j, c in enumerate(classes):
            m = y == c
            ax.scatter(xy[m, 0], xy[m, 1], s=6, alpha=0.7, color=cmap(j % 10),
                       label=str(class_names[c]) if class_names else str(c))
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[-1].legend(fontsize=7, markerscale=2, title="class", title_fontsize=7, loc="best")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_metric_bars(table, *, metrics, group: str = "setting", title: str = "") -> Figure:
    """Mean ± std bars over seeds: ``table`` is a pandas DataFrame with one row per (setting, seed)."""
    fig = _figure(4.0 * len(metrics), 3.0)
    axes = fig.subplots(1, len(metrics), squeeze=False).ravel()
    for ax, metric in zip(axes, metrics):
        g = table.groupby(group, sort=False)[metric]
        mean, std = g.mean(), g.std().fillna(0.0)
        ax.bar(range(len(mean)), mean.values, yerr=std.values, capsize=3, color="#1f77b4")
        ax.set_xticks(range(len(mean)))
        ax.set_xticklabels(mean.index, rotation=45, ha="right", fontsize=7)
        ax.set_title(metric, fontsize=9)
        lo = float((mean - std).min())
        if "accuracy" in metric:
            ax.set_ylim(max(0.0, lo - 0.05), 1.0)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_loss_curves(curves: dict[str, list[tuple[int, float]]], *, ylabel: str = "VAL prior loss",
                     reference: float | None = None, reference_label: str = "") -> Figure:
    """Loss against epoch, one line per run (RQ3 convergence)."""
    fig = _figure(5.5, 3.4)
    ax = fig.subplots()
    for name, pts in curves.items():
        e, v = zip(*pts)
        ax.plot(e, v, lw=1.4, label=name)
    if reference is not None:
        ax.axhline(reference, color="#888888", ls=":", lw=1, label=reference_label)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    return fig


def plot_real_vs_synthetic(real: np.ndarray, y_real: np.ndarray, synth: np.ndarray, y_synth: np.ndarray, *,
                           class_names=None, n: int = 5, title: str = "") -> Figure:
    """Per class that has synthetic series: real series (left column) next to synthetic series of the same
    class (right column)."""
    classes = np.intersect1d(np.unique(y_real), np.unique(y_synth))
    fig = _figure(7.0, 1.9 * len(classes))
    axes = fig.subplots(len(classes), 2, squeeze=False)
    for r, c in enumerate(classes):
        for col, (x, y, label) in enumerate([(real, y_real, "real"), (synth, y_synth, "synthetic")]):
            ax = axes[r, col]
            sel = x[y == c][:n]
            for s in sel:
                ax.plot(np.ravel(s), lw=0.9, alpha=0.8)
            name = class_names[c] if class_names else c
            ax.set_title(f"{label}, class {name}", fontsize=8)
            ax.tick_params(labelsize=6)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


# ----------------------------------------------------------------------------------------------- research questions


def _mean_std(table, group, metric):
    g = table.groupby(group, sort=False)[metric]
    return g.mean(), g.std().fillna(0.0)  # one seed: no error bar


def plot_reconstructions_compared(x: np.ndarray, recons: dict[str, np.ndarray], y: np.ndarray | None = None, *,
                                  n: int = 6, class_names=None, title: str = "") -> Figure:
    """Series (solid black) and the reconstructions of several tokenizers (coloured, dashed) in one panel each,
    so that what one tokenizer keeps and another smooths away is visible on the same series."""
    n = min(n, len(x))
    cols = min(3, n)
    rows = -(-n // cols)
    fig = _figure(3.6 * cols, 2.2 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for i, ax in enumerate(axes):
        if i >= n:
            ax.axis("off")
            continue
        ax.plot(np.ravel(x[i]), color="#333333", lw=1.4, label="real")
        for j, (name, x_hat) in enumerate(recons.items()):
            ax.plot(np.ravel(x_hat[i]), color=f"C{j + 1}", lw=1.1, ls="--", label=name)
        if y is not None:
            ax.set_title(f"class {class_names[y[i]] if class_names else y[i]}", fontsize=9)
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=7, loc="best")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_augmentations(x: np.ndarray, views: dict[str, np.ndarray], *, title: str = "") -> Figure:
    """One series per row: the original (grey) and its augmented view (colour), one column per augmentation."""
    n = len(x)
    fig = _figure(3.4 * len(views), 1.9 * n)
    axes = fig.subplots(n, len(views), squeeze=False, sharex=True)
    for r in range(n):
        for c, (name, v) in enumerate(views.items()):
            ax = axes[r, c]
            ax.plot(np.ravel(x[r]), color="#999999", lw=1.2, label="original")
            ax.plot(np.ravel(v[r]), color=f"C{c}", lw=1.1, label=name)
            ax.tick_params(labelsize=7)
            if r == 0:
                ax.set_title(name, fontsize=9)
                ax.legend(fontsize=7, loc="best")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_tradeoff(table, *, x: str, y: str, group: str = "setting", title: str = "") -> Figure:
    """Mean ± std of two metrics per group (one point per setting, the first as a black star): e.g.
    reconstruction error against probe accuracy, to see whether a setting buys one with the other."""
    mx, sx = _mean_std(table, group, x)
    my, sy = _mean_std(table, group, y)
    fig = _figure(5.2, 3.8)
    ax = fig.subplots()
    for i, name in enumerate(mx.index):  # the first group (the baseline) as a black star
        style = dict(fmt="*", color="#222222", markersize=11) if i == 0 else dict(fmt="o", color=f"C{i % 10}",
                                                                                   markersize=6)
        ax.errorbar(mx[name], my[name], xerr=sx[name], yerr=sy[name], capsize=3, label=str(name), **style)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def plot_grouped_bars(table, *, metrics, x: str, hue: str, references: dict | None = None,
                      title: str = "") -> Figure:
    """Mean ± std bars over seeds, grouped by ``x`` with one colour per ``hue``, one panel per metric.

    ``references`` maps a metric to ``{label: value}`` drawn as horizontal lines (anchors such as the
    score of real data, or the baseline's mean).
    """
    references = references or {}
    xs = list(dict.fromkeys(table[x]))
    hues = list(dict.fromkeys(table[hue]))
    cols, rows = min(len(metrics), 2), -(-len(metrics) // 2)
    panel = min(6.5, max(3.5, 0.28 * len(xs) * len(hues) + 1.5))
    fig = _figure(panel * cols + 1.6, 2.9 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    width = 0.8 / len(hues)
    handles = {}
    for ax, metric in zip(axes, metrics):
        mean, std = _mean_std(table, [x, hue], metric)
        for j, h in enumerate(hues):
            m = [mean.get((v, h), np.nan) for v in xs]
            s = [std.get((v, h), 0.0) for v in xs]
            bars = ax.bar(np.arange(len(xs)) + (j - (len(hues) - 1) / 2) * width, m, width,
                          yerr=s if any(s) else None, capsize=2, color=f"C{j % 10}")
            handles.setdefault(f"{hue} = {h}", bars)
        for k, (label, value) in enumerate(references.get(metric, {}).items()):
            handles.setdefault(label, ax.axhline(value, color="#555555", ls=[":", "--", "-."][k % 3], lw=1))
        ax.set_xticks(np.arange(len(xs)))
        tilt = len(xs) > 3
        ax.set_xticklabels([str(v) for v in xs], rotation=30 if tilt else 0, ha="right" if tilt else "center",
                           fontsize=7)
        if "fid" in metric:  # distances span orders of magnitude (real data vs noise): log scale
            ax.set_yscale("log")
        ax.set_title(metric + (" (log scale)" if "fid" in metric else ""), fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes[len(metrics):]:
        ax.axis("off")
    fig.legend(list(handles.values()), list(handles), loc="outside right upper", fontsize=7, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_prior_curves(curves, *, panel: str = "prior", line: str = "setting", reference: float | None = None,
                      reference_label: str = "", ylabel: str = "VAL prior loss") -> Figure:
    """VAL loss against epoch, mean over seeds (line) ± std (band), one panel per ``panel`` value.

    The first ``line`` value (the baseline) is drawn thick and black; with more than three lines only
    its band is drawn.

    ``curves`` is a long table with columns ``epoch``, ``val_loss``, ``seed``, ``panel`` and ``line``.
    """
    panels = list(dict.fromkeys(curves[panel]))
    fig = _figure(4.8 * len(panels), 3.5)
    axes = fig.subplots(1, len(panels), squeeze=False, sharey=True).ravel()
    lines = list(dict.fromkeys(curves[line]))
    for ax, p in zip(axes, panels):
        sub = curves[curves[panel] == p]
        for j, name in enumerate(lines):
            g = sub[sub[line] == name].groupby("epoch")["val_loss"]
            if not len(g):
                continue
            m, s = g.mean(), g.std().fillna(0.0)
            style = dict(color="#222222", lw=2.0, zorder=3) if j == 0 else dict(color=f"C{j % 10}", lw=1.2)
            ax.plot(m.index, m.values, label=str(name), **style)
            if j == 0 or len(lines) <= 3:  # with many lines, only the baseline's band stays readable
                ax.fill_between(m.index, m - s, m + s, color=style["color"], alpha=0.15, lw=0)
        if reference is not None:
            ax.axhline(reference, color="#888888", ls=":", lw=1, label=reference_label)
        ax.set_title(f"{panel} = {p}", fontsize=9)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(ylabel)
    axes[-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


def plot_versus_thesis(table, *, metrics) -> Figure:
    """tsvq's mean (y) against the thesis' mean (x), one point per dataset and setting, one panel per metric;
    points on the diagonal agree. ``table`` has columns metric, dataset, setting, tsvq_mean, thesis_mean."""
    fig = _figure(3.6 * len(metrics), 3.4)
    axes = fig.subplots(1, len(metrics), squeeze=False).ravel()
    datasets = list(dict.fromkeys(table["dataset"]))
    for ax, metric in zip(axes, metrics):
        sub = table[table["metric"] == metric]
        for j, d in enumerate(datasets):
            part = sub[sub["dataset"] == d]
            naive = part["setting"] == "naive"
            ax.scatter(part.loc[~naive, "thesis_mean"], part.loc[~naive, "tsvq_mean"], s=18, color=f"C{j % 10}",
                       label=f"{d} (SSL)")
            ax.scatter(part.loc[naive, "thesis_mean"], part.loc[naive, "tsvq_mean"], s=40, marker="*",
                       color=f"C{j % 10}", label=f"{d} (naive)")
        if len(sub):
            lo = float(min(sub["thesis_mean"].min(), sub["tsvq_mean"].min()))
            hi = float(max(sub["thesis_mean"].max(), sub["tsvq_mean"].max()))
            ax.plot([lo, hi], [lo, hi], color="#888888", ls=":", lw=1)
        ax.set_title(metric, fontsize=9)
        ax.set_xlabel("thesis", fontsize=8)
        ax.set_ylabel("tsvq", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig
