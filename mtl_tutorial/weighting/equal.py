"""Equal weighting, the baseline of every multi-task comparison.

Every task has weight 1 and the model minimises

.. math:: \\sum_t L_t .
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from .base import Weighting

__all__ = ["EqualWeighting"]


class EqualWeighting(Weighting):
    """Every task has weight 1: minimise :math:`\\sum_t L_t` (works for any task names)."""

    name = "equal"

    @classmethod
    def create(cls, task_names: Sequence[str], **kwargs: Any) -> EqualWeighting:
        if kwargs:
            raise TypeError(f"equal weighting takes no options, got {sorted(kwargs)}")
        return cls()

    def backward(
        self,
        losses: Mapping[str, torch.Tensor],
        model: nn.Module,
        representation: torch.Tensor | None = None,
    ) -> dict[str, float]:
        sum(losses.values()).backward()  # type: ignore[union-attr]  # sum() of tensors is a Tensor; typeshed says int | Tensor
        return dict.fromkeys(losses, 1.0)
