"""The generation branch of :class:`~mtl_tutorial.models.genseg.GenSegNet`: a VAE on the shared features.

``deepest features -> flatten -> mu, logvar (B, latent) -> z -> ImageDecoder -> image logits``,
with ``z = mu + exp(logvar / 2) * eps`` in training and ``z = mu`` in evaluation. Its loss,
the negative ELBO, is :func:`mtl_tutorial.losses.generation_loss`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...losses import VAEOutput
from ..dense import conv_block

__all__ = ["ImageDecoder", "VAEBranch"]


class ImageDecoder(nn.Module):
    """``z (B, latent)`` -> image logits ``(B, C, S, S)``: a linear map to ``(w3, S/4, S/4)``, two x2 up-steps."""

    def __init__(
        self,
        latent_dim: int,
        out_channels: int = 1,
        image_size: int = 36,
        widths: tuple[int, int, int] = (16, 32, 64),
    ):
        super().__init__()
        w1, w2, w3 = widths
        self.start = (w3, image_size // 4, image_size // 4)
        self.fc = nn.Linear(latent_dim, w3 * (image_size // 4) ** 2)
        self.up2 = conv_block(w3, w2, norm=True)  # at S/2
        self.up1 = conv_block(w2, w1, norm=True)  # at S
        self.out = nn.Conv2d(w1, out_channels, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.fc(z)).view(-1, *self.start)
        x = self.up2(F.interpolate(x, scale_factor=2.0))
        x = self.up1(F.interpolate(x, scale_factor=2.0))
        return self.out(x)


class VAEBranch(nn.Module):
    """The generation branch: deepest shared features -> ``q(z|x)`` -> reparameterised ``z`` -> image."""

    def __init__(
        self,
        in_features: int,
        latent_dim: int = 32,
        out_channels: int = 1,
        image_size: int = 36,
        widths: tuple[int, int, int] = (16, 32, 64),
    ):
        super().__init__()
        self.latent_dim = latent_dim
        self.to_mu = nn.Linear(in_features, latent_dim)
        self.to_logvar = nn.Linear(in_features, latent_dim)
        self.decoder = ImageDecoder(latent_dim, out_channels, image_size, widths)

    def forward(self, deepest: torch.Tensor) -> VAEOutput:
        h = deepest.flatten(1)
        mu, logvar = self.to_mu(h), self.to_logvar(h)
        if self.training:  # reparameterisation: the sample is differentiable in mu and logvar
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        else:  # evaluation reconstructs from the posterior mean, so recon_mse is deterministic
            z = mu
        return VAEOutput(self.decoder(z), mu, logvar)
