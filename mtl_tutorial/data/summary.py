"""One table describing every dataset: split sizes and tensor shapes."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypedDict

import torch

from .mnist import MNISTDigits
from .multimnist import MultiFashion, MultiMNIST, MultiMNISTSeg
from .shapes import Shapes

__all__ = ["SummaryRow", "dataset_summary", "format_summary"]


class SummaryRow(TypedDict):
    """One split of one dataset: its size and the shape and dtype of one item."""

    dataset: str
    split: str
    size: int
    image: str
    targets: dict[str, str]


def _describe(value: torch.Tensor) -> str:
    shape = "x".join(str(s) for s in value.shape) or "scalar"
    return f"{shape} {str(value.dtype).replace('torch.', '')}"


def dataset_summary(root: str | os.PathLike[str] | None = None, seed: int = 0) -> list[SummaryRow]:
    """Build every dataset (from cache when possible) and describe each split.

    Each row has ``dataset``, ``split``, ``size``, ``image`` (shape and dtype of one item)
    and ``targets`` (task name -> shape and dtype of one item).
    """
    factories: dict[str, Callable[[str], MNISTDigits | MultiMNIST | MultiMNISTSeg | Shapes]] = {
        "MNIST": lambda split: MNISTDigits(split, "mnist", root),
        "FashionMNIST": lambda split: MNISTDigits(split, "fashion_mnist", root),
        "MultiMNIST": lambda split: MultiMNIST(split, seed, root),
        "MultiFashion": lambda split: MultiFashion(split, seed, root),
        "MultiMNIST-Seg": lambda split: MultiMNISTSeg(split, seed, root),
        "Shapes": lambda split: Shapes(split, seed=seed),
    }
    rows: list[SummaryRow] = []
    for name, make in factories.items():
        for split in ("train", "test"):
            ds = make(split)
            image, targets = ds[0]
            rows.append(
                {
                    "dataset": name,
                    "split": split,
                    "size": len(ds),
                    "image": _describe(image),
                    "targets": {k: _describe(v) for k, v in targets.items()},
                }
            )
    return rows


def format_summary(rows: list[SummaryRow]) -> str:
    """Render :func:`dataset_summary` rows as a fixed-width text table."""
    header = f"{'dataset':<15} {'split':<6} {'size':>7}  {'image':<18} targets"
    lines = [header, "-" * len(header)]
    for r in rows:
        targets = ", ".join(f"{k}: {v}" for k, v in r["targets"].items())
        lines.append(
            f"{r['dataset']:<15} {r['split']:<6} {r['size']:>7}  {r['image']:<18} {targets}"
        )
    return "\n".join(lines)
