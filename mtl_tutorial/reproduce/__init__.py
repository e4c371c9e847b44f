"""``python -m mtl_tutorial reproduce``: retrain every shipped weight with one command.

* :mod:`.plan`: every registered experiment x seed in dependency order, both budgets,
  time estimates per device;
* :mod:`.runner`: parallel single-threaded processes (sharing one GPU when there is one),
  a staging weights folder so that dependents are scored against fresh dependencies;
* :mod:`.pack`: finished runs packed into at most 8 bounded files as they finish, and
  ``--import`` with sha256 verification;
* :mod:`.measure`: per-family step costs behind the estimates.

See ``dev-notes/gpu.md`` for the GPU run.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from .. import pretrained
from .pack import MiB, PackLimits, import_results, release
from .plan import Job, build_plan, format_plan

__all__ = ["Job", "add_parser", "build_plan", "import_results"]


def _seeds(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"--seeds takes integers like 0,1,2: {err}") from err
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"--seeds must be distinct non-negative integers: {text}")
    return seeds


#: the carry budget the dry run assumes without --carry-mib: what ``tools/gpu_reproduce.sh
#: prepare`` computes for the next call (``runs/gpu-send/carry-mib``) with an empty campaign
#: (2026-12-01: 63 MiB less 13 MiB of tree and MNIST and 7 MiB of judges to come)
DRY_RUN_CARRY_MIB = 42.0


def _calls_report(plan: list[Job], jobs: int, carry_mib: float) -> str:
    """The device calls the gpu plan takes by :func:`.calls.simulate_calls`, one line each."""
    from .calls import scaled, simulate_calls
    from .plan import GPU_CALL_S

    calls, stuck = simulate_calls(plan, jobs, GPU_CALL_S, int(carry_mib * MiB))
    lines = [
        f"device calls, simulated ({GPU_CALL_S:.0f} s of training each, every one after the "
        f"first with --resume; {carry_mib:g} MiB of saved GAN states between calls; the "
        f"runner's fit rule and --import --complete-only; every estimate taken as exact): "
        f"{len(calls)}"
    ]
    lines += ["  " + c.summary(i) for i, c in enumerate(calls, 1)]
    if stuck:
        lines.append(
            f"  never finished under these rules: {', '.join(stuck)} (a GAN that cannot reach "
            "its cap in one call needs --carry-mib; any other run must fit one call)"
        )
    what_if = []
    for factor in (0.5, 2.0):
        more, never = simulate_calls(scaled(plan, factor), jobs, GPU_CALL_S, int(carry_mib * MiB))
        what_if.append(
            f"{factor:g}x: {len(more)}" + (f" (never: {', '.join(never)})" if never else "")
        )
    lines.append(
        f"  if the GPU runs took another multiple of their estimates: {'; '.join(what_if)}"
    )
    return "\n".join(lines)


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from ..utils import get_device
    from .measure import STEP_COSTS, load_step_costs, measure_families

    only = [g for item in args.only or [] for g in item.split(",") if g]
    if args.release:
        names = release(
            args.release, args.seeds, args.resume or "cuda", only or None, args.keep_replaced
        )
        print(json.dumps({"released": names, "weights_dir": str(pretrained.weights_dir())}))
        return 0
    if args.import_dir:
        summary = import_results(
            args.import_dir,
            keep_replaced=args.keep_replaced,
            complete_only=args.complete_only,
            resume_dir=args.resume_dir,
        )
        print(json.dumps({k: v for k, v in summary.items() if k != "info"}, indent=1))
        return 0
    if args.carry_mib and args.resume is None and not args.dry_run:
        raise ValueError(
            "--carry-mib goes with --resume: only a resumed plan goes on from saved states"
        )
    device = get_device(args.device)
    if args.measure:
        measured = measure_families(device)
        costs = load_step_costs()
        costs[device.type] = measured
        target = Path(args.out) / "step_costs.json" if args.out else STEP_COSTS
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(costs, indent=1) + "\n")
        print(json.dumps(measured, indent=1))
        return 0
    budget = args.budget or ("gpu" if device.type == "cuda" else "cpu")
    resume = None if args.resume is None else (args.resume or device.type)
    plan = build_plan(only or None, args.seeds, budget, resume_on=resume)
    if not plan:
        print(
            f"nothing to train: every selected experiment holds seeds "
            f"{','.join(map(str, args.seeds))} "
            f"under the {budget} budget on {resume}"
        )
        return 0
    jobs = args.jobs or max(1, os.cpu_count() or 1)
    if args.dry_run:  # without --budget: the cpu budget on a CPU, the gpu budget on cuda
        keys = {j.experiment for j in plan}  # under --resume: the same experiments
        cpu_plan = (
            plan if args.budget or budget == "cpu" else build_plan(sorted(keys), args.seeds, "cpu")
        )
        gpu_plan = (
            plan if args.budget or budget == "gpu" else build_plan(sorted(keys), args.seeds, "gpu")
        )
        jobs_on = {"cpu": jobs, "cuda": args.jobs or 16}
        print(format_plan(cpu_plan, gpu_plan, jobs_on, load_step_costs()))
        carry_mib = DRY_RUN_CARRY_MIB if args.carry_mib is None else args.carry_mib
        print(_calls_report(gpu_plan, jobs_on["cuda"], carry_mib))
        return 0
    from .runner import RunOptions, run_plan

    limits = PackLimits(max_files=args.max_files, max_total_bytes=args.max_total_mib * MiB)
    options = RunOptions(
        out=Path(args.out or "runs/reproduce"),
        device=str(device),
        budget=budget,
        jobs=jobs,
        epochs=1 if args.quick else None,
        quick=args.quick,
        ship_seed=args.seeds[0] if args.ship_seed is None else args.ship_seed,
        pack_dir=Path(args.pack_dir) if args.pack_dir else None,
        limits=limits,
        time_limit_s=args.time_limit,
        resume_runs=args.resume is not None,
        carry_bytes=int((args.carry_mib or 0) * MiB),
    )
    summary = run_plan(plan, options)
    print(json.dumps(summary, indent=1))
    return 1 if summary["failed"] else 0


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``reproduce`` subcommand to the CLI's subparsers."""
    p = sub.add_parser(
        "reproduce",
        help="retrain every shipped experiment x seed (dependencies first) and pack the results",
        description="Plan, run and pack every registered experiment x seed; --import merges "
        "a pack into the weights and manifest. See dev-notes/gpu.md.",
    )
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    p.add_argument("--seeds", type=_seeds, default=(0, 1, 2), help="default 0,1,2; the first ships")
    p.add_argument(
        "--ship-seed",
        type=int,
        default=None,
        help="the seed whose weights ship (default: the first of --seeds); one outside "
        "--seeds ships nothing, and --import adds the runs to the existing entries",
    )
    p.add_argument(
        "--only", action="append", metavar="GLOB", help="experiments matching GLOB (repeatable)"
    )
    p.add_argument("--jobs", type=int, default=None, help="parallel runs (default: CPU count)")
    p.add_argument(
        "--budget", choices=("cpu", "gpu"), default=None, help="default: gpu on cuda, else cpu"
    )
    p.add_argument("--out", default=None, help="work folder (default runs/reproduce)")
    p.add_argument(
        "--pack-dir", default=None, help="where the packed results go (default OUT/pack)"
    )
    p.add_argument("--max-files", type=int, default=8, help="files in the pack (default 8)")
    p.add_argument("--max-total-mib", type=int, default=64, help="pack size limit (default 64)")
    p.add_argument(
        "--time-limit",
        type=float,
        default=None,
        help="seconds; a job expected to take longer than the time left does not start, and "
        "what still runs at the limit stops; what finished is kept",
    )
    p.add_argument(
        "--resume",
        nargs="?",
        const="",
        metavar="DEVICE",
        help="leave out the experiments the manifest already holds, every seed, under this "
        "budget on this kind of device (default: --device's); a plan longer than one "
        "device session goes on where the last one stopped; a GAN run that a time limit "
        "stopped goes on from its last saved epoch in --out",
    )
    p.add_argument(
        "--carry-mib",
        type=float,
        default=None,
        metavar="N",
        help="with --resume and --time-limit: a GAN run may start although it cannot finish, "
        "and the saved states of the GAN experiments left unfinished are packed, up to N MiB, "
        "for the next call (default 0: none); with --dry-run, the budget its simulated "
        f"device calls assume (default {DRY_RUN_CARRY_MIB:g})",
    )
    p.add_argument("--dry-run", action="store_true", help="print the plan with estimates")
    p.add_argument(
        "--quick", action="store_true", help="1 epoch per run: a plumbing test, not a result"
    )
    p.add_argument("--measure", action="store_true", help="measure per-family step costs")
    p.add_argument(
        "--import", dest="import_dir", metavar="DIR", help="merge a pack into the weights"
    )
    p.add_argument(
        "--keep-replaced",
        metavar="FOLDER",
        help="with --import or --release: first copy every entry that runs of another "
        "budget replace into this weights folder (e.g. mtl_tutorial/weights/cpu-budget)",
    )
    p.add_argument(
        "--complete-only",
        action="store_true",
        help="with --import: import only the experiments whose every planned seed finished "
        "(and whose shipped seed's weights are in the pack); list the others as held back",
    )
    p.add_argument(
        "--resume-dir",
        metavar="FOLDER",
        help="with --import --complete-only: write the packed saved states of the GAN runs "
        "held back to FOLDER/<experiment>/seed<S>_full.pt, for the next call's --out/runs",
    )
    p.add_argument(
        "--release",
        metavar="FOLDER",
        help="copy every entry of FOLDER, a weights folder the pieces of a long plan were "
        "imported into, into the weights, once it holds every selected experiment and seed "
        "under the gpu budget on the --resume device kind (default cuda)",
    )
    p.set_defaults(func=_cmd_reproduce)
    return p
