"""Training and sampling throughput (series/s) at a profile, for ECG5000-sized data (B=128, L=140).

Run: .venv/bin/python benchmarks/throughput.py [--profile cpu] [--steps 10] [--device cpu]
     [--timevqvae-python .bench-venv/bin/python]
Prints a table; random data of the right shape is enough to time the maths.

The "matched" rows build tsvq's LF/HF tokenizer and priors at the size of TimeVQVAE 1.0.1's README
configuration (n_fft 4, 2 residual blocks, codebooks of 1024; LF prior 128 wide x 4 deep, 2 heads; HF prior
32 x 1, 1 head; T = 10 per band), sampling with each of tsvq's two token draws (``PriorConfig.sampling``). With ``--timevqvae-python`` (a venv with ``timevqvae``, see
``benchmarks/timevqvae_throughput.py``) TimeVQVAE is timed on the same machine and threads, and each
matched row gains its speed-up over TimeVQVAE.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from tsvq.config import PriorConfig, get_config
from tsvq.prior import MaskGIT, Sampler
from tsvq.ssl import THESIS_WEIGHTS, build_ssl_head
from tsvq.tokenizer import Tokenizer
from tsvq.train import stage1_losses


def timed(fn, steps: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    t = time.perf_counter()
    for _ in range(steps):
        fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / steps


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--length", type=int, default=140)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--timevqvae-python", default=None,
                    help="python of a venv with timevqvae 1.0.1: time it beside the matched rows")
    ap.add_argument("--only-matched", action="store_true", help="skip the profile rows")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    dev, B, L = torch.device(a.device), a.batch, a.length
    rows = [] if a.only_matched else profile_rows(a, dev, B, L)
    rows += matched_rows(a, dev, B, L)
    print(f"profile {a.profile}, device {dev}, threads {torch.get_num_threads()}, batch {B}, length {L}")
    print(f"| {'what':<58} | {'series/s':>9} | {'s/batch':>8} | {'vs TimeVQVAE':>12} |")
    print(f"|{'-' * 60}|{'-' * 11}|{'-' * 10}|{'-' * 14}|")
    for name, sps, dt, *ratio in rows:
        print(f"| {name:<58} | {sps:>9.1f} | {dt:>8.3f} | {(f'{ratio[0]:.2f}x' if ratio else ''):>12} |")


def matched_rows(a, dev, B: int, L: int) -> list[tuple]:
    """tsvq at TimeVQVAE's README size (and TimeVQVAE itself, when its venv is given)."""
    cfg = get_config("cpu", tokenizer={"bands": "lf_hf", "n_fft": 4, "n_res_blocks": 2, "codebook_size": 1024,
                                       "hidden_dim": 16})
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(B, 1, L, device=dev)
    labels = torch.randint(0, 5, (B,))
    model = Tokenizer(config=cfg.tokenizer, length=L).to(dev).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step():
        loss = stage1_losses(model, x, cfg, gen)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()

    out = [("matched: stage 1 train (LF/HF tokenizer)", timed(step, a.steps))]
    model.eval()
    widths = {"lf": PriorConfig(hidden_dim=128, depth=4, heads=2, ff_mult=1),
              "hf": PriorConfig(hidden_dim=32, depth=1, heads=1, ff_mult=1)}
    priors, prev = {}, None
    for b in model.band_names:
        priors[b] = MaskGIT(config=replace(widths[b], choice_temperature={"lf": 10.0, "hf": 0.0}[b]),
                            n_tokens=model.n_tokens(b), codebook=model.codebook(b).detach().cpu(), n_classes=5,
                            n_context_tokens=0 if prev is None else model.n_tokens(prev),
                            context_codebook=None if prev is None else model.codebook(prev).detach().cpu()).to(dev)
        prev = b
    tokens = {b: torch.randint(0, 1024, (B, model.n_tokens(b)), device=dev) for b in priors}
    popt = torch.optim.AdamW([p for m in priors.values() for p in m.parameters()], lr=1e-3)

    def pstep():
        loss = (priors["lf"].loss(tokens["lf"], labels.to(dev), generator=gen)["loss"]
                + priors["hf"].loss(tokens["hf"], labels.to(dev), generator=gen, context=tokens["lf"])["loss"])
        popt.zero_grad()
        loss.backward()
        popt.step()

    out.append(("matched: stage 2 train (LF + HF priors)", timed(pstep, a.steps)))
    for guidance in (1.0, 2.0):
        for sampling in ("gumbel", "inverse_cdf"):
            def sample():
                lf = Sampler(prior=priors["lf"], sampling=sampling).sample(B, labels=labels, guidance=guidance,
                                                                           generator=gen)
                hf = Sampler(prior=priors["hf"], sampling=sampling).sample(B, labels=labels, guidance=guidance,
                                                                           generator=gen, context=lf)
                model.detokenize({"lf": lf, "hf": hf})

            out.append((f"matched: sampling + decoding (guidance {guidance:g}, {sampling})",
                        timed(sample, max(1, a.steps // 2), warmup=1)))
    n_par = {"stage 1": sum(p.numel() for p in model.parameters()),
             "stage 2": sum(p.numel() for m in priors.values() for p in m.parameters())}
    print(f"matched size: tsvq tokens {dict((b, model.n_tokens(b)) for b in priors)}, parameters {n_par}")
    rows = [(name, B / dt, dt) for name, dt in out]
    if not a.timevqvae_python:
        return rows
    script = Path(__file__).with_name("timevqvae_throughput.py")
    res = subprocess.run([a.timevqvae_python, str(script), "--batch", str(B), "--length", str(L), "--steps",
                          str(a.steps), "--threads", str(torch.get_num_threads())],
                         capture_output=True, text=True, check=True)
    ref = json.loads(res.stdout.strip().splitlines()[-1])
    print(f"TimeVQVAE 1.0.1: tokens {ref['n_tokens']}, parameters stage 1 {ref['stage1_parameters']}, "
          f"stage 2 {ref['stage2_parameters']}")
    theirs = {"stage 1 train": ref["stage1_step_s"], "stage 2 train": ref["stage2_step_s"],
              **{f"sampling + decoding (guidance {float(g):g})": t for g, t in ref["sampling_s"].items()}}
    mine = [(name, sps, dt, next(t for k, t in theirs.items() if k in name.replace(",", ")")) / dt)
            for name, sps, dt in rows]
    return mine + [(f"TimeVQVAE 1.0.1: {k}", B / t, t) for k, t in theirs.items()]


def profile_rows(a, dev, B: int, L: int) -> list[tuple]:
    rows = []
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(B, 1, L, device=dev)

    for ssl, aug in (("none", "warp"), ("barlowtwins", "warp"), ("vibcreg", "warp"), ("vibcreg", "slice")):
        cfg = get_config(a.profile, ssl={"method": ssl, "augmentation": aug})
        model = Tokenizer(config=cfg.tokenizer, length=L).to(dev).train()
        mods = [model]
        head, weight = None, 0.0
        if ssl != "none":
            head = build_ssl_head(ssl, latent_dim=cfg.tokenizer.hidden_dim, proj_dim=cfg.ssl.proj_dim).to(dev)
            weight = THESIS_WEIGHTS[ssl]
            mods.append(head)
        opt = torch.optim.AdamW([p for m in mods for p in m.parameters()], lr=1e-3)

        def step():
            loss = stage1_losses(model, x, cfg, gen, ssl_head=head, ssl_weight=weight)["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()

        dt = timed(step, a.steps)
        rows.append((f"stage 1 train ({ssl if ssl == 'none' else ssl + ', ' + aug})", B / dt, dt))

    cfg = get_config(a.profile)
    model = Tokenizer(config=cfg.tokenizer, length=L).to(dev).eval()
    n_tok = model.n_tokens("all")
    for variant in ("token", "embedding"):
        pcfg = get_config(a.profile, prior={"variant": variant})
        prior = MaskGIT(config=pcfg.prior, n_tokens=n_tok, codebook=model.codebook("all").detach().cpu(),
                        n_classes=5).to(dev)
        opt = torch.optim.AdamW(prior.parameters(), lr=1e-3)
        tokens = torch.randint(0, cfg.tokenizer.codebook_size, (B, n_tok), device=dev)
        labels = torch.randint(0, 5, (B,), device=dev)

        def pstep():
            loss = prior.loss(tokens, labels, generator=gen)["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()

        dt = timed(pstep, a.steps)
        rows.append((f"stage 2 train ({variant})", B / dt, dt))
        sampler = Sampler(prior=prior)

        def sample():
            t = sampler.sample(B, labels=labels.cpu(), guidance=2.0, generator=gen)
            model.detokenize({"all": t})

        dt = timed(sample, max(1, a.steps // 2), warmup=1)
        rows.append((f"sampling + decoding ({variant}, T={pcfg.prior.T}, guided)", B / dt, dt))
    return rows


if __name__ == "__main__":
    main()
