"""Where a stage-1 step's time goes, and what two bit-inexact CPU options buy: ``torch.compile`` of the encoder
and decoder, and channels-last memory. Random data of ECG5000's shape (B = 128, L = 140) at a profile.

Run: .venv/bin/python benchmarks/stage1_step.py [--profile cpu] [--threads 1] [--ssl vibcreg-slice]
     [--out benchmarks/stage1_step.csv]

Each variant is timed in ``--rounds`` interleaved rounds (the median is reported), so that load from other
processes falls on all of them alike; then torch's profiler lists the operators of the eager step by their
share of its CPU time. A step whose time is in the convolutions' arithmetic gains nothing from removing Python
overhead (vectorising seeds with ``vmap`` amounts to a larger batch of the same arithmetic).
"""
from __future__ import annotations

import argparse
import statistics
import time

import pandas as pd
import torch

from tsvq.config import get_config
from tsvq.identity import Setting
from tsvq.ssl import THESIS_WEIGHTS, build_ssl_head, loss_params
from tsvq.tokenizer import Tokenizer
from tsvq.train import stage1_losses


def build(cfg, length: int, *, compiled: bool = False, channels_last: bool = False):
    torch.manual_seed(0)
    model = Tokenizer(config=cfg.tokenizer, length=length)
    head = None
    if cfg.ssl.method != "none":
        head = build_ssl_head(cfg.ssl.method, latent_dim=cfg.tokenizer.hidden_dim, proj_dim=cfg.ssl.proj_dim,
                              loss_params=loss_params(cfg.ssl))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if compiled:
        for mod in model.modules():
            if type(mod).__name__ in ("Encoder", "Decoder"):
                mod.forward = torch.compile(mod.forward)
    params = list(model.parameters()) + (list(head.parameters()) if head is not None else [])
    opt = torch.optim.AdamW(params, 1e-3)
    gen = torch.Generator().manual_seed(0)
    weight = THESIS_WEIGHTS.get(cfg.ssl.method, 0.0)

    def step(x):
        loss = stage1_losses(model, x, cfg, gen, ssl_head=head, ssl_weight=weight)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--ssl", default="naive", help="a setting name, e.g. naive or vibcreg-slice")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--length", type=int, default=140)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=None, help="write the table as CSV")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = Setting.parse(a.ssl).config(a.profile)
    x = torch.randn(a.batch, 1, a.length, generator=torch.Generator().manual_seed(0))
    variants = {"eager": {}, "torch.compile (encoder, decoder)": {"compiled": True},
                "channels_last": {"channels_last": True}}
    steps, times, setup = {}, {k: [] for k in variants}, {}
    for name, kw in variants.items():
        t = time.perf_counter()
        steps[name] = build(cfg, a.length, **kw)
        steps[name](x)  # the first step compiles
        setup[name] = time.perf_counter() - t
    for _ in range(a.rounds):
        for name, step in steps.items():
            step(x)
            t = time.perf_counter()
            for _ in range(a.steps):
                step(x)
            times[name].append((time.perf_counter() - t) / a.steps)
    eager = statistics.median(times["eager"])
    rows = [{"variant": k, "seconds_per_step": statistics.median(v), "speedup": eager / statistics.median(v),
             "first_step_seconds": setup[k], "setting": a.ssl, "profile": a.profile, "batch": a.batch,
             "length": a.length, "threads": a.threads, "torch_version": torch.__version__} for k, v in times.items()]
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))

    from torch.profiler import profile
    with profile() as prof:
        for _ in range(a.steps):
            steps["eager"](x)
    ops = pd.DataFrame([(e.key, e.self_cpu_time_total) for e in prof.key_averages()], columns=["op", "self_us"])
    ops["share"] = ops["self_us"] / ops["self_us"].sum()
    ops = ops.sort_values("share", ascending=False)
    groups = {"convolution (forward and backward)": ops["op"].str.contains("conv"),
              "batch norm": ops["op"].str.contains("batch_norm"),
              "activations": ops["op"].str.contains("relu"),
              "optimiser": ops["op"].str.contains("Optimizer|_foreach|addcdiv|lerp", regex=True)}
    print("\nshare of the eager step's CPU time:")
    for name, mask in groups.items():
        print(f"  {name}: {ops.loc[mask, 'share'].sum():.0%}")
    print(f"  everything else: {1 - sum(ops.loc[m, 'share'].sum() for m in groups.values()):.0%}")
    if a.out:
        table.to_csv(a.out, index=False)


if __name__ == "__main__":
    main()
