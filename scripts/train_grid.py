"""Train stage-1 tokenizer grids in parallel worker processes, into the model cache.

The book's grids train their tokenizers one after another; on a machine with many cores (and a GPU) this
script trains them side by side first, each worker on one thread, so that ``run_stage1_grid`` and the
chapters then only load them. ``--pack`` writes the finished ``tokenizer.pt`` files as a tar archive of
cache-relative paths, to be unpacked into another machine's cache (``tar -xf FILE -C ~/.cache/tsvq``).
Every run records its device in its history, and ``stage1.csv`` shows it as ``train_device``.

    python scripts/train_grid.py --data-dir ../shared/datasets/UCR --datasets ECG5000 Mallat \\
        --seeds 0 1 2 --cpu-workers 8 --cuda-workers 6 --cuda-datasets ECG5000 Mallat --pack tokenizers.tar
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import tarfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

_DEADLINE = None


def _init(deadline):
    global _DEADLINE
    import torch

    torch.set_num_threads(1)
    _DEADLINE = deadline


def _train(job):
    """Train (or find in the cache) one tokenizer; skipped once the deadline has passed."""
    dataset, seed, setting, data_dir, profile, device = job
    if _DEADLINE is not None and time.time() > _DEADLINE:
        return job, None, "skipped (deadline)"
    from tsvq.data import load_ucr
    from tsvq.experiments import _unpack, stage1_config
    from tsvq.train import train_seconds, train_tokenizer
    from tsvq.utils import cache_root

    ssl, aug, over = _unpack(setting)
    run = train_tokenizer(load_ucr(dataset, data_dir), stage1_config(profile, ssl, aug, over), seed=seed,
                          device=device, progress=False)
    return job, str(run.path.relative_to(cache_root())), f"{train_seconds(run.history):.0f} s"


def main() -> None:
    from tsvq.experiments import STAGE1_SETTINGS
    from tsvq.utils import cache_root

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--datasets", nargs="+", required=True)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--settings", nargs="+", default=None, help="ssl-aug pairs, e.g. none-none vibcreg-slice "
                    "(default: the stage-1 grid)")
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--cpu-workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    ap.add_argument("--cuda-workers", type=int, default=0)
    ap.add_argument("--cuda-datasets", nargs="*", default=[], help="datasets whose runs go to the GPU workers")
    ap.add_argument("--minutes", type=float, default=None, help="start no run after this many minutes")
    ap.add_argument("--pack", default=None, help="tar archive of the finished tokenizer.pt files")
    a = ap.parse_args()

    settings = [tuple(s.split("-", 1)) for s in a.settings] if a.settings else STAGE1_SETTINGS
    deadline = time.time() + 60 * a.minutes if a.minutes is not None else None
    jobs = {"cpu": [], "cuda": []}
    for seed in a.seeds:  # seed-major, so a deadline leaves whole seeds
        for name in a.datasets:
            for s in settings:
                kind = "cuda" if name in a.cuda_datasets and a.cuda_workers else "cpu"
                jobs[kind].append((name, seed, s, a.data_dir, a.profile, kind))
    spawn = multiprocessing.get_context("spawn")  # CUDA cannot be used in forked workers
    pools = {k: ProcessPoolExecutor(n, mp_context=spawn, initializer=_init, initargs=(deadline,))
             for k, n in (("cpu", a.cpu_workers), ("cuda", a.cuda_workers)) if jobs[k]}
    futures = [pools[k].submit(_train, j) for k, js in jobs.items() for j in js]
    done, t0 = [], time.time()
    for i, fut in enumerate(as_completed(futures), 1):
        try:
            job, path, note = fut.result()
        except Exception as err:  # one failed run must not lose the others
            print(f"[{i}/{len(futures)}] a run failed: {err!r}", flush=True)
            continue
        print(f"[{i}/{len(futures)} {time.time() - t0:5.0f} s] {job[0]} seed {job[1]} {'-'.join(job[2])} "
              f"on {job[5]}: {note}", flush=True)
        if path:
            done.append(path)
    for pool in pools.values():
        pool.shutdown()
    if a.pack:
        with tarfile.open(a.pack, "w") as tar:
            for path in sorted(done):
                tar.add(cache_root() / path, arcname=path)
        print(f"packed {len(done)} tokenizers into {a.pack}")


if __name__ == "__main__":
    main()
