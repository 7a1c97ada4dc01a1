"""Tables for the book: mean ± std over seeds, paired tests with verdicts, and the thesis' numbers.

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

from .identity import Setting
from .results import read_table

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


def pivot_means(df: pd.DataFrame, metric: str, *, rows=("dataset", "profile"), columns: str = "setting",
                order=None) -> pd.DataFrame:
    """One metric's mean over the seeds as a grid: a row per ``rows`` group (with ``seeds``, the most runs of
    any of its cells), a column per ``columns`` value in ``order`` (default: as they first appear); a cell
    never run stays empty. The compact view of a :func:`summarize` table, whose stds it leaves out."""
    rows = _by(rows)
    if df.empty:
        return pd.DataFrame()
    g = df.groupby(rows + [columns], sort=False)[metric]
    wide = g.mean().unstack(columns)
    wide = wide[[c for c in (order or pd.unique(df[columns])) if c in wide.columns]]
    wide.columns = list(wide.columns)  # a plain header, not the name of the column level
    wide.insert(0, "seeds", g.count().groupby(level=list(range(len(rows)))).max())
    return wide


# ----------------------------------------------------------------------------------------------- comparisons

# The columns that define one family of comparisons (one chapter, one dataset): Holm runs within each.
FAMILY = ("dataset", "profile")
ALPHA = 0.05

# What each chapter compares with the naive tokenizer, and whether higher is better (None: neither).
RQ1_METRICS = {"svm_accuracy": True, "knn_accuracy": True, "test_time_mse": False}
RQ2_METRICS = {"knn_accuracy": True, "svm_accuracy": True, "test_time_mse": False, "perplexity": None}
RQ3_METRICS = {"context_gain": True, "best_val_loss": False, "epochs_to_reference": False}
RQ4_METRICS = {"fid": False, "rocket_fid": False, "kid": False, "is_mean": True, "cas": True, "copy_rate": None}
RQ5_METRICS = {**RQ4_METRICS, "best_val_loss": False}

# Metrics read off the FCN evaluator's features or class probabilities: two rows pair on one of them only when
# one evaluator scored both (:func:`evaluator_id`). ROCKET-FID, CAS and the copy rate do not use it.
EVALUATOR_METRICS = frozenset({"fid", "kid", "kid_std", "is_mean", "is_std", "fid_ref", "kid_ref", "kid_std_ref"})


def evaluator_id(df: pd.DataFrame, by=("dataset", "profile", "seed")) -> pd.Series:
    """Which evaluator scored each row: ``evaluator_hash`` (a hash of its weights) where the row records it.
    A row written before that column is told apart by the evaluator's TEST accuracy (to 6 digits): within its
    ``by`` group (one dataset and seed) it takes the hash of the recorded rows with the same accuracy when they
    agree on one, else ``"accuracy <value>"``; two accuracies that differ are two evaluators, equal ones are
    taken as one. NaN where neither is known."""
    unknown = pd.Series(np.nan, index=df.index, dtype=object)
    acc = pd.to_numeric(df.get("evaluator_test_accuracy", unknown), errors="coerce").round(6)
    hashed = df.get("evaluator_hash", unknown)
    ids = unknown.mask(acc.notna(), "accuracy " + acc.astype(str)).mask(hashed.notna(), hashed)
    keys = [c for c in _by(by) if c in df]
    groups = [part.index for _, part in df.groupby(keys, sort=False)] if keys else [df.index]
    for index in groups:
        known = pd.DataFrame({"acc": acc[index], "hash": hashed[index]}).dropna()
        for a, part in known.groupby("acc"):
            if part["hash"].nunique() == 1:  # the rows of this accuracy without a hash: the same evaluator
                ids[[i for i in index if pd.isna(hashed[i]) and acc[i] == a]] = part["hash"].iloc[0]
    return ids


def mixed_evaluators(*tables: pd.DataFrame, by=("dataset", "seed")) -> pd.DataFrame:
    """The (dataset, seed) groups whose rows, over all ``tables`` (stage 2, anchors, peers), were scored by
    more than one evaluator, with the evaluators' TEST accuracies and how many rows each scored. Empty when
    every seed has one evaluator: only then do all of a seed's FIDs, KIDs and ISs compare with each other."""
    by = list(by)
    parts = [t[[c for c in [*by, "evaluator_test_accuracy", "evaluator_hash"] if c in t]]
             for t in tables if not t.empty and "evaluator_test_accuracy" in t]
    cols = by + ["evaluators", "rows"]
    if not parts:
        return pd.DataFrame(columns=cols)
    df = pd.concat(parts, ignore_index=True)
    keys = [c for c in by if c in df]
    df = df.assign(_evaluator=evaluator_id(df, by=keys)).dropna(subset=["_evaluator"])
    rows = []
    for key, part in df.groupby(keys, sort=True):
        counts = part.groupby("_evaluator", sort=False).agg(acc=("evaluator_test_accuracy", "first"),
                                                              n=("_evaluator", "size"))
        if len(counts) > 1:
            key = key if isinstance(key, tuple) else (key,)
            rows.append({**dict(zip(keys, key)), "evaluators": len(counts),
                         "rows": ", ".join(f"{r.n} scored by the evaluator of TEST accuracy {r.acc:.4f}"
                                           for r in counts.sort_values("n", ascending=False).itertuples())})
    return pd.DataFrame(rows, columns=keys + ["evaluators", "rows"])


def retrained_tokenizers(stage1: pd.DataFrame, stage2: pd.DataFrame, *, rtol: float = 1e-6) -> pd.DataFrame:
    """The stage-2 rows whose tokens came from another tokenizer than the one their stage-1 row scored: the
    tokenizer's TEST reconstruction error recorded with the prior (``tokenizer_test_time_mse``) differs from
    the stage-1 row's ``test_time_mse``. What a tokenizer trained again for stage 2 (the model cache lacked it)
    can leave behind: one seed is bit-reproducible on one machine, not across CPUs. Rows written before the
    column existed are not judged."""
    cols = ["seed", "setting", "prior", "stage1_test_time_mse", "tokenizer_test_time_mse"]
    if stage1.empty or stage2.empty or "tokenizer_test_time_mse" not in stage2:
        return pd.DataFrame(columns=cols)
    ref = stage1.drop_duplicates(["seed", "setting"]).set_index(["seed", "setting"])["test_time_mse"]
    df = stage2.dropna(subset=["tokenizer_test_time_mse"])
    df = df.assign(stage1_test_time_mse=[ref.get((r.seed, r.setting), np.nan) for r in df.itertuples()])
    df = df.dropna(subset=["stage1_test_time_mse"])
    far = ~np.isclose(df["tokenizer_test_time_mse"], df["stage1_test_time_mse"], rtol=rtol, atol=0)
    return df.loc[far, cols].reset_index(drop=True)


_STATS = ("metric", "n", "baseline_mean", "mean", "difference", "ci_low", "ci_high", "p_value", "p_holm",
          "verdict", "note", "effect")


def paired_test(df: pd.DataFrame, metric: str, baseline: str = "naive", by: str = "setting",
                pair_on="seed", within=()) -> pd.DataFrame:
    """Each group of ``by`` against ``baseline``, paired on ``pair_on`` (the seed), within ``within`` groups.

    Per group: the paired runs ``n``, the means of both over those runs, their mean difference
    (group − baseline), its 95 % t-interval (``ci_low``, ``ci_high``) and the two-sided paired t-test
    p-value (``scipy.stats.ttest_rel``). With fewer than two pairs everything but the difference is
    NaN; with a difference that is the same for every pair the p-value is NaN; ``note`` says why.
    ``within`` groups without the baseline are skipped; a baseline found nowhere is an error. On a metric of
    :data:`EVALUATOR_METRICS` a pair whose two rows were scored by different evaluators (:func:`evaluator_id`)
    is left out, and ``note`` counts it: their difference would mix the two settings with the two evaluators.
    """
    from scipy.stats import t as student, ttest_rel

    pair_on, within = _by(pair_on), _by(within)
    if metric not in df.columns:
        raise KeyError(f"metric {metric!r} not in the table (it has {list(df.columns)})")
    if not (df[by] == baseline).any():
        raise ValueError(f"baseline {baseline!r} not found in column {by!r}")
    rows = []
    match = metric in EVALUATOR_METRICS
    df = df.assign(_evaluator=evaluator_id(df)) if match else df
    cols = within + pair_on + [metric] + (["_evaluator"] if match else [])
    parts = df.groupby(within, sort=False) if within else [((), df)]
    for key, part in parts:
        key = key if isinstance(key, tuple) else (key,)
        base = part[part[by] == baseline][cols]
        if base.empty:
            continue
        for group in part[by].drop_duplicates():
            if group == baseline:
                continue
            other = part[part[by] == group][cols]
            m = base.merge(other, on=within + pair_on, suffixes=("_base", "")).dropna(subset=[f"{metric}_base", metric])
            mixed = 0
            if match:
                e0, e1 = m["_evaluator_base"], m["_evaluator"]
                differ = e0.notna() & e1.notna() & (e0 != e1)
                mixed, m = int(differ.sum()), m[~differ]
            a, b = m[f"{metric}_base"].to_numpy(float), m[metric].to_numpy(float)
            d, n = b - a, len(m)
            p = lo = hi = float("nan")
            note = ""
            if n < 2:
                note = f"n/a: needs ≥ 2 paired {'/'.join(pair_on)}s, has {n}"
            else:
                half = student.ppf(0.975, n - 1) * d.std(ddof=1) / math.sqrt(n)
                lo, hi = d.mean() - half, d.mean() + half
                if np.allclose(d, d[0]):
                    note = "n/a: the difference is the same for every pair"
                else:
                    p = float(ttest_rel(b, a).pvalue)
            if mixed:
                note = "; ".join(filter(None, [note, f"{mixed} pair(s) left out: scored by different evaluators"]))
            nan = float("nan")
            rows.append({"metric": metric, **dict(zip(within, key)), by: group, "n": n,
                         "baseline_mean": a.mean() if n else nan, "mean": b.mean() if n else nan,
                         "difference": d.mean() if n else nan, "ci_low": lo, "ci_high": hi, "p_value": p,
                         "note": note})
    return pd.DataFrame(rows)


def paired_tests(df: pd.DataFrame, metrics, **kwargs) -> pd.DataFrame:
    """:func:`paired_test` for several metrics, stacked into one table (same keyword arguments)."""
    parts = [paired_test(df, m, **kwargs) for m in metrics]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def holm(pvalues) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (step-down, monotone, at most 1); NaNs stay NaN and do not count."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    if len(ok):
        order = ok[np.argsort(p[ok], kind="stable")]
        m = len(order)
        out[order] = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    return out


def verdict(p: float, p_holm: float, ci_low: float, ci_high: float) -> str:
    """The verdict word of DESIGN's rule: ``"supported"`` (Holm p < 0.05 and the 95 % interval excludes
    0), ``"suggestive"`` (only the uncorrected p < 0.05) or ``"no evidence"``."""
    if p_holm < ALPHA and (ci_low > 0 or ci_high < 0):
        return "supported"
    return "suggestive" if p < ALPHA else "no evidence"


def add_verdicts(table: pd.DataFrame, family=FAMILY) -> pd.DataFrame:
    """``table`` of paired tests with ``p_holm`` (Holm within each ``family`` group, columns of ``family``
    that ``table`` lacks ignored) and ``verdict`` (:func:`verdict`) added, or recomputed."""
    t = table.copy()
    if t.empty:
        return t.assign(p_holm=pd.Series(dtype=float), verdict=pd.Series(dtype=str))
    keys = [c for c in _by(family) if c in t.columns]
    t["p_holm"] = np.nan
    for _, part in (t.groupby(keys, sort=False, dropna=False) if keys else [((), t)]):
        t.loc[part.index, "p_holm"] = holm(part["p_value"])
    t["verdict"] = [verdict(*r) for r in t[["p_value", "p_holm", "ci_low", "ci_high"]].itertuples(index=False)]
    last = ["p_value", "p_holm", "verdict", "note"]
    return t[[c for c in t.columns if c not in last] + last]


def compare_family(df: pd.DataFrame, metrics, *, baseline: str = "naive", by: str = "setting", within=(),
                   family=FAMILY, pair_on="seed") -> pd.DataFrame:
    """Every group of ``by`` against ``baseline`` on every metric, paired on the seed, with Holm over each family.

    A family is one chapter's comparisons for one ``family`` group (dataset, profile): every group of
    ``by``, every metric and every ``within`` group (e.g. the prior) in it. Metrics absent from ``df``
    are left out. Columns: the family keys, ``within``, ``metric``, ``by``, n, baseline_mean, mean,
    difference, ci_low, ci_high, p_value, p_holm, verdict, note.
    """
    metrics = [m for m in metrics if m in df.columns]
    if df.empty or not metrics or by not in df.columns:
        return add_verdicts(pd.DataFrame(columns=["metric", by, "n", "difference", "ci_low", "ci_high", "p_value"]))
    keys = [c for c in _by(family) if c in df.columns]
    groups = keys + [w for w in _by(within) if w not in keys]
    table = paired_tests(df, metrics, baseline=baseline, by=by, within=groups, pair_on=pair_on)
    return add_verdicts(table, keys)


# ----------------------------------------------------------------------------------------------- sentences


def _f(x, signed: bool = False) -> str:
    if x is None or not np.isfinite(x):
        return "–"
    x = 0.0 if abs(x) < 1e-12 else x
    return f"{x:+.3g}" if signed else f"{x:.4g}"


def _p(p) -> str:
    return "–" if p is None or not np.isfinite(p) else ("< 0.001" if p < 0.001 else f"{p:.2g}")


def _preference(higher_is_better, metric):
    return higher_is_better.get(metric) if isinstance(higher_is_better, dict) else higher_is_better


def describe_row(r, *, higher_is_better=None) -> str:
    """One comparison of :func:`compare_family` in words: difference, 95 % interval, p, Holm p, verdict.

    The direction (higher/lower, and better/worse where ``higher_is_better`` says which is) is named
    only with a verdict other than "no evidence".
    """
    r = r if isinstance(r, dict) else r._asdict() if hasattr(r, "_asdict") else dict(r)
    if r["n"] < 2:
        return f"{_f(r['difference'], True)} ({r['note'] or 'n/a'}): no evidence"
    text = (f"{_f(r['difference'], True)} (95 % CI {_f(r['ci_low'], True)} to {_f(r['ci_high'], True)}; "
            f"p {_p(r['p_value'])}, Holm p {_p(r['p_holm'])}; n = {r['n']}"
            + "".join(f"; {part}" for part in str(r.get("note") or "").split("; ") if "left out" in part)
            + f"): {r['verdict']}")
    if r["verdict"] != "no evidence" and np.isfinite(r["difference"]) and r["difference"] != 0:
        up = r["difference"] > 0
        text += f", {'higher' if up else 'lower'}"
        if higher_is_better is not None:
            text += " (better)" if up == bool(higher_is_better) else " (worse)"
    return text


def describe_versus(table: pd.DataFrame, *, higher_is_better=None, by: str = "setting",
                    baseline: str = "naive") -> list[str]:
    """One sentence per (family, ``within`` group, metric) of a :func:`compare_family` table.

    Each names the group, the baseline's mean and, for every compared ``by`` group, the difference to
    the baseline, its 95 % interval, p, Holm p and the verdict word, then counts the verdicts.
    ``higher_is_better``: a bool, None, or a dict per metric (names "better"/"worse").
    """
    if table.empty:
        return []
    keys = [c for c in table.columns if c not in _STATS and c != by and table[c].notna().any()]
    lines = []
    for key, part in table.groupby(keys + ["metric"], sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        *where, metric = key
        pref = _preference(higher_is_better, metric)
        sense = "" if pref is None else (", higher is better" if pref else ", lower is better")
        smoke = " — smoke profile: shows that the pipeline runs, not a result" if "smoke" in where else ""
        words = part["verdict"].value_counts()
        better = [describe_row(r, higher_is_better=pref) for r in part.to_dict("records")]
        named = ", ".join(f"{k} {v}" for k, v in zip(keys, where))
        lines.append(f"{named}{smoke}: `{metric}`{sense}; {by} − {baseline} "
                     f"({baseline} {_f(part['baseline_mean'].iloc[0])}): "
                     + "; ".join(f"{g} {t}" for g, t in zip(part[by], better))
                     + f". Verdicts: {words.get('supported', 0)} supported, {words.get('suggestive', 0)} "
                     f"suggestive, {words.get('no evidence', 0)} no evidence.")
    return lines


def tests_table(tests: pd.DataFrame) -> pd.DataFrame:
    """A :func:`compare_family` table for display: the 95 % interval in one column, ``note`` only when used."""
    if tests.empty:
        return tests
    t = tests.assign(ci=[f"[{_f(a, True)}, {_f(b, True)}]" for a, b in zip(tests["ci_low"], tests["ci_high"])])
    cols = [c for c in t.columns if c not in ("ci", "ci_low", "ci_high", "note")]
    cols.insert(cols.index("difference") + 1, "ci")
    if (t["note"].fillna("") != "").any():
        cols.append("note")
    return t[cols].rename(columns={"ci": "95 % CI"})


def markdown_list(lines, empty: str = "no results yet") -> str:
    """Sentences as a markdown bullet list (one line saying ``empty`` when there are none)."""
    lines = list(lines)
    return "\n".join(f"- {line}" for line in lines) if lines else f"- {empty}"


def best_setting(df: pd.DataFrame, metric: str, *, by: str = "setting", exclude=("naive",),
                 lower: bool = True) -> str:
    """The group with the best mean ``metric`` (lowest by default), ``exclude`` left out.

    Meant for selection on VAL metrics (e.g. the prior's VAL loss), never on TEST ones.
    """
    means = df[~df[by].isin(list(exclude))].groupby(by, sort=False)[metric].mean().dropna()
    if means.empty:
        raise ValueError(f"no group of {by!r} outside {list(exclude)} has a value for {metric!r}")
    return str(means.idxmin() if lower else means.idxmax())


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


# ----------------------------------------------------------------------------------------------- across datasets


def across_datasets(df: pd.DataFrame, metric: str, *, higher_is_better: bool, baseline: str = "naive",
                    by: str = "setting", within=()) -> pd.DataFrame:
    """Each group of ``by`` against ``baseline`` over datasets, per profile (and ``within`` group).

    Per dataset the paired (seed) mean difference and its 95 % interval (:func:`paired_test`); over
    datasets the median difference, the Wilcoxon signed-rank p-value of the per-dataset differences
    (``scipy.stats.wilcoxon``; NaN with fewer than two datasets or all differences 0) and win / tie /
    loss counts: a win is a dataset whose interval lies wholly on the better side of 0, a loss wholly
    on the worse side, a tie one whose interval contains 0 or is undefined (one seed); the median's
    distribution-free 95 % interval (:func:`median_interval`). Datasets without the baseline are left out.
    """
    from scipy.stats import wilcoxon

    groups = [c for c in ("profile",) if c in df.columns] + _by(within)
    cols = groups + [by, "datasets", "median_difference", "median_ci_low", "median_ci_high", "wins", "ties", "losses",
                     "p_value", "note"]
    if df.empty or metric not in df.columns or "dataset" not in df.columns:
        return pd.DataFrame(columns=cols)
    t = paired_test(df, metric, baseline=baseline, by=by, within=groups + ["dataset"])
    if t.empty or "difference" not in t:  # nothing but the baseline: no pair
        return pd.DataFrame(columns=cols)
    t = t.dropna(subset=["difference"])
    rows = []
    for key, part in t.groupby(groups + [by], sort=False):
        key = key if isinstance(key, tuple) else (key,)
        d = part["difference"].to_numpy(float)
        good = part["ci_low"] > 0 if higher_is_better else part["ci_high"] < 0
        bad = part["ci_high"] < 0 if higher_is_better else part["ci_low"] > 0
        p, note = float("nan"), ""
        if len(d) < 2:
            note = f"n/a: needs ≥ 2 datasets, has {len(d)}"
        elif np.all(d == 0):
            note = "n/a: every difference is 0"
        else:
            p = float(wilcoxon(d).pvalue)
        lo, hi = median_interval(d)
        rows.append({**dict(zip(groups + [by], key)), "datasets": len(d), "median_difference": float(np.median(d)),
                     "median_ci_low": lo, "median_ci_high": hi, "wins": int(good.sum()),
                     "ties": int(len(d) - good.sum() - bad.sum()), "losses": int(bad.sum()), "p_value": p,
                     "note": note})
    return pd.DataFrame(rows, columns=cols)


def median_interval(values, level: float = 0.95) -> tuple[float, float]:
    """The distribution-free interval of a median from order statistics: ``[x_(k), x_(n+1-k)]`` with the
    largest k for which a Binomial(n, 1/2) puts at most (1 − level) / 2 below k, so the coverage is at least
    ``level``. NaN when no such k exists (fewer than 6 values at 95 %)."""
    from scipy.stats import binom

    x = np.sort(np.asarray(values, float))
    x = x[~np.isnan(x)]
    n, alpha = len(x), (1 - level) / 2
    k = 0
    while k + 1 <= n // 2 and binom.cdf(k, n, 0.5) <= alpha:  # P(B <= k) = P(median below x_(k+1))
        k += 1
    return (float(x[k - 1]), float(x[n - k])) if k else (float("nan"), float("nan"))


VAL_CHOSEN = "VAL-chosen SSL"


def val_chosen(selection: pd.DataFrame) -> pd.DataFrame:
    """Per dataset and profile, the SSL setting the grid sends to stage 2 (:func:`tsvq.experiments.val_best`:
    highest mean cross-validated KNN accuracy on TRAIN ∪ VAL over the seeds every SSL setting ran; never a
    TEST number), with those seeds; datasets whose validation search is incomplete are left out."""
    from .experiments import SELECTION_METRIC, val_best

    cols = ["dataset", "profile", "setting", "seeds", SELECTION_METRIC]
    if selection.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for (ds, prof), part in selection.groupby(["dataset", "profile"], sort=True):
        name, seeds, _ = val_best(part)
        if name is not None:
            mine = part[(part["setting"] == name) & part["seed"].isin(seeds)]
            rows.append({"dataset": ds, "profile": prof, "setting": name, "seeds": len(seeds),
                         SELECTION_METRIC: float(mine[SELECTION_METRIC].mean())})
    return pd.DataFrame(rows, columns=cols)


def with_val_chosen(df: pd.DataFrame, chosen: pd.DataFrame) -> pd.DataFrame:
    """The naive rows and the rows of each dataset's VAL-chosen setting relabelled :data:`VAL_CHOSEN`, for
    the datasets with a choice: the across-datasets comparison of "the SSL tokenizer a user would pick"."""
    if df.empty or chosen.empty:
        return df.iloc[0:0]
    pick = chosen[["dataset", "profile", "setting"]].rename(columns={"setting": "_chosen"})
    df = df.merge(pick, on=["dataset", "profile"])
    out = pd.concat([df[df["setting"] == "naive"], df[df["setting"] == df["_chosen"]].assign(setting=VAL_CHOSEN)])
    return out.drop(columns="_chosen").reset_index(drop=True)


def only_val_chosen(tests: pd.DataFrame, chosen: pd.DataFrame) -> pd.DataFrame:
    """The rows of per-dataset tests (e.g. :func:`overview_tests`, Holm over each chapter's whole family) for the
    SSL setting chosen on VAL for their dataset (:func:`val_chosen`)."""
    if tests.empty or chosen.empty:
        return tests.iloc[0:0]
    return tests.merge(chosen[["dataset", "profile", "setting"]], on=["dataset", "profile", "setting"])


def _across_stack(df: pd.DataFrame, metrics: dict, *, within=(), baseline: str = "naive",
                  by: str = "setting") -> list[pd.DataFrame]:
    out = []
    for m, higher in metrics.items():
        if higher is None or df.empty or m not in df:
            continue
        a = across_datasets(df, m, higher_is_better=higher, baseline=baseline, by=by, within=within)
        out.append(a.assign(metric=m, better="higher" if higher else "lower"))
    return out


def _across_verdicts(parts: list[pd.DataFrame], *, by: str = "setting") -> pd.DataFrame:
    """Stacked :func:`across_datasets` tables with ``p_holm`` (Holm over all rows of a profile: the family) and
    ``verdict`` (:func:`verdict`, the median's distribution-free interval standing for the interval)."""
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame()
    t = pd.concat(parts, ignore_index=True)
    if "prior" in t:
        t["prior"] = t["prior"].fillna("–")
    t["p_holm"] = np.nan
    for _, part in t.groupby("profile", sort=False):
        t.loc[part.index, "p_holm"] = holm(part["p_value"])
    t["verdict"] = [verdict(*r) for r in t[["p_value", "p_holm", "median_ci_low", "median_ci_high"]]
                    .itertuples(index=False)]
    first = [c for c in ("profile", "metric", "prior", by, "better") if c in t]
    last = ["p_value", "p_holm", "verdict", "note"]
    return t[first + [c for c in t.columns if c not in first + last] + last]


def across_family(df: pd.DataFrame, metrics: dict, *, within=(), baseline: str = "naive",
                  by: str = "setting") -> pd.DataFrame:
    """:func:`across_datasets` for every metric of ``metrics`` (name → higher is better; None skipped), stacked,
    with Holm over the family (every setting × metric [× ``within`` group] of a profile) and the verdict of the
    book's rule: *supported* needs Holm p < 0.05 and the median's 95 % interval to exclude 0 (the interval
    needs 6 datasets, so fewer can at most be *suggestive*)."""
    return _across_verdicts(_across_stack(df, metrics, within=within, baseline=baseline, by=by), by=by)


def method_priors(stage2: pd.DataFrame, priors=None) -> pd.DataFrame:
    """The stage-2 rows of ``priors``, by default the method's (:data:`tsvq.experiments.PRIORS`), without the
    thesis-style token prior, an ablation of RQ5."""
    from .experiments import PRIORS

    if stage2.empty or "prior" not in stage2:
        return stage2
    return stage2[stage2["prior"].isin(PRIORS if priors is None else priors)]


def headline(stage1: pd.DataFrame, stage2: pd.DataFrame, selection: pd.DataFrame, *,
             stage1_metrics=("knn_accuracy", "svm_accuracy", "test_time_mse"),
             stage2_metrics=("fid", "kid", "cas"), priors=None) -> pd.DataFrame:
    """The book's answer across datasets: the VAL-chosen SSL setting against naive (:func:`with_val_chosen`),
    per metric (and prior), by :func:`across_datasets` (median difference with its interval, win / tie /
    loss, Wilcoxon p), Holm over all of these rows of a profile and the verdict (:func:`across_family`).

    Stage 2 counts the ``priors`` only, by default those of the method (:data:`tsvq.experiments.PRIORS`): the
    thesis-style token prior is an ablation of RQ5, run on few datasets, and in this family it would only
    weaken the Holm correction of the others."""
    stage2 = method_priors(stage2, priors)
    chosen = val_chosen(selection)
    allm = {**RQ1_METRICS, **RQ4_METRICS}
    parts = (_across_stack(with_val_chosen(stage1, chosen), {m: allm.get(m) for m in stage1_metrics})
             + _across_stack(with_val_chosen(stage2, chosen), {m: allm.get(m) for m in stage2_metrics},
                             within=("prior",)))
    parts = [p[p["setting"] == VAL_CHOSEN].drop(columns="setting") for p in parts]
    t = _across_verdicts(parts)
    if not t.empty and "prior" not in t:
        t.insert(2, "prior", "–")
    return t


def across_table(table: pd.DataFrame) -> pd.DataFrame:
    """An :func:`across_family` or :func:`headline` table for display: indexed by what is compared (metric,
    prior, setting; the profile when there are several), the median with its interval in one column, win /
    tie / loss in one, ``note`` only when used."""
    if table.empty:
        return table
    t = table.copy()
    t["median [95 % CI]"] = [_f(m, True) + ("" if pd.isna(lo) else f" [{_f(lo, True)}, {_f(hi, True)}]")
                             for m, lo, hi in zip(t["median_difference"], t["median_ci_low"], t["median_ci_high"])]
    t["better / tied / worse"] = [f"{w} / {n} / {l}" for w, n, l in zip(t["wins"], t["ties"], t["losses"])]
    t["metric"] = [f"{m} ({b} is better)" for m, b in zip(t["metric"], t["better"])]
    index = [c for c in ("profile", "metric", "prior", "setting") if c in t and (c != "profile" or t[c].nunique() > 1)]
    index = [c for c in index if c != "prior" or (t[c] != "–").any()]
    cols = ["datasets", "median [95 % CI]", "better / tied / worse", "p_value", "p_holm", "verdict"]
    if (t["note"].fillna("") != "").any():
        cols.append("note")
    return t.set_index(index)[cols]


# ----------------------------------------------------------------------------------------------- chapters


def per_augmentation(stage1: pd.DataFrame, metrics) -> pd.DataFrame:
    """Per (dataset, profile,) seed and augmentation, the mean over the SSL losses sharing it (RQ2)."""
    keys = [c for c in FAMILY if c in stage1.columns]
    metrics = [m for m in metrics if m in stage1.columns]
    return stage1.groupby(keys + ["seed", "aug"], sort=False)[metrics].mean().reset_index()


def with_context_gain(stage2: pd.DataFrame) -> pd.DataFrame:
    """Add ``context_gain`` = ``token_entropy`` − ``best_val_loss`` (nats): what the prior's context adds
    beyond the unigram entropy of the TRAIN tokens. Tables without ``token_entropy`` get NaN for both."""
    out = stage2.copy()
    if "token_entropy" not in out.columns:
        out["token_entropy"] = np.nan
    out["context_gain"] = out["token_entropy"] - out["best_val_loss"]
    return out


def rq3_tests(stage2: pd.DataFrame, speed: pd.DataFrame | None = None, *, family=FAMILY) -> pd.DataFrame:
    """RQ3's family: SSL − naive within each prior on ``context_gain`` (the verdict), ``best_val_loss``
    (the raw loss) and, given :func:`convergence`'s table ``speed``, ``epochs_to_reference``."""
    runs = with_context_gain(stage2)
    if speed is not None and not speed.empty and not runs.empty:
        on = [c for c in ("dataset", "profile", "prior", "setting", "seed") if c in speed.columns and c in runs]
        runs = runs.merge(speed[on + ["epochs_to_reference"]], on=on, how="left")
    tests = compare_family(runs, RQ3_METRICS, within="prior", family=family)
    if not tests.empty and runs["token_entropy"].isna().all():
        tests.loc[tests["metric"] == "context_gain", "note"] = "n/a: no token_entropy in stage2.csv"
    return tests


def entropy_table(stage2: pd.DataFrame, speed: pd.DataFrame | None = None, *, family=FAMILY) -> pd.DataFrame:
    """RQ3 per (family, prior, setting): VAL loss, TRAIN token entropy and context gain (mean ± std), and
    the paired comparison with naive on the context gain (difference, CI, p, Holm p, verdict), the raw
    loss's difference and verdict beside it. A missing ``token_entropy`` column reads "missing"."""
    runs = with_context_gain(stage2)
    keys = [c for c in _by(family) if c in runs.columns]
    table = summarize(runs, ["best_val_loss", "token_entropy", "context_gain"], by=keys + ["prior", "setting"],
                      cells_only=True)
    if runs["token_entropy"].isna().all():
        table["token_entropy"] = table["context_gain"] = "missing (no token_entropy in stage2.csv)"
    tests = rq3_tests(stage2, speed, family=family)
    if tests.empty:
        return table
    idx = keys + ["prior", "setting"]
    gain = tests[tests["metric"] == "context_gain"].set_index(idx)
    loss = tests[tests["metric"] == "best_val_loss"].set_index(idx)
    gain = gain.assign(ci=[f"{lo:.3g} to {hi:.3g}" if np.isfinite(lo) else "" for lo, hi in
                           zip(gain["ci_low"], gain["ci_high"])])
    out = table.join(gain[["difference", "ci", "p_holm", "verdict"]].add_prefix("gain_"), how="left")
    if runs["token_entropy"].isna().all():
        out.loc[out["gain_verdict"].notna(), "gain_verdict"] = "n/a: token_entropy missing"
    return out.join(loss[["difference", "verdict"]].add_prefix("loss_"), how="left")


def rq5_tests(stage2: pd.DataFrame, metrics=RQ5_METRICS, *, family=FAMILY,
              select_on: str = "best_val_loss") -> pd.DataFrame:
    """RQ5's family per dataset/profile on the 2 × 2 (:func:`paired_ssl_setting` picks the SSL tokenizer on
    VAL): the tokenizer's effect (SSL − naive within each prior, ``effect="tokenizer"``), the prior's
    (each prior − token within each tokenizer, ``"prior"``) and the thesis' diagonal (SSL + embedding
    against naive + token, ``"diagonal"``, column ``cell``), Holm over all of them."""
    keys = [c for c in _by(family) if c in stage2.columns]
    parts = []
    for _, part in (stage2.groupby(keys, sort=False) if keys else [((), stage2)]):
        if (part["setting"] == "naive").sum() == 0 or part["setting"].nunique() < 2:
            continue
        ssl, seeds = paired_ssl_setting(part, select_on)
        grid = part[part["setting"].isin(["naive", ssl]) & part["seed"].isin(seeds)]
        parts.append(compare_family(grid, metrics, by="setting", within="prior", family=keys)
                     .assign(effect="tokenizer"))
        if (grid["prior"] == "token").any() and grid["prior"].nunique() > 1:
            parts.append(compare_family(grid, metrics, baseline="token", by="prior", within="setting", family=keys)
                         .assign(effect="prior"))
        cells = grid.assign(cell=grid["setting"] + " + " + grid["prior"])
        diag = cells[cells["cell"].isin(["naive + token", f"{ssl} + embedding"])]
        if diag["cell"].nunique() == 2:
            parts.append(compare_family(diag, metrics, baseline="naive + token", by="cell", family=keys)
                         .assign(effect="diagonal"))
    if not parts:
        return add_verdicts(pd.DataFrame(columns=["effect", "metric", "n", "difference", "ci_low", "ci_high",
                                                  "p_value"]))
    return add_verdicts(pd.concat(parts, ignore_index=True), keys)


def describe_rq5(tests: pd.DataFrame, *, higher_is_better=RQ5_METRICS, show=None) -> list[str]:
    """Sentences for :func:`rq5_tests` (``show``: the metrics to tell, default all), effect by effect."""
    if tests.empty:
        return []
    tests = tests if show is None else tests[tests["metric"].isin(list(show))]
    lines = []
    for effect, by, baseline in [("tokenizer", "setting", "naive"), ("prior", "prior", "token"),
                                 ("diagonal", "cell", "naive + token")]:
        part = tests[tests["effect"] == effect].drop(columns="effect")
        part = part.drop(columns=[c for c in part.columns if c not in _STATS and part[c].isna().all()])
        if by in part.columns:
            lines += [f"{effect}: {line}" for line in
                      describe_versus(part, higher_is_better=higher_is_better, by=by, baseline=baseline)]
    return lines


def rq5_grid(tests: pd.DataFrame, metrics=("fid", "kid", "cas")) -> pd.DataFrame:
    """:func:`rq5_tests` as one grid: a row per dataset, profile and comparison (the tokenizer's effect within a
    prior, the prior's within a tokenizer, the thesis' diagonal), a column per metric, each cell the mean
    paired difference with the verdict's mark (:data:`MARKS`)."""
    if tests.empty:
        return pd.DataFrame()
    t = tests[tests["metric"].isin(list(metrics))]

    def comparison(r):
        if r["effect"] == "tokenizer":
            return f"{r['setting']} − naive, {r['prior']} prior"
        if r["effect"] == "prior":
            return f"{r['prior']} − token prior, {r['setting']}"
        return f"{r['cell']} − naive + token"

    t = t.assign(comparison=[comparison(r) for r in t.to_dict("records")],
                 value=[_marked(r) for r in t.to_dict("records")])
    keys = [c for c in FAMILY if c in t.columns] + ["comparison"]
    grid = t.set_index(keys + ["metric"])["value"].unstack("metric").fillna("–")
    grid = grid.reindex(pd.unique(pd.MultiIndex.from_frame(t[keys])))
    grid = grid[[m for m in metrics if m in grid.columns]]
    grid.columns = list(grid.columns)
    return grid


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
    """The {naive, SSL} tokenizer × prior means of ``metrics``, per ``keys`` group.

    The SSL tokenizer is chosen by :func:`paired_ssl_setting` (VAL prior loss, never a TEST metric)
    and every cell averages the seeds it shares with the naive tokenizer. Metrics absent are left out.
    """
    keys, rows = _by(keys), []
    metrics = [m for m in metrics if m in stage2.columns]
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


# ----------------------------------------------------------------------------------------------- validation search


def parse_setting(name: str) -> dict:
    """``"vibcreg-slice-proj_dim1024-stage1_epochs50-weight0.1"`` -> base ``vibcreg-slice`` and its options
    ``{"proj_dim": "1024", "stage1_epochs": "50", "weight": "0.1"}`` (read by :meth:`Setting.parse`)."""
    s = Setting.parse(name)
    return {"base": Setting(s.ssl, s.aug).name, **{k: str(v) for k, v in s.overrides}}


def selection_variants(selection: pd.DataFrame) -> pd.DataFrame:
    """``selection.csv`` with ``base`` (the grid setting), ``weight`` ("thesis" for the thesis' weight) and
    ``other`` (any further option, e.g. ``proj_dim1024``; "" for none) read from the setting names. The
    length of training (``stage1_epochs``, ``stage1_max_steps``) is not an option here: the ``epochs``
    column holds it."""
    parsed = [parse_setting(s) for s in selection["setting"]]
    return selection.assign(
        base=[p["base"] for p in parsed], weight=[p.get("weight", "thesis") for p in parsed],
        other=["-".join(f"{k}{v}" for k, v in p.items() if k not in ("base", "weight", "stage1_epochs",
                                                                       "stage1_max_steps"))
               for p in parsed])


def describe_selection(selection: pd.DataFrame, metric: str = "cv_knn_accuracy") -> str:
    """What the validation search (``selection.csv``: no TEST column) says, as a markdown list.

    For each SSL setting and number of epochs with several SSL weights: the mean ``metric`` of each and
    which is highest; for every number of epochs: each default-weight setting's mean, and SSL − naive
    paired on the seeds with interval and verdict (Holm over those comparisons).
    """
    if selection.empty or metric not in selection.columns:
        return markdown_list([], "no validation search for this dataset and profile")
    sel = selection_variants(selection)
    lines = []
    for (base, epochs), part in sel[sel["other"] == ""].groupby(["base", "epochs"], sort=False):
        means = part.groupby("weight", sort=False)[metric].mean()
        if len(means) < 2:
            continue
        top = means.idxmax()
        n = part.groupby("weight")["seed"].nunique().min()
        name = {w: "the thesis' weight" if w == "thesis" else f"weight {w}" for w in means.index}
        lines.append(f"{base} at {epochs} epochs (≥ {n} seed{'s' if n != 1 else ''} each), mean `{metric}`: "
                     + ", ".join(f"{name[w]} {v:.4g}" for w, v in means.items()) + f"; highest: {name[top]}")
    plain = sel[(sel["other"] == "") & (sel["weight"] == "thesis")]
    for base, part in plain.groupby("base", sort=False):
        means = part.groupby("epochs")[metric].mean()
        if len(means) > 1:
            lines.append(f"{base} by stage-1 epochs: " + ", ".join(f"{e} → {v:.4g}" for e, v in means.items())
                         + f"; highest mean `{metric}` at {means.idxmax()} epochs")
    if (plain["base"] == "naive").any() and plain["base"].nunique() > 1:
        tests = compare_family(plain, [metric], by="base", within="epochs")
        for epochs, part in tests.groupby("epochs", sort=True):
            lines.append(f"at {epochs} epochs, SSL − naive in `{metric}`: "
                         + "; ".join(f"{r['base']} {describe_row(r, higher_is_better=True)}"
                                     for r in part.to_dict("records")))
    return markdown_list(lines, "the validation search holds no comparison of weights or epochs")


# ----------------------------------------------------------------------------------------------- results


def collect(results_dir, name: str) -> pd.DataFrame:
    """Every ``<results_dir>/<dataset>/<profile>/<name>`` stacked into one frame (empty when none exist); a
    relative ``results_dir`` is taken from the working directory."""
    frames = [read_table(p) for p in sorted(Path(results_dir).expanduser().glob(f"*/*/{name}"))]
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def with_recon_loss(df: pd.DataFrame) -> pd.DataFrame:
    """Add ``recon_loss`` = TEST time MSE + STFT MSE, the quantity behind the thesis' stage-1 ``val_loss``."""
    if {"test_time_mse", "test_stft_mse"} <= set(df.columns):
        df = df.assign(recon_loss=df["test_time_mse"] + df["test_stft_mse"])
    return df


# ----------------------------------------------------------------------------------------------- thesis


def default_thesis_path() -> Path:
    """The thesis' numbers, shipped inside the package (``tsvq/reference/thesis_results.csv``)."""
    return Path(__file__).resolve().parent / "reference" / "thesis_results.csv"


def thesis_table(path=None) -> pd.DataFrame:
    """The thesis' numbers (``tsvq/reference/thesis_results.csv``) with tsvq's setting and metric names.

    Columns: dataset, stage, setting, metric, mean, std, n (and the thesis' method, augmentation and
    metric names as ``method``, ``augmentation``, ``thesis_metric``).
    """
    path = Path(path) if path is not None else default_thesis_path()
    if not path.is_file():
        raise FileNotFoundError(f"no thesis table at {path}; it ships with tsvq as "
                                "tsvq/reference/thesis_results.csv")
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
    empty = pd.DataFrame(columns=["setting", "metric", "tsvq", "thesis", "tsvq_mean", "thesis_mean", "difference",
                                  "within_thesis_std"])
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
                         "thesis_mean": float(r["mean"]), "difference": m - float(r["mean"]),
                         "within_thesis_std": bool(abs(m - float(r["mean"])) <= float(r["std"]))})
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


def coverage(stage1: pd.DataFrame, stage2: pd.DataFrame, peer: pd.DataFrame | None = None,
             available=()) -> pd.DataFrame:
    """What has been run, one row per dataset and profile with results, and one per dataset of ``available``
    (rows of :func:`tsvq.data.list_datasets`) without any, so that a missing dataset shows as missing.

    Columns: the dataset's TRAIN / TEST sizes, length and classes (where ``available`` knows them), the seeds
    of the stage-1 grid, its tokenizer runs, the seeds with all seven settings, the stage-2 runs (settings ×
    priors × seeds, with the priors), the peer runs and the hours spent training tokenizers and priors
    (``train_seconds`` of the rows that record it; evaluation not counted); "–" where nothing ran.
    """
    from .experiments import STAGE1_SETTINGS
    from .identity import Setting

    n_settings = len(STAGE1_SETTINGS)
    grid = {Setting(*s).name for s in STAGE1_SETTINGS}
    info = {r["name"]: r for r in available if not r.get("error")}
    keys = set()
    for t in (stage1, stage2, peer):
        if t is not None and not t.empty:
            keys |= set(zip(t["dataset"], t["profile"]))
    rows = []
    for d, p in sorted(keys) + [(d, None) for d in sorted(set(info) - {k[0] for k in keys})]:
        r = {"dataset": d, "profile": p or "–"}
        meta = info.get(d, {})
        r["TRAIN / TEST"] = f"{meta['n_train']} / {meta['n_test']}" if meta else "–"
        r.update({k: meta.get(k, "–") for k in ("length", "n_classes")})
        s1 = stage1[(stage1["dataset"] == d) & (stage1["profile"] == p)] if not stage1.empty and p else stage1.iloc[0:0]
        full = s1[s1["setting"].isin(grid)].groupby("seed")["setting"].nunique() if not s1.empty else pd.Series()
        r["stage1_seeds"] = ", ".join(str(s) for s in sorted(s1["seed"].unique())) if not s1.empty else "–"
        r["tokenizer_runs"] = len(s1) if not s1.empty else "–"
        r["seeds_with_all_7"] = int((full == n_settings).sum()) if not s1.empty else "–"
        s2 = stage2[(stage2["dataset"] == d) & (stage2["profile"] == p)] if not stage2.empty and p else stage2.iloc[0:0]
        r["prior_runs"] = f"{len(s2)} ({', '.join(sorted(s2['prior'].unique()))})" if not s2.empty else "–"
        pe = (peer[(peer["dataset"] == d) & (peer["profile"] == p)]
              if peer is not None and not peer.empty and p else pd.DataFrame())
        r["peer_runs"] = len(pe) if not pe.empty else "–"
        spent = [t["train_seconds"].sum() for t in (s1, s2) if not t.empty and "train_seconds" in t]
        r["training_hours"] = round(sum(spent) / 3600, 2) if spent else "–"
        rows.append(r)
    return pd.DataFrame(rows).set_index(["dataset", "profile"]) if rows else pd.DataFrame()


PEER_METRICS = {"fid": False, "kid": False, "rocket_fid": False, "is_mean": True, "copy_rate": None}
TSVQ_PEER = "tsvq (naive, token prior)"


def peer_tests(stage2: pd.DataFrame, peer: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """tsvq's naive tokenizer with the token prior beside a peer implementation (``peer.csv`` rows), per
    dataset and profile: the mean ± std of each unconditional-sample metric per model, and the paired (seed)
    test of tsvq minus the peer, with Holm over the metrics of one dataset and profile. Both are scored by
    the evaluator of each seed against real TEST at equal size; on the evaluator's metrics a seed whose two
    runs met different evaluators is left out (:func:`paired_test`). Returns (cells, tests); empty when no
    dataset has both."""
    empty = pd.DataFrame(), pd.DataFrame()
    if stage2.empty or peer.empty:
        return empty
    ours = stage2[(stage2["setting"] == "naive") & (stage2["prior"] == "token")].assign(model=TSVQ_PEER)
    theirs = peer.assign(model=peer["peer"])
    both = pd.concat([ours, theirs], ignore_index=True)
    both = both[both.groupby(["dataset", "profile"])["model"].transform("nunique") > 1]
    if both.empty:
        return empty
    metrics = [m for m in PEER_METRICS if m in ours.columns and m in theirs.columns]
    cells = summarize(both, metrics, by=("dataset", "profile", "model"), cells_only=True)
    tests = compare_family(both, metrics, baseline=theirs["model"].iloc[0], by="model")
    return cells, tests[tests["model"] == TSVQ_PEER]


# What differs between tsvq's measurement of a metric and the thesis' (tsvq/reference/README.md), per metric,
# and what a profile changes beside it: the reasons a number may sit outside the thesis' std.
THESIS_DIFFERENCES = {
    "svm_accuracy": "the thesis probed in training mode (TEST batches updated the BatchNorm statistics and the "
                    "codebook) and selected on TEST; tsvq probes in evaluation mode and selects on VAL",
    "perplexity": "tsvq counts the codes of all of TEST in evaluation mode",
    "recon_loss": "the thesis' number is the time + STFT error of its last TEST batch, tsvq's the mean over all "
                  "of TEST",
    "fid": "the thesis scored samples with downloaded pretrained weights, tsvq with its own FCN trained on TRAIN per "
           "seed, so the two feature spaces (and FID scales) differ; the thesis' naive row comes from its token prior "
           "with the inverted masking schedule",
    "is_mean": "the thesis split samples into consecutive chunks without shuffling (near one class each on "
               "class-sorted data); tsvq shuffles first, with its own evaluator",
    "cas": "the thesis reported a moving average of TEST-batch accuracies during training; tsvq the final TEST "
           "accuracy of an FCN trained on at least 1000 synthetic series",
}
THESIS_DIFFERENCES["knn_accuracy"] = THESIS_DIFFERENCES["svm_accuracy"]


def profile_differences(profile: str) -> str:
    """What ``profile`` changes against the thesis' settings (the ``paper`` profile), read from the configs."""
    from dataclasses import replace

    from .config import get_config

    c, t = get_config(profile), get_config("paper")
    if c == replace(t, profile=profile):
        return f"the `{profile}` profile trains the thesis' networks for its epochs, with its codebook"
    steps = f" and at most {c.stage1.max_steps} steps" if c.stage1.max_steps else ""
    codebook = (f"a codebook started from {c.tokenizer.codebook_init} latents"
                + (" that re-seeds dead codes" if c.tokenizer.dead_code_threshold > 0 else ""))
    return (f"the `{profile}` profile trains tokenizers of {c.tokenizer.hidden_dim} channels and "
            f"{c.tokenizer.n_res_blocks} residual blocks against {t.tokenizer.hidden_dim} and "
            f"{t.tokenizer.n_res_blocks}, "
            f"for {c.stage1.epochs} epochs{steps} against {t.stage1.epochs}, with {codebook}; priors "
            f"{c.prior.hidden_dim} wide and {c.prior.depth} deep against {t.prior.hidden_dim} and {t.prior.depth}")


def thesis_agreement(*comparisons: pd.DataFrame) -> pd.DataFrame:
    """How many of the thesis' numbers tsvq's mean reproduces within the thesis' std, per profile and metric
    (rows of :func:`compare_all_with_thesis`), with how many of tsvq's means lie above the thesis' and the
    median difference, and a total row per profile."""
    parts = [c.reset_index() for c in comparisons if c is not None and not c.empty]
    cols = ["profile", "metric", "compared", "within_thesis_std", "tsvq_higher", "median_difference"]
    if not parts:
        return pd.DataFrame(columns=cols)
    df = pd.concat(parts)
    df["tsvq_higher"] = df["difference"] > 0
    out = (df.groupby(["profile", "metric"], sort=False)
           .agg(compared=("difference", "size"), within_thesis_std=("within_thesis_std", "sum"),
                tsvq_higher=("tsvq_higher", "sum"), median_difference=("difference", "median")).reset_index())
    total = out.groupby("profile", sort=False)[["compared", "within_thesis_std", "tsvq_higher"]].sum().reset_index()
    out = pd.concat([out, total.assign(metric="all", median_difference=np.nan)], ignore_index=True)
    return out[cols].astype({"compared": int, "within_thesis_std": int, "tsvq_higher": int})


def describe_thesis_agreement(agreement: pd.DataFrame) -> str:
    """Markdown for :func:`thesis_agreement`: per profile, what the profile changes against the thesis, then one
    bullet per metric: how many thesis numbers tsvq reproduces, which way the others lie, and what differs
    between the two measurements of that metric."""
    lines = []
    for profile, part in agreement[agreement["metric"] != "all"].groupby("profile", sort=False):
        lines += ["", f"Beside every metric below, {profile_differences(profile)}.", ""]
        for _, r in part.iterrows():
            n, within, higher = int(r["compared"]), int(r["within_thesis_std"]), int(r["tsvq_higher"])
            text = (f"- profile `{profile}`, **{_word(r['metric'])}**: {within} of {n} within the thesis' std; "
                    f"tsvq's mean above the thesis' in {higher} of {n} (median difference "
                    f"{r['median_difference']:+.3g})")
            why = THESIS_DIFFERENCES.get(r["metric"])
            lines.append(text + (f". What differs: {why}." if why else "."))
    return "\n".join(lines).strip()


# ----------------------------------------------------------------------------------------------- findings

# Short names of the metrics for the finding boxes (the figures' longer labels are in ``tsvq.plots.LABELS``).
WORDS = {
    "svm_accuracy": "SVM accuracy", "knn_accuracy": "KNN accuracy", "test_time_mse": "TEST reconstruction MSE",
    "perplexity": "codebook perplexity", "fid": "FID", "rocket_fid": "ROCKET-FID", "kid": "KID",
    "is_mean": "Inception Score", "cas": "CAS", "copy_rate": "copy rate", "best_val_loss": "best VAL prior loss",
    "recon_loss": "TEST time + STFT error", "context_gain": "context gain (nats per token)",
    "epochs_to_reference": "epochs to naive's final VAL loss",
}


GROUP_WORDS = {"setting": "SSL setting", "aug": "augmentation", "prior": "prior", "cell": "cell"}


def _word(metric: str) -> str:
    return WORDS.get(metric, metric.replace("_", " "))


def _direction(r, pref) -> str:
    """", higher (better)" and the like, only for a verdict other than "no evidence"."""
    if r["verdict"] == "no evidence" or not np.isfinite(r["difference"]) or r["difference"] == 0:
        return ""
    up = r["difference"] > 0
    return f", {'higher' if up else 'lower'}" + ("" if pref is None else " (better)" if up == bool(pref) else " (worse)")


def _effect(r, by: str, name: bool = True) -> str:
    """``"vibcreg-slice +0.044 (95 % CI +0.02 to +0.06, n = 5): supported"`` (the group's name only with ``name``)."""
    return (f"{str(r[by]) + ' ' if name else ''}{_f(r['difference'], True)} (95 % CI {_f(r['ci_low'], True)} to {_f(r['ci_high'], True)}, "
            f"n = {r['n']}): **{r['verdict']}**")


def _where(r, keys) -> str:
    return "".join(f", {'under the ' + str(r[k]) + ' prior' if k == 'prior' else f'{k} {r[k]}'}" for k in keys)


def finding_lines(tests: pd.DataFrame, metrics, *, by: str = "setting", baseline: str = "naive",
                  per: str = "metric") -> list[str]:
    """The answer of a :func:`compare_family` table in a few lines, every number and word computed.

    ``metrics``: {metric: higher_is_better} (its order is the order told; metrics absent are skipped).
    ``per="metric"``: one line per metric (and ``within`` group, e.g. prior): with one compared group its
    difference, 95 % interval and verdict; with several, the verdict counts, the range of differences and
    the most favourable group (largest in the better direction; largest in size where neither is better)
    with its interval and verdict. ``per="group"``: one line per ``by`` group with a clause per metric.
    Comparisons with fewer than two paired seeds are told as such, without a verdict.
    """
    if tests.empty:
        return []
    order = [m for m in metrics if (tests["metric"] == m).any()]
    t = tests[tests["metric"].isin(order)]
    keys = [c for c in t.columns if c not in _STATS and c not in (by, "effect") and t[c].notna().any()
            and (c not in FAMILY or t[c].nunique() > 1)]
    lines = []
    if per == "group":
        for key, part in t.groupby(keys + [by], sort=False, dropna=False):
            key = key if isinstance(key, tuple) else (key,)
            r0 = dict(zip(keys + [by], key))
            clauses = []
            for m in order:
                rows = part[part["metric"] == m].to_dict("records")
                if not rows:
                    continue
                r = rows[0]
                if r["n"] < 2:
                    clauses.append(f"{_word(m)} {_f(r['difference'], True)} (one paired seed: no test)")
                else:
                    clauses.append(f"{_word(m)} {_f(r['difference'], True)} (95 % CI {_f(r['ci_low'], True)} to "
                                   f"{_f(r['ci_high'], True)}): **{r['verdict']}**{_direction(r, metrics.get(m))}")
            lines.append(f"{r0[by]} − {baseline}{_where(r0, keys)} (n = {part['n'].max()}): " + "; ".join(clauses))
        return lines
    for key, part in t.groupby(keys + ["metric"], sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        *where, metric = key
        pref = metrics.get(metric)
        rows = part.to_dict("records")
        head = f"{_word(metric)}{_where(dict(zip(keys, where)), keys)} ({baseline} {_f(part['baseline_mean'].iloc[0])})"
        testable = [r for r in rows if r["n"] >= 2]
        if not testable:
            lines.append(f"{head}: no paired test, fewer than two seeds shared with {baseline}")
            continue
        untested = len(rows) - len(testable)
        rest = f" ({untested} other{'s' if untested != 1 else ''} with one paired seed: no test)" if untested else ""
        if len(testable) == 1:
            r = testable[0]
            lines.append(f"{head}: {r[by]} − {baseline} {_effect(r, by, name=False)}{_direction(r, pref)}{rest}")
            continue
        d = np.array([r["difference"] for r in testable])
        sign = 1 if pref is None else (1 if pref else -1)
        best = max(testable, key=lambda r: abs(r["difference"]) if pref is None else sign * r["difference"])
        words = pd.Series([r["verdict"] for r in testable]).value_counts()
        counts = ", ".join(f"{words.get(w, 0)} {w}" for w in ("supported", "suggestive", "no evidence"))
        noun = GROUP_WORDS.get(by, by)
        lines.append(f"{head}: {'SSL' if by == 'setting' else by} − {baseline} from {_f(d.min(), True)} to "
                     f"{_f(d.max(), True)} over {len(testable)} {noun}s ({counts}); {'largest' if pref is None else 'most favourable'}: "
                     f"{_effect(best, by)}{_direction(best, pref)}{rest}")
    return lines


MARKS = {"supported": " ●", "suggestive": " ◐", "no evidence": ""}
MARK_LEGEND = "● supported, ◐ suggestive, no mark: no evidence; – not run or one paired seed"


def _marked(r) -> str:
    """A test row's mean paired difference with its verdict's mark; "–" without a test (fewer than 2 seeds)."""
    if r["n"] < 2 or not np.isfinite(r["difference"]):
        return "–"
    return _f(r["difference"], True) + MARKS.get(r["verdict"], "")


def verdict_grid(tests: pd.DataFrame, metric: str, *, by: str = "setting", order=None) -> pd.DataFrame:
    """One metric of a :func:`compare_family` table as a grid: a row per family (and ``within`` group, e.g. the
    prior), a column per ``by`` group (in ``order``, default as they appear), each cell the mean paired
    difference to the baseline with the verdict's mark (:data:`MARKS`), "–" where there is no test."""
    t = tests[tests["metric"] == metric] if not tests.empty else tests
    if t.empty:
        return pd.DataFrame()
    rows = [c for c in t.columns if c not in _STATS and c not in (by, "effect") and t[c].notna().any()]
    cells = t.assign(cell=[_marked(r) for r in t.to_dict("records")])
    grid = cells.set_index(rows + [by])["cell"].unstack(by).fillna("–")
    grid = grid[[c for c in (order or pd.unique(t[by])) if c in grid.columns]]
    grid.columns = list(grid.columns)
    return grid.reindex(pd.unique(pd.MultiIndex.from_frame(t[rows])) if len(rows) > 1 else pd.unique(t[rows[0]]))


def verdict_counts(tests: pd.DataFrame, metrics) -> str:
    """"KNN accuracy: 2 supported, 5 suggestive, 98 no evidence; …" over the tested rows of ``metrics``."""
    out = []
    for m in metrics:
        t = tests[(tests["metric"] == m) & (tests["n"] >= 2)] if not tests.empty else tests
        if len(t):
            w = t["verdict"].value_counts()
            out.append(f"{_word(m)}: " + ", ".join(f"{w.get(v, 0)} {v}" for v in ("supported", "suggestive",
                                                                                  "no evidence")))
    return "; ".join(out)


RULE = ("Verdicts: **supported** (Holm p < 0.05 and the 95 % interval excludes 0), **suggestive** (only the "
        "uncorrected p < 0.05), **no evidence** (otherwise).")


def finding_box(lines, *, lead: str = "", empty: str = "no results yet for this dataset and profile",
                caveat: str = "", rule: bool = True, title: str = "Finding") -> str:
    """A MyST admonition holding ``lead`` and ``lines`` as a list (``empty`` when there are none), then the verdict
    rule (with ``rule`` and lines) and ``caveat``."""
    lines = list(lines)
    body = (f"{lead}\n\n" if lead and lines else "") + (markdown_list(lines) if lines else empty[:1].upper() + empty[1:] + ".")
    if rule and lines:
        body += f"\n\n*{RULE}*"
    if caveat:
        body += f"\n\n{caveat}"
    return f"```{{admonition}} {title}\n:class: tip\n{body}\n```"


def _caveat(tests: pd.DataFrame, profile=None) -> str:
    if tests.empty or (tests["n"] < 2).all():
        return ""
    if profile == "smoke" or ("profile" in tests and (tests["profile"] == "smoke").any()):
        return "*Smoke profile: these numbers show that the pipeline runs; they are not a result.*"
    if tests["n"].max() < 3:
        return (f"*At most {int(tests['n'].max())} paired seeds: a claim needs at least three (see the design), so "
                "read these as indicative.*")
    return ""


def finding(tests: pd.DataFrame, metrics, *, by: str = "setting", baseline: str = "naive", per: str = "metric",
            lead: str = "", profile=None, title: str = "Finding") -> str:
    """A chapter's answer box (MyST admonition markdown) from a :func:`compare_family` table: :func:`finding_lines`
    under ``lead``, with the verdict rule's words, or a sentence saying that there are no results or too few
    seeds for a test, and a caveat for the smoke profile or fewer than three seeds."""
    lines = finding_lines(tests, metrics, by=by, baseline=baseline, per=per)
    few = not tests.empty and (tests["n"] < 2).all()
    if few:
        lines = [f"no paired test yet: each comparison has {int(tests['n'].max())} seed shared with {baseline}, "
                 "a test needs at least two"]
    return finding_box(lines, lead=lead, caveat=_caveat(tests, profile), rule=not few, title=title)


def finding_rq5(tests: pd.DataFrame, metrics=("fid", "kid", "cas"), *, higher_is_better=RQ5_METRICS,
                profile=None, title: str = "Finding") -> str:
    """RQ5's answer box from :func:`rq5_tests`: the tokenizer's effect (SSL − naive) within each prior, then the
    thesis' diagonal (SSL + embedding − naive + token), each with its interval and verdict."""
    if tests.empty:
        return finding_box([], title=title)
    want = {m: higher_is_better.get(m) for m in metrics}
    tok = tests[tests["effect"] == "tokenizer"].drop(columns=["effect", "cell"], errors="ignore")
    diag = tests[tests["effect"] == "diagonal"].drop(columns=["effect", "setting", "prior"], errors="ignore")
    lines = [f"Tokenizer, {line}" for line in finding_lines(tok.dropna(axis=1, how="all"), want, per="group")]
    if not diag.empty:
        lines += [f"Thesis' diagonal, {line}" for line in
                  finding_lines(diag.dropna(axis=1, how="all"), want, by="cell", baseline="naive + token", per="group")]
    else:
        lines.append("Thesis' diagonal: not available (it needs both priors)")
    sub = tests[tests["metric"].isin(list(metrics))]
    if not sub.empty and (sub["n"] < 2).all():
        return finding(sub, want, profile=profile, title=title)
    return finding_box(lines, lead="The SSL tokenizer of the 2 × 2 against the naive one within each prior, and "
                       "the thesis' diagonal pairing, on the same seeds:", caveat=_caveat(sub, profile), title=title)


def limitations(stage1: pd.DataFrame, stage2: pd.DataFrame) -> list[str]:
    """What the answers rest on, per profile: datasets with tokenizer and with prior results, the seeds behind
    them (fewest and most per dataset), and the datasets with fewer than the five seeds a conclusion needs."""
    lines = []
    for name, table in (("tokenizer (stage 1)", stage1), ("prior (stage 2)", stage2)):
        if table.empty:
            lines.append(f"{name}: no results yet")
            continue
        for prof, part in table.groupby("profile"):
            seeds = part.groupby("dataset")["seed"].nunique()
            few = sorted(seeds[seeds < 5].index)
            lines.append(f"{name}, profile `{prof}`: {len(seeds)} dataset{'s' if len(seeds) != 1 else ''} "
                         f"({', '.join(sorted(seeds.index))}), {seeds.min()}–{seeds.max()} seeds per dataset"
                         + (f"; fewer than 5 seeds on {', '.join(few)}" if few else ""))
    return lines


def verdict_groups(top: pd.DataFrame) -> str:
    """The rows of :func:`headline` grouped by their verdict, in one sentence per verdict: what the table beside
    it says, read by the rule (each row's metric, prior where it has one, and whether the VAL-chosen setting is
    better or worse than naive by the median difference, with its p-values)."""
    if top.empty:
        return ""

    def name(r):
        prior = r.get("prior", "–")
        what = _word(r["metric"]) + ("" if prior in ("–", None) or pd.isna(prior) else f", {prior} prior")
        what = f"{what} ({r['profile']})" if several else what
        d = r["median_difference"]
        if r["verdict"] == "no evidence" or not np.isfinite(d) or d == 0:
            return what
        better = (d > 0) == (r["better"] == "higher")
        return f"{what} ({'better' if better else 'worse'}; p {_p(r['p_value'])}, Holm p {_p(r['p_holm'])})"

    several = "profile" in top and top["profile"].nunique() > 1
    rows = top.to_dict("records")
    parts = []
    for v in ("supported", "suggestive", "no evidence"):
        got = [name(r) for r in rows if r["verdict"] == v]
        parts.append(f"*{v}*: " + ("; ".join(got) if got else "none"))
    return "By the rule: " + ". ".join(parts) + "."


def brief_lines(tests: pd.DataFrame, metric: str, higher_is_better, *, by: str = "setting",
                baseline: str = "naive", noun: str | None = None) -> list[str]:
    """One metric of a :func:`compare_family` table over all its datasets in one line per ``within`` group (e.g.
    prior): the datasets where some ``by`` group is better than ``baseline`` by the strongest verdict it reaches
    (with how many of the groups reach it), those where some group is worse, and those with no evidence either
    way. ``higher_is_better`` None: "higher" / "lower" instead of better / worse."""
    t = tests[(tests["metric"] == metric) & (tests["n"] >= 2)] if not tests.empty else tests
    if t.empty:
        return []
    family = [c for c in FAMILY if c in t.columns]
    varying = [c for c in family if t[c].nunique() > 1 and c != "dataset"]
    within = [c for c in t.columns if c not in _STATS and c not in family and c not in (by, "effect", "cell")
              and t[c].notna().any()]
    up_word, down_word = ("better", "worse") if higher_is_better is not None else ("higher", "lower")
    lines = []
    for key, part in (t.groupby(within, sort=False) if within else [((), t)]):
        key = key if isinstance(key, tuple) else (key,)
        where = "".join(f", {v} prior" if k == "prior" else f", {k} {v}" for k, v in zip(within, key))
        sides = {up_word: {"supported": [], "suggestive": []}, down_word: {"supported": [], "suggestive": []}}
        quiet = []
        for fam, g in part.groupby(family, sort=True):
            fam = fam if isinstance(fam, tuple) else (fam,)
            name = str(fam[0]) + "".join(f" ({fam[family.index(c)]})" for c in varying)
            said = False
            for side in (up_word, down_word):
                up = side == up_word
                good = (g["difference"] > 0) == (up if higher_is_better in (True, None) else not up)
                for v in ("supported", "suggestive"):
                    k = int(((g["verdict"] == v) & good).sum())
                    if k:
                        sides[side][v].append(f"{name} ({k} of {len(g)})" if len(g) > 1 else name)
                        said = True
                        break
            if not said:
                quiet.append(name)
        clauses = []
        for side in (up_word, down_word):
            got = [f"{v} on {', '.join(sides[side][v])}" for v in ("supported", "suggestive") if sides[side][v]]
            clauses.append(f"{side}: " + ("; ".join(got) if got else "nowhere"))
        n = part.groupby(family).ngroups
        plural = "s" if n != 1 else ""
        head = f"{_word(metric)}{where}, {noun or GROUP_WORDS.get(by, by)} − {baseline} over {n} dataset{plural} — "
        if len(quiet) == n:
            lines.append(head + f"no evidence either way ({', '.join(quiet)}).")
            continue
        lines.append(head + "; ".join(clauses) + (f"; no evidence either way on {', '.join(quiet)}" if quiet else "")
                     + ".")
    return lines


def tldr(stage1: pd.DataFrame, stage2: pd.DataFrame, selection: pd.DataFrame | None = None) -> str:
    """The five answers in brief, as markdown: per research question and metric one line over all datasets
    (:func:`brief_lines`), each from the same test family as that question's chapter, with the verdict words of
    the rule; "(k of m)" counts the settings reaching the verdict. With ``selection``, first the answer across
    datasets (:func:`headline`, :func:`verdict_groups`)."""

    def rq1(table):
        tests = compare_family(table, RQ1_METRICS)
        return brief_lines(tests, "knn_accuracy", True) + brief_lines(tests, "test_time_mse", False)

    def rq2(table):
        tests = compare_family(per_augmentation(table, RQ2_METRICS), RQ2_METRICS, baseline="none", by="aug")
        return brief_lines(tests, "knn_accuracy", True, by="aug")

    def rq3(table):
        return brief_lines(rq3_tests(table), "context_gain", True)

    def rq4(table):
        tests = compare_family(table, RQ4_METRICS, within="prior")
        return [line for m, pref in (("fid", False), ("cas", True)) for line in brief_lines(tests, m, pref)]

    def rq5(table):
        tests = rq5_tests(table)
        if tests.empty:
            return []
        diag = tests[tests["effect"] == "diagonal"].drop(columns=["effect", "setting", "prior"], errors="ignore")
        return [f"the thesis' diagonal, {line}" for m, pref in (("fid", False), ("cas", True))
                for line in brief_lines(diag, m, pref, by="cell", baseline="naive + token prior",
                                        noun="SSL + embedding prior")]

    sections = [
        ("RQ1 — do SSL tokens classify better, and still reconstruct?", stage1, rq1),
        ("RQ2 — which augmentation helps (mean over the SSL losses, against naive)?", stage1, rq2),
        ("RQ3 — do SSL tokens make the prior's job easier (context gain)?", stage2, rq3),
        ("RQ4 — do SSL tokens give better samples (FID, CAS), within each prior?", stage2, rq4),
        ("RQ5 — the full 2 × 2 of tokenizer and prior", stage2, rq5),
    ]
    out = []
    top = headline(stage1, stage2, selection) if selection is not None else pd.DataFrame()
    if not top.empty:
        out.append("**Across datasets — the SSL setting chosen on VAL for each dataset, against naive**\n")
        out.append(f"- {verdict_groups(top)}")
        out.append("")
    for title, table, fn in sections:
        out.append(f"**{title}**\n")
        got = fn(table) if not table.empty else []
        out += [f"- {line}" for line in got] or ["- no results yet"]
        out.append("")
    return "\n".join(out)


# ----------------------------------------------------------------------------------------------- overview


def overview_tests(stage1: pd.DataFrame, stage2: pd.DataFrame, *, stage1_metrics=("knn_accuracy", "svm_accuracy",
                   "test_time_mse"), stage2_metrics=("fid", "kid", "cas")) -> pd.DataFrame:
    """SSL − naive per dataset and profile for the summary's overview: the RQ1 family's tests on ``stage1``
    (``stage="tokenizer"``, one row per SSL setting) and the RQ4 family's on ``stage2`` (``stage="prior"``, per
    prior), each with Holm over its chapter's family, stacked; ``row`` names the dataset (and profile when
    several profiles are present)."""
    parts = []
    if not stage1.empty:
        parts.append(compare_family(stage1, RQ1_METRICS).assign(stage="tokenizer"))
    if not stage2.empty:
        parts.append(compare_family(stage2, RQ4_METRICS, within="prior").assign(stage="prior"))
    parts = [p[p["metric"].isin(list(stage1_metrics) + list(stage2_metrics))] for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame(columns=["stage", "row", "metric", "setting", "difference", "ci_low", "ci_high",
                                     "verdict"])
    t = pd.concat(parts, ignore_index=True)
    several = "profile" in t and t["profile"].nunique() > 1
    t["row"] = [f"{d} ({p})" if several else str(d) for d, p in zip(t["dataset"], t.get("profile", t["dataset"]))]
    return t


def cd_scores(stage1: pd.DataFrame, metric: str = "knn_accuracy", *, profile: str | None = None,
              settings=None) -> tuple[pd.DataFrame, list[str]]:
    """The (dataset × setting) table of mean ``metric`` over seeds for a critical-difference diagram, only the
    datasets that have every one of ``settings`` (default: every setting in ``stage1``), and the datasets left
    out for a missing setting. ``profile`` picks the profile (default: the one with most complete datasets; it
    is kept in ``table.attrs["profile"]``)."""
    if stage1.empty or metric not in stage1:
        return pd.DataFrame(), []
    settings = list(settings) if settings is not None else list(dict.fromkeys(stage1["setting"]))
    if profile is None and "profile" in stage1:
        complete = {p: sum(set(settings) <= set(g["setting"]) for _, g in part.groupby("dataset"))
                    for p, part in stage1.groupby("profile")}
        profile = max(complete, key=complete.get)
    part = stage1[stage1["profile"] == profile] if profile is not None and "profile" in stage1 else stage1
    means = part[part["setting"].isin(settings)].groupby(["dataset", "setting"])[metric].mean().unstack("setting")
    means = means.reindex(columns=settings)
    full = means.dropna()
    full.attrs["profile"] = profile
    return full, sorted(set(means.index) - set(full.index))
