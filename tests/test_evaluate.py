"""Evaluation metrics and the FCN evaluator, on exact moments and on real UCR data.

The evaluator tests train real FCNs with the ``cpu`` profile (GunPoint once per module, ECG5000 once)
into the tests' temporary cache, so a user's cache can never stand in for training.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
from conftest import UCR_DIR

import tsvq.evaluate as ev
from tsvq.config import get_config
from tsvq.data import load_ucr
from tsvq.evaluate import (
    FCN,
    RocketFeaturizer,
    cas,
    cas_sample_counts,
    fid_from_features,
    frechet_distance,
    inception_score,
    load_or_train_evaluator,
    rocket_fid,
    sample_quality,
    train_fcn,
)

CPU = get_config("cpu").eval
ROCKET_KERNELS = 336  # 4 × 84 features: enough to tell data apart, and a quick Fréchet distance


@pytest.fixture(scope="module", autouse=True)
def session_cache(tmp_path_factory):
    # Module fixtures (the GunPoint evaluator) see the same temporary cache as conftest gives each test.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TSVQ_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
        yield


@pytest.fixture(scope="module")
def gunpoint():
    return load_ucr("GunPoint", UCR_DIR)  # the UCR folder when present, else aeon's bundled copy


@pytest.fixture(scope="module")
def gunpoint_evaluator(gunpoint):
    start = time.perf_counter()
    evaluator = load_or_train_evaluator(gunpoint, config=CPU, seed=0, progress=False)
    print(f"\nGunPoint evaluator: TEST accuracy {evaluator.test_accuracy:.4f}, trained in "
          f"{time.perf_counter() - start:.1f} s")
    return evaluator


def _spd(rng, d, scale=1.0):
    a = rng.standard_normal((d, d))
    return scale * (a @ a.T / d + 0.1 * np.eye(d))


# ----------------------------------------------------------------------------------------------- FID


def test_frechet_distance_matches_closed_form_for_shared_eigenbasis():
    # Covariances R diag(a) Rᵀ and R diag(b) Rᵀ commute: d² = ‖Δμ‖² + Σ (√a − √b)².
    rng = np.random.default_rng(0)
    rot, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    a, b = rng.uniform(0.1, 4.0, 6), rng.uniform(0.1, 4.0, 6)
    mu1, mu2 = rng.standard_normal(6), rng.standard_normal(6)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    got = frechet_distance(mu1, rot @ np.diag(a) @ rot.T, mu2, rot @ np.diag(b) @ rot.T)
    assert got == pytest.approx(expected, rel=1e-10)
    assert frechet_distance([1.0], [[4.0]], [3.0], [[1.0]]) == pytest.approx(4.0 + 1.0)  # 1-D: Δμ² + (σ1 − σ2)²


def test_frechet_distance_matches_scipy_sqrtm_on_non_commuting_covariances():
    rng = np.random.default_rng(1)
    s1, s2 = _spd(rng, 8), _spd(rng, 8, scale=3.0)
    mu1, mu2 = rng.standard_normal(8), rng.standard_normal(8)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(frechet_distance(mu2, s2, mu1, s1), rel=1e-12)


def test_fid_from_samples_converges_to_closed_form():
    rng = np.random.default_rng(2)
    d = 4
    var1, var2 = np.array([1.0, 2.0, 0.5, 1.5]), np.array([2.0, 0.5, 0.5, 3.0])
    mu1, mu2 = np.zeros(d), np.array([1.0, -1.0, 0.5, 0.0])
    f1 = mu1 + np.sqrt(var1) * rng.standard_normal((200_000, d))
    f2 = mu2 + np.sqrt(var2) * rng.standard_normal((200_000, d))
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(var1) - np.sqrt(var2)) ** 2)  # = 3.047…
    assert fid_from_features(f1, f2) == pytest.approx(expected, abs=0.03)


def test_fid_is_zero_for_identical_sets_symmetric_and_order_invariant(gunpoint_evaluator, gunpoint):
    f_test = gunpoint_evaluator.features(gunpoint.x_test)  # (150, 128) real evaluator features
    f_train = gunpoint_evaluator.features(gunpoint.x_train)
    assert f_test.shape == (len(gunpoint.x_test), 128) and f_test.dtype == np.float64
    assert abs(fid_from_features(f_test, f_test)) < 1e-6
    perm = np.random.default_rng(0).permutation(len(f_test))
    assert abs(fid_from_features(f_test, f_test[perm])) < 1e-6
    fid = fid_from_features(f_test, f_train)
    assert fid > 0
    # FID is a difference of traces, so rounding is relative to their size, not to the FID itself.
    tol = 1e-9 * (np.trace(np.cov(f_test, rowvar=False)) + np.trace(np.cov(f_train, rowvar=False)))
    assert fid_from_features(f_train, f_test) == pytest.approx(fid, abs=tol)
    assert fid_from_features(f_test[perm], f_train[::-1]) == pytest.approx(fid, abs=tol)
    # The evaluator's features tell real series from noise far better than TRAIN from TEST.
    noise = np.random.default_rng(0).standard_normal(gunpoint.x_test.shape).astype(np.float32)
    assert fid_from_features(f_test, gunpoint_evaluator.features(noise)) > 10 * fid


def test_frechet_distance_handles_singular_covariances():
    # Fewer samples than dimensions (as with MiniRocket features on small TEST sets): rank-deficient covariances.
    rng = np.random.default_rng(3)
    f = rng.standard_normal((20, 60)) @ rng.standard_normal((60, 60))
    g = rng.standard_normal((20, 60)) @ rng.standard_normal((60, 60))
    assert abs(fid_from_features(f, f)) < 1e-8 * np.trace(np.cov(f, rowvar=False))
    assert np.isfinite(fid_from_features(f, g)) and fid_from_features(f, g) > 0


def test_frechet_distance_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shape mismatch"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match="n >= 2"):
        fid_from_features(np.zeros((1, 3)), np.zeros((5, 3)))


# ----------------------------------------------------------------------------------------------- IS


def test_inception_score_bounds_and_closed_form():
    k, n = 5, 1000
    same = np.tile(np.array([0.5, 0.2, 0.1, 0.1, 0.1]), (n, 1))
    assert inception_score(same) == pytest.approx((1.0, 0.0), abs=1e-12)
    confident = np.eye(k)[np.arange(n) % k]  # one-hot, balanced inside every split
    assert inception_score(confident) == pytest.approx((k, 0.0), abs=1e-9)
    # Soft but balanced binary predictions p and 1 − p: p(y) = ½, so IS = 2·exp(−H(p)).
    p = 0.8
    soft = np.where((np.arange(n) % 2 == 0)[:, None], [p, 1 - p], [1 - p, p])
    entropy = -(p * np.log(p) + (1 - p) * np.log(1 - p))
    assert inception_score(soft, n_splits=4)[0] == pytest.approx(2 * np.exp(-entropy), rel=1e-12)


def test_inception_score_splits_and_validation():
    # Split 1 is all class 0 (IS 1), split 2 balanced one-hot (IS 2): mean 1.5, population std 0.5.
    probs = np.concatenate([np.tile([1.0, 0.0], (10, 1)), np.eye(2)[np.arange(10) % 2]])
    assert inception_score(probs, n_splits=2) == pytest.approx((1.5, 0.5))
    with pytest.raises(ValueError, match="probability"):
        inception_score(np.full((10, 3), 0.5))
    with pytest.raises(ValueError, match="n_splits"):
        inception_score(np.full((5, 2), 0.5), n_splits=10)


# ----------------------------------------------------------------------------------------------- ROCKET-FID


def test_rocket_fid_is_seeded_and_separates_real_from_noise(gunpoint):
    kw = dict(reference_train=gunpoint.x_train, n_kernels=ROCKET_KERNELS)
    state = np.random.get_state()[1].copy()
    a = rocket_fid(gunpoint.x_test, gunpoint.x_val, random_state=0, **kw)
    assert (np.random.get_state()[1] == state).all(), "fitting MiniRocket must not reseed numpy's global RNG"
    assert rocket_fid(gunpoint.x_test, gunpoint.x_val, random_state=0, **kw) == a
    assert rocket_fid(gunpoint.x_test, gunpoint.x_val, random_state=1, **kw) != a
    assert abs(rocket_fid(gunpoint.x_test, gunpoint.x_test[::-1], random_state=0, **kw)) < 1e-6
    noise = np.random.default_rng(0).standard_normal(gunpoint.x_test.shape).astype(np.float32)
    assert rocket_fid(gunpoint.x_test, noise, random_state=0, **kw) > 10 * a


def test_rocket_features_are_standardised_on_train(gunpoint):
    feat = RocketFeaturizer(n_kernels=ROCKET_KERNELS, random_state=0).fit(gunpoint.x_train)
    f = feat.transform(gunpoint.x_train)
    assert f.shape == (len(gunpoint.x_train), ROCKET_KERNELS)
    assert np.allclose(f.mean(axis=0), 0.0, atol=1e-8)
    varying = f.std(axis=0) > 0
    assert varying.mean() > 0.5 and np.allclose(f.std(axis=0)[varying], 1.0)
    with pytest.raises(ValueError, match=r"\(n, channels, length\)"):
        feat.transform(gunpoint.x_train[:, 0])


def test_rocket_leaves_torch_thread_count_alone(gunpoint):
    # aeon resets torch's thread count; a later training run would silently use another one
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        RocketFeaturizer(n_kernels=ROCKET_KERNELS, random_state=0).fit(gunpoint.x_train).transform(gunpoint.x_test)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


# ----------------------------------------------------------------------------------------------- FCN


def test_fcn_shapes_keep_length_and_pool_to_128():
    model = FCN(n_classes=3).eval()
    lengths = []
    hooks = [b.register_forward_hook(lambda m, i, o: lengths.append(o.shape[-1])) for b in model.blocks]
    for length in (150, 37):
        assert model.features(torch.randn(4, 1, length)).shape == (4, 128)
    for h in hooks:
        h.remove()
    assert lengths == [150] * 3 + [37] * 3  # 'same' padding, also for the even kernel of 8
    assert model(torch.randn(4, 1, 37)).shape == (4, 3)


def test_train_fcn_is_seeded_and_leaves_global_rng_alone(gunpoint):
    cfg = dataclasses.replace(CPU, fcn_epochs=2, fcn_batch_size=8)
    x, y = gunpoint.x_train[:16], gunpoint.y_train[:16]
    torch.manual_seed(123)
    expected_draw = torch.rand(1)
    torch.manual_seed(123)
    a = train_fcn(x, y, n_classes=2, config=cfg, seed=0, device="cpu", progress=False)
    assert torch.equal(torch.rand(1), expected_draw)
    b = train_fcn(x, y, n_classes=2, config=cfg, seed=0, device="cpu", progress=False)
    c = train_fcn(x, y, n_classes=2, config=cfg, seed=1, device="cpu", progress=False)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    assert not a.training


def test_train_fcn_early_stops_and_restores_best_val_epoch(gunpoint, monkeypatch):
    # VAL labels are flipped, so the better the network fits TRAIN the worse it does on VAL: the best
    # VAL epoch comes early and training must stop `patience` epochs later and return to it.
    cfg = dataclasses.replace(CPU, fcn_epochs=40, fcn_batch_size=16, fcn_patience=4)
    x_val, y_val = gunpoint.x_val, 1 - gunpoint.y_val
    history = []
    record = ev._loss_and_accuracy

    def recording(model, x, y, device):
        history.append(record(model, x, y, device))
        return history[-1]

    monkeypatch.setattr(ev, "_loss_and_accuracy", recording)
    model = train_fcn(gunpoint.x_train, gunpoint.y_train, n_classes=2, x_val=x_val, y_val=y_val, config=cfg,
                      seed=0, device="cpu", progress=False)
    monkeypatch.undo()
    best = max(range(len(history)), key=lambda i: (history[i][1], -history[i][0]))
    assert len(history) == best + cfg.fcn_patience + 1 < cfg.fcn_epochs
    assert history[-1] != history[best]
    loss, acc = ev._loss_and_accuracy(model, x_val, y_val, "cpu")
    assert acc == history[best][1] and loss == pytest.approx(history[best][0], rel=1e-6)


def test_train_fcn_rejects_bad_inputs(gunpoint):
    with pytest.raises(ValueError, match=r"\(n, channels, length\)"):
        train_fcn(gunpoint.x_train[:, 0], gunpoint.y_train, n_classes=2, config=CPU, seed=0)
    with pytest.raises(ValueError, match="labels in 0..1"):
        train_fcn(gunpoint.x_train, gunpoint.y_train + 1, n_classes=2, config=CPU, seed=0)
    with pytest.raises(ValueError, match="both x_val and y_val"):
        train_fcn(gunpoint.x_train, gunpoint.y_train, n_classes=2, x_val=gunpoint.x_val, config=CPU, seed=0)


# ----------------------------------------------------------------------------------------------- evaluator


def test_gunpoint_evaluator_is_accurate_and_cached(gunpoint_evaluator, gunpoint, monkeypatch):
    assert gunpoint_evaluator.test_accuracy >= 0.95
    assert gunpoint_evaluator.accuracy(gunpoint.x_test, gunpoint.y_test) == gunpoint_evaluator.test_accuracy
    probs = gunpoint_evaluator.probs(gunpoint.x_test)
    assert probs.shape == (len(gunpoint.x_test), 2) and np.allclose(probs.sum(axis=1), 1.0)
    assert np.mean(probs.argmax(1) == gunpoint.y_test) == gunpoint_evaluator.test_accuracy

    # The second call loads the checkpoint (no training) and rebuilds the same network.
    monkeypatch.setattr(ev, "train_fcn", lambda *a, **k: pytest.fail("the cached evaluator was retrained"))
    again = load_or_train_evaluator(gunpoint, config=CPU, seed=0)
    assert again.test_accuracy == gunpoint_evaluator.test_accuracy and again.config == CPU
    np.testing.assert_allclose(again.features(gunpoint.x_test), gunpoint_evaluator.features(gunpoint.x_test),
                               rtol=1e-5, atol=1e-6)
    ckpt = torch.load(ev.evaluator_path(gunpoint, config=CPU, seed=0), weights_only=True)
    assert {"state_dict", "n_classes", "config", "test_accuracy"} <= set(ckpt)
    assert ckpt["config"] == dataclasses.asdict(CPU)


def test_ecg5000_evaluator_is_accurate():
    data_dir = Path(UCR_DIR) if UCR_DIR else None
    if data_dir is None or not (data_dir / "ECG5000").is_dir():
        pytest.skip("ECG5000 is not bundled with aeon: set TSVQ_DATA_DIR to a UCR-2018 folder that holds it")
    ds = load_ucr("ECG5000", data_dir)
    start = time.perf_counter()
    evaluator = load_or_train_evaluator(ds, config=CPU, seed=0, progress=False)
    print(f"\nECG5000 evaluator: TEST accuracy {evaluator.test_accuracy:.4f}, trained in "
          f"{time.perf_counter() - start:.1f} s")
    assert evaluator.test_accuracy >= 0.90


# ----------------------------------------------------------------------------------------------- CAS


def test_cas_sample_counts():
    assert cas_sample_counts(np.array([0] * 20 + [1] * 20), 2).tolist() == [500, 500]
    counts = cas_sample_counts(np.array([0] * 30 + [1] * 10 + [3] * 10), 4, min_total=100)
    assert counts.tolist() == [60, 20, 0, 20]  # proportional; a class absent from TRAIN stays absent
    assert cas_sample_counts(np.array([0, 0, 1]), 2, min_total=10).tolist() == [7, 4]  # ceil: sum ≥ 10
    big = np.arange(2000) % 3
    assert cas_sample_counts(big, 3).tolist() == np.bincount(big).tolist()  # already enough: unchanged


def test_cas_on_real_train_matches_the_evaluator(gunpoint_evaluator, gunpoint):
    x = np.concatenate([gunpoint.x_train, gunpoint.x_val])  # all of TRAIN stands in for the synthetic set
    y = np.concatenate([gunpoint.y_train, gunpoint.y_val])
    score = cas(x, y, gunpoint.x_test, gunpoint.y_test, n_classes=2, config=CPU, seed=0, progress=False)
    assert score == pytest.approx(gunpoint_evaluator.test_accuracy, abs=0.05)


# ----------------------------------------------------------------------------------------------- all together


def test_sample_quality_of_real_and_of_noise(gunpoint_evaluator, gunpoint):
    real = gunpoint.x_test
    kw = dict(reference_train=gunpoint.x_train, rocket_kernels=ROCKET_KERNELS, seed=0)
    own = sample_quality(gunpoint_evaluator, real, real[::-1], **kw)
    assert abs(own["fid"]) < 1e-6 and abs(own["rocket_fid"]) < 1e-6
    assert own["n_real"] == own["n_synth"] == len(real)
    assert 1.0 < own["is_mean"] <= 2.0  # real TEST: confident, nearly balanced predictions
    noise = np.random.default_rng(0).standard_normal(real.shape).astype(np.float32)
    bad = sample_quality(gunpoint_evaluator, real, noise, **kw)
    assert bad["fid"] > 1.0 and bad["rocket_fid"] > 1.0
    assert bad["rocket_fid"] == rocket_fid(real, noise, reference_train=gunpoint.x_train,
                                           n_kernels=ROCKET_KERNELS, random_state=0)
