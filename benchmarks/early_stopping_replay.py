"""Replay a stage-2 selection rule on recorded VAL curves: which epoch it would keep, and when it would stop.

The priors of a results folder were validated every epoch for their whole run; this script asks what
validating every ``--val-every`` epochs and stopping once the best epoch lies ``--patience`` × the planned
epochs behind would have kept instead, curve by curve (``prior_curves.csv``, rows with a config hash). A rule
that keeps (nearly) the same epoch at (nearly) the same VAL loss selects the same weights for less training.

    .venv/bin/python benchmarks/early_stopping_replay.py --results results --dataset GunPoint --profile cpu
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd


def replay(epochs: np.ndarray, losses: np.ndarray, *, val_every: int, patience: float, planned: int) -> tuple:
    """(best epoch, its loss, the epoch the run stops at or None) under the rule."""
    keep = epochs % val_every == 0
    e, v = epochs[keep], losses[keep]
    best, wait = 0, patience * planned
    for i in range(len(e)):
        if v[i] < v[best]:
            best = i
        if wait and e[i] - e[best] > wait:
            return int(e[best]), float(v[best]), int(e[i])
    return int(e[best]), float(v[best]), None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default="results")
    ap.add_argument("--dataset", default="GunPoint")
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--val-every", type=int, default=5)
    ap.add_argument("--patience", type=float, default=0.25)
    a = ap.parse_args()
    curves = pd.read_csv(Path(a.results) / a.dataset / a.profile / "prior_curves.csv")
    curves = curves[curves["config_hash"].notna()]
    rows = []
    for (setting, prior, seed), g in curves.groupby(["setting", "prior", "seed"]):
        g = g.sort_values("epoch").drop_duplicates("epoch", keep="last")
        e, v = g["epoch"].to_numpy(), g["val_loss"].to_numpy()
        if not (np.diff(e) == 1).all():
            continue  # not validated every epoch: nothing to replay
        new_epoch, new_loss, stop = replay(e, v, val_every=a.val_every, patience=a.patience, planned=int(e.max()))
        rows.append({"setting": setting, "prior": prior, "seed": seed, "epochs": int(e.max()),
                     "best_epoch": int(e[np.argmin(v)]), "best_val_loss": round(float(v.min()), 4),
                     "rule_epoch": new_epoch, "rule_val_loss": round(new_loss, 4), "stops_at": stop,
                     "epochs_saved": 0 if stop is None else int(e.max()) - stop})
    df = pd.DataFrame(rows)
    print(df.to_string(index=False))
    if not df.empty:
        same = (df["rule_epoch"] - df["best_epoch"]).abs() <= a.val_every
        print(f"\n{same.sum()} of {len(df)} runs keep the same epoch (within {a.val_every}); VAL loss of the kept epoch "
              f"+{(df['rule_val_loss'] - df['best_val_loss']).max():.4f} at most; "
              f"{df['epochs_saved'].sum() / df['epochs'].sum():.0%} of the epochs saved")


if __name__ == "__main__":
    main()
