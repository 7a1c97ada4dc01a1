"""UCR archive (2018 format) loading: official TRAIN/TEST, a seeded stratified VAL split, global z-scaling.

Sources, in order: a folder in UCR-2018 layout (``data_dir`` or ``$TSVQ_DATA_DIR``), the datasets that ship
inside aeon's wheel, then a download through aeon when the machine is online. Arrays follow aeon's contract:
``(n_cases, n_channels=1, n_timepoints)`` float32; labels are int64 in ``0..K-1`` encoded from TRAIN.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

BUNDLED = ("GunPoint", "ArrowHead", "ItalyPowerDemand", "OSULeaf", "ACSF1")
DEFAULT_DATASET = "GunPoint"
MIN_LENGTH = 8  # the tokenizer's STFT window (TokenizerConfig.n_fft, the same in every profile)


class DatasetError(ValueError):
    """A dataset that cannot be found or read; the message says where and why."""


@dataclass(frozen=True)
class DatasetMeta:
    name: str
    length: int
    n_classes: int
    class_names: tuple[str, ...]
    source: str  # folder path, "aeon (bundled)" or "aeon (download)"
    mean: float  # scaling statistics, computed on the TRAIN part only
    std: float
    n_train: int
    n_val: int
    n_test: int
    split_seed: int  # seed of the stratified VAL split
    fingerprint: str = ""  # hash of the scaled TRAIN/VAL arrays and labels: models trained on other data never match


@dataclass(frozen=True)
class UCRDataset:
    x_train: np.ndarray  # (n, 1, L) float32, z-scaled
    y_train: np.ndarray  # (n,) int64
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    meta: DatasetMeta

    def denormalize(self, x):
        """Back to the data's original scale (works for numpy arrays and torch tensors)."""
        return x * self.meta.std + self.meta.mean

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        if name not in ("train", "val", "test"):
            raise ValueError(f"split must be 'train', 'val' or 'test', got {name!r}")
        return getattr(self, f"x_{name}"), getattr(self, f"y_{name}")


# ----------------------------------------------------------------------------------------------- reading


def _read_tsv(path: Path, dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """Read one UCR-2018 ``.tsv`` file: label first, then the values, tab-separated."""
    if not path.is_file():
        raise DatasetError(f"{dataset}: file {path} is missing")
    rows, labels = [], []
    try:
        with open(path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                line = line.strip()
                if not line:
                    continue
                fields = line.replace(",", "\t").split()
                try:
                    values = [float(v) for v in fields[1:]]
                except ValueError as e:
                    raise DatasetError(
                        f"{dataset}: {path} line {lineno} is not numeric ({e}); the file is corrupt"
                    ) from None
                labels.append(fields[0])
                rows.append(values)
    except UnicodeDecodeError:
        raise DatasetError(f"{dataset}: {path} is not a text file (not UTF-8 near line {len(rows) + 1}); "
                           "the file is corrupt or not in UCR-2018 .tsv format") from None
    if not rows:
        raise DatasetError(f"{dataset}: {path} holds no series; the file is empty or corrupt")
    lengths = {len(r) for r in rows}
    if len(lengths) > 1:
        short = next(i for i, r in enumerate(rows, 1) if len(r) != len(rows[0]))
        raise DatasetError(
            f"{dataset}: {path} has rows of {sorted(lengths)} values (first odd one: series {short}); "
            "the file is truncated or the dataset has unequal lengths, which tsvq does not support"
        )
    x = np.asarray(rows, dtype=np.float64)
    _check_values(x, path, dataset)
    return x, np.asarray(labels)


def _check_values(x: np.ndarray, where, dataset: str) -> None:
    inf = np.isinf(x)
    if inf.any():
        rows = np.flatnonzero(inf.any(axis=1)) + 1
        listed = ", ".join(str(r) for r in rows[:5]) + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")
        raise DatasetError(
            f"{dataset}: {where} contains infinite values (inf) in series {listed}; "
            "replace them with finite numbers or drop those series"
        )
    nan = np.isnan(x)
    if not nan.any():
        return
    # UCR pads unequal-length series with trailing NaNs; NaNs inside a series are missing values.
    trailing = np.flip(np.cumprod(np.flip(nan, axis=1), axis=1), axis=1).astype(bool)
    if (nan == trailing).all():
        raise DatasetError(
            f"{dataset}: {where} has series of unequal length (NaN-padded); tsvq needs equal-length series"
        )
    raise DatasetError(f"{dataset}: {where} contains missing values (NaN); tsvq needs complete series")


def _read_folder(folder: Path, name: str):
    x_tr, y_tr = _read_tsv(folder / f"{name}_TRAIN.tsv", name)
    x_te, y_te = _read_tsv(folder / f"{name}_TEST.tsv", name)
    return x_tr, y_tr, x_te, y_te


def _read_aeon(name: str, *, download: bool):
    from aeon.datasets import load_classification

    from .utils import cache_root

    out = []
    for split in ("train", "test"):
        kwargs = {} if not download else {"extract_path": str(cache_root() / "ucr")}  # beside the model cache
        x, y = load_classification(name, split=split, **kwargs)
        if isinstance(x, list) or x.ndim != 3:
            raise DatasetError(f"{name}: aeon returned unequal-length series; tsvq needs equal-length series")
        if x.shape[1] != 1:
            raise DatasetError(f"{name}: has {x.shape[1]} channels; tsvq handles univariate series only")
        x = x[:, 0, :].astype(np.float64)
        _check_values(x, f"aeon {split} split", name)
        out += [x, np.asarray(y).astype(str)]
    return tuple(out)


def _online(host: str = "timeseriesclassification.com", timeout: float = 3.0) -> bool:
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _data_dir(data_dir) -> Path | None:
    """The UCR folder asked for (``data_dir``, else ``$TSVQ_DATA_DIR``), or None for aeon only.

    A folder that was asked for but does not exist is an error: falling back to aeon's bundled copy of a
    dataset without a word would train on other data than the user meant. An empty string means "none".
    """
    where = "--data-dir" if data_dir is not None else "TSVQ_DATA_DIR"
    d = data_dir if data_dir is not None else os.environ.get("TSVQ_DATA_DIR")
    if d is None or str(d) == "":
        return None
    path = Path(d).expanduser()
    if not path.exists():
        raise DatasetError(
            f"data folder {path} ({where}) does not exist; give a folder in UCR-2018 layout "
            "(<Name>/<Name>_TRAIN.tsv), or leave it unset to use aeon's bundled datasets"
        )
    if not path.is_dir():
        raise DatasetError(f"data folder {path} ({where}) is a file, not a folder in UCR-2018 layout")
    return path


def check_name(name) -> str:
    """A dataset is named, not addressed: no path separators, so it is read from inside the data folder."""
    name = str(name)
    seps = {"/", "\\", os.sep} | ({os.altsep} if os.altsep else set())
    if not name or name in (".", "..") or any(c in name for c in seps) or name != name.strip():
        raise DatasetError(
            f"dataset name {name!r} is not a plain name like GunPoint (no path separators or surrounding "
            "spaces); put the folder <Name>/ in --data-dir (or TSVQ_DATA_DIR) and pass its name"
        )
    return name


def local_datasets(data_dir=None) -> list[str]:
    d = _data_dir(data_dir)
    if d is None:
        return []
    return sorted(p.name for p in d.iterdir() if (p / f"{p.name}_TRAIN.tsv").is_file())


def _read_raw(name: str, data_dir):
    name = check_name(name)
    d = _data_dir(data_dir)
    looked = []
    if d is not None:
        looked.append(str(d))
        if (d / name).is_dir():
            return (*_read_folder(d / name, name), str(d / name))
    if name in BUNDLED:
        return (*_read_aeon(name, download=False), "aeon (bundled)")
    looked.append("aeon's bundled datasets")
    if _online():
        try:
            return (*_read_aeon(name, download=True), "aeon (download)")
        except DatasetError:
            raise
        except Exception as e:  # aeon raises assorted errors for unknown names
            looked.append(f"aeon download ({type(e).__name__}: {e})")
    else:
        looked.append("aeon download (offline)")
    available = sorted(set(local_datasets(data_dir)) | set(BUNDLED))
    raise DatasetError(
        f"dataset {name!r} not found; looked in: {'; '.join(looked)}. Available: {', '.join(available)}. "
        "Set TSVQ_DATA_DIR to a folder in UCR-2018 layout (<Name>/<Name>_TRAIN.tsv)."
    )


# ----------------------------------------------------------------------------------------------- splitting


def _canonical_label(v: str) -> str:
    """One spelling per number: ``1.0``, ``1``, ``01`` and ``+1`` are the same class ``1``; text stays as is."""
    try:
        f = float(v)
    except ValueError:
        return v
    if not np.isfinite(f):
        return v
    if f.is_integer():
        return str(int(f))
    return repr(f)


def canonical_labels(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y).astype(str)
    if y.size == 0:
        return y
    uniq, inv = np.unique(y, return_inverse=True)
    return np.asarray([_canonical_label(u) for u in uniq.tolist()], dtype=object)[inv].astype(str)


def encode_labels(y_train: np.ndarray, y_test: np.ndarray, name: str):
    """Encode labels 0..K-1 from TRAIN (numeric order when all labels are numbers).

    Labels that spell the same number differently (``1.0`` in TRAIN, ``1`` in TEST) are one class.
    """
    y_train, y_test = canonical_labels(y_train), canonical_labels(y_test)

    def key(v):
        try:
            return (0, float(v), v)
        except ValueError:
            return (1, 0.0, v)

    classes = sorted(set(y_train.tolist()), key=key)
    unseen = sorted(set(y_test.tolist()) - set(classes), key=key)
    if unseen:
        raise DatasetError(f"{name}: TEST has labels {unseen} that never occur in TRAIN")
    index = {c: i for i, c in enumerate(classes)}
    enc = lambda y: np.array([index[v] for v in y], dtype=np.int64)  # noqa: E731
    return enc(y_train), enc(y_test), tuple(str(c) for c in classes)


def _where(source: str, name: str, split: str) -> str:
    """The file a split came from, for messages (aeon's copies have no file of their own)."""
    if source.startswith("aeon"):
        return f"{source} {split} split"
    return str(Path(source) / f"{name}_{split}.tsv")


def check_raw(name: str, source: str, x_tr, y_tr, x_te, y_te):
    """Checks of the raw arrays that need both files: shapes, length, labels. Returns encoded labels.

    Everything that would otherwise fail (or silently mislead) only after a model has trained is caught
    here, with the file and what to do.
    """
    train, test = _where(source, name, "TRAIN"), _where(source, name, "TEST")
    for x, where in ((x_tr, train), (x_te, test)):
        _check_values(x, where, name)
    if x_tr.shape[1] != x_te.shape[1]:
        raise DatasetError(f"{name}: TRAIN series have length {x_tr.shape[1]} but TEST series {x_te.shape[1]} "
                           f"({train}, {test}); both files must hold series of one length")
    if x_tr.shape[1] < MIN_LENGTH:
        raise DatasetError(
            f"{name}: {train} has series of length {x_tr.shape[1]}, shorter than the tokenizer's STFT window "
            f"({MIN_LENGTH}); tsvq needs series of at least {MIN_LENGTH} values"
        )
    y_tr_enc, y_te_enc, class_names = encode_labels(y_tr, y_te, name)
    if len(class_names) < 2:
        raise DatasetError(
            f"{name}: {train} has a single class ({class_names[0]!r}); the probes, the class-conditional prior and "
            "the evaluator need at least two classes"
        )
    return y_tr_enc, y_te_enc, class_names


def _scaling(x: np.ndarray, name: str, where: str) -> tuple[float, float]:
    """Mean and std of the TRAIN part for z-scaling; constant (or numerically constant) data is an error."""
    lo, hi = float(x.min()), float(x.max())
    with np.errstate(over="ignore", invalid="ignore"):
        mean, std = float(x.mean()), float(x.std())
    if lo == hi:
        raise DatasetError(
            f"{name}: every TRAIN value in {where} is {lo:g}, so there is no spread to scale by (std 0); "
            "the file holds constant data, check that it is the dataset you meant"
        )
    if not (np.isfinite(mean) and np.isfinite(std)):
        raise DatasetError(
            f"{name}: the values in {where} (up to {max(abs(lo), abs(hi)):g}) are too large to scale in float64; "
            "rescale the data"
        )
    if std <= 1e-12 * max(abs(mean), abs(lo), abs(hi)):
        raise DatasetError(
            f"{name}: the TRAIN values in {where} are constant up to rounding (std {std:g} around {mean:g}), "
            "too little spread to scale by; subtract a baseline or check that it is the dataset you meant"
        )
    return mean, std


def stratified_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (keep, held_out): per class, a seeded ``fraction`` held out (≥ 1 when the class has ≥ 2)."""
    rng = np.random.default_rng(seed)
    keep, held = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_held = 0 if len(idx) < 2 or fraction <= 0 else min(len(idx) - 1, max(1, round(fraction * len(idx))))
        held.append(idx[:n_held])
        keep.append(idx[n_held:])
    return np.sort(np.concatenate(keep)), np.sort(np.concatenate(held))


def load_ucr(name: str = DEFAULT_DATASET, data_dir=None, *, val_fraction: float = 0.2, seed: int = 0) -> UCRDataset:
    """Load a univariate UCR dataset as TRAIN / VAL / TEST.

    VAL is a stratified, seeded ``val_fraction`` of the official TRAIN file; TEST is the official TEST
    file and is meant for final metrics only. All splits are scaled with one mean/std of the TRAIN part.
    """
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    x_tr, y_tr, x_te, y_te, source = _read_raw(name, data_dir)
    y_tr, y_te, class_names = check_raw(name, source, x_tr, y_tr, x_te, y_te)
    keep, held = stratified_split(y_tr, val_fraction, seed)
    x_va, y_va = x_tr[held], y_tr[held]
    x_tr, y_tr = x_tr[keep], y_tr[keep]
    mean, std = _scaling(x_tr, name, _where(source, name, "TRAIN"))
    scale = lambda x: ((x - mean) / std).astype(np.float32)[:, None, :]  # noqa: E731  (n, 1, L)
    meta = DatasetMeta(
        name=name,
        length=x_tr.shape[1],
        n_classes=len(class_names),
        class_names=class_names,
        source=source,
        mean=mean,
        std=std,
        n_train=len(y_tr),
        n_val=len(y_va),
        n_test=len(y_te),
        split_seed=seed,
    )
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported just below, with the file
        x_tr, x_va, x_te = scale(x_tr), scale(x_va), scale(x_te)
    for x, split in ((x_tr, "TRAIN"), (x_va, "TRAIN"), (x_te, "TEST")):
        if not np.isfinite(x).all():
            raise DatasetError(
                f"{name}: values in {_where(source, name, split)} lie so far from the TRAIN mean ({mean:g}, std {std:g}) "
                "that they overflow float32 once scaled; check the file for outliers"
            )
    meta = replace(meta, fingerprint=data_fingerprint(x_tr, y_tr, x_va, y_va))
    return UCRDataset(x_tr, y_tr, x_va, y_va, x_te, y_te, meta)


def data_fingerprint(x_train, y_train, x_val, y_val) -> str:
    """A short hash of the (scaled) TRAIN and VAL arrays and labels, the data a model is fitted to.

    It is part of every cache key, so a model is never reused for data that changed on disk.
    """
    import hashlib

    h = hashlib.sha256()
    for a in (x_train, y_train, x_val, y_val):
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def list_datasets(data_dir=None) -> list[dict]:
    """What is available: the local UCR folder and aeon's bundled sets, with sizes, length and classes.

    A dataset that cannot be used (a bad file, constant data, one class, ...) does not stop the listing:
    its row has ``error`` set to the message :func:`load_ucr` would raise, and no sizes.
    """
    out = []
    d = _data_dir(data_dir)
    for name in local_datasets(data_dir):
        out.append(_describe(name, str(d / name), lambda: _read_folder(d / name, name)))
    for name in BUNDLED:
        if any(r["name"] == name for r in out):
            continue
        out.append(_describe(name, "aeon (bundled)", lambda: _read_aeon(name, download=False)))
    return out


def _describe(name: str, source: str, read) -> dict:
    try:
        x_tr, y_tr, x_te, y_te = read()
        y_tr_enc, _, class_names = check_raw(name, source, x_tr, y_tr, x_te, y_te)
        _scaling(x_tr, name, _where(source, name, "TRAIN"))
    except DatasetError as e:
        return dict(name=name, source=source, error=str(e))
    except (OSError, UnicodeDecodeError) as e:
        return dict(name=name, source=source, error=f"{name}: cannot read {source} ({type(e).__name__}: {e})")
    return dict(name=name, source=source, n_train=len(x_tr), n_test=len(x_te), length=x_tr.shape[1],
                n_classes=len(class_names), error=None)
