"""The identity of a run: which dataset, seed, tokenizer setting (with overrides), prior and profile.

A :class:`Setting` is a stage-1 tokenizer setting — ``naive`` or ``<ssl method>-<augmentation>`` — with
optional config overrides; its name round-trips (``Setting.parse(s.name) == s``), also for the names with
overrides that the result tables already hold (``vibcreg-slice-weight0.1``, ``naive-stage1_epochs50``).
Override keys are ``SSLConfig`` fields, or ``tokenizer_<field>``, ``stage1_<field>``, ``stage2_<field>``.

A :class:`RunId` adds dataset, seed, profile and (for stage 2) the prior, and builds the run's
:class:`~tsvq.config.Config`. Priors are named: ``token`` and ``embedding`` (DESIGN.md), and
``token_thesis``, the thesis' token prior (inverted masking schedule, loss on every position), kept as an
ablation.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .config import AUGMENTATIONS, SSL_METHODS, Config, SSLConfig, TokenizerConfig, TrainConfig, get_config

PRIORS: dict[str, dict[str, Any]] = {
    "token": {"variant": "token"},
    "embedding": {"variant": "embedding"},
    "token_thesis": {"variant": "token", "masking": "thesis"},
}
_SECTIONS = {"tokenizer": TokenizerConfig, "stage1": TrainConfig, "stage2": TrainConfig}


def _override_keys() -> list[str]:
    keys = [f.name for f in dataclasses.fields(SSLConfig) if f.name not in ("method", "augmentation")]
    keys += [f"{s}_{f.name}" for s, t in _SECTIONS.items() for f in dataclasses.fields(t)]
    return sorted(keys, key=len, reverse=True)  # longest first: "stage1_epochs" before "epochs"


def _value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"True": True, "False": False, "None": None}.get(text, text)


@dataclass(frozen=True)
class Setting:
    """A stage-1 tokenizer setting: SSL method, augmentation and config overrides (sorted key/value pairs)."""

    ssl: str = "none"
    aug: str = "none"
    overrides: tuple[tuple[str, Any], ...] = field(default=())

    def __post_init__(self):
        if self.ssl not in SSL_METHODS:
            raise ValueError(f"unknown SSL method {self.ssl!r}; choose one of {', '.join(SSL_METHODS)}")
        if self.ssl == "none":
            object.__setattr__(self, "aug", "none")
        elif self.aug not in AUGMENTATIONS or self.aug == "none":
            raise ValueError(f"unknown augmentation {self.aug!r} for {self.ssl}; choose one of "
                             f"{', '.join(a for a in AUGMENTATIONS if a != 'none')}")
        over = dict(self.overrides)
        known = set(_override_keys())
        bad = sorted(set(over) - known)
        if bad:
            raise ValueError(f"unknown override(s) {bad}; known: {sorted(known)}")
        object.__setattr__(self, "overrides", tuple(sorted(over.items())))

    @property
    def name(self) -> str:
        """``naive``, ``vibcreg-slice``, or with overrides ``vibcreg-slice-weight0.1``."""
        base = "naive" if self.ssl == "none" else f"{self.ssl}-{self.aug}"
        return base + "".join(f"-{k}{v}" for k, v in self.overrides)

    def __str__(self) -> str:
        return self.name

    @classmethod
    def parse(cls, name: str) -> "Setting":
        """The inverse of :attr:`name`."""
        if isinstance(name, Setting):
            return name
        head, *rest = str(name).split("-")
        if head == "naive":
            ssl, aug = "none", "none"
        else:
            if not rest:
                raise ValueError(f"setting {name!r} is neither 'naive' nor '<ssl method>-<augmentation>'")
            ssl, aug, rest = head, rest[0], rest[1:]
        over, keys = {}, _override_keys()
        # values may hold '-' (negative numbers, 1e-05): glue pieces that start no known key to the previous
        pieces: list[str] = []
        for piece in rest:
            if pieces and not any(piece.startswith(k) and piece != k for k in keys):
                pieces[-1] += "-" + piece
            else:
                pieces.append(piece)
        for piece in pieces:
            key = next((k for k in keys if piece.startswith(k) and piece != k), None)
            if key is None:
                raise ValueError(f"cannot read override {piece!r} in setting {name!r}")
            over[key] = _value(piece[len(key):])
        return cls(ssl, aug, tuple(over.items()))

    def sections(self) -> dict[str, dict[str, Any]]:
        """The overrides as :func:`~tsvq.config.get_config` sections (ssl, tokenizer, stage1, stage2)."""
        out: dict[str, dict[str, Any]] = {"ssl": {"method": self.ssl,
                                                  "augmentation": self.aug if self.ssl != "none" else "warp"}}
        for k, v in self.overrides:
            section, _, name = k.partition("_")
            if section in _SECTIONS:
                out.setdefault(section, {})[name] = v
            else:
                out["ssl"][k] = v
        return out

    def config(self, profile: str, prior_name: str | None = None, **sections) -> Config:
        """The full config of this setting at ``profile``; for stage 2 with a named prior (:data:`PRIORS`).
        ``sections`` override config sections on top (e.g. ``prior={"T": 4}``)."""
        merged = self.sections()
        if prior_name is not None:
            if prior_name not in PRIORS:
                raise ValueError(f"unknown prior {prior_name!r}; choose one of {', '.join(PRIORS)}")
            merged["prior"] = dict(PRIORS[prior_name])
        for k, v in sections.items():
            merged[k] = {**merged.get(k, {}), **v}
        return get_config(profile, **merged)


NAIVE = Setting()
# The naive tokenizer and the thesis' six SSL settings.
STAGE1_SETTINGS: tuple[Setting, ...] = (NAIVE,) + tuple(
    Setting(m, a) for m in ("barlowtwins", "vibcreg") for a in ("warp", "slice", "gauss"))


@dataclass(frozen=True)
class RunId:
    """One run: stage 1 when ``prior`` is None, else stage 2 (the prior trained on that tokenizer)."""

    dataset: str
    seed: int
    setting: Setting = NAIVE
    prior: str | None = None
    profile: str = "cpu"

    def __post_init__(self):
        if isinstance(self.setting, str):
            object.__setattr__(self, "setting", Setting.parse(self.setting))
        if self.prior is not None and self.prior not in PRIORS:
            raise ValueError(f"unknown prior {self.prior!r}; choose one of {', '.join(PRIORS)}")
        if int(self.seed) < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        object.__setattr__(self, "seed", int(self.seed))

    @property
    def stage(self) -> int:
        return 1 if self.prior is None else 2

    def __str__(self) -> str:
        """``ECG5000/cpu/seed0/vibcreg-slice`` or ``.../vibcreg-slice/token``."""
        parts = [self.dataset, self.profile, f"seed{self.seed}", self.setting.name]
        return "/".join(parts + ([self.prior] if self.prior else []))

    @classmethod
    def parse(cls, text: str) -> "RunId":
        parts = str(text).split("/")
        if len(parts) not in (4, 5) or not parts[2].startswith("seed"):
            raise ValueError(f"run id {text!r} is not '<dataset>/<profile>/seed<N>/<setting>[/<prior>]'")
        return cls(parts[0], int(parts[2][4:]), Setting.parse(parts[3]), parts[4] if len(parts) == 5 else None,
                   parts[1])

    def config(self) -> Config:
        return self.setting.config(self.profile, self.prior)

    def keys(self) -> dict[str, Any]:
        """The key columns of this run's result row."""
        keys = {"dataset": self.dataset, "profile": self.profile, "seed": self.seed, "setting": self.setting.name}
        return keys | ({"prior": self.prior} if self.prior else {})

    def cache_key(self, ds) -> tuple:
        """The fields that determine the trained weights (see :mod:`tsvq.train`), data fingerprint included."""
        from .train import prior_key, tokenizer_key

        cfg = self.config()
        return prior_key(ds, cfg, self.seed) if self.prior else tokenizer_key(ds, cfg, self.seed)

    def config_hash(self, ds) -> str:
        """The hash of :meth:`cache_key`: the same for every run that would reuse the same weights."""
        from .utils import config_hash

        return config_hash(*self.cache_key(ds))
