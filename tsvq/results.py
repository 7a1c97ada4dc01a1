"""Result tables: where they live, how rows are written safely, and what each row records.

A table is ``<results_dir>/<dataset>/<profile>/<name>.csv`` with one row per run. Writers never append to
it: a finished unit writes its rows as a *part* file (``parts/<name>/<unit>.csv``, through a unique
temporary name and an atomic rename), and :func:`merge_parts` folds the parts into the table under a lock,
writing the table atomically too. Two grids writing one table at once therefore never glue, lose or
duplicate rows, and a killed writer leaves at most a part that is merged later. Readers see the table
plus any parts not yet merged (:func:`load_table`).

Every row carries its provenance (:func:`provenance`): the run's ``config_hash`` (the cache key of the
weights it used), the git commit, the tsvq and torch versions, the thread count and the device.
"""
from __future__ import annotations

import subprocess
from functools import lru_cache
from pathlib import Path

import pandas as pd

from .utils import atomic_write_text, file_lock


class ResultsError(RuntimeError):
    """A result table that cannot be read; the message names the file."""


def results_path(results_dir, dataset: str, profile: str, name: str) -> Path:
    """``<results_dir>/<dataset>/<profile>/<name>``, folders created; a relative ``results_dir`` is taken
    from the current working directory."""
    path = Path(results_dir).expanduser() / dataset / profile / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


TEXT_COLUMNS = ("config_hash", "eval_hash", "git_commit")  # hex strings that may look like numbers


def read_table(path) -> pd.DataFrame:
    """One CSV table (empty when the file is missing or empty); a corrupt file is named in one line."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame()
    try:
        # Hashes and commits are hex strings: read as numbers, "68339434877191e5" would become 6.83e+18.
        return pd.read_csv(path, dtype={c: str for c in TEXT_COLUMNS})
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
        msg = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        raise ResultsError(f"result table {path} cannot be read ({msg}); repair it or move it aside") from None


def _read(path: Path, keys=()) -> pd.DataFrame:
    """:func:`read_table`, refusing a non-empty table without its key columns (not a result table)."""
    df = read_table(path)
    missing = [k for k in keys if k not in df.columns]
    if not df.empty and missing:
        raise ResultsError(f"result table {path} has no column {', '.join(missing)} (columns: "
                           f"{', '.join(map(str, df.columns[:5]))}{', ...' if len(df.columns) > 5 else ''}); "
                           "it is not a result table: repair it or move it aside")
    return df


def _parts_dir(table: Path) -> Path:
    return table.parent / "parts" / table.stem


def _part_files(table: Path) -> list[Path]:
    d = _parts_dir(table)
    return sorted(p for p in d.glob("*.csv") if not p.name.startswith(".")) if d.is_dir() else []


def write_part(table, unit: str, rows: list[dict]) -> Path:
    """Write the rows of one finished unit as a part of ``table``, atomically; returns the part's path."""
    table = Path(table)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in unit)
    text = pd.DataFrame(rows).to_csv(index=False, lineterminator="\n")
    return atomic_write_text(_parts_dir(table) / f"{safe}.csv", text)


def _stack(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _dedupe(df: pd.DataFrame, keys) -> pd.DataFrame:
    """Keep the last row of each key (a rerun's part replaces the row it redid)."""
    keys = [k for k in keys if k in df.columns]
    return df.drop_duplicates(subset=keys, keep="last", ignore_index=True) if keys and not df.empty else df


def load_table(table, keys=()) -> pd.DataFrame:
    """The table with its not yet merged parts, one row per ``keys`` (the last one written wins)."""
    table = Path(table)
    return _dedupe(_stack([_read(table, keys)] + [_read(p, keys) for p in _part_files(table)]), keys)


def merge_parts(table, keys=()) -> pd.DataFrame:
    """Fold the parts of ``table`` into it (under a lock, atomically) and delete the parts folded in."""
    table = Path(table)
    with file_lock(table.parent / f".{table.name}.lock"):
        parts = _part_files(table)
        if not parts:
            return read_table(table)
        df = _dedupe(_stack([_read(table, keys)] + [_read(p, keys) for p in parts]), keys)
        atomic_write_text(table, df.to_csv(index=False, lineterminator="\n"))
        for p in parts:
            p.unlink(missing_ok=True)
        try:
            _parts_dir(table).rmdir()
            _parts_dir(table).parent.rmdir()
        except OSError:
            pass
    return df


def write_table(table, df: pd.DataFrame) -> Path:
    """Replace a whole (derived) table atomically."""
    return atomic_write_text(table, df.to_csv(index=False, lineterminator="\n"))


@lru_cache(maxsize=1)
def git_commit() -> str:
    """The commit of the tsvq checkout this package runs from: ``$TSVQ_GIT_COMMIT`` when set (a copy of the
    tree without its .git folder), else ``git rev-parse``; "" when neither tells."""
    import os

    if os.environ.get("TSVQ_GIT_COMMIT"):
        return os.environ["TSVQ_GIT_COMMIT"]
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def provenance(*, device=None, config_hash: str = "", **hashes: str) -> dict:
    """Recorded with every result row: CPU results are bit-identical for one seed only at one thread
    count, ``config_hash`` names the weights (the cache key) the row was computed from, and further
    ``hashes`` (``eval_hash``) the settings of its evaluation."""
    import torch

    from . import __version__

    return {"config_hash": config_hash, **hashes, "git_commit": git_commit(), "tsvq_version": __version__,
            "torch_version": torch.__version__, "torch_threads": torch.get_num_threads(),
            "device": str(device) if device is not None else "cpu"}
