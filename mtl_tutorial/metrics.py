"""Task metrics that accumulate over batches, and the multi-task summary Δm.

Every metric has ``update(prediction, target)`` and ``compute() -> float``, so the trainer
can evaluate any task without knowing what it is.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

__all__ = [
    "Accuracy",
    "MeanIoU",
    "MeanMetric",
    "MeanSquaredError",
    "Metric",
    "MultiLabelAccuracy",
    "PixelAccuracy",
    "ReconstructionMSE",
    "delta_m",
]


class Metric:
    """Base class: accumulate with :meth:`update`, read with :meth:`compute`."""

    higher_is_better: bool = True

    def reset(self) -> None:
        raise NotImplementedError

    def update(self, prediction: torch.Tensor, target: torch.Tensor) -> None:
        raise NotImplementedError

    def compute(self) -> float:
        raise NotImplementedError


class MeanMetric(Metric):
    """A running mean: ``update`` adds a sum over some elements and their count."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.sum, self.count = 0.0, 0

    def add(self, total: float, count: int) -> None:
        """Accumulate ``total`` over ``count`` elements."""
        self.sum += total
        self.count += count

    def compute(self) -> float:
        return self.sum / max(self.count, 1)


class Accuracy(Metric):
    """Top-1 accuracy of logits ``(N, C)`` (or ``(N, C, H, W)``) against integer targets."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.correct, self.total = 0, 0

    def update(self, prediction: torch.Tensor, target: torch.Tensor) -> None:
        self.correct += int((prediction.argmax(dim=1) == target).sum())
        self.total += target.numel()

    def compute(self) -> float:
        return self.correct / max(self.total, 1)


PixelAccuracy = Accuracy  # same computation on (N, C, H, W) logits and (N, H, W) labels


class MultiLabelAccuracy(Metric):
    """Exact-match accuracy of multi-label logits ``(N, K)`` (threshold 0) against 0/1 targets."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.correct, self.total = 0, 0

    def update(self, prediction: torch.Tensor, target: torch.Tensor) -> None:
        self.correct += int(((prediction > 0) == (target > 0.5)).all(dim=1).sum())
        self.total += target.shape[0]

    def compute(self) -> float:
        return self.correct / max(self.total, 1)


class MeanIoU(Metric):
    """Mean intersection-over-union from a confusion matrix over ``num_classes`` classes.

    Classes that appear neither in the predictions nor in the targets are left out of the mean.
    """

    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.reset()

    def reset(self) -> None:
        self.confusion = torch.zeros(self.num_classes, self.num_classes, dtype=torch.int64)

    def update(self, prediction: torch.Tensor, target: torch.Tensor) -> None:
        labels = prediction.argmax(dim=1) if prediction.dim() == target.dim() + 1 else prediction
        index = target.reshape(-1).cpu() * self.num_classes + labels.reshape(-1).cpu()
        self.confusion += torch.bincount(index, minlength=self.num_classes**2).view(
            self.num_classes, -1
        )

    def compute(self) -> float:
        tp = self.confusion.diag().double()
        union = self.confusion.sum(0).double() + self.confusion.sum(1).double() - tp
        present = union > 0
        return float((tp[present] / union[present]).mean()) if present.any() else 0.0


class MeanSquaredError(MeanMetric):
    """Mean squared error over all elements (lower is better)."""

    higher_is_better = False

    def update(self, prediction: torch.Tensor, target: torch.Tensor) -> None:
        self.add(float(((prediction - target) ** 2).sum()), target.numel())


class BoxIoU(MeanMetric):
    """Mean intersection-over-union of predicted and true boxes ``(N, 4)`` as ``(x0, y0, x1, y1)``."""

    def update(self, prediction: torch.Tensor, target: torch.Tensor) -> None:
        lo = torch.maximum(prediction[:, :2], target[:, :2])
        hi = torch.minimum(prediction[:, 2:], target[:, 2:])
        inter = (hi - lo).clamp(min=0).prod(dim=1)

        def area(b: torch.Tensor) -> torch.Tensor:
            return (b[:, 2:] - b[:, :2]).clamp(min=0).prod(dim=1)

        union = area(prediction) + area(target) - inter
        self.add(float((inter / union.clamp(min=1e-12)).sum()), target.shape[0])


def delta_m(
    metrics: Mapping[str, float],
    baselines: Mapping[str, float],
    higher_is_better: Mapping[str, bool],
) -> float:
    r"""Mean relative change against single-task baselines (Maninis et al., 2019).

    .. math:: \Delta_m = \frac{1}{T} \sum_t (-1)^{l_t} \frac{M_t - M_{b,t}}{M_{b,t}}

    with :math:`l_t = 1` where lower is better. Returned as a fraction (multiply by 100 for %);
    positive means the multi-task model is better on average.
    """
    missing = set(baselines) - set(metrics)
    if missing:
        raise KeyError(f"metrics missing for Δm: {sorted(missing)}")
    if not baselines:
        raise ValueError("Δm needs at least one baseline metric")
    total = 0.0
    for key, base in baselines.items():
        if base == 0:
            raise ValueError(f"baseline {key!r} is 0: the relative change is undefined")
        sign = 1.0 if higher_is_better[key] else -1.0
        total += sign * (metrics[key] - base) / abs(base)
    return total / len(baselines)


class ReconstructionMSE(MeanMetric):
    """Mean squared error of a generated image in [0, 1] pixel scale (lower is better).

    ``prediction`` holds image *logits* ``(B, C, H, W)``, either as a tensor or as an object
    with a ``logits`` attribute (e.g. a VAE output); the image is ``sigmoid(logits)`` and
    ``target`` the true image in [0, 1].
    """

    higher_is_better = False

    def update(self, prediction: object, target: torch.Tensor) -> None:
        logits = getattr(prediction, "logits", prediction)
        if not isinstance(logits, torch.Tensor):
            raise TypeError(f"expected image logits or a VAE output, got {type(prediction)}")
        error = float(((torch.sigmoid(logits) - target) ** 2).sum())
        self.add(error, target.numel())
