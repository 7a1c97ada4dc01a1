from pathlib import Path

import pytest
import torch

from tsvq.config import get_config
from tsvq.data import load_ucr
from tsvq.tokenizer import Tokenizer
from tsvq.experiments import setting_name, stage1_config
from tsvq.train import evaluate_reconstruction, load_tokenizer, train_seconds, train_tokenizer
from tsvq.utils import default_device


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
    with pytest.raises(TypeError):
        stage1_config("cpu", "vibcreg", "slice", {"stage1_no_such_field": 1})


def test_result_rows_gain_columns_without_losing_old_rows(tmp_path):
    from tsvq.experiments import _append, read_table

    path = tmp_path / "stage1.csv"
    _append(path, {"seed": 0, "knn_accuracy": 0.5})
    _append(path, {"seed": 1, "knn_accuracy": 0.6, "torch_threads": 2})
    _append(path, {"seed": 2, "knn_accuracy": 0.7, "torch_threads": 1})
    df = read_table(path)
    assert list(df.columns) == ["seed", "knn_accuracy", "torch_threads"]
    assert df["seed"].tolist() == [0, 1, 2] and df["knn_accuracy"].tolist() == [0.5, 0.6, 0.7]
    assert df["torch_threads"].isna().tolist() == [True, False, False]


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


def test_train_grid_script_fills_the_cache_the_grids_read(tmp_path, monkeypatch):
    """scripts/train_grid.py trains in worker processes into the cache, packs what it trained, and
    run_stage1_grid then loads those tokenizers instead of training again; a passed deadline trains nothing."""
    import os
    import subprocess
    import sys
    import tarfile

    from tsvq.experiments import run_stage1_grid

    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "TSVQ_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(repo)}
    cmd = [sys.executable, str(repo / "scripts" / "train_grid.py"), "--datasets", "GunPoint", "--seeds", "0",
           "--settings", "none-none", "vibcreg-slice", "--profile", "smoke", "--cpu-workers", "2"]
    out = subprocess.run(cmd + ["--pack", str(tmp_path / "t.tar")], env=env, capture_output=True, text=True,
                         check=True).stdout
    assert out.count("on cpu:") == 2 and "packed 2 tokenizers" in out, out
    with tarfile.open(tmp_path / "t.tar") as tar:
        names = tar.getnames()
    cache = tmp_path / "cache"
    trained = {str(p.relative_to(cache)): p.stat().st_mtime_ns for p in cache.glob("tokenizer/*/tokenizer.pt")}
    assert sorted(trained) == sorted(names) and all(n.endswith("/tokenizer.pt") for n in names)
    # the cache entries are the ones the grid looks up: it loads them and trains nothing
    monkeypatch.setenv("TSVQ_CACHE_DIR", str(cache))
    rows = run_stage1_grid(load_ucr("GunPoint"), profile="smoke", seeds=[0], results_dir=tmp_path / "results",
                           settings=[("none", "none"), ("vibcreg", "slice")], progress=False)
    assert len(rows) == 2 and set(rows["train_device"]) == {"cpu"}
    assert {str(p.relative_to(cache)): p.stat().st_mtime_ns for p in cache.glob("tokenizer/*/tokenizer.pt")} == trained
    late = subprocess.run(cmd + ["--seeds", "1", "--minutes", "0", "--pack", str(tmp_path / "late.tar")], env=env,
                          capture_output=True, text=True, check=True).stdout
    assert late.count("skipped (deadline)") == 2 and "packed 0 tokenizers" in late, late
