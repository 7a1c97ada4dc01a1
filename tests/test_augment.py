"""Properties of the augmentations: shapes, seeding, and what each one does to a series."""
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

from tsvq.augment import (
    AUGMENTATIONS,
    Compose,
    amplitude_resize,
    augment,
    flip,
    gaussian_noise,
    magnitude_warp,
    slice_shuffle,
    window_warp,
)

GUNPOINT = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "UCR" / "GunPoint"

OPS = {
    "window_warp": window_warp,
    "amplitude_resize": amplitude_resize,
    "slice_shuffle": slice_shuffle,
    "gaussian_noise": gaussian_noise,
    "magnitude_warp": magnitude_warp,
    "flip": flip,
    **{f"aug_{name}": op for name, op in AUGMENTATIONS.items()},
}


def gen(seed):
    return torch.Generator().manual_seed(seed)


def batch(n=16, L=50, seed=0):
    return torch.randn(n, 1, L, generator=gen(seed))


@pytest.mark.parametrize("name", OPS)
def test_shape_and_seeding(name):
    op, x = OPS[name], batch()
    y = op(x, gen(1))
    assert y.shape == x.shape and y.dtype == x.dtype and torch.isfinite(y).all()
    assert torch.equal(y, op(x, gen(1)))  # same seed, same view
    assert not torch.equal(y, op(x, gen(2)))  # another seed, another view
    assert not torch.equal(y, x)


def test_augment_by_name_and_unknown_name():
    x = batch()
    assert torch.equal(augment(x, "slice", gen(3)), slice_shuffle(x, gen(3)))
    assert torch.equal(augment(x, "warp", gen(3)), Compose(window_warp, amplitude_resize)(x, gen(3)))
    with pytest.raises(ValueError, match="unknown augmentation 'jitter'.*warp, slice, gauss"):
        augment(x, "jitter", gen(0))
    with pytest.raises(ValueError, match=r"\(n, channels, length\)"):
        augment(x[:, 0], "gauss", gen(0))


def test_gauss_adds_noise_of_the_right_std():
    x = batch(n=256, L=1000)
    noise = augment(x, "gauss", gen(0)) - x
    assert abs(noise.std().item() - 0.05) < 0.05 * 0.01  # 256k draws: relative error ~0.1 %
    assert abs(noise.mean().item()) < 1e-3


def test_slice_is_a_permutation_of_contiguous_segments():
    n, L = 64, 30
    x = torch.arange(n * L, dtype=torch.float32).view(n, 1, L)  # distinct values: position is readable
    y = augment(x, "slice", gen(0))
    src = (y[:, 0] - x[:, 0, :1]).long()  # index into the input of every output step, (n, L)
    shuffled = 0
    for s in src:
        assert sorted(s.tolist()) == list(range(L))  # every step used once
        breaks = torch.nonzero(s[1:] != s[:-1] + 1).flatten() + 1
        starts = [0, *breaks.tolist()]
        assert len(starts) <= 4  # at most 4 contiguous runs (fewer when segments stay adjacent)
        segments = [s[a:b] for a, b in zip(starts, [*starts[1:], L])]
        segments.sort(key=lambda seg: seg[0].item())
        assert torch.equal(torch.cat(segments), torch.arange(L))  # the runs put back in order give x
        shuffled += len(starts) > 1
    assert shuffled > n // 2  # only the identity order (1 in 24) keeps a series whole


def test_slice_needs_room_for_the_segments():
    with pytest.raises(ValueError, match="segments"):
        slice_shuffle(torch.zeros(2, 1, 3), gen(0))


def test_window_warp_is_a_monotone_time_warp():
    L = 140
    ramp = torch.arange(L, dtype=torch.float32).expand(32, 1, L)
    y = window_warp(ramp, gen(0))
    assert y.shape == ramp.shape
    assert (y.diff(dim=-1) > 0).all()  # a reparametrisation of time never goes back
    assert torch.allclose(y[..., 0], ramp[..., 0]) and torch.allclose(y[..., -1], ramp[..., -1])
    assert (y - ramp).abs().amax(dim=-1).median() > 1.0  # warped (a factor near 1 barely moves a series)
    # A stretch factor of 1 is the identity.
    assert torch.allclose(window_warp(ramp, gen(0), scale=(1.0, 1.0)), ramp, atol=1e-4)
    # Stretching the window by f = 2: time runs half as fast inside it, and the whole series is
    # squeezed back by (L - 1) / total, so the steps of the ramp take exactly two values.
    w = round(0.4 * L)
    total = (L - 1) + w  # span of the stretched series before resampling to L
    step = window_warp(ramp, gen(0), scale=(2.0, 2.0)).diff(dim=-1)
    outside = torch.isclose(step, torch.tensor(total / (L - 1)), atol=1e-3)
    inside = torch.isclose(step, torch.tensor(total / (L - 1) / 2), atol=1e-3)
    assert ((~(outside | inside)).sum(dim=-1) <= 2).all()  # kinks at the two window edges only
    assert ((inside.sum(dim=-1) - 2 * w * (L - 1) / total).abs() <= 2).all()


def test_warp_changes_amplitude_per_series():
    x = batch(n=2000, L=20).abs() + 1
    ratio = amplitude_resize(x, gen(0)) / x
    assert torch.allclose(ratio, ratio[..., :1].expand_as(ratio))  # one factor per series
    assert abs(ratio[:, 0, 0].std().item() - 0.2) < 0.02 and abs(ratio[:, 0, 0].mean().item() - 1) < 0.02


def test_magnitude_warp_is_a_smooth_positive_curve():
    ones = torch.ones(500, 1, 200)
    curve = magnitude_warp(ones, gen(0), sigma=0.1)
    assert (curve > 0).all()
    assert curve.diff(dim=-1).abs().max() < 0.02  # smooth: no jumps between neighbouring steps
    assert curve.std(dim=-1).mean() > 0.02  # but not flat


def test_flip_negates_about_half_the_series():
    x = batch(n=1000)
    y = flip(x, gen(0))
    flipped = torch.isclose(y, -x).all(dim=-1).flatten()
    kept = torch.isclose(y, x).all(dim=-1).flatten()
    assert (flipped | kept).all() and 400 < flipped.sum() < 600


def test_compose_applies_ops_in_order_from_one_generator():
    x, g = batch(), gen(5)
    expected = gaussian_noise(flip(x, g), g)
    assert torch.equal(Compose(flip, partial(gaussian_noise))(x, gen(5)), expected)


@pytest.mark.skipif(not GUNPOINT.is_dir(), reason=f"UCR GunPoint not found at {GUNPOINT}")
@pytest.mark.parametrize("name", ["warp", "slice", "gauss"])
def test_real_series(name):
    data = np.loadtxt(GUNPOINT / "GunPoint_TRAIN.tsv", delimiter="\t", dtype=np.float32)
    x = torch.from_numpy(data[:, 1:]).unsqueeze(1)  # (50, 1, 150)
    y = augment(x, name, gen(0))
    assert y.shape == x.shape == (50, 1, 150)
    assert torch.isfinite(y).all()
    assert not torch.allclose(y, x)
    if name == "slice":  # the same values, rearranged
        assert torch.equal(y.sort(dim=-1).values, x.sort(dim=-1).values)


@pytest.mark.parametrize("name", list(AUGMENTATIONS))
def test_config_parameters_reach_the_augmentations(name):
    from tsvq.augment import augment_params, thesis_augmentation
    from tsvq.config import SSLConfig

    x = batch()
    # the default parameters are the thesis values: the same view as the fixed operations
    default = augment_params(SSLConfig(augmentation=name))
    assert torch.equal(augment(x, name, gen(3), **default), AUGMENTATIONS[name](x, gen(3)))
    assert torch.equal(thesis_augmentation(name)(x, gen(3)), AUGMENTATIONS[name](x, gen(3)))
    changed = SSLConfig(augmentation=name, warp_window=0.2, warp_scale_min=1.5, amplitude_std=0.0,
                        slice_segments=2, gauss_std=0.5)
    y = augment(x, name, gen(3), **augment_params(changed))
    assert not torch.equal(y, AUGMENTATIONS[name](x, gen(3)))
    if name == "gauss":
        assert abs((y - x).std().item() - 0.5) < 0.05
    if name == "slice":  # two segments: a rotation of the series
        assert any(torch.equal(y[0, 0], torch.roll(x[0, 0], s)) for s in range(x.shape[-1]))
