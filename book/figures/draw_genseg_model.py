"""Draw the network diagram of chapter 4 (generation + segmentation): ``genseg_model.png``.

The diagram shows ``mtl_tutorial.models.genseg.GenSegNet`` with the widths of the chapter's
experiments (read from the package), a 1 x 36 x 36 MultiMNIST-Seg image and the branches
"seg", "gen", "left" and "right". The three training stages of seed 001 are a separate
figure (``draw_genseg_stages.py``). The figure is 7 inches wide, the width of the book's
text column, and every label is at least 10 pt. Run it from anywhere; it writes the PNG
next to this file:

    python book/figures/draw_genseg_model.py
"""

from __future__ import annotations

import functools
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import diagram  # noqa: E402  (book/figures/diagram.py)
import matplotlib.pyplot as plt  # noqa: E402

from mtl_tutorial.experiments.ch4_genseg import LATENT_DIM, WIDTHS  # noqa: E402

OUT = Path(__file__).with_name("genseg_model.png")
FONT = 10  # points; the figure is drawn at the column's width, so this is the printed size

# one colour per part of the network: (edge, fill)
SHARED, SEG, GEN, CLS, PLAIN = (
    diagram.SHARED, diagram.GREEN, diagram.ORANGE, diagram.PURPLE, diagram.PLAIN
)

box = functools.partial(
    diagram.box, size=FONT, boxstyle="round,pad=0.25", linespacing=1.25
)
arrow = functools.partial(diagram.arrow, lw=1.4, shrink=1)


def right(b, dy=0.0):
    return b[0] + b[2] + 0.35, b[1] + b[3] / 2 + dy


def left(b, dy=0.0):
    return b[0] - 0.35, b[1] + b[3] / 2 + dy


def main() -> None:
    w1, w2, w3 = WIDTHS
    fig = plt.figure(figsize=(7.0, 5.6))
    ax = fig.add_axes((0, 0, 1, 1))  # 1 unit = 0.1 inch, so the text keeps its size in print
    ax.set_xlim(0, 70)
    ax.set_ylim(0, 56)
    ax.axis("off")

    # --- input and shared encoder ---------------------------------------------------
    x_in = box(ax, 0.5, 25, 7.5, 6, "image $x$\n1×36×36", PLAIN)
    ax.text(16.5, 52.5, "shared encoder", ha="center", fontsize=FONT + 1, weight="bold",
            color=SHARED[0])
    f1 = box(ax, 10.5, 40, 12, 6.5, f"level 1\n$f_1$: {w1}×36×36", SHARED)
    f2 = box(ax, 10.5, 25, 12, 6.5, f"level 2\n$f_2$: {w2}×18×18", SHARED)
    f3 = box(ax, 10.5, 10, 12, 6.5, f"level 3\n$f_3$: {w3}×9×9", SHARED)
    ax.text(16.5, 5.2, "each level:\n[conv 3×3, BN, ReLU] ×2,\nmax-pool between levels",
            ha="center", va="center", fontsize=FONT, color=SHARED[0], linespacing=1.2)
    arrow(ax, right(x_in), left(f1), rad=-0.25)
    arrow(ax, (16.5, f1[1] - 0.35), (16.5, f2[1] + f2[3] + 0.35), colour=SHARED[0])
    arrow(ax, (16.5, f2[1] - 0.35), (16.5, f3[1] + f3[3] + 0.35), colour=SHARED[0])

    # --- segmentation: U-Net decoder --------------------------------------------------
    ax.text(28, 52.5, '"seg": U-Net decoder', fontsize=FONT + 1, weight="bold", color=SEG[0])
    seg = box(ax, 28, 42, 19, 7.5, "up ×2, join $f_2$; up ×2,\njoin $f_1$ → 11×36×36", SEG)
    seg_loss = box(ax, 52, 42, 17, 7.5, "$\\mathcal{L}_{\\mathrm{seg}}$: cross-\nentropy per pixel",
                   PLAIN)
    arrow(ax, right(f3, 1.5), (seg[0] + 2.5, seg[1] - 0.35), colour=SEG[0])
    arrow(ax, right(f2), left(seg, -1.5), colour=SEG[0], linestyle=diagram.DASHED)
    arrow(ax, right(f1), left(seg, 1.8), colour=SEG[0], linestyle=diagram.DASHED)
    arrow(ax, right(seg), left(seg_loss))
    ax.text(40, 39.6, "dashed: skip connections", ha="center", fontsize=FONT, color=SEG[0],
            style="italic")

    # --- generation: VAE ----------------------------------------------------------------
    ax.text(30, 34.5, '"gen": VAE', fontsize=FONT + 1, weight="bold", color=GEN[0])
    q = box(ax, 28, 24.5, 19, 7.5,
            f"$\\mu$, $\\log\\sigma^2$ ({LATENT_DIM} each)\n$z = \\mu + \\sigma \\odot \\varepsilon$",
            GEN)
    prior = box(ax, 52, 34.5, 17, 5, "sample(labels):\n$z \\sim \\mathcal{N}(0, I)$", GEN)
    dec = box(ax, 52, 24.5, 17, 7.5, "image decoder\n→ 1×36×36 logits", GEN)
    gen_loss = box(ax, 52, 13, 17, 7.5, "$\\mathcal{L}_{\\mathrm{gen}}$ = (Σ BCE\n+ KL) / $P$",
                   PLAIN)
    arrow(ax, right(f3, 2.0), left(q, -1.5), colour=GEN[0])
    arrow(ax, right(q), left(dec), colour=GEN[0])
    arrow(ax, (60.5, prior[1] - 0.35), (60.5, dec[1] + dec[3] + 0.35), colour=GEN[0], linestyle=diagram.DASHED)
    arrow(ax, (60.5, dec[1] - 0.35), (60.5, gen_loss[1] + gen_loss[3] + 0.35))
    arrow(ax, (q[0] + 0.75 * q[2], q[1] - 0.35), left(gen_loss, -1.0), colour=GEN[0],
          linestyle=diagram.DASHED, rad=0.25)
    ax.text(37, 19.6, "$\\mu$, $\\log\\sigma^2$ → KL", ha="center", fontsize=FONT,
            color=GEN[0], style="italic")

    # --- classification heads ---------------------------------------------------------
    ax.text(28, 8.8, '"left", "right": digit heads', fontsize=FONT + 1, weight="bold",
            color=CLS[0])
    cls = box(ax, 28, 0.8, 19, 6, "pool $f_3$ to 3×3, MLP\n→ 10 logits each", CLS)
    cls_loss = box(ax, 52, 0.8, 17, 6, "$\\mathcal{L}_{\\mathrm{left}}$, $\\mathcal{L}_{\\mathrm{right}}$:\ncross-entropy",
                   PLAIN)
    arrow(ax, right(f3, -1.5), left(cls, 0.5), colour=CLS[0])
    arrow(ax, right(cls), left(cls_loss))

    fig.savefig(OUT, dpi=150, bbox_inches="tight", pad_inches=0.05, facecolor="white")
    plt.close(fig)


if __name__ == "__main__":
    main()
