"""How the per-task losses become one update.

A :class:`Weighting` turns the dict of task losses into gradients on the model
(``backward``) and reports the weights it used. The trainer calls nothing else, so a
method that needs per-task gradients can compute them here without changing the trainer.

A method that sets ``needs_representation = True`` also receives the shared
representation ``z`` (the encoder output the task heads read), when the model exposes
``representation(x)`` and ``heads_forward(z)``: per-task gradients with respect to ``z``
are much cheaper than with respect to all shared parameters.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

__all__ = ["EqualWeighting", "StaticWeighting", "Weighting"]


class Weighting:
    """Base class: ``backward(losses, model)`` fills ``.grad`` and returns the task weights used."""

    name = "base"
    needs_representation = False

    def parameters(self) -> list[nn.Parameter]:
        """Learnable parameters of the method itself (e.g. log-variances); none by default."""
        return []

    def backward(
        self,
        losses: Mapping[str, torch.Tensor],
        model: nn.Module,
        representation: torch.Tensor | None = None,
    ) -> dict[str, float]:
        raise NotImplementedError


class StaticWeighting(Weighting):
    """Fixed weights: minimise :math:`\\sum_t \\lambda_t L_t`."""

    name = "static"

    def __init__(self, weights: Mapping[str, float]):
        if any(w < 0 for w in weights.values()):
            raise ValueError(f"static task weights must be non-negative, got {dict(weights)}")
        self.weights = dict(weights)

    def backward(
        self,
        losses: Mapping[str, torch.Tensor],
        model: nn.Module,
        representation: torch.Tensor | None = None,
    ) -> dict[str, float]:
        unknown = set(losses) - set(self.weights)
        if unknown:
            raise KeyError(
                f"no weight given for tasks {sorted(unknown)}; weights are {self.weights}"
            )
        total = sum(self.weights[k] * loss for k, loss in losses.items())
        total.backward()  # type: ignore[union-attr]
        return {k: self.weights[k] for k in losses}


class EqualWeighting(Weighting):
    """Every task has weight 1: minimise :math:`\\sum_t L_t`."""

    name = "equal"

    def backward(
        self,
        losses: Mapping[str, torch.Tensor],
        model: nn.Module,
        representation: torch.Tensor | None = None,
    ) -> dict[str, float]:
        sum(losses.values()).backward()  # type: ignore[union-attr]
        return dict.fromkeys(losses, 1.0)
