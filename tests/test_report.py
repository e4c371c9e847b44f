"""The results API of the notebooks: per-seed values, Δm, paired verdicts and tables, with
hand-worked values on a tiny manifest."""

from __future__ import annotations

import doctest
import math

import pytest
from scipy import stats

from mtl_tutorial import report


def test_report_docstring_examples_run():
    for module in (report.results, report.verdicts, report.tables, report.family):
        assert doctest.testmod(module).failed == 0


# --- the results API, on a tiny manifest in a temporary weights folder ---------------------

import json  # noqa: E402

from torch import nn  # noqa: E402

from mtl_tutorial.checkpoint import save_checkpoint  # noqa: E402
from mtl_tutorial.tasks import classification, dense_regression  # noqa: E402

BASELINES = {"acc_a": "base-a", "err_b": "base-b"}
BETTER = {"acc_a": True, "err_b": False}


def _run(seed, metrics, **extra):
    return {
        "seed": seed,
        "epochs": 3,
        "device": "cpu",
        "wall_time_s": 10.0 + seed,
        "metrics": metrics,
        **extra,
    }


@pytest.fixture()
def results(tmp_path, monkeypatch):
    """Seeds are stored out of order on purpose: the API must return them ordered by seed."""
    history = [{"epoch": 1, "test_loss": 0.5}, {"epoch": 2, "test_loss": 0.25}]
    experiments = {
        "base-a": {"runs": [_run(1, {"acc_a": 0.8}), _run(0, {"acc_a": 0.6})]},
        "base-b": {"runs": [_run(0, {"err_b": 2.0}), _run(1, {"err_b": 2.0}, budget="gpu")]},
        "multi": {
            "file": "multi.pt",
            "sha256": "0" * 64,
            "seed": 0,
            "epochs": 3,
            "device": "cpu",
            "metrics": {"acc_a": 0.7, "err_b": 3.0, "params": 1234.0},
            "runs": [
                _run(
                    1,
                    {"acc_a": 0.9, "err_b": 1.0, "params": 1234.0},
                    history=[{**h, "test_loss": h["test_loss"] / 2} for h in history],
                ),
                _run(0, {"acc_a": 0.7, "err_b": 3.0, "params": 1234.0}, history=history),
            ],
        },
        "strong": {
            "runs": [_run(0, {"acc_a": 10.0, "err_b": 3.0}), _run(1, {"acc_a": 10.2, "err_b": 1.0})]
        },
        "same": {
            "runs": [_run(0, {"acc_a": 0.7, "err_b": 3.0}), _run(1, {"acc_a": 0.9, "err_b": 1.0})]
        },
        "noisy": {
            "runs": [_run(0, {"acc_a": 0.8, "err_b": 3.0}), _run(1, {"acc_a": 1.2, "err_b": 1.0})]
        },
        "one-seed": {"runs": [_run(0, {"acc_a": 0.5, "err_b": 2.0})]},
    }
    (tmp_path / "manifest.json").write_text(
        json.dumps({"format_version": 1, "experiments": experiments})
    )
    save_checkpoint(
        tmp_path / "multi.pt",
        nn.Linear(1, 1),
        {"history": history, "config": {"epochs": 3, "lr": 0.01}},
    )
    monkeypatch.setenv("MTL_TUTORIAL_WEIGHTS", str(tmp_path))
    return tmp_path


def test_seed_values_are_ordered_by_seed(results):
    assert report.seeds("base-a") == [0, 1]
    assert report.seed_values("base-a", "acc_a") == [0.6, 0.8]
    assert report.seed_values("multi", "err_b") == [3.0, 1.0]
    assert report.run_metrics("multi", 1)["acc_a"] == 0.9
    with pytest.raises(KeyError, match="no recorded seed 5"):
        report.run_metrics("multi", 5)
    with pytest.raises(KeyError, match="record no metric 'err_b'"):
        report.seed_values("base-a", "err_b")
    assert report.final_values("multi", "test_loss") == [0.25, 0.125]


def test_seed_history_reads_the_manifest_or_the_shipped_checkpoint(results, tmp_path):
    assert report.seed_history("multi", 1)[-1] == {"epoch": 2, "test_loss": 0.125}
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    for run in manifest["experiments"]["multi"]["runs"]:
        del run["history"]  # a run recorded before the manifest kept histories
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert report.seed_history("multi", 0) == report.history("multi")  # the shipped seed
    with pytest.raises(KeyError, match="no history recorded for 'multi' seed 1"):
        report.seed_history("multi", 1)


def test_presence_and_the_shipped_run(results):
    assert report.has_results("multi") and not report.has_results("nothing")
    assert report.unrecorded(["nothing", "multi", "else"]) == ["nothing", "else"]
    assert report.shipped("multi") == report.Shipped(
        0, 3, "cpu", {"acc_a": 0.7, "err_b": 3.0, "params": 1234.0}
    )
    assert report.metrics("multi")["err_b"] == 3.0
    assert report.metric_names("multi") == ["acc_a", "err_b", "params"]
    assert report.history("multi")[-1] == {"epoch": 2, "test_loss": 0.25}
    assert report.training_config("multi") == {"epochs": 3, "lr": 0.01}
    assert report.mean_std("base-a", "acc_a") == pytest.approx((0.7, math.sqrt(0.02), 2))
    with pytest.raises(KeyError, match="no recorded metric"):
        report.mean_std("base-a", "nope")
    with pytest.raises(KeyError, match="no results recorded"):
        report.seeds("nothing")


def test_seed_delta_m_hand_worked(results):
    # baseline means: acc_a 0.7, err_b 2.0
    # seed 0: (0.7 - 0.7) / 0.7 = 0 and -(3 - 2) / 2 = -0.5 -> -0.25
    # seed 1: (0.9 - 0.7) / 0.7 = 2/7 and -(1 - 2) / 2 = +0.5 -> (2/7 + 0.5) / 2
    assert report.seed_delta_m("multi", BASELINES, BETTER) == pytest.approx(
        [-0.25, (2 / 7 + 0.5) / 2]
    )
    # means 0.8 and 2.0: (0.1 / 0.7 + 0) / 2
    assert report.delta_m_of_means("multi", BASELINES, BETTER) == pytest.approx(1 / 14)


def test_higher_is_better_comes_from_the_tasks():
    assert report.higher_is_better([classification("left"), dense_regression("depth")]) == {
        "acc_left": True,
        "depth_mse": False,
    }


def test_run_info_and_provenance(results):
    assert report.run_info("base-b") == {
        "seeds": [0, 1],
        "epochs": [3],
        "device": ["cpu"],
        "wall_time_s": 10.5,
    }
    assert report.provenance(["base-b", "one-seed"]) == (
        "*Trained under the `cpu` and `gpu` budget (3 epochs) on cpu; 1 or 2 seeds per "
        "experiment, 3 runs in all.*"
    )
    assert report.provenance(["one-seed"]).endswith("1 seed per experiment, 1 runs in all.*")


def test_summary_row(results):
    row = report.summary_row("multi", ["acc_a", "err_b", "absent"], BASELINES, BETTER)
    assert row["experiment"] == "multi" and row["seeds"] == 2 and "absent" not in row
    assert row["acc_a"] == pytest.approx((0.8, math.sqrt(0.02), 2))
    assert row["Δm (%)"] == pytest.approx(1 / 14)
    assert (row["params"], row["epochs"], row["time/run (s)"], row["device"]) == (
        "1,234",
        "3",
        "10",
        "cpu",
    )
    assert report.summary_row("base-a", ["acc_a"])["Δm (%)"] is None


def test_method_table_skips_methods_without_results(results):
    table = report.method_table(
        {"equal": "multi", "other": "not-trained"},
        ["acc_a"],
        BASELINES,
        BETTER,
        {"acc_a": (100, 1)},
        time_ratio={"equal": 1.0},
    )
    assert table.splitlines() == [
        "| method | seeds | acc_a | Δm (%) | time/step vs equal | time/run (s) |",
        "| --- | --- | --- | --- | --- | --- |",
        "| equal | 2 | 80.0 ± 14.1 | 7.14 | 1.00 | 10 |",
    ]
    assert "time/step" not in report.method_table(
        {"equal": "multi"}, ["acc_a"], BASELINES, BETTER, {}
    )


def test_verdict_table_hand_worked(results):
    methods = {"equal": "multi", "same": "same", "strong": "strong", "one": "one-seed"}
    fam = report.Family("table")
    labels = fam.compare_methods(methods, "equal", ["acc_a"], BASELINES, BETTER)
    assert len(labels) == 4 and fam.size == 4  # (same, strong) x (acc_a, Δm); one seed: none
    table, counts = report.verdict_table(fam, methods, "equal", {"acc_a": 100})
    assert counts == {
        "no detectable difference from equal": 1,
        "differs from equal": 1,
        "one seed: no verdict": 1,
    }
    lines = table.splitlines()
    assert lines[0] == "| method | seeds | acc_a | Δm | verdict |"
    # identical seeds: every difference is exactly 0, p = 1
    assert lines[2] == (
        "| same | 2 | +0.00 (+0.00, +0.00) | +0.00 (+0.00, +0.00) | no detectable difference from equal |"
    )
    # acc_a: 10.0 - 0.7 = 10.2 - 0.9 = 9.3 on both seeds: no spread, so p = 0. Δm per seed
    # against the baseline means (acc_a 0.7, err_b 2.0): strong (6.393, 7.036) minus multi
    # (-0.25, 0.393) = 6.643 on both seeds
    assert lines[3] == (
        "| strong | 2 | +930.00 (+930.00, +930.00) | +664.29 (+664.29, +664.29) "
        "| better on acc_a; better on Δm |"
    )
    assert lines[4] == "| one | 1 | – | – | one seed: no verdict |"


def test_compare_metrics_pairs_seeds_hand_worked(results):
    fam = report.Family("pairs")
    fam.compare_metrics(
        "noisy",
        "multi",
        ["acc_a", "err_b", "dm"],
        {"acc_a": True, "err_b": False},
        {"dm": lambda n: report.seed_delta_m(n, BASELINES, BETTER)},
    )
    with pytest.raises(ValueError, match="share 1 recorded seed"):
        fam.compare_metrics("one-seed", "multi", ["acc_a"], BETTER)
    out = fam.results("noisy", "multi", ["acc_a", "err_b", "dm"])
    # acc_a differences 0.1 and 0.3: mean 0.2, sd 0.1414, se 0.1, t = 2 on 1 df
    a = out["acc_a"]
    assert (a.n, a.metric, a.model, a.reference) == (2, "acc_a", "noisy", "multi")
    assert a.diff == pytest.approx(0.2)
    half = stats.t.ppf(0.975, df=1) * 0.1  # 12.706 * 0.1
    assert (a.ci_low, a.ci_high) == (pytest.approx(0.2 - half), pytest.approx(0.2 + half))
    assert a.p_value == pytest.approx(2 * stats.t.sf(2.0, df=1))  # 0.295
    assert a.verdict == "no detectable difference"
    assert out["err_b"].diff == 0.0 and out["err_b"].p_value == 1.0
    # dm has no direction: a difference would read "higher"/"lower"; here it is not detectable
    assert out["dm"].verdict == "no detectable difference" and fam.size == 3
    formats = {"acc_a": (100, 1), "err_b": (1, 2)}
    assert (
        report.describe("accuracy", a, formats)
        == "accuracy +20.0 (95 % CI -107.1 to +147.1; no detectable difference)"
    )
    table = report.comparison_table([a, out["err_b"]], formats).splitlines()
    assert table[0] == (
        "| model | reference | metric | paired seeds | difference | 95 % CI | Holm p | verdict |"
    )
    # Holm over the 3: dm's differences (0.071, 0.214) also give t = 2, so p = (0.295, 1, 0.295)
    # -> the smallest is multiplied by 3: 0.886
    assert a.p_holm == pytest.approx(3 * a.p_value)
    assert (
        table[2]
        == "| noisy | multi | acc_a | 2 | +20.0 | -107.1 to +147.1 | 0.89 | no detectable difference |"
    )
    assert report.effect(out, ["acc_a", "err_b"]) == "no evidence either way"


def test_direction_free_metrics_read_higher_or_lower():
    fam = report.Family("kl")
    fam.compare("kl", [2.0, 3.1, 4.0, 5.2], [1.0, 2.0, 3.1, 4.0], higher_is_better=None)
    assert fam.verdict("kl").verdict == "higher"


def test_effect_words():
    fam = report.Family("words")
    up, flat = [1.0, 2.0, 3.0, 4.0], [0.0, 1.1, 1.9, 3.0]  # +1.0 +- 0.08 on 4 seeds
    fam.compare("up", up, flat, True)
    fam.compare("down", up, flat, False)
    fam.compare("null", [1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0], True)
    v = {k: fam.verdict(k) for k in ("up", "down", "null")}
    assert [v[k].verdict for k in ("up", "down", "null")] == [
        "better",
        "worse",
        "no detectable difference",
    ]
    assert report.effect(v, ["down"]) == "hurt"
    assert report.effect(v, ["up", "down"]) == "mixed"
    assert report.effect(v, ["down", "null"]) == "hurt on part of its metrics"
    assert report.effect(v, ["null"]) == "no evidence either way"


def test_trend():
    assert report.trend([1.0, 2.0, 3.0]) == "rises"
    assert report.trend([3.0, 2.0, 1.0]) == "falls"
    assert report.trend([1.0, 1.0, 2.0]) == "is not monotonic"


def test_compare_to_zero_is_a_one_sample_t_test():
    fam = report.Family("zero")
    fam.compare_to_zero("dm", [1.0, 2.0, 3.0], higher_is_better=True)
    v = fam.verdict("dm")
    assert v.p_value == pytest.approx(stats.ttest_1samp([1.0, 2.0, 3.0], 0.0).pvalue)
    assert v.verdict == "no detectable difference"  # t = 3.46 on 2 df: p = 0.074


def test_book_file(tmp_path):
    (tmp_path / "book" / "bench").mkdir(parents=True)
    (tmp_path / "book" / "bench" / "x.json").write_text("{}")
    (tmp_path / "notebooks").mkdir()
    found = tmp_path / "book" / "bench" / "x.json"
    assert report.book_file("bench/x.json", start=tmp_path / "notebooks") == found
    assert report.book_file("bench/x.json", start=tmp_path) == found
    assert report.book_file("bench/no-such-file.json", start=tmp_path) is None


def test_markdown_table_cells():
    table = report.markdown_table(
        [{"a": (0.5, 0.1, 3), "b": (0.5, 0.0, 1), "n": 7, "s": "text", "x": 0.123456}],
        ["a", "b", "n", "s", "x", "missing"],
        {"a": (100, 1), "b": (100, 1)},
    )
    assert table.splitlines()[2] == "| 50.0 ± 10.0 | 50.0 | 7 | text | 0.123 | – |"
