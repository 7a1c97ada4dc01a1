import time

import numpy as np
import pytest

from tsvq.data import DatasetError, list_datasets, load_ucr

from conftest import needs_ucr

# name: (n_train, n_test, length, n_classes) from the UCR archive's published summary
PUBLISHED = {
    "GunPoint": (50, 150, 150, 2),
    "ArrowHead": (36, 175, 251, 3),
    "ItalyPowerDemand": (67, 1029, 24, 2),
    "ECG5000": (500, 4500, 140, 5),
    "Mallat": (55, 2345, 1024, 8),
    "SonyAIBORobotSurface2": (27, 953, 65, 2),
    "CBF": (30, 900, 128, 3),
}


def _check_summary(ds, name):
    n_train, n_test, length, k = PUBLISHED[name]
    assert ds.meta.n_train + ds.meta.n_val == n_train
    assert len(ds.x_train) + len(ds.x_val) == n_train and len(ds.x_test) == n_test
    assert ds.x_train.shape[1:] == (1, length) and ds.x_test.shape[1:] == (1, length)
    assert ds.meta.n_classes == k and set(np.unique(ds.y_test)) == set(range(k))
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64


@pytest.mark.parametrize("name", ["GunPoint", "ArrowHead", "ItalyPowerDemand"])
def test_bundled_datasets_match_published_summary(name, monkeypatch):
    monkeypatch.delenv("TSVQ_DATA_DIR", raising=False)
    ds = load_ucr(name)
    assert ds.meta.source == "aeon (bundled)"
    _check_summary(ds, name)


@needs_ucr
@pytest.mark.parametrize("name", ["ECG5000", "Mallat", "SonyAIBORobotSurface2", "CBF"])
def test_local_datasets_match_published_summary(name, ucr_dir):
    ds = load_ucr(name, ucr_dir)
    _check_summary(ds, name)


@needs_ucr
def test_val_is_stratified_seeded_and_disjoint(ucr_dir):
    ds = load_ucr("ECG5000", ucr_dir, val_fraction=0.2, seed=3)
    again = load_ucr("ECG5000", ucr_dir, val_fraction=0.2, seed=3)
    other = load_ucr("ECG5000", ucr_dir, val_fraction=0.2, seed=4)
    np.testing.assert_array_equal(ds.x_val, again.x_val)
    assert not np.array_equal(ds.x_val, other.x_val)
    # every class with >= 2 TRAIN members is represented in VAL, in proportion
    full = np.concatenate([ds.y_train, ds.y_val])
    for c in np.unique(full):
        n = (full == c).sum()
        if n >= 2:
            assert abs((ds.y_val == c).sum() - 0.2 * n) <= 1
    # VAL rows come from TRAIN, never from TEST
    rows = lambda a: {r.tobytes() for r in a[:, 0]}  # noqa: E731
    assert not rows(ds.x_val) & rows(ds.x_test)
    assert not rows(ds.x_val) & rows(ds.x_train)


@needs_ucr
def test_scaling_uses_train_statistics_only(ucr_dir):
    ds = load_ucr("ECG5000", ucr_dir)
    assert abs(ds.x_train.mean()) < 1e-4 and abs(ds.x_train.std() - 1) < 1e-4
    raw = np.loadtxt(f"{ucr_dir}/ECG5000/ECG5000_TEST.tsv")[:, 1:]
    np.testing.assert_allclose(ds.denormalize(ds.x_test[:, 0]), raw, atol=1e-4)


def test_scaling_ignores_val_and_test_values(tmp_path):
    # TEST (and VAL) values far from TRAIN's must not move the scaling statistics.
    row = lambda c, v: "\t".join(str(x) for x in [c] + [v + d for d in (0, 1, -1, 0, 1, -1, 0, 1)]) + "\n"  # noqa: E731
    train = "".join(row(c, v) for c, v in [(1, 0), (1, 1), (1, 2), (2, 3), (2, 4), (2, 5)])
    test = row(1, 100) + row(2, 200)
    ds = load_ucr("Shift", _write(tmp_path, "Shift", train, test), val_fraction=0.34, seed=0)
    raw_train = ds.denormalize(ds.x_train)
    assert abs(ds.meta.mean - raw_train.mean()) < 1e-9 and abs(ds.meta.std - raw_train.std()) < 1e-6
    np.testing.assert_allclose(ds.denormalize(ds.x_test[:, 0, 0]), [100, 200], rtol=1e-5)
    assert ds.x_test.min() > 10  # scaled with TRAIN statistics, not its own


def _write(folder, name, train, test):
    d = folder / name
    d.mkdir()
    (d / f"{name}_TRAIN.tsv").write_text(train)
    (d / f"{name}_TEST.tsv").write_text(test)
    return folder


PAD = "0.61\t0.72\t0.83\t0.94\t"  # length 8, the tokenizer's minimum
GOOD = (f"1\t{PAD}0.1\t0.2\t0.3\t0.4\n1\t{PAD}0.2\t0.1\t0.3\t0.5\n"
        f"2\t{PAD}0.3\t0.3\t0.1\t0.0\n2\t{PAD}0.5\t0.1\t0.2\t0.1\n")


@pytest.mark.parametrize(
    "train,test,pattern",
    [
        (GOOD.replace("0.2\t0.3\t0.4", "0.2\tNaN\t0.4"), GOOD, "missing values"),
        (GOOD.replace("0.3\t0.4", "NaN\tNaN"), GOOD, "unequal length"),
        (GOOD, GOOD + "1\t0.1\t0.2\n", "truncated"),
        (GOOD.replace("0.5\t0.1", "0.5\tabc"), GOOD, "corrupt"),
        (GOOD, GOOD + f"3\t{PAD}0.1\t0.2\t0.3\t0.4\n", "never occur in TRAIN"),
        (GOOD, GOOD.replace("\t0.4\n", "\t0.4\t0.9\n"), "truncated"),
        ("", GOOD, "empty"),
    ],
    ids=["nan", "unequal", "truncated", "corrupt", "unseen-label", "test-length", "empty"],
)
def test_bad_files_raise_clear_errors(tmp_path, train, test, pattern):
    folder = _write(tmp_path, "Bad", train, test)
    with pytest.raises(DatasetError, match=pattern) as info:
        load_ucr("Bad", folder)
    assert "Bad" in str(info.value)


def test_train_and_test_length_mismatch(tmp_path):
    test = "".join(line + "\t0.7\n" for line in GOOD.strip().split("\n"))
    with pytest.raises(DatasetError, match="length"):
        load_ucr("Bad", _write(tmp_path, "Bad", GOOD, test))


def test_good_handmade_folder_loads(tmp_path):
    ds = load_ucr("Good", _write(tmp_path, "Good", GOOD, GOOD), val_fraction=0.5)
    assert ds.meta.class_names == ("1", "2") and ds.x_train.shape == (2, 1, 8) and len(ds.x_val) == 2


def test_unknown_dataset_fails_fast_with_help(tmp_path):
    t = time.time()
    with pytest.raises(DatasetError) as info:
        load_ucr("NoSuchSet", tmp_path)
    assert time.time() - t < 10
    msg = str(info.value)
    assert "NoSuchSet" in msg and str(tmp_path) in msg and "GunPoint" in msg


def test_list_datasets_includes_bundled(monkeypatch):
    monkeypatch.delenv("TSVQ_DATA_DIR", raising=False)
    names = {r["name"]: r for r in list_datasets()}
    assert names["GunPoint"]["n_train"] == 50 and names["GunPoint"]["length"] == 150
    assert names["GunPoint"]["error"] is None


def test_list_datasets_reports_a_bad_folder_and_lists_the_rest(tmp_path):
    _write(tmp_path, "Good", GOOD, GOOD)
    _write(tmp_path, "Empty", "", GOOD)
    rows = {r["name"]: r for r in list_datasets(tmp_path)}
    assert rows["Good"]["error"] is None and rows["Good"]["length"] == 8 and rows["Good"]["n_classes"] == 2
    assert "Empty_TRAIN.tsv" in rows["Empty"]["error"] and "n_train" not in rows["Empty"]
    assert "GunPoint" in rows


def _constant(v):
    return "".join(f"{c}\t" + "\t".join([str(v)] * 8) + "\n" for c in (1, 1, 2, 2))


@pytest.mark.parametrize(
    "train,test,pattern",
    [
        (GOOD.replace("0.3\t0.4", "inf\t0.4"), GOOD, r"Bad_TRAIN.tsv contains infinite values \(inf\) in series 1;"),
        (GOOD, GOOD.replace("0.1\t0.0", "-inf\t0.0"), "Bad_TEST.tsv contains infinite values"),
        (_constant(0), _constant(0), "Bad_TRAIN.tsv is 0, so there is no spread"),
        (_constant(1e30), _constant(1e30), "no spread"),
        (GOOD.replace("\n2\t", "\n1\t"), GOOD.replace("\n2\t", "\n1\t"), "single class"),
        ("".join(f"{c}\t0.1\t0.{c}\t0.3\n" for c in (1, 1, 2, 2)), "".join(f"{c}\t0.1\t0.2\t0.3\n" for c in (1, 2)),
         "length 3, shorter than the tokenizer's STFT window"),
        (GOOD, GOOD.replace("0.5\t0.1\t0.2", "1e300\t0.1\t0.2"), "Bad_TEST.tsv lie so far"),
    ],
    ids=["inf-train", "inf-test", "zeros", "huge-constant", "one-class", "short", "overflow"],
)
def test_readable_but_unusable_data_is_caught_at_load_time(tmp_path, train, test, pattern):
    with pytest.raises(DatasetError, match=pattern):
        load_ucr("Bad", _write(tmp_path, "Bad", train, test), val_fraction=0.0)


def test_labels_that_spell_one_number_are_one_class(tmp_path):
    def relabel(labels):
        return "".join(f"{lab}\t{line.split(chr(9), 1)[1]}\n" for lab, line in zip(labels, GOOD.splitlines()))

    train = relabel(["1.0", "01", "2.00", "+2"])
    ds = load_ucr("Labels", _write(tmp_path, "Labels", train, GOOD), val_fraction=0.0)
    assert ds.meta.class_names == ("1", "2") and list(ds.y_train) == [0, 0, 1, 1] and list(ds.y_test) == [0, 0, 1, 1]
    text = relabel(["a", "a", "b", "b"])
    assert load_ucr("Text", _write(tmp_path, "Text", text, text)).meta.class_names == ("a", "b")


@pytest.mark.parametrize("name", ["../GunPoint", "/tmp/GunPoint", "", "..", "a\\b", " GunPoint"])
def test_a_dataset_is_a_name_not_a_path(tmp_path, name):
    with pytest.raises(DatasetError, match="plain name"):
        load_ucr(name, tmp_path)


def test_a_data_dir_that_does_not_exist_is_an_error(tmp_path, monkeypatch):
    with pytest.raises(DatasetError, match=r"no-such \(--data-dir\) does not exist"):
        load_ucr("GunPoint", tmp_path / "no-such")
    monkeypatch.setenv("TSVQ_DATA_DIR", str(tmp_path / "gone"))
    with pytest.raises(DatasetError, match=r"gone \(TSVQ_DATA_DIR\) does not exist"):
        load_ucr("GunPoint")
    with pytest.raises(DatasetError, match="does not exist"):
        list_datasets()
    (tmp_path / "file").write_text("x")
    with pytest.raises(DatasetError, match="is a file"):
        load_ucr("GunPoint", tmp_path / "file")
    assert load_ucr("GunPoint", "").meta.source == "aeon (bundled)"  # "" means: no folder, aeon only


def test_min_length_is_the_stft_window_of_every_profile():
    from tsvq.config import PROFILES, get_config
    from tsvq.data import MIN_LENGTH

    assert {get_config(p).tokenizer.n_fft for p in PROFILES} == {MIN_LENGTH}
