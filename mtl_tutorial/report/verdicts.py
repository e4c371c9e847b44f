"""Verdicts over seeds: the two-standard-error rule and the words the notebooks build on it."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

import numpy as np

from .results import seed_values

__all__ = [
    "Comparison",
    "MetricComparison",
    "compare",
    "compare_seeds",
    "compare_to",
    "effect",
    "trend",
]


class Comparison(NamedTuple):
    """``a`` minus ``b`` over seeds: see :func:`compare_seeds`."""

    diff: float  # difference of the seed means
    se: float  # its standard error (nan with fewer than two seeds on a side)
    verdict: str  # better, worse, higher, lower, indistinguishable or too few seeds


def _verdict(diff: float, se: float, higher_is_better: bool | None) -> str:
    if abs(diff) <= 2 * se:
        return "indistinguishable"
    if higher_is_better is None:
        return "higher" if diff > 0 else "lower"
    return "better" if (diff > 0) == higher_is_better else "worse"


def compare_seeds(
    a: Sequence[float], b: Sequence[float], higher_is_better: bool | None = None
) -> Comparison:
    """Compare the seeds of one model (``a``) with those of a reference (``b``).

    The difference of the means counts only when it is more than two standard errors
    from zero, with ``se = sqrt(var_a / n_a + var_b / n_b)`` (sample variances). Then the
    verdict is "better" or "worse" (or "higher"/"lower" when ``higher_is_better`` is None);
    otherwise "indistinguishable", which means no evidence of a difference, not proof of
    equality. With fewer than two seeds on either side there is no verdict.

    >>> compare_seeds([1.0, 2.0, 3.0], [0.0, 0.0, 0.0], higher_is_better=True).verdict
    'better'
    """
    if len(a) == 0 or len(b) == 0:  # len(), not truthiness: numpy arrays are welcome
        raise ValueError("compare_seeds needs at least one value on each side")
    diff = statistics.fmean(a) - statistics.fmean(b)
    if len(a) < 2 or len(b) < 2:
        return Comparison(diff, math.nan, "too few seeds")
    se = math.sqrt(statistics.variance(a) / len(a) + statistics.variance(b) / len(b))
    return Comparison(diff, se, _verdict(diff, se, higher_is_better))


def compare_to(
    a: Sequence[float], value: float, higher_is_better: bool | None = None
) -> Comparison:
    """Compare the seeds ``a`` with a fixed ``value`` (no spread), e.g. a Δm with 0.

    The same two-standard-error rule as :func:`compare_seeds`, with ``se = std(a) / sqrt(n)``.

    >>> compare_to([1.0, 2.0, 3.0], 0.0, higher_is_better=True)
    Comparison(diff=2.0, se=0.5773502691896257, verdict='better')
    """
    if len(a) == 0:
        raise ValueError("compare_to needs at least one value")
    diff = statistics.fmean(a) - value
    if len(a) < 2:
        return Comparison(diff, math.nan, "too few seeds")
    se = math.sqrt(statistics.variance(a) / len(a))
    return Comparison(diff, se, _verdict(diff, se, higher_is_better))


class MetricComparison(NamedTuple):
    """One metric of ``model`` against ``reference``, by :func:`compare_seeds`."""

    metric: str
    model: str
    reference: str
    seeds: tuple[int, int]  # seeds of the model, of the reference
    diff: float
    se: float
    verdict: str


def compare(
    name: str,
    reference: str,
    metrics: Sequence[str],
    higher_is_better: Mapping[str, bool | None],
    derived: Mapping[str, Callable[[str], Sequence[float]]] | None = None,
) -> dict[str, MetricComparison]:
    """``name`` minus ``reference`` on each metric, keyed by metric.

    A metric reads :func:`seed_values` unless ``derived`` maps it to a function from an
    experiment to its per-seed values (e.g. a per-seed Δm). A metric missing from
    ``higher_is_better`` gets "higher"/"lower" instead of "better"/"worse".
    """
    out = {}
    for m in metrics:
        values = (derived or {}).get(m, lambda n, m=m: seed_values(n, m))
        a, b = values(name), values(reference)
        c = compare_seeds(a, b, higher_is_better.get(m))
        out[m] = MetricComparison(m, name, reference, (len(a), len(b)), c.diff, c.se, c.verdict)
    return out


def effect(results: Mapping[str, MetricComparison | Comparison], metrics: Sequence[str]) -> str:
    """What the verdicts on ``metrics`` say together: helped, hurt, mixed or no evidence.

    >>> effect({"a": Comparison(1.0, 0.1, "better"), "b": Comparison(0.0, 1.0, "indistinguishable")},
    ...        ["a", "b"])
    'helped on part of its metrics'
    """
    verdicts = {results[m].verdict for m in metrics}
    if any(v.startswith("too few") for v in verdicts):
        return "no verdict (too few seeds)"
    if verdicts == {"better"}:
        return "helped"
    if verdicts == {"worse"}:
        return "hurt"
    if "better" in verdicts and "worse" in verdicts:
        return "mixed"
    if "better" in verdicts:
        return "helped on part of its metrics"
    if "worse" in verdicts:
        return "hurt on part of its metrics"
    return "no evidence either way"


def trend(values: Sequence[float]) -> str:
    """Say "rises" or "falls" if every step goes that way, else "is not monotonic".

    >>> trend([3.0, 2.0, 1.0]), trend([1.0, 3.0, 2.0])
    ('falls', 'is not monotonic')
    """
    steps = np.sign(np.diff(values))
    return "rises" if (steps > 0).all() else "falls" if (steps < 0).all() else "is not monotonic"
