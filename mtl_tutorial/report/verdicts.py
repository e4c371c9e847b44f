"""Words over verdicts: what several paired verdicts say together, and which way a series goes.

The verdicts themselves come from :class:`~mtl_tutorial.report.family.Family` (paired t
intervals over matched seeds, Holm over the notebook's family). The two-standard-error
rule of earlier versions is gone: with 3 unpaired seeds it declared differences far more
often than its nominal 5 % (issue #17).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np

__all__ = ["effect", "trend"]


class _HasVerdict(Protocol):
    @property
    def verdict(self) -> str: ...


def effect(results: Mapping[str, _HasVerdict], metrics: Sequence[str]) -> str:
    """What the verdicts on ``metrics`` say together: helped, hurt, mixed or no evidence.

    >>> from mtl_tutorial.report import Family
    >>> fam = Family("demo")
    >>> _ = fam.compare("a", [1.0, 2.0, 3.0, 4.0], [0.0, 1.1, 1.9, 3.0], higher_is_better=True)
    >>> _ = fam.compare("b", [1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0], higher_is_better=True)
    >>> effect({"a": fam.verdict("a"), "b": fam.verdict("b")}, ["a", "b"])
    'helped on part of its metrics'
    """
    verdicts = {results[m].verdict for m in metrics}
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
