"""Seeds 000 and 001's own networks, corrected, with the seeds' module names and layer types.

:class:`Seed001Net` is :class:`~mtl_tutorial.models.genseg.GenSegNet` with the seed's names;
:class:`Seed000Net` keeps seed 000's plain CNN. The errata tables are in the chapter's
design note.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_images
from .net import GEN, SEG, GenSegNet
from .parts import SharedEncoder, UNetDecoder
from .vae import VAEBranch

__all__ = ["Seed000Net", "Seed001Net"]


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
        super().__init__((SEG, GEN), **kwargs)  # type: ignore[arg-type]  # GenSegNet takes the task names as a tuple of literals

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
