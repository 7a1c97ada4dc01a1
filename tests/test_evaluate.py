"""Evaluation metrics and the FCN evaluator, on exact moments and on real UCR data.

The evaluator tests train real FCNs with the ``cpu`` profile (GunPoint once per module, ECG5000 once)
into the tests' temporary cache, so a user's cache can never stand in for training.
"""
from __future__ import annotations

import dataclasses
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import scipy.spatial.distance
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
    copy_rate,
    fid_from_features,
    frechet_distance,
    inception_score,
    kid,
    load_or_train_evaluator,
    nearest_distances,
    rocket_fid,
    sample_quality,
    subsample,
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
    confident = np.eye(k)[np.arange(n) % k]  # one-hot, balanced (one split: the shuffle cannot unbalance it)
    assert inception_score(confident, n_splits=1) == pytest.approx((k, 0.0), abs=1e-9)
    assert inception_score(confident)[0] == pytest.approx(k, rel=0.05)  # 10 shuffled splits: nearly balanced
    # Soft but balanced binary predictions p and 1 − p: p(y) = ½, so IS = 2·exp(−H(p)).
    p = 0.8
    soft = np.where((np.arange(n) % 2 == 0)[:, None], [p, 1 - p], [1 - p, p])
    entropy = -(p * np.log(p) + (1 - p) * np.log(1 - p))
    assert inception_score(soft, n_splits=1)[0] == pytest.approx(2 * np.exp(-entropy), rel=1e-12)


def _consecutive_is(p, n_splits):
    # The old, unshuffled splits: what the seeded shuffle replaced.
    scores = [np.exp((part * np.log(part / part.mean(axis=0))).sum(axis=1).mean())
              for part in np.array_split(p, n_splits)]
    return np.mean(scores)


def test_inception_score_shuffles_class_sorted_rows():
    # Confident but soft predictions of 5 balanced classes, stored sorted by class as in the ECG5000 files.
    rng = np.random.default_rng(0)
    k, n = 5, 1000
    labels = np.sort(np.arange(n) % k)
    probs = rng.dirichlet(np.ones(k) * 0.3, n) * 0.2 + 0.8 * np.eye(k)[labels]  # (n, k), all entries > 0
    shuffled = probs[rng.permutation(n)]
    score, std = inception_score(probs)
    assert score == pytest.approx(inception_score(shuffled)[0], rel=0.02)
    assert score == pytest.approx(_consecutive_is(shuffled, 10), rel=0.02)
    assert _consecutive_is(probs, 10) < 1.2 < 2.5 < score  # consecutive splits of one class each score ≈ 1
    assert std < 0.1 * score
    assert inception_score(probs, seed=0) == (score, std)  # seeded
    assert inception_score(probs, seed=1) != (score, std)
    # One split is the whole set, whatever the order.
    assert inception_score(probs, n_splits=1)[0] == pytest.approx(_consecutive_is(probs, 1), rel=1e-12)


def test_inception_score_of_class_sorted_real_data(gunpoint_evaluator, gunpoint):
    order = np.argsort(gunpoint.y_test, kind="stable")  # GunPoint's TEST file is not sorted: sort it
    probs = gunpoint_evaluator.probs(gunpoint.x_test)
    sorted_score = inception_score(probs[order])[0]
    assert sorted_score == pytest.approx(inception_score(probs)[0], abs=0.1)
    assert sorted_score > 1.4 and _consecutive_is(np.clip(probs[order], 1e-300, 1), 10) < 1.2


def test_inception_score_validation():
    with pytest.raises(ValueError, match="probability"):
        inception_score(np.full((10, 3), 0.5))
    with pytest.raises(ValueError, match="n_splits"):
        inception_score(np.full((5, 2), 0.5), n_splits=10)


# ----------------------------------------------------------------------------------------------- KID


def _kid_direct(x, y):
    # The unbiased MMD² estimator written out term by term (Bińkowski et al. 2018, eq. 4).
    m, d = x.shape
    k = lambda a, b: (a @ b / d + 1.0) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / m**2
    return xx + yy - 2 * xy


def test_kid_matches_the_direct_estimator():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((7, 3)), rng.standard_normal((7, 3)) + 0.5
    assert kid(x, y) == pytest.approx((_kid_direct(x, y), 0.0), rel=1e-12)
    # Subsets: the mean over the seeded draws of the direct estimator on each.
    big = rng.standard_normal((12, 3))
    draw = np.random.default_rng(5)
    expected = [_kid_direct(big[draw.choice(12, 7, replace=False)], y[draw.choice(7, 7, replace=False)])
                for _ in range(4)]
    got = kid(big, y, n_subsets=4, subset_size=100, seed=5)
    assert got == pytest.approx((np.mean(expected), np.std(expected)), rel=1e-10)
    assert kid(big, y, n_subsets=4, seed=5) == got and kid(big, y, n_subsets=4, seed=6) != got
    with pytest.raises(ValueError, match="dimensions"):
        kid(x, y[:, :2])


def test_kid_is_unbiased_and_detects_a_shift():
    rng = np.random.default_rng(1)
    d = 16
    f1, f2 = rng.standard_normal((3000, d)), rng.standard_normal((3000, d))
    same, same_std = kid(f1, f2, n_subsets=50, subset_size=300)
    assert same_std > 0 and abs(same) < 2.5 * same_std
    shifted, shifted_std = kid(f1, f2 + 0.5, n_subsets=50, subset_size=300)
    assert shifted > 8 * shifted_std and shifted > 100 * abs(same)
    # Unbiased: over many independent pairs of small sets the mean is 0 within its standard error,
    # while the biased (V-statistic) estimate is positive for every pair.
    values = [kid(rng.standard_normal((20, d)), rng.standard_normal((20, d)))[0] for _ in range(300)]
    assert abs(np.mean(values)) < 3 * np.std(values) / np.sqrt(len(values))
    assert min(values) < 0


def test_kid_on_evaluator_features_of_real_data(gunpoint_evaluator, gunpoint):
    f_test = gunpoint_evaluator.features(gunpoint.x_test)
    f_train = gunpoint_evaluator.features(np.concatenate([gunpoint.x_train, gunpoint.x_val]))
    noise = np.random.default_rng(0).standard_normal(gunpoint.x_test.shape).astype(np.float32)
    real = kid(f_test, f_train)[0]
    assert kid(f_test, gunpoint_evaluator.features(noise))[0] > 10 * max(real, 1e-3)


# ----------------------------------------------------------------------------------------------- copy rate


def test_nearest_distances_match_scipy(gunpoint):
    x, ref = gunpoint.x_test[:40], gunpoint.x_train
    expected = scipy.spatial.distance.cdist(x[:, 0].astype(np.float64), ref[:, 0].astype(np.float64)).min(axis=1)
    np.testing.assert_allclose(nearest_distances(x, ref), expected, rtol=1e-10)
    assert (nearest_distances(ref[::-1], ref) == 0).all()  # a copy is at distance exactly 0
    with pytest.raises(ValueError, match="shapes differ"):
        nearest_distances(x[:, :, :100], ref)


def test_copy_rate_of_copies_and_of_fresh_draws(gunpoint):
    train, test = gunpoint.x_train, gunpoint.x_test
    copies = copy_rate(train, train, test)
    assert copies["copy_rate"] == 1.0 and copies["nn_median_synth"] == 0.0
    assert 0 < copies["copy_threshold"] < copies["nn_median_test"]
    # Fresh real series (half of TEST) against a threshold from the other half: ≈ 5 %, with n = 75.
    perm = np.random.default_rng(0).permutation(len(test))
    fresh = copy_rate(test[perm[:75]], train, test[perm[75:]])
    assert fresh["copy_rate"] <= 0.2
    assert fresh["nn_median_synth"] == pytest.approx(fresh["nn_median_test"], rel=0.3)
    # With many draws the rate is sharp: ≈ quantile for fresh draws, ≈ ½ + quantile/2 for half copies.
    rng = np.random.default_rng(1)
    g_train, g_test, g_synth = (rng.standard_normal((k, 1, 20)) for k in (300, 4000, 4000))
    assert copy_rate(g_synth, g_train, g_test)["copy_rate"] == pytest.approx(0.05, abs=0.015)
    assert copy_rate(g_synth, g_train, g_test, quantile=0.2)["copy_rate"] == pytest.approx(0.2, abs=0.03)
    half = np.concatenate([g_synth[:2000], g_train[rng.integers(0, 300, 2000)]])
    assert copy_rate(half, g_train, g_test)["copy_rate"] == pytest.approx(0.525, abs=0.02)
    with pytest.raises(ValueError, match="quantile"):
        copy_rate(g_synth, g_train, g_test, quantile=5)


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
    # the weights' hash names the evaluator in result rows: the same after loading, another after a change
    assert again.fingerprint == gunpoint_evaluator.fingerprint and len(again.fingerprint) == 12
    with torch.no_grad():
        next(again.model.parameters()).add_(1e-6)
    assert again.fingerprint != gunpoint_evaluator.fingerprint
    ckpt = torch.load(ev.evaluator_path(gunpoint, config=CPU, seed=0), weights_only=True)
    assert {"state_dict", "n_classes", "config", "test_accuracy"} <= set(ckpt)
    assert ckpt["config"] == dataclasses.asdict(CPU)


def test_evaluator_cache_key_holds_the_data_fingerprint(gunpoint):
    other = dataclasses.replace(gunpoint, meta=dataclasses.replace(gunpoint.meta, fingerprint="changed data"))
    assert gunpoint.meta.fingerprint
    assert ev.evaluator_path(other, config=CPU) != ev.evaluator_path(gunpoint, config=CPU)
    assert ev.evaluator_path(other, config=CPU) == ev.evaluator_path(other, config=CPU)


TINY = dataclasses.replace(CPU, fcn_epochs=2, fcn_batch_size=16)  # its own cache key: a quick evaluator


def test_corrupt_evaluator_checkpoint_is_moved_aside_and_retrained(gunpoint):
    first = load_or_train_evaluator(gunpoint, config=TINY, seed=3, device="cpu", progress=False)
    path = ev.evaluator_path(gunpoint, config=TINY, seed=3)
    path.write_bytes(path.read_bytes()[:1000])  # truncated, as by a full disk
    with pytest.warns(UserWarning, match="does not load"):
        again = load_or_train_evaluator(gunpoint, config=TINY, seed=3, device="cpu", progress=False)
    assert path.with_name("evaluator.pt.corrupt").is_file()
    assert again.test_accuracy == first.test_accuracy  # retrained, deterministically
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_or_train_evaluator(gunpoint, config=TINY, seed=3, device="cpu", progress=False)  # loads cleanly


def test_two_processes_never_train_one_evaluator_twice(gunpoint, monkeypatch):
    # flock locks conflict between separately opened files even in one process, so threads stand in.
    trained, real_train = [], ev.train_fcn

    def slow_train(*args, **kwargs):
        trained.append(1)
        time.sleep(0.5)  # the second caller arrives while the first is training
        return real_train(*args, **kwargs)

    monkeypatch.setattr(ev, "train_fcn", slow_train)
    results = [None, None]

    def worker(i):
        results[i] = load_or_train_evaluator(gunpoint, config=TINY, seed=4, device="cpu", progress=False)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(trained) == 1
    assert results[0].test_accuracy == results[1].test_accuracy


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
    assert abs(own["kid"]) < 3 * own["kid_std"]  # one set against itself: 0 within the spread of its half-size subsets
    assert own["copy_rate"] == pytest.approx(0.05, abs=0.01)  # TEST against its own threshold
    noise = np.random.default_rng(0).standard_normal(real.shape).astype(np.float32)
    bad = sample_quality(gunpoint_evaluator, real, noise, **kw)
    assert bad["fid"] > 1.0 and bad["rocket_fid"] > 1.0
    assert bad["kid"] > 100 * abs(own["kid"]) and bad["copy_rate"] == 0.0
    assert bad["rocket_fid"] == rocket_fid(real, noise, reference_train=gunpoint.x_train,
                                           n_kernels=ROCKET_KERNELS, random_state=0)
    copies = sample_quality(gunpoint_evaluator, real, gunpoint.x_train, **kw)
    assert copies["copy_rate"] == 1.0 and copies["copy_threshold"] > 0


def test_sample_quality_compares_sets_of_equal_size(gunpoint_evaluator, gunpoint, monkeypatch):
    real, synth = gunpoint.x_test, gunpoint.x_train  # 150 real TEST, 40 TRAIN series as the "samples"
    rocket = RocketFeaturizer(n_kernels=ROCKET_KERNELS, random_state=0).fit(gunpoint.x_train)
    kw = dict(reference_train=gunpoint.x_train, rocket_kernels=ROCKET_KERNELS, seed=0)
    q = sample_quality(gunpoint_evaluator, real, synth, rocket=rocket, **kw)
    assert q["n_real"] == q["n_synth"] == len(synth)
    real_n = subsample(real, len(synth), np.random.default_rng(0))
    assert len(np.unique(real_n.reshape(len(real_n), -1), axis=0)) == len(synth)  # without replacement
    f_real, f_synth = gunpoint_evaluator.features(real_n), gunpoint_evaluator.features(synth)
    assert q["fid"] == pytest.approx(fid_from_features(f_real, f_synth), rel=1e-12)
    assert q["kid"] == pytest.approx(kid(f_real, f_synth, subset_size=len(synth) // 2)[0], rel=1e-12)
    assert q["rocket_fid"] == pytest.approx(fid_from_features(rocket.transform(real_n), rocket.transform(synth)),
                                            rel=1e-12)
    # A fitted featurizer is used as given; without one, the same featurizer is fitted.
    monkeypatch.setattr(RocketFeaturizer, "fit", lambda *a: pytest.fail("refitted the given featurizer"))
    assert sample_quality(gunpoint_evaluator, real, synth, rocket=rocket, **kw) == q
    monkeypatch.undo()
    assert sample_quality(gunpoint_evaluator, real, synth, **kw) == q
    # An explicit n subsamples both sets; a seed draws other subsets.
    small = sample_quality(gunpoint_evaluator, real, synth, rocket=rocket, n=20, **kw)
    assert small["n_real"] == small["n_synth"] == 20
    other = sample_quality(gunpoint_evaluator, real, synth, rocket=rocket, **{**kw, "seed": 1})
    assert other["fid"] != q["fid"]
    with pytest.raises(ValueError, match="n must be"):
        sample_quality(gunpoint_evaluator, real, synth, rocket=rocket, n=41, **kw)
