"""Paired comparisons over seeds: a t interval per comparison and Holm's correction per family.

The training seed fixes both the initialisation stream and the batch order, so seed ``s``
of experiment A and seed ``s`` of experiment B are a matched pair: a hard seed is hard for
both. The paired test works on the per-seed differences ``d_s = a_s - b_s``:

.. math::

    \\bar d \\pm t_{0.975,\\,n-1}\\, \\frac{s_d}{\\sqrt n},
    \\qquad t = \\frac{\\bar d}{s_d / \\sqrt n},

with ``s_d`` the standard deviation of the differences. A family of ``m`` comparisons (one
notebook's verdicts) is corrected with Holm's step-down method: sort the ``m`` p-values,
multiply the ``k``-th smallest by ``m - k + 1``, keep them non-decreasing, cap them at 1.
A comparison is "better" or "worse" only when its Holm-adjusted p-value is below ``alpha``;
otherwise it is "no detectable difference".

>>> c = paired_comparison([1.0, 2.0, 3.0], [0.0, 0.0, 0.0])
>>> round(c.mean_diff, 3), round(c.ci_low, 3), round(c.ci_high, 3)
(2.0, -0.484, 4.484)
>>> holm([0.01, 0.04, 0.03])
[0.03, 0.06, 0.06]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from scipy import stats

__all__ = ["PairedComparison", "holm", "paired_comparison", "paired_verdicts"]


class PairedComparison(NamedTuple):
    """``a`` minus ``b`` over matched seeds (see the module docstring)."""

    n: int  # number of matched seeds
    mean_diff: float  # mean of the per-seed differences
    ci_low: float  # 95 % t interval of the mean difference (level set by ``confidence``)
    ci_high: float
    p_value: float  # two-sided paired t test, before any correction


def paired_comparison(
    a: Sequence[float], b: Sequence[float], confidence: float = 0.95
) -> PairedComparison:
    """The paired t interval and p-value of ``mean(a - b)`` over matched seeds.

    ``a`` and ``b`` are ordered by seed (``report.seed_values`` does this). With fewer
    than two pairs no interval exists: a ``ValueError`` says so.
    """
    if len(a) != len(b):
        raise ValueError(f"paired values need one per seed on each side, got {len(a)} and {len(b)}")
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    n = len(d)
    if n < 2:
        raise ValueError(f"a paired comparison needs at least 2 matched seeds, got {n}")
    mean = float(d.mean())
    se = float(d.std(ddof=1)) / math.sqrt(n)
    if se == 0.0:  # identical differences: the interval is a point
        p = 1.0 if mean == 0.0 else 0.0
        return PairedComparison(n, mean, mean, mean, p)
    half = float(stats.t.ppf(0.5 + confidence / 2, df=n - 1)) * se
    p = float(2 * stats.t.sf(abs(mean) / se, df=n - 1))
    return PairedComparison(n, mean, mean - half, mean + half, p)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the order given (Holm, 1979)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = round(running, 12)
    return adjusted


def paired_verdicts(
    comparisons: Sequence[PairedComparison],
    higher_is_better: Sequence[bool],
    alpha: float = 0.05,
) -> list[str]:
    """One verdict per comparison of a family, after Holm's correction over the whole family.

    "better"/"worse" when the adjusted p-value is below ``alpha`` (the sign of the mean
    difference and ``higher_is_better`` decide which), else "no detectable difference".
    """
    if len(comparisons) != len(higher_is_better):
        raise ValueError("one higher_is_better flag is needed per comparison")
    adjusted = holm([c.p_value for c in comparisons])
    return [
        ("better" if (c.mean_diff > 0) == up else "worse")
        if p < alpha
        else "no detectable difference"
        for c, up, p in zip(comparisons, higher_is_better, adjusted, strict=True)
    ]
