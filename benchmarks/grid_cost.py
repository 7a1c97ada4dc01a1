"""What a cold run of one dataset's grid costs, part by part.

Times, from an empty model cache, one instance of every part of the grid for one seed — each stage-1
setting's tokenizer, its probes, each prior, sampling, the FCN evaluator, ROCKET features, the set metrics
(FID, KID, IS, copy rate), CAS — and multiplies by how often a cold grid needs it:
``--settings`` × ``--seeds`` tokenizers, ``--stage2-settings`` × ``--priors`` × seeds priors, one evaluator
and one ROCKET fit per seed. Prints the table and writes it as CSV. Run it on a quiet machine: the numbers
are wall-clock seconds.

Each trained part also records what it produced (probe accuracies and TEST reconstruction error of a tokenizer;
FID, KID and CAS of a prior's samples), and ``--compare-results`` sets them beside the mean ± std over seeds of
the same setting in a results folder (the newest config of each setting there), so that a faster path can be
checked not to move the results beyond seed noise.

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
from tsvq.results import read_table
from tsvq.train import evaluate_reconstruction, train_prior, train_tokenizer

STAGE1_CHECK = ("knn_accuracy", "svm_accuracy", "test_time_mse")
STAGE2_CHECK = ("fid", "kid", "cas")


def reference_spread(results_dir: Path, dataset: str, profile: str) -> dict:
    """{(table, setting, prior): {metric: (mean, std, n)}} over the seeds of each setting in
    ``<results_dir>/<dataset>/<profile>/stage1.csv`` and ``stage2.csv``: rows that carry a config hash (and, for
    stage 2, an evaluation hash), the latest row of each seed."""
    out = {}
    for table, metrics in (("stage1", STAGE1_CHECK), ("stage2", STAGE2_CHECK)):
        path = results_dir / dataset / profile / f"{table}.csv"
        if not path.exists():
            continue
        df = read_table(path)
        if "config_hash" not in df:
            continue
        df = df[df["config_hash"].notna() & (df["eval_hash"].notna() if table == "stage2" else True)]
        keys = ["setting"] + (["prior"] if table == "stage2" else [])
        for key, part in df.groupby(keys):
            key = key if isinstance(key, tuple) else (key,)
            part = part.drop_duplicates("seed", keep="last")
            out[(table, *key) + ((None,) if table == "stage1" else ())] = {
                m: (part[m].mean(), part[m].std(), len(part)) for m in metrics if m in part}
    return out


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
    ap.add_argument("--skip-stage1", action="store_true",
                    help="time stage 2 and the evaluation only (the tokenizers they need are loaded or trained untimed)")
    ap.add_argument("--cache-dir", default=None, help="model cache to use (default: a fresh, empty one)")
    ap.add_argument("--compare-results", default=None, metavar="DIR",
                    help="a results folder whose seeds' mean ± std the produced metrics are set beside")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    os.environ["TSVQ_CACHE_DIR"] = a.cache_dir or tempfile.mkdtemp(prefix="tsvq-grid-cost-")  # cold: nothing cached
    ds = load_ucr(a.dataset, a.data_dir)
    rows = []

    spread = reference_spread(Path(a.compare_results), a.dataset, a.profile) if a.compare_results else {}

    def add(part, seconds, count, produced=None, ref=None):
        row = {"part": part, "seconds_each": round(seconds, 2), "count": count, "seconds_total": round(seconds * count, 1)}
        note = ""
        for m, v in (produced or {}).items():
            row[m] = v
            mean, std, n = spread.get(ref, {}).get(m, (float("nan"),) * 3)
            if n == n and n >= 2:  # a seed-noise band to compare with
                row[f"{m}_ref"] = f"{mean:.4g} ± {std:.2g} (n={n})"
                row[f"{m}_within_1sd"] = bool(abs(v - mean) <= std)
            note += f"  {m} {v:.4g}" + (f" [{row[f'{m}_ref']}]" if f"{m}_ref" in row else "")
        rows.append(row)
        print(f"{part:<40} {seconds:9.2f} s × {count}{note}", flush=True)

    models = {}
    for name in a.settings if not a.skip_stage1 else ():
        cfg = as_setting(name).config(a.profile)
        run, s = timed(lambda: train_tokenizer(ds, cfg, seed=0, device=a.device, progress=False))
        models[name] = run.model
        got = {"test_time_mse": evaluate_reconstruction(run.model, ds.x_test)["time_mse"]}
        add(f"stage 1: train {name}", s, a.seeds)
        scores, s = timed(lambda: probe(run.model, ds))
        add(f"probes: {name}", s, a.seeds, {**scores, **got}, ("stage1", name, None))
    for name in a.stage2_settings if a.skip_stage1 else ():  # untimed: the priors below need them
        train_tokenizer(ds, as_setting(name).config(a.profile), seed=0, device=a.device, progress=False)
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
        q, s = timed(lambda: sample_quality(evaluator, ds.x_test, x, reference_train=ds.x_train,
                                            rocket_kernels=cfg.eval.rocket_kernels, seed=0, rocket=rocket))
        add(f"set metrics: FID, KID, IS, ROCKET-FID, copy ({prior})", s, n2,
            {"fid": q["fid"], "kid": q["kid"]}, ("stage2", name, prior))
        acc, s = timed(lambda: cas(xc, y, ds.x_test, ds.y_test, n_classes=ds.meta.n_classes, config=pcfg.eval,
                                   seed=0, progress=False))
        add(f"CAS: train FCN on {len(y)} samples ({prior})", s, n2, {"cas": acc}, ("stage2", name, prior))
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
