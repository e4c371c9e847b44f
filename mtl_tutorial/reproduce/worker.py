"""One job of a reproduce plan, in its own process: train, then ship or record the run.

The runner starts ``python -m mtl_tutorial.reproduce.worker NAME SEED ...`` with
``$MTL_TUTORIAL_WEIGHTS`` set to the plan's staging weights folder, so the run's test
metrics read freshly trained dependencies, and its own result lands there for the
experiments that depend on it.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import torch

from .. import experiments, pretrained
from ..utils import get_device


def main(argv: Sequence[str] | None = None) -> int:
    """Train ``NAME`` with ``SEED``; ship it (``--ship``) or record it in the staging manifest."""
    parser = argparse.ArgumentParser(prog="python -m mtl_tutorial.reproduce.worker")
    parser.add_argument("experiment")
    parser.add_argument("seed", type=int)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--budget", default="cpu", choices=experiments.BUDGETS)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", required=True)
    parser.add_argument("--ship", action="store_true")
    parser.add_argument("--resume", action="store_true", help="go on from the last saved epoch")
    parser.add_argument("--result", required=True, help="JSON file to write the checkpoint path to")
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    config = experiments.TrainConfig(
        seed=args.seed,
        epochs=args.epochs,
        device=get_device(args.device),
        out_dir=Path(args.out),
        budget=args.budget,
        resume=args.resume,
    )
    _, path = experiments.run(args.experiment, config)
    if args.ship:
        pretrained.ship(args.experiment, path)
    else:
        pretrained.record_run(args.experiment, path)
    Path(args.result).write_text(json.dumps({"checkpoint": str(path)}) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
