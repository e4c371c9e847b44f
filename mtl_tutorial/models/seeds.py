"""Seed 003 and seed 004's image-level models, corrected, with the seeds' own layer structure.

* :class:`Seed003Net`: seed 003's ``Classifier`` and ``Segmenter`` put in an ``nn.ModuleList``
  shared nothing and could not be called. Here one trunk (the seed's conv1/pool/conv2/pool)
  feeds a classification head (the seed's ``fc``) and a real segmentation head (two
  stride-2 transposed convolutions back to the input size, one channel per class).
* :class:`Seed004BoxNet`: seed 004's Keras "classification + detection" example, moved to
  PyTorch at this book's scale: a small shared CNN instead of an ImageNet ResNet50 (which
  would be downloaded at run time), one input instead of two copies of the image, a class
  head, and a box head regressing ``(x0, y0, x1, y1)`` in ``[0, 1]`` with a squared error
  (the seed's formula) instead of binary cross-entropy.
"""

from __future__ import annotations

import torch
from torch import nn

from .checks import check_images

__all__ = ["Seed003Net", "Seed004BoxNet"]


class Seed003Net(nn.Module):
    """Shared trunk + classifier + segmenter for ``(B, 3, S, S)`` images (S divisible by 4).

    Outputs ``{"shapes": (B, num_labels), "seg": (B, seg_classes, S, S)}``.
    """

    def __init__(
        self, num_labels: int = 3, seg_classes: int = 4, image_size: int = 32, width: int = 32
    ):
        super().__init__()
        self.image_size = image_size  # the classifier's linear layer fixes the input size
        self.trunk = (
            nn.Sequential(  # seed: conv1 -> relu -> pool -> conv2 -> relu -> pool, now shared
                nn.Conv2d(3, width, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(width, 2 * width, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),
            )
        )
        self.classifier = nn.Linear(
            2 * width * (image_size // 4) ** 2, num_labels
        )  # seed: fc on the flat map
        self.segmenter = (
            nn.Sequential(  # seed: stride-1 deconvs + fc; now upsampling deconvs, no fc
                nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1),
                nn.ReLU(),
                nn.ConvTranspose2d(width, seg_classes, 4, stride=2, padding=1),
            )
        )
        self.encoder = self.trunk  # the shared part, by the name the rest of the package uses

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.trunk.parameters())

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        check_images(x, "Seed003Net", 3, self.image_size, multiple=4, size_arg="image_size")
        h = self.trunk(x)
        return {"shapes": self.classifier(h.flatten(1)), "seg": self.segmenter(h)}


class Seed004BoxNet(nn.Module):
    """Shared CNN backbone + class head + box head for ``(B, 3, S, S)`` images.

    Outputs ``{"front": (B, num_classes) logits, "box": (B, 4)}`` with boxes squashed to [0, 1].
    """

    def __init__(self, num_classes: int = 3, width: int = 32):
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(2 * width, 4 * width, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),
        )
        self.encoder = self.backbone
        features = 4 * width * 16
        self.classify = nn.Sequential(
            nn.Linear(features, 128), nn.ReLU(), nn.Linear(128, num_classes)
        )
        self.regress = nn.Sequential(
            nn.Linear(features, 128), nn.ReLU(), nn.Linear(128, 4), nn.Sigmoid()
        )

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.backbone.parameters())

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        # adaptive pooling takes any size; two 2x2 poolings need at least 4x4 to leave a pixel
        check_images(x, "Seed004BoxNet", 3, min_size=4)
        h = self.backbone(x)
        return {"front": self.classify(h), "box": self.regress(h)}
