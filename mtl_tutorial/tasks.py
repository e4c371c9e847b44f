"""One way to declare a task: its name, head, loss, metric and whether higher is better.

Models read ``kind`` and ``out_channels`` to build the task's head; the trainer reads
``loss`` and ``metric``. The same ``name`` keys the dataset's targets, the model's
outputs and the reported metric.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .losses import generation_loss
from .metrics import (
    Accuracy,
    BoxIoU,
    MeanIoU,
    MeanSquaredError,
    Metric,
    MultiLabelAccuracy,
    ReconstructionMSE,
)

__all__ = [
    "Task",
    "box_regression",
    "classification",
    "dense_regression",
    "generation",
    "multilabel",
    "segmentation",
]


@dataclass(frozen=True)
class Task:
    """A task of a multi-task model.

    ``kind`` is ``"image"`` (one prediction per image: a linear head) or ``"dense"`` (one per
    pixel: a decoder); ``out_channels`` is the head's output size; ``metric_name`` is the key
    under which the metric is reported (e.g. ``"acc_left"``).
    """

    name: str
    kind: str
    out_channels: int
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    metric: Callable[[], Metric]
    metric_name: str
    higher_is_better: bool = True
    #: where a regression head's output starts (its output bias): the training targets'
    #: mean, so the head does not spend its first hundreds of steps walking there from 0;
    #: ``None`` keeps PyTorch's default initialisation
    output_bias: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("image", "dense"):
            raise ValueError(
                f"task {self.name!r}: kind must be 'image' or 'dense', got {self.kind!r}"
            )


def classification(name: str, num_classes: int = 10, metric_name: str | None = None) -> Task:
    """Image classification with cross-entropy, reported as accuracy ``acc_<name>``."""
    return Task(name, "image", num_classes, F.cross_entropy, Accuracy, metric_name or f"acc_{name}")


def multilabel(name: str, num_labels: int, metric_name: str | None = None) -> Task:
    """Multi-label classification with binary cross-entropy, reported as exact-match accuracy."""
    return Task(
        name,
        "image",
        num_labels,
        F.binary_cross_entropy_with_logits,
        MultiLabelAccuracy,
        metric_name or f"acc_{name}",
    )


def segmentation(name: str = "seg", num_classes: int = 4, metric_name: str = "miou") -> Task:
    """Per-pixel classification with cross-entropy, reported as mean IoU."""
    return Task(
        name, "dense", num_classes, F.cross_entropy, lambda: MeanIoU(num_classes), metric_name
    )


def dense_regression(
    name: str = "depth",
    channels: int = 1,
    metric_name: str | None = None,
    target_mean: float | None = None,
) -> Task:
    """Per-pixel regression with an MSE loss, reported as mean squared error (lower is better).

    The loss is the metric, so training optimises what is reported. ``target_mean`` (the
    training targets' mean) is where the head's output starts: see :attr:`Task.output_bias`.
    """
    return Task(
        name,
        "dense",
        channels,
        F.mse_loss,
        MeanSquaredError,
        metric_name or f"{name}_mse",
        higher_is_better=False,
        output_bias=target_mean,
    )


def box_regression(name: str = "box", metric_name: str = "box_iou") -> Task:
    """Box regression ``(x0, y0, x1, y1)`` in [0, 1] with a squared error, reported as mean box IoU."""
    return Task(name, "image", 4, F.mse_loss, BoxIoU, metric_name)


def by_name(tasks: Sequence[Task]) -> dict[str, Task]:
    """Index tasks by name, rejecting duplicates."""
    out: dict[str, Task] = {}
    for t in tasks:
        if t.name in out:
            raise ValueError(f"duplicate task name {t.name!r}")
        out[t.name] = t
    return out


def generation(name: str = "gen", beta: float = 1.0, metric_name: str = "recon_mse") -> Task:
    """Image generation with the input image as target, reported as ``recon_mse`` (lower is better).

    The loss is the per-pixel negative ELBO of :func:`mtl_tutorial.losses.generation_loss`:
    binary cross-entropy of the image logits plus ``beta`` times the VAE's KL term (divided by
    the number of pixels) when the prediction is a VAE output; plain logits get the
    cross-entropy alone. The metric is the MSE of ``sigmoid(logits)`` in [0, 1].
    """
    return Task(
        name,
        "dense",
        1,
        functools.partial(generation_loss, beta=beta),
        ReconstructionMSE,
        metric_name,
        higher_is_better=False,
    )
