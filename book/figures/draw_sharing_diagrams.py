"""Draw chapter 2's three sharing diagrams: hard, soft and cross-stitch.

Each figure shows two tasks, A (left digit) and B (right digit), on one input image,
drawn with the stages of ``mtl_tutorial.models.sharing.ConvEncoder`` (two convolution
stages and one fully connected stage) and one linear head per task:

* ``sharing_hard.png``: one encoder, used by both heads (``HardSharingNet``);
* ``sharing_soft.png``: one encoder per task, tied by the penalty (``SoftSharingNet``);
* ``sharing_cross_stitch.png``: one encoder per task, mixed by a cross-stitch unit after
  each convolution stage (``CrossStitchNet``).

The three use the same layout, colours and scale, so they can be compared side by side.
Run it from anywhere; it writes the PNGs next to this file:

    python book/figures/draw_sharing_diagrams.py
"""

from __future__ import annotations

import functools
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import diagram  # noqa: E402  (book/figures/diagram.py)
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).parent

# (edge, fill) per part of the network
SHARED, TASK_A, TASK_B, STITCH = diagram.SHARED, diagram.ORANGE, diagram.GREEN, diagram.PURPLE

INPUT = ("#555555", "#ececec")
FONT = 11  # points; the figures are 7 in wide, shown at about the column width

box = functools.partial(diagram.box, size=FONT, lw=1.4, boxstyle="round,pad=0.04")
arrow = functools.partial(diagram.arrow, shrink=2)

STAGES = ["conv 1", "conv 2", "fc"]
X_IN, X0, DX, W, H = 0.2, 1.75, 1.45, 1.05, 0.62  # input x, first stage x, stage step, box size
X_HEAD = X0 + 3 * DX + 0.1


def new_axes(height: float = 3.2):
    fig, ax = plt.subplots(figsize=(7, height))
    ax.set_xlim(0, 7.6)
    ax.set_ylim(0, 3.4 * height / 3.2)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig, ax


def input_box(ax, y):
    box(ax, X_IN, y, 1.1, H, "image x", INPUT)
    return X_IN + 1.1


def heads(ax, y_a, y_b, source_a, source_b):
    """The two task heads and their outputs; ``source_*`` are the arrow start points."""
    for y, src, colours, label in ((y_a, source_a, TASK_A, "head A"), (y_b, source_b, TASK_B, "head B")):
        box(ax, X_HEAD, y, 0.95, H, label, colours)
        arrow(ax, src, (X_HEAD, y + H / 2))
        ax.text(X_HEAD + 1.05, y + H / 2, "left digit" if label.endswith("A") else "right digit",
                va="center", fontsize=FONT)


def column(ax, y, colours, prefix="", connect=True):
    """Three stage boxes in a row at height ``y``; returns their x positions."""
    xs = [X0 + i * DX for i in range(3)]
    for i, (x, name) in enumerate(zip(xs, STAGES, strict=True)):
        box(ax, x, y, W, H, f"{prefix}{name}", colours)
        if i and connect:
            arrow(ax, (xs[i - 1] + W, y + H / 2), (x, y + H / 2))
    return xs


def draw_hard() -> Path:
    fig, ax = new_axes(2.6)
    y_mid, y_a, y_b = 1.1, 2.0, 0.2
    x_end = input_box(ax, y_mid)
    xs = column(ax, y_mid, SHARED)
    arrow(ax, (x_end, y_mid + H / 2), (xs[0], y_mid + H / 2))
    ax.text(xs[1] + W / 2, y_mid + H + 0.22, r"one shared encoder, parameters $\theta_{\mathrm{sh}}$", ha="center", fontsize=FONT,
            color=SHARED[0], weight="bold")
    out = (xs[2] + W, y_mid + H / 2)
    heads(ax, y_a, y_b, out, out)
    path = HERE / "sharing_hard.png"
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def two_columns(ax, y_a, y_b, y_in, connect=True):
    x_end = input_box(ax, y_in)
    xs_a = column(ax, y_a, TASK_A, "A: ", connect)
    xs_b = column(ax, y_b, TASK_B, "B: ", connect)
    arrow(ax, (x_end, y_in + H / 2), (xs_a[0], y_a + H / 2))
    arrow(ax, (x_end, y_in + H / 2), (xs_b[0], y_b + H / 2))
    heads(ax, y_a, y_b, (xs_a[2] + W, y_a + H / 2), (xs_b[2] + W, y_b + H / 2))
    return xs_a, xs_b


def draw_soft() -> Path:
    fig, ax = new_axes(3.1)
    y_a, y_b = 2.3, 0.5
    xs, _ = two_columns(ax, y_a, y_b, (y_a + y_b) / 2)
    for x in xs:  # the penalty ties each pair of corresponding layers
        arrow(ax, (x + W / 2, y_b + H), (x + W / 2, y_a), colour=SHARED[0], style="<|-|>", linestyle="--")
    ax.text(xs[1] + W / 2, y_b - 0.3, r"dashed: penalty $\lambda\,\|\theta^{A}_l-\theta^{B}_l\|^2$ pulls layer $l$ of A and B together",
            ha="center", va="center", fontsize=FONT, color=SHARED[0])
    path = HERE / "sharing_soft.png"
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def draw_cross_stitch() -> Path:
    fig, ax = new_axes(3.1)
    y_a, y_b = 2.3, 0.5
    xs, _ = two_columns(ax, y_a, y_b, (y_a + y_b) / 2, connect=False)
    for i in range(2):  # a unit between stage i and stage i + 1 of both columns
        xc = xs[i] + W + (DX - W) / 2
        yc = (y_a + y_b + H) / 2
        box(ax, xc - 0.2, yc - 0.22, 0.4, 0.44, "α", STITCH, weight="bold")
        arrow(ax, (xs[i] + W * 0.85, y_a), (xc - 0.05, yc + 0.24), colour=STITCH[0], lw=1.1)
        arrow(ax, (xs[i] + W * 0.85, y_b + H), (xc - 0.05, yc - 0.24), colour=STITCH[0], lw=1.1)
        arrow(ax, (xc + 0.05, yc + 0.24), (xs[i + 1] + W * 0.15, y_a), colour=STITCH[0], lw=1.1)
        arrow(ax, (xc + 0.05, yc - 0.24), (xs[i + 1] + W * 0.15, y_b + H), colour=STITCH[0], lw=1.1)
    ax.text(xs[1] + W / 2, y_b - 0.3, "α: a cross-stitch unit; each stage reads a learned mix of A and B",
            ha="center", va="center", fontsize=FONT, color=STITCH[0])
    path = HERE / "sharing_cross_stitch.png"
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


if __name__ == "__main__":
    for draw in (draw_hard, draw_soft, draw_cross_stitch):
        print("wrote", draw())
