"""Mixed-precision training steps and early stopping: what they change, and what they leave alone."""
from dataclasses import replace

import pytest
import torch

from conftest import UCR_DIR
from tsvq.config import TrainConfig, get_config
from tsvq.data import load_ucr
from tsvq.evaluate import train_fcn
from tsvq.experiments import eval_hash
from tsvq.identity import RunId, Setting
from tsvq.tokenizer import VectorQuantizer
from tsvq.train import fit, prior_key, tokenizer_key, train_tokenizer
from tsvq.utils import autocast, config_hash


@pytest.fixture(scope="module")
def gunpoint():
    if UCR_DIR is None:
        pytest.skip("UCR folder not available: set TSVQ_DATA_DIR to a UCR-2018 folder")
    return load_ucr("GunPoint", UCR_DIR)


def test_fields_at_their_defaults_leave_every_hash_as_it_was(gunpoint):
    # the values of these hashes before the precision and patience fields existed
    paper = get_config("paper")
    assert config_hash(paper) == "3a921f4c513bfa57"
    assert eval_hash(paper.eval) == "396050835ffba72e"
    assert RunId("GunPoint", 0, Setting.parse("vibcreg-slice"), "token", "paper").config_hash(gunpoint) == "5987a90ac089eb71"
    assert eval_hash(get_config("smoke").eval) == "b1e6835d6cd79cca"


def test_precision_and_patience_change_the_keys(gunpoint):
    base = get_config("smoke")
    bf16 = get_config("smoke", stage1={"precision": "bf16"})
    assert tokenizer_key(gunpoint, base, 0) != tokenizer_key(gunpoint, bf16, 0)
    assert prior_key(gunpoint, base, 0) != prior_key(gunpoint, get_config("smoke", stage2={"patience": 0.2}), 0)
    assert prior_key(gunpoint, base, 0) != prior_key(gunpoint, get_config("smoke", stage2={"precision": "bf16"}), 0)
    assert eval_hash(base.eval) != eval_hash(get_config("smoke", eval={"fcn_precision": "bf16"}).eval)
    cpu = get_config("cpu")
    assert (cpu.stage1.precision, cpu.stage2.precision, cpu.eval.fcn_precision, cpu.stage2.patience) == ("fp32",) * 3 + (0.0,)
    with pytest.raises(ValueError, match="precision"):
        get_config("smoke", stage1={"precision": "fp16"})
    with pytest.raises(ValueError, match="patience"):
        get_config("smoke", stage2={"patience": 1.5})


def test_the_quantiser_stays_float32_under_autocast():
    vq = VectorQuantizer(codebook_size=8, dim=4, decay=0.9, eps=1e-5, commitment_weight=1.0).eval()
    z = torch.randn(3, 4, 2, 5)
    with autocast("bf16", "cpu"):
        z_q, idx, commit, _ = vq(z.to(torch.bfloat16))
    assert z_q.dtype == torch.float32 and commit.dtype == torch.float32 and vq.embed.dtype == torch.float32
    assert torch.equal(idx, vq(z.to(torch.bfloat16).float())[1])  # the same codes as a float32 search


def test_bf16_training_is_reproducible_and_differs_from_fp32(gunpoint, tmp_path, monkeypatch):
    cfg = get_config("smoke", stage1={"epochs": 3, "precision": "bf16"}, ssl={"method": "vibcreg", "augmentation": "slice"})
    runs = []
    for name in ("a", "b"):
        monkeypatch.setenv("TSVQ_CACHE_DIR", str(tmp_path / name))
        runs.append(train_tokenizer(gunpoint, cfg, seed=3, progress=False))
    monkeypatch.setenv("TSVQ_CACHE_DIR", str(tmp_path / "fp32"))
    fp32 = train_tokenizer(gunpoint, replace(cfg, stage1=replace(cfg.stage1, precision="fp32")), seed=3, progress=False)
    a, b, c = (r.model.state_dict() for r in (*runs, fp32))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())
    assert all(torch.isfinite(torch.tensor(h["train_loss"])) for h in runs[0].history)
    assert all(v.dtype == torch.float32 for v in a.values() if v.is_floating_point())


def test_bf16_fcn_training_is_reproducible(gunpoint):
    cfg = replace(get_config("smoke").eval, fcn_epochs=3, fcn_precision="bf16")
    m1, m2 = (train_fcn(gunpoint.x_train, gunpoint.y_train, n_classes=2, config=cfg, seed=0, progress=False)
              for _ in range(2))
    assert all(torch.equal(p, q) for p, q in zip(m1.state_dict().values(), m2.state_dict().values()))


def _toy_fit(folder, patience, val_losses, stop_after_epoch=None):
    torch.manual_seed(0)
    net = torch.nn.Linear(2, 1)
    x = torch.randn(8, 2)
    calls = []

    def validate():
        calls.append(len(calls))
        return {"loss": val_losses[len(calls) - 1]}

    history = fit(folder=folder, modules={"net": net}, n_train=8, seed=0, progress=False, keep_best="val_loss",
                  train_cfg=TrainConfig(epochs=20, batch_size=8, val_every=1, ckpt_every=100, patience=patience),
                  step=lambda idx, gen: {"loss": net(x[idx]).pow(2).mean()}, validate=validate,
                  stop_after_epoch=stop_after_epoch)
    return history, net, calls


def test_early_stopping_keeps_the_best_epoch_and_stays_stopped(tmp_path):
    val = [5.0, 4.0, 3.0, 3.5, 3.6, 3.7, 3.8, 3.9, 4.0] + [1.0] * 11  # best at epoch 3, a better one only at 10
    history, net, _ = _toy_fit(tmp_path / "a", 0.25, val)  # stop once the best is more than 5 epochs behind
    assert [h["epoch"] for h in history] == list(range(1, 10))
    _, reference, _ = _toy_fit(tmp_path / "b", 0.0, val[:3] + [9.0] * 17, stop_after_epoch=3)  # the weights after epoch 3
    assert all(torch.equal(p, q) for p, q in zip(net.state_dict().values(), reference.state_dict().values()))
    again, _, calls = _toy_fit(tmp_path / "a", 0.25, val)  # the stop is in the checkpoint: nothing more is trained
    assert len(again) == 9 and calls == []
    full, _, _ = _toy_fit(tmp_path / "c", 0.0, val)  # without patience the run goes on and finds epoch 10
    assert len(full) == 20


def test_the_sampling_mode_changes_the_run_hash_but_not_the_prior(gunpoint):
    fast = get_config("smoke", prior={"sampling": "inverse_cdf"})
    assert prior_key(gunpoint, get_config("smoke"), 0) == prior_key(gunpoint, fast, 0)  # the same trained weights
    assert config_hash(fast) != config_hash(get_config("smoke"))  # but other samples, another run
