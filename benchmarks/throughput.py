"""Training and sampling throughput (series/s) at a profile, for ECG5000-sized data (B=128, L=140).

Run: .venv/bin/python benchmarks/throughput.py [--profile cpu] [--steps 10] [--device cpu]
Prints a table; random data of the right shape is enough to time the maths.
"""
from __future__ import annotations

import argparse
import time

import torch

from tsvq.config import get_config
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
    a = ap.parse_args()
    dev, B, L = torch.device(a.device), a.batch, a.length
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

    print(f"profile {a.profile}, device {dev}, threads {torch.get_num_threads()}, batch {B}, length {L}")
    print(f"| {'what':<46} | {'series/s':>9} | {'s/batch':>8} |")
    print(f"|{'-' * 48}|{'-' * 11}|{'-' * 10}|")
    for name, sps, dt in rows:
        print(f"| {name:<46} | {sps:>9.1f} | {dt:>8.3f} |")


if __name__ == "__main__":
    main()
