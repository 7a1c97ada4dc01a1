from pathlib import Path

import pytest
import torch

from tsvq.config import get_config
from tsvq.data import load_ucr
from tsvq.tokenizer import Tokenizer
from tsvq.experiments import setting_name, stage1_config
from tsvq.train import evaluate_reconstruction, load_tokenizer, train_seconds, train_tokenizer
from tsvq.utils import default_device, progress_bar


@pytest.fixture(scope="module")
def gunpoint():
    return load_ucr("GunPoint")


def test_short_stage1_run_halves_val_error(gunpoint):
    cfg = get_config("smoke", stage1={"epochs": 25, "batch_size": 16, "val_every": 25})
    torch.manual_seed(0)
    untrained = Tokenizer(config=cfg.tokenizer, length=150)
    before = evaluate_reconstruction(untrained, gunpoint.x_val)["time_mse"]
    run = train_tokenizer(gunpoint, cfg, seed=0, progress=False)
    after = evaluate_reconstruction(run.model, gunpoint.x_val)["time_mse"]
    assert after < 0.5 * before, (before, after)
    assert run.history[-1]["val_time_mse"] == pytest.approx(after, rel=1e-5)
    # every epoch records its wall-clock time and device, so a cached model still knows how and where it trained
    assert all(h["seconds"] > 0 for h in run.history)
    assert {h["device"] for h in run.history} == {next(run.model.parameters()).device.type}
    assert train_seconds(run.history) == round(sum(h["seconds"] for h in run.history), 1) > 0


def test_resume_gives_same_weights_as_uninterrupted(gunpoint, tmp_path, monkeypatch):
    cfg = get_config("smoke", stage1={"epochs": 4, "ckpt_every": 1}, ssl={"method": "barlowtwins", "augmentation": "warp"})
    monkeypatch.setenv("TSVQ_CACHE_DIR", str(tmp_path / "a"))
    full = train_tokenizer(gunpoint, cfg, seed=1, progress=False)
    monkeypatch.setenv("TSVQ_CACHE_DIR", str(tmp_path / "b"))
    part = train_tokenizer(gunpoint, cfg, seed=1, progress=False, stop_after_epoch=2)
    assert not part.path.exists() and len(part.history) == 2
    resumed = train_tokenizer(gunpoint, cfg, seed=1, progress=False)
    assert len(resumed.history) == 4
    a, b = full.model.state_dict(), resumed.model.state_dict()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_cache_and_checkpoint_rebuild(gunpoint):
    cfg = get_config("smoke")
    first = train_tokenizer(gunpoint, cfg, seed=0, progress=False)
    mtime = first.path.stat().st_mtime
    again = train_tokenizer(gunpoint, cfg, seed=0, progress=False)
    assert again.path == first.path and again.path.stat().st_mtime == mtime  # loaded, not retrained
    model, history, stored = load_tokenizer(first.path)  # weights_only=True inside
    # the checkpoint rebuilds the tokenizer from its stored config (other stages' sections may differ: a
    # tokenizer is shared by every prior trained on it)
    assert (stored.tokenizer, stored.ssl, stored.stage1) == (cfg.tokenizer, cfg.ssl, cfg.stage1)
    assert not model.training and len(history) == cfg.stage1.epochs
    x = torch.as_tensor(gunpoint.x_test[:4])
    torch.testing.assert_close(model(x).x_hat, first.model.eval()(x).x_hat)
    other = train_tokenizer(gunpoint, cfg, seed=1, progress=False)
    assert other.path != first.path


def test_setting_overrides_reach_ssl_and_stage1_configs():
    over = {"weight": 0.3, "stage1_epochs": 200}
    cfg = stage1_config("cpu", "vibcreg", "slice", over)
    base = get_config("cpu")
    assert cfg.ssl.weight == 0.3 and cfg.ssl.augmentation == "slice" and cfg.stage1.epochs == 200
    assert cfg.stage1.min_steps == base.stage1.min_steps and cfg.tokenizer == base.tokenizer
    assert setting_name("vibcreg", "slice", over) == "vibcreg-slice-stage1_epochs200-weight0.3"
    longer_prior = stage1_config("cpu", "none", "none", {"stage2_min_steps": 3000}, prior={"variant": "token"})
    assert longer_prior.stage2.min_steps == 3000 and longer_prior.prior.variant == "token"
    wider = stage1_config("cpu", "none", "none", {"tokenizer_hidden_dim": 64, "tokenizer_n_res_blocks": 4})
    assert (wider.tokenizer.hidden_dim, wider.tokenizer.n_res_blocks) == (64, 4) and wider.ssl == base.ssl
    assert longer_prior.stage1 == base.stage1 and longer_prior.stage2.epochs == base.stage2.epochs
    with pytest.raises(ValueError, match="stage1_no_such_field"):
        stage1_config("cpu", "vibcreg", "slice", {"stage1_no_such_field": 1})


def test_stage1_grid_selection_and_feature_probes_write_one_row_per_run(gunpoint, tmp_path):
    from tsvq.experiments import run_feature_probes, run_selection_grid, run_stage1_grid

    grid = dict(profile="smoke", seeds=[0], settings=[("none", "none"), ("vibcreg", "slice", {"weight": 0.1})],
                results_dir=tmp_path, progress=False)
    s1 = run_stage1_grid(gunpoint, **grid)
    assert list(s1["setting"]) == ["naive", "vibcreg-slice-weight0.1"] and (s1["torch_threads"] >= 1).all()
    assert set(s1["train_device"]) == {default_device().type}
    assert len(run_stage1_grid(gunpoint, **grid)) == 2  # a finished run is not run or written again
    sel = run_selection_grid(gunpoint, **grid)
    assert {"cv_knn_accuracy", "cv_svm_accuracy", "val_time_mse"} <= set(sel.columns)
    assert not {"knn_accuracy", "test_time_mse"} & set(sel.columns)  # selection never reports TEST
    fp = run_feature_probes(gunpoint, **grid)
    assert len(fp) == 4
    quantised = fp[fp["features"] == "quantised"].set_index("setting")["knn_accuracy"]
    assert quantised.equals(s1.set_index("setting")["knn_accuracy"])  # the grid's own models


def test_cache_keys_hash_exactly_the_weight_changing_fields(gunpoint, tmp_path, ucr_dir):
    import shutil

    from tsvq.train import prior_key, tokenizer_cache_key, tokenizer_key

    assert tokenizer_cache_key is tokenizer_key
    base = dict(ssl={"method": "vibcreg", "augmentation": "warp"})
    cfg = get_config("smoke", **base)
    tk, pk = tokenizer_key(gunpoint, cfg, 0), prior_key(gunpoint, cfg, 0)
    assert dict(tk)["fingerprint"] == gunpoint.meta.fingerprint != ""

    def keys(**sections):
        c = get_config("smoke", **{**base, **sections})
        return tokenizer_key(gunpoint, c, 0), prior_key(gunpoint, c, 0)

    # sampler, evaluation, checkpoint frequency and the parameters of other methods / augmentations: same model
    for same in (dict(prior={"T": 7, "choice_temperature": 1.0}), dict(eval={"rocket_kernels": 50}),
                 dict(stage1={"ckpt_every": 3}, stage2={"ckpt_every": 3}),
                 dict(ssl={**base["ssl"], "bt_lambda": 0.1, "vicreg_nu": 3.0, "slice_segments": 2, "gauss_std": 0.2}),
                 dict(ssl={**base["ssl"], "weight": 0.01})):  # None means the thesis weight 0.01
        assert keys(**same) == (tk, pk), same
    # SSL loss and augmentation parameters, the tokenizer, the seed: another tokenizer (and prior)
    for other in (dict(ssl={**base["ssl"], "vibcreg_lambda": 5.0}), dict(ssl={**base["ssl"], "warp_scale_max": 1.5}),
                  dict(tokenizer={"codebook_init": "random"}), dict(stage1={"lr": 1e-4})):
        t, p = keys(**other)
        assert t != tk and p != pk, other
    assert tokenizer_key(gunpoint, cfg, 1) != tk
    # prior training settings: another prior on the same tokenizer
    for other in (dict(prior={"masking": "thesis"}), dict(stage2={"val_every": 2}), dict(prior={"p_uncond": 0.1})):
        t, p = keys(**other)
        assert t == tk and p != pk, other
    # without SSL the SSL parameters play no part
    naive = get_config("smoke")
    assert tokenizer_key(gunpoint, naive, 0) == tokenizer_key(
        gunpoint, get_config("smoke", ssl={"bt_lambda": 0.5, "warp_window": 0.2, "augmentation": "gauss"}), 0)
    # other data of the same name and shape: another key
    orig = load_ucr("GunPoint", ucr_dir)
    shutil.copytree(Path(ucr_dir) / "GunPoint", tmp_path / "GunPoint")
    f = tmp_path / "GunPoint" / "GunPoint_TRAIN.tsv"
    rows = f.read_text().splitlines()
    first = rows[0].split("\t")
    rows[0] = "\t".join(first[:2] + [str(float(first[2]) + 0.5)] + first[3:])
    f.write_text("\n".join(rows) + "\n")
    edited = load_ucr("GunPoint", tmp_path)
    assert edited.meta.length == orig.meta.length and tokenizer_key(edited, cfg, 0) != tokenizer_key(orig, cfg, 0)


def test_cpu_profile_trains_cas_on_at_least_1000_series():
    assert get_config("cpu").eval.cas_min_samples == 1000


def test_interrupted_saves_recover_and_bad_checkpoints_are_named(gunpoint, tmp_path, monkeypatch):
    import shutil

    from tsvq.train import CheckpointError

    cfg = get_config("smoke", stage1={"epochs": 3, "ckpt_every": 1})
    monkeypatch.setenv("TSVQ_CACHE_DIR", str(tmp_path / "a"))
    full = train_tokenizer(gunpoint, cfg, seed=2, progress=False, device="cpu")
    assert not (full.path.parent / "last.pt").exists()  # the resumable state goes once the model is final
    monkeypatch.setenv("TSVQ_CACHE_DIR", str(tmp_path / "b"))
    part = train_tokenizer(gunpoint, cfg, seed=2, progress=False, device="cpu", stop_after_epoch=2)
    folder = part.path.parent
    last = folder / "last.pt"
    data = last.read_bytes()
    last.write_bytes(data[: len(data) // 2])  # killed while writing
    (folder / ".last.pt.x1y2.tmp").write_bytes(data[:100])  # a temporary file left by a killed save
    with pytest.warns(UserWarning, match="last.pt could not be resumed"):
        again = train_tokenizer(gunpoint, cfg, seed=2, progress=False, device="cpu")
    assert len(again.history) == 3 and list(folder.glob("last.pt.bad-*")) and not last.exists()
    a, b = full.model.state_dict(), again.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)  # started over: the same weights as an uninterrupted run
    # a truncated final checkpoint: a one-line error that names it
    again.path.write_bytes(again.path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=r"tokenizer\.pt .*delete it to retrain") as err:
        train_tokenizer(gunpoint, cfg, seed=2, progress=False, device="cpu")
    assert "\n" not in str(err.value)
    # a valid checkpoint of other settings placed in this slot is refused
    monkeypatch.setenv("TSVQ_CACHE_DIR", str(tmp_path / "a"))
    slot = train_tokenizer(gunpoint, cfg, seed=3, progress=False, device="cpu", stop_after_epoch=1).path
    shutil.copy(full.path, slot)
    with pytest.raises(CheckpointError, match="other settings .*seed"):
        train_tokenizer(gunpoint, cfg, seed=3, progress=False, device="cpu")


def test_a_step_budget_shortens_only_the_runs_it_binds(gunpoint):
    from tsvq.book import stage1_length
    from tsvq.train import n_epochs, tokenizer_key

    from dataclasses import replace

    capped = get_config("cpu").stage1  # 500 epochs, at least 200 steps, at most 2000, batch 128
    c = replace(capped, max_steps=0)
    assert capped.max_steps == 2000 and [n_epochs(c, n) for n in (40, 500, 2881)] == [500, 500, 500]
    # 1 and 4 steps per epoch: 500 and 2000 steps, within the budget; 23 steps per epoch: 87 epochs = 2001 steps
    assert [n_epochs(capped, n) for n in (40, 500, 2881)] == [500, 500, 87]
    assert n_epochs(replace(c, max_steps=10), 2881) == 1  # never fewer than one epoch
    # the key holds the epochs run, not the budget: where it does not bind, the same model (and hash)
    budget = get_config("cpu")
    assert tokenizer_key(gunpoint, budget, 0) == tokenizer_key(gunpoint, get_config("cpu", stage1={"max_steps": 0}), 0)
    assert tokenizer_key(gunpoint, get_config("cpu", stage1={"max_steps": 300}), 0) != tokenizer_key(gunpoint, budget, 0)
    assert stage1_length(budget, 2881) == ("87 stage-1 epochs of 23 steps (the profile's budget of 2000 steps "
                                           "binds: its 500 epochs would take 11500)")
    assert stage1_length(budget, 40) == "500 stage-1 epochs of 1 step"
    assert "at least 200 steps" in stage1_length(get_config("cpu", stage1={"epochs": 50}), 40)


def test_progress_in_a_log_file_is_one_line_per_update(capsys):
    """Off a terminal (a grid unit's log) each update of the bar is a line of its own, the last not repeated."""
    bar = progress_bar(range(3), desc="stage 1 demo")
    for i in bar:
        bar.set_postfix(train_loss=i, refresh=False)
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = err.splitlines()
    assert lines[0].startswith("stage 1 demo:   0%") and lines[-1].startswith("stage 1 demo: 100%")
    assert len(lines) == len(set(lines)) == 2  # the first and the closing update: the loop takes far less than 30 s
