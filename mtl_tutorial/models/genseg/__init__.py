"""Generation + segmentation (+ classification) on one shared encoder: seeds 000 and 001, corrected.

Seeds 000 and 001 propose one network that learns to generate images and to segment them
(seed 000 adds classification): a shared convolutional encoder, a decoder per task and the
joint loss ``λ1·L_gen + λ2·L_seg``. Their code does not run (see the seed errata). This
package is the corrected, trainable version at MultiMNIST-Seg scale (1×36×36 images,
11 classes: background + ten digits)::

    x (B, C, S, S)                                 S = 36 on MultiMNIST-Seg, levels 36 / 18 / 9
    SharedEncoder  f1 (w1, S, S) -> f2 (w2, S/2, S/2) -> f3 (w3, S/4, S/4)
     ├── "seg":    UNetDecoder: f3 upsampled + skips f2, f1 -> (B, 11, S, S) logits
     ├── "gen":    VAE branch: flatten f3 -> mu, logvar (B, latent)
     │               z = mu + exp(logvar / 2) * eps (training) or z = mu (evaluation)
     │               ImageDecoder: z -> (w3, S/4, S/4) -> up x2 -> up x2 -> (B, C, S, S) logits
     ├── "left", "right": pool f3 to 3x3 -> MLP -> 10 digit logits (one head per digit)
     └── "render": MaskRenderer: one-hot mask (11, S, S) -> small U-Net -> (B, C, S, S) logits

Every block is [conv3x3 -> BatchNorm -> ReLU] x 2: :class:`~mtl_tutorial.models.dense.DenseEncoder`
and ``DenseDecoder`` with BatchNorm added. Without it the segmentation of ten digit
classes sits on a "background vs. digit" plateau for epochs (test mIoU after 300 steps of
128 images at lr 3e-3: 0.17 without BatchNorm, 0.36 with it), which a 4-minute CPU
budget cannot afford. BatchNorm makes freezing subtler: see :meth:`GenSegNet.freeze_encoder`.

* **Images are logits.** Every generated image is returned as logits; ``torch.sigmoid`` gives
  pixels in [0, 1] (the data's scale). The "gen" output is a :class:`VAEOutput`
  ``(logits, mu, logvar)`` so that the task loss can add the KL term.
* **Generation loss** (the negative ELBO per pixel, with ``P = C·S·S`` pixels)::

      L_gen = [ Σ_pixels BCE(sigmoid(logits), x) + β · KL(q(z|x) || N(0, I)) ] / P   (mean over batch)

  with ``KL = -0.5 · Σ_j (1 + logvar_j - mu_j² - exp(logvar_j))`` (:func:`kl_divergence`;
  both live in :mod:`mtl_tutorial.losses`).
  Dividing the ELBO by ``P`` leaves its minimiser unchanged (β = 1 is the plain VAE) and
  puts ``L_gen`` on the per-pixel scale of the segmentation cross-entropy, so that
  ``λ_gen = λ_seg = 1`` is a sensible starting point. The KL term lives in the task loss,
  not in ``penalty()``: the trainer back-propagates ``penalty()`` on its own before the task
  losses, and a KL that depends on the encoder's activations would free the shared graph.
  BCE rather than MSE because MultiMNIST pixels are nearly binary (the classic MNIST VAE);
  the reported ``recon_mse`` is the mean squared error of ``sigmoid(logits)`` in [0, 1].
* **Sampling** ``sample(labels)`` decodes ``len(labels)`` codes ``z ~ N(0, I)`` (the VAE is
  unconditional: the label values are ignored); ``generate_from_mask(mask)`` renders a
  label map. The renderer is a separate small network (not the VAE decoder, which sees only
  ``z``). It is trained on the model's *own* predicted masks (argmax, detached), because
  the trainer hands the model only the image; the detach means it never changes the shared
  encoder or the segmentation decoder, so it is a by-product, not part of the multi-task
  comparison. It takes no noise: under a reconstruction loss a noise input is ignored
  (seed 000's lesson), so it renders the mean image of a mask.
* **Sample quality**: ``classifier_fid``, the Fréchet distance between the shipped MNIST
  classifier's features of each digit window (``mtl_tutorial.gan_eval.pair_features``) of
  VAE samples and of test canvases, is computed by the chapter's recipes
  (``mtl_tutorial.recipes.genseg.generation_fid``), not by the model.

:class:`Seed000Net` and :class:`Seed001Net` keep the seeds' own structure (module names,
layer types) with every defect fixed; the errata tables are in the chapter's design note.

Read the package in this order: :mod:`.parts` (encoder, decoders, heads, renderer),
:mod:`.vae` (the generation branch), :mod:`.net` (:class:`GenSegNet`), :mod:`.seeds`
(:class:`Seed000Net`, :class:`Seed001Net`).
"""

from ...losses import VAEOutput, generation_loss, kl_divergence
from .net import GEN, RENDER, SEG, GenSegNet
from .parts import ClassifierHead, MaskRenderer, SharedEncoder, UNetDecoder
from .seeds import Seed000Net, Seed001Net
from .vae import ImageDecoder, VAEBranch

__all__ = [
    "GEN",
    "RENDER",
    "SEG",
    "ClassifierHead",
    "GenSegNet",
    "ImageDecoder",
    "MaskRenderer",
    "Seed000Net",
    "Seed001Net",
    "SharedEncoder",
    "UNetDecoder",
    "VAEBranch",
    "VAEOutput",
    "generation_loss",
    "kl_divergence",
]
