"""Check the CUDA path and time the ``paper`` profile on a GPU.

1. CUDA smoke test on GunPoint at the ``smoke`` profile: tokenizer, both priors, guided class-conditional
   sampling and the FCN evaluator's FID, every model on the GPU.
2. The stage-1 grid of the ``paper`` profile (the thesis' settings: 1000 epochs, projector 4096 x 3) on
   ``--dataset`` for the given settings and seeds, timed per run. Rows go to
   ``<results-dir>/<dataset>/paper/stage1.csv``, as the book's grids write them; after every seed the file is
   also copied to ``--copy-to`` when given.

    python scripts/gpu_check.py --data-dir ../shared/datasets/UCR --seeds 0 1 2 --results-dir results
"""
from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from tsvq.book import results_path
from tsvq.config import get_config
from tsvq.data import load_ucr
from tsvq.evaluate import fid_from_features, load_or_train_evaluator
from tsvq.experiments import run_stage1_grid
from tsvq.train import train_prior, train_tokenizer


def cuda_smoke(data_dir) -> None:
    ds = load_ucr("GunPoint", data_dir)
    t = time.time()
    ssl = {"method": "vibcreg", "augmentation": "slice"}
    cfg = get_config("smoke", ssl=ssl)
    tok = train_tokenizer(ds, cfg, seed=0, device="cuda", progress=False).model
    assert next(tok.parameters()).is_cuda
    evaluator = load_or_train_evaluator(ds, config=cfg.eval, seed=0, device="cuda", progress=False)
    real = evaluator.features(ds.x_test)
    for variant in ("token", "embedding"):
        run = train_prior(ds, get_config("smoke", ssl=ssl, prior={"variant": variant}), seed=0, device="cuda",
                          progress=False)
        labels = np.repeat(np.arange(ds.meta.n_classes), 8)
        out = run.sample(len(labels), labels=labels, guidance=2.0, seed=0)
        assert np.isfinite(out["x"]).all() and out["x"].shape == (len(labels), 1, ds.meta.length)
        fid = fid_from_features(real, evaluator.features(out["x"]))
        print(f"cuda smoke: {variant} prior, {len(labels)} guided samples, FID {fid:.4f}", flush=True)
    print(f"cuda smoke passed in {time.time() - t:.1f} s on {torch.cuda.get_device_name()}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--dataset", default="ECG5000")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--settings", nargs="+", default=["none-none", "vibcreg-slice"], help="ssl-aug pairs")
    ap.add_argument("--results-dir", default="results")
    ap.add_argument("--copy-to", default=None)
    a = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("error: no CUDA device")
    cuda_smoke(a.data_dir)
    ds = load_ucr(a.dataset, a.data_dir)
    settings = [tuple(s.split("-", 1)) for s in a.settings]
    for seed in a.seeds:
        t = time.time()
        table = run_stage1_grid(ds, profile="paper", seeds=[seed], settings=settings, results_dir=a.results_dir,
                                device="cuda", progress=False)
        print(f"paper profile, seed {seed}: {time.time() - t:.0f} s", flush=True)
        print(table[table["seed"] == seed][["setting", "knn_accuracy", "svm_accuracy", "test_time_mse",
                                            "train_seconds"]].to_string(index=False), flush=True)
        if a.copy_to:
            shutil.copy(results_path(a.results_dir, ds.meta.name, "paper", "stage1.csv"), Path(a.copy_to))


if __name__ == "__main__":
    main()
