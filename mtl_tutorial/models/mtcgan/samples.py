"""A PNG grid of a generator's samples, one row per class, written after every GAN epoch."""

from __future__ import annotations

from pathlib import Path

import torch

from .generator import Generator

__all__ = ["save_sample_grid"]


def save_sample_grid(
    generator: Generator, path: str | Path, per_class: int = 10, seed: int = 1234
) -> Path:
    """Save a PNG grid: one row per class (10 rows of ``per_class`` fixed-noise samples).

    The noise comes from ``seed``, so grids of successive epochs show the same ``z``.
    An unconditional generator gives the same layout without class rows.
    """
    from torchvision.utils import save_image  # lazy: torchvision is slow to import

    classes = generator.num_classes or 10
    labels = torch.arange(classes).repeat_interleave(per_class)
    z = torch.randn(len(labels), generator.z_dim, generator=torch.Generator().manual_seed(seed))
    was_training = generator.training
    generator.eval()
    images = generator.sample(labels, z).cpu()
    generator.train(was_training)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image((images + 1) / 2, path, nrow=per_class, padding=2, pad_value=1.0)
    return path
