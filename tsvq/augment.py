"""Time-series augmentations for the second view of NC-VQVAE (DESIGN.md "Stage 1 with SSL").

Every operation has the signature ``op(x, generator) -> Tensor`` with ``x`` shaped (n, C, L)
(C = 1 for UCR) on any device, and returns a tensor of the same shape. Each series of the batch
gets its own random draw, shared across its channels. All random numbers are drawn on the CPU
from the given :class:`torch.Generator` and then moved to ``x.device``, so a seed gives the same
augmentation on every device. The operations are vectorised over the batch: they run on every
training step.

The three augmentations of the thesis are in :data:`AUGMENTATIONS`; :func:`augment` applies one
by name.
"""
from __future__ import annotations

from functools import partial
from typing import Callable

import torch
import torch.nn.functional as F

Op = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


# ----------------------------------------------------------------------------- helpers


def _check(x: torch.Tensor) -> tuple[int, int]:
    if not isinstance(x, torch.Tensor) or x.ndim != 3:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"augmentations expect a tensor shaped (n, channels, length), got {got}")
    return x.shape[0], x.shape[-1]


def _rand(*shape: int, g: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """U(0, 1) drawn on the CPU from ``g``, moved to the device and dtype of ``like``."""
    return torch.rand(*shape, generator=g).to(device=like.device, dtype=like.dtype)


def _randn(*shape: int, g: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    return torch.randn(*shape, generator=g).to(device=like.device, dtype=like.dtype)


def _interp(x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Linear interpolation of each series at fractional positions.

    x: (n, C, L); pos: (n, M) positions in [0, L - 1] -> (n, C, M).
    """
    L = x.shape[-1]
    pos = pos.clamp(0, L - 1)
    lo = pos.floor().long().clamp(max=L - 2) if L > 1 else pos.floor().long()
    hi = (lo + 1).clamp(max=L - 1)
    w = (pos - lo.to(pos.dtype)).unsqueeze(1)  # (n, 1, M)
    idx = lambda i: i.unsqueeze(1).expand(-1, x.shape[1], -1)  # noqa: E731  (n, C, M)
    return torch.gather(x, 2, idx(lo)) * (1 - w) + torch.gather(x, 2, idx(hi)) * w


# ----------------------------------------------------------------------------- operations


def window_warp(
    x: torch.Tensor, generator: torch.Generator, *, window_ratio: float = 0.4, scale: tuple[float, float] = (0.9, 2.0)
) -> torch.Tensor:
    """Stretch (or squeeze) a random window by a factor U(*scale), then resample the series back to L.

    Done in one step as a piecewise-linear time map, which is what "resample the window, concatenate,
    resample the whole to L" amounts to: the output time u in [0, L'] of the warped series of
    length L' = (L - 1) + w (f - 1) reads the input at u before the window, a + (u - a) / f inside
    it and u - w (f - 1) after it. The first and last samples are kept.
    """
    n, L = _check(x)
    w = round(window_ratio * L)
    if w < 1 or L - w < 1:
        raise ValueError(f"window_ratio {window_ratio} leaves no room for a window in a series of length {L}")
    start = torch.randint(0, L - w, (n, 1), generator=generator).to(device=x.device, dtype=x.dtype)
    f = scale[0] + (scale[1] - scale[0]) * _rand(n, 1, g=generator, like=x)  # (n, 1)
    total = (L - 1) + w * (f - 1)  # length of the warped series, (n, 1)
    u = torch.linspace(0, 1, L, device=x.device, dtype=x.dtype) * total  # (n, L) positions on it
    src = torch.where(u < start, u, torch.where(u < start + w * f, start + (u - start) / f, u - w * (f - 1)))
    return _interp(x, src)


def amplitude_resize(x: torch.Tensor, generator: torch.Generator, *, sigma: float = 0.2) -> torch.Tensor:
    """Scale each series by 1 + N(0, sigma^2)."""
    n, _ = _check(x)
    return x * (1 + sigma * _randn(n, 1, 1, g=generator, like=x))


def slice_shuffle(x: torch.Tensor, generator: torch.Generator, *, n_segments: int = 4) -> torch.Tensor:
    """Cut each series at ``n_segments - 1`` distinct random points and permute the segments.

    Segments are never empty. The permutation is uniform over all orders (the identity included),
    as in the thesis.
    """
    n, L = _check(x)
    if not 1 <= n_segments <= L:
        raise ValueError(f"cannot cut a series of length {L} into {n_segments} non-empty segments")
    k = n_segments
    cuts = torch.rand(n, L - 1, generator=generator).argsort(dim=1)[:, : k - 1] + 1  # distinct, in 1..L-1
    bounds = torch.cat([torch.zeros(n, 1, dtype=torch.long), cuts.sort(dim=1).values], dim=1)  # (n, k) starts
    lengths = torch.diff(bounds, dim=1, append=torch.full((n, 1), L))  # (n, k)
    perm = torch.rand(n, k, generator=generator).argsort(dim=1)  # output segment j <- input segment perm[j]
    out_len = lengths.gather(1, perm)
    out_start = out_len.cumsum(1) - out_len  # (n, k) where each output segment begins
    t = torch.arange(L).expand(n, L)
    j = torch.searchsorted(out_start, t.contiguous(), right=True) - 1  # output segment of every step
    src = bounds.gather(1, perm.gather(1, j)) + t - out_start.gather(1, j)  # (n, L)
    src = src.to(x.device).unsqueeze(1).expand(-1, x.shape[1], -1)
    return torch.gather(x, 2, src)


def gaussian_noise(x: torch.Tensor, generator: torch.Generator, *, std: float = 0.05) -> torch.Tensor:
    """Add N(0, std^2) noise at every step."""
    _check(x)
    return x + std * _randn(*x.shape, g=generator, like=x)


def magnitude_warp(
    x: torch.Tensor, generator: torch.Generator, *, sigma: float = 0.2, knots: int = 4
) -> torch.Tensor:
    """Multiply each series by a smooth random curve: ``knots + 2`` evenly spaced N(1, sigma^2) values
    joined by cubic interpolation."""
    n, L = _check(x)
    values = 1 + sigma * _randn(n, 1, 1, knots + 2, g=generator, like=x)
    curve = F.interpolate(values, size=(1, L), mode="bicubic", align_corners=True)  # (n, 1, 1, L)
    return x * curve[:, :, 0]


def flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Negate each series with probability 0.5."""
    n, _ = _check(x)
    sign = torch.where(_rand(n, 1, 1, g=generator, like=x) < 0.5, -1.0, 1.0).to(x.dtype)
    return x * sign


class Compose:
    """Apply operations in order, all drawing from the same generator."""

    def __init__(self, *ops: Op):
        self.ops = ops

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        for op in self.ops:
            x = op(x, generator)
        return x

    def __repr__(self) -> str:
        return f"Compose({', '.join(getattr(op, '__name__', repr(op)) for op in self.ops)})"


# The augmentations of the thesis, by the names used in SSLConfig.augmentation.
AUGMENTATIONS: dict[str, Op] = {
    "warp": Compose(window_warp, amplitude_resize),
    "slice": slice_shuffle,
    "gauss": gaussian_noise,
}


def thesis_augmentation(
    name: str,
    *,
    warp_window: float = 0.4,
    warp_scale: tuple[float, float] = (0.9, 2.0),
    amplitude_std: float = 0.2,
    slice_segments: int = 4,
    gauss_std: float = 0.05,
) -> Op:
    """The thesis augmentation ``name`` with its parameters (defaults: the thesis values, as in
    :data:`AUGMENTATIONS`); parameters of the other augmentations are ignored."""
    if name not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation {name!r}; choose one of {', '.join(AUGMENTATIONS)}")
    if name == "warp":
        return Compose(partial(window_warp, window_ratio=warp_window, scale=tuple(warp_scale)),
                       partial(amplitude_resize, sigma=amplitude_std))
    if name == "slice":
        return partial(slice_shuffle, n_segments=slice_segments)
    return partial(gaussian_noise, std=gauss_std)


def augment_params(cfg, name: str | None = None) -> dict:
    """The keyword arguments of :func:`thesis_augmentation` that matter for augmentation ``name``
    (default ``cfg.augmentation``), read from an :class:`~tsvq.config.SSLConfig`."""
    name = cfg.augmentation if name is None else name
    return {
        "warp": {"warp_window": cfg.warp_window, "warp_scale": (cfg.warp_scale_min, cfg.warp_scale_max),
                 "amplitude_std": cfg.amplitude_std},
        "slice": {"slice_segments": cfg.slice_segments},
        "gauss": {"gauss_std": cfg.gauss_std},
    }.get(name, {})


def augment(x: torch.Tensor, name: str, generator: torch.Generator, **params) -> torch.Tensor:
    """The augmented view of a batch (n, C, L) under the thesis augmentation ``name``; ``params`` as in
    :func:`thesis_augmentation` (e.g. ``**augment_params(cfg.ssl)``)."""
    if name not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation {name!r}; choose one of {', '.join(AUGMENTATIONS)}")
    op = AUGMENTATIONS[name] if not params else thesis_augmentation(name, **params)
    return op(x, generator)
