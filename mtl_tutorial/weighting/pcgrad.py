"""PCGrad: Yu, Kumar, Gupta, Levine, Hausman & Finn, "Gradient Surgery for Multi-Task
Learning", NeurIPS 2020.

For each task i, visit the other tasks j in a random order; whenever the (partly
projected) task gradient :math:`g_i` conflicts with the original :math:`g_j`
(:math:`g_i \\cdot g_j < 0`), remove the conflicting component:

.. math:: g_i \\leftarrow g_i - \\frac{\\min(g_i \\cdot g_j, 0)}{\\lVert g_j\\rVert^2}\\, g_j .

The update of the shared parameters is the sum of the projected gradients.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .base import Weighting
from .gradients import add_to_grad, backward_task_specific, shared_parameters, task_gradients

__all__ = ["PCGrad", "pcgrad_project"]


def pcgrad_project(grads: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """PCGrad's projected task gradients ``(T, D)`` from the original ones ``(T, D)``.

    For each task i, visit the other tasks j in a random order; whenever the (partly
    projected) :math:`g_i` conflicts with the original :math:`g_j`
    (:math:`g_i \\cdot g_j < 0`), remove the conflicting component:
    :math:`g_i \\leftarrow g_i - \\frac{g_i \\cdot g_j}{\\lVert g_j\\rVert^2} g_j`.
    """
    n = grads.shape[0]
    out = grads.clone()
    sq_norms = (grads * grads).sum(dim=1).clamp_min(1e-30)
    for i in range(n):
        others = [j for j in range(n) if j != i]
        for k in torch.randperm(len(others), generator=generator).tolist():
            j = others[k]
            dot = out[i] @ grads[j]
            out[i] -= dot.clamp(max=0.0) / sq_norms[j] * grads[j]
    return out


class PCGrad(Weighting):
    """Projecting conflicting gradients (Yu et al., NeurIPS 2020, "Gradient Surgery").

    The per-task gradients :math:`g_t` over the shared parameters
    (``model.shared_parameters()``) are projected with :func:`pcgrad_project` and their
    sum is added to the shared parameters' ``.grad``; the task-specific parameters get
    their ordinary gradients. The random projection order comes from a
    ``torch.Generator`` seeded with ``seed``, so a run is reproducible. The reported
    weights are all 1 (PCGrad changes directions, not weights).
    """

    name = "pcgrad"

    def __init__(self, task_names: Sequence[str], seed: int = 0):
        self.task_names = list(task_names)
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)

    def hparams(self) -> dict[str, Any]:
        return {"seed": self.seed}

    def combine(
        self, losses: list[torch.Tensor], model: nn.Module, representation: torch.Tensor | None
    ) -> list[float]:
        shared = shared_parameters(model, self.name)
        grads = task_gradients(losses, shared)
        add_to_grad(shared, pcgrad_project(grads, self.generator).sum(dim=0))
        backward_task_specific(sum(losses), model, shared)  # type: ignore[arg-type]  # sum() of tensors is a Tensor; typeshed says int | Tensor
        return [1.0] * len(losses)
