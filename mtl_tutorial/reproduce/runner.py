"""Run a plan: independent jobs in parallel processes, dependencies first, packing as they finish.

Layout under ``out``: ``runs/`` (every run's checkpoint, GAN side files), ``weights/`` (the
staging weights folder: a copy of the shipped manifest without the planned experiments,
plus the weight files of the dependencies that are not retrained), ``logs/`` (one log per
job) and, unless ``pack_dir`` says otherwise, ``pack/``.

With a time limit, a job starts only if the fit rule admits it (:mod:`.fit`). What does
not start is listed as not started, for a later ``--resume``; what still runs at the limit
is stopped. Under ``--resume`` with a carry budget (``RunOptions.carry_bytes``) a GAN run
may start even if it cannot finish, and the unfinished GAN experiments' runs are packed
for the next call (:mod:`.carry`): a stopped run's saved state, a finished run's final
checkpoint, which the next call packs as it is instead of running it again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from .. import experiments, pretrained
from ..checkpoint import read_checkpoint
from ..utils import describe_device, progress
from . import carry
from .fit import admit, expected_s, run_epochs
from .options import RunOptions
from .pack import Packer
from .plan import Job, priority_order

__all__ = ["RunOptions", "default_jobs", "prepare_staging", "run_plan"]


def default_jobs(device: str) -> int:
    """All CPU cores: one single-threaded process each (on a GPU they share the device)."""
    return max(1, os.cpu_count() or 1)


def prepare_staging(plan: list[Job], staging: Path) -> None:
    """Fill ``staging`` with the shipped manifest minus the planned experiments (the
    unplanned Δm baselines' recorded metrics are read from it), and the weight files of
    the unplanned judges (``Experiment.reads_weights_of``), which are read, not retrained.

    The judges come from the registry: a job's own ``requires`` lists only the planned
    ones (its scheduling edges), so ``--only cgan`` would otherwise stage no judge."""
    planned = {j.experiment for j in plan}
    entries = pretrained.entries()
    kept = {
        k: v for k, v in entries.items() if k not in planned and v.get("alias_of") not in planned
    }
    staging.mkdir(parents=True, exist_ok=True)
    needed = {r for j in planned for r in experiments.get(j).reads_weights_of} - planned
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
    launched: dict[str, tuple[Job, int]] = {}  # resumable jobs started here, bytes to carry
    carrying: set[str] = set()  # experiments with a run expected to outlast the limit
    done: set[str] = set()
    failed: dict[str, str] = {}
    crashed: set[str] = set()  # the jobs whose process failed (not stopped, not skipped)
    looked: set[str] = set()  # the jobs checked for a finished run carried in
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
            elif not all(d in done for d in deps):
                continue
            elif carry_on and job.key not in looked and not job.requires:
                # finished by an earlier call, scored against the judges still in use:
                # packed as it is, without a worker (with its judges retrained, run again)
                looked.add(job.key)
                if _carried_in(job, options, out, staging, packer):
                    pending.remove(job)
                    launched[job.key] = (job, carry.final_bytes(job.experiment))
                    finish(job, None)
            elif len(running) < jobs:
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
            for proc, _, _, _ in running.values():  # all at once: each exit takes a while
                proc.terminate()
            for proc, job, _, _ in running.values():
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
        reserved = {k: b for k, (j, b) in launched.items() if j.experiment in carrying}
        carried = _carry_saved(plan, reserved, crashed, done, out, packer, options)
    return {
        "finished": sorted(done),
        "failed": failed,
        "carried": carried,
        "pack": str(packer.folder),
        "wall_s": round(time.perf_counter() - start, 1),
    }


def _carry_saved(
    plan: list[Job],
    reserved: dict[str, int],
    crashed: set[str],
    done: set[str],
    out: Path,
    packer: Packer,
    options: RunOptions,
) -> list[str]:
    """Pack, for the GAN experiments that did not finish whole, the final checkpoints of
    their finished runs and the saved states of the others (started here or carried in),
    up to the carry budget: first the runs whose room was ``reserved`` (key -> bytes) if
    they fit it (a run reserved as finishing may have been stopped instead), then the
    finished runs, then the most advanced. A run that failed is not carried. Returns the
    keys packed."""
    unfinished = {j.experiment for j in plan if j.key not in done}
    found = {}
    for job in plan:
        if job.experiment not in unfinished or not experiments.get(job.experiment).resumable:
            continue
        cap = run_epochs(job, options)
        if job.key in done:  # finished: its final checkpoint travels, a quarter of the state
            final = carry.final_checkpoint(out / "runs", job.experiment, job.seed)
            if not final.is_file():  # trained here: the worker's checkpoint
                final = out / "runs" / job.experiment / f"seed{job.seed}.pt"
            found[job.key] = (job, final, cap, True)
            continue
        path = carry.saved_state(out, job)
        if path is None:
            continue
        if job.key in crashed:
            packer.drop(job.experiment, job.seed, "its run failed (see its log): not carried")
            continue
        found[job.key] = (job, path, carry.saved_epochs(path, cap), False)
    ranked = []
    for key, (_, path, epochs, finished) in found.items():
        size = path.stat().st_size
        rank = 0 if size <= reserved.get(key, -1) else 1 if finished else 2
        ranked.append((key, size, epochs, rank))
    chosen, left = carry.choose(ranked, options.carry_bytes)
    packed = [
        k for k in chosen if packer.carry(found[k][0].experiment, found[k][0].seed, *found[k][1:])
    ]
    for key in left:
        job = found[key][0]
        packer.drop(job.experiment, job.seed, "no room in the carry budget: starts again")
    return packed


def _carried_in(job: Job, options: RunOptions, out: Path, staging: Path, packer: Packer) -> bool:
    """If an earlier call finished ``job``'s run and carried its checkpoint in
    (:func:`carry.finished_run`), record it in the staging weights and the pack as a
    worker would have, and say so."""
    kind = torch.device(options.device).type
    path = carry.finished_run(
        out, job, options.budget, kind, run_epochs(job, options), options.quick
    )
    if path is None:
        return False
    ship = job.seed == options.ship_seed
    if ship:
        pretrained.ship(job.experiment, path, staging)
    else:
        pretrained.record_run(job.experiment, path, staging)
    packer.add(read_checkpoint(path)["meta"], path if ship else None)
    return True


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
