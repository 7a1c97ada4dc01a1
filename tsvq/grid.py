"""``tsvq grid``: plan the units of an experiment grid and run them on an executor.

A unit is one :class:`~tsvq.identity.RunId`: a tokenizer (stage 1: TEST reconstruction and probes), or a
prior with its evaluation (stage 2), plus one anchor unit per dataset and seed (``reference_quality.csv``).
Units already in their table for the current config are skipped; every unit writes its rows as a part
file (:mod:`tsvq.results`), which the driver merges into the tables as units finish, so concurrent
workers — or two grids side by side — never corrupt a table. A failed unit is reported with its log and
the others go on; the exit code says whether all succeeded.

Executors:

- ``debug``: in this process, one unit after the other (tests, debugging);
- ``local``: this machine, ``--workers`` processes at a time (submitit's local executor when submitit is
  installed, else a process pool);
- ``slurm``: a Slurm job array through submitit (``pip install -e '.[cluster]'``); ``--units-per-task``
  units share one array task (and its GPU), run by ``--workers`` processes inside it.

Stage-2 units train the tokenizer they need when it is not cached (under a lock, so two units never
train one model twice). Before a seed's stage-2 units and anchors, the plan puts the models they share into
the model cache as units of their own: the seed's FCN evaluator, and each prior (with its tokenizer) not yet
cached. On two workers the evaluator then trains beside the priors, and the units that score them load both;
otherwise the first unit to need the evaluator trains it while every other unit of the seed waits
(``--no-warm``, for a cluster whose nodes share no model cache). A free local worker takes the next unit that
needs no model a running unit is training (:func:`next_unit`).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from fnmatch import fnmatchcase
from multiprocessing import get_context
from pathlib import Path

from .config import PROFILES
from .experiments import (ALL_PRIORS, PRIORS, STAGE1_SETTINGS, VAL_BEST, as_setting, is_done, reference_done,
                          reference_rows, selection_rows, stage1_rows, stage2_rows, table_keys, val_best_setting,
                          write_unit)
from .identity import RunId
from .results import merge_parts, results_path

EXECUTORS = ("local", "slurm", "debug")


class GridError(ValueError):
    """A grid that cannot run as asked (arguments, no Slurm); the command line prints it as one line."""
_TABLES = {"stage1": ("stage1.csv", "selection.csv"), "selection": ("selection.csv",),
           "stage2": ("stage2.csv", "prior_curves.csv", "samples.csv"), "reference": ("reference_quality.csv",),
           "evaluator": (), "prior": ()}
MODEL_KINDS = ("evaluator", "prior")  # units that fill the model cache and write no rows


@dataclass(frozen=True)
class Unit:
    """One unit of work: a run and what to compute for it, with where to read data and write rows."""

    run: RunId
    kind: str  # stage1 (with its selection rows) | selection (those rows alone) | stage2 | reference
    #          | evaluator (a seed's FCN evaluator) | prior (a prior and its tokenizer), both into the model cache
    results_dir: str
    data_dir: str | None = None
    device: str | None = None
    threads: int = 1

    @property
    def name(self) -> str:
        if self.kind == "evaluator":
            return f"{self.run.dataset}/{self.run.profile}/seed{self.run.seed}/evaluator"
        return str(self.run) + {"reference": "/reference", "selection": "/selection", "prior": "/train"}.get(
            self.kind, "")

    @property
    def tables(self) -> tuple[str, ...]:
        return _TABLES[self.kind]


def plan(datasets, seeds, *, profile: str = "cpu", stages=(1, 2), settings=STAGE1_SETTINGS, priors=PRIORS,
         results_dir="results", data_dir=None, device=None, threads: int = 1, skip_done: bool = True,
         warm: bool = True, only=None) -> list[Unit]:
    """Every unit of the grid, stage-1 units first; units whose rows exist for the current config left out.

    A stage-1 unit trains a tokenizer and writes its TEST rows (``stage1.csv``) and its selection rows:
    cross-validated probes on TRAIN ∪ VAL and the VAL reconstruction error (``selection.csv``), from which a
    setting is chosen without TEST. Both come from the weights in hand, so a grid cut short, or spread over
    machines without a shared cache, never retrains a tokenizer to score it on VAL; a tokenizer whose TEST
    rows exist without its selection rows gets a ``selection`` unit alone. The setting
    ``"val-best"`` (:data:`~tsvq.experiments.VAL_BEST`) stands for the SSL setting chosen so for each dataset
    (:func:`~tsvq.experiments.val_best_setting`, over every seed whose stage-1 grid is complete, as the
    book reports it); the stage-1 grid of the seeds asked for must have run.

    ``warm``: for every seed with stage-2 units or anchors to run, an ``evaluator`` unit when the model cache
    lacks that seed's evaluator and a ``prior`` unit for each stage-2 unit whose prior it lacks, ordered before
    the units that score them; they write no rows.

    ``only``: glob patterns (:func:`fnmatch.fnmatchcase`) over unit names, e.g. ``FordB/cpu/seed0/*/token``;
    the units that write rows are kept when a pattern matches their name, and the evaluator and prior units
    are then planned for those alone.
    """
    from .data import load_ucr

    units: list[Unit] = []
    for name in datasets:
        ds = load_ucr(name, data_dir)
        base = dict(results_dir=str(results_dir), data_dir=data_dir, device=device, threads=threads)
        resolved = []
        for s in settings:
            if s == VAL_BEST:
                if 1 in stages:
                    raise GridError(f"{VAL_BEST!r} is chosen from stage 1's selection rows: run stage 1 first, "
                                    "then stage 2 with it")
                try:
                    s = val_best_setting(ds, profile=profile, seeds=seeds, results_dir=results_dir)
                except ValueError as e:
                    raise GridError(str(e)) from None
                print(f"{name}: the SSL setting chosen on TRAIN ∪ VAL is {s.name}", flush=True)
            if as_setting(s) not in resolved:
                resolved.append(as_setting(s))
        for seed in seeds:
            for setting in resolved:
                if 1 in stages:
                    units.append(Unit(RunId(name, seed, setting, None, profile), "stage1", **base))
                    units.append(Unit(RunId(name, seed, setting, None, profile), "selection", **base))
                if 2 in stages:
                    units += [Unit(RunId(name, seed, setting, p, profile), "stage2", **base) for p in priors]
            if 2 in stages:
                units.append(Unit(RunId(name, seed, as_setting(("none", "none")), None, profile), "reference", **base))
        if skip_done:
            units = [u for u in units if u.run.dataset != name or not _done(u, ds)]
        # a stage-1 unit writes the selection rows too: a selection unit only for a tokenizer it does not train
        training = {u.run for u in units if u.kind == "stage1"}
        units = [u for u in units if u.kind != "selection" or u.run not in training]
        if only:
            units = [u for u in units if u.run.dataset != name or any(fnmatchcase(u.name, p) for p in only)]
        if warm:
            units += _warm_units([u for u in units if u.run.dataset == name], ds)
    # Stage 1 first, then lone selection units; then stage 2 seed by seed, so that a grid cut short leaves whole
    # seeds: the seed's evaluator (first, so that it trains beside the priors), its priors, its anchors, its
    # stage-2 units prior by prior (units side by side then need different tokenizers: three priors of one
    # tokenizer would wait for each other's training). The sort is stable: otherwise the planned order
    # (dataset, seed, setting).
    order = {"stage1": 0, "selection": 1, "evaluator": 2, "prior": 3, "reference": 4, "stage2": 5}
    rank = {p: i for i, p in enumerate(priors)}
    where = {name: i for i, name in enumerate(datasets)}

    def key(u: Unit):
        if u.kind in ("stage1", "selection"):
            return (0, order[u.kind])
        return (1, where[u.run.dataset], u.run.seed, order[u.kind], rank.get(u.run.prior, 0))

    return sorted(units, key=key)


def rescore_plan(datasets, seeds, *, profile: str = "cpu", settings=None, priors=None, results_dir="results",
                 data_dir=None, device=None, threads: int = 1) -> list[Unit]:
    """The stage-2 units and anchors of ``seeds`` whose current rows were scored by another evaluator than the
    one this machine holds for that seed (trained here first where the model cache lacks it). The FCN evaluator
    is cached, never committed, and one trained again on another machine has other weights; running these units
    gives each seed's FID, KID and IS rows one evaluator again (:func:`mixed_evaluator_warnings`).
    ``settings`` / ``priors``: only the rows of these (default: every row)."""
    import numpy as np
    import pandas as pd
    import torch

    from .data import load_ucr
    from .evaluate import load_or_train_evaluator
    from .experiments import current_rows
    from .results import load_table

    settings = None if settings is None else {as_setting(s).name for s in settings}
    units: list[Unit] = []
    for name in datasets:
        ds = load_ucr(name, data_dir)
        base = dict(results_dir=str(results_dir), data_dir=data_dir, device=device, threads=threads)
        tables = {t: current_rows(load_table(results_path(results_dir, name, profile, t), table_keys(t)), ds)
                  for t in ("stage2.csv", "reference_quality.csv")}
        for seed in seeds:
            before = torch.get_num_threads()
            torch.set_num_threads(max(1, threads))  # as a unit would train it: the thread count moves the weights
            try:
                ev = load_or_train_evaluator(ds, config=as_setting("naive").config(profile, "token").eval,
                                             seed=seed, device=device, progress=False)
            finally:
                torch.set_num_threads(before)
            foreign = {}
            for t, df in tables.items():
                df = df[df["seed"] == seed] if not df.empty else df
                if df.empty:
                    foreign[t] = df
                    continue
                acc = pd.to_numeric(df["evaluator_test_accuracy"], errors="coerce").round(6)
                hashed = df.get("evaluator_hash", pd.Series(np.nan, index=df.index, dtype=object))
                ours = hashed.eq(ev.fingerprint) | (hashed.isna() & acc.eq(round(ev.test_accuracy, 6)))
                foreign[t] = df[~ours]
            s2 = foreign["stage2.csv"]
            if not s2.empty:
                s2 = s2[[(settings is None or r.setting in settings) and (priors is None or r.prior in priors)
                         for r in s2.itertuples()]]
            left = len(foreign["stage2.csv"]) - len(s2)
            runs = [Unit(RunId(name, seed, as_setting(r.setting), r.prior, profile), "stage2", **base)
                    for r in s2.itertuples()]
            if not foreign["reference_quality.csv"].empty:
                runs.insert(0, Unit(RunId(name, seed, as_setting(("none", "none")), None, profile), "reference",
                                    **base))
            n_rows = sum(int((df["seed"] == seed).sum()) for df in tables.values() if not df.empty)
            print(f"{name} seed {seed}: this machine's evaluator has TEST accuracy {ev.test_accuracy:.4f} "
                  f"({ev.fingerprint}); another scored {sum(map(len, foreign.values()))} of the seed's {n_rows} "
                  f"rows: {len(runs)} unit(s) to run again"
                  + (f"; {left} row(s) of other settings or priors keep the other evaluator, and their pairs with "
                     "the rows run again will be left out: mend a seed whole" if left else ""), flush=True)
            units += runs
    order = {"reference": 0, "stage2": 1}
    return sorted(units, key=lambda u: order[u.kind])


def _evaluator_run(dataset: str, seed: int, profile: str) -> RunId:
    """The run whose config names a seed's evaluator: the anchors' (every run of a profile shares its eval config)."""
    return RunId(dataset, seed, as_setting(("none", "none")), None, profile)


def _warm_units(units: list[Unit], ds) -> list[Unit]:
    """The ``evaluator`` and ``prior`` units that put what ``units`` (one dataset's) will load into the cache."""
    from .evaluate import evaluator_path
    from .experiments import is_cached

    out, seeds = [], []
    for u in units:
        if u.kind in ("stage2", "reference") and u.run.seed not in seeds:
            seeds.append(u.run.seed)
            run = _evaluator_run(u.run.dataset, u.run.seed, u.run.profile)
            if not evaluator_path(ds, config=run.config().eval, seed=run.seed).is_file():
                out.append(Unit(run, "evaluator", u.results_dir, u.data_dir, u.device, u.threads))
        if u.kind == "stage2" and not is_cached(ds, profile=u.run.profile, setting=u.run.setting, seed=u.run.seed,
                                                prior=u.run.prior):
            out.append(Unit(u.run, "prior", u.results_dir, u.data_dir, u.device, u.threads))
    return out


def _train_evaluator(run: RunId, ds, *, device=None, progress: bool = False) -> dict:
    from .evaluate import load_or_train_evaluator

    load_or_train_evaluator(ds, config=run.config().eval, seed=run.seed, device=device, progress=progress)
    return {}


def _train_prior(run: RunId, ds, *, device=None, progress: bool = False) -> dict:
    from .experiments import prior_for

    prior_for(ds, profile=run.profile, setting=run.setting, prior=run.prior, seed=run.seed, device=device,
              progress=progress)
    return {}


def _done(unit: Unit, ds) -> bool:
    if unit.kind in MODEL_KINDS:  # planned only when missing from the cache; a rerun plans them again if so
        return False
    if unit.kind == "reference":
        return reference_done(unit.run, ds, unit.results_dir)
    return is_done(unit.run, ds, unit.results_dir, unit.tables[0])  # a stage-1 unit: its TEST rows


def _stage1_and_selection_rows(run: RunId, ds, *, device=None, progress: bool = False) -> dict[str, list[dict]]:
    return {**stage1_rows(run, ds, device=device, progress=progress),
            **selection_rows(run, ds, device=device, progress=progress)}


def run_unit(unit: Unit) -> dict:
    """Compute the rows of one unit and write them as parts (the driver merges them).

    Every module a unit needs is imported here, at its start: the library imports lazily, and a unit that
    imported a module only when it reached it, many minutes in, could mix two versions of the code if the
    checkout changed in between. (A checkout that changes under a running grid is still best avoided: a
    worker process that runs several units keeps the modules it imported first.)"""
    import importlib

    import torch

    from .data import load_ucr

    for module in ("evaluate", "experiments", "prior", "probe", "ssl", "augment", "tokenizer", "train"):
        importlib.import_module(f"{__package__}.{module}")

    torch.set_num_threads(max(1, unit.threads))
    t0 = time.perf_counter()
    ds = load_ucr(unit.run.dataset, unit.data_dir)
    fn = {"stage1": _stage1_and_selection_rows, "selection": selection_rows, "stage2": stage2_rows,
          "reference": reference_rows, "evaluator": _train_evaluator, "prior": _train_prior}[unit.kind]
    # progress bars go to the unit's log, one update every 30 s (:func:`tsvq.utils.progress_bar`)
    rows = fn(unit.run, ds, device=unit.device, progress=True)
    if unit.kind not in MODEL_KINDS:
        write_unit(unit.run, unit.results_dir, rows, merge=False)
    return {"unit": unit.name, "ok": True, "seconds": round(time.perf_counter() - t0, 1)}


def _log_path(log_dir: Path, unit: Unit) -> Path:
    return Path(log_dir) / (unit.name.replace("/", "__") + ".log")


def guarded(unit: Unit, log_dir: str) -> dict:
    """:func:`run_unit` with its output in a log file; an error becomes a failed result, never an exception."""
    log = _log_path(Path(log_dir), unit)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as fh, contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
        try:
            return {**run_unit(unit), "log": str(log)}
        except Exception as e:  # reported by the driver; the other units go on
            traceback.print_exc()
            return {"unit": unit.name, "ok": False, "error": f"{type(e).__name__}: {e}", "log": str(log)}


def run_group(units: list[Unit], log_dir: str, workers: int = 1) -> list[dict]:
    """Several units in one job (one Slurm array task sharing a GPU): ``workers`` processes at a time."""
    if workers <= 1 or len(units) <= 1:
        return [guarded(u, log_dir) for u in units]
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        return list(pool.map(guarded, units, [log_dir] * len(units)))


def _merge(unit: Unit) -> None:
    for table in unit.tables:
        merge_parts(results_path(unit.results_dir, unit.run.dataset, unit.run.profile, table), table_keys(table))


def _report(res: dict, done: int, total: int, t0: float) -> None:
    state = "done" if res["ok"] else f"FAILED ({res['error']}) — log: {res['log']}"
    secs = f" in {res['seconds']} s" if res.get("seconds") is not None else ""
    print(f"[{done}/{total} · {time.perf_counter() - t0:.0f} s] {res['unit']} {state}{secs}", flush=True)


def _models(unit: Unit) -> tuple[set, set]:
    """(the models ``unit`` needs, the models it is planned to train): a seed's evaluator, a tokenizer, a prior.

    Stage-1 and model units train theirs; the units that write stage-2 rows and anchors load what the model
    units put into the cache (they train it too, under a lock, when it is missing: ``--no-warm``)."""
    r = unit.run
    tok = ("tokenizer", r.dataset, r.profile, r.seed, r.setting)
    ev = ("evaluator", r.dataset, r.profile, r.seed)
    prior = ("prior", r.dataset, r.profile, r.seed, r.setting, r.prior)
    needs = {"stage1": {tok}, "selection": {tok}, "evaluator": {ev}, "prior": {tok, prior},
             "stage2": {ev, tok, prior}, "reference": {ev}}[unit.kind]
    return needs, (needs if unit.kind in ("stage1", "evaluator", "prior") else set())


def next_unit(pending: list[Unit], running) -> int:
    """The index in ``pending`` of the unit to start next: the first, in the planned order, that needs no model a
    running unit is training; the first of all when every one does (it then waits for that model's lock).

    A seed's evaluator and its priors train side by side, and a unit that would wait for one of them (the
    embedding prior of a tokenizer the token prior's unit is still training) gives its worker to one that can
    run (the units that score the priors already in the cache)."""
    busy = set().union(*(_models(u)[1] for u in running))
    return next((i for i, u in enumerate(pending) if not _models(u)[0] & busy), 0)


def _not_started(u: Unit) -> dict:
    return {"unit": u.name, "ok": False, "error": "not started: the time limit (--minutes) was reached", "log": ""}


def _submitit():
    try:
        import submitit
    except ImportError:
        return None
    return submitit


def execute(units: list[Unit], *, executor: str = "local", workers: int = 1, log_dir="grid-logs",
            gpus_per_task: int = 0, minutes: float | None = None, **slurm) -> list[dict]:
    """Run ``units`` on ``executor``; returns one result per unit (``ok``, ``error``, ``log``).

    ``minutes``: no unit starts after this many minutes (on this machine); the units left are returned
    as not started, so a time-limited session ends with finished units only.
    """
    if executor not in EXECUTORS:
        raise GridError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
    log_dir = str(log_dir)
    results, t0 = [], time.perf_counter()
    late = (lambda: False) if minutes is None else (lambda: time.perf_counter() - t0 > 60 * minutes)
    if executor == "slurm":
        return _execute_slurm(units, workers=workers, log_dir=log_dir, gpus_per_task=gpus_per_task, **slurm)
    if executor == "debug" or workers <= 1:
        for u in units:
            if late():
                results.append(_not_started(u))
                continue
            results.append(guarded(u, log_dir))
            _merge(u)
            _report(results[-1], len(results), len(units), t0)
        return results
    submitit = _submitit()
    pool = None
    if submitit is not None:  # its local executor has no concurrency cap: keep `workers` jobs in flight
        ex = submitit.LocalExecutor(folder=str(Path(log_dir) / "submitit"))
        ex.update_parameters(timeout_min=24 * 60, gpus_per_node=gpus_per_task)
        submit = ex.submit
    else:
        pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"))
        submit = pool.submit
    pending, running = list(units), {}
    previous = _stop_on_sigterm()
    try:
        while pending or running:
            while pending and late():
                results.append(_not_started(pending.pop(0)))
            while pending and len(running) < workers:
                u = pending.pop(next_unit(pending, running.values()))
                running[submit(guarded, u, log_dir)] = u
            time.sleep(0.2)
            for job in [j for j in running if j.done()]:
                u = running.pop(job)
                try:
                    res = job.result()
                except Exception as e:  # the worker process itself died (killed, out of memory)
                    log = str(job.paths.stderr) if hasattr(job, "paths") else str(_log_path(Path(log_dir), u))
                    res = {"unit": u.name, "ok": False, "error": f"{type(e).__name__}: {str(e)[-300:]}", "log": log}
                results.append(res)
                _merge(u)
                _report(res, len(results), len(units), t0)
    finally:
        if running:  # stopped early (SIGTERM, Ctrl-C): no unit outlives the driver
            print(f"stopping: {len(running)} running unit(s) cancelled, their rows not written: "
                  f"{', '.join(u.name for u in running.values())}", file=sys.stderr, flush=True)
            for job in running:
                with contextlib.suppress(Exception):
                    job.cancel()
        if pool is not None:
            if running:  # a running future cannot be cancelled: end its process
                for proc in list((getattr(pool, "_processes", None) or {}).values()):
                    proc.terminate()
            pool.shutdown(wait=not running, cancel_futures=True)
        for signum, handler in (previous or {}).items():
            signal.signal(signum, handler)
    return results


def _stop_on_sigterm():
    """Make SIGTERM (``kill``, a job scheduler, ``timeout``) end the driver through its ``finally``, which cancels
    the running units: submitit's workers ignore SIGTERM (on a cluster it announces preemption), so without this
    they would run on, orphaned. submitit cancels a local job with SIGINT, which a driver started in the
    background by a shell (``tsvq grid … &``, ``nohup``) inherits as ignored and would pass on, ignored, to every
    unit it starts: SIGINT gets its default handler back here, so that the units it starts can be cancelled.
    Returns the previous handlers; None off the main thread, where none can be set."""
    def stop(signum, frame):
        raise SystemExit(128 + signum)

    try:
        previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, stop)}
    except ValueError:
        return None
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
    return previous


def slurm_executor(log_dir: str, *, partition: str | None = None, timeout_min: int = 240, gpus_per_task: int = 1,
                   cpus_per_task: int = 8, array_parallelism: int = 32, mem_gb: int | None = None):
    """A submitit Slurm executor with the grid's parameters (one array task per group of units)."""
    submitit = _submitit()
    if submitit is None:
        raise GridError("the slurm executor needs submitit: pip install -e '.[cluster]'")
    try:
        ex = submitit.AutoExecutor(folder=str(Path(log_dir) / "submitit" / "%j"), cluster="slurm")
    except RuntimeError as e:  # no srun/sbatch on this machine
        raise GridError(f"cannot submit to Slurm here ({e}); use --dry-run to see the sbatch script") from None
    ex.update_parameters(**_slurm_params(partition=partition, timeout_min=timeout_min, gpus_per_task=gpus_per_task,
                                         cpus_per_task=cpus_per_task, array_parallelism=array_parallelism,
                                         mem_gb=mem_gb))
    return ex


def _slurm_params(*, partition, timeout_min, gpus_per_task, cpus_per_task, array_parallelism, mem_gb=None) -> dict:
    params = dict(timeout_min=timeout_min, gpus_per_node=gpus_per_task, cpus_per_task=cpus_per_task,
                  slurm_array_parallelism=array_parallelism, name="tsvq-grid")
    if partition:
        params["slurm_partition"] = partition
    if mem_gb:
        params["mem_gb"] = mem_gb
    return params


def groups(units: list[Unit], per_task: int) -> list[list[Unit]]:
    """Units packed ``per_task`` to an array task, in plan order (stage-1 units first); a stage-2 unit whose
    tokenizer is not cached yet trains it under the cache lock, so no model is trained twice."""
    per_task = max(1, per_task)
    return [units[i:i + per_task] for i in range(0, len(units), per_task)]


def sbatch_script(units: list[Unit], *, log_dir="grid-logs", units_per_task: int = 1, partition=None,
                  timeout_min: int = 240, gpus_per_task: int = 1, cpus_per_task: int = 8,
                  array_parallelism: int = 32) -> str:
    """The sbatch script submitit writes for these units' job array (nothing is submitted; works anywhere)."""
    from submitit.slurm.slurm import _make_sbatch_string

    folder = str(Path(log_dir) / "submitit" / "%j")
    return _make_sbatch_string(command=f"{sys.executable} -u -m submitit.core._submit {folder}", folder=folder,
                               job_name="tsvq-grid", partition=partition, time=timeout_min,
                               gpus_per_node=gpus_per_task, cpus_per_task=cpus_per_task, ntasks_per_node=1,
                               array_parallelism=array_parallelism, map_count=len(groups(units, units_per_task)))


def _execute_slurm(units, *, workers, log_dir, gpus_per_task, units_per_task: int = 1, wait_for: bool = True,
                   **params) -> list[dict]:
    ex = slurm_executor(log_dir, gpus_per_task=gpus_per_task, **params)
    packed = groups(units, units_per_task)
    with ex.batch():
        jobs = [ex.submit(run_group, g, log_dir, workers) for g in packed]
    print(f"submitted {len(jobs)} array tasks ({len(units)} units); logs under {log_dir}/submitit", flush=True)
    if not wait_for:
        return []
    results, t0 = [], time.perf_counter()
    for job, g in zip(jobs, packed):
        try:
            res = job.result()
        except Exception as e:
            res = [{"unit": u.name, "ok": False, "error": f"{type(e).__name__}", "log": str(job.paths.stderr)}
                   for u in g]
        for r, u in zip(res, g):
            results.append(r)
            _merge(u)
            _report(r, len(results), len(units), t0)
    return results


# ----------------------------------------------------------------------------------------------- command line


def add_grid_command(sub) -> None:
    """Register ``tsvq grid`` on the command line's sub-parsers."""
    p = sub.add_parser("grid", help="train and evaluate a grid of runs (local workers, Slurm or in-process)",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", nargs="+", required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--profile", default="cpu", choices=PROFILES)
    p.add_argument("--stages", type=int, nargs="+", default=[1, 2], choices=[1, 2])
    p.add_argument("--settings", nargs="+", default=None,
                   help="tokenizer settings, e.g. naive vibcreg-slice (default: naive and the six SSL settings); "
                        f"'{VAL_BEST}': the SSL setting chosen on TRAIN ∪ VAL per dataset (stage 2, after stage 1)")
    p.add_argument("--priors", nargs="+", default=None, choices=list(ALL_PRIORS),
                   help=f"default: {' '.join(PRIORS)} (with --rescore: every prior)")
    p.add_argument("--executor", default="local", choices=EXECUTORS)
    p.add_argument("--workers", type=int, default=1, help="units at a time (per array task on Slurm)")
    p.add_argument("--threads", type=int, default=None, help="torch threads per unit (default: cores / workers)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--results-dir", default="results")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--log-dir", default="grid-logs", help="unit logs (and submitit's folder); shared on a cluster")
    p.add_argument("--minutes", type=float, default=None, help="start no unit after this many minutes")
    p.add_argument("--only", nargs="+", default=None, metavar="PATTERN",
                   help="run only the units whose name matches one of these glob patterns (as --dry-run lists "
                        "them), e.g. 'FordB/cpu/seed0/*/token'; the evaluator and priors they need are added")
    p.add_argument("--dry-run", action="store_true", help="print the units (and the sbatch script), run nothing")
    p.add_argument("--rescore", action="store_true",
                   help="run again the stage-2 units and anchors of these seeds whose rows another machine's "
                        "evaluator scored, so that FID, KID and IS pair on every seed (trains this machine's "
                        "evaluator first where it is not cached)")
    p.add_argument("--no-warm", dest="warm", action="store_false",
                   help="do not train each seed's evaluator and priors as units of their own before the units "
                        "that score them (for workers that share no model cache)")
    s = p.add_argument_group("slurm")
    s.add_argument("--partition", default=None)
    s.add_argument("--time", type=int, default=240, dest="timeout_min", help="minutes per array task")
    s.add_argument("--gpus-per-task", type=int, default=None)
    s.add_argument("--cpus-per-task", type=int, default=8)
    s.add_argument("--units-per-task", type=int, default=1, help="units packed into one array task (one GPU)")
    s.add_argument("--array-parallelism", type=int, default=32)
    p.set_defaults(func=run_from_args)


def mixed_evaluator_warnings(dataset: str, profile: str, results_dir, data_dir=None) -> list[str]:
    """One warning per seed of ``dataset`` whose current stage-2 and anchor rows were scored by more than one
    evaluator (:func:`tsvq.report.mixed_evaluators`): what a grid that trained the evaluator again on another
    machine leaves behind. Empty when every seed has one."""
    from .data import load_ucr
    from .experiments import current_rows, table_keys
    from .report import mixed_evaluators
    from .results import load_table

    ds = load_ucr(dataset, data_dir)
    tables = [load_table(results_path(results_dir, dataset, profile, t), table_keys(t))
              for t in ("stage2.csv", "reference_quality.csv")]
    mixed = mixed_evaluators(*[current_rows(t, ds) for t in tables if not t.empty])
    return [f"warning: {dataset} ({profile}) seed {r.seed}: {r.rows}. FID, KID and IS pair only rows of one "
            "evaluator: run a seed's stage-2 units and anchors on one machine, or share the model cache"
            for r in mixed.itertuples()]


def run_from_args(args: argparse.Namespace) -> int:
    import torch

    if args.workers < 1:
        raise GridError(f"--workers must be >= 1, got {args.workers}")
    if any(s < 0 for s in args.seeds):
        raise GridError(f"--seeds must be >= 0, got {args.seeds}")
    if args.executor == "slurm" and not args.dry_run and _submitit() is None:
        raise GridError("the slurm executor needs submitit: pip install -e '.[cluster]'")
    settings = STAGE1_SETTINGS if not args.settings else [s if s == VAL_BEST else as_setting(s) for s in args.settings]
    cuda = torch.cuda.is_available() if args.device is None else args.device.startswith("cuda")
    gpus = args.gpus_per_task if args.gpus_per_task is not None else int(cuda)
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.workers)
    where = dict(profile=args.profile, results_dir=args.results_dir, data_dir=args.data_dir,
                 device=args.device, threads=threads)
    if args.rescore:
        if VAL_BEST in settings:
            raise GridError(f"--rescore takes the settings by name, not {VAL_BEST!r}")
        units = rescore_plan(args.datasets, args.seeds, settings=args.settings and settings, priors=args.priors,
                             **where)
    else:
        units = plan(args.datasets, args.seeds, stages=tuple(args.stages), settings=settings,
                     priors=args.priors or list(PRIORS), warm=args.warm, only=args.only, **where)
    print(f"{len(units)} units to run ({args.executor}, {args.workers} worker(s), {threads} thread(s) each)",
          flush=True)
    if args.dry_run:
        for u in units:
            print(f"  {u.name}")
        if args.executor == "slurm":
            print(sbatch_script(units, log_dir=args.log_dir, units_per_task=args.units_per_task,
                                partition=args.partition, timeout_min=args.timeout_min, gpus_per_task=gpus or 1,
                                cpus_per_task=args.cpus_per_task, array_parallelism=args.array_parallelism))
        return 0
    slurm = {}
    if args.executor == "slurm":
        slurm = dict(partition=args.partition, timeout_min=args.timeout_min, cpus_per_task=args.cpus_per_task,
                     units_per_task=args.units_per_task, array_parallelism=args.array_parallelism)
    results = execute(units, executor=args.executor, workers=args.workers, log_dir=args.log_dir,
                      gpus_per_task=gpus, minutes=args.minutes, **slurm)
    failed = [r for r in results if not r["ok"]]
    print(f"{len(results) - len(failed)}/{len(results)} units succeeded", flush=True)
    for key in sorted({(u.run.dataset, u.run.profile, u.results_dir, u.data_dir) for u in units
                       if u.kind in ("stage2", "reference")}, key=str):
        for line in mixed_evaluator_warnings(*key):
            print(line, file=sys.stderr)
    for r in failed:
        print(f"failed: {r['unit']}: {r['error']} (log: {r['log']})", file=sys.stderr)
    return 1 if failed else 0
