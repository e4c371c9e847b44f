"""Draw the model diagram of chapter 4 (generation + segmentation): ``genseg_model.png``.

The diagram shows ``mtl_tutorial.models.genseg.GenSegNet`` with the widths of the chapter's
experiments (8, 16, 32), latent size 32 and a 1 x 36 x 36 MultiMNIST-Seg image. Run it from
anywhere; it writes the PNG next to this file:

    python book/figures/draw_genseg_model.py
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

OUT = Path(__file__).with_name("genseg_model.png")

# one colour per part of the network: (edge, fill)
SHARED = ("#1f4e79", "#dbe8f6")
SEG = ("#2e7d32", "#e3f2e1")
GEN = ("#b35900", "#fdebd3")
CLS = ("#6a1b9a", "#efe2f5")
RENDER = ("#555555", "#ececec")
LOSS = ("#333333", "#ffffff")


def box(ax, x, y, w, h, text, colours, size=8.5, weight="normal", style="round,pad=0.3"):
    """A rounded box with centred text; returns its (x, y, w, h)."""
    edge, fill = colours
    ax.add_patch(
        FancyBboxPatch(
            (x, y), w, h, boxstyle=style, linewidth=1.3, edgecolor=edge, facecolor=fill
        )
    )
    ax.text(
        x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=size, weight=weight,
        linespacing=1.35,
    )
    return x, y, w, h


def arrow(ax, start, end, colour="#333333", dashed=False, rad=0.0, lw=1.3):
    ax.add_patch(
        FancyArrowPatch(
            start,
            end,
            arrowstyle="-|>",
            mutation_scale=11,
            linewidth=lw,
            color=colour,
            linestyle=(0, (4, 3)) if dashed else "-",
            connectionstyle=f"arc3,rad={rad}",
            shrinkA=2,
            shrinkB=2,
        )
    )


def path_arrow(ax, points, colour="#333333", dashed=False, lw=1.3):
    """A polyline through ``points`` with an arrow head on its last segment."""
    xs, ys = zip(*points[:-1], strict=True)
    ax.plot(xs, ys, color=colour, linewidth=lw, linestyle=(0, (4, 3)) if dashed else "-",
            solid_capstyle="butt")
    arrow(ax, points[-2], points[-1], colour=colour, dashed=dashed, lw=lw)


def right(b):
    return b[0] + b[2] + 0.3, b[1] + b[3] / 2


def left(b):
    return b[0] - 0.3, b[1] + b[3] / 2


def main() -> None:
    fig, ax = plt.subplots(figsize=(13.5, 8.4))
    ax.set_xlim(0, 135)
    ax.set_ylim(0, 84)
    ax.axis("off")

    # --- input and shared encoder ------------------------------------------------------
    x_in = box(ax, 1, 38, 11, 8, "image $x$\n1×36×36\nin [0, 1]", LOSS, size=9)
    ax.add_patch(
        FancyBboxPatch(
            (16, 14), 25, 56, boxstyle="round,pad=0.5", linewidth=1.8,
            edgecolor=SHARED[0], facecolor="#f3f8fd",
        )
    )
    ax.text(
        28, 73.2, "shared encoder $g(\\cdot\\,;\\theta_{\\mathrm{sh}})$", ha="center",
        fontsize=10.5, weight="bold", color=SHARED[0],
    )
    ax.text(
        28, 70.9, "(frozen in stage 2)", ha="center", fontsize=8,
        style="italic", color=SHARED[0],
    )
    f1 = box(ax, 18, 56, 21, 9, "level 1\n[conv3×3–BN–ReLU]×2\n$f_1$: 8×36×36", SHARED)
    f2 = box(ax, 18, 38, 21, 9, "max-pool 2×2, level 2\n[conv3×3–BN–ReLU]×2\n$f_2$: 16×18×18", SHARED)
    f3 = box(ax, 18, 18, 21, 9, "max-pool 2×2, level 3\n[conv3×3–BN–ReLU]×2\n$f_3$: 32×9×9", SHARED)
    arrow(ax, right(x_in), (f1[0] - 0.3, f1[1] + 4.5), rad=-0.2)
    arrow(ax, (28.5, f1[1] - 0.3), (28.5, f2[1] + f2[3] + 0.3))
    arrow(ax, (28.5, f2[1] - 0.3), (28.5, f3[1] + f3[3] + 0.3))

    # --- segmentation: U-Net decoder ----------------------------------------------------
    ax.text(47, 80.5, '"seg": U-Net decoder', fontsize=10, weight="bold", color=SEG[0])
    s2 = box(ax, 47, 66, 22, 9, "upsample $f_3$ ×2, concat $f_2$\n[conv3×3–BN–ReLU]×2\n16×18×18", SEG)
    s1 = box(ax, 74, 66, 22, 9, "upsample ×2, concat $f_1$\n[conv3×3–BN–ReLU]×2\n8×36×36", SEG)
    s0 = box(ax, 101, 66, 12, 9, "1×1 conv\nlogits\n11×36×36", SEG)
    seg_loss = box(
        ax, 118, 65, 15.5, 11,
        "$\\mathcal{L}_{\\mathrm{seg}}$\ncross-entropy\nper pixel,\n11 classes", LOSS, size=8.5,
    )
    # f3 feeds every branch: one "bus" along the encoder's right edge
    bus_x = 43.2
    ax.plot([f3[0] + f3[2] + 0.3, bus_x], [22.5, 22.5], color=SHARED[0], linewidth=1.6)
    ax.plot([bus_x, bus_x], [19.75, 69.5], color=SHARED[0], linewidth=1.6)
    ax.text(bus_x + 0.5, 29.5, "$f_3$", fontsize=9, color=SHARED[0])
    arrow(ax, (bus_x, 69.5), (s2[0] - 0.3, 69.5), colour=SEG[0])
    # skip connections: f2 into the first up-step, f1 into the second
    x2 = f2[0] + f2[2] + 0.3
    path_arrow(ax, [(x2, 46), (45.4, 46), (45.4, 62.7), (56, 62.7), (56, s2[1] - 0.3)],
               colour=SEG[0], dashed=True)
    path_arrow(ax, [(x2, 63.5), (42.3, 63.5), (42.3, 77.7), (80, 77.7), (80, s1[1] + s1[3] + 0.3)],
               colour=SEG[0], dashed=True)
    arrow(ax, right(s2), left(s1), colour=SEG[0])
    arrow(ax, right(s1), left(s0), colour=SEG[0])
    arrow(ax, right(s0), left(seg_loss))
    ax.text(57.5, 60.0, "dashed green: skip connections", fontsize=7.5, color=SEG[0], style="italic")

    # --- generation: VAE ----------------------------------------------------------------
    ax.text(47, 51.5, '"gen": VAE', fontsize=10, weight="bold", color=GEN[0])
    q = box(ax, 47, 39, 17, 9, "flatten $f_3$ (2592)\ntwo linear maps\n$\\mu$, $\\log\\sigma^2$: 32 each", GEN)
    z = box(
        ax, 68, 39, 16, 9,
        "$z = \\mu + \\sigma \\odot \\varepsilon$\n$\\varepsilon \\sim \\mathcal{N}(0, I)$ (train)\n$z = \\mu$ (eval)",
        GEN,
    )
    dec = box(
        ax, 88, 38.5, 25, 10,
        "image decoder: linear → 32×9×9\nup ×2, block → 16×18×18\nup ×2, block → 8×36×36\n1×1 conv → logits 1×36×36",
        GEN, size=8,
    )
    gen_loss = box(
        ax, 118, 37, 15.5, 13,
        "$\\mathcal{L}_{\\mathrm{gen}}$ = [ Σ BCE\n+ β KL($q\\,\\|\\,\\mathcal{N}(0,I)$) ]\n/ $P$,  $P$ = 1296",
        LOSS, size=8,
    )
    prior = box(ax, 88, 52, 25, 5, "sample($n$): $z \\sim \\mathcal{N}(0, I)$, no encoder", GEN, size=7.5)
    arrow(ax, (bus_x, q[1] + 4.5), left(q), colour=GEN[0])
    arrow(ax, right(q), left(z), colour=GEN[0])
    arrow(ax, right(z), left(dec), colour=GEN[0])
    arrow(ax, (100.5, prior[1] - 0.3), (100.5, dec[1] + dec[3] + 0.3), colour=GEN[0], dashed=True)
    arrow(ax, right(dec), left(gen_loss))
    arrow(ax, (q[0] + q[2] * 0.8, q[1] - 0.3), (gen_loss[0] + 2, gen_loss[1] - 0.3),
          colour=GEN[0], dashed=True, rad=0.18)
    ax.text(60, 32.3, "$\\mu$, $\\log\\sigma^2$ → KL term", fontsize=7.5, color=GEN[0],
            style="italic")

    # --- classification heads -----------------------------------------------------------
    ax.text(47, 26.5, '"left", "right": digit classifiers', fontsize=10, weight="bold",
            color=CLS[0])
    c1 = box(ax, 47, 16, 34, 7.5, "one head per digit: avg-pool $f_3$ to 3×3 (288)\nlinear 288→64, ReLU, linear 64→10", CLS)
    cls_loss = box(ax, 118, 15.5, 15.5, 8.5, "$\\mathcal{L}_{\\mathrm{left}}$, $\\mathcal{L}_{\\mathrm{right}}$\ncross-entropy,\n10 classes", LOSS, size=8.5)
    arrow(ax, (bus_x, c1[1] + c1[3] / 2), left(c1), colour=CLS[0])
    arrow(ax, right(c1), left(cls_loss))

    # --- mask renderer ------------------------------------------------------------------
    ax.text(47, 10.3, '"render": mask → image', fontsize=10, weight="bold", color=RENDER[0])
    ax.text(47, 6.5, "a by-product for figures,\nkept out of every comparison", fontsize=8,
            style="italic", color=RENDER[0], va="top")
    r0 = box(ax, 76.5, 1.5, 19, 6.5, "argmax of the seg logits\n(detached: no gradient)", RENDER, size=8)
    r1 = box(ax, 98.5, 0.8, 14.5, 8, "small U-Net on the\none-hot mask\n→ logits 1×36×36", RENDER, size=7.5)
    r_loss = box(ax, 118, 1.5, 15.5, 6.5, "$\\mathcal{L}_{\\mathrm{render}}$\nBCE per pixel", LOSS, size=8.5)
    path_arrow(
        ax, [(s0[0] + 6, s0[1] - 0.3), (s0[0] + 6, 61.5), (86, 61.5), (86, r0[1] + r0[3] + 0.3)],
        colour=RENDER[0], dashed=True,
    )
    arrow(ax, right(r0), left(r1), colour=RENDER[0])
    arrow(ax, right(r1), left(r_loss))

    # --- legend -------------------------------------------------------------------------
    ax.text(
        1, 9.5,
        "targets: the label map $m$ (seg),\nthe digit classes (left, right),\n"
        "the image $x$ itself (gen, render)\n\nonly the branches an experiment\nnames are built",
        fontsize=8, va="top", linespacing=1.4,
    )
    fig.savefig(OUT, dpi=150, bbox_inches="tight", facecolor="white")
    plt.close(fig)


if __name__ == "__main__":
    main()
