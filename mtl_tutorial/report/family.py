"""A notebook's family of paired comparisons, with Holm's correction over all of them.

A notebook adds every comparison it will state (``compare`` or ``compare_runs``), then
reads the verdicts. Reading the first verdict closes the family, so the Holm correction
always covers exactly the ``m`` comparisons the notebook makes, and the text can say so.

>>> fam = Family("demo")
>>> fam.compare("a vs b", [1.0, 2.0, 3.0], [0.5, 1.4, 2.6], higher_is_better=True)
'a vs b'
>>> fam.compare("c vs d", [1.0, 1.1, 0.9], [1.0, 1.0, 1.0], higher_is_better=True)
'c vs d'
>>> fam.verdict("a vs b").verdict, fam.size
('better', 2)
>>> fam.verdict("c vs d").verdict
'no detectable difference'
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from .paired import holm, paired_comparison
from .results import run_metrics, seed_delta_m, seed_values, seeds

__all__ = ["Family", "Verdict", "matched_seed_values", "seed_map"]

Values = Callable[[str], Sequence[float]]  # experiment -> one value per recorded seed, by seed


@dataclass(frozen=True)
class Verdict:
    """One comparison of a family: the paired interval, both p-values and the verdict."""

    label: str
    n: int  # matched seeds
    mean_diff: float  # mean of the per-seed differences (model minus reference)
    ci_low: float  # 95 % paired t interval of the mean difference
    ci_high: float
    p_value: float  # before the correction
    p_holm: float  # Holm-adjusted over the family
    family_size: int
    verdict: str  # "better", "worse" or "no detectable difference" ("higher"/"lower": no direction)
    metric: str = ""  # set by compare_metrics: what was compared, and between which experiments
    model: str = ""
    reference: str = ""

    @property
    def diff(self) -> float:
        """The mean paired difference (``mean_diff``), the name the tables read."""
        return self.mean_diff

    def describe(self, scale: float = 1.0, unit: str = "", digits: int = 2) -> str:
        """``worse: −0.09 (95 % CI −0.25 to 0.07), Holm p = 0.41 over 48`` (values × ``scale``)."""
        f = f"{{:+.{digits}f}}"
        return (
            f"{self.verdict}: {f.format(self.mean_diff * scale)}{unit} (95 % CI "
            f"{f.format(self.ci_low * scale)} to {f.format(self.ci_high * scale)}{unit}, "
            f"{self.n} paired seeds), Holm p = {self.p_holm:.2g} over {self.family_size} comparisons"
        )


def seed_map(name: str, values: Values | None = None, metric: str = "") -> dict[int, float]:
    """``{seed: value}`` of experiment ``name``: ``metric`` of each recorded seed, or ``values(name)``."""
    got = values(name) if values is not None else seed_values(name, metric)
    recorded = seeds(name)
    if len(got) != len(recorded):
        raise ValueError(f"{name}: {len(got)} values for {len(recorded)} recorded seeds {recorded}")
    return dict(zip(recorded, (float(v) for v in got), strict=True))


def _common_seeds(
    model: str, reference: str, model_seeds: Iterable[int], reference_seeds: Iterable[int]
) -> list[int]:
    """The seeds of both sides, in order; fails, saying what to train, below the 2 a pair needs."""
    common = sorted(set(model_seeds) & set(reference_seeds))
    if len(common) < 2:
        raise ValueError(
            f"{model} and {reference} share {len(common)} recorded seed(s) ({common}); a paired "
            "comparison needs at least 2: train the missing seeds with --record"
        )
    return common


def matched_seed_values(
    model: str, reference: str, metric: str
) -> tuple[list[int], list[float], list[float]]:
    """The seeds both experiments recorded, and ``metric`` of each on those seeds."""
    common = _common_seeds(model, reference, seeds(model), seeds(reference))
    a = [float(run_metrics(model, s)[metric]) for s in common]
    b = [float(run_metrics(reference, s)[metric]) for s in common]
    return common, a, b


class Family:
    """The comparisons of one notebook, corrected together (Holm, level ``alpha``)."""

    def __init__(self, name: str, alpha: float = 0.05):
        self.name = name
        self.alpha = alpha
        self._pairs: dict[str, tuple[Sequence[float], Sequence[float], bool | None]] = {}
        self._meta: dict[str, tuple[str, str, str]] = {}
        self._verdicts: dict[str, Verdict] | None = None

    @property
    def size(self) -> int:
        """How many comparisons the family holds (the ``m`` of the Holm correction)."""
        return len(self._pairs)

    def compare(
        self, label: str, a: Sequence[float], b: Sequence[float], higher_is_better: bool | None
    ) -> str:
        """Add ``a`` minus ``b`` (values of matched seeds, in the same order); returns ``label``.

        ``higher_is_better=None`` (a quantity with no better side, e.g. a KL term) gives the
        verdicts "higher"/"lower" instead of "better"/"worse".
        """
        if self._verdicts is not None:
            raise ValueError(
                f"family {self.name!r} has reported verdicts already; add every comparison "
                f"before reading one (so the correction covers them all), then add {label!r}"
            )
        if label in self._pairs:
            raise ValueError(f"family {self.name!r} already has a comparison {label!r}")
        paired_comparison(a, b)  # fails now, with its message, on unmatched or too few seeds
        self._pairs[label] = (list(a), list(b), higher_is_better)
        return label

    def compare_runs(
        self,
        model: str,
        reference: str,
        metric: str,
        higher_is_better: bool,
        label: str | None = None,
    ) -> str:
        """Add ``metric`` of experiment ``model`` minus ``reference``, on their common seeds."""
        _, a, b = matched_seed_values(model, reference, metric)
        return self.compare(label or f"{model} vs {reference}: {metric}", a, b, higher_is_better)

    def compare_to_zero(self, label: str, values: Sequence[float], higher_is_better: bool) -> str:
        """Add a one-sample comparison of ``values`` with 0 (e.g. a per-seed Δm): the paired
        test against a reference that is exactly 0 on every seed."""
        return self.compare(label, values, [0.0] * len(values), higher_is_better)

    def compare_metrics(
        self,
        model: str,
        reference: str,
        metrics: Sequence[str],
        higher_is_better: Mapping[str, bool | None],
        derived: Mapping[str, Values] | None = None,
    ) -> list[str]:
        """Add ``model`` minus ``reference`` on each metric, over the seeds both recorded.

        A metric reads the manifest unless ``derived`` maps it to a function from an
        experiment to its per-seed values (e.g. a per-seed Δm). Labels are
        ``"<model> vs <reference>: <metric>"``; :meth:`results` reads them back by metric.
        """
        labels = []
        for m in metrics:
            fn = (derived or {}).get(m)
            mine, ref = seed_map(model, fn, m), seed_map(reference, fn, m)
            common = _common_seeds(model, reference, mine, ref)
            label = self.compare(
                f"{model} vs {reference}: {m}",
                [mine[s] for s in common],
                [ref[s] for s in common],
                higher_is_better.get(m),
            )
            self._meta[label] = (m, model, reference)
            labels.append(label)
        return labels

    def compare_methods(
        self,
        methods: Mapping[str, str],
        reference: str,
        metrics: Sequence[str],
        baselines: Mapping[str, str],
        higher_is_better: Mapping[str, bool],
    ) -> list[str]:
        """Add every method (``{method: experiment}``) minus the ``reference`` method, on
        ``metrics`` and on Δm (against ``baselines``), for methods with 2 or more seeds."""
        better = {**higher_is_better, "Δm": True}
        delta = {"Δm": lambda n: seed_delta_m(n, baselines, higher_is_better)}
        labels = []
        for method, name in methods.items():
            if method != reference and len(seeds(name)) >= 2:
                labels += self.compare_metrics(
                    name, methods[reference], [*metrics, "Δm"], better, delta
                )
        return labels

    def results(self, model: str, reference: str, metrics: Sequence[str]) -> dict[str, Verdict]:
        """``{metric: verdict}`` of ``model`` against ``reference`` (closes the family)."""
        return {m: self.verdict(f"{model} vs {reference}: {m}") for m in metrics}

    def _close(self) -> dict[str, Verdict]:
        if self._verdicts is None:
            labels = list(self._pairs)
            tests = [paired_comparison(*self._pairs[k][:2]) for k in labels]
            adjusted = holm([t.p_value for t in tests])
            self._verdicts = {}
            for k, t, p in zip(labels, tests, adjusted, strict=True):
                up = self._pairs[k][2]
                if p >= self.alpha:
                    word = "no detectable difference"
                elif up is None:
                    word = "higher" if t.mean_diff > 0 else "lower"
                else:
                    word = "better" if (t.mean_diff > 0) == up else "worse"
                self._verdicts[k] = Verdict(
                    k,
                    t.n,
                    t.mean_diff,
                    t.ci_low,
                    t.ci_high,
                    t.p_value,
                    p,
                    len(labels),
                    word,
                    *self._meta.get(k, ("", "", "")),
                )
        return self._verdicts

    def verdict(self, label: str) -> Verdict:
        """The verdict of comparison ``label`` (closes the family)."""
        verdicts = self._close()
        if label not in verdicts:
            raise KeyError(
                f"family {self.name!r} has no comparison {label!r}; it has {sorted(verdicts)}"
            )
        return verdicts[label]

    def verdicts(self) -> list[Verdict]:
        """Every verdict, in the order the comparisons were added (closes the family)."""
        return list(self._close().values())
