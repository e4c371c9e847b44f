"""Tables and numbers for the book, read from the shipped manifest and checkpoints.

Nothing here trains or hard-codes a result: every value comes from
``mtl_tutorial/weights/manifest.json`` (all recorded seeds) or from the metadata saved in a
shipped checkpoint (the per-epoch history of the shipped seed).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from . import pretrained
from .checkpoint import read_checkpoint
from .metrics import delta_m

__all__ = [
    "Comparison",
    "compare_seeds",
    "delta_m_of_means",
    "history",
    "markdown_table",
    "mean_std",
    "provenance",
    "run_info",
]


def history(name: str) -> list[dict[str, float]]:
    """Per-epoch history (train losses, test metrics) saved with the shipped weights of ``name``."""
    return read_checkpoint(pretrained.weights_path(name))["meta"]["history"]


def mean_std(name: str, metric: str) -> tuple[float, float, int]:
    """Mean, standard deviation and number of seeds of ``metric`` for ``name``."""
    stats = pretrained.seed_statistics(name)
    if metric not in stats:
        raise KeyError(f"{name} has no recorded metric {metric!r}; it has {sorted(stats)}")
    return stats[metric]


class Comparison(NamedTuple):
    """``a`` minus ``b`` over seeds: see :func:`compare_seeds`."""

    diff: float  # difference of the seed means
    se: float  # its standard error (nan with fewer than two seeds on a side)
    verdict: str  # better, worse, higher, lower, indistinguishable or too few seeds


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
    if abs(diff) <= 2 * se:
        verdict = "indistinguishable"
    elif higher_is_better is None:
        verdict = "higher" if diff > 0 else "lower"
    else:
        verdict = "better" if (diff > 0) == higher_is_better else "worse"
    return Comparison(diff, se, verdict)


def delta_m_of_means(
    name: str, baselines: Mapping[str, str], higher_is_better: Mapping[str, bool]
) -> float:
    """Δm of the seed-mean metrics of ``name`` against the seed-mean metrics of its baselines.

    ``baselines`` maps each metric to the single-task experiment that provides it.
    """
    model = {m: mean_std(name, m)[0] for m in baselines}
    base = {m: mean_std(b, m)[0] for m, b in baselines.items()}
    return delta_m(model, base, higher_is_better)


def run_info(name: str) -> dict[str, object]:
    """Seeds, epochs, device and mean wall time of the recorded runs of ``name``."""
    runs = pretrained.manifest()[name]["runs"]
    return {
        "seeds": [r["seed"] for r in runs],
        "epochs": sorted({r["epochs"] for r in runs}),
        "device": sorted({r["device"] for r in runs}),
        "wall_time_s": sum(r["wall_time_s"] for r in runs) / len(runs),
    }


def provenance(names: Sequence[str]) -> str:
    """One Markdown sentence saying how the runs behind a table were trained.

    It names the training budget (``cpu`` or ``gpu``, see ``python -m mtl_tutorial
    reproduce``), the devices, the epochs and the seeds of every recorded run of ``names``.
    Runs recorded before budgets existed were all trained under today's ``cpu`` budget.
    """
    runs = [r for name in names for r in pretrained.manifest()[name]["runs"]]
    budgets = sorted({r.get("budget", "cpu") for r in runs})
    devices = sorted({r["device"] for r in runs})
    epochs = sorted({r["epochs"] for r in runs})
    seeds = sorted({len(pretrained.manifest()[n]["runs"]) for n in names})
    return (
        f"*Trained under the {' and '.join(f'`{b}`' for b in budgets)} budget "
        f"({', '.join(map(str, epochs))} epochs) on {', '.join(devices)}; "
        f"{' or '.join(map(str, seeds))} seed{'s' if seeds != [1] else ''} per experiment, "
        f"{len(runs)} runs in all.*"
    )


def _cell(value: float | tuple[float, float, int] | str | None, scale: float, digits: int) -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    if isinstance(value, tuple):
        mean, std, n = value
        return (
            f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}"
            if n > 1
            else f"{mean * scale:.{digits}f}"
        )
    return f"{value * scale:.{digits}f}"


def markdown_table(
    rows: Sequence[Mapping[str, object]],
    columns: Sequence[str],
    formats: Mapping[str, tuple[float, int]] | None = None,
) -> str:
    """Render rows as a Markdown table; tuples ``(mean, std, n)`` print as ``mean ± std``.

    ``formats`` maps a column to ``(scale, digits)``, e.g. ``{"acc_left": (100, 2)}`` for percent.
    """
    formats = formats or {}
    lines = ["| " + " | ".join(columns) + " |", "| " + " | ".join("---" for _ in columns) + " |"]
    for row in rows:
        cells = []
        for c in columns:
            scale, digits = formats.get(c, (1.0, 3))
            value = row.get(c)
            cells.append(_cell(value, scale, digits) if not isinstance(value, int) else str(value))  # type: ignore[arg-type]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
