"""Experiment grids behind the book's chapters, resumable and written as small CSV files as they go.

Each finished run appends one row to ``results/<dataset>/<profile>/<table>.csv``; a row already present is
not run again, and models come from the on-disk cache, so an interrupted batch continues where it stopped
and a notebook re-executed later reads the same numbers.
"""
from __future__ import annotations

import csv
import time
from pathlib import Path

import pandas as pd

from .book import results_path
from .config import get_config
from .data import UCRDataset

# (ssl method, augmentation): the naive tokenizer and the thesis' SSL settings
STAGE1_SETTINGS = [("none", "none")] + [(m, a) for m in ("barlowtwins", "vibcreg") for a in ("warp", "slice", "gauss")]


def setting_name(ssl: str, aug: str) -> str:
    return "naive" if ssl == "none" else f"{ssl}-{aug}"


def read_table(path) -> pd.DataFrame:
    path = Path(path)
    return pd.read_csv(path) if path.exists() and path.stat().st_size else pd.DataFrame()


def _append(path: Path, row: dict) -> None:
    new = not path.exists() or path.stat().st_size == 0
    with open(path, "a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(row))
        if new:
            w.writeheader()
        w.writerow(row)


def _done(path: Path, keys: dict) -> bool:
    df = read_table(path)
    if df.empty:
        return False
    m = pd.Series(True, index=df.index)
    for k, v in keys.items():
        m &= df[k].astype(str) == str(v)
    return bool(m.any())


def stage1_config(profile: str, ssl: str, aug: str, **overrides):
    return get_config(profile, ssl={"method": ssl, "augmentation": aug if ssl != "none" else "warp"}, **overrides)


def run_stage1_grid(ds: UCRDataset, *, profile: str, seeds, settings=STAGE1_SETTINGS, results_dir="results",
                    device=None, progress: bool = True) -> pd.DataFrame:
    """Train (or load) every tokenizer of the grid and record TEST reconstruction, codebook and probe metrics."""
    from .probe import codebook_stats, probe
    from .train import evaluate_reconstruction, train_tokenizer

    path = results_path(results_dir, ds.meta.name, profile, "stage1.csv")
    for seed in seeds:
        for ssl, aug in settings:
            keys = {"dataset": ds.meta.name, "profile": profile, "seed": seed, "setting": setting_name(ssl, aug)}
            if _done(path, keys):
                continue
            cfg = stage1_config(profile, ssl, aug)
            t0 = time.time()
            run = train_tokenizer(ds, cfg, seed=seed, device=device, progress=progress)
            seconds = time.time() - t0
            rec = evaluate_reconstruction(run.model, ds.x_test)
            stats = codebook_stats(run.model, ds.x_test)["all"]
            _append(path, {**keys, "ssl": ssl, "aug": aug, "test_time_mse": rec["time_mse"],
                           "test_stft_mse": rec["stft_mse"], "perplexity": stats["perplexity"], "usage": stats["usage"],
                           "mean_abs_corr_off_diagonal": stats["mean_abs_corr_off_diagonal"], **probe(run.model, ds),
                           "epochs": cfg.stage1.epochs, "train_seconds": round(seconds, 1)})
    return read_table(path)
