"""The one training loop used by every multi-task model in the book.

A model maps an image batch to a dict ``{task name: prediction}``. It may also offer the
hooks of :mod:`mtl_tutorial.models.protocols`: ``penalty()`` (:class:`Penalized`, an extra
loss on the parameters, e.g. soft sharing's distance between task networks), its own step
(:class:`CustomStep`, a GAN), per-epoch measurements (:class:`EpochMetrics`), shared
parameters (:class:`SharedTrunk`) and a shared representation (:class:`RepresentationModel`).
The :class:`~mtl_tutorial.weighting.Weighting` decides how the task losses become
gradients. After every epoch the trainer passes the epoch's mean training loss of each
task to ``weighting.epoch_end``, evaluates each task's metric on the evaluation loader and
appends a row to ``history``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from .errors import DivergenceError
from .loaders import BatchLoader
from .models.protocols import (
    Batch,
    CustomStep,
    EpochMetrics,
    Penalized,
    RepresentationModel,
    SharedTrunk,
)
from .tasks import Task, by_name
from .utils import progress
from .weighting import EqualWeighting, Weighting, task_gradients

__all__ = ["Batch", "DivergenceError", "Trainer", "task_gradient_cosine"]


def task_gradient_cosine(losses: dict[str, torch.Tensor], model: nn.Module) -> float | None:
    """Mean pairwise cosine similarity of the task gradients over ``model.shared_parameters()``.

    Negative values mean the tasks pull the shared weights in conflicting directions. Returns
    ``None`` for fewer than two tasks or a model without ``shared_parameters()``. Only reads
    gradients (``torch.autograd.grad``): the ``.grad`` fields and the training are untouched.
    """
    if len(losses) < 2 or not isinstance(model, SharedTrunk):
        return None
    params = [p for p in model.shared_parameters() if p.requires_grad]
    g = torch.nn.functional.normalize(task_gradients(list(losses.values()), params), dim=1)
    cos = g @ g.T
    pairs = torch.triu_indices(len(g), len(g), offset=1)
    return float(cos[pairs[0], pairs[1]].mean())


@dataclass
class Trainer:
    """Train ``model`` on ``tasks`` with Adam.

    >>> trainer = Trainer(model, [classification("left"), classification("right")])  # doctest: +SKIP
    >>> history = trainer.fit(train_loader, test_loader, epochs=5)                   # doctest: +SKIP
    """

    model: nn.Module
    tasks: Sequence[Task]
    weighting: Weighting = field(default_factory=EqualWeighting)
    lr: float = 1e-3
    weight_decay: float = 0.0
    device: torch.device | str = "cpu"
    cosine_epochs: int | None = (
        None  # if set, cosine-anneal the learning rate to 0 over this many epochs
    )
    grad_cosine_every: int = 0  # if > 0, log the task-gradient cosine every this many steps
    history: list[dict[str, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.device = torch.device(self.device)
        self.steps = 0
        self.task_map = by_name(self.tasks)
        self.model.to(self.device)
        if isinstance(self.model, CustomStep):  # e.g. a GAN: one optimiser for G, one for D
            self.optimizers = dict(self.model.configure_optimizers(self.lr, self.weight_decay))
        else:
            params = list(self.model.parameters()) + list(self.weighting.parameters())
            self.optimizers = {
                "model": torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
            }
        self.optimizer = next(iter(self.optimizers.values()))
        self.schedulers = (
            [
                torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=self.cosine_epochs)
                for o in self.optimizers.values()
            ]
            if self.cosine_epochs
            else []
        )

    def _to_device(self, batch: Batch) -> Batch:
        x, targets = batch
        keys = self.task_map or targets  # a model with its own training_step gets every target
        return x.to(self.device), {k: targets[k].to(self.device) for k in keys}

    def step(self, batch: Batch) -> dict[str, float]:
        """One optimisation step; returns the task losses, weights and penalty.

        A :class:`~mtl_tutorial.models.protocols.CustomStep` model (``configure_optimizers``
        and ``training_step(batch, trainer) -> dict[str, float]``) runs its own step instead,
        e.g. a GAN's alternating discriminator and generator updates; the epochs, progress
        bars, history, schedules and divergence checks stay the trainer's.
        """
        if isinstance(self.model, CustomStep):
            self.model.train()
            logged = self.model.training_step(self._to_device(batch), self)
            bad = [k for k, v in logged.items() if not math.isfinite(v)]
            if bad:
                raise DivergenceError(
                    f"{bad} not finite at epoch {len(self.history) + 1}; lower the learning rate"
                )
            return logged
        x, targets = self._to_device(batch)
        self.model.train()
        representation = None
        if self.weighting.needs_representation and isinstance(self.model, RepresentationModel):
            representation = self.model.representation(x)
            outputs = self.model.heads_forward(representation)
        else:
            outputs = self.model(x)
        missing = set(self.task_map) - set(outputs)
        if missing:
            raise KeyError(
                f"model returned no prediction for tasks {sorted(missing)}; it returned {sorted(outputs)}"
            )
        losses = {
            name: task.loss(outputs[name], targets[name]) for name, task in self.task_map.items()
        }
        bad = [k for k, v in losses.items() if not torch.isfinite(v)]
        if bad:
            raise DivergenceError(
                f"loss of task(s) {bad} is not finite at step {self.steps} (epoch {len(self.history) + 1}); lower the learning rate"
            )
        self.optimizer.zero_grad(set_to_none=True)
        row: dict[str, float] = {}
        if self.grad_cosine_every > 0 and self.steps % self.grad_cosine_every == 0:
            cosine = task_gradient_cosine(losses, self.model)
            if cosine is not None:
                row["grad_cos"] = cosine
        self.steps += 1
        if isinstance(self.model, Penalized):
            penalty = self.model.penalty()
            penalty.backward()
            row["penalty"] = float(penalty.detach())
        weights = self.weighting.backward(losses, self.model, representation)
        self.optimizer.step()
        row.update({f"loss_{k}": float(v.detach()) for k, v in losses.items()})
        row.update({f"weight_{k}": float(w) for k, w in weights.items()})
        return row

    @torch.no_grad()
    def evaluate(self, loader: Iterable[Batch], max_batches: int | None = None) -> dict[str, float]:
        """Each task's metric (keyed by ``metric_name``) and mean loss on ``loader``."""
        if not self.task_map:  # a model with its own training_step reports through epoch_metrics
            return {}
        self.model.eval()
        metrics = {name: task.metric() for name, task in self.task_map.items()}
        loss_sum = dict.fromkeys(self.task_map, 0.0)
        batches = 0
        for b, batch in enumerate(loader):
            if max_batches is not None and b >= max_batches:
                break
            x, targets = self._to_device(batch)
            outputs = self.model(x)
            for name, task in self.task_map.items():
                metrics[name].update(outputs[name], targets[name])
                loss_sum[name] += float(task.loss(outputs[name], targets[name]))
            batches += 1
        out = {task.metric_name: metrics[name].compute() for name, task in self.task_map.items()}
        out.update({f"test_loss_{k}": v / max(batches, 1) for k, v in loss_sum.items()})
        return out

    def fit(
        self,
        train_loader: Iterable[Batch],
        eval_loader: Iterable[Batch],
        epochs: int,
        max_batches: int | None = None,
    ) -> list[dict[str, float]]:
        """Train for ``epochs`` epochs (``max_batches`` per epoch if given); returns the history.

        On an accelerator, :class:`~mtl_tutorial.loaders.BatchLoader` datasets are first made
        resident on the device (one copy per run instead of one per batch).
        """
        for loader in (train_loader, eval_loader):
            if isinstance(loader, BatchLoader):
                loader.to_device(self.device)
        for _ in range(epochs):
            epoch = len(self.history) + 1
            start = time.perf_counter()
            sums: dict[str, float] = {}
            counts: dict[str, int] = {}  # grad_cos is only measured on some steps
            n = 0
            total = len(train_loader) if hasattr(train_loader, "__len__") else None  # type: ignore[arg-type]  # hasattr does not narrow an Iterable to Sized
            if max_batches is not None and total is not None:
                total = min(total, max_batches)
            for b, batch in enumerate(progress(train_loader, desc=f"epoch {epoch}", total=total)):
                if max_batches is not None and b >= max_batches:
                    break
                for k, v in self.step(batch).items():
                    sums[k] = sums.get(k, 0.0) + v
                    counts[k] = counts.get(k, 0) + 1
                n += 1
            if n:
                self.weighting.epoch_end({k: sums[f"loss_{k}"] / n for k in self.task_map})
            for scheduler in self.schedulers:
                scheduler.step()
            row = {"epoch": float(epoch), "train_time_s": time.perf_counter() - start}
            row.update({f"train_{k}": v / counts[k] for k, v in sums.items()})
            row.update(self.evaluate(eval_loader, max_batches))
            if isinstance(self.model, EpochMetrics):  # extra measurements defined by the model
                row.update(self.model.epoch_metrics(self))
            if any(isinstance(v, float) and math.isnan(v) for v in row.values()):
                raise DivergenceError(f"NaN in epoch {epoch} summary: {row}")
            self.history.append(row)
        return self.history
