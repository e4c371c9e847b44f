"""Draw samples of every training seed of chapter 5's GANs: ``mtcgan_seed_grids.png``.

It draws the 6-epoch runs, the budget at which all eleven GANs are compared: their
manifest is ``mtl_tutorial/weights/cpu-budget/`` (``--weights`` picks another folder). Only
seed 0 of a GAN ships; seeds 1 and 2 leave their averaged generator in
``runs/NAME/seed<S>.pt`` after ``python -m mtl_tutorial train NAME --seed S --record``.
This script loads every recorded seed it finds (the shipped file for seed 0) and draws,
for each GAN (rows) and seed (columns), the classes 0 to 9 (rows of the tile) with the
same 6 noise vectors (columns of the tile), so a seed's mode collapse or blotchy class
shows at a glance. It refuses to draw when a recorded seed's weights are missing.

    python book/figures/draw_mtcgan_seed_grids.py [--runs RUNS_FOLDER] [--weights FOLDER]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from mtl_tutorial import pretrained, report, store, viz  # noqa: E402
from mtl_tutorial.experiments.ch5_mtcgan import CPU_BUDGET, VARIANTS  # noqa: E402

OUT = Path(__file__).with_name("mtcgan_seed_grids.png")
GANS = ["cgan", "mtcgan-proj-no-tac", "mtcgan-proj", "acgan", "mtcgan", "mtcgan-seed002"]
COLUMNS = 6  # noise vectors per class


def _generator(name: str, seed: int, runs: Path) -> torch.nn.Module:
    try:
        return pretrained.load(name, checkpoint=store.seed_weights(name, seed, runs))
    except FileNotFoundError as error:
        raise SystemExit(str(error)) from error


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", default=Path(__file__).resolve().parents[2] / "runs", type=Path)
    p.add_argument("--weights", default=CPU_BUDGET, type=Path, help="the weights folder read")
    args = p.parse_args()
    with pretrained.using_weights(args.weights):
        draw(args.runs)


def draw(runs: Path) -> None:
    """Draw the figure from the weights folder in use and the seeds' files under ``runs``."""
    unknown = [n for n in GANS if n not in VARIANTS]
    if unknown:
        raise SystemExit(f"not a shipped GAN: {unknown}")
    seeds = sorted(set.intersection(*(set(report.seeds(n)) for n in GANS)))
    labels = torch.arange(10).repeat_interleave(COLUMNS)
    z = torch.randn(COLUMNS, 64, generator=torch.Generator().manual_seed(0)).repeat(10, 1)
    fig, axes = plt.subplots(len(GANS), len(seeds), figsize=(7, 2.45 * len(GANS)), squeeze=False)
    for row, name in enumerate(GANS):
        for col, seed in enumerate(seeds):
            with torch.no_grad():
                images = (_generator(name, seed, runs).sample(labels, z) + 1) / 2
            ax = axes[row, col]
            ax.imshow(viz.mosaic(images.clamp(0, 1), ncols=COLUMNS), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks(
                15 + 30 * torch.arange(10).numpy(), [str(c) for c in range(10)], fontsize=8
            )
            ax.set_title(f"{name}, seed {seed}", fontsize=10)
            if col == 0:
                ax.set_ylabel("requested class", fontsize=10)
    fig.tight_layout()
    fig.savefig(OUT, dpi=110)
    print(f"wrote {OUT} ({len(GANS)} GANs x seeds {seeds})")


if __name__ == "__main__":
    main()
