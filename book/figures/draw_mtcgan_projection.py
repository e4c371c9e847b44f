"""Draw the projection discriminator of chapter 5's ``cgan`` baseline: ``mtcgan_projection.png``.

The contrast to ``mtcgan_heads.png``: the same trunk, but one real/fake logit, and the
label enters the discriminator through an embedding ``e_y`` whose inner product with the
features is added to the logit (Miyato and Koyama, 2018). The embedding size is read from
the package. The figure is 7 inches wide, the width of the book's text column, and every
label is at least 10 pt. Run it from anywhere; it writes the PNG next to this file:

    python book/figures/draw_mtcgan_projection.py
"""

from __future__ import annotations

import functools
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import diagram  # noqa: E402  (book/figures/diagram.py)
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from mtl_tutorial.experiments.ch5_mtcgan import VARIANTS  # noqa: E402
from mtl_tutorial.models.mtcgan import GAN  # noqa: E402

OUT = Path(__file__).with_name("mtcgan_projection.png")
FONT = 10  # points, at the column's width

TRUNK, LABEL, PLAIN = diagram.SHARED, diagram.ORANGE, diagram.PLAIN
ADV = ("#b71c1c", "#fde0dc")  # (edge, fill)

box = functools.partial(diagram.box, size=FONT, linespacing=1.2)
arrow = diagram.arrow


def embedding_shape() -> tuple[int, ...]:
    """Shape of the class embedding of the ``cgan`` discriminator (classes x features)."""
    disc = GAN(VARIANTS["cgan"][1]).discriminator
    shapes = [tuple(m.weight.shape) for m in disc.modules() if isinstance(m, torch.nn.Embedding)]
    assert len(shapes) == 1, shapes
    with torch.no_grad():
        out = disc(torch.zeros(1, 1, 28, 28), torch.zeros(1, dtype=torch.long))
    assert set(out) == {"adv"}, out  # one head only
    return shapes[0]


def main() -> Path:
    classes, features = embedding_shape()
    fig, ax = plt.subplots(figsize=(7, 3.3))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 4.7)
    ax.axis("off")
    box(ax, 0.05, 2.55, 1.35, 0.9, "image x\n1 × 28 × 28", PLAIN)
    box(ax, 1.65, 2.3, 2.15, 1.4, "trunk, the same\nas in mtcgan", TRUNK)
    ax.text(2.725, 2.1, f"h ({features} features)", ha="center", va="top", fontsize=FONT)
    arrow(ax, (1.4, 3.0), (1.65, 3.0))
    box(ax, 4.4, 3.3, 2.1, 0.8, "ψ(h): linear\n→ 1 number", ADV)
    arrow(ax, (3.8, 3.0), (4.4, 3.7))
    box(ax, 0.05, 0.55, 1.35, 0.9, "label y\n(0 to 9)", LABEL)
    box(ax, 1.65, 0.5, 2.15, 1.0, f"embedding e_y\n({classes} × {features})", LABEL)
    arrow(ax, (1.4, 1.0), (1.65, 1.0))
    box(ax, 4.4, 1.5, 2.1, 0.8, "inner product\ne_yᵀ h", LABEL)
    arrow(ax, (3.8, 1.0), (4.4, 1.8))
    arrow(ax, (3.8, 3.0), (4.4, 2.0))
    box(ax, 7.0, 2.3, 1.1, 0.8, "+", PLAIN, size=14)
    arrow(ax, (6.5, 3.7), (7.0, 2.9))
    arrow(ax, (6.5, 1.9), (7.0, 2.5))
    arrow(ax, (8.1, 2.7), (8.45, 2.7))
    ax.text(8.5, 2.7, "logit\ns(x, y)", ha="left", va="center", fontsize=FONT)
    ax.text(0.05, 0.05, "One head and one task (real or fake for this class); "
            "the label is an input of D.", ha="left", va="bottom", fontsize=FONT,
            style="italic")
    fig.tight_layout(pad=0.2)
    fig.savefig(OUT, dpi=150)
    plt.close(fig)
    return OUT


if __name__ == "__main__":
    print(main())
