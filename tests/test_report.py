"""Tables of the book: mean ± std over seeds, paired tests, the thesis' numbers under tsvq's names."""
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ttest_rel

from tsvq import report
from tsvq.config import get_config
from tsvq.report import (across_datasets, best_setting, collect, compare_all_with_thesis, compare_family,
                         compare_with_thesis, convergence, describe_rq5, describe_selection, describe_thesis_agreement,
                         describe_versus, thesis_agreement,
                         entropy_table, holm, paired_ssl_setting, paired_test, parse_setting, rq3_tests, rq5_tests,
                         summarize, thesis_table, two_by_two, verdict)


@pytest.fixture
def stage1():
    # three seeds of two settings, one seed of a third; knn values chosen by hand
    rows = []
    knn = {"naive": [0.70, 0.74, 0.72], "barlowtwins-warp": [0.80, 0.79, 0.84], "vibcreg-slice": [0.60]}
    mse = {"naive": [0.10, 0.12, 0.11], "barlowtwins-warp": [0.20, 0.22, 0.21], "vibcreg-slice": [0.3]}
    for setting, vals in knn.items():
        for seed, v in enumerate(vals):
            rows.append(dict(dataset="ECG5000", profile="cpu", seed=seed, setting=setting, knn_accuracy=v,
                             test_time_mse=mse[setting][seed], test_stft_mse=0.01))
    return pd.DataFrame(rows)


def test_summarize_gives_known_means_stds_and_cells(stage1):
    t = summarize(stage1, ["knn_accuracy", "test_time_mse"])
    assert list(t.index) == ["naive", "barlowtwins-warp", "vibcreg-slice"]  # order of appearance
    assert t.loc["naive", "knn_accuracy_mean"] == pytest.approx(0.72)
    assert t.loc["naive", "knn_accuracy_std"] == pytest.approx(0.02)  # sample std of .70 .74 .72
    assert t.loc["barlowtwins-warp", "knn_accuracy_mean"] == pytest.approx(0.81)
    assert t.loc["naive", "knn_accuracy"] == "0.72 ± 0.02 (n=3)"
    # one seed: the std is undefined and the cell says so by leaving it out
    assert math.isnan(t.loc["vibcreg-slice", "knn_accuracy_std"])
    assert t.loc["vibcreg-slice", "knn_accuracy"] == "0.6 (n=1)"
    assert list(summarize(stage1, ["knn_accuracy"], cells_only=True).columns) == ["knn_accuracy"]
    with pytest.raises(KeyError, match="fid"):
        summarize(stage1, ["fid"])


def test_summarize_by_two_columns():
    df = pd.DataFrame(dict(setting=["naive", "naive", "ssl", "ssl"], prior=["token", "embedding"] * 2,
                           fid=[1.0, 2.0, 3.0, 4.0], seed=0))
    t = summarize(df, ["fid"], by=("setting", "prior"))
    assert t.loc[("ssl", "embedding"), "fid_mean"] == 4.0 and t.loc[("naive", "token"), "fid_n"] == 1
    # rows of one prior together, in the order values first appear, though the runs interleave
    t = summarize(df, ["fid"], by=("prior", "setting"))
    assert list(t.index) == [("token", "naive"), ("token", "ssl"), ("embedding", "naive"), ("embedding", "ssl")]


def test_paired_test_matches_scipy_and_handles_one_seed(stage1):
    res = paired_test(stage1, "knn_accuracy").set_index("setting")
    bt = res.loc["barlowtwins-warp"]
    a, b = [0.70, 0.74, 0.72], [0.80, 0.79, 0.84]
    assert bt.n == 3
    assert bt.difference == pytest.approx(np.mean(np.subtract(b, a)))
    assert bt.p_value == pytest.approx(ttest_rel(b, a).pvalue)
    assert 0 < bt.p_value < 0.05  # +0.09 on every seed: a clear difference
    one = res.loc["vibcreg-slice"]
    assert one.n == 1 and math.isnan(one.p_value) and one.note.startswith("n/a")
    assert "naive" not in res.index


def test_paired_test_pairs_on_seed_not_row_order(stage1):
    shuffled = stage1.sample(frac=1.0, random_state=3)
    a = paired_test(stage1, "knn_accuracy").set_index("setting")["p_value"]
    b = paired_test(shuffled, "knn_accuracy").set_index("setting")["p_value"]
    assert a["barlowtwins-warp"] == pytest.approx(b["barlowtwins-warp"])


def test_paired_test_within_groups():
    df = pd.DataFrame(dict(setting=["naive", "ssl"] * 4, prior=["token"] * 4 + ["embedding"] * 4,
                           seed=[0, 0, 1, 1] * 2, fid=[5.0, 4.0, 6.0, 4.5, 3.0, 3.5, 2.0, 2.0]))
    res = paired_test(df, "fid", within="prior").set_index("prior")
    assert res.loc["token", "difference"] == pytest.approx(-1.25)
    assert res.loc["embedding", "difference"] == pytest.approx(0.25)
    assert res.loc["token", "p_value"] == pytest.approx(ttest_rel([4.0, 4.5], [5.0, 6.0]).pvalue)
    with pytest.raises(ValueError, match="baseline 'none'"):
        paired_test(df, "fid", baseline="none")


def test_paired_test_leaves_out_pairs_scored_by_different_evaluators():
    # seed 2's SSL run met another evaluator (retrained elsewhere): FID pairs only seeds 0 and 1, CAS all three
    df = pd.DataFrame(dict(setting=["naive", "ssl"] * 3, seed=[0, 0, 1, 1, 2, 2],
                           fid=[5.0, 4.0, 6.0, 4.5, 5.0, 9.0], cas=[0.5, 0.6, 0.4, 0.6, 0.5, 0.7],
                           evaluator_test_accuracy=[0.9, 0.9, 0.8, 0.8, 0.7, 0.75]))
    fid = paired_test(df, "fid").iloc[0]
    assert fid.n == 2 and fid.difference == pytest.approx(-1.25)
    assert "1 pair(s) left out: scored by different evaluators" in fid.note
    assert "; 1 pair(s) left out" in report.describe_row(report.add_verdicts(paired_test(df, "fid")).iloc[0].to_dict())
    cas = paired_test(df, "cas").iloc[0]
    assert cas.n == 3 and cas.note == ""  # CAS trains its own classifier: every pair counts
    # a recorded weight hash decides over the accuracy: equal accuracies, different weights
    hashed = df.assign(evaluator_test_accuracy=0.9, evaluator_hash=["a", "a", "b", "b", "c", "d"])
    assert paired_test(hashed, "fid").iloc[0].n == 2
    # a row from before the hash column pairs with a hashed row of the same accuracy (one evaluator)
    older = df.assign(evaluator_hash=[np.nan, "a", np.nan, "b", np.nan, "c"])
    assert paired_test(older, "fid").iloc[0].n == 2
    assert report.evaluator_id(older.assign(dataset="D")).iloc[0] == "a"
    # rows that record no evaluator pair as before
    assert paired_test(df.drop(columns="evaluator_test_accuracy"), "fid").iloc[0].n == 3


def test_mixed_evaluators_names_the_seeds_with_more_than_one():
    stage2 = pd.DataFrame(dict(dataset="D", seed=[0, 0, 1, 1], setting=["naive", "ssl"] * 2,
                               evaluator_test_accuracy=[0.9, 0.9, 0.8, 0.8]))
    anchors = pd.DataFrame(dict(dataset="D", seed=[0, 1], evaluator_test_accuracy=[0.9, 0.85]))
    mixed = report.mixed_evaluators(stage2, anchors)
    assert list(mixed["seed"]) == [1] and mixed["evaluators"].iloc[0] == 2
    assert "2 scored by the evaluator of TEST accuracy 0.8000" in mixed["rows"].iloc[0]
    assert report.mixed_evaluators(stage2).empty and report.mixed_evaluators(pd.DataFrame()).empty
    # anchors from before the hash column and hashed priors of the same accuracy: one evaluator
    hashed = stage2.assign(evaluator_hash=["h0", "h0", "h1", "h1"])
    assert list(report.mixed_evaluators(hashed, anchors)["seed"]) == [1]


def test_retrained_tokenizers_names_the_priors_whose_tokens_came_from_other_weights():
    s1 = pd.DataFrame({"seed": [0, 0, 1], "setting": ["naive", "vibcreg-slice", "naive"],
                       "test_time_mse": [0.1304, 0.1431, 0.1268]})
    s2 = pd.DataFrame({"seed": [0, 0, 1, 1], "setting": ["naive", "vibcreg-slice", "naive", "naive"],
                       "prior": ["token", "token", "token", "embedding"],
                       "tokenizer_test_time_mse": [0.1284, 0.1431, 0.1268, np.nan]})
    out = report.retrained_tokenizers(s1, s2)
    assert out[["seed", "setting", "prior"]].values.tolist() == [[0, "naive", "token"]]
    assert out["stage1_test_time_mse"].tolist() == [0.1304]
    assert report.retrained_tokenizers(s1, s2.drop(columns="tokenizer_test_time_mse")).empty  # older rows


def test_best_setting(stage1):
    assert best_setting(stage1, "knn_accuracy", lower=False) == "barlowtwins-warp"
    assert best_setting(stage1, "test_time_mse") == "barlowtwins-warp"  # naive is excluded


def test_thesis_table_maps_settings_and_metrics():
    t = thesis_table()
    assert {"naive", "barlowtwins-warp", "vibcreg-gauss"} <= set(t["setting"])
    row = t[(t.dataset == "ECG5000") & (t.setting == "naive") & (t.metric == "knn_accuracy")]
    assert len(row) == 1 and row["mean"].iloc[0] == pytest.approx(0.7999, abs=1e-4) and row["n"].iloc[0] == 4
    mapped = t.drop_duplicates("thesis_metric").set_index("thesis_metric")["metric"]
    assert mapped["FID"] == "fid" and mapped["IS_mean"] == "is_mean" and mapped["val_acc_ema"] == "cas"
    bt = t[(t.method == "barlowtwins") & (t.augmentation == "warp")]
    assert set(bt["setting"]) == {"barlowtwins-warp"}


def test_compare_with_thesis_sets_our_numbers_beside_the_thesis(stage1):
    cmp = compare_with_thesis(stage1, "ECG5000", ["knn_accuracy", "recon_loss"]).set_index(["setting", "metric"])
    naive = cmp.loc[("naive", "knn_accuracy")]
    assert naive.tsvq_mean == pytest.approx(0.72) and naive.thesis_mean == pytest.approx(0.799944)
    assert naive.difference == pytest.approx(0.72 - 0.799944)
    assert naive.thesis.endswith("(n=4)")
    assert not naive.within_thesis_std  # 0.08 below, the thesis' std is 0.04
    assert cmp.loc[("naive", "recon_loss"), "tsvq_mean"] == pytest.approx(0.11 + 0.01)  # time + STFT MSE
    assert compare_with_thesis(stage1.assign(dataset="GunPoint"), "GunPoint", ["knn_accuracy"]).empty


def test_compare_with_thesis_uses_the_thesis_prior_pairing():
    df = pd.DataFrame(dict(dataset="ECG5000", seed=0, prior=["token", "embedding"] * 2, fid=[1.0, 2.0, 3.0, 4.0],
                           setting=["naive", "naive", "barlowtwins-warp", "barlowtwins-warp"]))
    cmp = compare_with_thesis(df, "ECG5000", ["fid"]).set_index("setting")
    assert cmp.loc["naive", "tsvq_mean"] == 1.0  # token prior
    assert cmp.loc["barlowtwins-warp", "tsvq_mean"] == 4.0  # embedding prior


def test_collect_stacks_every_dataset_and_profile(tmp_path, stage1):
    for ds, profile in [("ECG5000", "cpu"), ("GunPoint", "smoke")]:
        (tmp_path / ds / profile).mkdir(parents=True)
        stage1.assign(dataset=ds, profile=profile).to_csv(tmp_path / ds / profile / "stage1.csv", index=False)
    df = collect(tmp_path, "stage1.csv")
    assert len(df) == 2 * len(stage1) and set(df.dataset) == {"ECG5000", "GunPoint"}
    assert collect(tmp_path, "stage2.csv").empty
    both = compare_all_with_thesis(df, ["knn_accuracy"])  # GunPoint is not in the thesis
    assert set(both.index.get_level_values("dataset")) == {"ECG5000"}
    assert both.loc[("ECG5000", "cpu", "naive", "knn_accuracy"), "tsvq_mean"] == pytest.approx(0.72)
    agree = thesis_agreement(both).set_index(["profile", "metric"])
    assert agree.loc[("cpu", "all"), "compared"] == len(both)
    assert agree.loc[("cpu", "all"), "within_thesis_std"] == both["within_thesis_std"].sum()
    knn = agree.loc[("cpu", "knn_accuracy")]
    assert knn["median_difference"] == pytest.approx(both["difference"].median())
    text = describe_thesis_agreement(agree.reset_index())
    assert text.startswith("Beside every metric below, the `cpu` profile") and text.count("`cpu` profile") == 1
    assert text.count("\n- ") == 1 and "**KNN accuracy**" in text and "training mode" in text
    assert f"{int(knn['within_thesis_std'])} of {len(both)} within" in text
    assert f"above the thesis' in {int(knn['tsvq_higher'])} of {len(both)}" in text
    cpu = get_config("cpu")
    assert f"{cpu.tokenizer.hidden_dim} channels" in text and f"{cpu.stage1.epochs} epochs" in text
    assert report.profile_differences("paper").startswith("the `paper` profile trains the thesis' networks")
    assert thesis_agreement(pd.DataFrame()).empty


def test_convergence_counts_epochs_to_own_best_and_to_the_reference():
    epochs = [1, 2, 3, 4]
    naive = [3.0, 2.5, 2.2, 2.0]  # final 2.0 is the reference
    ssl = [2.8, 1.9, 1.6, 1.59]
    slow = [3.4, 3.2, 3.0, 2.9]
    rows = [dict(prior="token", setting=s, seed=0, epoch=e, val_loss=v)
            for s, vals in [("naive", naive), ("ssl", ssl), ("slow", slow)] for e, v in zip(epochs, vals)]
    c = convergence(pd.DataFrame(rows), rel=0.05).set_index("setting")
    assert c.loc["ssl", "epochs_to_reference"] == 2  # 1.9 ≤ 2.0 at epoch 2
    assert c.loc["naive", "epochs_to_reference"] == 4
    assert math.isnan(c.loc["slow", "epochs_to_reference"])
    assert c.loc["ssl", "epochs_to_own_best"] == 3  # 1.6 ≤ 1.59 · 1.05
    assert c.loc["naive", "epochs_to_own_best"] == 4 and c.loc["ssl", "best_val_loss"] == 1.59


def test_two_by_two_selects_the_ssl_tokenizer_on_val_loss_not_on_test():
    rows = []
    # vibcreg-gauss has the lowest VAL prior loss but the worse FID: it must be the one chosen
    for setting, val, fid in [("naive", 2.0, 9.0), ("barlowtwins-warp", 1.8, 1.0), ("vibcreg-gauss", 1.5, 5.0)]:
        for prior, shift in [("token", 0.0), ("embedding", 0.1)]:
            for seed in (0, 1):
                rows.append(dict(dataset="GunPoint", profile="cpu", seed=seed, setting=setting, prior=prior,
                                 best_val_loss=val + shift + 0.01 * seed, fid=fid + shift))
    t = two_by_two(pd.DataFrame(rows), ["fid", "best_val_loss"])
    assert len(t) == 4 and set(t[t.tokenizer == "SSL"].setting) == {"vibcreg-gauss"}
    cell_ = t[(t.tokenizer == "SSL") & (t.prior == "embedding")].iloc[0]
    assert cell_.fid == pytest.approx(5.1) and cell_.best_val_loss == pytest.approx(1.605) and cell_.seeds == 2


def test_two_by_two_pairs_seeds_and_prefers_settings_with_every_seed():
    rows = []
    # vibcreg-warp has the lowest VAL loss but only seed 0: vibcreg-slice (seeds 0, 1) is chosen,
    # and once warp is the only candidate the naive cells drop seed 1 to stay paired with it
    for setting, val, seeds in [("naive", 2.0, (0, 1)), ("vibcreg-warp", 1.0, (0,)), ("vibcreg-slice", 1.5, (0, 1))]:
        for seed in seeds:
            rows.append(dict(dataset="GunPoint", profile="cpu", seed=seed, setting=setting, prior="token",
                             best_val_loss=val, fid=10.0 * (1 + seed)))
    df = pd.DataFrame(rows)
    assert paired_ssl_setting(df) == ("vibcreg-slice", [0, 1])
    t = two_by_two(df[df.setting != "vibcreg-slice"], ["fid"])
    naive = t[t.tokenizer == "naive"].iloc[0]
    assert set(t.setting) == {"naive", "vibcreg-warp"} and naive.seeds == 1 and naive.fid == pytest.approx(10.0)
    with pytest.raises(ValueError, match="shares a seed"):
        paired_ssl_setting(df[df.seed == 1].assign(seed=lambda d: d.seed + (d.setting != "naive")))


def _runs(diffs: dict, base=None, metric="knn_accuracy", **keys):
    """One row per (setting, seed): naive at ``base`` (default 0.8 + 0.01·seed), each setting at naive + its diff."""
    n = len(next(iter(diffs.values())))
    base = [0.8 + 0.01 * s for s in range(n)] if base is None else base
    rows = [dict(keys, seed=s, setting="naive", **{metric: base[s]}) for s in range(n)]
    rows += [dict(keys, seed=s, setting=name, **{metric: base[s] + d[s]}) for name, d in diffs.items()
             for s in range(n)]
    return pd.DataFrame(rows)


def test_paired_test_gives_the_t_interval_of_the_mean_difference(stage1):
    from scipy.stats import t as student

    bt = paired_test(stage1, "knn_accuracy").set_index("setting").loc["barlowtwins-warp"]
    d = np.subtract([0.80, 0.79, 0.84], [0.70, 0.74, 0.72])
    half = student.ppf(0.975, 2) * d.std(ddof=1) / np.sqrt(3)
    assert (bt.ci_low, bt.ci_high) == pytest.approx((d.mean() - half, d.mean() + half))
    one = paired_test(stage1, "knn_accuracy").set_index("setting").loc["vibcreg-slice"]
    assert math.isnan(one.ci_low) and math.isnan(one.ci_high)


def test_holm_against_a_hand_computed_example():
    # sorted 0.005, 0.01, 0.03, 0.04 (m = 4, the NaN does not count): 4·0.005, 3·0.01, 2·0.03, 1·0.04,
    # then made monotone: 0.02, 0.03, 0.06, max(0.04, 0.06) = 0.06
    got = holm([0.01, 0.04, 0.03, np.nan, 0.005])
    assert got[[0, 1, 2, 4]] == pytest.approx([0.03, 0.06, 0.06, 0.02]) and np.isnan(got[3])
    assert holm([0.4, 0.6, 0.9]) == pytest.approx([1.0, 1.0, 1.0])  # capped at 1
    assert holm([0.02]) == pytest.approx([0.02]) and holm([np.nan, np.nan]).tolist() != [0, 0]
    assert np.isnan(holm([np.nan, np.nan])).all() and holm([]).shape == (0,)


def test_verdict_follows_the_rule():
    assert verdict(0.001, 0.01, 0.02, 0.05) == "supported"
    assert verdict(0.001, 0.01, -0.05, -0.02) == "supported"
    assert verdict(0.01, 0.2, 0.01, 0.05) == "suggestive"  # passes uncorrected only
    assert verdict(0.001, 0.01, -0.01, 0.05) == "suggestive"  # corrected p small but 0 in the interval
    assert verdict(0.2, 1.0, -0.1, 0.1) == "no evidence"
    assert verdict(np.nan, np.nan, np.nan, np.nan) == "no evidence"


def test_a_large_consistent_effect_over_five_seeds_is_supported():
    df = _runs({"ssl": [0.10, 0.11, 0.09, 0.10, 0.12], "other": [0.01, -0.02, 0.015, -0.01, 0.0]},
               dataset="ECG5000", profile="cpu")
    t = compare_family(df, ["knn_accuracy"]).set_index("setting")
    assert t.loc["ssl", "verdict"] == "supported" and t.loc["ssl", "ci_low"] > 0
    assert t.loc["other", "verdict"] == "no evidence"
    assert t.loc["ssl", "p_holm"] == pytest.approx(2 * t.loc["ssl", "p_value"])  # smallest of 2


def test_an_effect_that_passes_uncorrected_but_not_after_holm_is_suggestive():
    effect = [0.05, 0.09, 0.02, 0.07, 0.03]
    nulls = {f"null{i}": list(np.roll([0.1, -0.1, 0.05, -0.05, 0.0], i)) for i in range(9)}
    df = _runs({"ssl": effect, **nulls}, dataset="ECG5000", profile="cpu")
    t = compare_family(df, ["knn_accuracy"]).set_index("setting")
    p = ttest_rel(np.add(effect, 1), np.ones(5)).pvalue
    assert 0.005 < p < 0.05  # the construction: significant alone
    assert t.loc["ssl", "p_value"] == pytest.approx(p) and t.loc["ssl", "p_holm"] == pytest.approx(min(1, 10 * p))
    assert t.loc["ssl", "verdict"] == "suggestive"
    # alone in its family the same effect is supported
    alone = compare_family(_runs({"ssl": effect}), ["knn_accuracy"]).iloc[0]
    assert alone.verdict == "supported" and alone.p_holm == pytest.approx(p)


def test_noise_gives_no_evidence_and_holm_runs_per_dataset():
    rng = np.random.default_rng(0)
    noise = {f"ssl{i}": list(rng.normal(0, 0.02, 5)) for i in range(4)}
    df = pd.concat([_runs(noise, dataset="A", profile="cpu"),
                    _runs({"ssl0": [0.10, 0.11, 0.09, 0.10, 0.12]}, dataset="B", profile="cpu")])
    t = compare_family(df, ["knn_accuracy"])
    a = t[t.dataset == "A"]
    assert set(a.verdict) == {"no evidence"} and len(a) == 4
    # B is its own family of one comparison: Holm p equals p
    b = t[t.dataset == "B"].iloc[0]
    assert b.p_holm == pytest.approx(b.p_value) and b.verdict == "supported"
    assert a.p_holm.to_numpy() == pytest.approx(holm(a.p_value))


def test_compare_family_counts_every_metric_and_prior_in_one_family_and_skips_absent_metrics():
    rows = []
    for prior in ("token", "embedding"):
        df = _runs({"ssl": [0.1, 0.12, 0.11]}, metric="fid", dataset="D", profile="cpu", prior=prior)
        rows.append(df.assign(cas=df["fid"] * 0.5))
    t = compare_family(pd.concat(rows), ["fid", "cas", "kid"], within="prior")
    assert len(t) == 4 and set(t.metric) == {"fid", "cas"}  # kid is not in the table
    assert t.p_holm.to_numpy() == pytest.approx(holm(t.p_value))
    assert compare_family(pd.DataFrame(), ["fid"]).empty


def test_sentences_state_difference_interval_and_verdict_never_stronger_words():
    df = _runs({"ssl": [0.10, 0.11, 0.09, 0.10, 0.12], "other": [0.01, -0.02, 0.015, -0.01, 0.0]},
               dataset="ECG5000", profile="cpu")
    t = compare_family(df, ["knn_accuracy"])
    (line,) = describe_versus(t, higher_is_better=True)
    assert line.startswith("dataset ECG5000, profile cpu: `knn_accuracy`, higher is better; setting − naive")
    assert "ssl +0.104 (95 % CI +0.0" in line and "supported, higher (better)" in line
    assert "other " in line and ": no evidence" in line
    assert "Verdicts: 1 supported, 0 suggestive, 1 no evidence." in line
    # lower is better: the same difference is worse; no direction is named without a verdict
    (line,) = describe_versus(t, higher_is_better=False)
    assert "supported, higher (worse)" in line and "no evidence, " not in line
    smoke = describe_versus(compare_family(df.assign(profile="smoke"), ["knn_accuracy"]), higher_is_better=True)
    assert "smoke profile" in smoke[0]
    one = describe_versus(compare_family(df[df.seed == 0], ["knn_accuracy"]), higher_is_better=True)[0]
    assert "n/a: needs ≥ 2 paired seeds, has 1): no evidence" in one
    assert report.markdown_list([]) == "- no results yet"
    assert not hasattr(report, "evidence")


def test_across_datasets_wilcoxon_median_and_win_tie_loss():
    from scipy.stats import wilcoxon

    effects = {"A": [0.10, 0.11, 0.12], "B": [0.05, 0.06, 0.04], "C": [0.02, 0.03, 0.025],
               "D": [0.2, -0.2, 0.1], "E": [-0.05, -0.06, -0.04]}  # D: interval contains 0; E: a loss
    df = pd.concat([_runs({"ssl": d}, dataset=name, profile="cpu") for name, d in effects.items()])
    r = across_datasets(df, "knn_accuracy", higher_is_better=True).iloc[0]
    means = [np.mean(d) for d in effects.values()]
    assert r.setting == "ssl" and r.datasets == 5 and r.median_difference == pytest.approx(np.median(means))
    assert (r.wins, r.ties, r.losses) == (3, 1, 1)
    assert r.p_value == pytest.approx(wilcoxon(means).pvalue)
    low = across_datasets(df, "knn_accuracy", higher_is_better=False).iloc[0]
    assert (low.wins, low.ties, low.losses) == (1, 1, 3)
    one = across_datasets(df[df.dataset == "A"], "knn_accuracy", higher_is_better=True).iloc[0]
    assert math.isnan(one.p_value) and one.note.startswith("n/a")
    # the family: Holm over settings × metrics, and no "supported" without the median's interval (< 6 datasets)
    fam = report.across_family(pd.concat([df, df.assign(setting=df.setting.replace("ssl", "other"))]),
                               {"knn_accuracy": True, "copy_rate": None})
    assert len(fam) == 2 and set(fam.metric) == {"knn_accuracy"} and fam.median_ci_low.isna().all()
    assert fam.p_holm.iloc[0] == pytest.approx(min(1, 2 * r.p_value)) and set(fam.verdict) == {"no evidence"}
    more = pd.concat([df] + [_runs({"ssl": [0.05, 0.06, 0.055]}, dataset=f"X{i}", profile="cpu") for i in range(4)])
    (row,) = report.across_family(more, {"knn_accuracy": True}).to_dict("records")
    assert row["datasets"] == 9 and row["median_ci_low"] > 0 and row["p_holm"] < 0.05 and row["verdict"] == "supported"
    shown = report.across_table(pd.DataFrame([row]))
    assert shown.index.names == ["metric", "setting"] and shown.iloc[0]["better / tied / worse"] == "7 / 1 / 1"
    assert shown.iloc[0]["median [95 % CI]"].startswith("+0.055 [+0.025, +0.055]")


def test_median_interval_has_at_least_its_coverage_and_needs_six_values():
    from scipy.stats import binom

    assert report.median_interval(range(6)) == (0.0, 5.0)  # P(all 6 on one side) = 2/64 < 5 %
    assert all(math.isnan(v) for v in report.median_interval(range(5)))  # 2/32 > 5 %: undefined
    lo, hi = report.median_interval(np.arange(20.0))
    assert (lo, hi) == (5.0, 14.0)  # x_(6), x_(15): the coverage 1 − 2·P(B ≤ 5) ≥ 95 %, k = 7 would fall short
    assert 1 - 2 * binom.cdf(5, 20, 0.5) >= 0.95 > 1 - 2 * binom.cdf(6, 20, 0.5)
    rng = np.random.default_rng(0)  # coverage of the true median 0 over many samples
    hits = [lo <= 0 <= hi for lo, hi in (report.median_interval(rng.standard_normal(15)) for _ in range(2000))]
    assert np.mean(hits) >= 0.94


def test_headline_compares_the_setting_chosen_on_val_not_the_best_on_test():
    from tsvq.experiments import STAGE1_SETTINGS
    from tsvq.identity import Setting

    names = [Setting(*s).name for s in STAGE1_SETTINGS[1:]]
    sel, tables = [], []
    for i, ds in enumerate("ABCDEFG"):
        # VAL prefers vibcreg-warp everywhere; on TEST barlowtwins-gauss is far better, vibcreg-warp +0.02 to +0.08
        sel += [dict(dataset=ds, profile="cpu", seed=s, setting=n, cv_knn_accuracy=0.9 if n == "vibcreg-warp" else 0.5)
                for s in range(3) for n in names]
        diffs = {n: [0.0, 0.001, -0.001] for n in names}
        diffs["barlowtwins-gauss"] = [0.3, 0.31, 0.29]
        diffs["vibcreg-warp"] = [0.01 * (i + 2)] * 2 + [0.01 * (i + 2) + 0.002]
        tables.append(_runs(diffs, dataset=ds, profile="cpu"))
    sel = pd.DataFrame(sel)
    chosen = report.val_chosen(sel)
    assert set(chosen.setting) == {"vibcreg-warp"} and len(chosen) == 7 and (chosen.seeds == 3).all()
    top = report.headline(pd.concat(tables), pd.DataFrame(), sel, stage1_metrics=("knn_accuracy",))
    r = top.iloc[0]
    assert (r.metric, r.datasets, r.wins, r.ties, r.losses) == ("knn_accuracy", 7, 7, 0, 0)
    assert r.median_difference == pytest.approx(0.05, abs=1e-3) and r.median_ci_low < 0.05 < r.median_ci_high
    assert r.p_value == pytest.approx(2 / 2 ** 7)  # exact two-sided Wilcoxon, all 7 positive
    s1 = pd.concat(tables)
    s1["aug"] = [Setting.parse(n).aug for n in s1.setting]
    text = report.tldr(s1, pd.DataFrame(), sel).split("**RQ1")[0]
    assert "*supported*: KNN accuracy (better; p 0.016, Holm p 0.016)" in text
    assert "Across datasets" not in report.tldr(s1, pd.DataFrame())
    assert report.verdict_groups(top) == ("By the rule: *supported*: KNN accuracy (better; p 0.016, Holm p 0.016). "
                                          "*suggestive*: none. *no evidence*: none.")
    worse = top.assign(median_difference=-0.05, verdict="suggestive", prior="token", metric="fid", better="lower")
    assert "*suggestive*: FID, token prior (better;" in report.verdict_groups(worse)
    assert report.verdict_groups(top.iloc[:0]) == ""
    # the chosen setting has no prior runs yet (only naive's): no stage-2 rows, and no error
    s2 = pd.concat(tables).query("setting == 'naive'").assign(prior="token").rename(columns={"knn_accuracy": "fid"})
    assert report.headline(s1, s2, sel, stage1_metrics=()).empty
    # the thesis-style token prior (an ablation) stays out of the headline's family unless asked for
    ablation = pd.concat([s1.assign(prior=p) for p in ("token", "token_thesis")])
    ablation = ablation.rename(columns={"knn_accuracy": "fid"})
    assert list(report.headline(s1, ablation, sel, stage1_metrics=(), stage2_metrics=("fid",)).prior) == ["token"]
    both = report.headline(s1, ablation, sel, stage1_metrics=(), stage2_metrics=("fid",),
                           priors=("token", "token_thesis"))
    assert sorted(both.prior) == ["token", "token_thesis"]
    assert report.across_datasets(s2, "fid", higher_is_better=False).empty
    picked = report.only_val_chosen(report.overview_tests(s1, pd.DataFrame()), chosen)
    assert len(picked) == 7 and set(picked.setting) == {"vibcreg-warp"} and (picked.verdict == "supported").all()
    incomplete = sel[~((sel.dataset == "A") & (sel.setting == "vibcreg-gauss") & (sel.seed == 2))]
    # A's seed 2 lacks one setting: A is chosen on seeds 0 and 1 only
    assert report.val_chosen(incomplete).set_index("dataset").loc["A", "seeds"] == 2
    assert report.val_chosen(incomplete[incomplete.setting != "vibcreg-gauss"]).empty


def _stage2(entropy: bool):
    rows = []
    for seed in range(5):
        for setting, loss, ent in [("naive", 1.30, 3.0), ("vibcreg-slice", 1.10, 2.6)]:
            for prior in ("token", "embedding"):
                row = dict(dataset="ECG5000", profile="cpu", seed=seed, setting=setting, prior=prior,
                           best_val_loss=loss + 0.01 * seed + 0.002 * (seed % 2) * (setting == "naive"))
                if entropy:
                    row["token_entropy"] = ent + 0.01 * seed
                rows.append(row)
    return pd.DataFrame(rows)


def test_rq3_compares_the_context_gain_and_reports_a_missing_entropy():
    t = entropy_table(_stage2(entropy=True))
    row = t.loc[("ECG5000", "cpu", "token", "vibcreg-slice")]
    # naive gains 3.0 − 1.3 = 1.7 nats from context, SSL 2.6 − 1.1 = 1.5: a lower loss, a smaller gain
    assert row.gain_difference == pytest.approx(-0.2, abs=2e-3) and row.gain_verdict == "supported"
    assert row.loss_difference == pytest.approx(-0.2, abs=2e-3)
    assert t.loc[("ECG5000", "cpu", "token", "naive"), "context_gain"].startswith("1.699 ± ")
    tests = rq3_tests(_stage2(entropy=True))
    assert set(tests.metric) == {"context_gain", "best_val_loss"} and len(tests) == 4
    assert rq3_tests(_stage2(entropy=False)).query("metric == 'context_gain'").note.str.contains("token_entropy").all()
    old = entropy_table(_stage2(entropy=False))
    assert old["token_entropy"].str.startswith("missing").all()
    assert old.loc[("ECG5000", "cpu", "token", "vibcreg-slice"), "gain_verdict"].startswith("n/a")


def test_rq5_tests_hold_tokenizer_prior_and_diagonal_in_one_family():
    df = _stage2(entropy=False).assign(fid=lambda d: 2.0 + (d.setting != "naive") * (0.5 + 0.01 * (d.seed % 3)))
    t = rq5_tests(df, {"fid": False})
    assert list(t.effect.drop_duplicates()) == ["tokenizer", "prior", "diagonal"] and len(t) == 2 + 2 + 1
    assert t.p_holm.dropna().to_numpy() == pytest.approx(holm(t.p_value.dropna()))
    lines = describe_rq5(t, higher_is_better={"fid": False})
    assert lines[0].startswith("tokenizer: dataset ECG5000, profile cpu, prior token: `fid`")
    assert any(line.startswith("diagonal:") and "vibcreg-slice + embedding" in line for line in lines)


def test_selection_sentences_come_from_the_table():
    assert parse_setting("vibcreg-slice-proj_dim1024-stage1_epochs50-weight0.1") == dict(
        base="vibcreg-slice", proj_dim="1024", stage1_epochs="50", weight="0.1")
    assert parse_setting("naive-stage1_epochs500") == dict(base="naive", stage1_epochs="500")
    rows = []
    for seed in range(3):
        for name, epochs, knn in [("naive-stage1_epochs50", 50, 0.90), ("naive-stage1_epochs500", 500, 0.85),
                                  ("vibcreg-slice-stage1_epochs50", 50, 0.905),
                                  ("vibcreg-slice-stage1_epochs50-weight0.1", 50, 0.90),
                                  ("vibcreg-slice-stage1_epochs50-weight1.0", 50, 0.92),
                                  ("vibcreg-slice-stage1_epochs500", 500, 0.92)]:
            rows.append(dict(seed=seed, setting=name, epochs=epochs, cv_knn_accuracy=knn + 0.003 * seed * (epochs == 50)))
    text = describe_selection(pd.DataFrame(rows))
    assert "vibcreg-slice at 50 epochs (≥ 3 seeds each), mean `cv_knn_accuracy`: the thesis' weight" in text
    assert "highest: weight 1.0" in text
    assert "naive by stage-1 epochs: 50 → 0.903, 500 → 0.85; highest mean `cv_knn_accuracy` at 50 epochs" in text
    assert "at 500 epochs, SSL − naive" in text
    assert describe_selection(pd.DataFrame()).startswith("- no validation search")


# ----------------------------------------------------------------------------------------------- findings


def test_finding_box_gives_effect_interval_and_computed_verdict(stage1):
    tests = compare_family(stage1, report.RQ1_METRICS)
    box = report.finding(tests, report.RQ1_METRICS, profile="cpu")
    assert box.startswith("```{admonition} Finding") and box.rstrip().endswith("```")
    r = tests[(tests["metric"] == "knn_accuracy") & (tests["setting"] == "barlowtwins-warp")].iloc[0]
    line = next(x for x in box.splitlines() if x.startswith("- KNN accuracy"))
    # one testable SSL setting (vibcreg-slice has one seed): its difference, interval and verdict, all computed
    assert f"{r['difference']:+.3g}" in line and f"{r['ci_low']:+.3g}" in line and f"**{r['verdict']}**" in line
    assert line.startswith("- KNN accuracy (naive 0.72): barlowtwins-warp − naive") and "1 other with one" in line
    # no rows, and too few seeds, are said in words
    assert "No results yet" in report.finding(tests.iloc[:0], report.RQ1_METRICS)
    one = compare_family(stage1[stage1["seed"] == 0], report.RQ1_METRICS)
    assert "no paired test yet" in report.finding(one, report.RQ1_METRICS)
    assert "Smoke profile" in report.finding(tests, report.RQ1_METRICS, profile="smoke")


def test_finding_per_group_and_rq5_name_each_comparison():
    rows = [dict(dataset="D", profile="cpu", seed=s, setting=st, prior=p, fid=f + 0.1 * s, kid=0.1, cas=c + 0.01 * s,
                 best_val_loss=1.0 + (st == "naive"))
            for s in range(3) for st, f, c in (("naive", 2.0, 0.8), ("vibcreg-slice", 1.0, 0.9))
            for p in ("token", "embedding")]
    stage2 = pd.DataFrame(rows)
    stage2.loc[(stage2["setting"] == "vibcreg-slice") & (stage2["seed"] == 1), "fid"] += 0.05  # not constant
    box = report.finding_rq5(rq5_tests(stage2))
    assert "Tokenizer, vibcreg-slice − naive, under the token prior" in box
    assert "Thesis' diagonal, vibcreg-slice + embedding − naive + token" in box
    groups = report.finding_lines(compare_family(stage2, {"fid": False}, within="prior"), {"fid": False},
                                  per="group")
    assert len(groups) == 2 and all("FID -" in g for g in groups)


def test_overview_and_cd_scores(stage1):
    t = report.overview_tests(stage1, pd.DataFrame())
    assert set(t["stage"]) == {"tokenizer"} and set(t["row"]) == {"ECG5000"}
    assert set(t["metric"]) <= {"knn_accuracy", "svm_accuracy", "test_time_mse"}
    two = pd.concat([stage1, stage1.assign(dataset="GunPoint")], ignore_index=True)
    scores, missing = report.cd_scores(two, settings=["naive", "barlowtwins-warp", "vibcreg-slice", "vicreg-warp"])
    assert scores.empty and missing == ["ECG5000", "GunPoint"]
    scores, missing = report.cd_scores(two)
    assert list(scores.index) == ["ECG5000", "GunPoint"] and missing == [] and scores.attrs["profile"] == "cpu"
    assert scores.loc["ECG5000", "naive"] == pytest.approx(0.72)


def test_peer_tests_pair_tsvq_naive_token_prior_with_the_peer_by_seed():
    from tsvq.report import TSVQ_PEER, peer_tests

    rng = np.random.default_rng(0)
    stage2 = pd.DataFrame([dict(dataset="GunPoint", profile="cpu", seed=s, setting=st, prior=pr,
                                fid=1.0 + s * 0.1 + (st != "naive"), kid=0.01, rocket_fid=10.0, is_mean=1.5,
                                copy_rate=0.1)
                           for s in range(5) for st in ("naive", "vibcreg-slice") for pr in ("token", "embedding")])
    peer = pd.DataFrame([dict(dataset="GunPoint", profile="cpu", seed=s, peer="TimeVQVAE 1.0.1",
                              fid=3.0 + s * 0.1 + rng.normal(0, 0.01), kid=0.02, rocket_fid=10.0, is_mean=1.4,
                              copy_rate=0.0) for s in range(5)]
                        + [dict(dataset="Mallat", profile="cpu", seed=0, peer="TimeVQVAE 1.0.1", fid=1.0)])
    cells, tests = peer_tests(stage2, peer)
    assert set(cells.index.get_level_values("dataset")) == {"GunPoint"}  # Mallat has no tsvq row to pair with
    fid = tests.set_index("metric").loc["fid"]
    assert fid["model"] == TSVQ_PEER and fid["n"] == 5
    assert fid["difference"] == pytest.approx(-2.0, abs=0.02)  # only the naive token-prior rows, tsvq − peer
    assert fid["verdict"] == "supported"
    assert peer_tests(stage2, peer.iloc[0:0])[0].empty


def test_coverage_lists_missing_datasets_and_counts_complete_seeds():
    from tsvq.report import coverage

    names = ["naive", "barlowtwins-warp", "barlowtwins-slice", "barlowtwins-gauss", "vibcreg-warp",
             "vibcreg-slice", "vibcreg-gauss"]
    s1 = pd.DataFrame([dict(dataset="GunPoint", profile="cpu", seed=s, setting=n) for s in (0, 1) for n in names]
                      + [dict(dataset="GunPoint", profile="cpu", seed=2, setting="naive")])
    s1["train_seconds"] = 360.0
    s2 = pd.DataFrame([dict(dataset="GunPoint", profile="cpu", seed=0, setting="naive", prior="token",
                            train_seconds=1800.0)])
    avail = [dict(name="GunPoint", n_train=50, n_test=150, length=150, n_classes=2, error=None),
             dict(name="Trace", n_train=100, n_test=100, length=275, n_classes=4, error=None),
             dict(name="Broken", error="cannot read")]
    cov = coverage(s1, s2, None, available=avail)
    gp = cov.loc[("GunPoint", "cpu")]
    assert gp["stage1_seeds"] == "0, 1, 2" and gp["tokenizer_runs"] == 15 and gp["seeds_with_all_7"] == 2
    assert gp["prior_runs"] == "1 (token)" and gp["peer_runs"] == "–" and gp["TRAIN / TEST"] == "50 / 150"
    assert gp["training_hours"] == 2.0  # 15 tokenizers × 6 min + one prior × 30 min
    assert cov.loc[("Trace", "–"), "tokenizer_runs"] == "–"  # shown as missing, not left out
    assert "Broken" not in cov.index.get_level_values("dataset")


def test_pivot_means_puts_settings_in_columns_and_leaves_unrun_cells_empty():
    df = pd.DataFrame([dict(dataset=d, profile="cpu", setting=st, seed=k, knn_accuracy=v + k)
                       for d, st, v in (("A", "vibcreg-slice", 1.0), ("A", "naive", 0.0), ("B", "naive", 10.0))
                       for k in range(3)])
    t = report.pivot_means(df, "knn_accuracy", order=["naive", "barlowtwins-warp", "vibcreg-slice"])
    assert list(t.columns) == ["seeds", "naive", "vibcreg-slice"]  # a setting nobody ran has no column
    assert t.loc[("A", "cpu"), "vibcreg-slice"] == 2.0 and t.loc[("A", "cpu"), "naive"] == 1.0
    assert np.isnan(t.loc[("B", "cpu"), "vibcreg-slice"]) and t.loc[("B", "cpu"), "seeds"] == 3
    assert report.pivot_means(df.iloc[:0], "knn_accuracy").empty


def test_verdict_grid_marks_each_difference_with_its_verdict():
    diffs = {"vibcreg-slice": [0.10, 0.11, 0.09], "barlowtwins-warp": [0.3, -0.2, 0.05], "vibcreg-warp": [0.02]}
    df = pd.concat([_runs({k: v for k, v in diffs.items() if k != "vibcreg-warp"}, dataset="A", profile="cpu"),
                    _runs({"vibcreg-warp": [0.02]}, dataset="B", profile="cpu")])
    tests = report.compare_family(df, {"knn_accuracy": True})
    grid = report.verdict_grid(tests, "knn_accuracy", order=["naive", "barlowtwins-warp", "vibcreg-slice",
                                                             "vibcreg-warp"])
    assert list(grid.columns) == ["barlowtwins-warp", "vibcreg-slice", "vibcreg-warp"]
    v = tests.set_index(["dataset", "setting"]).verdict
    assert grid.loc[("A", "cpu"), "vibcreg-slice"] == "+0.1" + report.MARKS[v["A", "vibcreg-slice"]]
    assert v["A", "vibcreg-slice"] != "no evidence" and grid.loc[("A", "cpu"), "barlowtwins-warp"] == "+0.05"
    assert grid.loc[("B", "cpu"), "vibcreg-warp"] == "–" and grid.loc[("B", "cpu"), "vibcreg-slice"] == "–"
    counts = report.verdict_counts(tests, ["knn_accuracy"])  # B's single paired seed is not a test
    assert counts.startswith("KNN accuracy: ") and counts.endswith("1 no evidence") and "supported" in counts
    assert report.verdict_grid(tests, "fid").empty


def test_rq5_grid_names_each_comparison_of_the_two_by_two():
    rows = [dict(dataset="A", profile="cpu", seed=s, setting=st, prior=pr, best_val_loss=1.0, fid=f + 0.01 * s)
            for s in range(3) for st, pr, f in (("naive", "token", 1.0), ("naive", "embedding", 1.5),
                                                ("vibcreg-slice", "token", 2.0), ("vibcreg-slice", "embedding", 2.5))]
    grid = report.rq5_grid(report.rq5_tests(pd.DataFrame(rows), metrics={"fid": False, "best_val_loss": False}),
                           metrics=("fid",))
    got = grid["fid"].droplevel(["dataset", "profile"]).to_dict()
    assert got["vibcreg-slice − naive, token prior"].split(" ")[0] == "+1"
    assert got["embedding − token prior, naive"].startswith("+0.5") and set(grid.columns) == {"fid"}
    assert got["vibcreg-slice + embedding − naive + token"].startswith("+1.5")


def test_brief_lines_sort_datasets_by_the_strongest_verdict_on_each_side():
    rng = np.random.default_rng(1)
    frames = [_runs({"vibcreg-slice": 0.2 + rng.normal(0, 0.01, 5), "barlowtwins-warp": rng.normal(0, 0.05, 5)},
                    dataset="A", profile="cpu"),
              _runs({"vibcreg-slice": -0.2 + rng.normal(0, 0.01, 5)}, dataset="B", profile="cpu"),
              _runs({"vibcreg-slice": rng.normal(0, 0.05, 5)}, dataset="C", profile="cpu")]
    tests = report.compare_family(pd.concat(frames), {"knn_accuracy": True})
    (line,) = report.brief_lines(tests, "knn_accuracy", True)
    assert line == ("KNN accuracy, SSL setting − naive over 3 datasets — better: supported on A (1 of 2); "
                    "worse: supported on B; no evidence either way on C.")
    assert report.brief_lines(tests, "fid", False) == []
    quiet = tests[tests["dataset"] == "C"]
    assert report.brief_lines(quiet, "knn_accuracy", True) == [
        "KNN accuracy, SSL setting − naive over 1 dataset — no evidence either way (C)."]
