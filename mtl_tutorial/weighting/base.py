"""The interface every weighting method implements: :class:`Weighting`.

The trainer calls :meth:`Weighting.backward` once per step with the dict of task losses;
the method writes the gradients of its combined objective into ``.grad`` and returns the
weight it gave each task. After every epoch the trainer calls :meth:`Weighting.epoch_end`
with the epoch's mean training loss per task. A method built for a fixed list of
``task_names`` only implements :meth:`Weighting.combine`, which receives the losses in
that order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

__all__ = ["Weighting", "move_leaf", "ordered_losses", "weights_by_task"]


def ordered_losses(
    losses: Mapping[str, torch.Tensor], task_names: Sequence[str]
) -> list[torch.Tensor]:
    """The losses in the order of ``task_names``; a ``KeyError`` if the task sets differ."""
    if set(losses) != set(task_names):
        raise KeyError(
            f"the weighting was built for tasks {list(task_names)} but got losses for {sorted(losses)}"
        )
    return [losses[k] for k in task_names]


def weights_by_task(
    task_names: Sequence[str], values: torch.Tensor | Sequence[float]
) -> dict[str, float]:
    """``{task: weight}`` from weights in the order of ``task_names``."""
    values = values.tolist() if isinstance(values, torch.Tensor) else list(values)
    return {k: float(v) for k, v in zip(task_names, values, strict=True)}


def move_leaf(tensor: torch.Tensor, device: torch.device) -> None:
    """Move a leaf tensor in place (same object, so optimisers holding it still see it)."""
    if tensor.device != device:
        tensor.data = tensor.data.to(device)


class Weighting:
    """Base class: ``backward(losses, model)`` fills ``.grad`` and returns the task weights used."""

    name = "base"
    needs_representation = False
    task_names: list[str]

    @classmethod
    def create(cls, task_names: Sequence[str], **kwargs: Any) -> Weighting:
        """Build the method for ``task_names`` (what ``make_weighting`` calls)."""
        return cls(list(task_names), **kwargs)  # type: ignore[call-arg]  # subclasses that take task names accept them first

    def parameters(self) -> list[nn.Parameter]:
        """Learnable parameters of the method itself (e.g. log-variances); none by default.

        The trainer's optimiser updates them together with the model.
        """
        return []

    def backward(
        self,
        losses: Mapping[str, torch.Tensor],
        model: nn.Module,
        representation: torch.Tensor | None = None,
    ) -> dict[str, float]:
        """Add the gradients of the combined objective to ``.grad``; return each task's weight.

        ``representation`` is the shared ``z`` the heads were applied to (only passed to
        methods with ``needs_representation``, and only for models with that hook). By
        default: check that ``losses`` has exactly the tasks of ``self.task_names`` and
        let :meth:`combine` do the work on the losses in that order.
        """
        weights = self.combine(ordered_losses(losses, self.task_names), model, representation)
        return weights_by_task(self.task_names, weights)

    def combine(
        self,
        losses: list[torch.Tensor],
        model: nn.Module,
        representation: torch.Tensor | None,
    ) -> torch.Tensor | Sequence[float]:
        """Back-propagate the task losses (ordered as ``task_names``); return their weights."""
        raise NotImplementedError

    def epoch_end(self, mean_losses: dict[str, float]) -> None:
        """Called by the trainer after every epoch with the mean training loss of each task."""

    def hparams(self) -> dict[str, Any]:
        """The method's hyperparameters (for ``repr`` and the experiment config)."""
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hparams().items())
        return f"{type(self).__name__}({args})"
