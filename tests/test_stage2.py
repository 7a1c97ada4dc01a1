import math

import numpy as np
import pytest
import torch

from tsvq.config import get_config
from tsvq.data import load_ucr
from tsvq.train import load_prior, train_prior


@pytest.fixture(scope="module")
def gunpoint():
    return load_ucr("GunPoint")


@pytest.mark.parametrize("variant", ["token", "embedding"])
def test_prior_trains_on_real_tokens_and_lowers_val_loss(gunpoint, variant):
    cfg = get_config("smoke", prior={"variant": variant}, stage2={"epochs": 8, "batch_size": 16})
    run = train_prior(gunpoint, cfg, seed=0, progress=False)
    val = [h["val_loss"] for h in run.history]
    assert len(val) == 8
    assert val[-1] < val[0] - 0.05 and val[-1] < math.log(cfg.tokenizer.codebook_size)


def test_prior_checkpoint_rebuilds_and_samples_reproducibly(gunpoint):
    cfg = get_config("smoke", tokenizer={"bands": "lf_hf"}, prior={"variant": "embedding"})
    run = train_prior(gunpoint, cfg, seed=0, progress=False)
    again = load_prior(run.path, device="cpu")
    a = run.sample(6, labels=[0, 1, 0, 1, 0, 1], guidance=2.0, seed=3)
    b = again.sample(6, labels=[0, 1, 0, 1, 0, 1], guidance=2.0, seed=3)
    for band in ("lf", "hf"):
        np.testing.assert_array_equal(a["tokens"][band], b["tokens"][band])
    assert a["x"].shape == (6, 1, 150)
    np.testing.assert_allclose(a["x_raw"], a["x"] * gunpoint.meta.std + gunpoint.meta.mean, rtol=1e-5)
    # decoding goes through the frozen stage-1 tokenizer
    x = run.tokenizer.detokenize({k: torch.as_tensor(v) for k, v in a["tokens"].items()})
    np.testing.assert_allclose(x.numpy(), a["x"], atol=1e-5)


def test_reference_quality_writes_three_train_sized_anchors_once(gunpoint, tmp_path):
    from tsvq.experiments import read_table, reference_quality

    table = reference_quality(gunpoint, profile="smoke", seed=0, results_dir=tmp_path, progress=False)
    assert list(table["reference"]) == ["real TRAIN", "reconstruction of TRAIN (naive)", "Gaussian noise"]
    assert (table["n_real"] == len(gunpoint.x_train)).all() and (table["n_synth"] == len(gunpoint.x_train)).all()
    fid = table.set_index("reference")["fid"]
    assert fid.notna().all() and fid["real TRAIN"] < fid["Gaussian noise"]  # even a 2-epoch evaluator
    assert table["cas"].notna().tolist() == [True, False, False]  # CAS only where classes are known
    again = reference_quality(gunpoint, profile="smoke", seed=0, results_dir=tmp_path, progress=False)
    assert len(again) == 3 and len(read_table(tmp_path / "GunPoint" / "smoke" / "reference_quality.csv")) == 3


def test_equal_size_quality_puts_anchors_and_priors_at_one_size(gunpoint, tmp_path):
    from tsvq.experiments import equal_size_quality, read_table, reference_quality, run_stage2_grid
    from tsvq.grid import mixed_evaluator_warnings

    grid = dict(profile="smoke", results_dir=tmp_path)
    reference_quality(gunpoint, seed=0, progress=False, **grid)
    run_stage2_grid(gunpoint, seeds=[0], settings=[("none", "none")], priors=("token",), progress=False, **grid)
    table = equal_size_quality(gunpoint, seed=0, settings=[("none", "none")], priors=("token",), **grid)
    assert list(table["set"]) == ["real TRAIN", "reconstruction of TRAIN (naive)", "Gaussian noise",
                                  "naive + token prior"]
    assert (table["series"] == len(gunpoint.x_train)).all()
    assert table[["fid", "kid", "rocket_fid"]].notna().all().all() and (table[["fid", "rocket_fid"]] >= 0).all().all()
    # every row names the evaluator that scored it: here one, so the anchors and the prior compare
    rows = [read_table(tmp_path / "GunPoint" / "smoke" / t) for t in ("stage2.csv", "reference_quality.csv")]
    hashes = {h for r in rows for h in r["evaluator_hash"]}
    assert len(hashes) == 1 and len(hashes.pop()) == 12

    # an anchor set scored by another evaluator (one retrained elsewhere) is named after a grid
    assert mixed_evaluator_warnings("GunPoint", "smoke", tmp_path) == []
    path = tmp_path / "GunPoint" / "smoke" / "reference_quality.csv"
    path.write_text(path.read_text().replace(rows[1]["evaluator_hash"].iloc[0], "0123456789ab"))
    (warning,) = mixed_evaluator_warnings("GunPoint", "smoke", tmp_path)
    assert "GunPoint (smoke) seed 0" in warning and "1 scored by" in warning and "3 scored by" in warning


def test_prior_keeps_the_best_val_epoch_and_resumes_bit_identically(gunpoint, tmp_path, monkeypatch):
    import tsvq.train as T

    real, calls = T.prior_val_loss, {"n": 0}

    def val(*args, **kw):  # the true VAL loss, reported 1 higher except at the 2nd validation: epoch 2 is best
        calls["n"] += 1
        return {k: v + (0.0 if calls["n"] == 2 else 1.0) for k, v in real(*args, **kw).items()}

    monkeypatch.setattr(T, "prior_val_loss", val)
    cfg = get_config("smoke", stage2={"epochs": 4, "val_every": 1, "ckpt_every": 1})
    monkeypatch.setenv("TSVQ_CACHE_DIR", str(tmp_path / "a"))
    full = train_prior(gunpoint, cfg, seed=0, progress=False, device="cpu")
    hist = [h["val_loss"] for h in full.history]
    assert (full.best_epoch, full.best_val_loss) == (2, hist[1]) and min(hist) == hist[1] != hist[-1]
    tok_val = T._tokens(full.tokenizer, gunpoint.x_val, "cpu")
    y_val = torch.as_tensor(gunpoint.y_val)
    restored = real(full.priors, tok_val, y_val)["loss"]
    assert restored == pytest.approx(hist[1], abs=1e-6)  # the weights of epoch 2 ...
    assert abs(restored - (hist[-1] - 1.0)) > 1e-4  # ... not the final ones
    loaded = load_prior(full.path, device="cpu")
    assert (loaded.best_epoch, loaded.best_val_loss) == (2, hist[1])
    # killed after epoch 3 and resumed: the same best weights, bit for bit
    monkeypatch.setenv("TSVQ_CACHE_DIR", str(tmp_path / "b"))
    calls["n"] = 0
    part = train_prior(gunpoint, cfg, seed=0, progress=False, device="cpu", stop_after_epoch=3)
    assert not part.path.exists()
    resumed = train_prior(gunpoint, cfg, seed=0, progress=False, device="cpu")
    assert (resumed.best_epoch, resumed.best_val_loss) == (2, hist[1]) and len(resumed.history) == 4
    for b in full.priors:
        a, c = full.priors[b].state_dict(), resumed.priors[b].state_dict()
        assert all(torch.equal(a[k], c[k]) for k in a)
        assert all(torch.equal(a[k], loaded.priors[b].state_dict()[k].cpu()) for k in a)


def test_two_trainers_of_one_prior_both_succeed(gunpoint):
    import threading

    cfg = get_config("smoke")
    results, errors = [None, None], []

    def work(i):
        try:
            results[i] = train_prior(gunpoint, cfg, seed=5, progress=False, device="cpu")
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    a, b = results
    assert a.path == b.path and a.path.exists() and not (a.path.parent / "last.pt").exists()
    assert not list(a.path.parent.glob("*.tmp"))
    for band in a.priors:
        sa, sb = a.priors[band].state_dict(), b.priors[band].state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_a_cached_prior_samples_with_the_requested_sampler_settings(gunpoint):
    first = train_prior(gunpoint, get_config("smoke"), seed=0, progress=False, device="cpu")
    other_t = train_prior(gunpoint, get_config("smoke", prior={"T": 2}), seed=0, progress=False, device="cpu")
    assert other_t.path == first.path  # T is not part of the key: loaded, not retrained
    assert other_t.config.prior.T == 2 and all(p.config.T == 2 for p in other_t.priors.values())


def test_thin_curve_keeps_first_last_and_a_regular_stride():
    from tsvq.experiments import thin_curve

    rng = np.random.default_rng(0)
    val = [(e, float(v)) for e, v in zip(range(1, 3001), 3 - np.log1p(np.arange(3000)) / 5 + rng.normal(0, 0.01, 3000))]
    kept = thin_curve(val, max_points=300)
    epochs = [e for e, _ in kept]
    assert epochs == [1, *range(10, 3001, 10)]  # the same epochs for every run of this length
    assert kept[0] == val[0] and kept[-1] == val[-1]
    assert thin_curve(val[:250], max_points=300) == val[:250]  # short curves are kept whole
