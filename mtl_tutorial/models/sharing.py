"""What the tasks share: hard sharing, soft sharing and cross-stitch networks.

All models here map an image batch to ``{task name: prediction}`` and are built from a
list of :class:`~mtl_tutorial.tasks.Task`. The encoder is a small LeNet-style CNN,
read top to bottom::

    x (B, C, H, W)
    -> conv5x5(C -> w1) -> ReLU -> maxpool2      stage 1
    -> conv5x5(w1 -> w2) -> ReLU -> maxpool2     stage 2
    -> flatten -> linear -> ReLU                 stage 3: a feature vector of size `features`
    -> one linear head per image-level task

* :class:`HardSharingNet`: one encoder shared by every task, one head per task.
  With a single task it is the single-task baseline.
* :class:`SoftSharingNet`: one full network per task, tied by the penalty
  :math:`\\lambda \\sum_l \\lVert \\theta^{(1)}_l - \\theta^{(2)}_l \\rVert^2` over corresponding
  encoder layers (for more than two tasks, summed over all pairs).
* :class:`CrossStitchNet`: one network per task, mixing the activations after every
  encoder stage with learned cross-stitch units (Misra et al., 2016).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any, cast

import torch
from torch import nn

from ..tasks import Task
from .checks import check_images

__all__ = [
    "ConvEncoder",
    "CrossStitchNet",
    "CrossStitchUnit",
    "HardSharingNet",
    "SoftSharingNet",
    "count_parameters",
]


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class ConvEncoder(nn.Module):
    """LeNet-style encoder with three stages; ``stages`` exposes them for cross-stitching."""

    def __init__(
        self,
        in_channels: int = 1,
        image_size: int = 28,
        widths: tuple[int, int] = (16, 32),
        features: int = 128,
    ):
        super().__init__()
        if image_size % 4:
            raise ValueError(f"image_size must be divisible by 4, got {image_size}")
        w1, w2 = widths
        flat = w2 * (image_size // 4) ** 2
        self.stages = nn.ModuleList(
            [
                nn.Sequential(nn.Conv2d(in_channels, w1, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2)),
                nn.Sequential(nn.Conv2d(w1, w2, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2)),
                nn.Sequential(nn.Flatten(), nn.Linear(flat, features), nn.ReLU()),
            ]
        )
        self.in_channels, self.image_size, self.features = in_channels, image_size, features

    def check_input(self, x: torch.Tensor, model: str = "ConvEncoder") -> None:
        """A clear ``ValueError`` (naming ``model``) unless ``x`` is ``(B, in_channels, S, S)`` float."""
        check_images(
            x,
            model,
            self.in_channels,
            self.image_size,
            multiple=4,
            channels_arg="in_channels",
            size_arg="image_size",
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        for stage in self.stages:
            x = stage(x)
        return x


def _image_tasks(tasks: Sequence[Task]) -> list[Task]:
    if not tasks:
        raise ValueError("at least one task is needed")
    dense = [t.name for t in tasks if t.kind != "image"]
    if dense:
        raise ValueError(
            f"these models predict image-level tasks only; dense tasks {dense} need a decoder model"
        )
    return list(tasks)


class HardSharingNet(nn.Module):
    """A shared encoder and one linear head per task (with one task: a single-task baseline)."""

    def __init__(
        self,
        tasks: Sequence[Task],
        in_channels: int = 1,
        image_size: int = 28,
        widths: tuple[int, int] = (16, 32),
        features: int = 128,
    ):
        super().__init__()
        self.task_names = [t.name for t in _image_tasks(tasks)]
        self.encoder = ConvEncoder(in_channels, image_size, widths, features)
        self.heads = nn.ModuleDict({t.name: nn.Linear(features, t.out_channels) for t in tasks})

    def shared_parameters(self) -> list[nn.Parameter]:
        """Parameters every task's loss depends on (used by gradient-balancing methods)."""
        return list(self.encoder.parameters())

    def representation(self, x: torch.Tensor) -> torch.Tensor:
        """The shared feature vector ``(B, features)``."""
        self.encoder.check_input(x, "HardSharingNet")
        return self.encoder(x)

    def heads_forward(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        return {name: head(z) for name, head in self.heads.items()}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.heads_forward(self.representation(x))


class SoftSharingNet(nn.Module):
    """One network per task, tied by ``penalty_weight * sum_l ||theta_l^(i) - theta_l^(j)||^2``.

    ``column(task)`` builds the single-task network of each task (it must have an ``encoder``
    attribute, whose parameters are the ones tied); by default a single-task
    :class:`HardSharingNet` built with ``**kwargs``.
    """

    def __init__(
        self,
        tasks: Sequence[Task],
        penalty_weight: float = 1e-3,
        column: Callable[[Task], nn.Module] | None = None,
        **kwargs: Any,
    ):
        super().__init__()
        if not tasks:
            raise ValueError("at least one task is needed")
        if penalty_weight < 0:
            raise ValueError(f"penalty_weight must be non-negative, got {penalty_weight}")
        self.penalty_weight = penalty_weight
        make = column or (lambda t: HardSharingNet([t], **kwargs))
        self.columns = nn.ModuleDict({t.name: make(t) for t in tasks})

    def distance(self) -> torch.Tensor:
        """Sum over task pairs and encoder parameters of the squared L2 distance."""
        total = torch.zeros((), device=next(self.parameters()).device)
        for a, b in itertools.combinations(self.columns.values(), 2):
            pairs = zip(
                a.get_submodule("encoder").parameters(),
                b.get_submodule("encoder").parameters(),
                strict=True,
            )
            for pa, pb in pairs:
                total = total + ((pa - pb) ** 2).sum()
        return total

    def penalty(self) -> torch.Tensor:
        """The soft-sharing term added to the loss by the trainer."""
        return self.penalty_weight * self.distance()

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        encoder = getattr(next(iter(self.columns.values())), "encoder", None)
        check = getattr(encoder, "check_input", None)
        if callable(check):  # the columns' own check would name the column, not this model
            check(x, "SoftSharingNet")
        return {name: column(x)[name] for name, column in self.columns.items()}


class CrossStitchUnit(nn.Module):
    """Mix T same-shaped activations: ``out_i = sum_j alpha[i, j] * x_j``, alpha initialised to identity.

    One alpha matrix per unit (shared over channels), as in the simplest variant of Misra et al. (2016).
    ``init_self`` is the initial weight on a task's own activation; the rest is split evenly.
    """

    def __init__(self, num_tasks: int, init_self: float = 1.0):
        super().__init__()
        off = (1.0 - init_self) / max(num_tasks - 1, 1)
        alpha = torch.full((num_tasks, num_tasks), off)
        alpha.fill_diagonal_(init_self)
        self.alpha = nn.Parameter(alpha)

    def forward(self, xs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        stacked = torch.stack(list(xs))  # (T, B, ...)
        mixed = torch.einsum("ij,j...->i...", self.alpha, stacked)
        return list(mixed.unbind(0))


class CrossStitchNet(nn.Module):
    """One encoder per task with a cross-stitch unit after each of the first two stages.

    ``kwargs`` (``in_channels``, ``image_size``, ``widths``, ``features``) build each task's column.
    """

    def __init__(self, tasks: Sequence[Task], init_self: float = 0.9, **kwargs: Any):
        super().__init__()
        self.task_names = [t.name for t in _image_tasks(tasks)]
        self.columns = nn.ModuleDict({t.name: HardSharingNet([t], **kwargs) for t in tasks})
        self.stitches = nn.ModuleList([CrossStitchUnit(len(tasks), init_self) for _ in range(2)])

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        columns = [cast(HardSharingNet, c) for c in self.columns.values()]
        columns[0].encoder.check_input(x, "CrossStitchNet")
        xs = [x] * len(columns)
        for s in range(3):
            xs = [col.encoder.stages[s](h) for col, h in zip(columns, xs, strict=True)]
            if s < 2:
                xs = self.stitches[s](xs)
        return {
            name: col.heads[name](h)
            for name, col, h in zip(self.task_names, columns, xs, strict=True)
        }
