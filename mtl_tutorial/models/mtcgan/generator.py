"""The MT-CGAN generator: noise and a one-hot label -> a 28x28 image in [-1, 1].

With ``w = width``::

    z (B, 64), one-hot label (B, 10)
      -> linear -> BN -> ReLU -> (2w, 7, 7)
      -> convT 4x4 s2 -> BN -> ReLU -> (w, 14, 14)
      -> convT 4x4 s2 -> tanh -> (1, 28, 28) in [-1, 1]
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_labels, check_vectors

__all__ = ["Generator", "dcgan_init"]


def dcgan_init(module: nn.Module) -> None:
    """DCGAN initialisation: conv/linear weights ~ N(0, 0.02), BN scale ~ N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            bias = getattr(m, "bias", None)  # nn.Embedding has none
            if isinstance(bias, torch.Tensor):
                nn.init.zeros_(bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class Generator(nn.Module):
    """``G(z, labels) -> image (B, 1, 28, 28)`` in [-1, 1]; class-conditional by a one-hot label.

    With ``num_classes=None`` the generator is unconditional (the ``dcgan`` baseline): it
    accepts labels for a uniform interface and ignores them. A
    :class:`~mtl_tutorial.models.protocols.Sampler`.
    """

    sample_range = (-1.0, 1.0)  # what sample() returns (tanh)

    def __init__(self, z_dim: int = 64, num_classes: int | None = 10, width: int = 32):
        super().__init__()
        self.z_dim, self.num_classes, self.width = z_dim, num_classes, width
        in_features = z_dim + (num_classes or 0)
        self.fc = nn.Sequential(
            nn.Linear(in_features, 2 * width * 7 * 7, bias=False),
            nn.BatchNorm1d(2 * width * 7 * 7),
            nn.ReLU(),
        )
        self.up = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1, bias=False),  # 7 -> 14
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.ConvTranspose2d(width, 1, 4, stride=2, padding=1),  # 14 -> 28
            nn.Tanh(),
        )
        dcgan_init(self)

    @property
    def conditional(self) -> bool:
        return self.num_classes is not None

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        check_vectors(z, "Generator", self.z_dim)
        if self.num_classes is not None:
            if labels is None:
                raise ValueError(
                    "Generator: a class-conditional generator needs labels (B,) int64, one class "
                    "index per z; pass G(z, labels) (or build it with num_classes=None)"
                )
            check_labels(labels, "Generator", z.shape[0], self.num_classes, long_only=True)
            z = torch.cat([z, F.one_hot(labels, self.num_classes).to(z.dtype)], dim=1)
        h = self.fc(z).view(-1, 2 * self.width, 7, 7)
        return self.up(h)

    @torch.no_grad()
    def sample(
        self,
        labels: torch.Tensor,
        z: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Images ``(N, 1, 28, 28)`` in [-1, 1] for the requested ``labels`` (N,).

        ``z`` defaults to standard normal noise (drawn with ``generator`` if given, on the CPU,
        so that a seed gives the same images on every device). An unconditional generator
        uses only ``len(labels)``. Call it on a model in eval mode (``pretrained.load`` returns
        one) so that batch normalisation uses its stored statistics.
        """
        device = next(self.parameters()).device
        labels = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
        if (
            self.num_classes is not None
            and len(labels)
            and not (0 <= int(labels.min()) and int(labels.max()) < self.num_classes)
        ):
            raise ValueError(f"labels must lie in [0, {self.num_classes - 1}]")
        if z is None:
            z = torch.randn(len(labels), self.z_dim, generator=generator)
        return self(z.to(device), labels.to(device))
