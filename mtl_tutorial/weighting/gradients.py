"""Per-task gradients, and writing a combined gradient back to the parameters.

The gradient-level methods (GradNorm, PCGrad, MGDA, CAGrad) need each task's gradient
separately, either over the model's shared parameters or at the shared representation
``z``; the trainer's gradient-cosine probe uses the same helpers. Every gradient here is
taken with ``torch.autograd.grad(..., retain_graph=True)``, so ``.grad`` is untouched
and the graph can still be back-propagated afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..models.protocols import SharedTrunk

__all__ = [
    "add_to_grad",
    "backward_task_specific",
    "flat_grad",
    "gradient_inputs",
    "shared_parameters",
    "task_gradients",
]


def flat_grad(loss: torch.Tensor, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
    """Gradient of ``loss`` w.r.t. ``inputs`` as one flat vector (zeros where unused)."""
    grads = torch.autograd.grad(loss, list(inputs), retain_graph=True, allow_unused=True)
    return torch.cat(
        [
            (g if g is not None else torch.zeros_like(x)).reshape(-1)
            for g, x in zip(grads, inputs, strict=True)
        ]
    )


def task_gradients(losses: Sequence[torch.Tensor], inputs: Sequence[torch.Tensor]) -> torch.Tensor:
    """``(T, D)``: row t is :func:`flat_grad` of ``losses[t]`` w.r.t. ``inputs``."""
    return torch.stack([flat_grad(loss, inputs) for loss in losses])


def shared_parameters(model: nn.Module, method: str) -> list[nn.Parameter]:
    """The trainable ``model.shared_parameters()``; an error naming ``method`` if there are none."""
    if not isinstance(model, SharedTrunk):
        raise TypeError(
            f"{method} needs a model with shared_parameters(); {type(model).__name__} has none"
        )
    params = [p for p in model.shared_parameters() if p.requires_grad]
    if not params:
        raise ValueError(f"{method}: the model has no trainable shared parameters")
    return params


def gradient_inputs(
    model: nn.Module, representation: torch.Tensor | None, method: str
) -> list[torch.Tensor]:
    """Where to take per-task gradients: ``[representation]`` if given, else the shared parameters."""
    if representation is not None:
        return [representation]
    return list(shared_parameters(model, method))


def add_to_grad(params: Sequence[nn.Parameter], flat: torch.Tensor) -> None:
    """Add the flat vector ``flat`` to the ``.grad`` of ``params`` (in order)."""
    offset = 0
    for p in params:
        g = flat[offset : offset + p.numel()].view_as(p)
        offset += p.numel()
        if p.grad is None:
            p.grad = g.clone()
        else:
            p.grad.add_(g)


def backward_task_specific(
    total: torch.Tensor, model: nn.Module, shared: Sequence[nn.Parameter]
) -> None:
    """Add the ordinary gradients of ``total`` for every trainable parameter not in ``shared``."""
    ids = {id(p) for p in shared}
    specific = [p for p in model.parameters() if p.requires_grad and id(p) not in ids]
    if not specific:
        return
    grads = torch.autograd.grad(total, specific, allow_unused=True)
    for p, g in zip(specific, grads, strict=True):
        if g is None:
            continue
        if p.grad is None:
            p.grad = g
        else:
            p.grad.add_(g)
