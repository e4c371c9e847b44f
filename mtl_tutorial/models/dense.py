"""Dense prediction with a shared encoder: the corrected version of seed 004's PyTorch model.

Seed 004 sketches ``Encoder``, ``SegmentationDecoder`` and ``DepthDecoder`` with empty
bodies. Here they are real, small and U-Net-like (Ronneberger et al., 2015)::

    x (B, C, S, S)
    encoder:  [conv3x3 -> ReLU] x2 at S          -> f1 (w1 channels)
              maxpool, [conv3x3 -> ReLU] x2 at S/2 -> f2 (w2)
              maxpool, [conv3x3 -> ReLU] x2 at S/4 -> f3 (w3)
    decoder:  upsample f3, concat f2, conv x2 -> upsample, concat f1, conv x2 -> 1x1 conv -> out

Each dense task gets its own decoder; each image-level task a linear head on the
globally pooled f3.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..tasks import Task
from .checks import check_images

__all__ = ["DenseDecoder", "DenseEncoder", "DenseMultiTaskNet", "conv_block"]


def conv_block(cin: int, cout: int, norm: bool = False) -> nn.Sequential:
    """``[conv3x3 -> ReLU] x 2``; with ``norm``, ``[conv3x3 (no bias) -> BatchNorm -> ReLU] x 2``."""
    if not norm:
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(cout, cout, 3, padding=1),
            nn.ReLU(),
        )
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(),
    )


class DenseEncoder(nn.Module):
    """Three resolution levels; returns the feature maps ``[f1, f2, f3]`` for the skips."""

    def __init__(
        self, in_channels: int = 3, widths: tuple[int, int, int] = (16, 32, 64), norm: bool = False
    ):
        super().__init__()
        w1, w2, w3 = widths
        self.in_channels, self.widths = in_channels, widths
        self.levels = nn.ModuleList(
            [conv_block(in_channels, w1, norm), conv_block(w1, w2, norm), conv_block(w2, w3, norm)]
        )

    def check_input(
        self, x: torch.Tensor, model: str = "DenseEncoder", size: int | None = None
    ) -> None:
        """A clear ``ValueError`` (naming ``model``) unless ``x`` is ``(B, in_channels, H, W)`` float.

        Fully convolutional: any ``H, W`` divisible by 4 (two 2x2 poolings, undone by the
        decoder's two 2x up-samplings); ``size`` demands ``size x size`` instead (a model
        with a linear layer on the deepest map).
        """
        check_images(
            x,
            model,
            self.in_channels,
            size,
            multiple=4,
            channels_arg="in_channels",
            size_arg="image_size",
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        self.check_input(x)
        features = []
        for i, level in enumerate(self.levels):
            x = level(x if i == 0 else F.max_pool2d(x, 2))
            features.append(x)
        return features


class DenseDecoder(nn.Module):
    """U-Net-style decoder from ``[f1, f2, f3]`` back to full resolution with ``out_channels`` maps."""

    def __init__(
        self,
        out_channels: int,
        widths: tuple[int, int, int] = (16, 32, 64),
        norm: bool = False,
        output_bias: float | None = None,
    ):
        super().__init__()
        w1, w2, w3 = widths
        self.up2 = conv_block(w3 + w2, w2, norm)
        self.up1 = conv_block(w2 + w1, w1, norm)
        self.out = nn.Conv2d(w1, out_channels, 1)
        if output_bias is not None and self.out.bias is not None:  # see Task.output_bias
            nn.init.constant_(self.out.bias, output_bias)  # a regression starts at its targets' mean

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        f1, f2, f3 = features
        x = self.up2(torch.cat([F.interpolate(f3, scale_factor=2.0), f2], dim=1))
        x = self.up1(torch.cat([F.interpolate(x, scale_factor=2.0), f1], dim=1))
        return self.out(x)


class DenseMultiTaskNet(nn.Module):
    """Shared :class:`DenseEncoder`; a :class:`DenseDecoder` per dense task, a linear head per image task.

    With tasks ``[segmentation, depth]`` this is seed 004's segmentation + depth network;
    with one task it is the single-task baseline. ``norm`` adds BatchNorm after every
    convolution of the encoder and decoders.
    """

    def __init__(
        self,
        tasks: Sequence[Task],
        in_channels: int = 3,
        widths: tuple[int, int, int] = (16, 32, 64),
        norm: bool = False,
    ):
        super().__init__()
        if not tasks:
            raise ValueError("at least one task is needed")
        self.encoder = DenseEncoder(in_channels, widths, norm)
        self.heads = nn.ModuleDict(
            {
                t.name: DenseDecoder(t.out_channels, widths, norm, t.output_bias)
                if t.kind == "dense"
                else nn.Linear(widths[2], t.out_channels)
                for t in tasks
            }
        )
        self.dense = {t.name: t.kind == "dense" for t in tasks}

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.encoder.parameters())

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        self.encoder.check_input(x, "DenseMultiTaskNet")
        features = self.encoder(x)
        pooled = features[-1].mean(dim=(2, 3))
        return {
            name: head(features) if self.dense[name] else head(pooled)
            for name, head in self.heads.items()
        }
