"""The experiment registry: what an experiment is, and how one is trained by name.

A chapter module (:mod:`~mtl_tutorial.experiments.ch2_sharing`, ...) describes each of its
experiments with an :class:`Experiment` and calls :func:`register`. The command line
(``train``, ``evaluate``, ``list``) and :func:`mtl_tutorial.pretrained.load` only talk to
this registry, so adding an experiment never touches the CLI.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import store
from ..checkpoint import save_checkpoint
from ..files import check_writable_dir
from ..utils import describe_device, seed_everything

__all__ = [
    "BUDGETS",
    "MAX_SEED",
    "Experiment",
    "RunResult",
    "TrainConfig",
    "all_experiments",
    "get",
    "register",
    "run",
    "unregister",
]

MAX_SEED = 2**31 - 1  # seeds are also used as seed * 2 + 1 by the data streams
BUDGETS = ("cpu", "gpu")


@dataclass(frozen=True)
class TrainConfig:
    """What the ``train`` command passes to an experiment."""

    seed: int = 0
    epochs: int | None = None  # None: the experiment's default
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    quick: bool = False  # a few batches, for smoke tests and demos
    out_dir: Path = Path("runs")
    budget: str = "cpu"  # "cpu" (default_epochs) or "gpu" (gpu_epochs) when epochs is None
    resume: bool = False  # go on from the run's last saved epoch (experiments with resumable=True)

    def __post_init__(self) -> None:
        if self.epochs is not None and (isinstance(self.epochs, bool) or self.epochs < 1):
            raise ValueError(
                f"epochs must be at least 1 (or None for the default), got {self.epochs}"
            )
        if not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"seed must lie in [0, {MAX_SEED}], got {self.seed}")
        if self.budget not in BUDGETS:
            raise ValueError(f"budget must be one of {BUDGETS}, got {self.budget!r}")


@dataclass
class RunResult:
    """What an experiment's ``train`` returns: the trained model, test metrics and history.

    ``metrics=None`` asks :func:`run` to evaluate the model with the experiment's
    ``evaluate`` *after* the checkpoint is saved, so a failing evaluation loses no training.
    """

    model: nn.Module
    metrics: dict[str, float] | None
    history: list[dict[str, float]] = field(default_factory=list)
    epochs: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Experiment:
    """One named, reproducible experiment.

    ``build_model`` returns an untrained model with the shipped architecture;
    ``train`` trains it under a :class:`TrainConfig`; ``evaluate`` returns the metrics
    (keys listed in ``metrics``) of a model on the test split. ``gpu_epochs`` is the
    longer budget of ``reproduce --budget gpu`` (``None``: the same as ``default_epochs``);
    ``requires`` names the experiments whose shipped results this one's metrics read
    (its Δm baselines, the judge classifier), which must be trained first.
    ``min_epochs``: the fewest epochs a run can have (a staged schedule needs some per stage).
    ``resumable``: ``train`` honours ``TrainConfig.resume`` (the GANs save their whole
    training state after every epoch).
    ``expected_epochs``: where a stopping rule usually ends a gpu-budget run before its
    cap, the epochs it is expected to train (time estimates use it; the cap still holds).
    ``reads_weights_of``: the requirements whose trained weights (not only their recorded
    metrics) this one's evaluation loads: the judges. The Δm baselines' metrics are read
    from the manifest, so their weight files need not be at hand.
    """

    name: str
    chapter: str
    description: str
    build_model: Callable[[], nn.Module]
    train: Callable[[TrainConfig], RunResult]
    evaluate: Callable[[nn.Module, torch.device], dict[str, float]]
    metrics: tuple[str, ...] = ()
    default_epochs: int = 10
    gpu_epochs: int | None = None
    requires: tuple[str, ...] = ()
    min_epochs: int = 1
    resumable: bool = False
    expected_epochs: int | None = None
    reads_weights_of: tuple[str, ...] = ()

    def epochs_for(self, budget: str) -> int:
        """The number of epochs of a run under ``budget`` (``"cpu"`` or ``"gpu"``)."""
        return (self.gpu_epochs or self.default_epochs) if budget == "gpu" else self.default_epochs

    def estimated_epochs(self, budget: str) -> int:
        """The epochs a run under ``budget`` is expected to train: at most its cap."""
        cap = self.epochs_for(budget)
        return min(cap, self.expected_epochs or cap) if budget == "gpu" else cap


_REGISTRY: dict[str, Experiment] = {}


def register(experiment: Experiment) -> Experiment:
    """Add ``experiment`` to the registry; a second experiment with the same name is an error."""
    if experiment.name in _REGISTRY and _REGISTRY[experiment.name] is not experiment:
        raise ValueError(f"experiment {experiment.name!r} is already registered")
    _REGISTRY[experiment.name] = experiment
    return experiment


def unregister(name: str) -> Experiment:
    """Remove experiment ``name`` from the registry and return it (tests register toys)."""
    return _REGISTRY.pop(name)


def all_experiments() -> list[Experiment]:
    """Every registered experiment, sorted by chapter and name."""
    return sorted(_REGISTRY.values(), key=lambda e: (e.chapter, e.name))


def get(name: str) -> Experiment:
    """Return the experiment called ``name``; unknown names raise a ``KeyError`` with suggestions."""
    if name not in _REGISTRY:
        # compare case-insensitively, with "_" as "-": MultiMNIST_Hard finds multimnist-hard
        def norm(text: str) -> str:
            return str(text).strip().lower().replace("_", "-")

        normalised = {norm(known): known for known in _REGISTRY}
        if norm(name) in normalised:
            hint = f" Did you mean {normalised[norm(name)]}? (names are lower-case, with hyphens)"
        else:
            matches = difflib.get_close_matches(norm(name), list(normalised), n=3)
            close = ", ".join(normalised[m] for m in matches)
            hint = f" Did you mean {close}?" if close else ""
        known = ", ".join(sorted(_REGISTRY)) or "(none registered yet)"
        raise KeyError(
            f"unknown experiment {name!r}.{hint} Known experiments: {known}. "
            "Run `python -m mtl_tutorial list` to see them."
        )
    return _REGISTRY[name]


def run(name: str, config: TrainConfig | None = None) -> tuple[RunResult, Path]:
    """Train experiment ``name`` under ``config`` and save ``<out_dir>/<name>/seed<seed>.pt``.

    Seeds every random generator first, measures the wall time and stores everything the
    manifest needs (seed, epochs, budget, device, threads, wall time, metrics, history) in
    the checkpoint. The checkpoint is written as soon as training ends, before the test
    evaluation (which may read the manifest or the judge classifier): if that fails, the
    error says where the trained weights are. The manifest and the output folder are
    checked before training starts. This is what ``python -m mtl_tutorial train`` and the
    notebooks' ``RETRAIN`` switch call.
    """
    exp = get(name)
    config = config or TrainConfig()
    if config.resume and not exp.resumable:
        resumable = ", ".join(e.name for e in all_experiments() if e.resumable) or "none"
        raise ValueError(
            f"experiment {exp.name!r} cannot resume a run (resumable: {resumable}); "
            "train it without --resume"
        )
    if config.epochs is None and not config.quick:
        config = replace(config, epochs=exp.epochs_for(config.budget))
    path = Path(config.out_dir) / exp.name / f"seed{config.seed}.pt"
    check_writable_dir(path.parent, "the run's checkpoint")
    if exp.requires:
        store.manifest()  # a damaged manifest fails now, not after training
    seed_everything(config.seed)
    start = time.perf_counter()
    result = exp.train(config)
    wall = time.perf_counter() - start
    meta = {
        "experiment": exp.name,
        "seed": config.seed,
        "epochs": result.epochs,
        "max_epochs": config.epochs or result.epochs,  # the cap; a GAN may stop earlier
        "quick": config.quick,
        "budget": config.budget,
        "device": describe_device(config.device),
        "threads": torch.get_num_threads(),
        "wall_time_s": round(wall, 1),
        "torch_version": torch.__version__.split("+")[0],
        "metrics": result.metrics or {},
        "history": result.history,
        **result.extra,
    }
    save_checkpoint(path, result.model, meta)
    if result.metrics is None:
        try:
            result.metrics = exp.evaluate(result.model.to(config.device), config.device)
        except Exception as err:
            raise RuntimeError(
                f"training of {exp.name!r} finished and its weights are saved in {path}, but "
                f"the test evaluation failed: {err}. Fix that, then run "
                f"`python -m mtl_tutorial evaluate {exp.name} --checkpoint {path}`"
            ) from err
        finally:
            result.model.cpu()
        meta["metrics"] = result.metrics
        save_checkpoint(path, result.model, meta)
    return result, path
