"""Loss functions that are more than one line of ``torch.nn.functional``: the VAE's and the GAN's.

* :func:`generation_loss`: the per-pixel negative ELBO of a VAE, with its KL term
  :func:`kl_divergence`; the VAE's output is a :class:`VAEOutput` ``(logits, mu, logvar)``.
* :func:`d_adversarial_loss`, :func:`g_adversarial_loss`: a GAN's discriminator and generator
  losses on real/fake logits, non-saturating (``"ns"``) or hinge.

Pure functions of tensors: :mod:`mtl_tutorial.tasks` builds task losses from them and the
models of chapters 4 and 5 (:mod:`mtl_tutorial.models.genseg`, :mod:`mtl_tutorial.models.mtcgan`)
re-export them.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

__all__ = [
    "VAEOutput",
    "d_adversarial_loss",
    "g_adversarial_loss",
    "generation_loss",
    "kl_divergence",
]


# --- the VAE ------------------------------------------------------------------------------
class VAEOutput(NamedTuple):
    """What a VAE branch returns: image logits and the posterior ``q(z|x)``."""

    logits: torch.Tensor  # (B, C, S, S); sigmoid gives the reconstruction in [0, 1]
    mu: torch.Tensor  # (B, latent)
    logvar: torch.Tensor  # (B, latent)

    @property
    def image(self) -> torch.Tensor:
        return torch.sigmoid(self.logits)


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) in closed form, summed over latent dims, mean over the batch.

    ``-0.5 · Σ_j (1 + logvar_j - mu_j² - exp(logvar_j))``; ``mu`` and ``logvar`` are ``(B, latent)``.
    """
    per_sample = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)
    return per_sample.mean()


def generation_loss(
    prediction: VAEOutput | torch.Tensor, target: torch.Tensor, beta: float = 1.0
) -> torch.Tensor:
    """Per-pixel negative ELBO: ``[Σ BCE + β·KL] / P``, mean over the batch (``P`` pixels per image).

    ``prediction`` is a :class:`VAEOutput` or plain image logits (a deterministic decoder:
    no KL term, i.e. a per-pixel binary cross-entropy). ``target`` is the image in [0, 1].
    Dividing the ELBO by ``P`` keeps its minimiser and puts it on the per-pixel scale of a
    segmentation cross-entropy (see :mod:`mtl_tutorial.models.genseg`).
    """
    logits = prediction.logits if isinstance(prediction, VAEOutput) else prediction
    loss = F.binary_cross_entropy_with_logits(logits, target)  # mean over B·P = Σ BCE / (B·P)
    if isinstance(prediction, VAEOutput) and beta:
        pixels = target[0].numel()
        loss = loss + beta * kl_divergence(prediction.mu, prediction.logvar) / pixels
    return loss


# --- the GAN ------------------------------------------------------------------------------
def d_adversarial_loss(real: torch.Tensor, fake: torch.Tensor, kind: str = "ns") -> torch.Tensor:
    """The discriminator's loss on real and fake logits (any shape), averaged over elements.

    ``"ns"``: ``softplus(-real) + softplus(fake)``, i.e. binary cross-entropy with targets
    1 and 0 computed from logits (no sigmoid layer: the seed's double sigmoid, erratum 10).
    ``"hinge"``: ``relu(1 - real) + relu(1 + fake)``.
    """
    if kind == "ns":
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    if kind == "hinge":
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
    raise ValueError(f"unknown GAN loss {kind!r}; use 'ns' or 'hinge'")


def g_adversarial_loss(fake: torch.Tensor, kind: str = "ns") -> torch.Tensor:
    """The generator's loss on fake logits: non-saturating ``softplus(-fake)`` or hinge ``-fake``."""
    if kind == "ns":
        return F.softplus(-fake).mean()
    if kind == "hinge":
        return -fake.mean()
    raise ValueError(f"unknown GAN loss {kind!r}; use 'ns' or 'hinge'")
