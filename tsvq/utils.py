"""Small shared helpers: progress bars, seeding, devices, the on-disk cache and config hashing."""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import random
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .config import KEYLESS_DEFAULTS, PRECISIONS


class _Lines:
    """A file for tqdm that is not a terminal: each redraw becomes one line of its own (tqdm starts a redraw
    with a carriage return and pads it with spaces), so ``tail -n 3`` of a log shows the last updates."""

    def __init__(self, file):
        self.file, self.last = file, ""

    def write(self, s: str) -> None:
        s = s.replace("\r", "").rstrip(" \n")
        if s and s != self.last:  # closing redraws the last update
            self.file.write(s + "\n")
            self.last = s

    def flush(self) -> None:
        self.file.flush()


def progress_bar(iterable, *, desc: str, disable: bool = False, **kw):
    """A tqdm bar over ``iterable``. On a terminal it redraws as usual; elsewhere (a grid unit's log file, a
    notebook) it writes a line every 30 s or so, so ``tail`` of a unit's log shows how far it is."""
    if getattr(sys.stderr, "isatty", lambda: False)():
        return tqdm(iterable, desc=desc, disable=disable, mininterval=0.1, **kw)
    return tqdm(iterable, desc=desc, disable=disable, mininterval=30.0, maxinterval=30.0, ascii=True,
                file=_Lines(sys.stderr), **kw)


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch from one integer; return a torch generator seeded alike."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def autocast(precision: str, device) -> contextlib.AbstractContextManager:
    """The context of one training step: ``"bf16"`` runs matrix products and convolutions in bfloat16 under
    ``torch.autocast`` (mixed precision; weights, optimiser state, losses and normalisations stay float32),
    ``"fp32"`` changes nothing."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    device = torch.device(device)
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def full_precision(x: torch.Tensor) -> contextlib.AbstractContextManager:
    """A float32 island inside an autocast region (nearest-code search, whitening, covariance losses)."""
    return torch.autocast(x.device.type, enabled=False)


def default_device() -> torch.device:
    """CUDA when available (and not disabled by TSVQ_DEVICE=cpu), else CPU."""
    want = os.environ.get("TSVQ_DEVICE")
    if want:
        return torch.device(want)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def cache_root() -> Path:
    """Root of the model cache: $TSVQ_CACHE_DIR, else $XDG_CACHE_HOME/tsvq, else ~/.cache/tsvq."""
    if os.environ.get("TSVQ_CACHE_DIR"):
        root = Path(os.environ["TSVQ_CACHE_DIR"]).expanduser()
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "tsvq"
    root.mkdir(parents=True, exist_ok=True)
    return root


def _temp_beside(path: Path) -> Path:
    """A unique temporary file in the folder of ``path`` (same file system, so a rename is atomic), with the
    permissions an ordinary new file gets (``mkstemp`` makes it owner-only)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return Path(tmp)


def atomic_save(obj, path) -> Path:
    """``torch.save`` to a unique temporary name, then rename into place: readers never see half a file,
    and two writers of one path never write into the same temporary file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_beside(path)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_text(path, text: str) -> Path:
    """Write a text file through a unique temporary name and an atomic rename. The folder is made as needed,
    again if another process removes it in between (a merge of result parts tidies up empty folders)."""
    path = Path(path)
    for attempt in range(10):
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            tmp = _temp_beside(path)
            break
        except FileNotFoundError:
            if attempt == 9:
                raise
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


@contextlib.contextmanager
def file_lock(path):
    """An exclusive advisory lock (``fcntl.flock``) on ``path`` for the duration of the block.

    A second process asking for the same lock waits until the first releases it (or dies: the kernel
    drops the lock with the process), so two processes training one model never interleave.
    """
    import fcntl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def config_hash(*parts) -> str:
    """Stable short hash of dataclasses / dicts / strings, used as a cache key."""

    def norm(p):
        if dataclasses.is_dataclass(p):
            return {"__type__": type(p).__name__, **norm(dataclasses.asdict(p))}
        if isinstance(p, dict):  # a field of KEYLESS_DEFAULTS at its default is left out, at any depth
            return {str(k): norm(v) for k, v in p.items() if not (k in KEYLESS_DEFAULTS and v == KEYLESS_DEFAULTS[k])}
        if isinstance(p, (list, tuple)):
            return [norm(v) for v in p]
        return p

    blob = json.dumps([norm(p) for p in parts], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cache_dir(kind: str, *parts) -> Path:
    """A cache folder for one artefact, e.g. cache_dir("tokenizer", dataset, seed, config)."""
    d = cache_root() / kind / config_hash(*parts)
    d.mkdir(parents=True, exist_ok=True)
    return d
