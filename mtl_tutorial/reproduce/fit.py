"""The fit rule: what a job of a plan is expected to take, and whether it may start.

With a time limit (a device call), a job starts only if it is expected to finish in the
time left: its estimate under the jobs sharing the device, scaled by how long the runs
finished so far took against their estimates (:func:`expected_s`). A resumable run (a
GAN) may go on to its cap, so that is what is judged; under a carry budget it may start
although it may not finish, if its saved state can travel to the next call (:func:`admit`).
The runner applies the rule; :mod:`.calls` replays it to count the device calls.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

import torch

from .. import experiments
from . import carry
from .options import RunOptions
from .plan import GPU_PARALLEL_EFFICIENCY, Job

__all__ = ["admit", "epochs_ahead", "expected_s", "run_epochs"]


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


def _reserved(launched: dict[str, tuple[Job, int]], carrying: set[str]) -> int:
    """Carry budget taken by the launched runs of the ``carrying`` experiments:
    ``launched`` maps a job's key to the job and the bytes it would travel as."""
    return sum(size for job, size in launched.values() if job.experiment in carrying)


def admit(
    job: Job,
    options: RunOptions,
    left: float,
    done_epochs: int = 0,
    finished: Sequence[tuple[float, float]] = (),
    launched: dict[str, tuple[Job, int]] | None = None,
    carrying: set[str] | None = None,
) -> str | None:
    """The fit rule: why ``job`` (with ``done_epochs`` saved) may not start with ``left``
    seconds of the time limit left, or None if it may. ``finished``: as for
    :func:`expected_s`. An admitted resumable job is recorded in ``launched`` with the
    bytes it would travel as; ``carrying`` collects the experiments that will not finish
    whole in this call, whose runs all travel to the next.

    Without a carry budget a job must be expected to finish in the time left, and a
    resumable run (a GAN) may go on to its cap, so that is the time judged. With one
    (``--carry-mib``), a GAN run expected to outlast the limit may start if two of its
    epochs fit and its saved state has room (:func:`carry.refuse_unfinished`); its
    experiment's other runs then need room too, each for its final checkpoint
    (:func:`carry.final_bytes`) or, if expected to outlast the limit as well, its saved
    state. A GAN run expected to finish reserves nothing: if it goes on past its
    expected epochs and the limit stops it, it is carried only if room is left at the end
    (:func:`carry.choose`), else it starts again in the next call."""
    launched = {} if launched is None else launched
    carrying = set() if carrying is None else carrying
    resumable = experiments.get(job.experiment).resumable
    if not (options.carry_bytes and options.resume_runs and resumable):
        longest = expected_s(job, options, finished, done_epochs, to_cap=resumable)
        if longest > left:
            return f"not started: expected {longest:.0f} s, {left:.0f} s left"
        return None
    expect = expected_s(job, options, finished, done_epochs)
    outlasts = expect > left
    size = (carry.state_bytes if outlasts else carry.final_bytes)(job.experiment)
    if outlasts or job.experiment in carrying:  # it travels, and so do its siblings
        taken = _reserved(launched, carrying)
        need = _reserved({**launched, job.key: (job, size)}, carrying | {job.experiment}) - taken
        free = options.carry_bytes - taken
        # an outlasting run needs the time of two of its epochs (twice its time if at
        # most one is left)
        ahead = max(1, epochs_ahead(job, options, done_epochs)) if outlasts else 0
        why = carry.refuse_unfinished(expect, left, ahead, need, free)
        if why:
            return why
        carrying.add(job.experiment)
    launched[job.key] = (job, size)
    return None
