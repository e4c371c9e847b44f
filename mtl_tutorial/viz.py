"""Figure helpers shared by the notebooks: image grids, mask overlays and captioned figures."""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

__all__ = [
    "LABEL_COLOURS",
    "figure_png",
    "image_grid",
    "label_cmap",
    "mask_to_rgb",
    "mosaic",
    "overlay",
    "publish",
]

#: Colour of label 0 (background, black) and labels 1.. (tab10, then repeated).
LABEL_COLOURS = np.vstack(
    [[0.0, 0.0, 0.0], plt.get_cmap("tab10")(np.arange(10))[:, :3], [[1.0, 1.0, 1.0]]]
)


def label_cmap(num_labels: int = 11) -> ListedColormap:
    """A colormap with black for background and one distinct colour per label."""
    return ListedColormap(LABEL_COLOURS[:num_labels])


def _to_numpy_image(image: torch.Tensor | np.ndarray) -> np.ndarray:
    array = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if array.ndim == 3 and array.shape[0] in (1, 3):
        array = array.transpose(1, 2, 0)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.dtype == np.uint8:
        array = array.astype(np.float32) / 255.0
    return array


def mask_to_rgb(mask: torch.Tensor | np.ndarray) -> np.ndarray:
    """Map an integer label map (H, W) to an RGB image (H, W, 3) with :data:`LABEL_COLOURS`."""
    labels = mask.cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
    return LABEL_COLOURS[np.clip(labels, 0, len(LABEL_COLOURS) - 1)]


def overlay(
    image: torch.Tensor | np.ndarray, mask: torch.Tensor | np.ndarray, alpha: float = 0.55
) -> np.ndarray:
    """Blend a label map over a grey or RGB image; background pixels keep the image."""
    base = _to_numpy_image(image)
    if base.ndim == 2:
        base = np.repeat(base[..., None], 3, axis=2)
    labels = mask.cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
    colour = mask_to_rgb(labels)
    weight = np.where(labels[..., None] > 0, alpha, 0.0)
    return np.clip((1 - weight) * base + weight * colour, 0.0, 1.0)


def image_grid(
    images: Sequence[torch.Tensor | np.ndarray] | torch.Tensor,
    titles: Sequence[str] | None = None,
    ncols: int = 8,
    size: float = 1.4,
    cmap: str = "gray",
    suptitle: str | None = None,
) -> Figure:
    """Show images in a grid with an optional title per image; returns the figure."""
    n = len(images)
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size * ncols, size * nrows + (0.4 if suptitle else 0))
    )
    axes = np.atleast_1d(axes).ravel()
    for i, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= n:
            ax.axis("off")
            continue
        ax.imshow(_to_numpy_image(images[i]), cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def mosaic(images: torch.Tensor, ncols: int = 10, frame: int = 1) -> torch.Tensor:
    """Tile images ``(N, 1, S, S)`` in [0, 1] into one ``(rows * T, ncols * T)`` picture.

    Every image gets a white border ``frame`` pixels wide, so a tile is ``T = S + 2 * frame``
    pixels on a side; ``N`` must be a multiple of ``ncols``. Show it with ``plt.imshow``.
    """
    if images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(f"mosaic takes grey images (N, 1, S, S), got {tuple(images.shape)}")
    if len(images) % ncols:
        raise ValueError(f"mosaic: {len(images)} images do not fill rows of {ncols}")
    framed = F.pad(images, (frame,) * 4, value=1.0)[:, 0]
    rows, height, width = len(framed) // ncols, framed.shape[-2], framed.shape[-1]
    return (
        framed.reshape(rows, ncols, height, width)
        .permute(0, 2, 1, 3)
        .reshape(rows * height, ncols * width)
    )


def figure_png(fig: Figure, dpi: int = 110) -> bytes:
    """``fig`` rendered as PNG bytes (independent of the matplotlib backend in use)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def publish(fig: Figure, name: str) -> None:
    """Show ``fig`` in the notebook and register it under ``name`` for a captioned book figure.

    In the book a markdown cell then places it with ``{glue:figure} name`` and a caption.
    The figure is glued as a PNG image, so it renders whatever the matplotlib backend is
    (with ``MPLBACKEND=Agg`` a glued ``Figure`` object would only have a text form).
    """
    from IPython.display import Image, display

    image = Image(data=figure_png(fig), format="png")
    try:
        from myst_nb import glue
    except ImportError:  # plain Jupyter without the book tool chain
        display(image)
    else:
        glue(name, image, display=True)
    plt.close(fig)
