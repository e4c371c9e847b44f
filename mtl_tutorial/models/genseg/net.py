"""The model of chapter 4: a shared encoder with segmentation, VAE, mask-rendering and digit branches."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
from torch import nn

from ...losses import VAEOutput
from ..checks import check_vectors
from .parts import ClassifierHead, MaskRenderer, SharedEncoder, UNetDecoder
from .vae import VAEBranch

__all__ = ["GEN", "RENDER", "SEG", "GenSegNet"]

GEN, SEG, RENDER = "gen", "seg", "render"


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

    With a "gen" branch it is a :class:`~mtl_tutorial.models.protocols.Sampler`; ``num_classes``
    is then ``None`` (the VAE samples unconditionally), whatever the digit heads'
    ``num_classes`` argument.
    """

    num_classes: int | None = None  # of sample(): unconditional (the heads' count is not kept)
    sample_range = (0.0, 1.0)  # what sample() returns (sigmoid)

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

    def shared_parameters(self) -> list[nn.Parameter]:
        """The shared encoder's parameters (a :class:`~mtl_tutorial.models.protocols.SharedTrunk`)."""
        return list(self.encoder.parameters())

    def forward(self, x: torch.Tensor) -> dict[str, object]:
        # the VAE's linear layer fixes the size; without it any H, W divisible by 4 work
        size = self.image_size if self.vae is not None else None
        self.encoder.check_input(x, type(self).__name__, size)
        x = x.contiguous(memory_format=torch.channels_last)
        features = self.encoder(x)  # [f1, f2, f3], computed once for every branch
        out: dict[str, object] = {}
        seg = None
        if self.seg_decoder is not None:
            out[SEG] = seg = self.seg_decoder(features)
        if self.vae is not None:
            out[GEN] = self.vae(features[-1])
        if self.renderer is not None and seg is not None:  # "render" needs "seg" (see __init__)
            out[RENDER] = self.renderer(seg.detach().argmax(dim=1))
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

    def sample(
        self,
        labels: torch.Tensor,
        z: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``len(labels)`` images in [0, 1] decoded from ``z`` (needs the "gen" branch).

        The VAE is unconditional: only the number of ``labels`` counts, their values are
        ignored (``model.sample(torch.zeros(n, dtype=torch.long))`` gives ``n`` images).
        ``z`` ``(N, latent_dim)`` defaults to ``N(0, I)`` noise drawn with ``generator`` on
        the CPU, so that a seed gives the same images on every device.
        """
        if not isinstance(labels, torch.Tensor):
            raise TypeError(
                f"GenSegNet.sample takes labels (N,), one per image, got {type(labels).__name__}; "
                "for n images pass torch.zeros(n, dtype=torch.long) (the VAE is unconditional: "
                "only their number counts)"
            )
        with self._evaluating(self.vae, "'gen' (VAE)"):
            assert self.vae is not None
            n = len(labels)
            if z is None:
                z = torch.randn(n, self.vae.latent_dim, generator=generator)
            check_vectors(z, "GenSegNet.sample", self.vae.latent_dim)
            if len(z) != n:
                raise ValueError(f"GenSegNet.sample: got {n} labels but {len(z)} noise vectors z")
            return torch.sigmoid(self.vae.decoder(z.to(next(self.parameters()).device)))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstructions in [0, 1] from the posterior mean (needs the "gen" branch)."""
        with self._evaluating(self.vae, "'gen' (VAE)"):
            output = self(x)[GEN]
            assert isinstance(output, VAEOutput)
            return output.image

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
