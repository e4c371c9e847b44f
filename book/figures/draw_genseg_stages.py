"""Draw seed 001's three training stages (chapter 4): ``genseg_stages.png``.

One mini-network per stage: the shared encoder and the two heads of ``Seed001Net``,
coloured where the stage trains them and grey where it keeps them fixed. The epochs of
each stage come from the package (``split_epochs`` of the chapter's budget) and so does
the fine-tuning factor, so the figure cannot disagree with the experiments. The figure is
7 inches wide, the width of the book's text column, and every label is at least 10 pt.

    python book/figures/draw_genseg_stages.py
"""

from __future__ import annotations

import functools
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import diagram  # noqa: E402  (book/figures/diagram.py)
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

from mtl_tutorial.experiments.ch4_genseg import EPOCHS, FINETUNE_LR_FACTOR  # noqa: E402
from mtl_tutorial.schedules import split_epochs  # noqa: E402

OUT = Path(__file__).with_name("genseg_stages.png")
FONT = 10

SHARED, SEG, GEN = diagram.SHARED, diagram.GREEN, diagram.ORANGE

box = functools.partial(
    diagram.box, size=FONT, boxstyle="round,pad=0.25", lw=1.6, linespacing=1.2
)
arrow = functools.partial(diagram.arrow, lw=1.4, shrink=1)
FROZEN = ("#777777", "#e6e6e6")


def network(ax, x0, encoder, seg, gen):
    """Encoder and two heads; each of encoder/seg/gen is "train", "alternate" or "frozen"."""
    def style(state, colours):
        if state == "frozen":
            return {"colours": FROZEN, "hatch": "///"}
        return {"colours": colours, "dashed": state == "alternate"}

    enc = box(ax, x0 + 0.8, 12.5, 7.5, 11, "shared\nencoder", **style(encoder, SHARED))
    s = box(ax, x0 + 12.5, 20, 8.5, 5, "seg\ndecoder", **style(seg, SEG))
    g = box(ax, x0 + 12.5, 11, 8.5, 5, "VAE", **style(gen, GEN))
    arrow(ax, (enc[0] + enc[2] + 0.35, 20.5), (s[0] - 0.35, s[1] + 2.5))
    arrow(ax, (enc[0] + enc[2] + 0.35, 15.5), (g[0] - 0.35, g[1] + 2.5))
    if encoder == "frozen":
        ax.text(enc[0] + enc[2] / 2, 26.8, "frozen,\neval mode", ha="center", va="center",
                fontsize=FONT, color=FROZEN[0])


def main() -> None:
    stages = split_epochs(EPOCHS)
    fig = plt.figure(figsize=(7.0, 3.9))
    ax = fig.add_axes((0, 0, 1, 1))  # 1 unit = 0.1 inch
    ax.set_xlim(0, 70)
    ax.set_ylim(0, 39)
    ax.axis("off")

    panels = [
        ("1. Pre-train", f"{stages.pretrain} epochs, lr $\\eta_0$",
         ("train", "alternate", "alternate"),
         "$\\mathcal{L}_{\\mathrm{seg}}$ or $\\mathcal{L}_{\\mathrm{gen}}$:\none task per epoch,\nin turn"),
        ("2. Freeze encoder", f"{stages.frozen} epochs, lr $\\eta_0$",
         ("frozen", "train", "train"),
         "$\\mathcal{L}_{\\mathrm{seg}} + \\mathcal{L}_{\\mathrm{gen}}$:\ntwo separate\nhead trainings"),
        ("3. Fine-tune", f"{stages.finetune} epochs, lr {FINETUNE_LR_FACTOR:g} $\\eta_0$",
         ("train", "train", "train"),
         "$\\mathcal{L}_{\\mathrm{seg}} + \\mathcal{L}_{\\mathrm{gen}}$:\nend to end"),
    ]
    width, gap = 22, 2
    for k, (title, budget, states, loss) in enumerate(panels):
        x0 = k * (width + gap)
        ax.add_patch(FancyBboxPatch((x0 + 0.3, 0.6), width - 0.6, 37.5, boxstyle="round,pad=0.1",
                                    linewidth=1.0, edgecolor="#bbbbbb", facecolor="#fafafa"))
        ax.text(x0 + width / 2, 35.2, title, ha="center", va="center", fontsize=FONT + 1,
                weight="bold")
        ax.text(x0 + width / 2, 31.6, budget, ha="center", va="center", fontsize=FONT)
        network(ax, x0, *states)
        ax.text(x0 + width / 2, 5.5, loss, ha="center",
                va="center", fontsize=FONT, linespacing=1.25)
        if k < len(panels) - 1:
            arrow(ax, (x0 + width - 0.2, 18), (x0 + width + gap + 0.2, 18), lw=2.0, scale=16)
    fig.savefig(OUT, dpi=150, bbox_inches="tight", pad_inches=0.05, facecolor="white")
    plt.close(fig)


if __name__ == "__main__":
    main()
