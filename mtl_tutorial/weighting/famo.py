"""FAMO: Liu, Feng, Stone & Liu, "FAMO: Fast Adaptive Multitask Optimization", NeurIPS 2023.

Decrease all task losses at the same *relative* rate, with no per-task gradients. Keep
logits :math:`\\xi` (initialised to 0), :math:`z = \\mathrm{softmax}(\\xi)`, and
back-propagate

.. math:: \\sum_t \\frac{z_t}{c} \\log L_t,\\qquad c = \\sum_i \\frac{z_i}{L_i}\\ \\text{(held constant)},

i.e. the task gradients get the weights :math:`z_t / (c L_t)`, which sum to 1. Before
that, the logits take one Adam step on the gradient
:math:`\\partial (z \\cdot \\delta)/\\partial \\xi = z \\odot (\\delta - z\\cdot\\delta)`, where
:math:`\\delta_t = \\log L_t^{\\text{prev}} - \\log L_t` is the decrease of task t's
log-loss over the last step: weight moves towards the tasks that improved least.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .base import Weighting, move_leaf

__all__ = ["FAMO"]


class FAMO(Weighting):
    """Fast Adaptive Multitask Optimization (Liu, Feng, Stone & Liu, NeurIPS 2023).

    The logits have their own Adam (``lr=0.025``, weight decay ``gamma=0.01`` as in the
    authors' standalone FAMO class; their benchmark code defaults to ``gamma=1e-5`` and
    tunes it per data set). The reported weights are :math:`z_t / (c L_t)`.

    Difference from the official code: it recomputes the losses on the *same* batch after
    the optimiser step (an extra forward pass); here :math:`\\delta` compares the previous
    step's losses with this step's (on the next batch), so FAMO costs nothing extra but
    its :math:`\\delta` is noisier. The official ``min_losses`` are 0, as here.
    """

    name = "famo"

    def __init__(
        self, task_names: Sequence[str], lr: float = 0.025, gamma: float = 0.01, eps: float = 1e-8
    ):
        self.task_names = list(task_names)
        self.lr, self.gamma, self.eps = lr, gamma, eps
        self.logits = torch.zeros(len(self.task_names), requires_grad=True)
        self.optimizer = torch.optim.Adam([self.logits], lr=lr, weight_decay=gamma)
        self.previous: torch.Tensor | None = None

    def hparams(self) -> dict[str, Any]:
        return {"lr": self.lr, "gamma": self.gamma}

    def combine(
        self, losses: list[torch.Tensor], model: nn.Module, representation: torch.Tensor | None
    ) -> torch.Tensor:
        stacked = torch.stack(losses)
        move_leaf(self.logits, stacked.device)
        current = stacked.detach() + self.eps
        if self.previous is not None:
            delta = self.previous.log() - current.log()
            self.optimizer.zero_grad(set_to_none=True)
            F.softmax(self.logits, dim=0).backward(delta)
            self.optimizer.step()
        z = F.softmax(self.logits.detach(), dim=0)
        c = (z / current).sum()
        ((z / c) * (stacked + self.eps).log()).sum().backward()
        self.previous = current
        return z / (c * current)
