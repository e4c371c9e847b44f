"""Generation + segmentation (+ classification) on one shared encoder: seeds 000 and 001, corrected.

Seeds 000 and 001 propose one network that learns to generate images and to segment them
(seed 000 adds classification): a shared convolutional encoder, a decoder per task and the
joint loss ``λ1·L_gen + λ2·L_seg``. Their code does not run (see the seed errata). This
module is the corrected, trainable version at MultiMNIST-Seg scale (1×36×36 images,
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

  with ``KL = -0.5 · Σ_j (1 + logvar_j - mu_j² - exp(logvar_j))`` (:func:`kl_divergence`).
  Dividing the ELBO by ``P`` leaves its minimiser unchanged (β = 1 is the plain VAE) and
  puts ``L_gen`` on the per-pixel scale of the segmentation cross-entropy, so that
  ``λ_gen = λ_seg = 1`` is a sensible starting point. The KL term lives in the task loss,
  not in ``penalty()``: the trainer back-propagates ``penalty()`` on its own before the task
  losses, and a KL that depends on the encoder's activations would free the shared graph.
  BCE rather than MSE because MultiMNIST pixels are nearly binary (the classic MNIST VAE);
  the reported ``recon_mse`` is the mean squared error of ``sigmoid(logits)`` in [0, 1].
* **Sampling** ``sample(n)`` decodes ``z ~ N(0, I)``; ``generate_from_mask(mask)`` renders a
  label map. The renderer is a separate small network (not the VAE decoder, which sees only
  ``z``). It is trained on the model's *own* predicted masks (argmax, detached), because
  the trainer hands the model only the image; the detach means it never changes the shared
  encoder or the segmentation decoder, so it is a by-product, not part of the multi-task
  comparison. It takes no noise: under a reconstruction loss a noise input is ignored
  (seed 000's lesson), so it renders the mean image of a mask.
* **Sample quality** (TODO, MT-CGAN chapter): the Fréchet distance between classifier
  features of ``sample(n)`` and of test images will be added through the chapter-5
  evaluator (``mtl_tutorial.gan_eval``) once it exists; nothing here computes it yet.

:class:`Seed000Net` and :class:`Seed001Net` keep the seeds' own structure (module names,
layer types) with every defect fixed; the errata tables are in the chapter's design note.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .checks import check_images
from .dense import DenseDecoder, DenseEncoder, conv_block

__all__ = [
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

GEN, SEG, RENDER = "gen", "seg", "render"


# --- the VAE pieces -----------------------------------------------------------------------
class VAEOutput(NamedTuple):
    """What the generation branch returns: image logits and the posterior ``q(z|x)``."""

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
    """Per-pixel negative ELBO: ``[Σ BCE + β·KL] / P``, mean over the batch (see the module docstring).

    ``prediction`` is a :class:`VAEOutput` or plain image logits (a deterministic decoder:
    no KL term, i.e. a per-pixel binary cross-entropy). ``target`` is the image in [0, 1].
    """
    logits = prediction.logits if isinstance(prediction, VAEOutput) else prediction
    loss = F.binary_cross_entropy_with_logits(logits, target)  # mean over B·P = Σ BCE / (B·P)
    if isinstance(prediction, VAEOutput) and beta:
        pixels = target[0].numel()
        loss = loss + beta * kl_divergence(prediction.mu, prediction.logvar) / pixels
    return loss


def _block(cin: int, cout: int) -> nn.Sequential:
    """[conv3x3 -> BatchNorm -> ReLU] x 2 (the conv needs no bias before BatchNorm)."""
    return conv_block(cin, cout, norm=True)


class SharedEncoder(DenseEncoder):
    """Three resolution levels (S, S/2, S/4) with BatchNorm; returns ``[f1, f2, f3]`` for the skips."""

    def __init__(self, in_channels: int = 1, widths: tuple[int, int, int] = (16, 32, 64)):
        super().__init__(in_channels, widths, norm=True)


class UNetDecoder(DenseDecoder):
    """Segmentation decoder with BatchNorm: up-sample, concatenate the encoder's map of that size, convolve."""

    def __init__(self, out_channels: int, widths: tuple[int, int, int] = (16, 32, 64)):
        super().__init__(out_channels, widths, norm=True)


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
        self.up2 = _block(w3, w2)  # at S/2
        self.up1 = _block(w2, w1)  # at S
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
        self.down1 = _block(num_classes, w1)
        self.down2 = _block(w1, w2)
        self.up1 = _block(w2 + w1, w1)
        self.out = nn.Conv2d(w1, out_channels, 1)

    def forward(self, mask: torch.Tensor) -> torch.Tensor:
        """``mask``: integer labels ``(B, S, S)`` or a one-hot/soft map ``(B, K, S, S)``."""
        if mask.dim() == 3:
            mask = F.one_hot(mask.long(), self.num_classes).permute(0, 3, 1, 2).float()
        h1 = self.down1(mask)
        h2 = self.down2(F.max_pool2d(h1, 2))
        h = self.up1(torch.cat([F.interpolate(h2, scale_factor=2.0), h1], dim=1))
        return self.out(h)


# --- the model of the chapter ------------------------------------------------------------
class GenSegNet(nn.Module):
    """Shared encoder; any subset of the branches "seg", "gen", "render" and digit heads.

    ``tasks`` names the active branches: ``"seg"`` (U-Net segmentation decoder,
    ``seg_classes`` logits per pixel), ``"gen"`` (VAE, returns a :class:`VAEOutput`),
    ``"render"`` (mask -> image, needs ``"seg"``; trained on the detached predicted mask)
    and any other name is a classification head with ``num_classes`` logits (MultiMNIST-Seg:
    ``"left"`` and ``"right"``). ``forward`` returns one entry per active task.

    >>> model = GenSegNet(("seg", "gen", "left", "right"))
    >>> out = model(torch.rand(2, 1, 36, 36))
    >>> tuple(out["seg"].shape), tuple(out["gen"].logits.shape), tuple(out["left"].shape)
    ((2, 11, 36, 36), (2, 1, 36, 36), (2, 10))
    """

    def __init__(
        self,
        tasks: Sequence[str] = (SEG, GEN),
        in_channels: int = 1,
        image_size: int = 36,
        seg_classes: int = 11,
        num_classes: int = 10,
        widths: tuple[int, int, int] = (16, 32, 64),
        latent_dim: int = 32,
    ):
        super().__init__()
        tasks = tuple(tasks)
        if not tasks:
            raise ValueError("at least one task is needed")
        if len(set(tasks)) != len(tasks):
            raise ValueError(f"duplicate task names in {tasks}")
        if RENDER in tasks and SEG not in tasks:
            raise ValueError("the 'render' branch draws the predicted mask, so it needs 'seg'")
        if image_size % 4:
            raise ValueError(f"image_size must be divisible by 4, got {image_size}")
        self.tasks, self.image_size, self.seg_classes = tasks, image_size, seg_classes
        w3 = widths[2]
        self.encoder = SharedEncoder(in_channels, widths)
        self.seg_decoder = UNetDecoder(seg_classes, widths) if SEG in tasks else None
        self.vae = (
            VAEBranch(w3 * (image_size // 4) ** 2, latent_dim, in_channels, image_size, widths)
            if GEN in tasks
            else None
        )
        self.renderer = (
            MaskRenderer(seg_classes, in_channels, widths[:2]) if RENDER in tasks else None
        )
        self.classifiers = nn.ModuleDict(
            {t: ClassifierHead(w3, num_classes) for t in tasks if t not in (SEG, GEN, RENDER)}
        )
        # Channels-last memory layout (weights here, activations in forward): the same numbers,
        # about 1.7x faster convolutions on the CPU at these small channel counts.
        self.to(memory_format=torch.channels_last)

    # the shared part, by the names the rest of the package uses
    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.encoder.parameters())

    def forward(self, x: torch.Tensor) -> dict[str, object]:
        # the VAE's linear layer fixes the size; without it any H, W divisible by 4 work
        size = self.image_size if self.vae is not None else None
        self.encoder.check_input(x, type(self).__name__, size)
        x = x.contiguous(memory_format=torch.channels_last)
        features = self.encoder(x)  # [f1, f2, f3], computed once for every branch
        out: dict[str, object] = {}
        if self.seg_decoder is not None:
            out[SEG] = self.seg_decoder(features)
        if self.vae is not None:
            out[GEN] = self.vae(features[-1])
        if self.renderer is not None:
            out[RENDER] = self.renderer(out[SEG].detach().argmax(dim=1))  # type: ignore[union-attr]
        for name, head in self.classifiers.items():
            out[name] = head(features[-1])
        return out

    # --- generation (evaluation mode: BatchNorm uses its running statistics) -------------
    @contextlib.contextmanager
    def _evaluating(self, branch: nn.Module | None, name: str) -> Iterator[None]:
        if branch is None:
            raise RuntimeError(f"this model has no {name} branch")
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                yield
        finally:
            self.train(was_training)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` images in [0, 1] decoded from ``z ~ N(0, I)`` (needs the "gen" branch)."""
        with self._evaluating(self.vae, "'gen' (VAE)"):
            assert self.vae is not None
            device = next(self.parameters()).device
            z = torch.randn(n, self.vae.latent_dim, generator=generator).to(device)
            return torch.sigmoid(self.vae.decoder(z))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstructions in [0, 1] from the posterior mean (needs the "gen" branch)."""
        with self._evaluating(self.vae, "'gen' (VAE)"):
            return self(x)[GEN].image  # type: ignore[union-attr]

    def generate_from_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] for label maps ``(B, S, S)`` (needs the "render" branch)."""
        with self._evaluating(self.renderer, "'render' (mask -> image)"):
            assert self.renderer is not None
            return torch.sigmoid(self.renderer(mask))

    # --- seed 001's staged training -----------------------------------------------------
    def freeze_encoder(self) -> None:
        """Stage 2: fix the shared encoder exactly.

        ``requires_grad = False`` gives its weights no gradient, so the optimiser skips them.
        That is not enough with BatchNorm: in train mode it still updates its running
        statistics (buffers, not parameters). So a frozen encoder also stays in eval mode,
        even when the trainer calls ``model.train()`` (see :meth:`train`).
        """
        self.encoder.requires_grad_(False)
        self.encoder.eval()

    def unfreeze_encoder(self) -> None:
        """Stage 3: train the shared encoder again."""
        self.encoder.requires_grad_(True)
        self.encoder.train(self.training)

    def train(self, mode: bool = True) -> GenSegNet:
        super().train(mode)
        if self.encoder_frozen:
            self.encoder.eval()  # keep the frozen encoder's BatchNorm statistics fixed
        return self

    @property
    def encoder_frozen(self) -> bool:
        return not any(p.requires_grad for p in self.encoder.parameters())


class Seed001Net(GenSegNet):
    """Seed 001's ``MultiTaskNet``: ``SharedEncoder`` + ``GeneratorNet`` + ``SegmentationNet``, fixed.

    The seed's classes had empty bodies and no ``forward``; its heads received the encoder
    in their constructor *and* encoded features in ``forward``. Here the heads take only
    features, the "generator" is a VAE (so it can also sample, not just reconstruct), the
    segmentation net is a U-Net decoder, and the staged schedule's freeze/unfreeze calls
    exist. The same modules as ``GenSegNet(("seg", "gen"))`` (identical state dict); the seed's
    names are read-only aliases, so nothing is registered twice.
    """

    def __init__(self, **kwargs: object):
        super().__init__((SEG, GEN), **kwargs)  # type: ignore[arg-type]

    @property
    def shared_encoder(self) -> SharedEncoder:
        return self.encoder

    @property
    def generator(self) -> VAEBranch:
        assert self.vae is not None
        return self.vae

    @property
    def segmenter(self) -> UNetDecoder:
        assert self.seg_decoder is not None
        return self.seg_decoder


# --- seed 000's model, corrected ---------------------------------------------------------
class Seed000Net(nn.Module):
    """Seed 000's ``MultiTaskModel`` (shared CNN + classification, segmentation, generation heads), fixed.

    Same module names and layer types as the seed (``shared_params`` = conv/ReLU/pool twice;
    two-layer classifier; two-layer segmentation and generation heads), adapted to
    MultiMNIST-Seg (1×36×36 in, 9×9 features) with the errata fixes: ``F`` imported, the
    trunk run once, per-task targets and losses, the classifier sized from the real feature
    map (``flatten``), heads that up-sample back to the input size with transposed
    convolutions, no ReLU on logits, and the noise ``z`` broadcast to the feature map's size
    before it is concatenated. The seed's one classifier becomes one per digit (left, right).
    The generation head still decodes *image features plus noise*: trained with a
    reconstruction loss it is an auto-encoder that learns to ignore ``z`` (it cannot sample);
    :class:`GenSegNet`'s VAE is the generative fix.
    """

    def __init__(
        self,
        in_channels: int = 1,
        image_size: int = 36,
        seg_classes: int = 11,
        num_classes: int = 10,
        width: int = 32,
        noise_dim: int = 16,
        digits: Sequence[str] = ("left", "right"),
    ):
        super().__init__()
        c1, c2, s = width, 2 * width, image_size // 4
        self.noise_dim, self.digits = noise_dim, tuple(digits)
        self.in_channels, self.image_size = in_channels, image_size
        self.shared_params = nn.Sequential(  # seed: conv1 -> relu -> pool -> conv2 -> relu -> pool
            nn.Conv2d(in_channels, c1, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classification_task = nn.ModuleDict(  # seed: fc1 -> relu -> fc2, on c2*s*s features
            {
                d: nn.Sequential(
                    nn.Flatten(), nn.Linear(c2 * s * s, 128), nn.ReLU(), nn.Linear(128, num_classes)
                )
                for d in self.digits
            }
        )
        self.segmentation_task = nn.Sequential(  # seed: two stride-1 convs, ReLU on the output
            nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(c1, seg_classes, 4, stride=2, padding=1),
        )
        # seed: conv1 on the features, then conv2 on cat(z, x); both now up-sample by 2
        self.generation_conv1 = nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1)
        self.generation_conv2 = nn.ConvTranspose2d(
            c1 + noise_dim, in_channels, 4, stride=2, padding=1
        )

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.shared_params.parameters())

    def generation_task(self, feats: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Seed: ``conv2(cat(z, x))`` with z (B, noise, 1, 1); fixed: z broadcast to x's size first."""
        x = F.relu(self.generation_conv1(feats))
        z = z.expand(-1, -1, *x.shape[2:])
        return self.generation_conv2(torch.cat([z, x], dim=1))  # logits; sigmoid gives the image

    def forward(self, x: torch.Tensor, z: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        check_images(
            x,
            "Seed000Net",
            self.in_channels,
            self.image_size,
            multiple=4,
            channels_arg="in_channels",
            size_arg="image_size",
        )
        if z is not None and tuple(z.shape) != (x.shape[0], self.noise_dim, 1, 1):
            raise ValueError(
                f"Seed000Net: expected z of shape ({x.shape[0]}, {self.noise_dim}, 1, 1) (one noise "
                f"vector per image), got {tuple(z.shape)}; draw it with "
                f"torch.randn({x.shape[0]}, {self.noise_dim}, 1, 1), or reshape a (B, "
                f"{self.noise_dim}) z with z[:, :, None, None]."
            )
        feats = self.shared_params(x)  # once; the seed ran the trunk again inside a head
        if z is None:  # training: fresh noise; evaluation: z = 0, the noise mean (deterministic)
            z = torch.zeros(x.shape[0], self.noise_dim, 1, 1, device=x.device)
            if self.training:
                z.normal_()
        out = {d: head(feats) for d, head in self.classification_task.items()}
        out[SEG] = self.segmentation_task(feats)
        out[GEN] = self.generation_task(feats, z)
        return out
