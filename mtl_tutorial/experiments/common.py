"""The standard experiment: one model, one :class:`Setup`, Adam with cosine decay.

Most experiments of the book differ only in their model, their tasks and their loss
weighting. :func:`register_standard` turns those into a registered
:class:`~mtl_tutorial.experiments.registry.Experiment`; chapters 2, 3 and 5 use it.
:func:`quick_data` and :func:`run_epochs` are the ``--quick`` rule every chapter shares.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from .. import store
from ..loaders import BatchDataset, BatchLoader, Subset
from ..metrics import delta_m
from ..models.sharing import count_parameters
from ..tasks import Task
from ..trainer import Trainer
from ..weighting import EqualWeighting, Weighting
from .registry import Experiment, RunResult, TrainConfig, register

__all__ = [
    "GRAD_COSINE_EVERY",
    "QUICK_BATCHES",
    "QUICK_TEST_ITEMS",
    "QUICK_TRAIN_ITEMS",
    "Setup",
    "quick_data",
    "register_standard",
    "run_epochs",
    "single_task_baselines",
]

GRAD_COSINE_EVERY = 20  # steps between two measurements of the task-gradient cosine
QUICK_TRAIN_ITEMS, QUICK_TEST_ITEMS, QUICK_BATCHES = 1024, 500, 8


@dataclass(frozen=True)
class Setup:
    """Data and optimisation settings shared by the experiments of one family."""

    key: str
    train: Callable[[], BatchDataset]
    test: Callable[[], BatchDataset]
    epochs: int
    batch_size: int = 256
    lr: float = 1e-3
    baselines: dict[str, str] = field(default_factory=dict)  # metric -> single-task experiment


def run_epochs(cfg: TrainConfig, default: int, quick: int = 1) -> int:
    """The epochs of a run: ``cfg.epochs`` if set, else ``quick`` under ``--quick``, else ``default``."""
    return cfg.epochs or (quick if cfg.quick else default)


def quick_data(
    cfg: TrainConfig,
    train: BatchDataset,
    test: BatchDataset | None = None,
    train_items: int = QUICK_TRAIN_ITEMS,
    batches: int = QUICK_BATCHES,
) -> tuple[BatchDataset, BatchDataset | None, int | None]:
    """``(train, test, max_batches)`` of a run.

    A full run keeps both datasets and every batch (``max_batches=None``). A ``--quick``
    run (a smoke test) keeps the first ``train_items`` training and
    :data:`QUICK_TEST_ITEMS` test items, and at most ``batches`` batches an epoch.
    """
    if not cfg.quick:
        return train, test, None
    small_test = None if test is None else Subset(test, QUICK_TEST_ITEMS)
    return Subset(train, train_items), small_test, batches


def single_task_baselines(setup: Setup) -> dict[str, float]:
    """Seed-mean metrics of the shipped single-task baselines of ``setup``, keyed by metric."""
    shipped = store.manifest()
    return {m: store.seed_statistics(n)[m][0] for m, n in setup.baselines.items() if n in shipped}


def _evaluator(
    setup: Setup, tasks: list[Task]
) -> Callable[[nn.Module, torch.device], dict[str, float]]:
    def evaluate(model: nn.Module, device: torch.device) -> dict[str, float]:
        result = Trainer(model, tasks, device=device).evaluate(BatchLoader(setup.test(), 500))
        metrics = {t.metric_name: result[t.metric_name] for t in tasks}
        metrics["params"] = float(count_parameters(model))
        baselines = single_task_baselines(setup)
        if len(tasks) > 1 and baselines and set(baselines) <= set(metrics):
            better = {t.metric_name: t.higher_is_better for t in tasks}
            metrics["delta_m"] = delta_m(metrics, baselines, better)
        return metrics

    return evaluate


def register_standard(
    name: str,
    description: str,
    setup: Setup,
    tasks: list[Task],
    build: Callable[[], nn.Module],
    *,
    chapter: str,
    epochs: int | None = None,
    weighting: Callable[[], Weighting] | None = None,
) -> Experiment:
    """Register experiment ``name``: ``build()`` trained on ``setup`` with Adam + cosine decay.

    ``epochs`` defaults to ``setup.epochs``; ``weighting`` builds a fresh loss weighting for
    each run (default: equal weights); ``chapter`` is the book chapter of the experiment.
    Its metrics are each task's metric, ``params`` and, with several tasks, ``delta_m``
    against ``setup.baselines`` (which a multi-task run therefore ``requires``).
    """
    default_epochs = epochs or setup.epochs

    def train(cfg: TrainConfig) -> RunResult:
        n_epochs = run_epochs(cfg, default_epochs)
        train_data, test_data, max_batches = quick_data(cfg, setup.train(), setup.test())
        assert test_data is not None
        model = build()
        trainer = Trainer(
            model,
            tasks,
            weighting=EqualWeighting() if weighting is None else weighting(),
            lr=setup.lr,
            device=cfg.device,
            cosine_epochs=n_epochs,
            grad_cosine_every=GRAD_COSINE_EVERY if len(tasks) > 1 else 0,
        )
        history = trainer.fit(
            BatchLoader(train_data, setup.batch_size, shuffle=True, seed=cfg.seed),
            BatchLoader(test_data, 500),
            n_epochs,
            max_batches,
        )
        # a full run is evaluated by experiments.run, after its checkpoint is saved
        metrics = trainer.evaluate(BatchLoader(test_data, 500)) if cfg.quick else None
        config = {
            "setup": setup.key,
            "epochs": n_epochs,
            "batch_size": setup.batch_size,
            "lr": setup.lr,
            "schedule": "cosine",
            "optimizer": "adam",
            "data_seed": 0,
        }
        if weighting is not None:
            config["weighting"] = repr(trainer.weighting)
        return RunResult(model.cpu(), metrics, history, n_epochs, extra={"config": config})

    metric_names = (
        tuple(t.metric_name for t in tasks) + ("params",) + (("delta_m",) if len(tasks) > 1 else ())
    )
    # a multi-task run's delta_m reads its single-task baselines' shipped seed means
    requires = tuple(sorted(set(setup.baselines.values()))) if len(tasks) > 1 else ()
    return register(
        Experiment(
            name,
            chapter,
            description,
            build,
            train,
            _evaluator(setup, tasks),
            metric_names,
            default_epochs,
            requires=requires,
        )
    )
