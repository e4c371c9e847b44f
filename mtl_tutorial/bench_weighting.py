"""Time one training step of every weighting method: ``python -m mtl_tutorial.bench_weighting``.

Every method trains the same model (the MultiMNIST hard-sharing LeNet, left/right heads)
on the same MultiMNIST training batches (batch size 256) through :meth:`Trainer.step`;
after ``--warmup`` untimed steps, ``--steps`` steps are timed, the methods taking turns
step by step. The table gives the median milliseconds per step and the ratio to equal
weighting. Timings depend on the machine
and on whatever else runs on it: this is a script, not a test.

    python -m mtl_tutorial.bench_weighting --steps 30 --device auto
    python -m mtl_tutorial.bench_weighting --json
    python -m mtl_tutorial.bench_weighting --steps 100 --device cpu \
        --save-json book/bench/bench_weighting_cpu.json > book/bench/bench_weighting_cpu.txt
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from .data import MultiMNIST
from .loaders import BatchLoader
from .models.sharing import HardSharingNet
from .tasks import classification
from .trainer import Trainer
from .utils import describe_device, get_device, seed_everything
from .weighting import METHODS, make_weighting

__all__ = ["benchmark", "main"]

BATCH_SIZE = 256


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def benchmark(
    steps: int = 30,
    warmup: int = 5,
    device: str | torch.device = "cpu",
    methods: Sequence[str] | None = None,
) -> list[dict[str, float | str]]:
    """Median ms per :meth:`Trainer.step` of each method: rows ``{method, ms_per_step, ratio, ...}``.

    Each method gets its own model (same initialisation) and the same batches; the methods
    take turns step by step. The ratio is relative to ``equal`` (timed too when ``methods``
    leaves it out); ``mean_ms_per_step`` is the mean.
    """
    if steps < 1 or warmup < 0:
        raise ValueError(f"need steps >= 1 and warmup >= 0, got {steps} and {warmup}")
    device = get_device(device)
    methods = list(methods or METHODS)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown weighting methods {unknown}; choose from {', '.join(METHODS)}")
    tasks = [classification("left"), classification("right")]
    names = [t.name for t in tasks]
    loader = BatchLoader(MultiMNIST("train"), BATCH_SIZE, shuffle=True, seed=0)
    batches = [
        (x.to(device), {k: v.to(device) for k, v in y.items()})
        for x, y in itertools.islice(iter(loader), warmup + steps)
    ]
    if len(batches) < warmup + steps:
        raise ValueError(f"MultiMNIST train has only {len(batches)} batches of {BATCH_SIZE}")
    order = ["equal", *[m for m in methods if m != "equal"]]
    trainers: dict[str, Trainer] = {}
    for method in order:
        seed_everything(0)
        trainers[method] = Trainer(
            HardSharingNet(tasks), tasks, weighting=make_weighting(method, names), device=device
        )
        for batch in batches[:warmup]:
            trainers[method].step(batch)
    # Interleave the methods step by step, so that background load hits them all alike.
    times: dict[str, list[float]] = {m: [] for m in order}
    for batch in batches[warmup:]:
        for method in order:
            _sync(device)
            start = time.perf_counter()
            trainers[method].step(batch)
            _sync(device)
            times[method].append(1000.0 * (time.perf_counter() - start))
    median = {m: statistics.median(t) for m, t in times.items()}
    return [
        {
            "method": m,
            "ms_per_step": median[m],
            "mean_ms_per_step": statistics.fmean(times[m]),
            "ratio": median[m] / median["equal"],
        }
        for m in methods
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; prints a table (or JSON with ``--json``)."""
    parser = argparse.ArgumentParser(
        prog="python -m mtl_tutorial.bench_weighting",
        description="Time Trainer.step of every weighting method on MultiMNIST (batch 256).",
    )
    parser.add_argument("--steps", type=int, default=30, help="timed steps per method (30)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (5)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--save-json",
        metavar="PATH",
        help="also write this run's JSON to PATH (table and file agree)",
    )
    args = parser.parse_args(argv)
    try:
        device = get_device(args.device)
        rows = benchmark(args.steps, args.warmup, device)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    info = {
        "device": describe_device(device),
        "batch_size": BATCH_SIZE,
        "steps": args.steps,
        "warmup": args.warmup,
        "torch": torch.__version__,
    }
    as_json = json.dumps({**info, "results": rows}, indent=1)
    if args.save_json:
        Path(args.save_json).write_text(as_json + "\n")
    if args.json:
        print(as_json)
        return 0
    print(
        f"Trainer.step on MultiMNIST, batch {BATCH_SIZE}, {args.steps} timed steps "
        f"after {args.warmup} warm-up, {info['device']}"
    )
    print(f"{'method':<12} {'ms/step':>9} {'x equal':>8}   (median over the timed steps)")
    for r in rows:
        print(f"{r['method']:<12} {r['ms_per_step']:>9.1f} {r['ratio']:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
