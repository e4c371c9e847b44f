"""The judge of the generative chapter: a small MNIST classifier with a feature layer.

Trained by the package (experiment ``mnist-classifier``) on MNIST train only, it scores
generated digits (:mod:`mtl_tutorial.gan_eval`): its predictions give the label accuracy,
its penultimate layer the feature space of the classifier FID and of precision/recall::

    x (B, 1, 28, 28) in [0, 1]
    -> conv3x3(1 -> 32) -> ReLU -> maxpool2 -> conv3x3(32 -> 64) -> ReLU -> maxpool2
    -> flatten -> linear(3136 -> 128) -> ReLU      = features(x), (B, 128)
    -> dropout(0.3) -> linear(128 -> 10)           = {"digit": logits}
"""

from __future__ import annotations

import torch
from torch import nn

from .checks import check_images

__all__ = ["MNISTClassifier"]


class MNISTClassifier(nn.Module):
    """``forward(x) -> {"digit": logits (B, 10)}``; ``features(x) -> (B, features)``."""

    def __init__(self, widths: tuple[int, int] = (32, 64), features: int = 128):
        super().__init__()
        w1, w2 = widths
        self.body = nn.Sequential(
            nn.Conv2d(1, w1, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(w1, w2, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(w2 * 7 * 7, features),
            nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(features, 10))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer features (after the ReLU) of images in [0, 1]."""
        check_images(x, "MNISTClassifier", 1, 28)
        return self.body(x)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"digit": self.head(self.features(x))}
