"""Rows of the hostile-user review (shared/reviews/reliability.md) that were not handled right, as tests.

Each case runs ``tsvq.cli.main([...])`` in-process at the ``smoke`` profile and checks the exit code,
that stderr is one line ``error: ...`` naming the problem, and that neither the model cache nor the
output folder changed. Data sets are built in a temporary folder in UCR-2018 layout from GunPoint.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tsvq import cli
from tsvq.data import MIN_LENGTH, DatasetError, list_datasets, load_ucr

# ----------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def gunpoint():
    from tsvq.data import _read_aeon

    x_tr, y_tr, x_te, y_te = _read_aeon("GunPoint", download=False)
    return (pd.DataFrame(np.column_stack([y_tr.astype(int), x_tr])),
            pd.DataFrame(np.column_stack([y_te.astype(int), x_te])))


def _write(folder: Path, name: str, train: pd.DataFrame, test: pd.DataFrame) -> None:
    d = folder / name
    d.mkdir(parents=True)
    for df, split in ((train, "TRAIN"), (test, "TEST")):
        df = df.copy()
        df[0] = df[0].map(lambda v: v if isinstance(v, str) else f"{int(v)}")
        df.to_csv(d / f"{name}_{split}.tsv", sep="\t", header=False, index=False)


def _variants(tr: pd.DataFrame, te: pd.DataFrame) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    def values(df, v):
        df = df.copy()
        df.iloc[:, 1:] = v
        return df

    inf_val, inf_train, inf_test = tr.copy(), tr.copy(), te.copy()
    inf_val.iloc[0, 10] = np.inf
    inf_train.iloc[[1, 5, 9, 20, 30, 40], 7] = np.inf
    inf_test.iloc[3, 5] = -np.inf
    one = tr.copy(), te.copy()
    one[0][0], one[1][0] = 1, 1
    floats = tr.copy()
    floats[0] = floats[0].map(lambda v: f"{float(v):.1f}")
    big_test = te.copy()
    big_test.iloc[0, 3] = 1e300
    return {
        "Good": (tr, te),
        "OneClass": one,
        "Short4": (tr.iloc[:, :5], te.iloc[:, :5]),
        "Zeros": (values(tr, 0.0), values(te, 0.0)),
        "HugeConst": (values(tr, 1e30), values(te, 1e30)),
        "InfVals": (inf_val, te),
        "InfTrain": (inf_train, te),
        "InfTest": (tr, inf_test),
        "FloatLabels": (floats, te),
        "BigTest": (tr, big_test),
    }


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, gunpoint):
    root = tmp_path_factory.mktemp("ucr")
    for name, (tr, te) in _variants(*gunpoint).items():
        _write(root, name, tr, te)
    return root


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A fresh cache and output folder; TSVQ_DATA_DIR unset so nothing else is read."""
    cache, out = tmp_path / "cache", tmp_path / "out"
    cache.mkdir()
    out.mkdir()
    monkeypatch.setenv("TSVQ_CACHE_DIR", str(cache))
    monkeypatch.delenv("TSVQ_DATA_DIR", raising=False)
    monkeypatch.delenv("TSVQ_DEVICE", raising=False)
    monkeypatch.chdir(tmp_path)
    return dict(tmp=tmp_path, cache=cache, out=out)


def _state(*folders: Path) -> dict:
    """Every file under the folders with its size and content hash."""
    out = {}
    for f in folders:
        for p in sorted(Path(f).rglob("*")) if Path(f).exists() else []:
            if p.is_file():
                out[str(p)] = (p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest())
    return out


def _fails_cleanly(argv, capsys, env, *needles, code: int = 2) -> str:
    before = _state(env["cache"], env["out"])
    rc = cli.main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == code, err
    assert len(err) == 1 and err[0].startswith("error: "), err
    for n in needles:
        assert n in err[0], (n, err[0])
    assert _state(env["cache"], env["out"]) == before, "the cache or the output folder changed"
    return err[0]


# ----------------------------------------------------------------------------------------------- 1. data files

DATA_ROWS = [
    # (review row, dataset, words the message must contain)
    ("D9", "OneClass", ["OneClass_TRAIN.tsv", "single class", "at least two classes"]),
    ("D10", "Short4", ["Short4_TRAIN.tsv", "length 4", f"at least {MIN_LENGTH}"]),
    ("D11", "Zeros", ["Zeros_TRAIN.tsv", "constant", "std 0"]),
    ("D13", "HugeConst", ["HugeConst_TRAIN.tsv", "constant"]),
    ("D16", "InfVals", ["InfVals_TRAIN.tsv", "infinite", "series 1"]),
    ("D17", "InfTrain", ["InfTrain_TRAIN.tsv", "infinite", "series 2, 6, 10, 21, 31 and 1 more"]),
    ("D18", "InfTest", ["InfTest_TEST.tsv", "infinite", "series 4"]),
    ("D18b", "BigTest", ["BigTest_TEST.tsv", "overflow"]),
]


@pytest.mark.parametrize("row,name,needles", DATA_ROWS, ids=[r[0] for r in DATA_ROWS])
def test_bad_data_is_caught_at_load_time(row, name, needles, data_dir, env, capsys):
    argv = ["train-tokenizer", "--profile", "smoke", "--data-dir", str(data_dir), "--dataset", name,
            "--out-dir", str(env["out"])]
    _fails_cleanly(argv, capsys, env, f"{name}:", *needles)
    with pytest.raises(DatasetError):  # the library says the same, before anything trains
        load_ucr(name, data_dir)


def test_D20_labels_spelled_differently_are_one_class(data_dir, gunpoint):
    ds, ref = load_ucr("FloatLabels", data_dir), load_ucr("Good", data_dir)
    assert ds.meta.class_names == ("1", "2") and ds.meta.n_classes == 2
    assert ds.meta.fingerprint == ref.meta.fingerprint
    assert np.array_equal(ds.y_test, ref.y_test)


def test_A27_one_bad_folder_does_not_stop_the_listing(data_dir, env, capsys):
    assert cli.main(["datasets", "--data-dir", str(data_dir)]) == 0
    out, err = capsys.readouterr()
    listed = {line.split()[0] for line in out.splitlines()[1:]}
    assert {"Good", "FloatLabels", "GunPoint"} <= listed
    assert not listed & {"OneClass", "Short4", "Zeros", "InfTrain"}
    warnings = err.strip().splitlines()
    assert all(w.startswith("warning: skipped ") for w in warnings)
    assert any("Zeros_TRAIN.tsv" in w for w in warnings)
    rows = {r["name"]: r for r in list_datasets(data_dir)}
    assert rows["Good"]["error"] is None and rows["Good"]["n_classes"] == 2
    assert "single class" in rows["OneClass"]["error"]


def test_a_binary_file_is_a_clear_error(tmp_path, env, capsys):
    d = tmp_path / "data" / "Binary"
    d.mkdir(parents=True)
    (d / "Binary_TRAIN.tsv").write_bytes(bytes(range(256)) * 8)
    (d / "Binary_TEST.tsv").write_bytes(bytes(range(256)) * 8)
    _fails_cleanly(["train-tokenizer", "--profile", "smoke", "--data-dir", str(tmp_path / "data"), "--dataset",
                    "Binary", "--out-dir", str(env["out"])], capsys, env, "Binary_TRAIN.tsv", "not a text file")


# ----------------------------------------------------------------------------------------------- 2. arguments

SAMPLE = ["sample", "--dataset", "GunPoint", "--profile", "smoke"]
TT = ["train-tokenizer", "--dataset", "GunPoint", "--profile", "smoke"]

ARG_ROWS = [
    ("A6", SAMPLE + ["--class", "99"], ["--class", "0..1", "99"]),
    ("A8", SAMPLE + ["--n", "0"], ["--n", "at least 1"]),
    ("A9", SAMPLE + ["--n", "-5"], ["--n", "-5"]),
    ("A11", SAMPLE + ["--n", "8", "--guidance", "nan"], ["--guidance", "finite"]),
    ("A11b", SAMPLE + ["--guidance", "inf"], ["--guidance", "finite"]),
    ("A13", TT + ["--seed", "-1"], ["--seed", "-1"]),
    ("A13b", TT + ["--seed", str(2**32)], ["--seed"]),
    ("A18", ["train-tokenizer", "--profile", "smoke", "--dataset", "../GunPoint"], ["../GunPoint", "plain name"]),
    ("A20", ["train-tokenizer", "--profile", "smoke", "--dataset", "/tmp/GunPoint"], ["/tmp/GunPoint", "plain name"]),
    ("A21", ["train-tokenizer", "--profile", "smoke", "--dataset", ""], ["plain name"]),
    ("A23", TT + ["--device", "foo"], ["--device", "'foo'", "cpu, cuda"]),
    ("A23b", TT + ["--device", "cuda:x"], ["--device", "cuda:x"]),
    ("class+uncond", SAMPLE + ["--class", "0", "--unconditional"], ["--class", "--unconditional"]),
    ("run-seed", ["run", "--dataset", "GunPoint", "--profile", "smoke", "--seeds", "0", "-3"], ["--seeds", "-3"]),
    ("run-name", ["run", "--dataset", "a/b", "--profile", "smoke"], ["a/b", "plain name"]),
]


@pytest.mark.parametrize("row,argv,needles", ARG_ROWS, ids=[r[0] for r in ARG_ROWS])
def test_bad_arguments_are_one_line_before_training(row, argv, needles, env, capsys):
    if "--out-dir" not in argv and argv[0] in ("train-tokenizer", "probe", "evaluate"):
        argv = argv + ["--out-dir", str(env["out"])]
    if argv[0] == "sample":
        argv = argv + ["--out", str(env["out"] / "s.npz")]
    if argv[0] == "run":
        argv = argv + ["--results-dir", str(env["out"])]
    _fails_cleanly(argv, capsys, env, *needles)


def test_A22_cuda_without_cuda(env, capsys):
    import torch

    if torch.cuda.is_available():
        _fails_cleanly(TT + ["--device", f"cuda:{torch.cuda.device_count()}", "--out-dir", str(env["out"])],
                       capsys, env, "--device", "CUDA device")
    else:
        _fails_cleanly(TT + ["--device", "cuda", "--out-dir", str(env["out"])], capsys, env,
                       "--device cuda", "not available")


def test_TSVQ_DEVICE_typo(env, capsys, monkeypatch):
    monkeypatch.setenv("TSVQ_DEVICE", "gpu")
    _fails_cleanly(TT + ["--out-dir", str(env["out"])], capsys, env, "TSVQ_DEVICE", "'gpu'")


@pytest.mark.parametrize("command", ["train-tokenizer", "datasets", "run"])
def test_A14_A16_a_missing_data_dir_is_an_error_not_aeon(command, env, capsys):
    missing = env["tmp"] / "no-such-folder"
    argv = {"train-tokenizer": TT + ["--out-dir", str(env["out"])], "datasets": ["datasets"],
            "run": ["run", "--dataset", "GunPoint", "--profile", "smoke", "--results-dir", str(env["out"])]}[command]
    _fails_cleanly(argv + ["--data-dir", str(missing)], capsys, env, str(missing), "does not exist")


def test_A14_a_missing_TSVQ_DATA_DIR_is_an_error(env, capsys, monkeypatch):
    monkeypatch.setenv("TSVQ_DATA_DIR", str(env["tmp"] / "gone"))
    _fails_cleanly(TT + ["--out-dir", str(env["out"])], capsys, env, "TSVQ_DATA_DIR", "does not exist")
    with pytest.raises(DatasetError, match="does not exist"):
        load_ucr("GunPoint")


def test_A25_cache_dir_is_a_file(env, capsys, monkeypatch):
    f = env["tmp"] / "cachefile"
    f.write_text("x")
    monkeypatch.setenv("TSVQ_CACHE_DIR", str(f))
    _fails_cleanly(TT + ["--out-dir", str(env["out"])], capsys, env, "TSVQ_CACHE_DIR", str(f))
    assert f.read_text() == "x"


@pytest.mark.parametrize("where", ["file", "below-file"])
def test_A26_out_dir_is_a_file(where, env, capsys):
    f = env["out"] / "afile"
    f.write_text("x")
    target = f if where == "file" else f / "sub"
    _fails_cleanly(TT + ["--out-dir", str(target)], capsys, env, "--out-dir", str(f), "not a folder")


def test_out_dir_not_writable(env, capsys):
    if os.geteuid() == 0:
        pytest.skip("root may write anywhere")
    ro = env["out"] / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        _fails_cleanly(TT + ["--out-dir", str(ro)], capsys, env, "--out-dir", "not writable")
    finally:
        ro.chmod(0o700)


@pytest.mark.parametrize("where", ["folder", "below-file"])
def test_sample_out_that_cannot_be_written(where, env, capsys):
    if where == "folder":
        (env["out"] / "d.npz").mkdir()
        target = env["out"] / "d.npz"
    else:
        (env["out"] / "afile").write_text("x")
        target = env["out"] / "afile" / "s"
    _fails_cleanly(SAMPLE + ["--out", str(target)], capsys, env, "--out")


def test_A6_class_is_checked_before_anything_trains(env, capsys):
    """The review found --class 99 reported only after both stages had trained into the cache."""
    _fails_cleanly(SAMPLE + ["--class", "2", "--out", str(env["out"] / "s.npz")], capsys, env, "--class")
    assert not any(env["cache"].rglob("*.pt"))


def test_A24_sample_reports_the_file_it_wrote(env, capsys):
    """``--out noext``: np.savez writes noext.npz, and the message names that file (trains at smoke)."""
    rc = cli.main(SAMPLE + ["--n", "4", "--out", str(env["out"] / "noext")])
    out = capsys.readouterr().out
    assert rc == 0
    written = env["out"] / "noext.npz"
    assert written.is_file() and (env["out"] / "noext.png").is_file()
    assert f"to {written} " in out
    with np.load(written) as z:
        assert z["x"].shape[0] == 4


# ----------------------------------------------------------------------------------------------- 3. errors


@pytest.mark.parametrize("exc", [PermissionError(13, "Permission denied", "/x/y"), IsADirectoryError("/x is a dir"),
                                 NotADirectoryError("/x is not a dir"), FileNotFoundError("/x missing")])
def test_expected_os_errors_are_one_line(exc, env, capsys, monkeypatch):
    def boom(*a, **k):
        raise exc

    monkeypatch.setattr(cli, "load_ucr", boom)
    _fails_cleanly(TT + ["--out-dir", str(env["out"])], capsys, env)


def test_checkpoint_errors_are_one_line(env, capsys, monkeypatch):
    train = pytest.importorskip("tsvq.train")
    if not hasattr(train, "CheckpointError"):
        pytest.skip("this tsvq.train has no CheckpointError")

    def boom(*a, **k):
        raise train.CheckpointError("/cache/tokenizer.pt is damaged; delete it to retrain")

    monkeypatch.setattr(cli, "load_ucr", boom)
    _fails_cleanly(TT + ["--out-dir", str(env["out"])], capsys, env, "tokenizer.pt")


def test_unexpected_errors_keep_their_traceback(env, monkeypatch):
    def bug(*a, **k):
        raise ValueError("an internal bug, not an input error")

    monkeypatch.setattr(cli, "load_ucr", bug)
    with pytest.raises(ValueError, match="internal bug"):
        cli.main(TT + ["--out-dir", str(env["out"])])


# ----------------------------------------------------------------------------------------------- 4. evaluate


def test_evaluate_prints_and_writes_every_metric(env, capsys, monkeypatch):
    """New keys of the evaluation (kid, copy_rate, sample counts, ...) appear without a change to the CLI."""
    from tsvq import evaluate, train

    class FakeEvaluator:
        test_accuracy = 0.75
        fingerprint = "0123456789ab"

    metrics = dict(fid=1.5, kid=0.01, kid_std=0.002, is_mean=1.9, is_std=0.05, rocket_fid=12.0, copy_rate=0.0,
                   n_real=np.int64(150), n_synth=150, cas=0.6, n_cas=65, brand_new_metric=np.float32(0.25),
                   not_a_number=float("nan"))
    monkeypatch.setattr(evaluate, "load_or_train_evaluator", lambda *a, **k: FakeEvaluator())
    monkeypatch.setattr(train, "train_prior", lambda *a, **k: object())
    from tsvq import experiments

    monkeypatch.setattr(experiments, "evaluate_prior", lambda *a, **k: dict(metrics))
    assert cli.main(["evaluate", "--dataset", "GunPoint", "--profile", "smoke", "--out-dir", str(env["out"])]) == 0
    out = capsys.readouterr().out
    printed = {line.split()[0]: line.split()[1] for line in out.splitlines() if line.startswith("  ")}
    for k in metrics:
        assert k in printed, k
    assert printed["n_real"] == "150" and printed["n_synth"] == "150" and printed["kid"] == "0.0100"
    assert printed["evaluator_test_accuracy"] == "0.7500"
    (path,) = (env["out"] / "GunPoint").glob("evaluate-*.json")
    saved = json.loads(path.read_text())
    assert {*metrics, "evaluator_test_accuracy", "dataset", "profile", "seed"} <= set(saved)
    assert saved["n_real"] == 150 and saved["brand_new_metric"] == 0.25 and saved["not_a_number"] is None
    assert saved["evaluator_hash"] == "0123456789ab"  # names the evaluator, for pairing rows later
    assert math.isclose(saved["kid_std"], 0.002)


# ----------------------------------------------------------------------------------------------- 5. the book


def test_C11_run_into_a_results_dir_leaves_the_book_alone(env, capsys):
    """``tsvq run --results-dir X``: executed notebooks go under X/executed/<profile>/, never into book/."""
    pytest.importorskip("papermill")
    from tsvq.book import EXECUTED, repo_root

    root = repo_root(Path(__file__).parent)
    tracked = [root / "_toc.yml", *sorted((root / EXECUTED).rglob("*"))]
    before = {p: p.read_bytes() for p in tracked if p.is_file()}
    results = env["out"] / "results"
    rc = cli.main(["run", "--dataset", "GunPoint", "--profile", "smoke", "--notebooks", "datasets",
                   "--results-dir", str(results)])
    assert rc == 0
    after = {p: p.read_bytes() for p in [root / "_toc.yml", *sorted((root / EXECUTED).rglob("*"))] if p.is_file()}
    assert after == before, "tsvq run --results-dir wrote into the book"
    assert (results / "executed" / "smoke" / "GunPoint" / "datasets.ipynb").is_file()
    assert (results / "GunPoint" / "smoke" / "datasets_splits.csv").is_file()
    assert "executed notebooks kept in" in capsys.readouterr().out


# ----------------------------------------------------------------------------------------------- 6. cache, results, concurrency
# Rows D12, D23, R4, C1-C10, C12-C15, K1, K2, K4 of the review: wrong before, handled now.


def _cfg(**sections):
    from tsvq.config import get_config

    return get_config("smoke", **sections)


@pytest.fixture(scope="module")
def trained_cache(tmp_path_factory):
    """A smoke cache with GunPoint's naive tokenizers (seeds 0, 1), the vibcreg-slice one and a token prior."""
    from tsvq.train import train_prior, train_tokenizer

    root = tmp_path_factory.mktemp("trained") / "cache"
    old = os.environ.get("TSVQ_CACHE_DIR")
    os.environ["TSVQ_CACHE_DIR"] = str(root)
    try:
        ds = load_ucr("GunPoint")
        paths = {"tokenizer": train_tokenizer(ds, _cfg(), seed=0, progress=False).path,
                 "tokenizer1": train_tokenizer(ds, _cfg(), seed=1, progress=False).path,
                 "vibcreg": train_tokenizer(ds, _cfg(ssl={"method": "vibcreg", "augmentation": "slice"}), seed=0,
                                            progress=False).path,
                 "prior": train_prior(ds, _cfg(), seed=0, progress=False).path}
    finally:
        if old is None:
            del os.environ["TSVQ_CACHE_DIR"]
        else:
            os.environ["TSVQ_CACHE_DIR"] = old
    return root, {k: p.relative_to(root) for k, p in paths.items()}


@pytest.fixture
def cache(trained_cache, env):
    """The trained cache copied into this test's TSVQ_CACHE_DIR; returns the paths of its checkpoints."""
    import shutil

    root, rel = trained_cache
    shutil.copytree(root, env["cache"], dirs_exist_ok=True)
    return {k: env["cache"] / p for k, p in rel.items()}


def _write_gunpoint(folder: Path, name: str, transform=lambda x: x) -> None:
    from tsvq.data import _read_aeon

    x_tr, y_tr, x_te, y_te = _read_aeon("GunPoint", download=False)
    d = folder / name
    d.mkdir(parents=True, exist_ok=True)
    for x, y, split in ((x_tr, y_tr, "TRAIN"), (x_te, y_te, "TEST")):
        pd.DataFrame(np.column_stack([y.astype(int), transform(x)])).to_csv(
            d / f"{name}_{split}.tsv", sep="\t", header=False, index=False)


def test_D23_edited_data_is_not_served_from_the_cache(env):
    from tsvq.train import train_tokenizer

    _write_gunpoint(env["tmp"] / "data", "Edit")
    first = train_tokenizer(load_ucr("Edit", env["tmp"] / "data"), _cfg(), progress=False)
    _write_gunpoint(env["tmp"] / "data", "Edit", lambda x: 5 * x[:, ::-1])  # same shape, other series
    second = train_tokenizer(load_ucr("Edit", env["tmp"] / "data"), _cfg(), progress=False)
    assert second.path != first.path and len(second.history) == 2  # trained afresh, not loaded
    # another folder holding a set of the same name (aeon's bundled GunPoint) has its own slot too
    assert train_tokenizer(load_ucr("GunPoint"), _cfg(), progress=False).path not in (first.path, second.path)


def test_D23_a_rescaled_dataset_samples_in_its_own_scale(cache, env):
    """Data that differs by a factor only has the same scaled arrays (fingerprint), so the cached prior is used:
    its samples must come back in the scale of the data asked for."""
    from tsvq.train import train_prior

    _write_gunpoint(env["tmp"] / "data", "GunPoint", lambda x: 5 * x)
    ref, big = load_ucr("GunPoint"), load_ucr("GunPoint", env["tmp"] / "data")
    a, b = train_prior(ref, _cfg(), progress=False), train_prior(big, _cfg(), progress=False)
    assert a.path == b.path == cache["prior"]
    xa, xb = a.sample(4, seed=0)["x_raw"], b.sample(4, seed=0)["x_raw"]
    assert np.allclose(xb, 5 * xa, rtol=1e-3, atol=1e-3 * np.abs(xb).max())


def test_D12_data_fixed_after_a_bad_load_trains_on_the_fixed_data(data_dir, env, capsys, tmp_path):
    import shutil

    folder = tmp_path / "d12"
    shutil.copytree(data_dir / "Zeros", folder / "Zeros")
    argv = ["train-tokenizer", "--profile", "smoke", "--data-dir", str(folder), "--dataset", "Zeros",
            "--out-dir", str(env["out"])]
    _fails_cleanly(argv, capsys, env, "constant")
    assert not any(env["cache"].rglob("*.pt"))  # nothing (no NaN model) was cached
    shutil.rmtree(folder / "Zeros")
    _write_gunpoint(folder, "Zeros")
    assert cli.main(argv) == 0
    assert "knn_accuracy" in capsys.readouterr().out


CORRUPT = {
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
    "empty": lambda p: p.write_bytes(b""),
    "random": lambda p: p.write_bytes(np.random.default_rng(0).bytes(5000)),
}
CKPT_ROWS = [  # (row, checkpoint, damage, command)
    ("C1", "tokenizer", "truncated", "train-tokenizer"),
    ("C2", "tokenizer", "truncated", "probe"),
    ("C3", "tokenizer", "empty", "train-tokenizer"),
    ("C4", "tokenizer", "random", "train-tokenizer"),
    ("C6", "prior", "truncated", "sample"),
    ("C7", "prior", "truncated", "train-prior"),
]


@pytest.mark.parametrize("row,which,damage,command", CKPT_ROWS, ids=[r[0] for r in CKPT_ROWS])
def test_damaged_checkpoint_is_named_in_one_line(row, which, damage, command, cache, env, capsys):
    CORRUPT[damage](cache[which])
    argv = [command, "--dataset", "GunPoint", "--profile", "smoke"]
    argv += ["--out", str(env["out"] / "s.npz"), "--n", "4"] if command == "sample" else []
    argv += ["--out-dir", str(env["out"])] if command in ("train-tokenizer", "probe") else []
    _fails_cleanly(argv, capsys, env, str(cache[which]), "delete it")


def test_C5_a_damaged_last_pt_is_moved_aside_and_training_starts_over(cache, env, capsys):
    folder = cache["tokenizer"].parent
    data = cache["tokenizer"].read_bytes()
    cache["tokenizer"].unlink()
    (folder / "last.pt").write_bytes(data[: len(data) // 2])
    with pytest.warns(UserWarning, match="last.pt could not be resumed"):
        assert cli.main(TT + ["--out-dir", str(env["out"])]) == 0
    assert cache["tokenizer"].is_file() and list(folder.glob("last.pt.bad-*"))
    assert not (folder / "last.pt").exists()


def test_C8_a_damaged_evaluator_is_moved_aside_and_retrained(env):
    from tsvq.evaluate import evaluator_path, load_or_train_evaluator

    ds, cfg = load_ucr("GunPoint"), _cfg().eval
    load_or_train_evaluator(ds, config=cfg, progress=False)
    path = evaluator_path(ds, config=cfg)
    path.write_bytes(path.read_bytes()[:3000])
    with pytest.warns(UserWarning, match="moved it to evaluator.pt.corrupt"):
        ev = load_or_train_evaluator(ds, config=cfg, progress=False)
    assert 0 <= ev.test_accuracy <= 1 and path.with_name("evaluator.pt.corrupt").is_file()
    load_or_train_evaluator(ds, config=cfg, progress=False)  # the new one loads


def test_C9_a_checkpoint_of_other_settings_is_refused(cache, env, capsys):
    import shutil

    shutil.copy(cache["vibcreg"], cache["tokenizer"])
    _fails_cleanly(TT + ["--out-dir", str(env["out"])], capsys, env, str(cache["tokenizer"]), "other settings",
                   "ssl")


def test_R4_K4_a_final_checkpoint_is_never_seen_half_written(cache, env, monkeypatch):
    """A crash inside torch.save leaves neither a partial file nor a temporary one; the old file is kept."""
    import torch

    from tsvq import utils

    good = cache["tokenizer"].read_bytes()

    def crash(obj, f, *a, **k):
        Path(f).write_bytes(good[:1000])
        raise KeyboardInterrupt("killed mid-save")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        utils.atomic_save({"x": 1}, cache["tokenizer"])
    with pytest.raises(KeyboardInterrupt):
        utils.atomic_save({"x": 1}, cache["tokenizer"].with_name("new.pt"))
    assert cache["tokenizer"].read_bytes() == good
    assert sorted(p.name for p in cache["tokenizer"].parent.iterdir() if p.name != "lock") == ["tokenizer.pt"]


_CHILD = """
import os, sys
os.environ["OMP_NUM_THREADS"] = "1"
from tsvq.config import get_config
from tsvq.data import load_ucr
from tsvq.train import train_tokenizer
cfg = get_config("smoke", stage1={"epochs": int(sys.argv[1])})
print(train_tokenizer(load_ucr("GunPoint"), cfg, seed=7, progress=False).path, flush=True)
"""


def _children(n: int, epochs: int, env):
    import subprocess
    import sys

    e = {**os.environ, "TSVQ_CACHE_DIR": str(env["cache"]), "OMP_NUM_THREADS": "1"}
    return [subprocess.Popen([sys.executable, "-c", _CHILD, str(epochs)], env=e, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(n)]


def test_K1_K2_two_trainers_of_one_model_both_succeed(env):
    """Two processes training one tokenizer (a checkpoint every epoch) at once: the second waits for the lock
    and loads the first one's model; both exit 0 with the same path."""
    import torch

    procs = _children(2, 3, env)
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-500:] for o in outs]
    paths = {o[0].strip() for o in outs}
    assert len(paths) == 1
    (path,) = paths
    state = torch.load(path, weights_only=True)
    assert len(state["history"]) == 3
    assert not list(Path(path).parent.glob("*.tmp")) and not (Path(path).parent / "last.pt").exists()


def test_R4_killed_as_soon_as_the_checkpoint_appears(env):
    """SIGKILL the trainer the moment tokenizer.pt exists: the file loads, and a rerun uses it."""
    import time

    import torch

    from tsvq.train import tokenizer_key
    from tsvq.utils import cache_dir

    ds = load_ucr("GunPoint")
    final = cache_dir("tokenizer", *tokenizer_key(ds, _cfg(stage1={"epochs": 4}), 7)) / "tokenizer.pt"
    (proc,) = _children(1, 4, env)
    t0 = time.time()
    while not final.exists() and proc.poll() is None and time.time() - t0 < 120:
        time.sleep(0.005)
    proc.kill()
    proc.communicate()
    state = torch.load(final, weights_only=True)  # complete the moment it appears
    assert len(state["history"]) == 4
    from tsvq.train import train_tokenizer

    assert train_tokenizer(ds, _cfg(stage1={"epochs": 4}), seed=7, progress=False).path == final


# results tables (run_stage1_grid, naive tokenizer at smoke; the models come from the copied cache)


def _grid(results, seeds=(0, 1)):
    from tsvq.experiments import run_stage1_grid

    return run_stage1_grid(load_ucr("GunPoint"), profile="smoke", seeds=list(seeds), settings=[("none", "none")],
                           results_dir=results, progress=False)


def _table(results) -> Path:
    return results / "GunPoint" / "smoke" / "stage1.csv"


def _check_table(results, seeds=(0, 1)):
    df = pd.read_csv(_table(results))
    assert sorted(df["seed"].tolist()) == list(seeds) and list(df.columns[:4]) == ["dataset", "profile", "seed",
                                                                                      "setting"]
    assert df["knn_accuracy"].between(0, 1).all() and df["config_hash"].notna().all()
    assert not (_table(results).parent / "parts").exists()
    return df


@pytest.mark.parametrize("row,content", [("C10", np.random.default_rng(1).bytes(4000)),
                                         ("C12", b"hello world\nthis is not a csv")], ids=["C10", "C12"])
def test_a_garbage_results_table_is_named_not_merged(row, content, cache, env, capsys):
    from tsvq.results import ResultsError

    results = env["tmp"] / "results"
    _table(results).parent.mkdir(parents=True)
    _table(results).write_bytes(content)
    with pytest.raises(ResultsError, match=str(_table(results))):
        _grid(results, seeds=[0])
    assert _table(results).read_bytes() == content
    rc = cli.main(["grid", "--datasets", "GunPoint", "--seeds", "0", "--profile", "smoke", "--stages", "1",
                   "--settings", "naive", "--executor", "debug", "--results-dir", str(results),
                   "--log-dir", str(env["tmp"] / "logs")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error: ") and str(_table(results)) in err[0], err
    assert _table(results).read_bytes() == content


def test_C13_a_truncated_last_row_is_recomputed(cache, env):
    results = env["tmp"] / "results"
    _grid(results)
    lines = _table(results).read_text().splitlines(keepends=True)
    _table(results).write_text("".join(lines[:-1]) + lines[-1][:60])
    df = _grid(results)
    assert len(df) == 2 and df["knn_accuracy"].notna().all()
    _check_table(results)


@pytest.mark.parametrize("row", ["C14", "C15"])
def test_a_table_without_a_final_newline_is_not_glued(row, cache, env):
    results = env["tmp"] / "results"
    _grid(results, seeds=[0])
    lines = _table(results).read_text().splitlines()
    _table(results).write_text(lines[0] + "\n" + lines[1][:30] if row == "C14" else "\n".join(lines))
    for _ in range(2):  # a second run adds nothing
        df = _grid(results)
        assert len(df) == 2 and df["knn_accuracy"].notna().all()
        _check_table(results)
