"""Train TimeVQVAE 1.0.1 (stage 1, then stage 2) on one dataset and draw unconditional samples.

Runs in the benchmark venv that has ``timevqvae`` (see ``benchmarks/timevqvae_throughput.py``); it is called
by ``benchmarks/timevqvae_peer.py``, which hands it tsvq's TRAIN split (normalised as tsvq normalises it) and
scores the samples with tsvq's evaluator. The model is the README configuration; the training follows
the TimeVQVAE paper's recipe (AdamW, stage 1: time-domain LF MSE + HF L1 + VQ losses; stage 2: masked
token prediction on the frozen stage-1 tokens, 20 % label dropout), for a given number of steps each.

    python benchmarks/timevqvae_train.py --data train.npz --out samples.npz --seed 0 \
        --stage1-steps 500 --stage2-steps 3000 --n-samples 150
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from timevqvae.maskgit import MaskGIT, PriorModelConfig
from timevqvae.vqvae import VQVAE


def readme_vqvae(length: int) -> VQVAE:
    """Stage 1 at the README's configuration."""
    return VQVAE(in_channels=1, input_length=length, n_fft=4, init_dim=4, hid_dim=128, downsampled_width_l=8,
                 downsampled_width_h=32, encoder_n_resnet_blocks=2, decoder_n_resnet_blocks=2, codebook_size_l=1024,
                 codebook_size_h=1024, kmeans_init=True, codebook_dim=8)


def readme_maskgit(vqvae: VQVAE, n_classes: int) -> MaskGIT:
    """Stage 2 at the README's configuration (guidance 1) on a trained, frozen ``vqvae``."""
    def prior_cfg(hidden, layers, heads):
        return PriorModelConfig(hidden_dim=hidden, n_layers=layers, heads=heads, ff_mult=1, use_rmsnorm=True,
                                p_unconditional=0.2, model_dropout=0.3, emb_dropout=0.3)

    return MaskGIT(vqvae=vqvae, lf_choice_temperature=10.0, hf_choice_temperature=0.0, lf_num_sampling_steps=10,
                   hf_num_sampling_steps=10, lf_codebook_size=1024, hf_codebook_size=1024,
                   transformer_embedding_dim=128, lf_prior_model_config=prior_cfg(128, 4, 2),
                   hf_prior_model_config=prior_cfg(32, 1, 1), classifier_free_guidance_scale=1.0, n_classes=n_classes)


def stage1_loss(out) -> torch.Tensor:
    """Time-domain LF MSE + HF L1 reconstruction and the VQ losses of a VQVAE forward pass."""
    return sum(out.recons_loss.values()) + sum(v["loss"].sum() for v in out.vq_losses.values())


def batches(n: int, batch_size: int, generator: torch.Generator):
    """Endless shuffled mini-batches of indices (the last partial batch of an epoch is kept)."""
    while True:
        perm = torch.randperm(n, generator=generator)
        for i in range(0, n, batch_size):
            yield perm[i:i + batch_size]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="npz with x_train (N, 1, L) float32, y_train (N,), n_classes")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--stage1-steps", type=int, default=500)
    ap.add_argument("--stage2-steps", type=int, default=3000)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--n-samples", type=int, required=True)
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    d = np.load(a.data)
    x = torch.as_tensor(d["x_train"], dtype=torch.float32)
    y = torch.as_tensor(d["y_train"], dtype=torch.long)
    n_classes = int(d["n_classes"])
    length = x.shape[-1]
    t0 = time.perf_counter()

    vqvae = readme_vqvae(length)
    opt = torch.optim.AdamW(vqvae.parameters(), lr=1e-3, weight_decay=1e-5)
    vqvae.train()
    it = batches(len(x), a.batch_size, gen)
    for _ in range(a.stage1_steps):
        out = vqvae(x[next(it)])
        loss = stage1_loss(out)
        opt.zero_grad()
        loss.backward()
        opt.step()
    stage1_s = time.perf_counter() - t0
    vqvae.eval()

    maskgit = readme_maskgit(vqvae, n_classes)
    popt = torch.optim.AdamW([p for p in maskgit.parameters() if p.requires_grad], lr=1e-3, weight_decay=1e-5)
    for _ in range(a.stage2_steps):
        maskgit.train()
        maskgit.vqvae.eval()
        idx = next(it)
        loss = maskgit(x[idx], y[idx][:, None]).total_mask_prediction_loss
        popt.zero_grad()
        loss.backward()
        popt.step()
    stage2_s = time.perf_counter() - t0 - stage1_s

    maskgit.eval()
    samples = []
    with torch.no_grad():
        for i in range(0, a.n_samples, 256):
            m = min(256, a.n_samples - i)
            lf, hf = maskgit.iterative_decoding(num_samples=m, mode="cosine", class_condition=None, device="cpu")
            samples.append(maskgit.decode_token_ind_to_timeseries(lf, frequency="lf")
                           + maskgit.decode_token_ind_to_timeseries(hf, frequency="hf"))
    x_gen = torch.cat(samples).numpy().astype(np.float32)
    np.savez(a.out, x=x_gen)
    print(json.dumps({"stage1_seconds": stage1_s, "stage2_seconds": stage2_s,
                      "sampling_seconds": time.perf_counter() - t0 - stage1_s - stage2_s,
                      "stage1_steps": a.stage1_steps, "stage2_steps": a.stage2_steps, "batch_size": a.batch_size}))


if __name__ == "__main__":
    main()
