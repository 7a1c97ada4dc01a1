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

    metrics = dict(fid=1.5, kid=0.01, kid_std=0.002, is_mean=1.9, is_std=0.05, rocket_fid=12.0, copy_rate=0.0,
                   n_real=np.int64(150), n_synth=150, cas=0.6, n_cas=65, brand_new_metric=np.float32(0.25),
                   not_a_number=float("nan"))
    monkeypatch.setattr(evaluate, "load_or_train_evaluator", lambda *a, **k: FakeEvaluator())
    monkeypatch.setattr(train, "train_prior", lambda *a, **k: object())
    monkeypatch.setattr(cli, "_evaluate_prior", lambda *a, **k: dict(metrics))
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
