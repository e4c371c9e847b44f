"""Resume a GAN run from its last saved epoch instead of starting it again.

After every epoch a GAN run writes ``seed<S>_full.pt`` (G, D and the EMA generator); with
:func:`training_state` it also holds what the next epoch needs besides the weights: both
Adam states, the EMA's update count, the batch order's and torch's random generators
and the wall time so far. :func:`restore` puts all of it back, so that a run stopped after
epoch k and resumed ends exactly where an uninterrupted run ends on the CPU (on a GPU a
few kernels add in a varying order, so there two runs of one seed agree only closely).
``python -m mtl_tutorial train NAME --resume`` uses it; so can a longer cap: a run that
stopped at its budget goes on to the new one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..checkpoint import read_checkpoint
from ..errors import CheckpointError
from ..loaders import BatchLoader
from ..models.mtcgan import GAN
from ..trainer import Trainer

__all__ = ["full_checkpoint", "restore", "training_state"]


def full_checkpoint(out_dir: str | Path, name: str, seed: int) -> Path:
    """Where a GAN run of ``name`` with ``seed`` under ``out_dir`` saves its last epoch."""
    return Path(out_dir) / name / f"seed{seed}_full.pt"


def training_state(
    trainer: Trainer, loader: BatchLoader, gan: GAN, wall_s: float
) -> dict[str, Any]:
    """Everything a GAN run needs to go on after this epoch, besides its weights and history."""
    device = torch.device(trainer.device)
    state: dict[str, Any] = {
        "optimizers": {k: opt.state_dict() for k, opt in trainer.optimizers.items()},
        "ema_updates": gan.ema.num_updates,
        "loader_rng": loader.generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "wall_time_s": wall_s,
        "device_kind": device.type,
    }
    if device.type == "cuda":
        state["cuda_rng"] = torch.cuda.get_rng_state(device)
    return state


def restore(
    path: Path, expected: dict[str, Any], gan: GAN, trainer: Trainer, loader: BatchLoader
) -> float:
    """Load the run saved in ``path`` into ``gan``, ``trainer`` and ``loader``; return the
    wall time it had already taken.

    ``expected`` holds the ``experiment``, ``seed``, ``quick`` and ``config`` the resumed
    run will have; a saved run that differs in any of them (other than the epoch cap) is
    refused with a :class:`CheckpointError` that names the file and the difference.
    """
    payload = read_checkpoint(path)
    meta, state = payload["meta"], payload.get("training_state")
    fix = f"delete {path} to train from scratch, or train without --resume"
    if state is None:
        raise CheckpointError(f"{path} holds no training state (an older run); {fix}")

    def identity(run: dict[str, Any]) -> dict[str, Any]:
        """What must agree; the cap (``epochs``) may change: a run can go on to a longer budget."""
        config = {k: v for k, v in run.get("config", {}).items() if k not in ("epochs", "stopped")}
        return {
            "experiment": run.get("experiment"),
            "seed": run.get("seed"),
            "quick": run.get("quick"),
            "config": config,
        }

    have, want = identity(meta), identity(expected)
    for key, value in want.items():
        if have[key] != value:
            raise CheckpointError(
                f"cannot resume from {path}: its {key} is {have[key]!r}, this run's is {value!r}; {fix}"
            )
    device = torch.device(trainer.device)
    saved_on = state.get("device_kind", device.type)
    if saved_on != device.type:  # an entry never mixes kinds of device: nor does a run
        raise CheckpointError(
            f"cannot resume from {path}: it was trained on {saved_on}, this run is on "
            f"{device.type}; {fix}"
        )
    gan.load_state_dict(payload["state_dict"])
    for name, opt in trainer.optimizers.items():
        opt.load_state_dict(state["optimizers"][name])
    gan.ema.num_updates = state["ema_updates"]
    loader.generator.set_state(state["loader_rng"])
    torch.set_rng_state(state["torch_rng"])
    if "cuda_rng" in state and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda_rng"], device)
    trainer.history = list(meta["history"])
    return float(state["wall_time_s"])
