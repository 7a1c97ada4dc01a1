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


def test_reference_quality_writes_four_anchors_once(gunpoint, tmp_path):
    from tsvq.experiments import read_table, reference_quality

    table = reference_quality(gunpoint, profile="smoke", seed=0, results_dir=tmp_path, progress=False)
    assert list(table["reference"]) == ["real TRAIN", "reconstruction of TRAIN (naive)",
                                        "reconstruction of TEST (naive)", "Gaussian noise"]
    fid = table.set_index("reference")["fid"]
    assert fid.notna().all() and fid["real TRAIN"] < fid["Gaussian noise"]  # even a 2-epoch evaluator
    assert table["cas"].notna().tolist() == [True, False, False, False]  # CAS only where classes are known
    again = reference_quality(gunpoint, profile="smoke", seed=0, results_dir=tmp_path, progress=False)
    assert len(again) == 4 and len(read_table(tmp_path / "GunPoint" / "smoke" / "reference_quality.csv")) == 4


def test_equal_size_quality_scores_train_sized_sets_only(gunpoint):
    from tsvq.experiments import equal_size_quality

    table = equal_size_quality(gunpoint, profile="smoke", seed=0, settings=[("none", "none")], priors=("token",))
    assert list(table["set"]) == ["reconstruction of TRAIN (naive)", "reconstruction of TEST (naive)",
                                  "naive + token prior"]
    assert (table["series"] == len(gunpoint.x_train)).all()
    assert table[["fid", "rocket_fid"]].notna().all().all() and (table[["fid", "rocket_fid"]] >= 0).all().all()
