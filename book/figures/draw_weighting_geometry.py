"""Draw the geometry of PCGrad, MGDA and CAGrad on two 2-D gradients (chapter 3).

Writes three figures next to this file, one idea each:

* ``weighting_pcgrad.png``: PCGrad's two projections and their sum;
* ``weighting_mgda.png``: MGDA's min-norm point on the segment between the gradients;
* ``weighting_cagrad.png``: CAGrad's ball around the mean gradient and its direction.

Every vector is computed with the package's own functions
(``mtl_tutorial.weighting.pcgrad_project``, ``min_norm_weights`` and
``cagrad_direction``), so the pictures show what the package does. The two gradients
meet at 135 degrees (an obtuse angle: they conflict), and the first is three times as
long as the second along its own axis. The shaded wedge holds the directions ``d`` with
``d . g1 > 0`` and ``d . g2 > 0``: a small step along ``-d`` lowers both losses. The
figures are 7 inches wide, the width of the book's text column, and every label is at
least 10 pt. Run it from anywhere:

    python book/figures/draw_weighting_geometry.py
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import Circle, Polygon  # noqa: E402

from mtl_tutorial.weighting import cagrad_direction, min_norm_weights, pcgrad_project  # noqa: E402

HERE = Path(__file__).parent
FONT = 12  # points, at the column's width
G = torch.tensor([[3.0, 0.0], [-1.0, 1.0]], dtype=torch.float64)  # g1, g2: 135 degrees apart
C = 0.4  # CAGrad's c, the package default
BLUE, ORANGE, GREY, BLACK, GREEN = "#1f77b4", "#d95f02", "0.55", "black", "#2e7d32"
XLIM, YLIM = (-1.6, 3.6), (-0.45, 2.75)

plt.rcParams.update({"font.size": FONT, "axes.labelsize": FONT, "axes.titlesize": FONT})


def vectors() -> dict[str, np.ndarray]:
    """Every vector of the three figures, from the package's functions."""
    g = G
    projected = pcgrad_project(g, torch.Generator().manual_seed(0))
    alpha = min_norm_weights(g)
    cagrad = cagrad_direction(g, c=C) * (1 + C * C)  # undo the package's 1/(1+c^2) rescaling
    out = {
        "g1": g[0],
        "g2": g[1],
        "sum": g.sum(dim=0),
        "g1p": projected[0],
        "g2p": projected[1],
        "pcgrad": projected.sum(dim=0),
        "mgda": alpha @ g,
        "alpha": alpha,
        "g0": g.mean(dim=0),
        "cagrad": cagrad,
    }
    return {k: v.numpy() for k, v in out.items()}


def base(title: str):
    """Axes with g1, g2, the 'both tasks improve' wedge and the origin."""
    v = vectors()
    fig, ax = plt.subplots(figsize=(7.0, 4.3), dpi=150)
    ax.set_aspect("equal")
    ax.set_xlim(*XLIM)
    ax.set_ylim(*YLIM)
    ax.grid(alpha=0.25)
    ax.set_xlabel("gradient coordinate 1")
    ax.set_ylabel("gradient coordinate 2")
    ax.set_title(title)
    # Directions d with d.g1 > 0 and d.g2 > 0: between the normals of g1 and g2.
    n1 = np.array([0.0, 1.0])  # perpendicular to g1, on the side of g2
    n2 = np.array([1.0, 1.0]) / np.sqrt(2)  # perpendicular to g2, on the side of g1
    far = 6.0
    ax.add_patch(Polygon([(0, 0), far * n1, far * n2], closed=True, color=GREEN, alpha=0.10, lw=0))
    ax.text(2.45, 2.5, "both losses fall\n(d·g₁ > 0, d·g₂ > 0)", color=GREEN, ha="center", va="top", fontsize=11)
    arrow(ax, v["g1"], BLUE, "g₁", (0.05, -0.28))
    arrow(ax, v["g2"], ORANGE, "g₂", (-0.35, 0.05))
    ax.plot([0], [0], "ko", ms=4)
    return fig, ax, v


def arrow(ax, vec, colour, label, offset=(0.06, 0.06), lw=2.2, ls="-", start=(0.0, 0.0)):
    """An arrow from ``start`` to ``start + vec`` with a label near its tip."""
    x0, y0 = start
    ax.annotate(
        "",
        xy=(x0 + vec[0], y0 + vec[1]),
        xytext=(x0, y0),
        arrowprops={"arrowstyle": "-|>", "color": colour, "lw": lw, "ls": ls, "mutation_scale": 16},
    )
    if label:
        ax.text(x0 + vec[0] + offset[0], y0 + vec[1] + offset[1], label, color=colour, fontsize=FONT)


def save(fig, name: str) -> Path:
    fig.tight_layout()
    path = HERE / name
    fig.savefig(path)
    plt.close(fig)
    return path


def pcgrad() -> Path:
    fig, ax, v = base("PCGrad: remove the conflicting components, then add")
    # g1' = g1 minus its component along g2: the thin line shows what was removed.
    ax.plot(*zip(v["g1"], v["g1p"], strict=True), color=BLUE, lw=1, ls=":")
    ax.plot(*zip(v["g2"], v["g2p"], strict=True), color=ORANGE, lw=1, ls=":")
    arrow(ax, v["g1p"], BLUE, "g₁′ ⊥ g₂", (0.08, -0.1), lw=1.6, ls="--")
    arrow(ax, v["g2p"], ORANGE, "g₂′ ⊥ g₁", (-0.95, 0.12), lw=1.6, ls="--")
    arrow(ax, v["sum"], GREY, "plain sum g₁ + g₂", (0.08, -0.3), lw=1.8)
    arrow(ax, v["pcgrad"], BLACK, "PCGrad: g₁′ + g₂′", (-2.35, -0.1), lw=2.6)
    return save(fig, "weighting_pcgrad.png")


def mgda() -> Path:
    fig, ax, v = base("MGDA: the shortest vector between g₁ and g₂")
    ax.plot(*zip(v["g1"], v["g2"], strict=True), color="0.35", lw=1.2, ls="--")
    ax.text(-1.5, 2.55, "dashed: every α₁ g₁ + α₂ g₂\nwith α₁ + α₂ = 1, α ≥ 0", color="0.3", fontsize=11, va="top")
    a1, a2 = (float(a) for a in v["alpha"])
    arrow(ax, v["sum"], GREY, "plain sum", (0.08, -0.3), lw=1.8)
    arrow(ax, v["mgda"], BLACK, f"MGDA: d  (α₁ = {a1:.2f}, α₂ = {a2:.2f})", (0.1, 0.3), lw=2.6)
    return save(fig, "weighting_mgda.png")


def cagrad() -> Path:
    fig, ax, v = base(f"CAGrad (c = {C:g}): best worst-case improvement in a ball")
    g0, r = v["g0"], C * float(np.linalg.norm(v["g0"]))
    ax.add_patch(Circle(tuple(g0), r, fill=False, ec="0.35", lw=1.2, ls="--"))
    arrow(ax, g0, GREY, "g₀ = mean gradient", (0.75, -0.15), lw=1.8)
    mgda_dir = v["mgda"] / np.linalg.norm(v["mgda"]) * 2.3
    ax.plot([0, mgda_dir[0]], [0, mgda_dir[1]], color="0.45", lw=1, ls=":")
    ax.text(mgda_dir[0] - 1.75, mgda_dir[1] - 0.1, "MGDA's direction", color="0.35", fontsize=11)
    arrow(ax, v["cagrad"], BLACK, "CAGrad: d", (-0.95, 0.12), lw=2.6)
    ax.text(g0[0] + r + 0.05, g0[1] + 0.2, "radius c‖g₀‖", color="0.3", fontsize=11)
    return save(fig, "weighting_cagrad.png")


def check() -> None:
    """The facts the captions state, checked on the drawn vectors."""
    v = vectors()
    g1, g2 = v["g1"], v["g2"]
    assert g1 @ g2 < 0  # the gradients conflict
    assert v["sum"] @ g2 < 0  # the plain sum makes task 2 worse
    assert abs(v["g1p"] @ g2) < 1e-9 and abs(v["g2p"] @ g1) < 1e-9  # projections are orthogonal
    for name in ("pcgrad", "mgda", "cagrad"):
        assert v[name] @ g1 > 0 and v[name] @ g2 > 0, name  # all three improve both tasks
    assert abs(v["mgda"] @ g1 - v["mgda"] @ g2) < 1e-9  # MGDA: equal improvement
    assert np.linalg.norm(v["cagrad"] - v["g0"]) <= C * np.linalg.norm(v["g0"]) + 1e-6  # in the ball


if __name__ == "__main__":
    check()
    for draw in (pcgrad, mgda, cagrad):
        print("wrote", draw())
