"""Static weighting: fixed, hand-chosen task weights.

With non-negative weights :math:`\\lambda_t` the model minimises

.. math:: \\sum_t \\lambda_t L_t .

The weights are hyperparameters; a sweep over a few ratios is the baseline every
adaptive method has to beat.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from .base import Weighting

__all__ = ["StaticWeighting"]


class StaticWeighting(Weighting):
    """Fixed weights: minimise :math:`\\sum_t \\lambda_t L_t`."""

    name = "static"

    def __init__(self, weights: Mapping[str, float]):
        if any(w < 0 for w in weights.values()):
            raise ValueError(f"static task weights must be non-negative, got {dict(weights)}")
        self.weights = dict(weights)

    @classmethod
    def create(  # type: ignore[override]  # a static weighting's one option is its weights
        cls,
        task_names: Sequence[str],
        weights: Mapping[str, float] | Sequence[float] | None = None,
    ) -> StaticWeighting:
        """Weights as a mapping, a sequence in the order of ``task_names``, or all 1 (default)."""
        if weights is None:
            return cls(dict.fromkeys(task_names, 1.0))
        if isinstance(weights, Mapping):
            return cls(weights)
        if len(weights) != len(task_names):
            raise ValueError(f"got {len(weights)} static weights for tasks {list(task_names)}")
        return cls(dict(zip(task_names, map(float, weights), strict=True)))

    def hparams(self) -> dict[str, Any]:
        return {"weights": self.weights}

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
        total.backward()  # type: ignore[union-attr]  # sum() of tensors is a Tensor; typeshed says int | Tensor
        return {k: self.weights[k] for k in losses}
