"""Draw the geometry of a MultiMNIST canvas for chapter 1: ``foundations_canvas.png``.

The 36 x 36 canvas with the left digit's square [0, 28) and the right digit's square
[6, 34), read from the package (``LEFT_OFFSET``, ``RIGHT_OFFSET``, the 28-pixel source
size and the canvas size), the 22 x 22 square they share, and the rows and columns that
no digit ever reaches. The figure is at most 7 inches wide, the width of the book's text
column, and every label is at least 10 pt. Run it from anywhere; it writes the PNG next
to this file:

    python book/figures/draw_foundations_canvas.py
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch, Rectangle  # noqa: E402

from mtl_tutorial.data.multimnist import CANVAS, LEFT_OFFSET, RIGHT_OFFSET  # noqa: E402

OUT = Path(__file__).with_name("foundations_canvas.png")
FONT = 11  # points at the column's width
DIGIT = 28  # side of an MNIST source image

LEFT = "#f5b971"
RIGHT = "#8fd3e8"
BOTH = "#b9a3d6"
EMPTY = "#e6e6e6"


def main() -> None:
    size = CANVAS
    fig, ax = plt.subplots(figsize=(6.8, 4.2))
    ax.add_patch(Rectangle((0, 0), size, size, fc=EMPTY, ec="black", lw=1.2))
    ax.add_patch(Rectangle((LEFT_OFFSET, LEFT_OFFSET), DIGIT, DIGIT, fc=LEFT, ec="#b35900", lw=2))
    ax.add_patch(
        Rectangle((RIGHT_OFFSET, RIGHT_OFFSET), DIGIT, DIGIT, fc=RIGHT, ec="#1f6f8b", lw=2)
    )
    lo, hi = max(LEFT_OFFSET, RIGHT_OFFSET), min(LEFT_OFFSET, RIGHT_OFFSET) + DIGIT
    ax.add_patch(Rectangle((lo, lo), hi - lo, hi - lo, fc=BOTH, ec="#5e3c99", lw=2, hatch="//"))
    ax.text(
        (lo + hi) / 2,
        (lo + hi) / 2,
        f"both digits\n{hi - lo}×{hi - lo}",
        ha="center",
        va="center",
        fontsize=FONT,
        bbox={"fc": "white", "ec": "none", "alpha": 0.85},
    )
    ax.text(LEFT_OFFSET + 3, LEFT_OFFSET + 3, "left\nonly", ha="center", va="center", fontsize=FONT)
    ax.text(
        RIGHT_OFFSET + DIGIT - 3,
        RIGHT_OFFSET + DIGIT - 3,
        "right\nonly",
        ha="center",
        va="center",
        fontsize=FONT,
    )

    ticks = sorted({0, LEFT_OFFSET, RIGHT_OFFSET, LEFT_OFFSET + DIGIT, RIGHT_OFFSET + DIGIT, size})
    ax.set_xticks(ticks[:-1])  # the canvas edge (36) would collide with 34; the y axis shows it
    ax.set_yticks(ticks)
    ax.tick_params(labelsize=FONT)
    ax.set_xlim(0, size)
    ax.set_ylim(size, 0)  # rows grow downwards, as in an image
    ax.set_aspect("equal")
    ax.set_xlabel("column (canvas pixels)", fontsize=FONT)
    ax.set_ylabel("row (canvas pixels)", fontsize=FONT)
    ax.legend(
        handles=[
            Patch(
                fc=LEFT, ec="#b35900", label=f"left digit: [{LEFT_OFFSET}, {LEFT_OFFSET + DIGIT})"
            ),
            Patch(
                fc=RIGHT,
                ec="#1f6f8b",
                label=f"right digit: [{RIGHT_OFFSET}, {RIGHT_OFFSET + DIGIT})",
            ),
            Patch(fc=BOTH, ec="#5e3c99", hatch="//", label="covered by both"),
            Patch(fc=EMPTY, ec="black", label="never covered"),
        ],
        loc="center left",
        bbox_to_anchor=(1.03, 0.5),
        fontsize=FONT,
        frameon=False,
    )
    fig.tight_layout(pad=0.3)
    fig.savefig(OUT, dpi=110)
    plt.close(fig)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
