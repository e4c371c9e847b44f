"""The MT-CGAN discriminator: one shared conv trunk, one small head per task.

With ``w = width``::

    image (B, 1, 28, 28) in [-1, 1]
      shared trunk: conv 4x4 s2 -> LeakyReLU -> (w, 14, 14)
                    conv 4x4 s2 -> LeakyReLU -> map (2w, 7, 7); h = flatten(map), 98w values
      heads:  adv    linear(h) -> 1 real/fake logit for the whole image           (every GAN)
              (+ <embed(y), h> with ``projection``: the cGAN baseline, Miyato & Koyama 2018)
                     with ``adv_heads=K > 1``: K real/fake logits, one per head (seed 002's
                     K heads, each trained on its own chunk of the batch by the GAN)
              patch  conv 1x1 on the map -> (7, 7) real/fake logits, one per 10x10-pixel
                     patch (PatchGAN, Isola et al. 2017): the same judge at every place
              cls    linear(h) -> 10 class logits                 (AC-GAN, Odena et al. 2017)
              latent linear(h) -> z_dim, recovers the z of a fake (InfoGAN-style, Chen et al. 2016)
              tac    linear(h) -> 10 class logits, the twin classifier of TAC-GAN
                     (Gong et al. 2019): trained on the fakes' requested classes
"""

from __future__ import annotations

import torch
from torch import nn

from ..checks import check_images, check_labels
from .generator import dcgan_init

__all__ = ["Discriminator"]


class Discriminator(nn.Module):
    """Multi-task discriminator: a shared conv trunk and one small head per task.

    ``forward(x, labels)`` returns a dict with ``adv`` (B,) always ((B, K) with
    ``adv_heads=K > 1``), and ``patch`` (B, 7, 7), ``cls`` (B, num_classes), ``latent``
    (B, z_dim) and ``tac`` (B, num_classes) when those heads are on. ``projection=True``
    adds ``<embed(labels), h>`` to the ``adv`` logit (projection cGAN); it then needs
    ``labels``. ``shared_parameters()`` are the trunk's, which every head's loss reaches.
    """

    def __init__(
        self,
        width: int = 32,
        num_classes: int = 10,
        z_dim: int = 64,
        cls_head: bool = False,
        patch_head: bool = False,
        latent_head: bool = False,
        projection: bool = False,
        adv_heads: int = 1,
        tac_head: bool = False,
    ):
        super().__init__()
        if adv_heads < 1:
            raise ValueError(f"Discriminator: adv_heads must be at least 1, got {adv_heads}")
        if projection and adv_heads > 1:
            raise ValueError(
                "Discriminator: projection is implemented for one real/fake head; "
                f"got adv_heads={adv_heads}"
            )
        self.width, self.num_classes, self.z_dim = width, num_classes, z_dim
        self.trunk = nn.Sequential(
            nn.Conv2d(1, width, 4, 2, 1),  # 28 -> 14
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1),  # 14 -> 7
            nn.LeakyReLU(0.2),
        )
        features = 2 * width * 7 * 7
        self.adv_heads = adv_heads
        self.adv = nn.Linear(features, adv_heads)  # K heads: column k is head k's logit
        self.embed = nn.Embedding(num_classes, features) if projection else None
        self.patch = nn.Conv2d(2 * width, 1, 1) if patch_head else None
        self.cls = nn.Linear(features, num_classes) if cls_head else None
        self.latent = nn.Linear(features, z_dim) if latent_head else None
        self.tac = nn.Linear(features, num_classes) if tac_head else None
        dcgan_init(self)

    @property
    def heads(self) -> tuple[str, ...]:
        """Names of the heads this discriminator has, in output order."""
        return ("adv",) + tuple(
            n for n in ("patch", "cls", "latent", "tac") if getattr(self, n) is not None
        )

    def shared_parameters(self) -> list[nn.Parameter]:
        """The shared trunk's parameters (what seed 002's ``dis.shared_parameters()`` meant)."""
        return list(self.trunk.parameters())

    def forward(
        self, x: torch.Tensor, labels: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        check_images(x, "Discriminator", 1, 28, value_range="[-1, 1]")
        if labels is not None and self.embed is not None:
            check_labels(labels, "Discriminator", x.shape[0], self.num_classes)
        fmap = self.trunk(x)
        h = fmap.flatten(1)
        adv = self.adv(h)
        adv = adv.squeeze(1) if self.adv_heads == 1 else adv
        if self.embed is not None:
            if labels is None:
                raise ValueError(
                    "Discriminator: a projection discriminator needs labels (B,), one class "
                    "index per image; pass D(x, labels)"
                )
            adv = adv + (self.embed(labels) * h).sum(dim=1)
        out = {"adv": adv}
        if self.patch is not None:
            out["patch"] = self.patch(fmap).squeeze(1)
        if self.cls is not None:
            out["cls"] = self.cls(h)
        if self.latent is not None:
            out["latent"] = self.latent(h)
        if self.tac is not None:
            out["tac"] = self.tac(h)
        return out
