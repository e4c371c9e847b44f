"""The two-standard-error rule that every results notebook uses for its verdicts."""

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
    assert doctest.testmod(report).failed == 0


def test_compare_seeds_takes_numpy_arrays():
    import numpy as np

    assert compare_seeds(np.array([1.0, 2.0, 3.0]), np.zeros(3), True) == compare_seeds(
        [1.0, 2.0, 3.0], [0.0, 0.0, 0.0], True
    )
    with pytest.raises(ValueError, match="at least one value"):
        compare_seeds(np.array([]), np.array([1.0]))
