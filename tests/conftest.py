import os
from pathlib import Path

# Idle OpenMP threads sleep instead of spinning: on a busy 2-core machine spinning slows torch ~10x.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
_default = REPO.parent / "shared" / "datasets" / "UCR"
UCR_DIR = os.environ.get("TSVQ_DATA_DIR") or (str(_default) if _default.is_dir() else None)

needs_ucr = pytest.mark.skipif(
    UCR_DIR is None, reason="UCR folder not available: set TSVQ_DATA_DIR to a UCR-2018 folder"
)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    # Tests never reuse (or pollute) a user's model cache.
    monkeypatch.setenv("TSVQ_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
    torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture
def ucr_dir():
    if UCR_DIR is None:
        pytest.skip("UCR folder not available: set TSVQ_DATA_DIR to a UCR-2018 folder")
    return UCR_DIR
