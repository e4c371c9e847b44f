"""The building blocks of :class:`~mtl_tutorial.models.genseg.GenSegNet` (besides the VAE).

Every block is [conv3x3 -> BatchNorm -> ReLU] x 2: :class:`~mtl_tutorial.models.dense.DenseEncoder`
and ``DenseDecoder`` with BatchNorm added (see the package docstring for why).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..dense import DenseDecoder, DenseEncoder, conv_block

__all__ = ["ClassifierHead", "MaskRenderer", "SharedEncoder", "UNetDecoder"]


class SharedEncoder(DenseEncoder):
    """Three resolution levels (S, S/2, S/4) with BatchNorm; returns ``[f1, f2, f3]`` for the skips."""

    def __init__(self, in_channels: int = 1, widths: tuple[int, int, int] = (16, 32, 64)):
        super().__init__(in_channels, widths, norm=True)


class UNetDecoder(DenseDecoder):
    """Segmentation decoder with BatchNorm: up-sample, concatenate the encoder's map of that size, convolve."""

    def __init__(self, out_channels: int, widths: tuple[int, int, int] = (16, 32, 64)):
        super().__init__(out_channels, widths, norm=True)


class ClassifierHead(nn.Module):
    """One image-level head: average-pool the deepest map to 3x3 (keeps coarse position) -> MLP."""

    def __init__(self, channels: int, num_classes: int = 10, hidden: int = 64):
        super().__init__()
        self.net = nn.Sequential(
            nn.AdaptiveAvgPool2d(3),
            nn.Flatten(),
            nn.Linear(9 * channels, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, deepest: torch.Tensor) -> torch.Tensor:
        return self.net(deepest)


class MaskRenderer(nn.Module):
    """Label map -> image logits: a two-level U-Net on the one-hot mask ``(B, K, S, S)``."""

    def __init__(
        self, num_classes: int = 11, out_channels: int = 1, widths: tuple[int, int] = (16, 32)
    ):
        super().__init__()
        w1, w2 = widths
        self.num_classes = num_classes
        self.down1 = conv_block(num_classes, w1, norm=True)
        self.down2 = conv_block(w1, w2, norm=True)
        self.up1 = conv_block(w2 + w1, w1, norm=True)
        self.out = nn.Conv2d(w1, out_channels, 1)

    def forward(self, mask: torch.Tensor) -> torch.Tensor:
        """``mask``: integer labels ``(B, S, S)`` or a one-hot/soft map ``(B, K, S, S)``."""
        if mask.dim() == 3:
            mask = F.one_hot(mask.long(), self.num_classes).permute(0, 3, 1, 2).float()
        h1 = self.down1(mask)
        h2 = self.down2(F.max_pool2d(h1, 2))
        h = self.up1(torch.cat([F.interpolate(h2, scale_factor=2.0), h1], dim=1))
        return self.out(h)
