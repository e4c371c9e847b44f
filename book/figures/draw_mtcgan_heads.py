"""Draw the multi-task discriminator of chapter 5 (MT-CGAN): ``mtcgan_heads.png``.

The diagram shows ``mtl_tutorial.models.mtcgan.Discriminator`` as the ``mtcgan`` experiment
builds it: one shared convolutional trunk and four heads (real/fake, patch, class and
latent recovery). The output shapes are read from the package by running the network on
one image. The projection discriminator of the ``cgan`` baseline is a separate figure
(``draw_mtcgan_projection.py``). The figure is 7 inches wide, the width of the book's text
column, and every label is at least 10 pt. Run it from anywhere; it writes the PNG next to
this file:

    python book/figures/draw_mtcgan_heads.py
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

OUT = Path(__file__).with_name("mtcgan_heads.png")
FONT = 10  # points; the figure is drawn at the column's width, so this is the printed size

TRUNK, CLS, LAT, PLAIN = diagram.SHARED, diagram.PURPLE, diagram.GREEN, diagram.PLAIN
ADV = ("#b71c1c", "#fde0dc")  # (edge, fill)

box = functools.partial(diagram.box, size=FONT, linespacing=1.2)
arrow = diagram.arrow


def shapes() -> dict[str, tuple[int, ...]]:
    """Per-image output shape of every head of the ``mtcgan`` discriminator."""
    disc = GAN(VARIANTS["mtcgan"][1]).discriminator
    with torch.no_grad():
        out = disc(torch.zeros(1, 1, 28, 28), torch.zeros(1, dtype=torch.long))
    return {name: tuple(value.shape[1:]) for name, value in out.items()}


def main() -> Path:
    out = shapes()
    assert set(out) == {"adv", "patch", "cls", "latent"}, out
    fig, ax = plt.subplots(figsize=(7, 3.9))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 5.6)
    ax.axis("off")

    box(ax, 0.05, 2.4, 1.35, 0.9, "image x\n1 × 28 × 28", PLAIN)
    box(ax, 1.65, 1.6, 2.15, 2.5,
        "shared trunk\n\nconv 4×4, stride 2\nLeakyReLU\nconv 4×4, stride 2\nLeakyReLU",
        TRUNK)
    ax.text(2.725, 1.4, "map 64 × 7 × 7\nh = flatten (3136)", ha="center", va="top",
            fontsize=FONT)
    arrow(ax, (1.4, 2.85), (1.65, 2.85))

    assert out["adv"] == () and out["patch"] == (7, 7)
    heads = [
        ("real/fake: linear(h)\n→ 1 logit", "is the whole image real?", ADV),
        ("patch: 1×1 conv(map)\n→ 7 × 7 logits", "is each 10×10 patch real?", ADV),
        (f"class: linear(h)\n→ {out['cls'][0]} logits", "which digit? (AC-GAN)", CLS),
        (f"latent: linear(h)\n→ {out['latent'][0]} numbers", "recover the z of a fake\n(InfoGAN-style)", LAT),
    ]
    ys = [4.55, 3.45, 2.35, 1.25]
    for (title, task, colours), y in zip(heads, ys, strict=True):
        box(ax, 4.35, y - 0.42, 2.6, 0.84, title, colours)
        arrow(ax, (3.8, 2.85), (4.35, y))
        ax.text(7.15, y, task, ha="left", va="center", fontsize=FONT, linespacing=1.2)
    ax.text(5.65, 5.3, "head → output", ha="center", va="center", fontsize=FONT,
            weight="bold")
    ax.text(7.15, 5.3, "its task", ha="left", va="center", fontsize=FONT, weight="bold")
    ax.text(0.1, 0.15, "L_D is a weighted sum of the four heads' losses; "
            "their gradients meet in the trunk.", ha="left", va="bottom", fontsize=FONT,
            style="italic")
    fig.tight_layout(pad=0.2)
    fig.savefig(OUT, dpi=150)
    plt.close(fig)
    return OUT


if __name__ == "__main__":
    print(main())
