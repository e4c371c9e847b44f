"""CAGrad: Liu, Liu, Jin, Stone & Liu, "Conflict-Averse Gradient Descent for Multi-task
Learning", NeurIPS 2021.

With :math:`g_0` the average task gradient, look for the update that maximises the
*worst* task's improvement within a ball around :math:`g_0`:

.. math:: \\max_d \\min_t g_t \\cdot d \\quad\\text{s.t.}\\quad
          \\lVert d - g_0\\rVert \\le c\\lVert g_0\\rVert .

With :math:`\\phi = c^2\\lVert g_0\\rVert^2` and :math:`g_w = \\sum_t w_t g_t` the solution
comes from the T-dimensional dual
:math:`\\min_{w \\in \\Delta} g_w^\\top g_0 + \\sqrt\\phi \\lVert g_w\\rVert`:
:math:`d = g_0 + \\frac{\\sqrt\\phi}{\\lVert g_w\\rVert} g_w`. For :math:`c = 0` this is
equal weighting; as :math:`c` grows its direction approaches MGDA's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .base import Weighting
from .gradients import add_to_grad, backward_task_specific, shared_parameters, task_gradients

__all__ = ["CAGrad", "cagrad_direction", "cagrad_dual"]


def _project_simplex(v: torch.Tensor) -> torch.Tensor:
    """Euclidean projection onto the probability simplex (sort-based)."""
    u, _ = torch.sort(v, descending=True)
    css = torch.cumsum(u, 0) - 1.0
    k = torch.arange(1, len(v) + 1, dtype=v.dtype)
    rho = int((u - css / k > 0).nonzero().max())
    return (v - css[rho] / (rho + 1)).clamp_min(0.0)


def cagrad_dual(
    gram: torch.Tensor, sqrt_phi: float, iters: int = 500, line_search: bool = True
) -> torch.Tensor:
    """Minimise :math:`F(w) = w^\\top M \\mathbf{1}/T + \\sqrt{\\phi}\\sqrt{w^\\top M w}` over the simplex.

    ``gram`` is :math:`M = G G^\\top` in float64 on the CPU. Two tasks (and
    ``line_search``): golden-section search over :math:`w = (x, 1-x)`; otherwise projected
    gradient descent with backtracking, started at the uniform weights.
    """
    n = gram.shape[0]
    scale = max(float(gram.diagonal().mean()), 1e-30)  # F is homogeneous: solve at unit scale
    m = gram / scale
    b = m.mean(dim=1)
    c = sqrt_phi / math.sqrt(scale)

    def f(w: torch.Tensor) -> float:
        return float(w @ b + c * torch.sqrt(w @ m @ w + 1e-16))

    if n == 1:
        return torch.ones(1, dtype=torch.float64)
    if n == 2 and line_search:  # in plain floats: F(x) for w = (x, 1 - x)
        (m00, m01), (_, m11) = m.tolist()
        b0, b1 = b.tolist()

        def f_pair(x: float) -> float:
            quad = x * x * m00 + 2.0 * x * (1.0 - x) * m01 + (1.0 - x) ** 2 * m11
            return x * b0 + (1.0 - x) * b1 + c * math.sqrt(max(quad, 0.0) + 1e-16)

        lo, hi = 0.0, 1.0
        ratio = (math.sqrt(5.0) - 1.0) / 2.0
        x1, x2 = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        f1, f2 = f_pair(x1), f_pair(x2)
        for _ in range(80):
            if f1 <= f2:
                hi, x2, f2 = x2, x1, f1
                x1 = hi - ratio * (hi - lo)
                f1 = f_pair(x1)
            else:
                lo, x1, f1 = x1, x2, f2
                x2 = lo + ratio * (hi - lo)
                f2 = f_pair(x2)
        x = (lo + hi) / 2.0
        return torch.tensor([x, 1.0 - x], dtype=torch.float64)
    w = torch.full((n,), 1.0 / n, dtype=torch.float64)
    fw, step = f(w), 1.0
    for _ in range(iters):
        q = m @ w
        grad = b + c * q / torch.sqrt(w @ q + 1e-16)
        while True:
            new = _project_simplex(w - step * grad)
            f_new = float(new @ b + c * torch.sqrt(new @ m @ new + 1e-16))
            diff = new - w
            if f_new <= fw + float(grad @ diff) + float(diff @ diff) / (2 * step) or step < 1e-12:
                break
            step *= 0.5
        done = float(diff.abs().sum()) < 1e-12
        w, fw, step = new, f_new, step * 2.0
        if done:
            break
    return w


def _cagrad(grads: torch.Tensor, c: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Direction ``(D,)`` and the coefficient of each task gradient in it ``(T,)``."""
    n = grads.shape[0]
    gram = (grads @ grads.T).double().cpu()
    g0_norm = math.sqrt(float(gram.mean()) + 1e-8)  # ||g0||, g0 = mean gradient
    sqrt_phi = c * g0_norm + 1e-8
    w = cagrad_dual(gram, sqrt_phi)
    gw_norm = math.sqrt(max(float(w @ gram @ w), 0.0))
    lam = sqrt_phi / (gw_norm + 1e-8)
    coeffs = (torch.full((n,), 1.0 / n, dtype=torch.float64) + lam * w) / (1.0 + c * c)
    coeffs = coeffs.to(device=grads.device, dtype=grads.dtype)
    return coeffs @ grads, coeffs


def cagrad_direction(grads: torch.Tensor, c: float = 0.4) -> torch.Tensor:
    """CAGrad's update direction ``(D,)`` from the per-task gradients ``grads`` ``(T, D)``.

    With :math:`g_0` the average gradient and :math:`\\phi = c^2\\lVert g_0\\rVert^2`, solve the
    dual :math:`\\min_{w \\in \\Delta} g_w^\\top g_0 + \\sqrt\\phi \\lVert g_w\\rVert`
    (:math:`g_w = \\sum_t w_t g_t`), then

    .. math:: d = \\frac{1}{1 + c^2}\\Bigl(g_0 + \\frac{\\sqrt\\phi}{\\lVert g_w\\rVert} g_w\\Bigr),

    the official implementation's ``rescale=1``. Before rescaling, :math:`d` maximises
    :math:`\\min_t g_t \\cdot d` over the ball :math:`\\lVert d - g_0\\rVert \\le c\\lVert g_0\\rVert`.
    """
    return _cagrad(grads, c)[0]


class CAGrad(Weighting):
    """Conflict-Averse Gradient descent (Liu, Liu, Jin, Stone & Liu, NeurIPS 2021), c = 0.4.

    The per-task gradients over ``model.shared_parameters()`` are combined by
    :func:`cagrad_direction`; as in the official multi-task code, the direction (which is
    built on the *mean* gradient) is multiplied by T to match the scale of
    :math:`\\sum_t L_t`, and added to the shared parameters' ``.grad``. Task-specific
    parameters get their ordinary gradients. The reported weights are each task
    gradient's coefficient in the shared update, :math:`T(1/T + \\lambda w_t)/(1+c^2)`.
    """

    name = "cagrad"

    def __init__(self, task_names: Sequence[str], c: float = 0.4):
        if c < 0:
            raise ValueError(f"c must be non-negative, got {c}")
        self.task_names = list(task_names)
        self.c = c

    def hparams(self) -> dict[str, Any]:
        return {"c": self.c}

    def combine(
        self, losses: list[torch.Tensor], model: nn.Module, representation: torch.Tensor | None
    ) -> torch.Tensor:
        shared = shared_parameters(model, self.name)
        direction, coeffs = _cagrad(task_gradients(losses, shared), self.c)
        n = len(losses)
        add_to_grad(shared, n * direction)
        backward_task_specific(sum(losses), model, shared)  # type: ignore[arg-type]  # sum() of tensors is a Tensor; typeshed says int | Tensor
        return n * coeffs
