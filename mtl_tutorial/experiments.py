"""The experiment registry shared by every chapter.

A chapter describes each of its experiments with an :class:`Experiment` and calls
:func:`register`. The command line (``train``, ``evaluate``, ``list``) and
:func:`mtl_tutorial.pretrained.load` only talk to this registry, so adding an
experiment never touches the CLI.
"""

from __future__ import annotations

import difflib
import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ["Experiment", "RunResult", "TrainConfig", "all_experiments", "get", "register", "run"]

#: Modules that register experiments when imported; each chapter appends its own.
EXPERIMENT_MODULES: tuple[str, ...] = (
    "mtl_tutorial.recipes.sharing",
    "mtl_tutorial.recipes.weighting",
    "mtl_tutorial.recipes.genseg",
    "mtl_tutorial.recipes.mtcgan",
)


@dataclass(frozen=True)
class TrainConfig:
    """What the ``train`` command passes to an experiment."""

    seed: int = 0
    epochs: int | None = None  # None: the experiment's default
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    quick: bool = False  # a few batches, for smoke tests and demos
    out_dir: Path = Path("runs")


@dataclass
class RunResult:
    """What an experiment's ``train`` returns: the trained model, test metrics and history."""

    model: nn.Module
    metrics: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    epochs: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Experiment:
    """One named, reproducible experiment.

    ``build_model`` returns an untrained model with the shipped architecture;
    ``train`` trains it under a :class:`TrainConfig`; ``evaluate`` returns the metrics
    (keys listed in ``metrics``) of a model on the test split.
    """

    name: str
    chapter: str
    description: str
    build_model: Callable[[], nn.Module]
    train: Callable[[TrainConfig], RunResult]
    evaluate: Callable[[nn.Module, torch.device], dict[str, float]]
    metrics: tuple[str, ...] = ()
    default_epochs: int = 10


_REGISTRY: dict[str, Experiment] = {}
_loaded = False


def register(experiment: Experiment) -> Experiment:
    """Add ``experiment`` to the registry; a second experiment with the same name is an error."""
    if experiment.name in _REGISTRY and _REGISTRY[experiment.name] is not experiment:
        raise ValueError(f"experiment {experiment.name!r} is already registered")
    _REGISTRY[experiment.name] = experiment
    return experiment


def _load_modules() -> None:
    global _loaded
    if not _loaded:
        for module in EXPERIMENT_MODULES:
            importlib.import_module(module)
        _loaded = True


def all_experiments() -> list[Experiment]:
    """Every registered experiment, sorted by chapter and name."""
    _load_modules()
    return sorted(_REGISTRY.values(), key=lambda e: (e.chapter, e.name))


def get(name: str) -> Experiment:
    """Return the experiment called ``name``; unknown names raise a ``KeyError`` with suggestions."""
    _load_modules()
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        known = ", ".join(sorted(_REGISTRY)) or "(none registered yet)"
        raise KeyError(
            f"unknown experiment {name!r}.{hint} Known experiments: {known}. "
            "Run `python -m mtl_tutorial list` to see them."
        )
    return _REGISTRY[name]


def run(name: str, config: TrainConfig | None = None) -> tuple[RunResult, Path]:
    """Train experiment ``name`` under ``config`` and save ``<out_dir>/<name>/seed<seed>.pt``.

    Seeds every random generator first, measures the wall time and stores everything the
    manifest needs (seed, epochs, device, wall time, metrics, history) in the checkpoint.
    This is what ``python -m mtl_tutorial train`` and the notebooks' ``RETRAIN`` switch call.
    """
    from .checkpoint import save_checkpoint
    from .utils import describe_device, seed_everything

    exp = get(name)
    config = config or TrainConfig()
    seed_everything(config.seed)
    start = time.perf_counter()
    result = exp.train(config)
    wall = time.perf_counter() - start
    meta = {
        "experiment": exp.name,
        "seed": config.seed,
        "epochs": result.epochs,
        "quick": config.quick,
        "device": describe_device(config.device),
        "wall_time_s": round(wall, 1),
        "torch_version": torch.__version__.split("+")[0],
        "metrics": result.metrics,
        "history": result.history,
        **result.extra,
    }
    path = save_checkpoint(
        Path(config.out_dir) / exp.name / f"seed{config.seed}.pt", result.model, meta
    )
    return result, path
