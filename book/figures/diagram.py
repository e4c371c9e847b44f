"""Boxes and arrows shared by the book's network diagrams (the ``draw_*.py`` scripts here).

Each script imports this module from its own folder (``python book/figures/draw_X.py``
puts that folder on ``sys.path``) and passes the styles it wants; the defaults are the
most common ones. Colours are ``(edge, fill)`` pairs.
"""

from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

#: One colour per part of a network, the same in every diagram: (edge, fill).
SHARED = ("#1f4e79", "#dbe8f6")
ORANGE = ("#b35900", "#fdebd3")
GREEN = ("#2e7d32", "#e3f2e1")
PURPLE = ("#6a1b9a", "#efe2f5")
PLAIN = ("#333333", "#ffffff")
DASHED = (0, (4, 2.5))  #: the dash pattern of a dashed box or arrow

Box = tuple[float, float, float, float]


def box(
    ax: Axes,
    x: float,
    y: float,
    w: float,
    h: float,
    text: str,
    colours: tuple[str, str],
    *,
    size: float = 10,
    weight: str = "normal",
    lw: float = 1.3,
    boxstyle: str = "round,pad=0.02,rounding_size=0.08",
    linespacing: float | None = None,  # None: matplotlib's own
    centred: bool = False,
    dashed: bool = False,
    hatch: str | None = None,
) -> Box:
    """A rounded box with centred text; ``(x, y)`` is its corner, or its centre if ``centred``.

    Returns the box as ``(x, y, w, h)`` with ``(x, y)`` its lower-left corner. A hatched
    box puts its text on a patch of the fill colour so that it stays legible.
    """
    if centred:
        x, y = x - w / 2, y - h / 2
    edge, fill = colours
    ax.add_patch(
        FancyBboxPatch(
            (x, y),
            w,
            h,
            boxstyle=boxstyle,
            linewidth=lw,
            edgecolor=edge,
            facecolor=fill,
            linestyle=DASHED if dashed else "-",
            hatch=hatch,
        )
    )
    backing = {"facecolor": fill, "edgecolor": "none", "pad": 0.5} if hatch else None
    ax.text(
        x + w / 2,
        y + h / 2,
        text,
        ha="center",
        va="center",
        fontsize=size,
        weight=weight,
        linespacing=linespacing,
        bbox=backing,
    )
    return x, y, w, h


def arrow(
    ax: Axes,
    start: tuple[float, float],
    end: tuple[float, float],
    colour: str = "#333333",
    *,
    style: str = "-|>",
    scale: float = 12,
    lw: float = 1.3,
    shrink: float = 0,
    linestyle: str | tuple[float, tuple[float, float]] = "-",
    rad: float = 0.0,
) -> None:
    """An arrow from ``start`` to ``end`` (``rad`` bends it into an arc)."""
    ax.add_patch(
        FancyArrowPatch(
            start,
            end,
            arrowstyle=style,
            mutation_scale=scale,
            linewidth=lw,
            color=colour,
            linestyle=linestyle,
            connectionstyle=f"arc3,rad={rad}",
            shrinkA=shrink,
            shrinkB=shrink,
        )
    )
