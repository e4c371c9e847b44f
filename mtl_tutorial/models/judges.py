"""Stronger judges of generated digits (issue #18): a wider CNN and an MLP, both with live features.

The shipped ``mnist-classifier`` (:mod:`.classifier`) reads its features after a ReLU, and on
real MNIST 48 of its 128 are always 0. These judges keep its interface (``forward(x) ->
{"digit": logits}``, ``features(x) -> (B, D)``, images in [0, 1]), so every function of
:mod:`mtl_tutorial.gan_eval` accepts them, but read the features *before* the last ReLU,
where no unit is constant::

    ConvJudge (experiment ``mnist-judge``), trained on randomly shifted/rotated/scaled digits
    x -> [RandomAffine, train mode only]
      -> 2 x (conv3x3(1|32 -> 32) -> BN -> ReLU) -> maxpool2
      -> 2 x (conv3x3(32|64 -> 64) -> BN -> ReLU) -> maxpool2
      -> flatten -> linear(3136 -> 256) -> BN          = features(x), (B, 256)
      -> ReLU -> dropout(0.3) -> linear(256 -> 10)     = {"digit": logits}

    MLPJudge (experiment ``mnist-judge-mlp``), a second, architecturally different opinion
    x -> flatten -> linear(784 -> 512) -> BN -> ReLU -> dropout(0.2)
      -> linear(512 -> 256) -> BN                      = features(x), (B, 256)
      -> ReLU -> dropout(0.2) -> linear(256 -> 10)     = {"digit": logits}
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .checks import check_images

__all__ = ["ConvJudge", "MLPJudge", "RandomAffine"]


class RandomAffine(nn.Module):
    """Per-image random rotation, shift and scale of a batch, in training mode only.

    Each image gets its own angle in ``[-degrees, degrees]``, shift in ``[-translate,
    translate]`` of the image size (each axis) and scale in ``scale``; bilinear resampling,
    zeros outside. In eval mode it returns ``x`` itself. It runs on ``x``'s device and draws
    from torch's global generator (seeded by every run).
    """

    def __init__(
        self,
        degrees: float = 10.0,
        translate: float = 0.1,
        scale: tuple[float, float] = (0.9, 1.1),
    ):
        super().__init__()
        if degrees < 0 or not 0 <= translate < 1 or not 0 < scale[0] <= scale[1]:
            raise ValueError(
                f"RandomAffine needs degrees >= 0, 0 <= translate < 1 and 0 < scale[0] <= "
                f"scale[1], got degrees={degrees}, translate={translate}, scale={scale}"
            )
        self.degrees, self.translate, self.scale = degrees, translate, scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        b = x.shape[0]

        def uniform(low: float, high: float) -> torch.Tensor:
            return low + (high - low) * torch.rand(b, device=x.device, dtype=x.dtype)

        angle = uniform(-1.0, 1.0) * math.radians(self.degrees)
        zoom = uniform(*self.scale)
        # affine_grid maps output to input coordinates in [-1, 1]: a shift of t of the image
        # size is 2t there, and dividing by the zoom enlarges the digit by it
        cos, sin = angle.cos() / zoom, angle.sin() / zoom
        tx, ty = (uniform(-2 * self.translate, 2 * self.translate) for _ in range(2))
        theta = torch.stack([cos, -sin, tx, sin, cos, ty], dim=1).view(b, 2, 3)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def extra_repr(self) -> str:
        return f"degrees={self.degrees}, translate={self.translate}, scale={self.scale}"


def _conv_bn(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


class ConvJudge(nn.Module):
    """``forward(x) -> {"digit": logits (B, 10)}``; ``features(x) -> (B, features)``, pre-ReLU.

    ``augment``: apply :class:`RandomAffine` to the batch in ``forward`` in training mode
    (never in ``features`` or in eval mode, so evaluation stays deterministic).
    """

    def __init__(
        self, widths: tuple[int, int] = (32, 64), features: int = 256, augment: bool = True
    ):
        super().__init__()
        w1, w2 = widths
        self.augment = RandomAffine() if augment else nn.Identity()
        self.body = nn.Sequential(
            *_conv_bn(1, w1),
            *_conv_bn(w1, w1),
            nn.MaxPool2d(2),
            *_conv_bn(w1, w2),
            *_conv_bn(w2, w2),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(w2 * 7 * 7, features, bias=False),
            nn.BatchNorm1d(features),
        )
        self.head = nn.Sequential(nn.ReLU(), nn.Dropout(0.3), nn.Linear(features, 10))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer features (before the ReLU) of images in [0, 1]."""
        check_images(x, "ConvJudge", 1, 28)
        return self.body(x)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        check_images(x, "ConvJudge", 1, 28)
        return {"digit": self.head(self.body(self.augment(x)))}


class MLPJudge(nn.Module):
    """``forward(x) -> {"digit": logits (B, 10)}``; ``features(x) -> (B, features)``, pre-ReLU.

    A multilayer perceptron on the 784 pixels: no convolution, no pooling, no augmentation,
    so its mistakes are not those of :class:`ConvJudge`.
    """

    def __init__(self, hidden: int = 512, features: int = 256, dropout: float = 0.2):
        super().__init__()
        self.body = nn.Sequential(
            nn.Flatten(),
            nn.Linear(28 * 28, hidden, bias=False),
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, features, bias=False),
            nn.BatchNorm1d(features),
        )
        self.head = nn.Sequential(nn.ReLU(), nn.Dropout(dropout), nn.Linear(features, 10))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer features (before the ReLU) of images in [0, 1]."""
        check_images(x, "MLPJudge", 1, 28)
        return self.body(x)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"digit": self.head(self.features(x))}
