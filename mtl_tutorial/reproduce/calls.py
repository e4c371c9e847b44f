"""How many device calls a plan takes: the runner's rules replayed on its estimates.

One device call trains for :data:`~.plan.GPU_CALL_S` seconds; the plan is then run in
pieces (``reproduce --resume``, one call per session). Dividing the plan's wall time by
that length undercounts: a job starts only if the fit rule admits it
(:func:`.fit.admit`), a GAN run that the limit stops goes on in the next call only if
its saved state fits the carry budget and, with the seed-0 weights of the runs that
finished, the call's pack (:data:`PACK_BYTES`), and ``--import --complete-only`` keeps only
the experiments whose every seed finished. :func:`simulate_calls` replays all three, call
after call, taking every estimate as exact, until the plan is done or a call makes no
progress.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field, replace
from pathlib import Path

from .. import experiments, pretrained
from . import carry
from .fit import admit, epochs_ahead, expected_s, run_epochs
from .options import RunOptions
from .plan import Job, priority_order

__all__ = ["Call", "scaled", "simulate_calls"]


@dataclass
class Call:
    """What one simulated device call does."""

    finished: list[str] = field(default_factory=list)  # job keys that finished
    imported: list[str] = field(default_factory=list)  # experiments whose every seed did
    carried: dict[str, int] = field(default_factory=dict)  # job key -> epochs saved
    dropped: list[str] = field(default_factory=list)  # saved states with no room: restart
    not_started: list[str] = field(default_factory=list)  # refused by the fit rule

    def summary(self, index: int) -> str:
        carried = f", {len(self.carried)} GAN run(s) carried" if self.carried else ""
        dropped = f", {len(self.dropped)} saved state(s) dropped" if self.dropped else ""
        return (
            f"call {index}: {len(self.finished)} runs finish, "
            f"{len(self.imported)} experiments imported whole{carried}{dropped}"
        )


#: what the packs of one call may hold (``tools/gpu_reproduce.sh``: ``--max-total-mib 60``)
PACK_BYTES = 60 << 20


def _shipped_bytes(job: Job) -> int:
    """About what the pack takes for ``job``'s shipped weights: a GAN's final checkpoint,
    else the size of the package's weight file of the experiment (0 if it has none)."""
    if experiments.get(job.experiment).resumable:
        return carry.final_bytes(job.experiment)
    entry = pretrained.manifest(pretrained.WEIGHTS_DIR).get(job.experiment, {})
    path = pretrained.WEIGHTS_DIR / entry.get("file", "-")
    return path.stat().st_size if path.is_file() else 0


def _one_call(
    plan: list[Job], saved: dict[str, int], options: RunOptions, call_s: float
) -> tuple[Call, dict[str, int]]:
    """Replay one call of ``plan`` (the jobs of the experiments not yet imported), starting
    from the ``saved`` epochs of carried GAN runs (at the cap: a finished run's final
    checkpoint); returns the call and the next call's ``saved``."""
    by_exp: dict[str, list[Job]] = {}
    for j in plan:
        by_exp.setdefault(j.experiment, []).append(j)
    pending = priority_order(plan)
    call = Call()
    done: set[str] = set()
    failed: set[str] = set()
    launched: dict[str, tuple[Job, int]] = {}
    carrying: set[str] = set()
    running: list[tuple[float, str]] = []  # (end, key), a heap
    began: dict[str, tuple[float, int]] = {}  # key -> (start, epochs saved at start)
    now = 0.0
    while True:
        for job in list(pending):
            deps = [d.key for r in job.requires for d in by_exp.get(r, [])]
            if any(d in failed for d in deps):
                pending.remove(job)
                failed.add(job.key)
            elif not all(d in done for d in deps):
                continue
            elif not job.requires and saved.get(job.key, 0) >= run_epochs(job, options):
                pending.remove(job)  # finished in an earlier call: packed, no worker
                launched[job.key] = (job, carry.final_bytes(job.experiment))
                done.add(job.key)
                call.finished.append(job.key)
            elif len(running) < options.jobs:
                pending.remove(job)
                start_epochs = saved.get(job.key, 0)
                if start_epochs >= run_epochs(job, options):  # scored by retrained judges
                    start_epochs = 0
                if admit(job, options, call_s - now, start_epochs, (), launched, carrying):
                    failed.add(job.key)
                    call.not_started.append(job.key)
                    continue
                length = expected_s(job, options, (), start_epochs)
                heapq.heappush(running, (now + length, job.key))
                began[job.key] = (now, start_epochs)
        if not running or running[0][0] > call_s:
            break
        now, key = heapq.heappop(running)
        done.add(key)
        call.finished.append(key)
    jobs = {j.key: j for j in plan}
    progress: dict[str, int] = {}  # the epochs each GAN run has saved at the end
    for key in done:
        if experiments.get(jobs[key].experiment).resumable:  # ended by its rule: evaluate
            progress[key] = run_epochs(jobs[key], options)
    for _, key in running:  # stopped by the limit: its last finished epoch is saved
        job, (start, before) = jobs[key], began[key]
        if not experiments.get(job.experiment).resumable:
            continue
        ahead = epochs_ahead(job, options, before)
        fixed = expected_s(job, options, (), run_epochs(job, options))  # the fixed part
        epoch_s = (expected_s(job, options, (), before) - fixed) / max(1, ahead)
        trained = int((call_s - start - fixed / 2) // epoch_s) if epoch_s > 0 else 0
        progress[key] = before + max(0, trained)
    for key, epochs in saved.items():  # carried in, not run again
        progress.setdefault(key, epochs)
    call.imported = sorted(
        name for name, runs in by_exp.items() if all(j.key in done for j in runs)
    )
    reserved = {k: b for k, (j, b) in launched.items() if j.experiment in carrying}
    candidates = []  # ranked as the runner ranks them (runner._carry_saved)
    for key, epochs in progress.items():
        name = jobs[key].experiment
        if name in call.imported or epochs <= 0:
            continue
        size = (carry.final_bytes if key in done else carry.state_bytes)(name)
        rank = 0 if size <= reserved.get(key, -1) else 1 if key in done else 2
        candidates.append((key, size, epochs, rank))
    shipped = sum(_shipped_bytes(jobs[k]) for k in done if jobs[k].seed == options.ship_seed)
    room = min(options.carry_bytes, PACK_BYTES - shipped)  # the pack returns both
    chosen, call.dropped = carry.choose(candidates, room)
    call.carried = {k: progress[k] for k in chosen}
    return call, dict(call.carried)


def simulate_calls(
    plan: list[Job],
    jobs: int,
    call_s: float,
    carry_bytes: int,
    max_calls: int = 50,
) -> tuple[list[Call], list[str]]:
    """Replay ``plan`` (gpu budget, on ``cuda`` with ``jobs`` processes) in device calls of
    ``call_s`` seconds of training with ``carry_bytes`` of saved GAN states between calls.

    Returns the calls and the experiments still not imported when a call made no progress
    (or after ``max_calls``): those never fit a call under these rules."""
    options = RunOptions(
        out=Path("."),
        device="cuda",
        budget="gpu",
        jobs=jobs,
        resume_runs=True,
        carry_bytes=carry_bytes,
    )
    left = list(plan)
    saved: dict[str, int] = {}
    calls: list[Call] = []
    seen: set[frozenset] = set()  # the saved states since the last import: a repeat is a loop
    while left and len(calls) < max_calls:
        call, saved = _one_call(left, saved, options, call_s)
        calls.append(call)
        imported = set(call.imported)
        left = [j for j in left if j.experiment not in imported]
        planned = {j.experiment for j in left}  # --resume plans without what was imported
        left = [replace(j, requires=tuple(r for r in j.requires if r in planned)) for j in left]
        state = frozenset(saved.items())
        if imported:
            seen.clear()
        elif state in seen:
            break
        seen.add(state)
    return calls, sorted({j.experiment for j in left})


def scaled(plan: list[Job], factor: float) -> list[Job]:
    """``plan`` with every run's ``cuda`` estimate (fixed part included) times ``factor``:
    what the calls would be if the GPU is that much slower (or faster) than estimated."""

    def times(e: dict) -> dict:
        return {**e, "cuda": e["cuda"] * factor, "fixed_cuda": e.get("fixed_cuda", 0.0) * factor}

    return [replace(j, estimate_s=times(j.estimate_s)) for j in plan]
