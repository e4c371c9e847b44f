"""MultiMNIST, MultiFashion and MultiMNIST-Seg, composed as in Sener & Koltun (2018).

Composition of one sample, on a 36x36 canvas:

1. the *left* image is pasted at rows/cols ``[0:28, 0:28]`` (top-left),
2. the *right* image at rows/cols ``[6:34, 6:34]`` (shifted down-right by 6 pixels),
3. the two canvases are combined by a pixel-wise maximum,
4. for MultiMNIST the canvas is resized to 28x28 (bilinear, antialiased).

The labels are ``(left, right)``. Pairs are drawn from the same split with a seeded
generator, so the same seed gives identical tensors. Built tensors are cached in
``<data root>/multimnist/``.

MultiMNIST-Seg keeps the full 36x36 canvas and adds a per-pixel label map:
``0`` for background and ``1 + d`` for a pixel of digit ``d``. A canvas pixel is
foreground when the composite value is at least :data:`FOREGROUND_THRESHOLD`
(128 of 255, i.e. 0.5). Where the digits overlap, the brighter *source* pixel's
digit wins; an exact tie goes to the left digit.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ..errors import DataCacheError
from ..files import atomic_torch_save, safe_torch_load
from .mnist import check_split, data_root, load_source

__all__ = [
    "CANVAS",
    "FOREGROUND_THRESHOLD",
    "LEFT_OFFSET",
    "RIGHT_OFFSET",
    "MultiFashion",
    "MultiMNIST",
    "MultiMNISTSeg",
    "build_multimnist",
    "build_multimnist_seg",
    "compose_pair",
    "place_on_canvas",
    "resize_canvas",
    "sample_pairs",
    "segmentation_map",
]

CANVAS = 36
DIGIT = 28
LEFT_OFFSET = 0
RIGHT_OFFSET = 6
OUTPUT_SIZE = 28
FOREGROUND_THRESHOLD = 128
CACHE_VERSION = 1

_SPLIT_STREAM = {"train": 0, "test": 1}


def place_on_canvas(images: torch.Tensor, offset: int) -> torch.Tensor:
    """Paste ``(..., 28, 28)`` images onto zero ``(..., 36, 36)`` canvases at ``[offset:offset+28]``."""
    if images.shape[-2:] != (DIGIT, DIGIT):
        raise ValueError(f"expected images of shape (..., 28, 28), got {tuple(images.shape)}")
    canvas = images.new_zeros(*images.shape[:-2], CANVAS, CANVAS)
    canvas[..., offset : offset + DIGIT, offset : offset + DIGIT] = images
    return canvas


def compose_pair(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """Overlay ``left`` at [0:28, 0:28] and ``right`` at [6:34, 6:34] by pixel-wise max.

    Works on single images ``(28, 28)`` or batches ``(N, 28, 28)``; returns 36x36 canvases.
    """
    if left.shape != right.shape:
        raise ValueError(
            f"left and right must have the same shape, got {tuple(left.shape)} and {tuple(right.shape)}"
        )
    return torch.maximum(place_on_canvas(left, LEFT_OFFSET), place_on_canvas(right, RIGHT_OFFSET))


def resize_canvas(
    canvas: torch.Tensor, size: int = OUTPUT_SIZE, batch_size: int = 10_000
) -> torch.Tensor:
    """Resize uint8 ``(N, 36, 36)`` canvases to ``(N, size, size)`` uint8 (bilinear, antialiased)."""
    if canvas.dim() != 3:
        raise ValueError(f"expected canvases of shape (N, H, W), got {tuple(canvas.shape)}")
    out = torch.empty(canvas.shape[0], size, size, dtype=torch.uint8)
    for start in range(0, canvas.shape[0], batch_size):
        chunk = canvas[start : start + batch_size, None].float()
        small = F.interpolate(
            chunk, size=(size, size), mode="bilinear", align_corners=False, antialias=True
        )
        out[start : start + batch_size] = small[:, 0].round().clamp(0, 255).to(torch.uint8)
    return out


def segmentation_map(
    left: torch.Tensor, right: torch.Tensor, left_label: torch.Tensor, right_label: torch.Tensor
) -> torch.Tensor:
    """Per-pixel labels on the 36x36 canvas: 0 background, ``1 + digit`` foreground.

    ``left``/``right`` are uint8 ``(N, 28, 28)`` source images and the labels ``(N,)``.
    A pixel is foreground where ``max(left, right) >= FOREGROUND_THRESHOLD``; the
    brighter source decides the digit, ties go to the left digit.
    """
    lc = place_on_canvas(left, LEFT_OFFSET)
    rc = place_on_canvas(right, RIGHT_OFFSET)
    foreground = torch.maximum(lc, rc) >= FOREGROUND_THRESHOLD
    left_wins = lc >= rc
    digit = torch.where(left_wins, left_label.view(-1, 1, 1), right_label.view(-1, 1, 1))
    return torch.where(foreground, digit + 1, torch.zeros_like(digit)).to(torch.uint8)


def sample_pairs(n: int, seed: int, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``n`` (left, right) index pairs from ``range(n)`` with a seeded generator.

    Each image is the left digit exactly once. The right digit is another random image,
    never the same index as the left one.
    """
    check_split(split)
    g = torch.Generator().manual_seed(int(seed) * 2 + _SPLIT_STREAM[split])
    left = torch.randperm(n, generator=g)
    right = torch.randperm(n, generator=g)
    same = left == right
    right[same] = (right[same] + 1) % n
    return left, right


def _cache_path(
    kind: str, source: str, split: str, seed: int, root: str | os.PathLike[str] | None
) -> Path:
    folder = data_root(root) / "multimnist"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataCacheError(
            f"cannot create the MultiMNIST cache folder {folder} ({err.strerror or err}): "
            "set MTL_TUTORIAL_DATA to a writable folder that holds MNIST/raw/*.gz"
        ) from err
    return folder / f"{kind}_{source}_{split}_seed{seed}_v{CACHE_VERSION}.pt"


def _build(
    kind: str, source: str, split: str, seed: int, root: str | os.PathLike[str] | None
) -> dict[str, torch.Tensor]:
    path = _cache_path(kind, source, split, seed, root)
    if path.exists():
        data = safe_torch_load(
            path,
            DataCacheError,
            "MultiMNIST cache file",
            "Delete it: it is rebuilt from the raw MNIST files on the next run.",
        )
        expected = {"images", "left", "right", "left_index", "right_index"}
        if not isinstance(data, dict) or not expected <= set(data):
            raise DataCacheError(
                f"MultiMNIST cache file {path} does not hold the expected tensors "
                f"({sorted(expected)}). Delete it: it is rebuilt from the raw MNIST files."
            )
        return data
    images, labels = load_source(source, split, root)
    li, ri = sample_pairs(len(images), seed, split)
    left, right = images[li], images[ri]
    canvas = compose_pair(left, right)
    out: dict[str, torch.Tensor] = {
        "left": labels[li].clone(),
        "right": labels[ri].clone(),
        "left_index": li,
        "right_index": ri,
    }
    if kind == "cls":
        out["images"] = resize_canvas(canvas)
    else:
        out["images"] = canvas
        out["mask"] = segmentation_map(left, right, labels[li], labels[ri])
    try:  # atomic, under a unique temporary name: a half-written cache is never picked up
        atomic_torch_save(out, path)
    except OSError as err:
        raise DataCacheError(
            f"cannot write the MultiMNIST cache file {path} ({err.strerror or err}): make "
            f"{path.parent} writable or set MTL_TUTORIAL_DATA to a writable folder"
        ) from err
    return out


def build_multimnist(
    split: str = "train",
    seed: int = 0,
    source: str = "mnist",
    root: str | os.PathLike[str] | None = None,
) -> dict[str, torch.Tensor]:
    """Build (or load from cache) MultiMNIST tensors.

    Returns a dict with ``images`` uint8 (N, 28, 28), ``left``/``right`` int64 labels and
    the source indices ``left_index``/``right_index``.
    """
    return _build("cls", source, split, seed, root)


def build_multimnist_seg(
    split: str = "train",
    seed: int = 0,
    source: str = "mnist",
    root: str | os.PathLike[str] | None = None,
) -> dict[str, torch.Tensor]:
    """Build (or load from cache) MultiMNIST-Seg tensors at 36x36.

    Returns ``images`` uint8 (N, 36, 36), ``mask`` uint8 (N, 36, 36) with values in 0..10,
    ``left``/``right`` labels and source indices. Same pairs as :func:`build_multimnist`
    for the same ``(split, seed, source)``.
    """
    return _build("seg", source, split, seed, root)


class MultiMNIST(Dataset):
    """MultiMNIST as a dataset of ``(image (1, 28, 28) in [0, 1], {"left": y, "right": y})``."""

    source = "mnist"

    def __init__(
        self, split: str = "train", seed: int = 0, root: str | os.PathLike[str] | None = None
    ):
        data = build_multimnist(split, seed, self.source, root)
        self.images = data["images"]
        self.targets = {"left": data["left"], "right": data["right"]}

    def __len__(self) -> int:
        return len(self.images)

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Items ``index`` as one batch: images ``(B, 1, 28, 28)`` and labels ``(B,)``."""
        x = self.images[index].unsqueeze(1).float() / 255.0
        return x, {k: v[index] for k, v in self.targets.items()}

    def __getitem__(self, i: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x, targets = self.batch(torch.tensor([i]))
        return x[0], {k: v[0] for k, v in targets.items()}


class MultiFashion(MultiMNIST):
    """MultiMNIST built from Fashion-MNIST images (Sener & Koltun's MultiFashion)."""

    source = "fashion_mnist"


class MultiMNISTSeg(Dataset):
    """Dense MultiMNIST: ``(image (1, 36, 36) in [0, 1], {"seg": (36, 36) long, "left", "right"})``."""

    def __init__(
        self, split: str = "train", seed: int = 0, root: str | os.PathLike[str] | None = None
    ):
        data = build_multimnist_seg(split, seed, "mnist", root)
        self.images = data["images"]
        self.mask = data["mask"]
        self.targets = {"left": data["left"], "right": data["right"]}

    def __len__(self) -> int:
        return len(self.images)

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Items ``index`` as one batch: images ``(B, 1, 36, 36)``, ``seg`` ``(B, 36, 36)`` long."""
        x = self.images[index].unsqueeze(1).float() / 255.0
        return x, {"seg": self.mask[index].long(), **{k: v[index] for k, v in self.targets.items()}}

    def __getitem__(self, i: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x, targets = self.batch(torch.tensor([i]))
        return x[0], {k: v[0] for k, v in targets.items()}
