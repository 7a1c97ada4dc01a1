"""TimeVQVAE 1.0.1 as a peer: trained at the step budget of a tsvq profile, scored by tsvq's evaluator.

For every dataset and seed, this hands tsvq's TRAIN split to ``benchmarks/timevqvae_train.py`` (run by the
Python of a benchmark venv that has ``timevqvae``; never a dependency of tsvq), which trains stage 1 and
stage 2 for the profile's numbers of steps and draws as many unconditional samples as TEST has. The samples
are then scored here exactly as tsvq's own unconditional samples are (``tsvq.evaluate.sample_quality``
with the seed's evaluator: FID, KID, IS, ROCKET-FID and copy rate against real TEST at equal size), and one
row per (dataset, seed) goes to ``results/<dataset>/<profile>/peer.csv``; a row already there with the same
budget and evaluation is not recomputed. The summary chapter sets these rows beside tsvq's naive tokenizer
with the token prior, paired by seed (the seed names the evaluator both are scored with).

    .venv/bin/python benchmarks/timevqvae_peer.py --python .bench-venv/bin/python \
        --datasets GunPoint ECG5000 --seeds 0 1 2 [--profile cpu] [--threads 1]
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from tsvq.config import get_config
from tsvq.data import load_ucr
from tsvq.evaluate import RocketFeaturizer, load_or_train_evaluator, sample_quality
from tsvq.experiments import PEER, peer_budget, peer_hashes, write_peer_row
from tsvq.results import load_table, provenance, results_path

TRAIN = Path(__file__).with_name("timevqvae_train.py")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", required=True, help="python of the benchmark venv with timevqvae 1.0.1")
    ap.add_argument("--datasets", nargs="+", required=True)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--results-dir", default="results")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--steps", nargs=2, type=int, default=None, metavar=("STAGE1", "STAGE2"),
                    help="another budget (a trial: its rows are not the profile's and no chapter reads them)")
    a = ap.parse_args()
    cfg = get_config(a.profile)
    for name in a.datasets:
        ds = load_ucr(name, a.data_dir)
        budget, hashes = peer_budget(ds, cfg), peer_hashes(ds, cfg)
        if a.steps:
            budget.update(stage1_steps=a.steps[0], stage2_steps=a.steps[1])
            hashes["config_hash"] = "trial"
        path = results_path(a.results_dir, name, a.profile, "peer.csv")
        done = load_table(path, ["dataset", "profile", "seed", "peer"]) if path.exists() else None
        for seed in a.seeds:
            if done is not None and not done.empty and (
                    (done["seed"] == seed) & (done["config_hash"].astype(str) == hashes["config_hash"])
                    & (done["eval_hash"].astype(str) == hashes["eval_hash"])).any():
                print(f"{name} seed {seed}: already in {path}")
                continue
            with tempfile.TemporaryDirectory() as tmp:
                data, out = Path(tmp) / "train.npz", Path(tmp) / "samples.npz"
                np.savez(data, x_train=ds.x_train.astype(np.float32), y_train=ds.y_train,
                         n_classes=ds.meta.n_classes)
                res = subprocess.run([a.python, str(TRAIN), "--data", str(data), "--out", str(out), "--seed",
                                      str(seed), "--stage1-steps", str(budget["stage1_steps"]), "--stage2-steps",
                                      str(budget["stage2_steps"]), "--batch-size", str(budget["batch_size"]),
                                      "--n-samples", str(len(ds.x_test)), "--threads", str(a.threads)],
                                     capture_output=True, text=True)
                if res.returncode:
                    sys.exit(f"TimeVQVAE training failed on {name} seed {seed}:\n{res.stderr[-3000:]}")
                timing = json.loads(res.stdout.strip().splitlines()[-1])
                x = np.load(out)["x"]
            if not np.isfinite(x).all():
                sys.exit(f"TimeVQVAE's samples on {name} seed {seed} are not finite")
            evaluator = load_or_train_evaluator(ds, config=cfg.eval, seed=seed)
            rocket = RocketFeaturizer(n_kernels=cfg.eval.rocket_kernels, random_state=seed).fit(ds.x_train)
            q = sample_quality(evaluator, ds.x_test, x, reference_train=ds.x_train,
                               rocket_kernels=cfg.eval.rocket_kernels, seed=seed, rocket=rocket)
            row = {"dataset": name, "profile": a.profile, "seed": seed, "peer": PEER, **q, **budget,
                   **{k: v for k, v in timing.items() if k.endswith("seconds")},
                   "evaluator_test_accuracy": evaluator.test_accuracy,
                   "evaluator_hash": evaluator.fingerprint, **provenance(device="cpu", **hashes)}
            write_peer_row(a.results_dir, row)
            print(f"{name} seed {seed}: FID {q['fid']:.3f}  KID {q['kid']:.4f}  IS {q['is_mean']:.2f}  "
                  f"ROCKET-FID {q['rocket_fid']:.1f}  copy rate {q['copy_rate']:.3f}  "
                  f"({math.fsum(v for k, v in timing.items() if k.endswith('seconds')):.0f} s)")


if __name__ == "__main__":
    main()
