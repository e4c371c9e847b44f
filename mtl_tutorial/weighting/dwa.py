"""Dynamic Weight Average: Liu, Johns & Davison, "End-to-End Multi-Task Learning with
Attention", CVPR 2019 (the MTAN paper).

In epoch :math:`k` (counting from 1) the loss is :math:`\\sum_t w_t(k) L_t` with

.. math:: w_t(k) = \\frac{T \\exp(r_t(k-1)/\\tau)}{\\sum_i \\exp(r_i(k-1)/\\tau)},
          \\qquad r_t(k-1) = \\frac{L_t(k-1)}{L_t(k-2)},

where :math:`L_t(k)` is task t's mean training loss over epoch :math:`k` and
:math:`\\tau = 2`. In the first two epochs every weight is 1. A task whose loss fell less
than the others' gets more weight; the weights always sum to T.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .base import Weighting

__all__ = ["DynamicWeightAverage", "dwa_weights"]


def dwa_weights(
    previous: Sequence[float], before: Sequence[float], temperature: float = 2.0
) -> list[float]:
    """DWA weights :math:`T\\,\\mathrm{softmax}(r / \\tau)` with :math:`r_t = L_t(k-1) / L_t(k-2)`.

    ``previous`` holds the mean losses of epoch k-1, ``before`` those of epoch k-2.
    """
    ratios = [p / max(b, 1e-12) for p, b in zip(previous, before, strict=True)]
    top = max(ratios) / temperature
    exps = [math.exp(r / temperature - top) for r in ratios]
    return [len(ratios) * e / sum(exps) for e in exps]


class DynamicWeightAverage(Weighting):
    """Dynamic Weight Average (Liu, Johns & Davison, CVPR 2019, "MTAN").

    The weights of epoch k are :func:`dwa_weights` of the mean losses of epochs k-1 and
    k-2, which the trainer passes to :meth:`epoch_end`; they are all 1 in the first two
    epochs. ``temperature`` is :math:`\\tau` (2, as in the paper).
    """

    name = "dwa"

    def __init__(self, task_names: Sequence[str], temperature: float = 2.0):
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.task_names = list(task_names)
        self.temperature = temperature
        self.history: list[dict[str, float]] = []
        self.weights = dict.fromkeys(self.task_names, 1.0)

    def hparams(self) -> dict[str, Any]:
        return {"temperature": self.temperature}

    def epoch_end(self, mean_losses: dict[str, float]) -> None:
        self.history.append({k: float(mean_losses[k]) for k in self.task_names})
        if len(self.history) >= 2:
            prev, before = self.history[-1], self.history[-2]
            w = dwa_weights(
                [prev[k] for k in self.task_names],
                [before[k] for k in self.task_names],
                self.temperature,
            )
            self.weights = dict(zip(self.task_names, w, strict=True))

    def combine(
        self, losses: list[torch.Tensor], model: nn.Module, representation: torch.Tensor | None
    ) -> list[float]:
        weights = [self.weights[k] for k in self.task_names]
        total = sum(w * loss for w, loss in zip(weights, losses, strict=True))
        total.backward()  # type: ignore[union-attr]  # sum() of tensors is a Tensor; typeshed says int | Tensor
        return weights
