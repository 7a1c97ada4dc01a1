"""What a cold run of one dataset's grid costs, part by part.

Times, from an empty model cache, one instance of every part of the grid for one seed — each stage-1
setting's tokenizer, its probes, each prior, sampling, the FCN evaluator, ROCKET features, the set metrics
(FID, KID, IS, copy rate), CAS — and multiplies by how often a cold grid needs it:
``--settings`` × ``--seeds`` tokenizers, ``--stage2-settings`` × ``--priors`` × seeds priors, one evaluator
and one ROCKET fit per seed. Prints the table and writes it as CSV. Run it on a quiet machine: the numbers
are wall-clock seconds.

    .venv/bin/python benchmarks/grid_cost.py --dataset ECG5000 --seeds 3 --data-dir ../shared/datasets/UCR \\
        --out benchmarks/grid_cost_ECG5000.csv
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from tsvq.data import load_ucr
from tsvq.evaluate import RocketFeaturizer, cas, load_or_train_evaluator, sample_quality
from tsvq.experiments import STAGE1_SETTINGS, as_setting, cas_labels
from tsvq.probe import probe
from tsvq.train import train_prior, train_tokenizer


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="GunPoint")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--seeds", type=int, default=3, help="seeds of the cold grid (one is measured)")
    ap.add_argument("--settings", nargs="+", default=[as_setting(s).name for s in STAGE1_SETTINGS])
    ap.add_argument("--stage2-settings", nargs="+", default=["naive", "vibcreg-slice"])
    ap.add_argument("--priors", nargs="+", default=["token", "embedding"])
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=None, help="CSV path (default: benchmarks/grid_cost_<dataset>_<profile>.csv)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    os.environ["TSVQ_CACHE_DIR"] = tempfile.mkdtemp(prefix="tsvq-grid-cost-")  # cold: nothing cached
    ds = load_ucr(a.dataset, a.data_dir)
    rows = []

    def add(part, seconds, count):
        rows.append({"part": part, "seconds_each": round(seconds, 2), "count": count,
                     "seconds_total": round(seconds * count, 1)})
        print(f"{part:<40} {seconds:9.2f} s × {count}", flush=True)

    models = {}
    for name in a.settings:
        cfg = as_setting(name).config(a.profile)
        run, s = timed(lambda: train_tokenizer(ds, cfg, seed=0, device=a.device, progress=False))
        models[name] = run.model
        add(f"stage 1: train {name}", s, a.seeds)
        _, s = timed(lambda: probe(run.model, ds))
        add(f"probes: {name}", s, a.seeds)
    cfg = as_setting("naive").config(a.profile)
    evaluator, s = timed(lambda: load_or_train_evaluator(ds, config=cfg.eval, seed=0, device=a.device, progress=False))
    add("evaluator: train FCN", s, a.seeds)
    rocket, s = timed(lambda: RocketFeaturizer(n_kernels=cfg.eval.rocket_kernels, random_state=0).fit(ds.x_train))
    add("ROCKET: fit on TRAIN", s, a.seeds)
    n2 = len(a.stage2_settings) * a.seeds
    for prior in a.priors:
        for name in a.stage2_settings:
            pcfg = as_setting(name).config(a.profile, prior)
            run, s = timed(lambda: train_prior(ds, pcfg, seed=0, device=a.device, progress=False))
            add(f"stage 2: train {prior} prior on {name}", s, a.seeds)
        x, s = timed(lambda: run.sample(len(ds.x_test), seed=0)["x"])
        add(f"sampling: {len(ds.x_test)} unconditional ({prior})", s, n2)
        y = cas_labels(ds, pcfg)
        xc, s = timed(lambda: run.sample(len(y), labels=y, seed=1)["x"])
        add(f"sampling: {len(y)} class-conditional ({prior})", s, n2)
        _, s = timed(lambda: sample_quality(evaluator, ds.x_test, x, reference_train=ds.x_train,
                                            rocket_kernels=cfg.eval.rocket_kernels, seed=0, rocket=rocket))
        add(f"set metrics: FID, KID, IS, ROCKET-FID, copy ({prior})", s, n2)
        _, s = timed(lambda: cas(xc, y, ds.x_test, ds.y_test, n_classes=ds.meta.n_classes, config=pcfg.eval,
                                 seed=0, progress=False))
        add(f"CAS: train FCN on {len(y)} samples ({prior})", s, n2)
    df = pd.DataFrame(rows)
    total = df["seconds_total"].sum()
    df.loc[len(df)] = {"part": "total", "seconds_each": float("nan"), "count": 0, "seconds_total": round(total, 1)}
    out = Path(a.out or Path(__file__).parent / f"grid_cost_{a.dataset}_{a.profile}.csv")
    df.assign(dataset=a.dataset, profile=a.profile, seeds=a.seeds, threads=a.threads, device=a.device,
              torch_version=torch.__version__).to_csv(out, index=False)
    print(df.to_string(index=False))
    print(f"cold grid of {a.dataset} ({a.profile}, {a.seeds} seeds): {total / 60:.1f} min on {a.threads} thread(s); "
          f"wrote {out}")


if __name__ == "__main__":
    main()
