"""Shapes: a procedural multi-task dataset that needs no files.

Each image holds 1 to 3 coloured shapes (circle, square, triangle) on a dark canvas.
Every shape has a depth in ``[0.1, 0.9]``; nearer shapes are drawn later (they occlude
farther ones), are larger, and are brighter (a simple "fog" cue). Targets per image:

* ``seg``: per-pixel class map, ``0`` background, ``1`` circle, ``2`` square, ``3`` triangle;
* ``depth``: per-pixel depth of the visible surface, background at ``1.0``;
* ``shapes``: multi-hot (3,) of the shape classes that are visible;
* ``colours``: multi-hot (3,) of the colours (red, green, blue) that are visible;
* ``count``: number of shapes;
* ``front``: class of the nearest shape (0 circle, 1 square, 2 triangle);
* ``box``: bounding box ``(x0, y0, x1, y1)`` of the nearest shape, divided by the image size.

The **relatedness knob** ``relatedness`` in ``[0, 1]`` ties colour to shape: each
shape takes the colour of its class (circle red, square green, triangle blue) with
probability ``relatedness``, and a uniformly random colour otherwise. At ``1.0`` the
``shapes`` and ``colours`` tasks have identical labels; at ``0.0`` they are
statistically independent. Later chapters use it to show when sharing helps and
when it hurts (negative transfer).

Every shape is guaranteed at least ``min_visible`` visible pixels, so the class map and
the image-level labels always agree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..utils import progress
from .mnist import check_split

__all__ = ["CLASS_NAMES", "COLOUR_NAMES", "Shapes", "ShapesConfig", "generate_shapes"]

CLASS_NAMES = ("background", "circle", "square", "triangle")
COLOUR_NAMES = ("red", "green", "blue")
_PALETTE = np.array([[1.0, 0.15, 0.15], [0.15, 1.0, 0.15], [0.2, 0.35, 1.0]], dtype=np.float32)
_SPLIT_STREAM = {"train": 0, "test": 1}
_MAX_TRIES = 50


@dataclass(frozen=True)
class ShapesConfig:
    """Settings of the Shapes generator. ``relatedness`` is the task-relatedness knob."""

    size: int = 32
    max_shapes: int = 3
    relatedness: float = 1.0
    min_visible: int = 12
    noise: float = 0.02

    def __post_init__(self) -> None:
        if not 0.0 <= self.relatedness <= 1.0:
            raise ValueError(f"relatedness must be in [0, 1], got {self.relatedness}")
        if self.size < 16:
            raise ValueError(f"size must be at least 16 pixels, got {self.size}")
        if not 1 <= self.max_shapes <= 3:
            raise ValueError(f"max_shapes must be 1, 2 or 3, got {self.max_shapes}")


def _shape_mask(
    kind: int, cx: float, cy: float, r: float, yy: np.ndarray, xx: np.ndarray
) -> np.ndarray:
    if kind == 1:  # circle
        return (xx - cx) ** 2 + (yy - cy) ** 2 <= r**2
    if kind == 2:  # square (half side r * 0.85 so areas are comparable)
        h = 0.85 * r
        return (np.abs(xx - cx) <= h) & (np.abs(yy - cy) <= h)
    # upright isosceles triangle: apex at (cx, cy - r), base from (cx - r, cy + r) to (cx + r, cy + r)
    return (yy <= cy + r) & (np.abs(xx - cx) <= (yy - (cy - r)) / 2.0)


def _one_image(rng: np.random.Generator, cfg: ShapesConfig, yy: np.ndarray, xx: np.ndarray):
    s = cfg.size
    n = int(rng.integers(1, cfg.max_shapes + 1))
    for _ in range(_MAX_TRIES):
        kinds = rng.integers(1, 4, size=n)
        depths = np.sort(rng.uniform(0.1, 0.9, size=n))[::-1]  # far to near: draw order
        radii = s * (0.1 + 0.12 * (1.0 - depths))  # nearer shapes are larger
        cx = rng.uniform(radii, s - 1 - radii)
        cy = rng.uniform(radii, s - 1 - radii)
        tied = rng.uniform(size=n) < cfg.relatedness
        colours = np.where(tied, kinds - 1, rng.integers(0, 3, size=n))
        owner = np.full((s, s), -1, dtype=np.int64)
        for j in range(n):
            owner[_shape_mask(int(kinds[j]), cx[j], cy[j], radii[j], yy, xx)] = j
        visible = np.bincount(owner[owner >= 0], minlength=n)
        if visible.min() >= cfg.min_visible:
            break
    else:  # pragma: no cover - extremely unlikely with the default sizes
        raise RuntimeError("could not place shapes with enough visible pixels; lower min_visible")

    fg = owner >= 0
    seg = np.where(fg, kinds[np.maximum(owner, 0)], 0).astype(np.uint8)
    depth = np.where(fg, depths[np.maximum(owner, 0)], 1.0).astype(np.float32)
    brightness = 1.0 - 0.6 * depths  # fog: far shapes are darker
    rgb = _PALETTE[colours] * brightness[:, None]
    image = np.where(fg[..., None], rgb[np.maximum(owner, 0)], 0.05)
    image = image + cfg.noise * rng.standard_normal(image.shape)
    image = (np.clip(image, 0.0, 1.0) * 255).round().astype(np.uint8).transpose(2, 0, 1)
    shapes = np.zeros(3, dtype=np.float32)
    shapes[kinds - 1] = 1.0
    col = np.zeros(3, dtype=np.float32)
    col[colours] = 1.0
    ys, xs = np.nonzero(owner == n - 1)  # the nearest shape is drawn last and never occluded
    box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float32) / s
    return image, seg, depth, shapes, col, n, int(kinds[n - 1] - 1), box


def generate_shapes(
    n: int, seed: int = 0, split: str = "train", config: ShapesConfig | None = None
) -> dict[str, torch.Tensor]:
    """Generate ``n`` Shapes samples as tensors; the same ``(seed, split, config)`` gives identical output.

    Returns ``images`` uint8 (n, 3, S, S), ``seg`` uint8 (n, S, S), ``depth`` float32 (n, S, S),
    ``shapes`` and ``colours`` float32 multi-hot (n, 3), ``count`` and ``front`` int64 (n,)
    and ``box`` float32 (n, 4).
    """
    check_split(split)
    cfg = config or ShapesConfig()
    rng = np.random.default_rng([int(seed), _SPLIT_STREAM[split]])
    yy, xx = np.mgrid[0 : cfg.size, 0 : cfg.size].astype(np.float32)
    parts = [
        _one_image(rng, cfg, yy, xx)
        for _ in progress(range(n), desc=f"Shapes {split}", disable=n < 5000)
    ]
    images, seg, depth, shapes, colours, count, front, box = (
        np.stack(p) for p in zip(*parts, strict=True)
    )
    return {
        "images": torch.from_numpy(images),
        "seg": torch.from_numpy(seg),
        "depth": torch.from_numpy(depth),
        "shapes": torch.from_numpy(shapes),
        "colours": torch.from_numpy(colours),
        "count": torch.from_numpy(count.astype(np.int64)),
        "front": torch.from_numpy(front.astype(np.int64)),
        "box": torch.from_numpy(box),
    }


class Shapes(Dataset):
    """The Shapes dataset, generated in memory.

    Items are ``(image (3, S, S) in [0, 1], targets)`` with targets ``seg`` (S, S) long,
    ``depth`` (1, S, S), ``shapes`` (3,), ``colours`` (3,), ``count``, ``front`` and ``box`` (4,).
    Further keyword arguments (``size``, ``max_shapes``, ...) are :class:`ShapesConfig` fields.

    >>> ds = Shapes("train", n=4, seed=0, relatedness=0.5)
    >>> x, t = ds[0]
    >>> tuple(x.shape), tuple(t["seg"].shape), tuple(t["depth"].shape)
    ((3, 32, 32), (32, 32), (1, 32, 32))
    """

    default_sizes = {"train": 10_000, "test": 2_000}

    def __init__(
        self,
        split: str = "train",
        n: int | None = None,
        seed: int = 0,
        relatedness: float = 1.0,
        **config: Any,
    ):
        self.config = ShapesConfig(relatedness=relatedness, **config)
        check_split(split)
        self.split, self.seed = split, seed
        data = generate_shapes(
            n if n is not None else self.default_sizes[split], seed, split, self.config
        )
        self.images = data.pop("images")
        self.targets = data

    def __len__(self) -> int:
        return len(self.images)

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Items ``index`` as one batch: images ``(B, 3, S, S)``, ``seg`` ``(B, S, S)``, ``depth`` ``(B, 1, S, S)``."""
        t = self.targets
        return self.images[index].float() / 255.0, {
            "seg": t["seg"][index].long(),
            "depth": t["depth"][index].unsqueeze(1),
            "shapes": t["shapes"][index],
            "colours": t["colours"][index],
            "count": t["count"][index],
            "front": t["front"][index],
            "box": t["box"][index],
        }

    def __getitem__(self, i: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x, targets = self.batch(torch.tensor([i]))
        return x[0], {k: v[0] for k, v in targets.items()}

    def describe(self) -> dict[str, object]:
        """Return the generator settings (for manifests and figure captions)."""
        return {"split": self.split, "seed": self.seed, "n": len(self), **asdict(self.config)}
