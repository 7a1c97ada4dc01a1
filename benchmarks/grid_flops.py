"""The arithmetic of a dataset's cold grid, and the least time this machine can take for it.

Counts, with torch's FLOP counter on the dataset's own series, the floating-point operations of every
matrix product and convolution a cold grid performs at a profile — each stage-1 setting's training steps and
validation passes, each prior's training steps, validation passes and samples (unconditional and
class-conditional, decoded), the FCN evaluator's and CAS's training epochs — and divides them by the rate of a
large single-threaded matrix product on this machine (float32, and bfloat16 for comparison). The quotient is a
floor: no implementation of the same arithmetic can run faster, because the counts leave out everything that is
not a product (normalisation, activations, optimiser updates, augmentations, ROCKET, probes) and FCN runs that
stop as early as their patience allows. If the floor lies above a target time, only less arithmetic reaches
the target: fewer steps, smaller models or lower precision, each of which changes the results.

    .venv/bin/python benchmarks/grid_flops.py --dataset ECG5000 --data-dir ../shared/datasets/UCR \\
        --measured benchmarks/grid_cost_ECG5000_before.csv --out benchmarks/grid_flops_ECG5000.csv
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.flop_counter import FlopCounterMode

from tsvq.data import load_ucr
from tsvq.evaluate import FCN
from tsvq.experiments import STAGE1_SETTINGS, as_setting, cas_labels
from tsvq.ssl import THESIS_WEIGHTS, build_ssl_head, loss_params
from tsvq.tokenizer import Tokenizer
from tsvq.train import (TrainedPrior, _build_priors, _tokens, evaluate_reconstruction, n_epochs, prior_val_loss,
                        stage1_losses)


def flops(fn) -> float:
    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


def matmul_rate(dtype: torch.dtype, n: int = 2048, rounds: int = 5) -> float:
    """FLOP/s of an n × n matrix product (the median of ``rounds``)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * n ** 3 / statistics.median(times)


def stage1(ds, cfg) -> dict:
    """Training and validation FLOPs of one tokenizer run."""
    torch.manual_seed(0)
    model = Tokenizer(config=cfg.tokenizer, length=ds.meta.length)
    head = None
    if cfg.ssl.method != "none":
        head = build_ssl_head(cfg.ssl.method, latent_dim=cfg.tokenizer.hidden_dim, proj_dim=cfg.ssl.proj_dim,
                              loss_params=loss_params(cfg.ssl))
    b = min(cfg.stage1.batch_size, len(ds.x_train))
    x = torch.as_tensor(ds.x_train[:b])
    weight = THESIS_WEIGHTS.get(cfg.ssl.method, 0.0)
    step = flops(lambda: stage1_losses(model, x, cfg, torch.Generator().manual_seed(0), ssl_head=head,
                                       ssl_weight=weight)["loss"].backward())
    epochs = n_epochs(cfg.stage1, len(ds.x_train))
    val = flops(lambda: evaluate_reconstruction(model, ds.x_val))
    return {"train": step / b * len(ds.x_train) * epochs, "validation": val * (epochs // cfg.stage1.val_every)}


def stage2(ds, cfg, n_samples: dict[str, int]) -> dict:
    """Training, validation and sampling FLOPs of one prior run (on an untrained tokenizer of the same shape)."""
    torch.manual_seed(0)
    tokenizer = Tokenizer(config=cfg.tokenizer, length=ds.meta.length).eval()
    tok_train, tok_val = _tokens(tokenizer, ds.x_train, "cpu"), _tokens(tokenizer, ds.x_val, "cpu")
    y_train, y_val = torch.as_tensor(ds.y_train), torch.as_tensor(ds.y_val)
    priors = _build_priors(tokenizer, cfg, ds.meta.n_classes)
    b = min(cfg.stage2.batch_size, len(ds.x_train))

    def step():
        total, prev = 0, None
        for band, prior in priors.items():
            ctx = None if prev is None else tok_train[prev][:b]
            total = total + prior.loss(tok_train[band][:b], y_train[:b], generator=torch.Generator().manual_seed(0),
                                       context=ctx)["loss"]
            prev = band
        total.backward()

    epochs = n_epochs(cfg.stage2, len(ds.x_train))
    out = {"train": flops(step) / b * len(ds.x_train) * epochs,
           "validation": flops(lambda: prior_val_loss(priors, tok_val, y_val)) * (epochs // cfg.stage2.val_every)}
    run = TrainedPrior(tokenizer, {k: p.eval() for k, p in priors.items()}, [], Path("."), cfg, 0.0, 1.0)
    m = 64  # counted on 64 samples, scaled to the grid's counts
    with torch.no_grad():
        out["sampling"] = (flops(lambda: run.sample(m, seed=0)) * n_samples["unconditional"]
                           + flops(lambda: run.sample(m, labels=np.arange(m) % ds.meta.n_classes, seed=1))
                           * n_samples["conditional"]) / m
    return out


def fcn(ds, cfg, n_train: int, n_val: int, n_test: int) -> dict:
    """FLOPs of one FCN run that stops as early as its patience allows, predicting VAL each epoch and TEST once."""
    model = FCN(n_classes=ds.meta.n_classes)
    b = min(cfg.eval.fcn_batch_size, n_train)
    x, y = torch.as_tensor(ds.x_train[:b]), torch.as_tensor(ds.y_train[:b])
    step = flops(lambda: torch.nn.functional.cross_entropy(model(x), y).backward())
    with torch.no_grad():
        fwd = flops(lambda: model(x))
    epochs = cfg.eval.fcn_patience + 1
    return {"train": step / b * n_train * epochs, "validation": fwd / b * (n_val * epochs + n_test)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="GunPoint")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--settings", nargs="+", default=[as_setting(s).name for s in STAGE1_SETTINGS])
    ap.add_argument("--stage2-settings", nargs="+", default=["naive", "vibcreg-slice"])
    ap.add_argument("--priors", nargs="+", default=["token", "embedding"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--measured", default=None, help="a grid_cost.py CSV whose seconds are set beside the floors")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    ds = load_ucr(a.dataset, a.data_dir)
    rate32, rate16 = matmul_rate(torch.float32), matmul_rate(torch.bfloat16)
    print(f"matrix product, {a.threads} thread(s): float32 {rate32 / 1e9:.0f} GFLOP/s, bfloat16 {rate16 / 1e9:.0f} GFLOP/s")
    rows = []

    def add(part, count, parts: dict, measured_part=None):
        each = sum(parts.values())
        rows.append({"part": part, "count": count, "gflop_each": round(each / 1e9, 1),
                     "tflop_total": round(each * count / 1e12, 2), "measured_part": measured_part})
        print(f"{part:<48} {each / 1e12:8.3f} TFLOP × {count}", flush=True)

    for name in a.settings:
        add(f"stage 1: {name}", a.seeds, stage1(ds, as_setting(name).config(a.profile)), f"stage 1: train {name}")
    naive = as_setting("naive").config(a.profile)
    n_cas = len(cas_labels(ds, naive))
    n_samples = {"unconditional": len(ds.x_test), "conditional": n_cas}
    n_held = max(1, round(0.1 * n_cas))
    for prior in a.priors:
        for name in a.stage2_settings:
            cfg = as_setting(name).config(a.profile, prior)
            parts = stage2(ds, cfg, n_samples)
            add(f"stage 2: {prior} prior on {name}", a.seeds, {"train": parts["train"], "validation": parts["validation"]},
                f"stage 2: train {prior} prior on {name}")
            add(f"sampling: {prior} prior on {name}", a.seeds, {"sampling": parts["sampling"]})
        add(f"CAS: FCN on {n_cas} synthetic series ({prior})", a.seeds * len(a.stage2_settings),
            fcn(ds, naive, n_cas - n_held, n_held, len(ds.x_test)), f"CAS: train FCN on {n_cas} samples ({prior})")
    add("evaluator: FCN", a.seeds, fcn(ds, naive, len(ds.x_train), len(ds.x_val), len(ds.x_test)), "evaluator: train FCN")
    df = pd.DataFrame(rows)
    df["floor_seconds_float32"] = (df["tflop_total"] * 1e12 / rate32).round(1)
    df["floor_seconds_bfloat16"] = (df["tflop_total"] * 1e12 / rate16).round(1)
    if a.measured:
        measured = pd.read_csv(a.measured).set_index("part")["seconds_total"]
        df["measured_seconds"] = df["measured_part"].map(measured)
        df["share_of_peak"] = (df["floor_seconds_float32"] / df["measured_seconds"]).round(2)
    df = df.drop(columns="measured_part")
    total = {"part": "total", "count": 0, "tflop_total": round(df["tflop_total"].sum(), 1),
             "floor_seconds_float32": round(df["floor_seconds_float32"].sum(), 1),
             "floor_seconds_bfloat16": round(df["floor_seconds_bfloat16"].sum(), 1)}
    df.loc[len(df)] = total
    out = Path(a.out or Path(__file__).parent / f"grid_flops_{a.dataset}_{a.profile}.csv")
    df.assign(dataset=a.dataset, profile=a.profile, seeds=a.seeds, threads=a.threads,
              gflops_float32=round(rate32 / 1e9, 1), gflops_bfloat16=round(rate16 / 1e9, 1),
              torch_version=torch.__version__).to_csv(out, index=False)
    print(df.to_string(index=False))
    print(f"\n{a.dataset} ({a.profile}, {a.seeds} seeds): {total['tflop_total']:.0f} TFLOP in products and convolutions; "
          f"at least {total['floor_seconds_float32'] / 60:.0f} min on {a.threads} thread(s) in float32 "
          f"({total['floor_seconds_bfloat16'] / 60:.0f} min in bfloat16); wrote {out}")


if __name__ == "__main__":
    main()
