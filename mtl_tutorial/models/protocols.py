"""The model contract: what the trainer, the weighting methods and the CLI may ask of a model.

Every model is an ``nn.Module`` whose ``forward(x)`` returns ``{task name: prediction}``.
Beyond that a model *may* offer the hooks below; each is a :class:`typing.Protocol`, so a
model opts in by defining the methods (no base class to inherit), and the trainer asks
``isinstance(model, Penalized)`` rather than probing attributes:

* :class:`SharedTrunk`: ``shared_parameters()``; gradient-balancing methods, the trainer's
  task-gradient cosine.
* :class:`RepresentationModel`: ``representation(x)`` and ``heads_forward(z)``; weighting
  methods with ``needs_representation``.
* :class:`Penalized`: ``penalty()``; the trainer adds it to the loss (soft sharing).
* :class:`CustomStep`: ``configure_optimizers(lr, weight_decay)`` and
  ``training_step(batch, trainer)``; the trainer runs the model's own step (a GAN).
* :class:`EpochMetrics`: ``epoch_metrics(trainer)``; the trainer adds it to each epoch's row.
* :class:`Sampler`: ``sample(labels, z=None, generator=None)``, ``num_classes`` and
  ``sample_range``; ``python -m mtl_tutorial sample`` and the generator evaluation.

The trainer is seen through :class:`TrainerView` (its ``optimizers`` and ``history``), so
that models need not import :mod:`mtl_tutorial.trainer`, which sits above them.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import nn

__all__ = [
    "Batch",
    "CustomStep",
    "EpochMetrics",
    "Penalized",
    "RepresentationModel",
    "Sampler",
    "SharedTrunk",
    "TrainerView",
]

#: an image batch and its targets ``{task name: tensor}``, as the loaders yield them
Batch = tuple[torch.Tensor, dict[str, torch.Tensor]]


class TrainerView(Protocol):
    """What a model's hooks may read from the trainer that calls them."""

    optimizers: dict[str, torch.optim.Optimizer]  # as returned by configure_optimizers
    history: list[dict[str, float]]  # one row per finished epoch


@runtime_checkable
class SharedTrunk(Protocol):
    """A model with shared parameters that every task's loss depends on (hard sharing)."""

    def shared_parameters(self) -> list[nn.Parameter]:
        """The shared trunk's parameters (gradient-balancing methods compare task gradients on them)."""
        ...


@runtime_checkable
class RepresentationModel(Protocol):
    """A model split as ``forward(x) == heads_forward(representation(x))``.

    Weighting methods with ``needs_representation`` take per-task gradients with respect to
    the shared representation ``z`` instead of the shared parameters (cheaper).
    """

    def representation(self, x: torch.Tensor) -> torch.Tensor:
        """The shared representation of the batch ``x``."""
        ...

    def heads_forward(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every task's prediction from the shared representation ``z``."""
        ...


@runtime_checkable
class Penalized(Protocol):
    """A model with an extra loss on its parameters, e.g. soft sharing's distance between columns.

    The trainer back-propagates ``penalty()`` on its own, before the task losses, so it must
    not depend on the batch.
    """

    def penalty(self) -> torch.Tensor:
        """A scalar added to the loss."""
        ...


@runtime_checkable
class CustomStep(Protocol):
    """A model that runs its own optimisation step, e.g. a GAN's alternating D and G updates.

    The trainer builds its optimisers with ``configure_optimizers`` and calls
    ``training_step`` instead of its own step; epochs, progress, history, schedules and the
    divergence checks stay the trainer's.
    """

    def configure_optimizers(
        self, lr: float, weight_decay: float = 0.0
    ) -> dict[str, torch.optim.Optimizer]:
        """One optimiser per name; ``training_step`` finds them in ``trainer.optimizers``."""
        ...

    def training_step(self, batch: Batch, trainer: TrainerView) -> dict[str, float]:
        """One step on ``batch`` (already on the device); returns the numbers to log."""
        ...


@runtime_checkable
class EpochMetrics(Protocol):
    """A model with its own per-epoch measurements, added to the trainer's history row."""

    def epoch_metrics(self, trainer: TrainerView) -> dict[str, float]:
        """Measurements after an epoch (``len(trainer.history)`` epochs are already recorded)."""
        ...


@runtime_checkable
class Sampler(Protocol):
    """A generative model: images for requested class labels.

    ``num_classes`` is the number of classes ``sample`` is conditioned on, ``None`` for an
    unconditional model, which uses only ``len(labels)``. ``sample_range`` is the value
    range of the returned images, e.g. ``(-1.0, 1.0)`` after tanh or ``(0.0, 1.0)``.
    """

    num_classes: int | None
    sample_range: tuple[float, float]

    def sample(
        self,
        labels: torch.Tensor,
        z: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Images ``(N, C, H, W)`` for ``labels`` (N,); ``z`` defaults to noise drawn with ``generator``."""
        ...
