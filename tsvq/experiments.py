"""Experiment grids behind the book's chapters: the rows of every unit of work, resumable and written safely.

A unit is one run (:class:`~tsvq.identity.RunId`): a tokenizer for stage 1, a prior and its evaluation for
stage 2. Each finished unit writes its rows as a part of ``results/<dataset>/<profile>/<table>.csv``
(:mod:`tsvq.results`), and the parts are merged into the table. A unit whose row is already there with the
same ``config_hash`` (the cache key of its weights) and ``eval_hash`` (the evaluation settings and code
version) is not run again; rows of an outdated config are recognised by :func:`current_rows` and left out.
Models come from the on-disk cache, so an interrupted batch continues where it stopped.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .config import EvalConfig
from .data import UCRDataset
from .identity import PRIORS as PRIOR_CONFIGS
from .identity import RunId, Setting
from .results import load_table, merge_parts, provenance, read_table, results_path, write_part, write_table
from .utils import config_hash

# (ssl method, augmentation): the naive tokenizer and the thesis' SSL settings
STAGE1_SETTINGS = [("none", "none")] + [(m, a) for m in ("barlowtwins", "vibcreg") for a in ("warp", "slice", "gauss")]
# Every stage-1 setting goes through stage 2, so RQ4 compares augmentations and RQ5 has the full 2 × 2.
STAGE2_SETTINGS = list(STAGE1_SETTINGS)
PRIORS = ("token", "embedding")  # the priors of DESIGN.md; "token_thesis" is the thesis' token prior (ablation)
ALL_PRIORS = tuple(PRIOR_CONFIGS)

# Bumped whenever the code of a metric changes what a row holds (1: IS shuffled before splitting, KID, copy
# rate, equal-size sets, CAS on >= 1000 series, priors at their best VAL loss).
EVAL_VERSION = 1

KEYS = {
    "stage1.csv": ["dataset", "profile", "seed", "setting"],
    "selection.csv": ["dataset", "profile", "seed", "setting"],
    "feature_probes.csv": ["dataset", "profile", "seed", "setting", "features"],
    "stage2.csv": ["dataset", "profile", "seed", "setting", "prior"],
    "prior_curves.csv": ["dataset", "profile", "seed", "setting", "prior", "epoch"],
    "samples.csv": ["dataset", "profile", "seed", "setting", "prior", "label", "sample"],
    "reference_quality.csv": ["dataset", "profile", "seed", "reference"],
    "peer.csv": ["dataset", "profile", "seed", "peer"],
}

# Another implementation trained at a profile's step budget and scored by tsvq's evaluator
# (benchmarks/timevqvae_peer.py writes its rows to peer.csv).
PEER = "TimeVQVAE 1.0.1"


def table_keys(table: str) -> list[str]:
    """The key columns of a result table (a side table of stage-1 rows has the stage-1 keys)."""
    return KEYS.get(table, KEYS["stage1.csv"])


def as_setting(setting) -> Setting:
    """A :class:`Setting` from a Setting, its name, or a tuple ``(ssl, aug[, {overrides}])``."""
    if isinstance(setting, Setting):
        return setting
    if isinstance(setting, str):
        return Setting.parse(setting)
    ssl, aug, *rest = setting
    return Setting(ssl, aug, tuple((rest[0] if rest else {}).items()))


def setting_name(ssl: str, aug: str, ssl_overrides: dict | None = None) -> str:
    """"naive", "vibcreg-slice", or with overrides e.g. "vibcreg-slice-weight0.1"."""
    return Setting(ssl, aug, tuple((ssl_overrides or {}).items())).name


def stage1_config(profile: str, ssl: str, aug: str, ssl_overrides: dict | None = None, **sections):
    """The config of one setting. ``ssl_overrides`` keys are SSLConfig fields, ``stage1_<field>`` /
    ``stage2_<field>`` for a stage's TrainConfig or ``tokenizer_<field>`` for the TokenizerConfig (e.g.
    ``{"weight": 0.1, "stage1_min_steps": 800, "tokenizer_hidden_dim": 64}``)."""
    return Setting(ssl, aug, tuple((ssl_overrides or {}).items())).config(profile, **sections)


def eval_hash(cfg: EvalConfig) -> str:
    """Names the evaluation behind a row: the metric settings and :data:`EVAL_VERSION`."""
    return config_hash(cfg, EVAL_VERSION)


def _hashes(run: RunId, ds: UCRDataset) -> dict:
    h = {"config_hash": run.config_hash(ds)}
    if run.prior is not None:
        h["eval_hash"] = eval_hash(run.config().eval)
    return h


def _has_row(df: pd.DataFrame, keys: dict, hashes: dict) -> bool:
    if df.empty or any(k not in df.columns for k in [*keys, *hashes]):
        return False
    m = pd.Series(True, index=df.index)
    for k, v in {**keys, **hashes}.items():
        m &= df[k].astype(str) == str(v)
    return bool(m.any())


def is_done(run: RunId, ds: UCRDataset, results_dir, table: str) -> bool:
    """Whether ``table`` holds the row of ``run`` for its current config (merged or still a part)."""
    path = results_path(results_dir, run.dataset, run.profile, table)
    return _has_row(load_table(path, table_keys(table)), run.keys(), _hashes(run, ds))


def peer_budget(ds: UCRDataset, cfg) -> dict:
    """The training steps tsvq's naive tokenizer and token prior get at ``cfg`` on ``ds`` (stage 1, stage 2),
    which a peer implementation gets too, with the stage-2 batch size."""
    from .train import n_epochs

    def steps(train_cfg) -> int:
        return n_epochs(train_cfg, ds.meta.n_train) * max(1, -(-ds.meta.n_train // train_cfg.batch_size))

    return {"stage1_steps": steps(cfg.stage1), "stage2_steps": steps(cfg.stage2),
            "batch_size": min(cfg.stage2.batch_size, ds.meta.n_train)}


def peer_hashes(ds: UCRDataset, cfg) -> dict:
    """``config_hash`` (the peer, its budget, the data) and ``eval_hash`` of a current ``peer.csv`` row."""
    return {"config_hash": config_hash({"peer": PEER, **peer_budget(ds, cfg), "fingerprint": ds.meta.fingerprint}),
            "eval_hash": eval_hash(cfg.eval)}


def write_peer_row(results_dir, row: dict) -> None:
    """One (dataset, seed) of a peer, written as a part and merged into ``peer.csv``."""
    path = results_path(results_dir, row["dataset"], row["profile"], "peer.csv")
    write_part(path, f"{row['dataset']}__{row['profile']}__seed{row['seed']}__peer", [row])
    merge_parts(path, KEYS["peer.csv"])


def current_rows(df: pd.DataFrame, ds: UCRDataset) -> pd.DataFrame:
    """The rows of ``df`` (one dataset) whose ``config_hash`` (and ``eval_hash``, where the table has it)
    match what the current code and profile would produce: rows of an outdated config, or without a hash,
    are left out."""
    if df.empty or "config_hash" not in df.columns:
        return df.iloc[0:0]
    if "peer" in df.columns:  # peer.csv: the budget and evaluation of each row's profile
        from .config import get_config

        want_peer = {p: peer_hashes(ds, get_config(p)) for p in df["profile"].drop_duplicates()}
        keep = [all(str(r[k]) == v for k, v in want_peer[r["profile"]].items()) for _, r in df.iterrows()]
        return df[np.array(keep, dtype=bool)].reset_index(drop=True)
    anchors = "reference" in df.columns  # reference_quality.csv names its tokenizer
    wanted: dict[tuple, dict | None] = {}

    def want(seed, setting, prior, profile) -> dict | None:
        key = (seed, setting, prior, profile)
        if key not in wanted:
            try:
                run = RunId(ds.meta.name, int(seed), Setting.parse(setting), prior, profile)
                wanted[key] = _hashes(run, ds) | ({"eval_hash": eval_hash(run.config().eval)} if anchors else {})
            except ValueError:
                wanted[key] = None
        return wanted[key]

    keep = []
    for r in df.to_dict("records"):
        prior = r.get("prior")
        prior = None if prior is None or (isinstance(prior, float) and np.isnan(prior)) else prior
        w = want(r.get("seed"), r.get("tokenizer") if anchors else r.get("setting"), prior, r.get("profile"))
        keep.append(w is not None and all(str(r.get(k, "")) == v for k, v in w.items() if k in df.columns))
    return df[np.array(keep, dtype=bool)].reset_index(drop=True)


def collect_current(results_dir, name: str, data_dir=None) -> pd.DataFrame:
    """Every ``<results_dir>/<dataset>/<profile>/<name>`` stacked, each dataset's rows filtered by
    :func:`current_rows` (so a book-wide page never mixes outdated rows in); datasets that no longer load
    are left out."""
    from .data import DatasetError, load_ucr

    frames = []
    for dataset in sorted({p.parts[-3] for p in Path(results_dir).expanduser().glob(f"*/*/{name}")}):
        try:
            ds = load_ucr(dataset, data_dir)
        except DatasetError:
            continue
        for path in sorted(Path(results_dir).expanduser().glob(f"{dataset}/*/{name}")):
            frames.append(current_rows(load_table(path, table_keys(name)), ds))
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def write_unit(run: RunId, results_dir, tables: dict[str, list[dict]], *, merge: bool = True) -> None:
    """Write the rows of one finished unit (one part per table), then fold the parts into the tables."""
    for table, rows in tables.items():
        path = results_path(results_dir, run.dataset, run.profile, table)
        write_part(path, str(run).replace("/", "__"), rows)
        if merge:
            merge_parts(path, table_keys(table))


def _plan(ds: UCRDataset, *, profile: str, seeds, settings, priors=(None,)) -> list[RunId]:
    return [RunId(ds.meta.name, seed, as_setting(s), prior, profile)
            for seed in seeds for s in settings for prior in priors]


# ----------------------------------------------------------------------------------------------- stage 1


def stage1_rows(run: RunId, ds: UCRDataset, *, device=None, progress: bool = True) -> dict[str, list[dict]]:
    """Train (or load) the tokenizer of ``run``: TEST reconstruction, codebook statistics and probes."""
    from .probe import codebook_stats, probe
    from .train import evaluate_reconstruction, n_epochs, train_seconds, train_tokenizer

    cfg = run.config()
    tok = train_tokenizer(ds, cfg, seed=run.seed, device=device, progress=progress)
    rec = evaluate_reconstruction(tok.model, ds.x_test)
    stats = codebook_stats(tok.model, ds.x_test)["all"]
    row = {**run.keys(), "ssl": run.setting.ssl, "aug": run.setting.aug, "test_time_mse": rec["time_mse"],
           "test_stft_mse": rec["stft_mse"], "perplexity": stats["perplexity"], "usage": stats["usage"],
           "mean_abs_corr_off_diagonal": stats["mean_abs_corr_off_diagonal"], **probe(tok.model, ds),
           "epochs": n_epochs(cfg.stage1, len(ds.x_train)), "train_seconds": train_seconds(tok.history),
           "train_device": tok.history[-1].get("device", "cpu"),
           **provenance(device=next(tok.model.parameters()).device, **_hashes(run, ds))}
    return {"stage1.csv": [row]}


VAL_BEST = "val-best"
SELECTION_METRIC = "cv_knn_accuracy"  # what chooses the SSL setting that goes to stage 2


def val_best(selection: pd.DataFrame, seeds=None, *,
             metric: str = SELECTION_METRIC) -> tuple[str | None, list[int], list[str]]:
    """The SSL setting of the stage-1 grid with the highest mean ``metric`` (cross-validated on TRAIN ∪ VAL,
    never TEST) over ``seeds`` in the rows of one dataset and profile of ``selection.csv``, and the
    (setting, seed) pairs that are missing; no setting while any is. ``seeds=None``: the seeds on which every
    SSL setting has a row. Returns (setting, seeds used, missing)."""
    names = [Setting(*s).name for s in STAGE1_SETTINGS if s[0] != "none"]
    sel = selection[selection["setting"].isin(names)] if not selection.empty else selection
    have = set(zip(sel["setting"], sel["seed"])) if not sel.empty else set()
    if seeds is None:
        seeds = sorted(s for s in {s for _, s in have} if all((n, s) in have for n in names))
        if not seeds:
            return None, [], ["no seed with a row for every SSL setting"]
    missing = [f"{n} seed {s}" for n in names for s in seeds if (n, s) not in have]
    if missing:
        return None, list(seeds), missing
    means = sel[sel["seed"].isin(list(seeds))].groupby("setting")[metric].mean()
    return str(means.idxmax()), list(seeds), []


def val_best_setting(ds: UCRDataset, *, profile: str, seeds, results_dir="results",
                     metric: str = SELECTION_METRIC) -> Setting:
    """:func:`val_best` on the current rows of ``selection.csv`` of ``ds``: every SSL setting needs a row for
    every seed in ``seeds``, and the choice is made over every seed on which all of them have one, the same
    choice the book reports (:func:`tsvq.report.val_chosen`), so a grid run one seed at a time sends the
    same setting to stage 2 as one run over all seeds."""
    path = results_path(results_dir, ds.meta.name, profile, "selection.csv")
    sel = current_rows(load_table(path, table_keys("selection.csv")), ds)
    _, _, missing = val_best(sel, list(seeds), metric=metric)
    name, _, _ = val_best(sel, None, metric=metric)
    if missing:
        raise ValueError(f"{ds.meta.name} ({profile}): no selection row for {', '.join(missing[:6])}"
                         + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
                         + ": run the stage-1 grid (tsvq grid --stages 1) first")
    return Setting.parse(name)


def selection_rows(run: RunId, ds: UCRDataset, *, device=None, progress: bool = True, folds: int = 5):
    """Scores of a stage-1 setting on data other than TEST: cross-validated probes on TRAIN ∪ VAL and VAL
    reconstruction error (``selection.csv``); a setting is chosen here, then measured on TEST."""
    from .probe import cv_probe
    from .train import evaluate_reconstruction, n_epochs, train_seconds, train_tokenizer

    cfg = run.config()
    tok = train_tokenizer(ds, cfg, seed=run.seed, device=device, progress=progress)
    row = {**run.keys(), "ssl": run.setting.ssl, "aug": run.setting.aug,
           **cv_probe(tok.model, ds, folds=folds, seed=run.seed),
           "val_time_mse": evaluate_reconstruction(tok.model, ds.x_val)["time_mse"],
           "epochs": n_epochs(cfg.stage1, len(ds.x_train)), "train_seconds": train_seconds(tok.history),
           **provenance(device=next(tok.model.parameters()).device, **_hashes(run, ds))}
    return {"selection.csv": [row]}


def feature_probe_rows(run: RunId, ds: UCRDataset, *, device=None, progress: bool = True):
    """TEST probes on the average-pooled quantised latents and on the latents before quantisation
    (``feature_probes.csv``): how much the 32-code bottleneck costs the probes."""
    from .probe import probe
    from .train import train_tokenizer

    tok = train_tokenizer(ds, run.config(), seed=run.seed, device=device, progress=progress)
    prov = provenance(device=next(tok.model.parameters()).device, **_hashes(run, ds))
    return {"feature_probes.csv": [{**run.keys(), "ssl": run.setting.ssl, "aug": run.setting.aug,
                                    "features": "quantised" if q else "unquantised",
                                    **probe(tok.model, ds, quantised=q), **prov} for q in (True, False)]}


def _run_grid(ds, runs, table, rows_fn, *, results_dir, device, progress, **kwargs) -> pd.DataFrame:
    for run in runs:
        if not is_done(run, ds, results_dir, table):
            write_unit(run, results_dir, rows_fn(run, ds, device=device, progress=progress, **kwargs))
    path = results_path(results_dir, ds.meta.name, runs[0].profile if runs else "cpu", table)
    return current_rows(load_table(path, table_keys(table)), ds)


def run_stage1_grid(ds: UCRDataset, *, profile: str, seeds, settings=STAGE1_SETTINGS, results_dir="results",
                    device=None, progress: bool = True, table: str = "stage1.csv") -> pd.DataFrame:
    """Train (or load) every tokenizer of the grid and record TEST reconstruction, codebook and probe metrics
    in ``table`` (a side table, e.g. ``stage1_longer_training.csv``, keeps its rows apart from the grid's)."""
    runs = _plan(ds, profile=profile, seeds=seeds, settings=settings)
    return _run_grid(ds, runs, table, lambda *a, **k: {table: stage1_rows(*a, **k)["stage1.csv"]},
                     results_dir=results_dir, device=device, progress=progress)


def run_selection_grid(ds: UCRDataset, *, profile: str, seeds, settings, results_dir="results", device=None,
                       folds: int = 5, progress: bool = True) -> pd.DataFrame:
    """:func:`selection_rows` for every run of the grid (``selection.csv``)."""
    runs = _plan(ds, profile=profile, seeds=seeds, settings=settings)
    return _run_grid(ds, runs, "selection.csv", selection_rows, results_dir=results_dir, device=device,
                     progress=progress, folds=folds)


def run_feature_probes(ds: UCRDataset, *, profile: str, seeds, settings=STAGE1_SETTINGS, results_dir="results",
                       device=None, progress: bool = True) -> pd.DataFrame:
    """:func:`feature_probe_rows` for every run of the grid (``feature_probes.csv``)."""
    runs = _plan(ds, profile=profile, seeds=seeds, settings=settings)
    return _run_grid(ds, runs, "feature_probes.csv", feature_probe_rows, results_dir=results_dir, device=device,
                     progress=progress)


# ----------------------------------------------------------------------------------------------- stage 2


def nn_class_agreement(ds: UCRDataset, x_synth, y_synth) -> float:
    """Fraction of class-conditional samples that a 1-NN classifier fitted on real TRAIN assigns to the class
    they were generated for: a model-free check that conditioning works."""
    from sklearn.neighbors import KNeighborsClassifier

    knn = KNeighborsClassifier(n_neighbors=1).fit(ds.x_train[:, 0], ds.y_train)
    return float((knn.predict(x_synth[:, 0]) == y_synth).mean())


def cas_labels(ds: UCRDataset, cfg) -> np.ndarray:
    from .evaluate import cas_sample_counts

    counts = cas_sample_counts(ds.y_train, ds.meta.n_classes, cfg.eval.cas_min_samples)
    return np.repeat(np.arange(ds.meta.n_classes), counts)


def reference_subset(ds: UCRDataset, seed: int) -> np.ndarray:
    """Indices of a seeded, TRAIN-sized subset of TEST: the real set that every TRAIN-sized set (real TRAIN,
    reconstructions, as many prior samples) is compared with, so those Fréchet distances are of equal size."""
    n = min(len(ds.x_train), len(ds.x_test))
    return np.sort(np.random.default_rng(seed).choice(len(ds.x_test), n, replace=False))


def token_entropy(tokenizer, x) -> float:
    """Unigram entropy (nats) of the tokens of ``x``, summed over bands: what a prior that ignores context
    would score as its cross-entropy."""
    from .probe import codebook_stats

    return float(sum(np.log(s["perplexity"]) for s in codebook_stats(tokenizer, x).values()))


GALLERY_PER_CLASS = 3  # class-conditional samples per class kept for the book's gallery (samples.csv)


def gallery_rows(x, y, *, per_class: int = GALLERY_PER_CLASS) -> list[dict]:
    """The first ``per_class`` series (n, 1, L) of each label as rows: label, sample index and the values
    (space-separated, 4 significant digits)."""
    x, y = np.asarray(x), np.asarray(y)
    rows = []
    for c in np.unique(y):
        for i, j in enumerate(np.flatnonzero(y == c)[:per_class]):
            rows.append({"label": int(c), "sample": i, "values": " ".join(f"{v:.4g}" for v in x[j].ravel())})
    return rows


def gallery_series(df: pd.DataFrame) -> np.ndarray:
    """The series of :func:`gallery_rows` rows back as an array (n, L)."""
    return np.array([np.array(v.split(), dtype=float) for v in df["values"]])


def evaluate_prior(run, ds: UCRDataset, *, cfg, evaluator, seed: int, rocket=None, with_cas: bool = True,
                   progress: bool = False) -> dict:
    """Score a trained prior (``TrainedPrior``): the one evaluation of the command line and the grids.

    Unconditional samples, as many as TEST has, against real TEST (FID, KID, IS, ROCKET-FID, copy rate; all
    sets of equal size); TRAIN-sized samples against the TRAIN-sized TEST subset of :func:`reference_subset`
    (``*_ref`` columns, comparable with ``reference_quality.csv``); class-conditional samples for CAS
    (at least ``cfg.eval.cas_min_samples``) and the 1-NN class agreement; a few of the class-conditional samples
    per class go to the key ``"gallery"`` (:func:`gallery_rows`).
    """
    from .evaluate import cas, sample_quality

    kw = dict(reference_train=ds.x_train, rocket_kernels=cfg.eval.rocket_kernels, seed=seed, rocket=rocket)
    uncond = run.sample(len(ds.x_test), seed=seed)["x"]
    q = sample_quality(evaluator, ds.x_test, uncond, **kw)
    sub = reference_subset(ds, seed)
    ref = sample_quality(evaluator, ds.x_test[sub], uncond[:len(sub)], **kw)
    q.update({f"{k}_ref": ref[k] for k in ("fid", "kid", "kid_std", "rocket_fid")}, n_ref=len(sub))
    if with_cas:
        y_cond = cas_labels(ds, cfg)
        cond = run.sample(len(y_cond), labels=y_cond, seed=seed + 1)["x"]
        q["cas"] = cas(cond, y_cond, ds.x_test, ds.y_test, n_classes=ds.meta.n_classes, config=cfg.eval,
                       seed=seed, progress=progress)
        q["n_cas"] = len(y_cond)
        q["nn_class_agreement"] = nn_class_agreement(ds, cond, y_cond)
        q["gallery"] = gallery_rows(cond, y_cond)
    return q


def _rocket(ds: UCRDataset, cfg, seed: int):
    from .evaluate import RocketFeaturizer

    return RocketFeaturizer(n_kernels=cfg.eval.rocket_kernels, random_state=seed).fit(ds.x_train)


def stage2_rows(run: RunId, ds: UCRDataset, *, device=None, progress: bool = True, with_cas: bool = True,
                evaluator=None, rocket=None) -> dict[str, list[dict]]:
    """Train (or load) the prior of ``run`` and evaluate it at its best-VAL-loss weights."""
    from .evaluate import load_or_train_evaluator
    from .train import evaluate_reconstruction, n_epochs, train_prior, train_seconds

    cfg = run.config()
    prior = train_prior(ds, cfg, seed=run.seed, device=device, progress=progress)
    evaluator = evaluator or load_or_train_evaluator(ds, config=cfg.eval, seed=run.seed, device=device,
                                                     progress=progress)
    val = [(h["epoch"], h["val_loss"]) for h in prior.history if "val_loss" in h]
    best = min(val, key=lambda ev: ev[1])
    q = evaluate_prior(prior, ds, cfg=cfg, evaluator=evaluator, seed=run.seed,
                       rocket=rocket or _rocket(ds, cfg, run.seed), with_cas=with_cas, progress=progress)
    prov = provenance(device=prior.device, **_hashes(run, ds))
    gallery = [{**run.keys(), **g, "config_hash": prov["config_hash"], "eval_hash": prov.get("eval_hash")}
               for g in q.pop("gallery", [])]
    row = {**run.keys(), "ssl": run.setting.ssl, "aug": run.setting.aug, "final_val_loss": val[-1][1],
           "best_val_loss": best[1], "best_epoch": best[0], "token_entropy": token_entropy(prior.tokenizer, ds.x_train),
           **q, "cas": q.get("cas", float("nan")), "evaluator_test_accuracy": evaluator.test_accuracy,
           "evaluator_hash": evaluator.fingerprint,
           # the tokenizer's TEST reconstruction error, as its stage-1 row has it: equal when this prior's tokens
           # come from the weights the stage-1 row scored, not from a tokenizer trained again on another CPU
           "tokenizer_test_time_mse": evaluate_reconstruction(prior.tokenizer, ds.x_test)["time_mse"],
           "epochs": n_epochs(cfg.stage2, len(ds.x_train)), "epochs_run": len(prior.history),
           "train_seconds": train_seconds(prior.history), **prov}
    curves = [{**run.keys(), "epoch": e, "val_loss": v, "config_hash": prov["config_hash"]}
              for e, v in thin_curve(val)]
    return {"stage2.csv": [row], "prior_curves.csv": curves, **({"samples.csv": gallery} if gallery else {})}


CURVE_POINTS = 300  # at most this many (plus the first and last) VAL points per prior in prior_curves.csv


def thin_curve(val: list[tuple[int, float]], max_points: int = CURVE_POINTS) -> list[tuple[int, float]]:
    """Every k-th (epoch, VAL loss) point, k the smallest stride that keeps at most ``max_points``, plus
    the first and the last: a 3000-epoch GunPoint prior keeps epochs 1, 10, 20, ..., 3000.

    Runs of equal length keep the same epochs, so their curves average point by point. The best epoch and
    its loss are in ``stage2.csv``; a speed read off the thinned curve (:func:`tsvq.report.convergence`) is
    exact to within one stride.
    """
    if len(val) <= max_points:
        return list(val)
    stride = -(-len(val) // max_points)
    keep = {0, len(val) - 1} | set(range(stride - 1, len(val), stride))
    return [val[i] for i in sorted(keep)]


def run_stage2_grid(ds: UCRDataset, *, profile: str, seeds, settings=STAGE2_SETTINGS, priors=PRIORS,
                    results_dir="results", device=None, progress: bool = True, with_cas: bool = True) -> pd.DataFrame:
    """Train (or load) a prior for every tokenizer × prior; record VAL-loss curves and sample quality.

    Writes ``stage2.csv`` (one row per run) and ``prior_curves.csv`` (VAL prior loss per epoch); returns the
    rows of ``stage2.csv`` that belong to the current config (:func:`current_rows`), all seeds included.
    """
    from .evaluate import load_or_train_evaluator

    shared: dict[int, dict] = {}
    for run in _plan(ds, profile=profile, seeds=seeds, settings=settings, priors=priors):
        if is_done(run, ds, results_dir, "stage2.csv"):
            continue
        if run.seed not in shared:  # one evaluator and one ROCKET fit per seed
            cfg = run.config()
            shared[run.seed] = {"evaluator": load_or_train_evaluator(ds, config=cfg.eval, seed=run.seed, device=device,
                                                                     progress=progress),
                                "rocket": _rocket(ds, cfg, run.seed)}
        write_unit(run, results_dir, stage2_rows(run, ds, device=device, progress=progress, with_cas=with_cas,
                                                 **shared[run.seed]))
    return current_rows(load_table(results_path(results_dir, ds.meta.name, profile, "stage2.csv"), KEYS["stage2.csv"]), ds)


def reconstruct(model, x: np.ndarray, *, batch_size: int = 512) -> np.ndarray:
    """(n, 1, L) -> the tokenizer's reconstructions (n, 1, L), in eval mode without gradients."""
    import torch

    device = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        out = [model(torch.as_tensor(x[i:i + batch_size], device=device)).x_hat.cpu()
               for i in range(0, len(x), batch_size)]
    return torch.cat(out).numpy()


def tokenizer_for(ds: UCRDataset, *, profile: str, setting, seed: int, device=None, progress: bool = False):
    """The (cached) stage-1 tokenizer of a grid setting, in eval mode."""
    from .train import train_tokenizer

    cfg = as_setting(setting).config(profile)
    return train_tokenizer(ds, cfg, seed=seed, device=device, progress=progress).model.eval()


def prior_for(ds: UCRDataset, *, profile: str, setting, prior: str, seed: int, device=None, progress: bool = False):
    """The (cached) stage-2 run (tokenizer + prior) of a grid setting and a named prior."""
    from .train import train_prior

    return train_prior(ds, as_setting(setting).config(profile, prior), seed=seed, device=device, progress=progress)


def is_cached(ds: UCRDataset, *, profile: str, setting, seed: int, prior: str | None = None) -> bool:
    """Whether the tokenizer (or, with ``prior``, the prior) of a grid run is in the model cache."""
    from .train import prior_key, tokenizer_key
    from .utils import cache_dir

    cfg = as_setting(setting).config(profile, prior)
    if prior is None:
        return (cache_dir("tokenizer", *tokenizer_key(ds, cfg, seed)) / "tokenizer.pt").exists()
    return (cache_dir("prior", *prior_key(ds, cfg, seed)) / "prior.pt").exists()


def probe_grid(ds: UCRDataset, *, profile: str, seeds, settings, split: str = "val",
               cached_only: bool = False) -> pd.DataFrame:
    """SVM / KNN probe accuracy of every tokenizer of the grid on ``split`` (fit on TRAIN); with
    ``split="val"`` a selection criterion that never looks at TEST. ``cached_only``: probe only the tokenizers in
    the model cache (a reader never trains); the runs left out are listed in ``.attrs["missing"]``."""
    from .probe import probe

    rows, missing = [], []
    for seed in seeds:
        for s in settings:
            name = as_setting(s).name
            if cached_only and not is_cached(ds, profile=profile, setting=name, seed=seed):
                missing.append(f"{ds.meta.name}/{profile}/seed{seed}/{name}")
                continue
            model = tokenizer_for(ds, profile=profile, setting=name, seed=seed)
            rows.append({"dataset": ds.meta.name, "profile": profile, "seed": seed, "setting": name,
                         **{f"{split}_{k}": v for k, v in probe(model, ds, split=split).items()}})
    out = pd.DataFrame(rows)
    out.attrs["missing"] = missing
    return out


def val_probes(ds: UCRDataset, *, profile: str, seeds, results_dir="results") -> pd.DataFrame:
    """The VAL probes of every stage-1 tokenizer of ``seeds``, kept in ``rq1.csv``.

    The tokenizers in the model cache are probed (:func:`probe_grid`) and their rows replace those of the
    same runs in ``rq1.csv``; a run this cache lacks (a fresh machine, or one that trained only some seeds)
    keeps the row the last execution that probed it wrote, so the table never shrinks to what one cache
    holds. ``.attrs["kept"]`` counts the rows so kept; ``.attrs["missing"]`` names the runs neither cached
    nor in the table."""
    val = probe_grid(ds, profile=profile, seeds=seeds, settings=STAGE1_SETTINGS, split="val", cached_only=True)
    path = results_path(results_dir, ds.meta.name, profile, "rq1.csv")
    table = read_table(path)
    fresh = set(zip(val["seed"], val["setting"])) if len(val) else set()
    if not table.empty:
        table = table[[k not in fresh for k in zip(table["seed"], table["setting"])]]
    merged = pd.concat([t for t in (val, table) if len(t)], ignore_index=True) if len(val) or len(table) else val
    if len(val):
        order = {as_setting(s).name: i for i, s in enumerate(STAGE1_SETTINGS)}
        merged = merged.sort_values(["seed", "setting"], key=lambda c: c.map(order) if c.name == "setting" else c,
                                    kind="stable").reset_index(drop=True)
        write_table(path, merged)
    out = merged[merged["seed"].isin(list(seeds))].reset_index(drop=True) if len(merged) else merged
    have = set(zip(out["seed"], out["setting"])) if len(out) else set()
    out.attrs["kept"] = len(out) - len(val)
    out.attrs["missing"] = [f"{ds.meta.name}/{profile}/seed{seed}/{as_setting(s).name}" for seed in seeds
                            for s in STAGE1_SETTINGS if (seed, as_setting(s).name) not in have]
    return out

def reference_rows(run: RunId, ds: UCRDataset, *, device=None, progress: bool = True) -> dict[str, list[dict]]:
    """Anchors for the sample-quality metrics (``reference_quality.csv``), every set TRAIN-sized and compared
    with the same TRAIN-sized TEST subset as the priors' ``*_ref`` columns: real TRAIN, the reconstructions
    of TRAIN by ``run``'s tokenizer, and Gaussian noise with the data's mean and std. CAS of real TRAIN is
    the real-data reference of CAS."""
    from .evaluate import cas, load_or_train_evaluator, sample_quality
    from .train import train_tokenizer

    cfg = run.config()
    evaluator = load_or_train_evaluator(ds, config=cfg.eval, seed=run.seed, device=device, progress=progress)
    tok = train_tokenizer(ds, cfg, seed=run.seed, device=device, progress=progress).model
    sub = reference_subset(ds, run.seed)
    rng = np.random.default_rng(run.seed)
    noise = (rng.standard_normal(ds.x_train.shape) * ds.x_train.std() + ds.x_train.mean()).astype(np.float32)
    sets = {"real TRAIN": ds.x_train, f"reconstruction of TRAIN ({run.setting.name})": reconstruct(tok, ds.x_train),
            "Gaussian noise": noise}
    rocket = _rocket(ds, cfg, run.seed)
    prov = provenance(device=evaluator.device, **_hashes(run, ds), eval_hash=eval_hash(cfg.eval))
    rows = []
    for name, x in sets.items():
        q = sample_quality(evaluator, ds.x_test[sub], x, reference_train=ds.x_train,
                           rocket_kernels=cfg.eval.rocket_kernels, seed=run.seed, rocket=rocket)
        q["cas"] = (cas(ds.x_train, ds.y_train, ds.x_test, ds.y_test, n_classes=ds.meta.n_classes, config=cfg.eval,
                        seed=run.seed, progress=progress) if name == "real TRAIN" else float("nan"))
        rows.append({"dataset": ds.meta.name, "profile": run.profile, "seed": run.seed, "reference": name,
                     "tokenizer": run.setting.name, **q, "evaluator_test_accuracy": evaluator.test_accuracy,
                     "evaluator_hash": evaluator.fingerprint, **prov})
    return {"reference_quality.csv": rows}


def gallery_backfill(ds: UCRDataset, *, profile: str, seeds, settings=STAGE2_SETTINGS, priors=ALL_PRIORS,
                     results_dir="results") -> list[str]:
    """Write ``samples.csv`` rows for the stage-2 runs that have current rows but no samples (runs evaluated before
    the grid kept any), from their cached priors: the class-conditional samples are drawn exactly as the
    evaluation drew them for CAS (same labels, same seed). Never trains: a run whose prior is not in the cache is
    skipped. Returns the names of the runs written."""
    from .train import prior_key, train_prior
    from .utils import cache_dir

    done = grid_rows(ds, "stage2.csv", profile=profile, seeds=seeds, settings=settings, priors=priors,
                     results_dir=results_dir)
    have = grid_rows(ds, "samples.csv", profile=profile, seeds=seeds, settings=settings, priors=priors,
                     results_dir=results_dir)
    kept = set(map(tuple, have[["seed", "setting", "prior"]].itertuples(index=False))) if not have.empty else set()
    written = []
    for r in done[["seed", "setting", "prior"]].itertuples(index=False):
        if tuple(r) in kept:
            continue
        run = RunId(ds.meta.name, int(r.seed), Setting.parse(r.setting), r.prior, profile)
        cfg = run.config()
        if not (cache_dir("prior", *prior_key(ds, cfg, run.seed)) / "prior.pt").exists():
            continue
        prior = train_prior(ds, cfg, seed=run.seed, progress=False)  # loads the cached prior
        y = cas_labels(ds, cfg)
        x = prior.sample(len(y), labels=y, seed=run.seed + 1)["x"]
        h = _hashes(run, ds)
        write_unit(run, results_dir, {"samples.csv": [{**run.keys(), **g, **h} for g in gallery_rows(x, y)]})
        written.append(str(run))
    return written


def grid_rows(ds: UCRDataset, table: str, *, profile: str, seeds, settings=STAGE1_SETTINGS, priors=(None,),
              results_dir="results") -> pd.DataFrame:
    """What a chapter reads: the current rows (:func:`current_rows`) of ``table`` for the runs of a grid, never
    training anything. The runs of the grid without a row are listed in ``.attrs["missing"]`` (run names, e.g.
    ``GunPoint/cpu/seed3/naive/token``), for the page to say what it lacks. ``reference_quality.csv`` is read
    for the naive tokenizer's anchors of each seed."""
    seeds = [int(s) for s in seeds]
    df = current_rows(load_table(results_path(results_dir, ds.meta.name, profile, table), table_keys(table)), ds)
    if table == "reference_quality.csv":
        runs = _plan(ds, profile=profile, seeds=seeds, settings=[("none", "none")])
        have = set(zip(df["seed"], df["tokenizer"])) if not df.empty else set()
        missing = [f"{r}/reference" for r in runs if (r.seed, r.setting.name) not in have]
    else:
        runs = _plan(ds, profile=profile, seeds=seeds, settings=settings, priors=priors)
        cols = ["seed", "setting"] + (["prior"] if "prior" in table_keys(table) else [])
        have = set(map(tuple, df[cols].itertuples(index=False))) if not df.empty else set()
        missing = [str(r) for r in runs if (r.seed, r.setting.name, *((r.prior,) if len(cols) == 3 else ())) not in have]
    out = df[df["seed"].isin(seeds)].reset_index(drop=True) if not df.empty else df
    out.attrs["missing"] = missing
    return out


def reference_done(run: RunId, ds: UCRDataset, results_dir) -> bool:
    """Whether ``reference_quality.csv`` holds the anchors of ``run`` (a stage-1 run) for the current config."""
    path = results_path(results_dir, ds.meta.name, run.profile, "reference_quality.csv")
    hashes = {**_hashes(run, ds), "eval_hash": eval_hash(run.config().eval)}
    return _has_row(load_table(path, KEYS["reference_quality.csv"]),
                    {"dataset": ds.meta.name, "seed": run.seed, "reference": "real TRAIN"}, hashes)


def reference_quality(ds: UCRDataset, *, profile: str, seed: int = 0, results_dir="results", device=None,
                      tokenizer_setting=("none", "none"), progress: bool = True) -> pd.DataFrame:
    """:func:`reference_rows` for one seed, unless ``reference_quality.csv`` has them for the current config."""
    run = RunId(ds.meta.name, seed, as_setting(tokenizer_setting), None, profile)
    if not reference_done(run, ds, results_dir):
        write_unit(run, results_dir, reference_rows(run, ds, device=device, progress=progress))
    return current_rows(load_table(results_path(results_dir, ds.meta.name, profile, "reference_quality.csv"),
                                   KEYS["reference_quality.csv"]), ds)


def equal_size_quality(ds: UCRDataset, *, profile: str, seed: int = 0, settings=STAGE2_SETTINGS, priors=PRIORS,
                       results_dir="results", **_) -> pd.DataFrame:
    """One table of TRAIN-sized sets, all compared with the same TRAIN-sized TEST subset: the anchors of
    ``reference_quality.csv`` and every prior's ``*_ref`` columns of ``stage2.csv``, for one seed. Reads the
    tables only (run :func:`reference_quality` and :func:`run_stage2_grid` first)."""
    cols = ["fid", "kid", "kid_std", "rocket_fid"]
    anchors = load_table(results_path(results_dir, ds.meta.name, profile, "reference_quality.csv"),
                         KEYS["reference_quality.csv"])
    stage2 = load_table(results_path(results_dir, ds.meta.name, profile, "stage2.csv"), KEYS["stage2.csv"])
    anchors, stage2 = current_rows(anchors, ds), current_rows(stage2, ds)
    rows = [{"set": r["reference"], "series": int(r["n_synth"]), **{c: r.get(c, np.nan) for c in cols}}
            for _, r in anchors[anchors["seed"] == seed].iterrows()] if not anchors.empty else []
    names = {as_setting(s).name for s in settings}
    if not stage2.empty:
        part = stage2[(stage2["seed"] == seed) & stage2["setting"].isin(names) & stage2["prior"].isin(list(priors))]
        rows += [{"set": f"{r['setting']} + {r['prior']} prior", "series": int(r["n_ref"]),
                  **{c: r.get(f"{c}_ref", np.nan) for c in cols}} for _, r in part.iterrows()]
    return pd.DataFrame(rows, columns=["set", "series", *cols])
