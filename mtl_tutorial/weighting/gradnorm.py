"""GradNorm: Chen, Badrinarayanan, Lee & Rabinovich, "GradNorm: Gradient Normalization for
Adaptive Loss Balancing in Deep Multitask Networks", ICML 2018.

The model gets the gradient of :math:`\\sum_t w_t L_t`. The weights :math:`w_t` are then
updated to equalise the weighted gradient norms :math:`G_t = w_t \\lVert\\nabla L_t\\rVert`,
corrected for training speed, by a gradient step on

.. math:: L_{\\text{grad}} = \\sum_t \\bigl| G_t - \\bar G\\, r_t^{\\alpha} \\bigr|,\\qquad
          r_t = \\frac{\\tilde L_t}{\\operatorname{mean}_i \\tilde L_i},\\quad
          \\tilde L_t = \\frac{L_t}{L_t(0)},

with the target :math:`\\bar G r_t^\\alpha` held constant (:math:`\\bar G` = mean of the
:math:`G_t`, :math:`L_t(0)` = the losses of the first step). Tasks that train slower
(larger :math:`r_t`) are pushed towards larger gradients; :math:`\\alpha = 1.5`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .base import Weighting, move_leaf
from .gradients import gradient_inputs, task_gradients

__all__ = ["GradNorm"]


class GradNorm(Weighting):
    """GradNorm (Chen, Badrinarayanan, Lee & Rabinovich, ICML 2018), :math:`\\alpha = 1.5`.

    Choices made here:

    * The paper takes the gradient w.r.t. the last shared layer's *weights*; we take it
      w.r.t. the shared representation :math:`z` (the batch of encoder outputs), which
      needs only a backward pass through each head. On models without a
      ``representation`` hook we use all shared parameters instead.
    * The weights have their own Adam optimiser (``lr=0.025``, our choice), stepped inside
      :meth:`backward`; :meth:`parameters` is empty, so the trainer's optimiser never
      touches them. After each step they are clamped to at least ``min_weight`` and
      renormalised to sum to T, as in the paper.

    The reported weights are those the model's gradient was computed with.
    """

    name = "gradnorm"
    needs_representation = True

    def __init__(
        self,
        task_names: Sequence[str],
        alpha: float = 1.5,
        lr: float = 0.025,
        min_weight: float = 1e-3,
    ):
        self.task_names = list(task_names)
        self.alpha, self.lr, self.min_weight = alpha, lr, min_weight
        self.weights = torch.ones(len(self.task_names), requires_grad=True)
        self.optimizer = torch.optim.Adam([self.weights], lr=lr)
        self.initial_losses: torch.Tensor | None = None

    def hparams(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "lr": self.lr}

    def combine(
        self, losses: list[torch.Tensor], model: nn.Module, representation: torch.Tensor | None
    ) -> torch.Tensor:
        stacked = torch.stack(losses)
        move_leaf(self.weights, stacked.device)
        inputs = gradient_inputs(model, representation, self.name)
        norms = task_gradients(losses, inputs).norm(dim=1).detach()
        used = self.weights.detach().clone()
        (used * stacked).sum().backward()

        current = stacked.detach()
        if self.initial_losses is None:
            self.initial_losses = current.clamp_min(1e-12)
        ratio = current / self.initial_losses
        ratio = ratio / ratio.mean().clamp_min(1e-12)
        g = self.weights * norms
        target = (g.detach().mean() * ratio**self.alpha).detach()
        self.optimizer.zero_grad(set_to_none=True)
        (g - target).abs().sum().backward()
        self.optimizer.step()
        with torch.no_grad():
            self.weights.clamp_(min=self.min_weight)
            self.weights.mul_(len(self.task_names) / self.weights.sum())
        return used
