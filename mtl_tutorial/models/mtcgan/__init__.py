"""MT-CGAN corrected: a class-conditional GAN whose discriminator learns several tasks.

Seed 002 describes a GAN whose discriminator has "several heads" with "classification and
regression" losses. Its code has no shared trunk, no labels and no working loss (see
``dev-notes/seed_errata.md``). This package is the sound version, small enough to train on
one CPU thread; read it in this order:

* :mod:`.generator`: :class:`Generator`, ``G(z, label) -> image (B, 1, 28, 28)`` in [-1, 1].
* :mod:`.discriminator`: :class:`Discriminator`, a shared conv trunk with the heads ``adv``
  (real/fake, optionally by projection, optionally ``K`` of them), ``patch`` (PatchGAN),
  ``cls`` (AC-GAN), ``latent`` (InfoGAN-style) and ``tac`` (TAC-GAN's twin classifier).
* :mod:`mtl_tutorial.losses`: :func:`d_adversarial_loss` and :func:`g_adversarial_loss`.
* :mod:`.ema`: :class:`EMA`, the moving average of G's weights that samples come from
  (what the seed's undefined ``update_average`` most plausibly meant), and
  :func:`recalibrate_batchnorm` for its BatchNorm statistics.
* :mod:`.multihead`: what seed 002's several heads need done right: :func:`chunk_bounds`
  (one chunk of the batch per real/fake head), :func:`frozen` (freeze exactly the shared
  trunk, restore it afterwards), and the twin-classifier losses :func:`tac_d_loss`,
  :func:`tac_g_loss`.
* :mod:`.gan`: :class:`GANConfig` and :class:`GAN`, which bundles G, D and the EMA copy of G
  and trains them with the book's trainer (its losses are written out there).
* :mod:`.samples`: :func:`save_sample_grid`, a PNG of samples per class.
"""

from ...losses import d_adversarial_loss, g_adversarial_loss
from .discriminator import Discriminator
from .ema import EMA, recalibrate_batchnorm
from .gan import GAN, GANConfig
from .generator import Generator
from .multihead import chunk_bounds, chunked_d_adversarial_loss, frozen, tac_d_loss, tac_g_loss
from .samples import save_sample_grid

__all__ = [
    "EMA",
    "GAN",
    "Discriminator",
    "GANConfig",
    "Generator",
    "chunk_bounds",
    "chunked_d_adversarial_loss",
    "d_adversarial_loss",
    "frozen",
    "g_adversarial_loss",
    "recalibrate_batchnorm",
    "save_sample_grid",
    "tac_d_loss",
    "tac_g_loss",
]
