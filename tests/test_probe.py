import dataclasses

import numpy as np
import pytest
import torch

from tsvq.config import get_config
from tsvq.data import load_ucr
from tsvq.probe import codebook_stats, cv_probe, embed_2d, pooled_features, probe, probe_features
from tsvq.train import train_tokenizer


@pytest.fixture(scope="module")
def trained():
    ds = load_ucr("GunPoint")
    run = train_tokenizer(ds, get_config("smoke", stage1={"epochs": 3}), seed=0, progress=False)
    return ds, run.model.train()  # left in training mode on purpose: probing must not depend on the caller


def test_probing_changes_no_parameter_or_buffer(trained):
    ds, model = trained
    before = {k: v.clone() for k, v in model.state_dict().items()}
    probe(model, ds)
    codebook_stats(model, ds.x_test)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert model.training  # the caller's mode is restored


def test_probe_accuracies_are_real_and_pooled_features_deterministic(trained):
    ds, model = trained
    f1, f2 = pooled_features(model, ds.x_test), pooled_features(model, ds.x_test)
    np.testing.assert_array_equal(f1, f2)
    assert f1.shape == (len(ds.x_test), model.config.hidden_dim)
    res = probe(model, ds)
    assert 0.0 <= res["knn_accuracy"] <= 1.0 and 0.0 <= res["svm_accuracy"] <= 1.0
    # perfectly separable features give perfect probes; random labels do not
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    f = np.c_[y + 0.01 * rng.standard_normal(200), rng.standard_normal(200)]
    assert probe_features(f[:100], y[:100], f[100:], y[100:]) == {"svm_accuracy": 1.0, "knn_accuracy": 1.0}


def test_codebook_stats_and_2d_maps(trained):
    ds, model = trained
    stats = codebook_stats(model, ds.x_test)["all"]
    assert stats["counts"].sum() == len(ds.x_test) * model.n_tokens("all")
    assert 1.0 <= stats["perplexity"] <= stats["usage"] <= model.config.codebook_size
    f = pooled_features(model, ds.x_test)
    assert embed_2d(f, method="pca").shape == (len(f), 2)
    with pytest.raises(ValueError):
        embed_2d(f, method="umap")


def test_cv_probe_never_reads_test(trained):
    ds, model = trained
    res = cv_probe(model, ds)
    assert set(res) == {"cv_svm_accuracy", "cv_knn_accuracy"}
    assert all(0.5 < v <= 1.0 for v in res.values()), res  # two balanced classes: better than chance
    blind = dataclasses.replace(ds, x_test=np.full_like(ds.x_test, np.nan), y_test=np.zeros_like(ds.y_test))
    assert cv_probe(model, blind) == res


def test_unquantised_features_are_the_encoder_output_pooled(trained):
    ds, model = trained
    x = ds.x_test[:32]
    f_q, f_u = pooled_features(model, x), pooled_features(model, x, quantised=False)
    assert f_q.shape == f_u.shape and not np.allclose(f_q, f_u)
    with torch.no_grad():
        z = model.eval().encode(torch.as_tensor(x))["all"]
    model.train()
    np.testing.assert_allclose(f_u, z.mean(dim=(2, 3)).double().numpy(), rtol=1e-6)


def test_svm_probe_ends_on_features_where_libsvm_cycles():
    """Pooled features of a real Beef tokenizer (one cross-validation fold) on which libsvm without an
    iteration cap never returned; run in a child process so that a regression fails instead of hanging."""
    import ast
    import subprocess
    import sys
    from pathlib import Path

    data = Path(__file__).with_name("data") / "svm_cycles.npz"
    code = ("import numpy as np, warnings; from tsvq.probe import probe_features; "
            f"d = np.load({str(data)!r}); warnings.simplefilter('ignore'); "
            "print(probe_features(d['f_train'], d['y_train'], d['f_test'], d['y_test']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    scores = ast.literal_eval(out.stdout)
    assert set(scores) == {"svm_accuracy", "knn_accuracy"} and all(0 <= v <= 1 for v in scores.values())
