"""The results API of the notebooks: per-seed values, Δm, verdicts (the two-standard-error
rule) and tables, with hand-worked values on a tiny manifest."""

from __future__ import annotations

import doctest
import math

import pytest

from mtl_tutorial import report
from mtl_tutorial.report import compare_seeds


def test_compare_seeds_hand_worked():
    # diff = 2, se = sqrt(1/3 + 0) = 0.577..., 2 se = 1.155 < 2
    c = compare_seeds([1.0, 2.0, 3.0], [0.0, 0.0, 0.0], higher_is_better=True)
    assert c.diff == pytest.approx(2.0)
    assert c.se == pytest.approx(math.sqrt(1 / 3))
    assert c.verdict == "better"
    assert (
        compare_seeds([1.0, 2.0, 3.0], [0.0, 0.0, 0.0], higher_is_better=False).verdict == "worse"
    )
    assert compare_seeds([1.0, 2.0, 3.0], [0.0, 0.0, 0.0]).verdict == "higher"
    assert compare_seeds([0.0, 0.0, 0.0], [1.0, 2.0, 3.0]).verdict == "lower"


def test_compare_seeds_within_two_standard_errors_is_indistinguishable():
    # diff = 1 and se = 0.577: 1 < 1.155
    assert compare_seeds([1.0, 2.0, 3.0], [1.0, 1.0, 1.0], True).verdict == "indistinguishable"
    # exactly two standard errors away still does not count: a = (0, 2), b = (0, 0)
    # diff = 1, se = sqrt(2 / 2) = 1 -> |diff| = 1 <= 2
    assert compare_seeds([0.0, 2.0], [0.0, 0.0], True).verdict == "indistinguishable"


def test_compare_seeds_is_antisymmetric():
    a, b = [0.9, 0.95, 0.93], [0.8, 0.82, 0.79]
    ab, ba = compare_seeds(a, b, True), compare_seeds(b, a, True)
    assert ab.diff == pytest.approx(-ba.diff) and ab.se == pytest.approx(ba.se)
    assert {ab.verdict, ba.verdict} == {"better", "worse"}


def test_compare_seeds_needs_two_seeds_for_a_verdict():
    c = compare_seeds([1.0], [0.0, 0.1], True)
    assert c.verdict == "too few seeds" and math.isnan(c.se) and c.diff == pytest.approx(0.95)
    with pytest.raises(ValueError, match="at least one value"):
        compare_seeds([], [1.0])


def test_report_docstring_examples_run():
    for module in (report.results, report.verdicts, report.tables):
        assert doctest.testmod(module).failed == 0


def test_compare_seeds_takes_numpy_arrays():
    import numpy as np

    assert compare_seeds(np.array([1.0, 2.0, 3.0]), np.zeros(3), True) == compare_seeds(
        [1.0, 2.0, 3.0], [0.0, 0.0, 0.0], True
    )
    with pytest.raises(ValueError, match="at least one value"):
        compare_seeds(np.array([]), np.array([1.0]))


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
    methods = {
        "equal": "multi",
        "same": "same",
        "strong": "strong",
        "one": "one-seed",
        "untrained": "nothing",
    }
    table, counts = report.verdict_table(methods, "equal", {"acc_a": 100}, BASELINES, BETTER)
    assert counts == {
        "indistinguishable from equal": 1,
        "differs from equal": 1,
        "one seed: no verdict": 1,
    }
    lines = table.splitlines()
    assert lines[0] == "| method | seeds | acc_a | Δm | verdict |"
    assert lines[2] == "| same | 2 | +0.00 ± 14.14 | +0.00 ± 45.46 | indistinguishable from equal |"
    # acc_a: 10.1 - 0.8 = 9.3, se = sqrt(0.02 / 2 + 0.02 / 2) = 0.1414
    assert lines[3].startswith("| strong | 2 | +930.00 ± 14.14 |")
    assert lines[3].endswith("| better on acc_a; better on Δm |")
    # one seed: differences without a standard error; Δm (0.5 - 0.7) / 0.7 / 2 - 1 / 14
    assert lines[4] == "| one | 1 | -30.00 | -21.43 | one seed: no verdict |"


def test_compare_by_metric_and_derived_values(results):
    out = report.compare(
        "strong",
        "multi",
        ["acc_a", "err_b", "dm"],
        BETTER,
        {"dm": lambda n: report.seed_delta_m(n, BASELINES, BETTER)},
    )
    assert list(out) == ["acc_a", "err_b", "dm"]
    assert out["acc_a"].seeds == (2, 2) and out["acc_a"].diff == pytest.approx(9.3)
    assert out["acc_a"].verdict == "better" and out["err_b"].verdict == "indistinguishable"
    assert out["dm"].verdict == "higher"  # not in higher_is_better: no better or worse
    assert report.effect(out, ["acc_a"]) == "helped"
    assert report.effect(out, ["acc_a", "err_b"]) == "helped on part of its metrics"
    one = report.compare("one-seed", "multi", ["acc_a"], BETTER)
    assert report.effect(one, ["acc_a"]) == "no verdict (too few seeds)"
    formats = {"acc_a": (100, 1), "err_b": (1, 2)}
    assert report.describe("accuracy", out["acc_a"], formats) == "accuracy +930.0 ± 14.1 (better)"
    table = report.comparison_table([*out.values()][:2] + [one["acc_a"]], formats).splitlines()
    assert (
        table[0] == "| model | reference | metric | seeds | difference | standard error | verdict |"
    )
    assert table[2] == "| strong | multi | acc_a | 2 vs 2 | +930.0 | 14.1 | better |"
    assert table[4] == "| one-seed | multi | acc_a | 1 vs 2 | -30.0 | – | too few seeds |"


def test_effect_words():
    def verdicts(*vs):
        return {str(i): report.Comparison(0.0, 0.0, v) for i, v in enumerate(vs)}

    assert report.effect(verdicts("worse", "worse"), ["0", "1"]) == "hurt"
    assert report.effect(verdicts("better", "worse"), ["0", "1"]) == "mixed"
    assert (
        report.effect(verdicts("worse", "indistinguishable"), ["0", "1"])
        == "hurt on part of its metrics"
    )
    assert report.effect(verdicts("indistinguishable"), ["0"]) == "no evidence either way"


def test_trend():
    assert report.trend([1.0, 2.0, 3.0]) == "rises"
    assert report.trend([3.0, 2.0, 1.0]) == "falls"
    assert report.trend([1.0, 1.0, 2.0]) == "is not monotonic"


def test_compare_to_a_fixed_value():
    c = report.compare_to([1.0, 2.0, 3.0], 0.0, higher_is_better=True)
    assert (c.diff, c.verdict) == (2.0, "better") and c.se == pytest.approx(math.sqrt(1 / 3))
    # it is compare_seeds against a reference without spread
    assert c == compare_seeds([1.0, 2.0, 3.0], [0.0, 0.0], True)
    assert report.compare_to([0.1, -0.1, 0.3], 0.0, True).verdict == "indistinguishable"
    assert report.compare_to([-3.0, -2.0, -1.0], 0.0, True).verdict == "worse"
    assert report.compare_to([1.0], 0.0).verdict == "too few seeds"
    with pytest.raises(ValueError, match="at least one value"):
        report.compare_to([], 0.0)


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
