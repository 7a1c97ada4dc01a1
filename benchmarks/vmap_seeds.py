"""Does training several seeds in one vectorised pass make a tokenizer step cheaper on CPU? Measured, not assumed.

The convolution path of a stage-1 step (the STFT, every band's encoder and decoder, forward and backward; about
three quarters of a step's time, see ``benchmarks/stage1_step.py``) of ``--seeds`` independently initialised
tokenizers, timed two ways on random data of ECG5000's shape (B = 128, L = 140):

- ``one by one``: the tokenizers' steps one after the other (what the grid does, one unit per seed);
- ``vmap``: one step of all of them, their parameters and batch-norm buffers stacked
  (``torch.func.stack_module_state``) and the step vectorised with ``torch.func.vmap`` over ``functional_call``.

The quantiser is left out of both: its dead-code replacement branches on the data, which ``vmap`` cannot trace,
so a vectorised tokenizer would need it rewritten; the measurement says whether that would pay. Each variant is
timed in ``--rounds`` interleaved rounds (the median is reported), so load from other processes falls on both.

Run: .venv/bin/python benchmarks/vmap_seeds.py [--profile cpu] [--seeds 3] [--threads 1]
     [--out benchmarks/vmap_seeds.csv]
"""
from __future__ import annotations

import argparse
import copy
import statistics
import time

import pandas as pd
import torch
from torch.func import functional_call, grad, stack_module_state, vmap

from tsvq.config import get_config
from tsvq.tokenizer import Tokenizer


class ConvPath(torch.nn.Module):
    """A tokenizer without its quantiser: STFT u -> encoder -> decoder per band; returns the STFT MSE."""

    def __init__(self, tok: Tokenizer):
        super().__init__()
        self.tok = tok

    def forward(self, u):
        loss = 0.0
        for band in self.tok.bands.values():
            u_b = u[:, :, slice(*band.rows)]
            loss = loss + torch.nn.functional.mse_loss(band.decoder(band.encoder(u_b)), u_b)
        return loss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--length", type=int, default=140)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=None, help="write the table as CSV")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = get_config(a.profile)
    models = []
    for s in range(a.seeds):
        torch.manual_seed(s)
        models.append(ConvPath(Tokenizer(config=cfg.tokenizer, length=a.length)).train())
    x = torch.randn(a.batch, 1, a.length, generator=torch.Generator().manual_seed(0))
    xs = x.expand(a.seeds, *x.shape).contiguous()

    stft = models[0].tok.stft  # parameter-free: the vectorised path runs it once on all seeds' batches

    def one_by_one():
        for m in models:
            m.zero_grad(set_to_none=True)
            m(stft(x)).backward()

    params, buffers = stack_module_state(models)  # detached copies: the originals are left as they are
    base = copy.deepcopy(models[0]).to("meta")

    def loss_of(p, b, xi):
        return functional_call(base, (p, b), (xi,))

    grad_all = vmap(grad(loss_of), in_dims=(0, 0, 0), randomness="different")

    def vectorised():
        us = stft(xs.flatten(0, 1))
        return grad_all(params, buffers, us.unflatten(0, (a.seeds, a.batch)))

    # the two paths agree: seed 0's gradients, one by one and vectorised
    models[0].zero_grad(set_to_none=True)
    models[0](stft(x)).backward()
    g_vec = vectorised()
    g_one = torch.cat([p.grad.flatten() for p in models[0].parameters()])
    g_vmap = torch.cat([g_vec[n][0].flatten() for n, _ in models[0].named_parameters()])
    worst = ((g_vmap - g_one).norm() / g_one.norm()).item()
    print(f"relative gradient difference (L2), seed 0, vectorised vs one by one: {worst:.1e}")

    variants = {"one by one": one_by_one, "vmap": vectorised}
    times = {k: [] for k in variants}
    for _ in range(a.rounds):
        for name, fn in variants.items():
            fn()
            t = time.perf_counter()
            for _ in range(a.steps):
                fn()
            times[name].append((time.perf_counter() - t) / a.steps)
    ref = statistics.median(times["one by one"])
    rows = [{"variant": k, "seeds": a.seeds, "seconds_per_step_all_seeds": statistics.median(v),
             "speedup": ref / statistics.median(v), "profile": a.profile, "batch": a.batch, "length": a.length,
             "threads": a.threads, "rel_grad_diff": worst, "torch_version": torch.__version__}
            for k, v in times.items()]
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    if a.out:
        table.to_csv(a.out, index=False)


if __name__ == "__main__":
    main()
