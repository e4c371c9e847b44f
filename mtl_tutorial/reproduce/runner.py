"""Run a plan: independent jobs in parallel processes, dependencies first, packing as they finish.

Layout under ``out``: ``runs/`` (every run's checkpoint, GAN side files), ``weights/`` (the
staging weights folder: a copy of the shipped manifest without the planned experiments,
plus the weight files of the dependencies that are not retrained), ``logs/`` (one log per
job) and, unless ``pack_dir`` says otherwise, ``pack/``.

With a time limit, a job starts only if it is expected to finish in the time left: its
estimate, under the jobs sharing the device, scaled by how long the runs finished so far
took against their estimates (:func:`expected_s`). What does not start is listed as not
started, for a later ``--resume``; what still runs at the limit is stopped. Under
``--resume`` with a carry budget (``RunOptions.carry_bytes``) a GAN run may start even if
it cannot finish, and the saved states of the unfinished GAN experiments' runs are packed
for the next call (:mod:`.carry`).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .. import experiments, pretrained
from ..checkpoint import read_checkpoint
from ..utils import describe_device, progress
from . import carry
from .pack import Packer, PackLimits
from .plan import GPU_PARALLEL_EFFICIENCY, Job, priority_order

__all__ = [
    "RunOptions",
    "admit",
    "default_jobs",
    "epochs_ahead",
    "expected_s",
    "prepare_staging",
    "run_plan",
]


@dataclass
class RunOptions:
    """How to run a plan."""

    out: Path
    device: str = "cpu"
    budget: str = "cpu"
    jobs: int = 1
    epochs: int | None = None  # overrides every experiment's budget (``--quick``: 1)
    quick: bool = False
    ship_seed: int = 0
    pack_dir: Path | None = None
    limits: PackLimits = field(default_factory=PackLimits)
    time_limit_s: float | None = None
    resume_runs: bool = False  # resumable runs (the GANs) go on from their last epoch in out/runs
    carry_bytes: int = 0  # under resume_runs: saved states packed for the next call (.carry)


def default_jobs(device: str) -> int:
    """All CPU cores: one single-threaded process each (on a GPU they share the device)."""
    return max(1, os.cpu_count() or 1)


def prepare_staging(plan: list[Job], staging: Path) -> None:
    """Fill ``staging`` with the shipped manifest minus the planned experiments, and the
    weight files of the unplanned dependencies (their results are read, not retrained).

    The dependencies come from the registry: a job's own ``requires`` lists only the planned
    ones (its scheduling edges), so ``--only cgan`` would otherwise stage no judge."""
    planned = {j.experiment for j in plan}
    entries = pretrained.entries()
    kept = {
        k: v for k, v in entries.items() if k not in planned and v.get("alias_of") not in planned
    }
    staging.mkdir(parents=True, exist_ok=True)
    needed = {r for j in planned for r in experiments.get(j).requires} - planned
    for name in sorted(needed):
        entry = kept.get(name, {})
        source = pretrained.weights_dir() / entry.get("file", "-")
        if source.is_file():
            shutil.copyfile(source, staging / source.name)
    with pretrained.manifest_lock(staging):
        pretrained.write_entries(kept, staging)


def _warm_data(plan: list[Job]) -> None:
    """Build the data caches once, before parallel jobs would race to write them."""
    families = {j.family for j in plan}
    if families & {"multimnist"}:
        from ..data import MultiMNIST

        MultiMNIST("train"), MultiMNIST("test")
    if "genseg" in families:
        from ..data import MultiMNISTSeg

        MultiMNISTSeg("train"), MultiMNISTSeg("test")
    if families & {"mnist", "gan"}:
        from ..data import MNISTDigits

        MNISTDigits("train"), MNISTDigits("test")


def run_epochs(job: Job, options: RunOptions) -> int:
    """The epochs ``job`` trains in this plan: its budget's, or ``options.epochs``
    (``--quick``: 1) raised to the fewest the experiment can run (4 for a staged schedule)."""
    if options.epochs is None:
        return job.epochs.get(options.budget) or 1
    return max(options.epochs, experiments.get(job.experiment).min_epochs)


def epochs_ahead(job: Job, options: RunOptions, done: int = 0, to_cap: bool = False) -> int:
    """The epochs ``job`` is expected to train in this plan after the ``done`` epochs of a
    saved state: up to the epochs its estimate counts (a stopping rule usually ends a GAN
    before its cap), at least one while the cap is not reached; ``to_cap``: up to the cap."""
    epochs = run_epochs(job, options)
    expected = epochs if to_cap else min(epochs, job.estimate_s.get("epochs") or epochs)
    return expected - done if done < expected else max(0, min(1, epochs - done))


def expected_s(
    job: Job,
    options: RunOptions,
    finished: Sequence[tuple[float, float]] = (),
    done: int = 0,
    to_cap: bool = False,
) -> float:
    """Seconds ``job`` should take in this plan: its estimate for the device (slowed by
    the jobs sharing a GPU), its fixed part (start-up, final evaluation) plus its epochs'
    part for the epochs it has ahead (:func:`epochs_ahead`: fewer with ``options.epochs``
    or the ``done`` epochs of a saved state it resumes), times the median ratio of
    measured to expected seconds over the runs ``finished`` so far (from three on).

    ``finished``: ``(expected, measured)`` seconds of the finished runs."""
    kind = torch.device(options.device).type
    estimate = job.estimate_s.get(kind, job.estimate_s.get("cpu", 0.0))
    fixed = min(estimate, job.estimate_s.get(f"fixed_{kind}", 0.0))
    counted = job.estimate_s.get("epochs") or job.epochs.get(options.budget) or 1
    estimate = fixed + (estimate - fixed) * epochs_ahead(job, options, done, to_cap) / counted
    if kind == "cuda" and options.jobs > 1:
        estimate /= GPU_PARALLEL_EFFICIENCY
    ratios = [m / e for e, m in finished if e > 0]
    return estimate * (statistics.median(ratios) if len(ratios) >= 3 else 1.0)


def _reserved(launched: dict[str, Job], carrying: set[str], extra: Job | None = None) -> int:
    """Carry budget taken by the launched runs of the ``carrying`` experiments (and by
    ``extra``'s experiment's, ``extra`` included)."""
    names = carrying | ({extra.experiment} if extra else set())
    runs = [j for j in launched.values() if j.experiment in names]
    runs += [extra] if extra is not None else []
    return sum(carry.state_bytes(j.experiment) for j in runs)


def admit(
    job: Job,
    options: RunOptions,
    left: float,
    done_epochs: int = 0,
    finished: Sequence[tuple[float, float]] = (),
    launched: dict[str, Job] | None = None,
    carrying: set[str] | None = None,
) -> str | None:
    """The fit rule: why ``job`` (with ``done_epochs`` saved) may not start with ``left``
    seconds of the time limit left, or None if it may, in which case it is recorded in
    ``launched`` (a resumable job) and its experiment in ``carrying`` (expected to outlast
    the limit under a carry budget). ``finished``: as for :func:`expected_s`.

    A job must be expected to finish in the time left; a resumable run (a GAN) may go on
    to its cap, so that is judged by the time to its cap. Under a carry budget a resumable
    run may start although it may not finish, if :func:`carry.refuse_unfinished` allows."""
    launched = {} if launched is None else launched
    carrying = set() if carrying is None else carrying
    resumable = experiments.get(job.experiment).resumable
    longest = expected_s(job, options, finished, done_epochs, to_cap=resumable)
    if not (options.carry_bytes and options.resume_runs and resumable):
        if longest > left:
            return f"not started: expected {longest:.0f} s, {left:.0f} s left"
    elif longest > left or job.experiment in carrying:  # its state may travel
        expect = expected_s(job, options, finished, done_epochs)
        ahead = epochs_ahead(job, options, done_epochs)
        taken = _reserved(launched, carrying)
        need = _reserved(launched, carrying, job) - taken
        why = carry.refuse_unfinished(expect, left, ahead, need, options.carry_bytes - taken)
        if why:
            return why
        carrying.add(job.experiment)
    if resumable:
        launched[job.key] = job
    return None


def _tail(path: Path, lines: int = 3) -> str:
    text = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
    return " | ".join(text[-lines:]) or "(no output)"


def run_plan(plan: list[Job], options: RunOptions) -> dict[str, Any]:
    """Run every job of ``plan``; returns ``{"finished", "failed", "carried", "pack",
    "wall_s"}`` (``carried``: the saved states packed for the next call)."""
    out = Path(options.out)
    staging, logs = out / "weights", out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    prepare_staging(plan, staging)
    _warm_data(plan)
    device = torch.device(options.device)
    jobs = max(1, options.jobs)
    threads = 1 if device.type == "cuda" else max(1, (os.cpu_count() or 1) // jobs)
    info = {
        "budget": options.budget,
        "device": describe_device(device),
        "jobs": jobs,
        "threads_per_job": threads,
        "torch_version": torch.__version__.split("+")[0],
        "quick": options.quick,
        "ship_seed": options.ship_seed,
        "planned": [j.key for j in plan],
    }
    packer = Packer(options.pack_dir or out / "pack", options.limits, info)
    env = {**os.environ, pretrained.WEIGHTS_ENV_VAR: str(staging.resolve())}
    env.update(OMP_NUM_THREADS=str(threads), MTL_TUTORIAL_PROGRESS="0")
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH", "")]
    ).rstrip(os.pathsep)
    by_exp: dict[str, list[Job]] = {}
    for j in plan:
        by_exp.setdefault(j.experiment, []).append(j)
    pending = priority_order(plan)
    running: dict[str, tuple[subprocess.Popen, Job, Path, Path]] = {}
    started: dict[str, tuple[float, float]] = {}  # job -> (start time, expected seconds)
    timings: list[tuple[float, float]] = []  # (expected, measured) of the finished runs
    carry_on = bool(options.carry_bytes and options.resume_runs)
    launched: dict[str, Job] = {}  # the resumable jobs started in this call
    carrying: set[str] = set()  # experiments with a run expected to outlast the limit
    done: set[str] = set()
    failed: dict[str, str] = {}
    crashed: set[str] = set()  # the jobs whose process failed (not stopped, not skipped)
    start = time.perf_counter()
    bar = progress(range(len(plan)), desc="reproduce", total=len(plan))

    def finish(job: Job, reason: str | None) -> None:
        if reason is None:
            done.add(job.key)
        else:
            failed[job.key] = reason
            packer.fail(job.experiment, job.seed, reason)
        next(bar, None)

    while pending or running:
        now = time.perf_counter()
        left = (
            float("inf") if options.time_limit_s is None else options.time_limit_s - (now - start)
        )
        over = left < 0
        for job in list(pending):
            deps = [d.key for r in job.requires for d in by_exp.get(r, [])]
            bad = [d for d in deps if d in failed]
            if bad or over:
                pending.remove(job)
                finish(job, "time limit reached" if over else f"skipped: {bad[0]} failed")
            elif len(running) < jobs and all(d in done for d in deps):
                pending.remove(job)
                saved = carry.saved_state(out, job) if options.resume_runs else None
                done_epochs = carry.saved_epochs(saved, run_epochs(job, options))
                expect = expected_s(job, options, timings, done_epochs)
                why = admit(job, options, left, done_epochs, timings, launched, carrying)
                if why:
                    finish(job, why)
                    continue
                running[job.key] = _launch(job, options, out, logs, threads, env)
                started[job.key] = (time.perf_counter(), expect)
        if over:
            for proc, job, _, _ in running.values():
                proc.terminate()
                proc.wait()
                finish(job, "time limit reached")
            running.clear()
            break
        time.sleep(0.2)
        for key, (proc, job, result, log) in list(running.items()):
            if proc.poll() is None:
                continue
            del running[key]
            began, expect = started.pop(key)
            if proc.returncode != 0 or not result.exists():
                crashed.add(job.key)
                finish(job, f"exit {proc.returncode}: {_tail(log)}")
                continue
            timings.append((expect, time.perf_counter() - began))
            checkpoint = Path(json.loads(result.read_text())["checkpoint"])
            meta = read_checkpoint(checkpoint)["meta"]
            packer.add(meta, checkpoint if job.seed == options.ship_seed else None)
            finish(job, None)
    carried: list[str] = []
    if carry_on:
        reserved_keys = {k for k, j in launched.items() if j.experiment in carrying}
        carried = _carry_saved(plan, reserved_keys, crashed, done, out, packer, options)
    return {
        "finished": sorted(done),
        "failed": failed,
        "carried": carried,
        "pack": str(packer.folder),
        "wall_s": round(time.perf_counter() - start, 1),
    }


def _carry_saved(
    plan: list[Job],
    reserved: set[str],
    crashed: set[str],
    done: set[str],
    out: Path,
    packer: Packer,
    options: RunOptions,
) -> list[str]:
    """Pack the saved states of the experiments that did not finish whole (started here
    or carried in), the runs that had room reserved first, then the most advanced, up to
    the carry budget; a run that failed is not carried. Returns the keys packed."""
    unfinished = {j.experiment for j in plan if j.key not in done}
    found = {}
    for job in plan:
        path = carry.saved_state(out, job)
        if job.experiment not in unfinished or path is None:
            continue
        if job.key in crashed:
            packer.drop(job.experiment, job.seed, "its run failed (see its log): not carried")
            continue
        found[job.key] = (job, path, carry.saved_epochs(path, run_epochs(job, options)))
    chosen, left = carry.choose(
        [(k, p.stat().st_size, e, k in reserved) for k, (_, p, e) in found.items()],
        options.carry_bytes,
    )
    packed = [
        k for k in chosen if packer.carry(found[k][0].experiment, found[k][0].seed, *found[k][1:])
    ]
    for key in left:
        job = found[key][0]
        packer.drop(job.experiment, job.seed, "no room in the carry budget: starts again")
    return packed


def _launch(
    job: Job, options: RunOptions, out: Path, logs: Path, threads: int, env: dict[str, str]
) -> tuple[subprocess.Popen, Job, Path, Path]:
    stem = f"{job.experiment}-seed{job.seed}"
    log, result = logs / f"{stem}.log", logs / f"{stem}.json"
    result.unlink(missing_ok=True)
    command = [
        sys.executable,
        "-m",
        "mtl_tutorial.reproduce.worker",
        job.experiment,
        str(job.seed),
        f"--device={options.device}",
        f"--budget={options.budget}",
        f"--threads={threads}",
        f"--out={out / 'runs'}",
        f"--result={result}",
    ]
    if options.epochs is not None:
        command.append(f"--epochs={run_epochs(job, options)}")
    if job.seed == options.ship_seed:
        command.append("--ship")
    if options.resume_runs and experiments.get(job.experiment).resumable:
        command.append("--resume")
    with open(log, "w") as handle:
        proc = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env)
    return proc, job, result, log
