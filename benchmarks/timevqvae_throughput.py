"""Time TimeVQVAE 1.0.1 at its README configuration: a stage-1 step, a stage-2 step, and sampling + decoding.

Runs in a separate benchmark venv that has ``timevqvae`` (never a dependency of tsvq; it declares
Python >= 3.12 and runs on 3.11)::

    python -m venv .bench-venv
    .bench-venv/bin/pip install torch==2.13.0 "numpy<2.5" einops pyyaml
    .bench-venv/bin/pip install --no-deps --ignore-requires-python timevqvae==1.0.1
    .bench-venv/bin/python benchmarks/timevqvae_throughput.py --batch 128 --length 140

Prints one JSON object (seconds per batch); ``benchmarks/throughput.py --timevqvae-python`` runs this
script and sets its rows beside tsvq's at the matched size. Random data of the right shape times the maths.
"""
from __future__ import annotations

import argparse
import json
import time

import torch
from timevqvae_train import readme_maskgit, readme_vqvae, stage1_loss  # this folder (the script's sys.path[0])


def timed(fn, steps: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    t = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - t) / steps


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--length", type=int, default=140)
    ap.add_argument("--classes", type=int, default=5)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    B, L = a.batch, a.length
    x = torch.randn(B, 1, L)
    labels = torch.randint(0, a.classes, (B, 1))

    # the README's configuration, stage 1 and stage 2
    vqvae = readme_vqvae(L)
    opt = torch.optim.AdamW(vqvae.parameters(), lr=1e-3)

    def stage1_step():
        out = vqvae(x)
        loss = stage1_loss(out)
        opt.zero_grad()
        loss.backward()
        opt.step()

    vqvae.train()
    stage1 = timed(stage1_step, a.steps)
    vqvae.eval()

    maskgit = readme_maskgit(vqvae, a.classes)
    trainable = [p for p in maskgit.parameters() if p.requires_grad]
    popt = torch.optim.AdamW(trainable, lr=1e-3)

    def stage2_step():
        maskgit.train()
        maskgit.vqvae.eval()
        loss = maskgit(x, labels).total_mask_prediction_loss
        popt.zero_grad()
        loss.backward()
        popt.step()

    stage2 = timed(stage2_step, a.steps)
    maskgit.eval()
    sampling = {}
    for guidance in (1.0, 2.0):
        maskgit.cfg_scale = guidance

        @torch.no_grad()
        def sample():
            lf, hf = maskgit.iterative_decoding(num_samples=B, mode="cosine", class_condition=labels, device="cpu")
            return (maskgit.decode_token_ind_to_timeseries(lf, frequency="lf")
                    + maskgit.decode_token_ind_to_timeseries(hf, frequency="hf"))

        sampling[str(guidance)] = timed(sample, max(1, a.steps // 2), warmup=1)
    print(json.dumps({
        "threads": torch.get_num_threads(), "batch": B, "length": L,
        "stage1_parameters": sum(p.numel() for p in vqvae.parameters()),
        "stage2_parameters": sum(p.numel() for p in trainable),
        "n_tokens": {"lf": maskgit.num_tokens_l, "hf": maskgit.num_tokens_h},
        "stage1_step_s": stage1, "stage2_step_s": stage2, "sampling_s": sampling,
    }))


if __name__ == "__main__":
    main()
