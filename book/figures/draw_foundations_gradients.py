"""Draw chapter 1's notation diagram: ``foundations_gradients.png``.

A shared trunk g with parameters theta_sh feeds two task heads h_1 and h_2. The forward
pass (black) goes from the image to the two predictions and their losses, which are
combined as lambda_1 L_1 + lambda_2 L_2. The backward pass (red, dashed) shows where the
tasks meet: each head receives only its own task's gradient, while the trunk receives the
weighted sum of both. The figure is 7 inches wide, the width of the book's text column,
and every label is at least 10 pt. Run it from anywhere; it writes the PNG next to this
file:

    python book/figures/draw_foundations_gradients.py
"""

from __future__ import annotations

import functools
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import diagram  # noqa: E402  (book/figures/diagram.py)
import matplotlib.pyplot as plt  # noqa: E402

OUT = Path(__file__).with_name("foundations_gradients.png")
FONT = 11  # points at the column's width

SHARED = diagram.SHARED

box = functools.partial(diagram.box, size=FONT, lw=1.6, centred=True)  # (x, y) is the centre
arrow = functools.partial(diagram.arrow, scale=14, lw=1.5, shrink=2)
TASK1 = ("#b35900", "#fdebd3")
TASK2 = ("#2e7d32", "#e3f2e1")
PLAIN = ("#333333", "#f2f2f2")
BACK = "#c62828"


def main() -> None:
    fig, ax = plt.subplots(figsize=(7.0, 3.6))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 5.1)
    ax.axis("off")

    # forward pass: image -> trunk -> heads -> losses -> weighted sum
    box(ax, 0.75, 2.5, 1.2, 0.8, "image\n$x$", PLAIN)
    box(ax, 2.85, 2.5, 1.9, 1.1, "shared trunk\n$g(\\,\\cdot\\,;\\theta_{\\mathrm{sh}})$", SHARED)
    box(ax, 5.2, 3.9, 1.7, 0.8, "head $h_1(\\,\\cdot\\,;\\theta_1)$", TASK1)
    box(ax, 5.2, 1.1, 1.7, 0.8, "head $h_2(\\,\\cdot\\,;\\theta_2)$", TASK2)
    box(ax, 7.15, 3.9, 0.9, 0.8, "$\\mathcal{L}_1$", TASK1)
    box(ax, 7.15, 1.1, 0.9, 0.8, "$\\mathcal{L}_2$", TASK2)
    box(ax, 8.9, 2.5, 1.7, 0.9, "$\\lambda_1 \\mathcal{L}_1 + \\lambda_2 \\mathcal{L}_2$", PLAIN)

    arrow(ax, (1.35, 2.5), (1.9, 2.5))
    arrow(ax, (3.8, 2.8), (4.35, 3.75))
    arrow(ax, (3.8, 2.2), (4.35, 1.25))
    ax.text(4.05, 2.5, "$z$", fontsize=FONT, ha="center", va="center")
    arrow(ax, (6.05, 3.9), (6.7, 3.9))
    arrow(ax, (6.05, 1.1), (6.7, 1.1))
    ax.text(6.38, 4.15, "$\\hat y^1$", fontsize=FONT, ha="center")
    ax.text(6.38, 0.6, "$\\hat y^2$", fontsize=FONT, ha="center")
    arrow(ax, (7.6, 3.75), (8.5, 2.95))
    arrow(ax, (7.6, 1.25), (8.5, 2.05))

    # backward pass: each head gets its own gradient, the trunk gets their sum
    arrow(ax, (7.0, 4.35), (5.6, 4.35), BACK, linestyle=(0, (4, 3)), rad=0.25)
    ax.text(
        6.3, 4.85, "$\\lambda_1 \\nabla \\mathcal{L}_1$", color=BACK, fontsize=FONT, ha="center"
    )
    arrow(ax, (7.0, 0.65), (5.6, 0.65), BACK, linestyle=(0, (4, 3)), rad=-0.25)
    ax.text(6.3, 0.0, "$\\lambda_2 \\nabla \\mathcal{L}_2$", color=BACK, fontsize=FONT, ha="center")
    arrow(ax, (4.4, 4.2), (3.2, 3.1), BACK, linestyle=(0, (4, 3)), rad=0.2)
    arrow(ax, (4.4, 0.8), (3.2, 1.9), BACK, linestyle=(0, (4, 3)), rad=-0.2)
    ax.text(2.85, 4.55, "trunk gradient:", color=BACK, fontsize=FONT, ha="center")
    ax.text(
        2.85,
        4.05,
        "$\\lambda_1 \\nabla \\mathcal{L}_1 + \\lambda_2 \\nabla \\mathcal{L}_2$",
        color=BACK,
        fontsize=FONT,
        ha="center",
    )
    ax.text(
        2.85,
        0.55,
        "forward: black\nbackward: red, dashed",
        fontsize=10,
        ha="center",
        va="center",
        color="#555555",
    )

    fig.tight_layout(pad=0.2)
    fig.savefig(OUT, dpi=110)
    plt.close(fig)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
