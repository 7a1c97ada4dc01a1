"""Small shared helpers: seeding, devices, the on-disk cache and config hashing."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
from pathlib import Path

import numpy as np
import torch


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch from one integer; return a torch generator seeded alike."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def default_device() -> torch.device:
    """CUDA when available (and not disabled by TSVQ_DEVICE=cpu), else CPU."""
    want = os.environ.get("TSVQ_DEVICE")
    if want:
        return torch.device(want)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def cache_root() -> Path:
    """Root of the model cache: $TSVQ_CACHE_DIR, else ~/.cache/tsvq."""
    root = Path(os.environ.get("TSVQ_CACHE_DIR", Path.home() / ".cache" / "tsvq"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def config_hash(*parts) -> str:
    """Stable short hash of dataclasses / dicts / strings, used as a cache key."""

    def norm(p):
        if dataclasses.is_dataclass(p):
            return {"__type__": type(p).__name__, **{k: norm(v) for k, v in dataclasses.asdict(p).items()}}
        if isinstance(p, dict):
            return {str(k): norm(v) for k, v in p.items()}
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
