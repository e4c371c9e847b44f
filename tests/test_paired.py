"""Paired t intervals and Holm's correction, against hand-worked cases."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from mtl_tutorial.report import holm, paired_comparison, paired_verdicts


def test_paired_interval_hand_worked():
    # differences 1, 2, 3: mean 2, sd 1, se 1/sqrt(3); t(0.975, 2) = 4.302653
    c = paired_comparison([1.0, 2.0, 3.0], [0.0, 0.0, 0.0])
    half = 4.302653 / math.sqrt(3)
    assert c.n == 3 and c.mean_diff == pytest.approx(2.0)
    assert c.ci_low == pytest.approx(2.0 - half, abs=1e-6)
    assert c.ci_high == pytest.approx(2.0 + half, abs=1e-6)
    # t = 2 / (1/sqrt 3) = 3.4641, two-sided p with 2 df
    assert c.p_value == pytest.approx(2 * stats.t.sf(2 * math.sqrt(3), 2))
    assert c.p_value == pytest.approx(0.0741799, abs=1e-6)


def test_pairing_removes_the_shared_seed_effect():
    # seed effects +-5 shared by both arms: the unpaired spread hides a constant +1 gain
    a = [11.0, 6.0, 1.0, 7.0]
    b = [10.0, 5.0, 0.0, 6.0]
    c = paired_comparison([x + 1e-3 * i for i, x in enumerate(a)], b)
    assert c.ci_low > 0.9 and c.ci_high < 1.1 and c.p_value < 1e-4


def test_paired_comparison_is_antisymmetric_and_checks_its_input():
    ab = paired_comparison([1.0, 2.5, 2.0], [0.5, 1.0, 1.9])
    ba = paired_comparison([0.5, 1.0, 1.9], [1.0, 2.5, 2.0])
    assert ab.mean_diff == pytest.approx(-ba.mean_diff)
    assert (ab.ci_low, ab.ci_high) == pytest.approx((-ba.ci_high, -ba.ci_low))
    assert ab.p_value == pytest.approx(ba.p_value)
    with pytest.raises(ValueError, match="one per seed on each side"):
        paired_comparison([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="at least 2 matched seeds"):
        paired_comparison([1.0], [0.0])


def test_holm_hand_worked():
    # sorted: 0.01 x 3 = 0.03; 0.03 x 2 = 0.06; 0.04 x 1 = 0.04 -> kept at 0.06 (monotone)
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm([0.02]) == pytest.approx([0.02])  # one test: no correction


def test_verdicts_use_the_corrected_family():
    strong = paired_comparison([2.0, 2.1, 1.9, 2.05, 1.95], [0.0] * 5)  # p ~ 1e-6
    weak = paired_comparison([0.3, -0.1, 0.4], [0.0] * 3)
    worse = paired_comparison([0.0] * 5, [2.0, 2.1, 1.9, 2.05, 1.95])
    verdicts = paired_verdicts([strong, weak, worse], [True, True, True])
    assert verdicts == ["better", "no detectable difference", "worse"]
    assert paired_verdicts([strong], [False]) == ["worse"]  # lower is better: a rise is worse
    # alone, p = 0.026 passes; in a family of three (x 3 = 0.079) it does not
    borderline = paired_comparison([1.0, 0.3, 0.7, 1.2], [0.0, 0.0, 0.0, 0.0])  # p = 0.026
    assert 0.05 / 3 < borderline.p_value < 0.05
    null = paired_comparison([0.1, -0.1, 0.2], [0.0, 0.0, 0.1])
    assert paired_verdicts([borderline], [True]) == ["better"]
    family = paired_verdicts([borderline, null, null], [True, True, True])
    assert family[0] == "no detectable difference"
