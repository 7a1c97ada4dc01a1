"""Experiment grids behind the book's chapters, resumable and written as small CSV files as they go.

Each finished run appends one row to ``results/<dataset>/<profile>/<table>.csv``; a row already present is
not run again, and models come from the on-disk cache, so an interrupted batch continues where it stopped
and a notebook re-executed later reads the same numbers.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from .book import results_path
from .config import get_config
from .data import UCRDataset

# (ssl method, augmentation): the naive tokenizer and the thesis' SSL settings
STAGE1_SETTINGS = [("none", "none")] + [(m, a) for m in ("barlowtwins", "vibcreg") for a in ("warp", "slice", "gauss")]


# Stage 2 pairs both priors with the naive tokenizer and one SSL tokenizer -- VIbCReg with the slice
# augmentation, the best SSL setting of the ECG5000 stage-1 grid on the VAL probes (at 500 epochs, seeds
# 0-4: VAL SVM 0.920, the highest; VAL KNN 0.912, second to VIbCReg-gauss' 0.914): the 2 × 2 of RQ5 at a
# cost a laptop can pay. Other settings can be added to a batch (their rows then show up in the chapters).
STAGE2_SETTINGS = [("none", "none"), ("vibcreg", "slice")]


def setting_name(ssl: str, aug: str, ssl_overrides: dict | None = None) -> str:
    """"naive", "vibcreg-slice", or with SSL overrides e.g. "vibcreg-slice-weight0.1"."""
    name = "naive" if ssl == "none" else f"{ssl}-{aug}"
    return name + "".join(f"-{k}{v}" for k, v in sorted((ssl_overrides or {}).items()))


def _unpack(setting) -> tuple[str, str, dict]:
    """A setting is (ssl, aug) or (ssl, aug, {SSLConfig overrides})."""
    ssl, aug, *rest = setting
    return ssl, aug, (rest[0] if rest else {})


def read_table(path) -> pd.DataFrame:
    path = Path(path)
    return pd.read_csv(path) if path.exists() and path.stat().st_size else pd.DataFrame()


def _append(path: Path, row: dict) -> None:
    """Append one row; a row bringing new columns rewrites the file with them (older rows get blanks)."""
    new = not path.exists() or path.stat().st_size == 0
    if not new:
        with open(path, newline="") as fh:
            header = next(csv.reader(fh), [])
        if list(row) != header:
            table = pd.concat([read_table(path), pd.DataFrame([row])], ignore_index=True)
            table.to_csv(path, index=False, lineterminator="\n")
            return
    with open(path, "a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(row), lineterminator="\n")
        if new:
            w.writeheader()
        w.writerow(row)


def _provenance() -> dict:
    """Recorded with every result row: CPU results are bit-identical for one seed only at one thread count."""
    import torch

    return {"torch_threads": torch.get_num_threads(), "torch_version": torch.__version__}


def _done(path: Path, keys: dict) -> bool:
    df = read_table(path)
    if df.empty:
        return False
    m = pd.Series(True, index=df.index)
    for k, v in keys.items():
        m &= df[k].astype(str) == str(v)
    return bool(m.any())


def stage1_config(profile: str, ssl: str, aug: str, ssl_overrides: dict | None = None, **overrides):
    """The config of one setting. ``ssl_overrides`` keys are SSLConfig fields, ``stage1_<field>`` /
    ``stage2_<field>`` for a stage's TrainConfig or ``tokenizer_<field>`` for the TokenizerConfig (e.g.
    ``{"weight": 0.1, "stage1_min_steps": 800, "tokenizer_hidden_dim": 64}``)."""
    ssl_over, stage_over = {}, {"stage1": {}, "stage2": {}, "tokenizer": {}}
    for k, v in (ssl_overrides or {}).items():
        stage = k.split("_", 1)[0]
        if stage in stage_over:
            stage_over[stage][k.split("_", 1)[1]] = v
        else:
            ssl_over[k] = v
    sections = {"method": ssl, "augmentation": aug if ssl != "none" else "warp", **ssl_over}
    for stage, values in stage_over.items():
        if values:
            overrides[stage] = {**overrides.get(stage, {}), **values}
    return get_config(profile, ssl=sections, **overrides)


def _tokenizer_runs(ds: UCRDataset, path: Path, *, profile: str, seeds, settings, device, progress: bool):
    """Yield ``(row, cfg, run)`` for every tokenizer of the grid that ``path`` has no row for yet, trained
    (or loaded from the cache) first; ``row`` starts the result row with its keys, ``ssl`` and ``aug``."""
    from .train import train_tokenizer

    for seed in seeds:
        for setting in settings:
            ssl, aug, over = _unpack(setting)
            keys = {"dataset": ds.meta.name, "profile": profile, "seed": seed, "setting": setting_name(ssl, aug, over)}
            if _done(path, keys):
                continue
            cfg = stage1_config(profile, ssl, aug, over)
            yield {**keys, "ssl": ssl, "aug": aug}, cfg, train_tokenizer(ds, cfg, seed=seed, device=device,
                                                                         progress=progress)


def run_stage1_grid(ds: UCRDataset, *, profile: str, seeds, settings=STAGE1_SETTINGS, results_dir="results",
                    device=None, progress: bool = True) -> pd.DataFrame:
    """Train (or load) every tokenizer of the grid and record TEST reconstruction, codebook and probe metrics."""
    from .probe import codebook_stats, probe
    from .train import evaluate_reconstruction, n_epochs, train_seconds

    path = results_path(results_dir, ds.meta.name, profile, "stage1.csv")
    for row, cfg, run in _tokenizer_runs(ds, path, profile=profile, seeds=seeds, settings=settings, device=device,
                                         progress=progress):
        rec = evaluate_reconstruction(run.model, ds.x_test)
        stats = codebook_stats(run.model, ds.x_test)["all"]
        _append(path, {**row, "test_time_mse": rec["time_mse"], "test_stft_mse": rec["stft_mse"],
                       "perplexity": stats["perplexity"], "usage": stats["usage"],
                       "mean_abs_corr_off_diagonal": stats["mean_abs_corr_off_diagonal"], **probe(run.model, ds),
                       "epochs": n_epochs(cfg.stage1, len(ds.x_train)), "train_seconds": train_seconds(run.history),
                       "train_device": run.history[-1].get("device", "cpu"), **_provenance()})
    return read_table(path)


def run_selection_grid(ds: UCRDataset, *, profile: str, seeds, settings, results_dir="results", device=None,
                       folds: int = 5, progress: bool = True) -> pd.DataFrame:
    """Stage-1 settings scored on data other than TEST: cross-validated probes on TRAIN ∪ VAL and VAL
    reconstruction error. Written to ``selection.csv``; a setting is chosen here, then measured on TEST
    by :func:`run_stage1_grid`."""
    from .probe import cv_probe
    from .train import evaluate_reconstruction, n_epochs, train_seconds

    path = results_path(results_dir, ds.meta.name, profile, "selection.csv")
    for row, cfg, run in _tokenizer_runs(ds, path, profile=profile, seeds=seeds, settings=settings, device=device,
                                         progress=progress):
        _append(path, {**row, **cv_probe(run.model, ds, folds=folds, seed=row["seed"]),
                       "val_time_mse": evaluate_reconstruction(run.model, ds.x_val)["time_mse"],
                       "epochs": n_epochs(cfg.stage1, len(ds.x_train)), "train_seconds": train_seconds(run.history),
                       **_provenance()})
    return read_table(path)


def run_feature_probes(ds: UCRDataset, *, profile: str, seeds, settings=STAGE1_SETTINGS, results_dir="results",
                       device=None, progress: bool = True) -> pd.DataFrame:
    """The TEST probes of each tokenizer on two representations: the average-pooled quantised latents
    (the probes of the grid) and the average-pooled latents before quantisation. Written to
    ``feature_probes.csv``; a diagnostic of how much the 32-code bottleneck costs the probes."""
    from .probe import probe

    path = results_path(results_dir, ds.meta.name, profile, "feature_probes.csv")
    for row, _, run in _tokenizer_runs(ds, path, profile=profile, seeds=seeds, settings=settings, device=device,
                                       progress=progress):
        for quantised in (True, False):
            _append(path, {**row, "features": "quantised" if quantised else "unquantised",
                           **probe(run.model, ds, quantised=quantised), **_provenance()})
    return read_table(path)


# ----------------------------------------------------------------------------------------------- stage 2

PRIORS = ("token", "embedding")


def evaluate_samples(ds: UCRDataset, synth_uncond, synth_cond, y_cond, *, cfg, evaluator, seed: int,
                     progress: bool = False) -> dict:
    """FID / IS / ROCKET-FID of unconditional samples against real TEST, and CAS of class-conditional ones."""
    from .evaluate import cas, sample_quality

    q = sample_quality(evaluator, ds.x_test, synth_uncond, reference_train=ds.x_train,
                       rocket_kernels=cfg.eval.rocket_kernels, seed=seed)
    if synth_cond is not None:
        q["cas"] = cas(synth_cond, y_cond, ds.x_test, ds.y_test, n_classes=ds.meta.n_classes, config=cfg.eval,
                       seed=seed, progress=progress)
    return q


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


def run_stage2_grid(ds: UCRDataset, *, profile: str, seeds, settings=STAGE1_SETTINGS, priors=PRIORS,
                    results_dir="results", device=None, progress: bool = True, with_cas: bool = True) -> pd.DataFrame:
    """Train (or load) a prior for every tokenizer × prior variant; record VAL-loss curves and sample quality.

    Writes ``stage2.csv`` (one row per run) and ``prior_curves.csv`` (VAL prior loss per epoch).
    """
    from .evaluate import load_or_train_evaluator
    from .train import n_epochs, train_prior, train_seconds

    path = results_path(results_dir, ds.meta.name, profile, "stage2.csv")
    curves = results_path(results_dir, ds.meta.name, profile, "prior_curves.csv")
    for seed in seeds:
        evaluator = None
        for setting in settings:
            ssl, aug, over = _unpack(setting)
            for variant in priors:
                keys = {"dataset": ds.meta.name, "profile": profile, "seed": seed,
                        "setting": setting_name(ssl, aug, over), "prior": variant}
                if _done(path, keys):
                    continue
                cfg = stage1_config(profile, ssl, aug, over, prior={"variant": variant})
                evaluator = evaluator or load_or_train_evaluator(ds, config=cfg.eval, seed=seed, device=device,
                                                                 progress=progress)
                run = train_prior(ds, cfg, seed=seed, device=device, progress=progress)
                val = [(h["epoch"], h["val_loss"]) for h in run.history if "val_loss" in h]
                uncond = run.sample(len(ds.x_test), seed=seed)["x"]
                y_cond = cas_labels(ds, cfg) if with_cas else None
                cond = run.sample(len(y_cond), labels=y_cond, seed=seed + 1)["x"] if with_cas else None
                q = evaluate_samples(ds, uncond, cond, y_cond, cfg=cfg, evaluator=evaluator, seed=seed)
                if with_cas:
                    q["nn_class_agreement"] = nn_class_agreement(ds, cond, y_cond)
                best = min(val, key=lambda ev: ev[1])
                _append(path, {**keys, "ssl": ssl, "aug": aug, "final_val_loss": val[-1][1], "best_val_loss": best[1],
                               "best_epoch": best[0], **q, "cas": q.get("cas", float("nan")),
                               "evaluator_test_accuracy": evaluator.test_accuracy, "epochs": n_epochs(cfg.stage2, len(ds.x_train)),
                               "train_seconds": train_seconds(run.history), **_provenance()})
                # Curves after the row: an interrupted run is redone whole and never leaves a curve twice.
                for e, v in val:
                    _append(curves, {**keys, "epoch": e, "val_loss": v})
    return read_table(path)


def reference_quality(ds: UCRDataset, *, profile: str, seed: int = 0, results_dir="results", device=None,
                      tokenizer_setting=("none", "none"), progress: bool = True) -> pd.DataFrame:
    """Anchors for the sample-quality metrics: real TRAIN vs TEST, tokenizer reconstructions of TRAIN and of
    TEST, and Gaussian noise with the data's mean and std. Written to ``reference_quality.csv``."""
    from .evaluate import load_or_train_evaluator
    from .report import reconstruct
    from .train import train_tokenizer

    path = results_path(results_dir, ds.meta.name, profile, "reference_quality.csv")
    cfg = stage1_config(profile, *tokenizer_setting)
    evaluator = load_or_train_evaluator(ds, config=cfg.eval, seed=seed, device=device, progress=progress)
    tok = train_tokenizer(ds, cfg, seed=seed, device=device, progress=progress).model
    rng = np.random.default_rng(seed)
    noise = (rng.standard_normal(ds.x_test.shape) * ds.x_train.std() + ds.x_train.mean()).astype(np.float32)
    tok_name = setting_name(*tokenizer_setting)
    # The prior learns the tokens of TRAIN, so a perfect prior's samples look like reconstructions of TRAIN;
    # reconstructions of TEST add the tokenizer's generalisation gap. (Compare sets of equal size only:
    # Fréchet distances between Gaussian fits fall as the number of series grows.)
    sets = {"real TRAIN": (ds.x_train, ds.y_train),
            f"reconstruction of TRAIN ({tok_name})": (reconstruct(tok, ds.x_train), None),
            f"reconstruction of TEST ({tok_name})": (reconstruct(tok, ds.x_test), None),
            "Gaussian noise": (noise, None)}
    for name, (x, y) in sets.items():
        keys = {"dataset": ds.meta.name, "profile": profile, "seed": seed, "reference": name}
        if _done(path, keys):
            continue
        q = evaluate_samples(ds, x, x if y is not None else None, y, cfg=cfg, evaluator=evaluator, seed=seed)
        _append(path, {**keys, **q, "cas": q.get("cas", float("nan")),
                       "evaluator_test_accuracy": evaluator.test_accuracy, **_provenance()})
    return read_table(path)


def equal_size_quality(ds: UCRDataset, *, profile: str, seed: int = 0, settings=STAGE2_SETTINGS, priors=PRIORS,
                       device=None) -> pd.DataFrame:
    """FID and ROCKET-FID against the whole real TEST set of TRAIN-sized sets only: the naive tokenizer's
    reconstructions of TRAIN and of a random TRAIN-sized subset of TEST, and as many unconditional samples of
    each (cached) prior. Fréchet distances fall as sets grow, so only sets of one size compare."""
    from .evaluate import RocketFeaturizer, fid_from_features, load_or_train_evaluator
    from .report import prior_for, reconstruct
    from .train import train_tokenizer

    n = len(ds.x_train)
    cfg = stage1_config(profile, "none", "none")
    evaluator = load_or_train_evaluator(ds, config=cfg.eval, seed=seed, device=device, progress=False)
    tok = train_tokenizer(ds, cfg, seed=seed, device=device, progress=False).model
    subset = np.random.default_rng(seed).choice(len(ds.x_test), n, replace=False)
    sets = {"reconstruction of TRAIN (naive)": reconstruct(tok, ds.x_train),
            "reconstruction of TEST (naive)": reconstruct(tok, ds.x_test[subset])}
    for setting in settings:
        name = setting_name(*_unpack(setting))
        for prior in priors:
            run = prior_for(ds, profile=profile, setting=name, prior=prior, seed=seed, device=device)
            sets[f"{name} + {prior} prior"] = run.sample(n, seed=seed)["x"]
    rocket = RocketFeaturizer(n_kernels=cfg.eval.rocket_kernels, random_state=seed).fit(ds.x_train)
    real, real_rocket = evaluator.features(ds.x_test), rocket.transform(ds.x_test)
    return pd.DataFrame([{"set": name, "series": len(x), "fid": fid_from_features(real, evaluator.features(x)),
                          "rocket_fid": fid_from_features(real_rocket, rocket.transform(x))}
                         for name, x in sets.items()])
