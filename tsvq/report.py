"""Tables for the book: mean ± std over seeds, paired tests against a baseline, and the thesis' numbers.

Every result CSV holds one row per run (dataset, profile, seed, setting[, prior]); this module turns
such frames into what a chapter shows. A cell reads ``"0.812 ± 0.013 (n=3)"``; with one seed the std
is undefined and the cell reads ``"0.812 (n=1)"``, and a paired test needs at least two seeds that
both settings ran with, so with fewer it says so instead of returning a number.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

# The thesis' (method, augmentation) and metric names, mapped to tsvq's.
THESIS_METRICS = {
    "svm_accuracy": "svm_accuracy",
    "knn_accuracy": "knn_accuracy",
    "perplexity": "perplexity",
    "mean_abs_corr_off_diagonal": "mean_abs_corr_off_diagonal",
    "FID": "fid",
    "IS_mean": "is_mean",
    "IS_std": "is_std",
    "val_acc_ema": "cas",  # a moving average of TEST-batch accuracies there; the final accuracy here
    "val_loss": "recon_loss",  # time MSE + STFT MSE of the last TEST batch there; of all of TEST here
}


def thesis_setting(method: str, augmentation: str) -> str:
    """``regular/none`` -> ``naive``; ``barlowtwins/warp`` -> ``barlowtwins-warp``."""
    return "naive" if method == "regular" else f"{method}-{augmentation}"


# ----------------------------------------------------------------------------------------------- cells


def cell(mean: float, std: float, n: int) -> str:
    """``"mean ± std (n=…)"``; the std is left out where it is undefined (one run)."""
    if n == 0 or mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{mean:.4g} (n={n})"
    return f"{mean:.4g} ± {std:.2g} (n={n})"


def _by(by) -> list[str]:
    return [by] if isinstance(by, str) else list(by)


def summarize(df: pd.DataFrame, metrics, by=("setting",), *, cells_only: bool = False) -> pd.DataFrame:
    """Mean ± std over the rows of each group (the seeds), in the order the groups first appear.

    Columns per metric: ``<metric>`` (the text cell), ``<metric>_mean``, ``<metric>_std`` (sample std,
    NaN for one run) and ``<metric>_n`` (runs with a value). ``cells_only`` keeps the text cells.
    """
    by, metrics = _by(by), list(metrics)
    missing = [c for c in by + metrics if c not in df.columns]
    if missing:
        raise KeyError(f"columns {missing} not in the table (it has {list(df.columns)})")
    g = df.groupby(by, sort=False)[metrics]
    mean, std, n = g.mean(), g.std(ddof=1), g.count()
    if len(by) > 1:  # each level in the order its values first appear: blocks, not interleaved rows
        rank = [{v: i for i, v in enumerate(pd.unique(df[c]))} for c in by]
        order = sorted(mean.index, key=lambda key: tuple(r[k] for r, k in zip(rank, key)))
        mean, std, n = mean.loc[order], std.loc[order], n.loc[order]
    out = pd.DataFrame(index=mean.index)
    for m in metrics:
        out[m] = [cell(a, s, int(k)) for a, s, k in zip(mean[m], std[m], n[m])]
        if not cells_only:
            out[f"{m}_mean"], out[f"{m}_std"], out[f"{m}_n"] = mean[m], std[m], n[m]
    return out


# ----------------------------------------------------------------------------------------------- comparisons


def paired_test(df: pd.DataFrame, metric: str, baseline: str = "naive", by: str = "setting",
                pair_on="seed", within=()) -> pd.DataFrame:
    """Each group of ``by`` against ``baseline``, paired on ``pair_on`` (the seed), within ``within`` groups.

    Per group: the paired runs ``n``, the means of both over those runs, their mean difference
    (group − baseline) and the two-sided paired t-test p-value (``scipy.stats.ttest_rel``). With fewer
    than two pairs, or a difference that is the same for every pair, the p-value is NaN and ``note``
    says why.
    """
    from scipy.stats import ttest_rel

    pair_on, within = _by(pair_on), _by(within)
    if metric not in df.columns:
        raise KeyError(f"metric {metric!r} not in the table (it has {list(df.columns)})")
    rows = []
    parts = df.groupby(within, sort=False) if within else [((), df)]
    for key, part in parts:
        key = key if isinstance(key, tuple) else (key,)
        base = part[part[by] == baseline][within + pair_on + [metric]]
        if base.empty:
            raise ValueError(f"baseline {baseline!r} not found in column {by!r}")
        for group in part[by].drop_duplicates():
            if group == baseline:
                continue
            other = part[part[by] == group][within + pair_on + [metric]]
            m = base.merge(other, on=within + pair_on, suffixes=("_base", "")).dropna()
            a, b = m[f"{metric}_base"].to_numpy(float), m[metric].to_numpy(float)
            n = len(m)
            p, note = float("nan"), ""
            if n < 2:
                note = f"n/a: needs ≥ 2 paired {'/'.join(pair_on)}s, has {n}"
            elif np.allclose(b - a, (b - a)[0]):
                note = "n/a: the difference is the same for every pair"
            else:
                p = float(ttest_rel(b, a).pvalue)
            rows.append({"metric": metric, **dict(zip(within, key)), by: group, "n": n,
                         "baseline_mean": a.mean() if n else float("nan"),
                         "mean": b.mean() if n else float("nan"),
                         "difference": (b - a).mean() if n else float("nan"), "p_value": p, "note": note})
    return pd.DataFrame(rows)


def paired_tests(df: pd.DataFrame, metrics, **kwargs) -> pd.DataFrame:
    """:func:`paired_test` for several metrics, stacked into one table (same keyword arguments)."""
    return pd.concat([paired_test(df, m, **kwargs) for m in metrics], ignore_index=True)


def best_setting(df: pd.DataFrame, metric: str, *, by: str = "setting", exclude=("naive",),
                 lower: bool = True) -> str:
    """The group with the best mean ``metric`` (lowest by default), ``exclude`` left out.

    Meant for selection on VAL metrics (e.g. the prior's VAL loss), never on TEST ones.
    """
    means = df[~df[by].isin(list(exclude))].groupby(by, sort=False)[metric].mean().dropna()
    if means.empty:
        raise ValueError(f"no group of {by!r} outside {list(exclude)} has a value for {metric!r}")
    return str(means.idxmin() if lower else means.idxmax())


def versus_baseline(df: pd.DataFrame, metric: str, *, higher_is_better: bool, baseline: str = "naive",
                    by: str = "setting", keys=("dataset", "profile")) -> pd.DataFrame:
    """One row per ``keys`` group: the baseline's mean ``metric`` against the other settings'.

    Only settings with a value on every seed of the baseline are compared, so that every mean covers
    the same seeds. Columns: seeds (the baseline's seeds), baseline, others_mean (the mean of the
    settings' means), best / best_setting (the best setting's mean, picked on this very metric, so it
    flatters), better (settings whose mean beats the baseline's), settings (how many were compared)
    and left_out (settings with fewer seeds, not compared).
    """
    keys = _by(keys)
    rows = []
    for key, part in df.groupby(keys, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        part = part.dropna(subset=[metric])
        base_seeds = set(part.loc[part[by] == baseline, "seed"])
        complete = [g for g, sub in part.groupby(by, sort=False) if base_seeds <= set(sub["seed"])]
        left_out = part[by].nunique() - len(complete)
        part = part[part[by].isin(complete) & part["seed"].isin(base_seeds)]
        means = part.groupby(by, sort=False)[metric].mean().dropna()
        if baseline not in means.index or len(means) < 2:
            continue
        base, others = means[baseline], means.drop(baseline)
        best = others.idxmax() if higher_is_better else others.idxmin()
        wins = (others > base) if higher_is_better else (others < base)
        rows.append({**dict(zip(keys, key)), "metric": metric, "seeds": len(base_seeds),
                     "baseline": base, "others_mean": others.mean(), "best_setting": best, "best": others[best],
                     "better": int(wins.sum()), "settings": len(others), "left_out": left_out})
    return pd.DataFrame(rows)


def convergence(curves: pd.DataFrame, *, reference: str = "naive", within: str = "prior", by: str = "setting",
                rel: float = 0.05) -> pd.DataFrame:
    """How fast each run's VAL loss falls, one row per (``within``, ``by``, seed) run.

    ``epochs_to_own_best``: the first epoch within ``rel`` (relative) of the run's own lowest VAL loss,
    a speed independent of the level reached. ``epochs_to_reference``: the first epoch at which the run
    reaches the final VAL loss of ``reference`` under the same ``within`` (mean over its seeds); NaN
    when it never does.
    """
    rows = []
    for key, part in curves.groupby(within, sort=False):
        ref = part[part[by] == reference]
        last = ref.sort_values("epoch").groupby("seed")["val_loss"].last()
        target = float(last.mean()) if len(last) else float("nan")
        for (name, seed), run in part.groupby([by, "seed"], sort=False):
            run = run.sort_values("epoch")
            e, v = run["epoch"].to_numpy(), run["val_loss"].to_numpy(float)
            own = e[np.argmax(v <= v.min() + rel * abs(v.min()))]
            hit = np.flatnonzero(v <= target)
            rows.append({within: key, by: name, "seed": seed, "best_val_loss": v.min(), "final_val_loss": v[-1],
                         "epochs_to_own_best": int(own), "reference_loss": target,
                         "epochs_to_reference": float(e[hit[0]]) if len(hit) else float("nan")})
    return pd.DataFrame(rows)


def evidence(profile: str, seeds: int) -> str:
    """Whether a result may carry a claim: the ``cpu`` or ``paper`` profile and at least three seeds."""
    return "evidence" if profile in ("cpu", "paper") and seeds >= 3 else "demonstration only"


def describe_versus(table: pd.DataFrame, *, higher_is_better: bool, extra=(),
                    others: str = "SSL settings") -> list[str]:
    """One sentence per row of :func:`versus_baseline`, saying how much it may be trusted.

    ``extra``: further key columns of ``table`` to name (e.g. ``("prior",)``); ``others``: what the
    compared groups are called.
    """
    lines = []
    for r in table.itertuples(index=False):
        where = ", ".join(str(getattr(r, k)) for k in ("profile", *extra))
        word = "higher" if higher_is_better else "lower"
        lines.append(f"{r.dataset} ({where}; {r.seeds} seed{'s' if r.seeds != 1 else ''}, "
                     f"{evidence(r.profile, r.seeds)}): {r.metric} naive {r.baseline:.4g} vs mean of {others} "
                     f"{r.others_mean:.4g}; {r.better} of {r.settings} {others} {word} than naive "
                     f"(best {r.best_setting}: {r.best:.4g})"
                     + (f"; {r.left_out} with fewer seeds left out" if getattr(r, "left_out", 0) else ""))
    return lines


def versus_lines(df: pd.DataFrame, metric: str, *, higher_is_better: bool, baseline: str = "naive",
                 by: str = "setting", keys=("dataset", "profile"), extra=(), others: str = "SSL settings") -> list[str]:
    """:func:`versus_baseline` told in sentences (:func:`describe_versus`); one line saying so when
    there are no results for ``metric`` yet."""
    if df.empty or metric not in df.columns:
        return [f"{metric}: no results yet"]
    v = versus_baseline(df, metric, higher_is_better=higher_is_better, baseline=baseline, by=by, keys=keys)
    return describe_versus(v, higher_is_better=higher_is_better, extra=extra, others=others)


def paired_ssl_setting(stage2: pd.DataFrame, select_on: str = "best_val_loss",
                       baseline: str = "naive") -> tuple[str, list]:
    """The SSL setting of a 2 × 2 and the seeds it shares with ``baseline``.

    Only settings sharing the most seeds with the baseline compete, so that every cell of the 2 × 2
    averages the same seeds; among them the lowest mean ``select_on`` (the VAL prior loss over both
    priors, on the shared seeds) wins: chosen on validation data, never on a TEST metric.
    """
    base_seeds = set(stage2.loc[stage2["setting"] == baseline, "seed"])
    shared = {s: sorted(base_seeds & set(g["seed"])) for s, g in stage2.groupby("setting", sort=False)
              if s != baseline}
    shared = {s: seeds for s, seeds in shared.items() if seeds}
    if not shared:
        raise ValueError(f"no SSL setting shares a seed with {baseline!r}")
    most = max(len(seeds) for seeds in shared.values())
    means = {s: stage2[(stage2["setting"] == s) & stage2["seed"].isin(seeds)][select_on].mean()
             for s, seeds in shared.items() if len(seeds) == most}
    ssl = min(means, key=means.get)
    return ssl, shared[ssl]


def two_by_two(stage2: pd.DataFrame, metrics, *, keys=("dataset", "profile"),
               select_on: str = "best_val_loss") -> pd.DataFrame:
    """The {naive, SSL} tokenizer × {token, embedding} prior means of ``metrics``, per ``keys`` group.

    The SSL tokenizer is chosen by :func:`paired_ssl_setting` (VAL prior loss, never a TEST metric)
    and every cell averages the seeds it shares with the naive tokenizer.
    """
    keys, rows = _by(keys), []
    for key, part in stage2.groupby(keys, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        if (part["setting"] == "naive").sum() == 0 or part["setting"].nunique() < 2:
            continue
        ssl, seeds = paired_ssl_setting(part, select_on)
        part = part[part["seed"].isin(seeds)]
        for setting, tokenizer in (("naive", "naive"), (ssl, "SSL")):
            for prior in part["prior"].drop_duplicates():
                cellpart = part[(part["setting"] == setting) & (part["prior"] == prior)]
                rows.append({**dict(zip(keys, key)), "tokenizer": tokenizer, "setting": setting, "prior": prior,
                             "seeds": cellpart["seed"].nunique(), **{m: cellpart[m].mean() for m in metrics}})
    return pd.DataFrame(rows)

def describe_two_by_two(table: pd.DataFrame, metric: str, *, higher_is_better: bool,
                        keys=("dataset", "profile")) -> list[str]:
    """One sentence per ``keys`` group of :func:`two_by_two`: naive against SSL under each prior."""
    keys, lines = _by(keys), []
    for key, part in table.groupby(keys, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        means = part.set_index(["tokenizer", "prior"])[metric]
        ssl = part.loc[part["tokenizer"] == "SSL", "setting"].iloc[0]
        seeds = int(part["seeds"].min())
        verdicts = []
        for prior in part["prior"].drop_duplicates():
            a, b = means[("naive", prior)], means[("SSL", prior)]
            better = b > a if higher_is_better else b < a
            verdict = "SSL better" if better else "SSL not better"
            verdicts.append(f"{prior} prior: naive {a:.4g} vs {ssl} {b:.4g} ({verdict})")
        where = dict(zip(keys, key))
        profile = where.get("profile", "")
        lines.append(f"{where.get('dataset', '')} ({profile}; {seeds} seed{'s' if seeds != 1 else ''}, "
                     f"{evidence(profile, seeds)}): {metric}: " + "; ".join(verdicts))
    return lines



# ----------------------------------------------------------------------------------------------- results


def _base(results_dir) -> Path:
    base = Path(results_dir).expanduser()
    if not base.is_absolute():
        from .book import repo_root

        base = repo_root() / base
    return base


def collect(results_dir, name: str) -> pd.DataFrame:
    """Every ``<results_dir>/<dataset>/<profile>/<name>`` stacked into one frame (empty when none exist)."""
    from .experiments import read_table

    frames = [read_table(p) for p in sorted(_base(results_dir).glob(f"*/*/{name}"))]
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def with_recon_loss(df: pd.DataFrame) -> pd.DataFrame:
    """Add ``recon_loss`` = TEST time MSE + STFT MSE, the quantity behind the thesis' stage-1 ``val_loss``."""
    if {"test_time_mse", "test_stft_mse"} <= set(df.columns):
        df = df.assign(recon_loss=df["test_time_mse"] + df["test_stft_mse"])
    return df


# ----------------------------------------------------------------------------------------------- thesis


def default_thesis_path() -> Path:
    from .book import repo_root

    return repo_root() / "reference" / "thesis_results.csv"


def thesis_table(path=None) -> pd.DataFrame:
    """The thesis' numbers (``reference/thesis_results.csv``) with tsvq's setting and metric names.

    Columns: dataset, stage, setting, metric, mean, std, n (and the thesis' method, augmentation and
    metric names as ``method``, ``augmentation``, ``thesis_metric``).
    """
    path = Path(path) if path is not None else default_thesis_path()
    if not path.is_file():
        raise FileNotFoundError(f"no thesis table at {path}; it ships with the repository as "
                                "reference/thesis_results.csv")
    t = pd.read_csv(path)
    t = t.rename(columns={"metric": "thesis_metric"})
    t["setting"] = [thesis_setting(m, a) for m, a in zip(t["method"], t["augmentation"])]
    t["metric"] = t["thesis_metric"].map(THESIS_METRICS).fillna(t["thesis_metric"])
    return t[["dataset", "stage", "setting", "metric", "mean", "std", "n", "method", "augmentation", "thesis_metric"]]


def compare_with_thesis(df: pd.DataFrame, dataset: str, metrics, *, thesis: pd.DataFrame | None = None) -> pd.DataFrame:
    """tsvq's mean ± std beside the thesis' for one dataset, one row per (setting, metric).

    When ``df`` has a ``prior`` column (stage 2), each setting is compared under the prior the thesis
    paired it with: the token prior for ``naive``, the embedding prior for the SSL settings. Returns
    an empty frame when the thesis has no numbers for ``dataset``.
    """
    empty = pd.DataFrame(columns=["setting", "metric", "tsvq", "thesis", "tsvq_mean", "thesis_mean", "difference"])
    if df.empty:
        return empty
    thesis = thesis_table() if thesis is None else thesis
    th = thesis[(thesis["dataset"] == dataset) & thesis["metric"].isin(list(metrics))]
    ours = with_recon_loss(df[df["dataset"] == dataset]) if "dataset" in df.columns else with_recon_loss(df)
    if "prior" in ours.columns:
        want = np.where(ours["setting"] == "naive", "token", "embedding")
        ours = ours[ours["prior"] == want]
    rows = []
    for setting in ours["setting"].drop_duplicates():
        mine = ours[ours["setting"] == setting]
        for metric in metrics:
            ref = th[(th["setting"] == setting) & (th["metric"] == metric)]
            if ref.empty or metric not in mine.columns:
                continue
            v = mine[metric].dropna()
            m, s, n = v.mean(), v.std(ddof=1), len(v)
            r = ref.iloc[0]
            rows.append({"setting": setting, "metric": metric, "tsvq": cell(m, s, n),
                         "thesis": cell(r["mean"], r["std"], int(r["n"])), "tsvq_mean": m,
                         "thesis_mean": float(r["mean"]), "difference": m - float(r["mean"])})
    return pd.DataFrame(rows, columns=empty.columns)


def compare_all_with_thesis(df: pd.DataFrame, metrics, *, thesis: pd.DataFrame | None = None) -> pd.DataFrame:
    """:func:`compare_with_thesis` for every (dataset, profile) of ``df`` that the thesis also reports,
    indexed by dataset, profile, setting and metric; empty when there is none."""
    thesis = thesis_table() if thesis is None else thesis
    parts = []
    if not df.empty:
        for (d, p), part in df.groupby(["dataset", "profile"], sort=False):
            t = compare_with_thesis(part, d, metrics, thesis=thesis)
            if not t.empty:
                parts.append(t.assign(dataset=d, profile=p))
    if not parts:
        return pd.DataFrame()
    return pd.concat(parts).set_index(["dataset", "profile", "setting", "metric"])


# ----------------------------------------------------------------------------------------------- models for figures


def setting_args(setting: str) -> tuple[str, str]:
    """``"naive"`` -> ``("none", "none")``; ``"barlowtwins-warp"`` -> ``("barlowtwins", "warp")``."""
    if setting == "naive":
        return "none", "none"
    ssl, _, aug = setting.partition("-")
    if not aug:
        raise ValueError(f"setting {setting!r} is neither 'naive' nor '<ssl method>-<augmentation>'")
    return ssl, aug


def tokenizer_for(ds, *, profile: str, setting: str, seed: int, device=None, progress: bool = False):
    """The (cached) stage-1 tokenizer of a grid setting, in eval mode."""
    from .experiments import stage1_config
    from .train import train_tokenizer

    cfg = stage1_config(profile, *setting_args(setting))
    return train_tokenizer(ds, cfg, seed=seed, device=device, progress=progress).model.eval()


def prior_for(ds, *, profile: str, setting: str, prior: str, seed: int, device=None, progress: bool = False):
    """The (cached) stage-2 run (tokenizer + prior) of a grid setting and prior variant."""
    from .experiments import stage1_config
    from .train import train_prior

    cfg = stage1_config(profile, *setting_args(setting), prior={"variant": prior})
    return train_prior(ds, cfg, seed=seed, device=device, progress=progress)


def reconstruct(model, x: np.ndarray, *, batch_size: int = 512) -> np.ndarray:
    """(n, 1, L) -> the tokenizer's reconstructions (n, 1, L), in eval mode without gradients."""
    import torch

    device = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        out = [model(torch.as_tensor(x[i:i + batch_size], device=device)).x_hat.cpu()
               for i in range(0, len(x), batch_size)]
    return torch.cat(out).numpy()


def probe_grid(ds, *, profile: str, seeds, settings, split: str = "val") -> pd.DataFrame:
    """SVM / KNN probe accuracy of every (cached) tokenizer of the grid on ``split`` (fit on TRAIN).

    With ``split="val"`` this is a selection criterion that never looks at TEST.
    """
    from .experiments import setting_name
    from .probe import probe

    rows = []
    for seed in seeds:
        for ssl, aug in settings:
            name = setting_name(ssl, aug)
            model = tokenizer_for(ds, profile=profile, setting=name, seed=seed)
            rows.append({"dataset": ds.meta.name, "profile": profile, "seed": seed, "setting": name,
                         **{f"{split}_{k}": v for k, v in probe(model, ds, split=split).items()}})
    return pd.DataFrame(rows)
