"""Uncertainty weighting: Kendall, Gal & Cipolla, "Multi-Task Learning Using Uncertainty to
Weigh Losses for Scene Geometry and Semantics", CVPR 2018.

Each task's output is treated as the mean of a distribution with a learned,
input-independent ("homoscedastic") noise level :math:`\\sigma_t`. Kendall et al. derive
the negative log-likelihood :math:`\\frac{1}{2\\sigma^2} L + \\log\\sigma` for regression and
(approximately) :math:`\\frac{1}{\\sigma^2} L + \\log\\sigma` for classification, i.e.
:math:`\\frac12(e^{-s}L + s)` and :math:`e^{-s}L + \\frac12 s` with
:math:`s = \\log \\sigma^2`. We use one form for every task, twice the regression form
(as most re-implementations do), and minimise

.. math:: \\sum_t e^{-s_t} L_t + s_t .

For a fixed loss :math:`L_t` its optimum is :math:`s_t = \\log L_t`: the weight
:math:`e^{-s_t}` tends to :math:`1 / L_t`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .base import Weighting, move_leaf

__all__ = ["CommonScaleUncertainty", "UncertaintyWeighting"]


class UncertaintyWeighting(Weighting):
    """Homoscedastic-uncertainty weighting (Kendall, Gal & Cipolla, CVPR 2018).

    Minimises :math:`\\sum_t e^{-s_t} L_t + s_t` with learnable log-variances
    :math:`s_t = \\log \\sigma_t^2` initialised to ``init`` (0). The log-variances are updated
    by the trainer's optimiser (they are returned by :meth:`parameters`); the reported
    weights are :math:`e^{-s_t}`.
    """

    name = "uncertainty"

    def __init__(self, task_names: Sequence[str], init: float = 0.0):
        self.task_names = list(task_names)
        self.init = init
        self.log_vars = nn.Parameter(torch.full((len(self.task_names),), float(init)))

    def hparams(self) -> dict[str, Any]:
        return {"init": self.init}

    def parameters(self) -> list[nn.Parameter]:
        return [self.log_vars]

    def _stack(self, losses: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The losses as one tensor, and the log-variances on its device."""
        stacked = torch.stack(losses)
        move_leaf(self.log_vars, stacked.device)
        return stacked, self.log_vars

    def combine(
        self, losses: list[torch.Tensor], model: nn.Module, representation: torch.Tensor | None
    ) -> torch.Tensor:
        stacked, s = self._stack(losses)
        (torch.exp(-s) * stacked + s).sum().backward()
        return torch.exp(-s.detach())


class CommonScaleUncertainty(UncertaintyWeighting):
    """A control for uncertainty weighting: the same common loss scale, no ratio.

    The log-variances learn exactly as in :class:`UncertaintyWeighting` (from
    :math:`\\sum_t e^{-s_t} L_t + s_t`, the losses held fixed), but the model is trained on
    :math:`c \\sum_t L_t` with the *common* weight :math:`c = \\frac1T \\sum_t e^{-s_t}`
    (held fixed). Compared with uncertainty weighting it keeps the growth of the overall
    loss scale and drops the ratio between the tasks (issue #17). Not in ``METHODS``.
    """

    name = "uncertainty-common-scale"

    def combine(
        self, losses: list[torch.Tensor], model: nn.Module, representation: torch.Tensor | None
    ) -> torch.Tensor:
        stacked, s = self._stack(losses)
        weights = torch.exp(-s)
        common = weights.mean().detach()
        ((common * stacked).sum() + (weights * stacked.detach() + s).sum()).backward()
        return common.expand(len(losses))
