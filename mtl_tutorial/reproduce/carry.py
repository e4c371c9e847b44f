"""Carry the GAN runs that a device call's time limit stopped on to the next call.

A GAN run saves its whole training state after every epoch (``seed<S>_full.pt``: the
weights, both Adam states, the random generators; :mod:`..experiments.resume`), and a
resumed run goes on from it. A device machine does not outlive its call, so the file has
to travel:

1. With ``RunOptions.carry_bytes`` (``reproduce --carry-mib N``), the runner packs, when the
   plan ends, the saved state of every resumable run of an experiment that did not finish
   whole in this call: the runs the limit stopped, their finished seeds (which
   ``--import --complete-only`` holds back) and states carried in but not run again. The
   runs that had room reserved go first, then the most advanced, up to N MiB
   (:func:`choose`); a run that failed is not carried.
2. ``reproduce --import DIR --resume-dir FOLDER`` checks each one's sha256 and writes it to
   ``FOLDER/<experiment>/seed<S>_full.pt`` (:func:`write_saved_states`). For every
   experiment the pack planned, these replace what FOLDER held, so FOLDER never holds more
   than one call's carry budget.
3. The device script copies FOLDER into the next call's ``--out``/runs, where
   ``reproduce --resume`` finds it: a finished run is only evaluated again, a stopped one
   trains its remaining epochs.

With a carry budget the fit rule may start a resumable job that cannot finish in the
time left, if two of its epochs fit and its saved state (:func:`state_bytes`) has room
(:func:`refuse_unfinished`).
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Iterable
from pathlib import Path

from .. import experiments
from ..checkpoint import read_checkpoint
from ..errors import CheckpointError
from ..experiments.resume import full_checkpoint
from ..files import atomic_write_bytes
from ..provenance import run_budget, run_cap, run_device_kind
from .plan import Job

__all__ = [
    "STATE_OVERHEAD",
    "choose",
    "final_bytes",
    "final_checkpoint",
    "finished_run",
    "refuse_unfinished",
    "saved_epochs",
    "saved_state",
    "state_bytes",
    "write_saved_states",
]

#: a saved state's bytes besides the tensors counted by :func:`state_bytes` (the pickle,
#: the history, the RNG states): about 40 KiB measured, kept with room to spare
STATE_OVERHEAD = 256 << 10


@functools.cache
def state_bytes(name: str) -> int:
    """About what a run of the GAN ``name`` saves after an epoch, from above: 4 bytes for
    each weight (G, D, the EMA generator) and for each of the two Adam moments of every
    trained parameter, plus :data:`STATE_OVERHEAD` (5.2 MiB for ``cgan``)."""
    from ..experiments.ch5_mtcgan import VARIANTS
    from ..models.mtcgan import GAN

    gan = GAN(VARIANTS[name][1])
    weights = sum(t.numel() for t in gan.state_dict().values())
    optimizers = gan.configure_optimizers(1e-3).values()
    trained = sum(p.numel() for opt in optimizers for g in opt.param_groups for p in g["params"])
    return 4 * (weights + 2 * trained) + STATE_OVERHEAD


@functools.cache
def final_bytes(name: str) -> int:
    """About what a finished run of the GAN ``name`` saves, from above: 4 bytes for each
    weight of the EMA generator (what ships), plus :data:`STATE_OVERHEAD` (1.3 MiB for
    ``cgan``, a quarter of :func:`state_bytes`)."""
    from ..experiments.ch5_mtcgan import VARIANTS
    from ..models.mtcgan import GAN

    weights = GAN(VARIANTS[name][1]).generator_ema.state_dict().values()
    return 4 * sum(t.numel() for t in weights) + STATE_OVERHEAD


def saved_state(out: Path, job: Job) -> Path | None:
    """The saved state under the plan folder ``out`` that ``job`` would resume from, if any."""
    if not experiments.get(job.experiment).resumable:
        return None
    path = full_checkpoint(Path(out) / "runs", job.experiment, job.seed)
    return path if path.is_file() else None


def final_checkpoint(folder: Path, name: str, seed: int) -> Path:
    """Where a finished run's final checkpoint, carried to the next call, is kept: a name
    of its own (``seed<S>_final.pt``), so a worker's output (``seed<S>.pt``) left in a
    plan folder is never taken for one."""
    return Path(folder) / name / f"seed{seed}_final.pt"


def finished_run(out: Path, job: Job, budget: str, kind: str, cap: int, quick: bool) -> Path | None:
    """The final checkpoint of ``job``'s run that an earlier call finished and carried in
    (:func:`final_checkpoint` under ``out/runs``), if it is a resumable experiment's and
    its meta says it is that run: same seed, trained and evaluated under ``budget`` on a
    device of ``kind`` to the cap ``cap``, ``--quick`` or not as ``quick``; else None."""
    if not experiments.get(job.experiment).resumable:
        return None
    path = final_checkpoint(Path(out) / "runs", job.experiment, job.seed)
    try:
        meta = read_checkpoint(path)["meta"] if path.is_file() else None
    except (CheckpointError, OSError):
        return None
    if meta is None or not meta.get("metrics") or not meta.get("epochs"):
        return None
    same = (meta.get("experiment"), meta.get("seed"), bool(meta.get("quick")))
    if same != (job.experiment, job.seed, quick) or run_budget(meta) != budget:
        return None
    return path if run_device_kind(meta) == kind and run_cap(meta) == cap else None


def saved_epochs(path: Path | None, cap: int = 0) -> int:
    """The epochs the saved state ``path`` has trained (0 for none or an unreadable file,
    which the resumed run itself then reports); ``cap`` at least, if the plateau rule has
    already ended the run, which then only needs evaluating."""
    from ..experiments.ch5_mtcgan import stopped_on_plateau

    if path is None:
        return 0
    try:
        history = read_checkpoint(path)["meta"].get("history", [])
    except (CheckpointError, OSError, KeyError):
        return 0
    return max(len(history), cap) if stopped_on_plateau(history) else len(history)


def refuse_unfinished(
    expect_s: float, left_s: float, epochs_left: int, state_bytes: int, free_bytes: int
) -> str | None:
    """Why a resumable job expected to need ``expect_s`` seconds for its ``epochs_left``
    epochs may not start with ``left_s`` seconds left and ``free_bytes`` of carry budget;
    None if it may: two epochs' time fits (one to save, one for start-up and the last
    write) and so do the ``state_bytes`` it needs to travel. ``epochs_left`` 0: a job
    expected to finish, whose final checkpoint travels: only the room is checked."""
    epoch_s = expect_s / max(1, epochs_left)
    if epochs_left and 2 * epoch_s > left_s:
        return f"not started: expected {expect_s:.0f} s, {left_s:.0f} s left, not two epochs"
    if state_bytes > free_bytes:
        return (
            f"not started: expected {expect_s:.0f} s, {left_s:.0f} s left, and no room to "
            f"carry its saved state ({state_bytes >> 20} MiB, {free_bytes >> 20} MiB free)"
        )
    return None


def choose(
    candidates: Iterable[tuple[str, int, int, int]], budget: int
) -> tuple[list[str], list[str]]:
    """Which saved states and final checkpoints to carry: ``candidates`` are ``(job key,
    bytes, epochs, rank)``, rank 0 for a run whose room was reserved (and that fits it),
    1 for a finished run, 2 for the rest. By rank, then the most advanced, while they fit
    ``budget`` bytes. Returns (carried, left) keys."""
    carried, left, used = [], [], 0
    for key, size, _, _ in sorted(candidates, key=lambda c: (c[3], -c[2], c[1], c[0])):
        if used + size <= budget:
            carried.append(key)
            used += size
        else:
            left.append(key)
    return carried, left


def write_saved_states(
    rows: list[dict],
    data: dict[tuple[str, int], bytes],
    folder: Path,
    replaced: set[str],
    imported: set[str],
) -> list[str]:
    """Write the verified saved states ``data`` of the index's resume ``rows`` into
    ``folder/<experiment>/``, after removing what it held for the ``replaced`` experiments
    (the pack's planned ones) and the ``imported`` ones (whole now, so their rows are
    skipped). Returns ``experiment/seedS (N epochs)`` per file written."""
    folder = Path(folder)
    for name in sorted(replaced | imported):
        shutil.rmtree(folder / name, ignore_errors=True)
    written = []
    for row in sorted(rows, key=lambda r: (r["experiment"], r["seed"])):
        name, seed = row["experiment"], row["seed"]
        if name in imported:
            continue
        if row.get("finished"):  # its final checkpoint: the next call only packs it
            path = final_checkpoint(folder, name, seed)
        else:
            path = full_checkpoint(folder, name, seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data[(name, seed)])
        done = ", finished" if row.get("finished") else ""
        written.append(f"{name}/seed{seed} ({row['epochs']} epochs{done})")
    return written
