"""MGDA-UB: Sener & Koltun, "Multi-Task Learning as Multi-Objective Optimization",
NeurIPS 2018.

Among all convex combinations of the task gradients take the one of minimum norm,

.. math:: \\alpha^\\star = \\operatorname*{arg\\,min}_{\\alpha \\in \\Delta_T}
          \\Bigl\\lVert \\sum_t \\alpha_t g_t \\Bigr\\rVert^2 ,

and back-propagate :math:`\\sum_t \\alpha^\\star_t L_t`: unless the point is
Pareto-stationary, a small step along it decreases every loss. The "upper bound" variant
(UB) takes the gradients :math:`g_t` at the shared representation :math:`z` instead of
over the shared parameters, which needs one backward pass through each head only.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .base import Weighting
from .gradients import gradient_inputs, task_gradients

__all__ = ["MGDA", "min_norm_weights"]


def _min_norm_pair(g11: float, g12: float, g22: float) -> tuple[float, float]:
    """Weight on the first vector and squared norm of the min-norm point of a segment."""
    denom = g11 + g22 - 2.0 * g12
    alpha = 0.5 if denom <= 1e-20 else min(max((g22 - g12) / denom, 0.0), 1.0)
    cost = alpha * alpha * g11 + 2.0 * alpha * (1.0 - alpha) * g12 + (1.0 - alpha) ** 2 * g22
    return alpha, cost


def min_norm_weights(grads: torch.Tensor, max_iter: int = 1000, tol: float = 1e-10) -> torch.Tensor:
    """The point of the simplex :math:`\\alpha` minimising :math:`\\lVert\\sum_t \\alpha_t g_t\\rVert`.

    ``grads`` is ``(T, D)``. For two tasks the closed form
    :math:`\\alpha_1 = \\mathrm{clip}\\bigl(\\frac{(g_2-g_1)\\cdot g_2}{\\lVert g_1-g_2\\rVert^2}, 0, 1\\bigr)`;
    for more, Frank-Wolfe on the Gram matrix as in Sener & Koltun (2018, Alg. 2): start at
    the best pair, then repeatedly move towards the vertex with the smallest
    :math:`(M\\alpha)_t` with an exact line search. Returns ``(T,)`` on ``grads``' device.
    """
    n = grads.shape[0]
    gram = (grads @ grads.T).double().cpu().tolist()
    if n == 1:
        sol = [1.0]
    elif n == 2:
        a, _ = _min_norm_pair(gram[0][0], gram[0][1], gram[1][1])
        sol = [a, 1.0 - a]
    else:
        best = None
        for i, j in itertools.combinations(range(n), 2):
            a, cost = _min_norm_pair(gram[i][i], gram[i][j], gram[j][j])
            if best is None or cost < best[0]:
                best = (cost, i, j, a)
        assert best is not None
        _, i, j, a = best
        sol = [0.0] * n
        sol[i], sol[j] = a, 1.0 - a
        for _ in range(max_iter):
            m_sol = [sum(gram[r][c] * sol[c] for c in range(n)) for r in range(n)]
            t = min(range(n), key=m_sol.__getitem__)
            v1v1 = sum(sol[r] * m_sol[r] for r in range(n))
            gamma, _ = _min_norm_pair(v1v1, m_sol[t], gram[t][t])
            new = [gamma * s for s in sol]
            new[t] += 1.0 - gamma
            change = sum(abs(x - y) for x, y in zip(new, sol, strict=True))
            sol = new
            if change < tol:
                break
    return torch.tensor(sol, dtype=grads.dtype, device=grads.device)


class MGDA(Weighting):
    """MGDA-UB (Sener & Koltun, NeurIPS 2018, "Multi-Task Learning as Multi-Objective Optimization").

    Find the min-norm point of the convex hull of the per-task gradients w.r.t. the
    shared representation :math:`z` (the "upper bound" variant: one backward pass
    through each head instead of through the encoder), :math:`\\alpha =`
    :func:`min_norm_weights`, then back-propagate :math:`\\sum_t \\alpha_t L_t`. The
    weights sum to 1, not T; with Adam this overall scale hardly matters.

    ``normalization`` rescales each gradient before the solver, as in the official code:
    ``"none"`` (default), ``"l2"`` (:math:`g_t/\\lVert g_t\\rVert`), ``"loss"``
    (:math:`g_t/L_t`) or ``"loss+"`` (:math:`g_t/(L_t\\lVert g_t\\rVert)`); the resulting
    :math:`\\alpha` multiplies the unnormalised losses. On models without a
    ``representation`` hook the gradients are over all shared parameters (plain MGDA).
    """

    name = "mgda"
    needs_representation = True
    NORMALIZATIONS = ("none", "l2", "loss", "loss+")

    def __init__(self, task_names: Sequence[str], normalization: str = "none"):
        if normalization not in self.NORMALIZATIONS:
            raise ValueError(
                f"unknown normalization {normalization!r}; choose one of {self.NORMALIZATIONS}"
            )
        self.task_names = list(task_names)
        self.normalization = normalization

    def hparams(self) -> dict[str, Any]:
        return {"normalization": self.normalization}

    def combine(
        self, losses: list[torch.Tensor], model: nn.Module, representation: torch.Tensor | None
    ) -> torch.Tensor:
        stacked = torch.stack(losses)
        inputs = gradient_inputs(model, representation, self.name)
        grads = task_gradients(losses, inputs).detach()
        if self.normalization != "none":
            scale = torch.ones_like(stacked.detach())
            if self.normalization in ("l2", "loss+"):
                scale = scale * grads.norm(dim=1)
            if self.normalization in ("loss", "loss+"):
                scale = scale * stacked.detach()
            grads = grads / scale.clamp_min(1e-12).unsqueeze(1)
        alpha = min_norm_weights(grads)
        (alpha * stacked).sum().backward()
        return alpha
