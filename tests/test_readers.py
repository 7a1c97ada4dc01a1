"""Chapters read the grid's tables and say what is missing; pages know when they are stale."""
import json

import numpy as np
import pandas as pd
import pytest

from conftest import UCR_DIR
from tsvq import book, report
from tsvq.data import load_ucr
from tsvq.experiments import gallery_rows, gallery_series, grid_rows, stage1_rows, write_unit
from tsvq.identity import RunId, Setting


@pytest.fixture(scope="module")
def gunpoint():
    if UCR_DIR is None:
        pytest.skip("UCR folder not available: set TSVQ_DATA_DIR to a UCR-2018 folder")
    return load_ucr("GunPoint", UCR_DIR)


def test_grid_rows_reads_without_training_and_lists_the_missing_runs(gunpoint, tmp_path):
    results = tmp_path / "results"
    settings = [("none", "none"), ("vibcreg", "slice")]
    empty = grid_rows(gunpoint, "stage1.csv", profile="smoke", seeds=[0, 1], settings=settings, results_dir=results)
    assert empty.empty and len(empty.attrs["missing"]) == 4
    assert not list(results.rglob("*.csv"))  # reading trained nothing and wrote nothing
    run = RunId("GunPoint", 1, Setting.parse("naive"), None, "smoke")
    write_unit(run, results, stage1_rows(run, gunpoint, progress=False))
    got = grid_rows(gunpoint, "stage1.csv", profile="smoke", seeds=[0, 1], settings=settings, results_dir=results)
    assert got[["seed", "setting"]].values.tolist() == [[1, "naive"]]
    assert sorted(got.attrs["missing"]) == ["GunPoint/smoke/seed0/naive", "GunPoint/smoke/seed0/vibcreg-slice",
                                            "GunPoint/smoke/seed1/vibcreg-slice"]
    box = book.missing(got, dataset="GunPoint", profile="smoke", seeds=[0, 1]).data
    assert "3 runs" in box and "- naive tokenizer: seed 0" in box and "- vibcreg-slice tokenizer: seeds 0, 1" in box
    assert "tsvq grid --datasets GunPoint --seeds 0 1 --profile smoke" in box
    assert book.missing(pd.DataFrame(), dataset="GunPoint", profile="smoke", seeds=[1]).data == ""
    priors = grid_rows(gunpoint, "stage2.csv", profile="smoke", seeds=[1], settings=settings[:1],
                       priors=["token", "embedding"], results_dir=results)
    assert priors.attrs["missing"] == ["GunPoint/smoke/seed1/naive/token", "GunPoint/smoke/seed1/naive/embedding"]
    anchors = grid_rows(gunpoint, "reference_quality.csv", profile="smoke", seeds=[1], results_dir=results)
    assert anchors.attrs["missing"] == ["GunPoint/smoke/seed1/naive/reference"]


def test_gallery_rows_keep_the_first_samples_of_each_class_and_read_back():
    x = np.arange(2 * 6 * 5, dtype=float).reshape(12, 1, 5) / 7
    y = np.array([0, 1] * 6)
    rows = gallery_rows(x, y, per_class=2)
    assert [(r["label"], r["sample"]) for r in rows] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    back = gallery_series(pd.DataFrame(rows))
    assert back.shape == (4, 5)
    np.testing.assert_allclose(back[1], x[2, 0], rtol=1e-3)  # the second series of class 0, at 4 digits


def test_tldr_answers_each_question_per_dataset_from_the_tests():
    rng = np.random.default_rng(0)
    rows = []
    for seed in range(5):
        for setting, shift in [("naive", 0.0), ("vibcreg-slice", 0.05)]:
            ssl, aug = ("none", "none") if setting == "naive" else setting.split("-")
            rows.append({"dataset": "D", "profile": "cpu", "seed": seed, "setting": setting, "ssl": ssl, "aug": aug,
                         "knn_accuracy": 0.8 + shift + rng.normal(0, 0.005), "svm_accuracy": 0.8,
                         "test_time_mse": 0.01 + rng.normal(0, 1e-4)})
    text = report.tldr(pd.DataFrame(rows), pd.DataFrame())
    rq1 = text.split("**RQ2")[0]
    assert "KNN accuracy, SSL setting − naive over 1 dataset — better: supported on D; worse: nowhere." in rq1
    assert text.count("no results yet") == 3  # RQ3-5 need stage 2


def test_pages_are_stale_when_their_results_or_config_change(tmp_path, monkeypatch):
    root = tmp_path
    (root / "book" / "executed" / "GunPoint").mkdir(parents=True)
    results = root / "results" / "GunPoint" / "cpu"
    results.mkdir(parents=True)
    (results / "stage1.csv").write_text("a\n1\n")
    monkeypatch.setattr(book, "repo_root", lambda start=None: root)
    page = root / "book" / "executed" / "GunPoint" / "rq1.ipynb"
    inputs = book.page_inputs("rq1", dataset="GunPoint", profile="cpu", results_dir="results")
    assert list(inputs["results"]) == ["GunPoint/cpu/stage1.csv"]
    nb = {"cells": [], "metadata": {"tsvq": inputs, "papermill": {"exception": None}}, "nbformat": 4,
          "nbformat_minor": 5}
    page.write_text(json.dumps(nb))
    assert book.stale_pages(root) == []
    (results / "stage2.csv").write_text("b\n2\n")  # a new table of the grid
    assert book.stale_pages(root) == ["book/executed/GunPoint/rq1.ipynb: older than GunPoint/cpu/stage2.csv"]
    (results / "stage2.csv").unlink()
    (results / "rq1.csv").write_text("written by the chapter itself\n")  # not a dependency
    assert book.stale_pages(root) == []
    nb["metadata"]["tsvq"]["config"] = "0" * 16
    page.write_text(json.dumps(nb))
    assert "another configuration" in book.stale_pages(root)[0]
    nb["metadata"].pop("tsvq")
    page.write_text(json.dumps(nb))
    assert "no record" in book.stale_pages(root)[0]


def test_hashes_that_look_like_numbers_survive_the_tables(tmp_path):
    from tsvq.results import load_table, merge_parts, read_table, write_part

    path = tmp_path / "stage2.csv"
    rows = [{"dataset": "D", "profile": "cpu", "seed": s, "setting": "naive", "prior": "token", "config_hash": h,
             "eval_hash": "0123456789abcdef", "git_commit": "1234567"} for s, h in ((0, "68339434877191e5"),
                                                                                   (1, "0000000000000012"))]
    keys = ["dataset", "profile", "seed", "setting", "prior"]
    write_part(path, "a", rows[:1])
    merge_parts(path, keys)
    write_part(path, "b", rows[1:])
    merge_parts(path, keys)  # the second merge reads the first one's table back
    for df in (read_table(path), load_table(path, keys)):
        assert df["config_hash"].tolist() == ["68339434877191e5", "0000000000000012"]
        assert df["eval_hash"].tolist() == ["0123456789abcdef"] * 2 and df["git_commit"].tolist() == ["1234567"] * 2


def test_peer_rows_are_current_only_at_the_profiles_budget_and_evaluation(gunpoint, tmp_path):
    from tsvq.config import get_config
    from tsvq.experiments import PEER, collect_current, peer_budget, peer_hashes, write_peer_row

    budget = peer_budget(gunpoint, get_config("cpu"))
    assert budget == {"stage1_steps": 500, "stage2_steps": 3000, "batch_size": gunpoint.meta.n_train}
    row = dict(dataset="GunPoint", profile="cpu", peer=PEER, fid=1.0, **budget)
    write_peer_row(tmp_path, {**row, "seed": 0, **peer_hashes(gunpoint, get_config("cpu"))})
    write_peer_row(tmp_path, {**row, "seed": 1, **peer_hashes(gunpoint, get_config("cpu")), "config_hash": "trial"})
    got = collect_current(tmp_path, "peer.csv", UCR_DIR)
    assert list(got["seed"]) == [0]
