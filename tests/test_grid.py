"""The grid engine, result part files and the typed run identity."""
from __future__ import annotations

import multiprocessing as mp

import pandas as pd
import pytest
import torch

from tsvq.config import get_config
from tsvq.data import load_ucr
from tsvq.experiments import STAGE1_SETTINGS, as_setting, current_rows
from tsvq.grid import execute, next_unit, plan, run_unit
from tsvq.identity import PRIORS, RunId, Setting
from tsvq.results import load_table, merge_parts, read_table, ResultsError, write_part

SMALL = [("none", "none"), ("vibcreg", "slice")]


@pytest.fixture(scope="module")
def gunpoint():
    return load_ucr("GunPoint")


# ----------------------------------------------------------------------------------------------- identity


@pytest.mark.parametrize("setting", [as_setting(s) for s in STAGE1_SETTINGS] + [
    Setting("vibcreg", "slice", (("weight", 0.1),)),
    Setting("vibcreg", "slice", (("weight", 0.1), ("stage1_epochs", 50), ("proj_dim", 1024))),
    Setting("none", "none", (("tokenizer_hidden_dim", 64), ("tokenizer_n_res_blocks", 4), ("stage1_epochs", 50))),
    Setting("barlowtwins", "warp", (("aug_recon_weight", 1e-05),)),
])
def test_setting_and_run_id_round_trip(setting):
    assert Setting.parse(setting.name) == setting
    for prior in (None, *PRIORS):
        run = RunId("ECG5000", 3, setting, prior, "cpu")
        assert RunId.parse(str(run)) == run


def test_legacy_names_parse_to_the_setting_they_name():
    s = Setting.parse("vibcreg-slice-weight0.1")
    assert (s.ssl, s.aug, dict(s.overrides)) == ("vibcreg", "slice", {"weight": 0.1})
    cfg = s.config("cpu")
    assert cfg.ssl.method == "vibcreg" and cfg.ssl.augmentation == "slice" and cfg.ssl.weight == 0.1
    assert Setting.parse("naive-stage1_epochs50").config("cpu").stage1.epochs == 50
    with pytest.raises(ValueError, match="override"):
        Setting.parse("vibcreg-slice-bogus3")
    with pytest.raises(ValueError, match="augmentation"):
        Setting("vibcreg", "none")


def test_thesis_prior_is_the_token_prior_with_the_thesis_masking():
    cfg = RunId("GunPoint", 0, Setting(), "token_thesis", "cpu").config()
    assert cfg.prior.variant == "token" and cfg.prior.masking == "thesis"
    assert RunId("GunPoint", 0, Setting(), "token", "cpu").config().prior.masking == "cosine"


def test_cache_key_changes_exactly_with_the_weights(gunpoint):
    run = RunId("GunPoint", 0, Setting("vibcreg", "slice"), "token", "cpu")
    base = run.config_hash(gunpoint)
    from tsvq.train import prior_key

    def key(**sections):
        return prior_key(gunpoint, run.setting.config("cpu", "token", **sections), 0)

    same = key()
    assert key(prior={"T": 3}) == same and key(prior={"choice_temperature": 1.0}) == same
    assert key(eval={"rocket_kernels": 84}) == same
    assert key(stage2={"ckpt_every": 7}) == same
    assert key(stage2={"lr": 5e-4}) != same and key(ssl={"weight": 0.5}) != same
    assert key(prior={"masking": "thesis"}) != same
    assert RunId("GunPoint", 1, run.setting, "token", "cpu").config_hash(gunpoint) != base
    other = load_ucr("GunPoint", val_fraction=0.3)
    assert run.config_hash(other) != base  # other data: another model


# ----------------------------------------------------------------------------------------------- part files


def _writer(args):
    table, worker, n = args
    for i in range(n):
        write_part(table, f"w{worker}-u{i}", [{"worker": worker, "unit": i, "value": worker * 1000 + i}])
        merge_parts(table, ("worker", "unit"))


@pytest.mark.parametrize("trial", range(3))
def test_two_writers_of_one_table_lose_and_glue_nothing(tmp_path, trial):
    table = tmp_path / "stage1.csv"
    with mp.get_context("spawn").Pool(2) as pool:
        pool.map(_writer, [(table, 0, 40), (table, 1, 40)])
    merge_parts(table, ("worker", "unit"))
    df = read_table(table)
    assert len(df) == 80 and not df.duplicated(["worker", "unit"]).any()
    assert sorted(df["value"]) == sorted(w * 1000 + i for w in (0, 1) for i in range(40))
    assert not (tmp_path / "parts").exists()


def test_unmerged_parts_count_and_a_corrupt_table_is_named(tmp_path):
    table = tmp_path / "t.csv"
    write_part(table, "a", [{"k": 1, "v": 1.0}])
    assert len(load_table(table, ("k",))) == 1 and not table.exists()
    table.write_text('k,v\n1,"2\n')
    with pytest.raises(ResultsError, match="t.csv"):
        read_table(table)


# ----------------------------------------------------------------------------------------------- engine


def test_grid_runs_end_to_end_from_an_empty_cache_and_skips_what_is_done(tmp_path, monkeypatch):
    monkeypatch.setenv("TSVQ_CACHE_DIR", str(tmp_path / "cache"))
    res = tmp_path / "results"
    units = plan(["GunPoint", "ItalyPowerDemand"], [0, 1], profile="smoke", settings=SMALL, priors=("token",),
                 results_dir=res)
    # per dataset and seed: stage 1 (with selection), the evaluator and the two priors into the model cache, the
    # anchors, stage 2; in that order
    kinds = [u.kind for u in units]
    assert kinds[:8] == ["stage1"] * 8 and kinds[8:16] == ["evaluator", "prior", "prior", "reference",
                                                            "stage2", "stage2", "evaluator", "prior"]
    assert [(u.run.dataset, u.run.seed) for u in units[8:]] == [  # stage 2 seed by seed
        (name, seed) for name in ("GunPoint", "ItalyPowerDemand") for seed in (0, 1) for _ in range(6)]
    assert [kinds.count(k) for k in ("stage1", "evaluator", "prior", "reference", "stage2")] == [8, 4, 8, 4, 8]
    out = execute(units, executor="debug", log_dir=tmp_path / "logs")
    assert all(r["ok"] for r in out), [r for r in out if not r["ok"]]
    logs = {r["unit"]: open(r["log"]).read() for r in out}
    # the units that score the priors load the evaluator and the priors the units before them trained
    assert "evaluator GunPoint" in logs["GunPoint/smoke/seed0/evaluator"]
    assert "stage 2 GunPoint" in logs["GunPoint/smoke/seed0/naive/token/train"]
    for name, text in logs.items():
        if name.endswith(("/reference", "/token")):
            assert "evaluator GunPoint" not in text and "stage 2 GunPoint" not in text, name
    for name in ("GunPoint", "ItalyPowerDemand"):
        sel = read_table(res / name / "smoke" / "selection.csv")
        assert len(sel) == 4 and {"cv_knn_accuracy", "val_time_mse"} <= set(sel.columns)
        s1 = read_table(res / name / "smoke" / "stage1.csv")
        s2 = read_table(res / name / "smoke" / "stage2.csv")
        assert len(s1) == 4 and len(s2) == 4 and not (res / name / "smoke" / "parts").exists()
        assert s1["config_hash"].str.len().eq(16).all() and s2["git_commit"].notna().all()
        assert {"kid", "kid_std", "copy_rate", "token_entropy", "fid_ref", "eval_hash"} <= set(s2.columns)
        # each prior's tokens come from the tokenizer its stage-1 row scored
        mse = s1.set_index(["seed", "setting"])["test_time_mse"]
        assert s2["tokenizer_test_time_mse"].tolist() == [mse[(r.seed, r.setting)] for r in s2.itertuples()]
        ds = load_ucr(name)
        for r in s2.itertuples():
            assert r.config_hash == RunId(name, r.seed, r.setting, r.prior, "smoke").config_hash(ds)
        assert len(current_rows(s2, ds)) == 4 and len(current_rows(s1, ds)) == 4
        stale = s2.assign(config_hash=["0" * 16] + list(s2["config_hash"][1:]))  # a row of another config
        assert len(current_rows(stale, ds)) == 3 and len(current_rows(s2.drop(columns="config_hash"), ds)) == 0
    assert plan(["GunPoint", "ItalyPowerDemand"], [0, 1], profile="smoke", settings=SMALL, priors=("token",),
                results_dir=res) == []
    # rows gone, models cached: the units that write the rows, and no model units
    (res / "GunPoint" / "smoke" / "stage2.csv").unlink()
    again = plan(["GunPoint"], [0], profile="smoke", settings=SMALL, priors=("token",), results_dir=res)
    assert [u.kind for u in again] == ["stage2", "stage2"]


def test_only_keeps_the_matching_units_and_the_models_they_need(tmp_path, monkeypatch):
    monkeypatch.setenv("TSVQ_CACHE_DIR", str(tmp_path / "cache"))
    res = tmp_path / "results"
    units = plan(["GunPoint", "ItalyPowerDemand"], [0, 1], profile="smoke", stages=(2,), settings=SMALL,
                 priors=("token", "embedding"), results_dir=res, only=["GunPoint/smoke/seed1/*/token"])
    assert [u.name for u in units] == [
        "GunPoint/smoke/seed1/evaluator", "GunPoint/smoke/seed1/naive/token/train",
        "GunPoint/smoke/seed1/vibcreg-slice/token/train", "GunPoint/smoke/seed1/naive/token",
        "GunPoint/smoke/seed1/vibcreg-slice/token"]  # no anchors, no embedding prior, no other seed or dataset
    stage1 = plan(["GunPoint"], [0, 1], profile="smoke", stages=(1,), settings=SMALL, results_dir=res,
                  only=["*/naive", "*/seed1/vibcreg-slice"])
    assert [u.name for u in stage1] == ["GunPoint/smoke/seed0/naive", "GunPoint/smoke/seed1/naive",
                                        "GunPoint/smoke/seed1/vibcreg-slice"]
    assert plan(["GunPoint"], [0], profile="smoke", stages=(1, 2), settings=SMALL, results_dir=res,
                only=["Nothing/*"]) == []


def test_a_unit_that_would_wait_for_a_model_in_training_gives_its_worker_to_one_that_can_run(tmp_path, monkeypatch):
    monkeypatch.setenv("TSVQ_CACHE_DIR", str(tmp_path / "cache"))
    units = {u.name: u for u in plan(["GunPoint"], [0], profile="smoke", stages=(2,), settings=SMALL,
                                     priors=("token", "embedding"), results_dir=tmp_path / "r")}
    ssl = as_setting(SMALL[1]).name
    u = lambda name: units[f"GunPoint/smoke/seed0/{name}"]  # noqa: E731
    # the SSL tokenizer is in training for its token prior: its embedding prior waits, the naive unit can run
    pending = [u(f"{ssl}/embedding/train"), u("naive/token"), u(f"{ssl}/token")]
    assert next_unit(pending, [u(f"{ssl}/token/train")]) == 1
    # the evaluator in training holds back every unit that scores samples, not a prior
    assert next_unit([u("naive/reference"), u("naive/token"), u("naive/embedding/train")], [u("evaluator")]) == 2
    # units that only load the same models run side by side; with every unit held back, the first one starts
    assert next_unit([u("naive/embedding")], [u("naive/token")]) == 0
    assert next_unit([u("naive/token"), u("naive/reference")], [u("evaluator")]) == 0
    assert next_unit(pending, []) == 0


def test_a_failed_unit_is_reported_with_its_log_and_the_others_go_on(tmp_path, monkeypatch):
    monkeypatch.setenv("TSVQ_CACHE_DIR", str(tmp_path / "cache"))
    units = plan(["GunPoint"], [0], profile="smoke", settings=SMALL[:1], stages=(1,), results_dir=tmp_path / "r")
    bad = units[0].__class__(RunId("NoSuchDataset", 0), "stage1", str(tmp_path / "r"))
    out = execute([bad, *units], executor="debug", log_dir=tmp_path / "logs")
    assert [r["ok"] for r in out] == [False, True]
    assert "NoSuchDataset" in open(out[0]["log"]).read()
    assert "stage 1 GunPoint naive seed 0" in open(out[1]["log"]).read()  # the unit's progress, in its log


def test_a_stage1_unit_writes_its_selection_rows_and_a_missing_selection_row_is_planned_alone(tmp_path,
                                                                                              monkeypatch):
    monkeypatch.setenv("TSVQ_CACHE_DIR", str(tmp_path / "cache"))
    res = tmp_path / "r"
    units = plan(["GunPoint"], [0], profile="smoke", settings=SMALL[:1], stages=(1,), results_dir=res)
    assert [u.kind for u in units] == ["stage1"]
    assert execute(units, executor="debug", log_dir=tmp_path / "logs")[0]["ok"]
    table = res / "GunPoint" / "smoke" / "selection.csv"
    sel = read_table(table)
    assert len(sel) == 1 and sel["cv_knn_accuracy"].between(0, 1).all()
    assert plan(["GunPoint"], [0], profile="smoke", settings=SMALL[:1], stages=(1,), results_dir=res) == []
    table.unlink()  # TEST rows without their selection rows (a grid of an older layout)
    units = plan(["GunPoint"], [0], profile="smoke", settings=SMALL[:1], stages=(1,), results_dir=res)
    assert [u.kind for u in units] == ["selection"]
    assert execute(units, executor="debug", log_dir=tmp_path / "logs")[0]["ok"]
    again = read_table(table)  # scored again from the cached weights: the same numbers
    assert len(again) == 1 and again["cv_knn_accuracy"].tolist() == sel["cv_knn_accuracy"].tolist()


def test_local_workers_write_one_table_without_losing_rows(tmp_path, monkeypatch):
    monkeypatch.setenv("TSVQ_CACHE_DIR", str(tmp_path / "cache"))
    units = plan(["GunPoint"], [0, 1], profile="smoke", settings=SMALL, stages=(1,), results_dir=tmp_path / "r")
    out = execute(units, executor="local", workers=2, log_dir=tmp_path / "logs")
    assert all(r["ok"] for r in out), out
    df = read_table(tmp_path / "r" / "GunPoint" / "smoke" / "stage1.csv")
    assert len(df) == 4 and not df.duplicated(["seed", "setting"]).any()
    assert len(read_table(tmp_path / "r" / "GunPoint" / "smoke" / "selection.csv")) == 4


def test_val_best_resolves_to_the_ssl_setting_highest_on_train_and_val(tmp_path, gunpoint):
    from tsvq.experiments import STAGE1_SETTINGS, VAL_BEST, write_unit
    from tsvq.grid import GridError
    from tsvq.report import val_chosen

    res = tmp_path / "r"
    with pytest.raises(GridError, match="selection row"):
        plan(["GunPoint"], [0, 1], profile="smoke", stages=(2,), settings=["naive", VAL_BEST], results_dir=res)
    # barlowtwins-gauss is best on seed 0 alone, vibcreg-slice on the mean over seeds 0 and 1
    cv = {0: {"barlowtwins-gauss": 0.9, "vibcreg-slice": 0.8}, 1: {"barlowtwins-gauss": 0.6, "vibcreg-slice": 0.8}}
    for seed in (0, 1):
        for ssl, aug in STAGE1_SETTINGS[1:]:
            run = RunId("GunPoint", seed, Setting(ssl, aug), None, "smoke")
            write_unit(run, res, {"selection.csv": [{**run.keys(), "cv_knn_accuracy": cv[seed].get(run.setting.name, 0.5),
                                                     "config_hash": run.config_hash(gunpoint)}]})
    for seeds in ([0, 1], [0], [1]):  # a grid run seed by seed sends the same setting as one over all seeds
        units = plan(["GunPoint"], seeds, profile="smoke", stages=(2,), settings=["naive", VAL_BEST],
                     priors=("token",), results_dir=res)
        assert {u.run.setting.name for u in units if u.kind == "stage2"} == {"naive", "vibcreg-slice"}, seeds
    chosen = val_chosen(read_table(res / "GunPoint" / "smoke" / "selection.csv"))
    assert chosen["setting"].tolist() == ["vibcreg-slice"]  # ... and the one the book reports
    with pytest.raises(GridError, match="selection row"):  # seed 2 has no stage-1 grid
        plan(["GunPoint"], [2], profile="smoke", stages=(2,), settings=[VAL_BEST], results_dir=res)
    with pytest.raises(GridError, match="stage 1 first"):
        plan(["GunPoint"], [0], profile="smoke", stages=(1, 2), settings=[VAL_BEST], results_dir=res)


def test_a_killed_unit_resumes_to_the_weights_of_an_uninterrupted_run(tmp_path, monkeypatch, gunpoint):
    from tsvq.train import train_tokenizer

    torch.set_num_threads(1)
    cfg = get_config("smoke", ssl={"method": "vibcreg", "augmentation": "slice"}, stage1={"epochs": 4})
    monkeypatch.setenv("TSVQ_CACHE_DIR", str(tmp_path / "a"))
    whole = train_tokenizer(gunpoint, cfg, seed=0, progress=False).model.state_dict()
    monkeypatch.setenv("TSVQ_CACHE_DIR", str(tmp_path / "b"))
    train_tokenizer(gunpoint, cfg, seed=0, progress=False, stop_after_epoch=2)  # killed after epoch 2
    run = RunId("GunPoint", 0, Setting("vibcreg", "slice", (("stage1_epochs", 4),)), None, "smoke")
    unit = plan(["GunPoint"], [0], profile="smoke", settings=[run.setting], stages=(1,),
                results_dir=tmp_path / "r", threads=1)[0]
    assert run_unit(unit)["ok"]
    resumed = train_tokenizer(gunpoint, cfg, seed=0, progress=False).model.state_dict()
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)
    assert len(pd.read_csv(tmp_path / "r" / "GunPoint" / "smoke" / "parts" / "stage1" /
                           "GunPoint__smoke__seed0__vibcreg-slice-stage1_epochs4.csv")) == 1


def test_the_slurm_array_script_packs_units_per_task(tmp_path):
    from tsvq.grid import Unit, sbatch_script

    units = [Unit(RunId("GunPoint", s, setting), "stage1", str(tmp_path)) for s in range(3)
             for setting in (Setting(), Setting("vibcreg", "slice"))]
    script = sbatch_script(units, log_dir="/shared/logs", units_per_task=4, partition="gpu", gpus_per_task=2)
    assert "#SBATCH --array=0-1%" in script and "#SBATCH --gpus-per-node=2" in script
    assert "#SBATCH --partition=gpu" in script and "submitit.core._submit /shared/logs/submitit/%j" in script


def test_grid_argument_errors_are_one_line(capsys):
    from tsvq.cli import main

    assert main(["grid", "--datasets", "GunPoint", "--workers", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --workers") and "\n" not in err


def test_val_probes_never_shrink_the_committed_table_to_what_one_cache_holds(tmp_path, monkeypatch, gunpoint):
    from tsvq.experiments import tokenizer_for, val_probes

    monkeypatch.setenv("TSVQ_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "r" / "GunPoint" / "smoke" / "rq1.csv"
    path.parent.mkdir(parents=True)
    pd.DataFrame([{"dataset": "GunPoint", "profile": "smoke", "seed": s, "setting": n, "val_svm_accuracy": 0.123,
                   "val_knn_accuracy": 0.123} for s in (0, 1) for n in ("naive", "vibcreg-slice")]).to_csv(path, index=False)
    tokenizer_for(gunpoint, profile="smoke", setting="naive", seed=0)  # 1 of the 7 tokenizers of seed 0 cached
    out = val_probes(gunpoint, profile="smoke", seeds=[0], results_dir=tmp_path / "r")
    # the cached run is probed afresh; the uncached one keeps its committed row; seed 1 stays in the file
    assert list(out["setting"]) == ["naive", "vibcreg-slice"] and out.attrs["kept"] == 1
    assert out["val_knn_accuracy"].iloc[0] != 0.123 and out["val_knn_accuracy"].iloc[1] == 0.123
    assert len(out.attrs["missing"]) == len(STAGE1_SETTINGS) - 2
    written = read_table(path)
    assert len(written) == 4 and sorted(set(written["seed"])) == [0, 1]
    path.unlink()  # nothing committed: the cache's probes are the table
    out = val_probes(gunpoint, profile="smoke", seeds=[0], results_dir=tmp_path / "r")
    assert out.attrs["kept"] == 0 and list(out["setting"]) == ["naive"] and 0 <= out["val_knn_accuracy"].iloc[0] <= 1
    assert len(read_table(path)) == 1


def _state(stat) -> list[str] | None:
    try:
        return stat.read_text().rsplit(")", 1)[1].split()  # state, parent, …
    except OSError:
        return None


def _alive(pid: int) -> bool:
    from pathlib import Path

    fields = _state(Path(f"/proc/{pid}/stat"))
    return fields is not None and fields[0] != "Z"


def _descendants(pid: int) -> set[int]:
    """The live processes below ``pid`` (Linux /proc)."""
    from pathlib import Path

    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = _state(stat)
        if fields is not None and fields[0] != "Z":
            parents[int(stat.parent.name)] = int(fields[1])
    out, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - out
        out |= frontier
    return out


@pytest.mark.skipif(not __import__("pathlib").Path("/proc/self/stat").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("engine", ["submitit", "process pool"])
def test_a_terminated_grid_leaves_no_unit_running_and_no_rows(tmp_path, engine):
    """SIGTERM to ``tsvq grid`` (``kill``, a scheduler, ``timeout``) cancels the units it runs: submitit's workers
    ignore SIGTERM themselves and would otherwise run on, orphaned, and write rows after the driver has gone; a
    process pool's (the engine without submitit) would finish their unit. The driver starts with SIGINT ignored,
    as a shell starts ``tsvq grid … &`` or ``nohup``: submitit cancels with SIGINT, so its units must not
    inherit that."""
    import os
    import signal
    import subprocess
    import sys
    import time

    env = {**os.environ, "TSVQ_CACHE_DIR": str(tmp_path / "cache")}
    if engine == "submitit":
        pytest.importorskip("submitit")
    else:  # a module that shadows submitit and fails to import, as on an install without the cluster extra
        (tmp_path / "hide").mkdir()
        (tmp_path / "hide" / "submitit.py").write_text("raise ImportError('submitit hidden by the test')\n")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path / "hide"), env.get("PYTHONPATH")]))
    # the first two units (the anchors and the token prior) each train a `cpu` tokenizer first, which takes far
    # longer than the test waits: a `smoke` unit can finish within the seconds before SIGTERM on a busy machine
    driver = subprocess.Popen([sys.executable, "-m", "tsvq.cli", "grid", "--datasets", "GunPoint", "--seeds", "0",
                               "--profile", "cpu", "--stages", "2", "--settings", "naive", "--priors", "token",
                               "embedding", "--workers", "2", "--threads", "1", "--results-dir",
                               str(tmp_path / "r"), "--log-dir", str(tmp_path / "logs")],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    deadline = time.time() + 120
    expected = 4 if engine == "submitit" else 2  # two submitit controllers, each with its worker; two pool workers
    while time.time() < deadline and len(_descendants(driver.pid)) < expected and driver.poll() is None:
        time.sleep(0.2)
    workers = _descendants(driver.pid)
    assert len(workers) >= expected and driver.poll() is None, driver.communicate()
    time.sleep(2)
    driver.send_signal(signal.SIGTERM)
    _, err = driver.communicate(timeout=60)
    assert driver.returncode == 128 + signal.SIGTERM and "cancelled" in err, err
    deadline = time.time() + 15
    while time.time() < deadline and any(map(_alive, workers)):
        time.sleep(0.2)
    left = set(filter(_alive, workers))
    assert not left, f"units still running after the grid was stopped: {left}"
    time.sleep(1)
    written = [p.name for p in (tmp_path / "r").rglob("*") if p.is_file()]
    assert not written, f"rows written by units of a stopped grid: {written}"


def test_rescore_runs_again_exactly_the_rows_another_evaluator_scored(tmp_path, monkeypatch, capsys):
    from tsvq.grid import mixed_evaluator_warnings, rescore_plan

    monkeypatch.setenv("TSVQ_CACHE_DIR", str(tmp_path / "cache"))
    res = tmp_path / "results"
    units = plan(["GunPoint"], [0], profile="smoke", stages=(2,), settings=SMALL, priors=("token",), results_dir=res)
    assert all(r["ok"] for r in execute(units, executor="debug", log_dir=tmp_path / "logs"))
    assert rescore_plan(["GunPoint"], [0], profile="smoke", results_dir=res) == []
    path = res / "GunPoint" / "smoke" / "stage2.csv"
    s2 = read_table(path)
    other = s2["setting"] == "vibcreg-slice"  # as if another machine's evaluator had scored this row
    s2.loc[other, ["evaluator_hash", "evaluator_test_accuracy"]] = ["0" * 12, 0.123]
    s2.to_csv(path, index=False)
    assert mixed_evaluator_warnings("GunPoint", "smoke", res)
    again = rescore_plan(["GunPoint"], [0], profile="smoke", results_dir=res)
    assert [u.name for u in again] == ["GunPoint/smoke/seed0/vibcreg-slice/token"]
    capsys.readouterr()
    assert rescore_plan(["GunPoint"], [0], profile="smoke", settings=[SMALL[0]], results_dir=res) == []
    assert "1 row(s) of other settings or priors keep the other evaluator" in capsys.readouterr().out
    assert all(r["ok"] for r in execute(again, executor="debug", log_dir=tmp_path / "logs"))
    assert len(read_table(path)) == len(s2) and not mixed_evaluator_warnings("GunPoint", "smoke", res)
    assert rescore_plan(["GunPoint"], [0], profile="smoke", results_dir=res) == []
