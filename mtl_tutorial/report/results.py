"""The recorded results of an experiment, read from the manifest and the shipped checkpoint.

Every number comes from ``mtl_tutorial/weights/manifest.json`` (all recorded seeds) or from
the metadata saved in a shipped checkpoint (the per-epoch history and the configuration of
the shipped seed); nothing here trains or hard-codes a result. Per-seed lists are ordered
by seed, so the i-th values of two experiments come from the same seed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from .. import store
from ..checkpoint import read_checkpoint
from ..metrics import delta_m
from ..provenance import run_budget
from ..tasks import Task

__all__ = [
    "Shipped",
    "book_file",
    "delta_m_of_means",
    "final_values",
    "has_results",
    "higher_is_better",
    "history",
    "mean_std",
    "metric_names",
    "metrics",
    "provenance",
    "run_info",
    "run_metrics",
    "seed_delta_m",
    "seed_values",
    "seed_history",
    "seeds",
    "shipped",
    "training_config",
    "unrecorded",
]


class Shipped(NamedTuple):
    """The run behind the shipped weights of an experiment."""

    seed: int
    epochs: int
    device: str
    metrics: dict[str, float]


def _runs(name: str) -> list[dict[str, Any]]:
    entries = store.manifest()
    if name not in entries:
        raise KeyError(f"no results recorded for {name!r}; train it with --record or --ship")
    return sorted(entries[name].get("runs", []), key=lambda r: r["seed"])


def has_results(name: str) -> bool:
    """Whether the manifest records any result for ``name``."""
    return name in store.manifest()


def unrecorded(names: Iterable[str]) -> list[str]:
    """The ``names`` that the manifest does not record (in their order)."""
    return [name for name in names if not has_results(name)]


def seeds(name: str) -> list[int]:
    """The recorded seeds of ``name``, in increasing order."""
    return [r["seed"] for r in _runs(name)]


def seed_values(name: str, metric: str) -> list[float]:
    """``metric`` of every recorded seed of ``name``, ordered by seed."""
    runs = _runs(name)
    lacking = [r["seed"] for r in runs if metric not in r["metrics"]]
    if lacking:
        raise KeyError(f"{name} seeds {lacking} record no metric {metric!r}")
    return [float(r["metrics"][metric]) for r in runs]


def run_metrics(name: str, seed: int) -> dict[str, float]:
    """The test metrics of seed ``seed`` of ``name``."""
    for run in _runs(name):
        if run["seed"] == seed:
            return dict(run["metrics"])
    raise KeyError(f"{name} has no recorded seed {seed}; it has {seeds(name)}")


def seed_history(name: str, seed: int) -> list[dict[str, float]]:
    """Per-epoch history of seed ``seed`` of ``name``: the manifest's, or for the shipped seed
    of a run recorded before the manifest kept histories, the one in the shipped checkpoint."""
    try:
        return store.run_history(name, seed)
    except KeyError:
        if seed != shipped(name).seed:
            raise
        return history(name)


def final_values(name: str, key: str) -> list[float]:
    """``key`` of the last history row of every recorded seed of ``name``, ordered by seed."""
    return [float(store.run_history(name, seed)[-1][key]) for seed in seeds(name)]


def shipped(name: str) -> Shipped:
    """Seed, epochs, device and test metrics of the run whose weights ship for ``name``."""
    entry = store.manifest()[name]
    return Shipped(entry["seed"], entry["epochs"], entry["device"], dict(entry["metrics"]))


def metrics(name: str) -> dict[str, float]:
    """The test metrics of the shipped weights of ``name``."""
    return shipped(name).metrics


def history(name: str) -> list[dict[str, float]]:
    """Per-epoch history (train losses, test metrics) saved with the shipped weights of ``name``."""
    return read_checkpoint(store.weights_path(name))["meta"]["history"]


def training_config(name: str) -> dict[str, Any]:
    """The training configuration saved with the shipped weights of ``name``."""
    return read_checkpoint(store.weights_path(name))["meta"]["config"]


def metric_names(name: str) -> list[str]:
    """The metrics recorded for ``name`` (by any of its seeds), sorted."""
    return sorted(store.seed_statistics(name))


def mean_std(name: str, metric: str) -> tuple[float, float, int]:
    """Mean, standard deviation and number of seeds of ``metric`` for ``name``."""
    stats = store.seed_statistics(name)
    if metric not in stats:
        raise KeyError(f"{name} has no recorded metric {metric!r}; it has {sorted(stats)}")
    return stats[metric]


def higher_is_better(tasks: Iterable[Task]) -> dict[str, bool]:
    """``{metric name: higher is better}`` of ``tasks``, the third argument of Δm."""
    return {t.metric_name: t.higher_is_better for t in tasks}


def _baseline_means(baselines: Mapping[str, str]) -> dict[str, float]:
    return {m: mean_std(b, m)[0] for m, b in baselines.items()}


def delta_m_of_means(
    name: str, baselines: Mapping[str, str], higher_is_better: Mapping[str, bool]
) -> float:
    """Δm of the seed-mean metrics of ``name`` against the seed-mean metrics of its baselines.

    ``baselines`` maps each metric to the single-task experiment that provides it.
    """
    model = {m: mean_std(name, m)[0] for m in baselines}
    return delta_m(model, _baseline_means(baselines), higher_is_better)


def seed_delta_m(
    name: str, baselines: Mapping[str, str], higher_is_better: Mapping[str, bool]
) -> list[float]:
    """Δm (a fraction) of every recorded seed of ``name``, ordered by seed.

    Each seed is compared with the seed means of the single-task baselines; ``baselines``
    maps each metric to the experiment that provides it, as in :func:`delta_m_of_means`.
    """
    base = _baseline_means(baselines)
    return [delta_m(r["metrics"], base, higher_is_better) for r in _runs(name)]


def run_info(name: str) -> dict[str, object]:
    """Seeds, epochs, device and mean wall time of the recorded runs of ``name``."""
    runs = _runs(name)
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
    runs = [r for name in names for r in _runs(name)]
    budgets = sorted({run_budget(r) for r in runs})
    devices = sorted({r["device"] for r in runs})
    epochs = sorted({r["epochs"] for r in runs})
    counts = sorted({len(_runs(n)) for n in names})
    return (
        f"*Trained under the {' and '.join(f'`{b}`' for b in budgets)} budget "
        f"({', '.join(map(str, epochs))} epochs) on {', '.join(devices)}; "
        f"{' or '.join(map(str, counts))} seed{'s' if counts != [1] else ''} per experiment, "
        f"{len(runs)} runs in all.*"
    )


def book_file(relative: str | Path, start: Path | None = None) -> Path | None:
    """The file ``book/relative`` of the repository, or None if there is none.

    It is looked up from ``start`` (default: the working directory, e.g. ``notebooks/``),
    from its parent, and from the folder above the installed package.
    """
    start = Path.cwd() if start is None else start
    roots = [start.parent, start, Path(__file__).resolve().parents[2]]
    return next((r / "book" / relative for r in roots if (r / "book" / relative).is_file()), None)
