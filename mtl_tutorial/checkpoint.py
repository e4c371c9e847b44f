"""Checkpoints: a state dict plus metadata, loaded safely with ``weights_only=True``.

A checkpoint is a plain dict::

    {"format": "mtl_tutorial", "format_version": 1, "model_class": "HardSharingNet",
     "state_dict": {...}, "meta": {...}}

``meta`` holds only JSON-like values (str, int, float, bool, None, lists and dicts of them)
so that it survives the restricted unpickler.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import CheckpointError
from .files import atomic_torch_save, safe_torch_load

__all__ = ["CheckpointError", "load_checkpoint", "read_checkpoint", "save_checkpoint"]

FORMAT = "mtl_tutorial"
FORMAT_VERSION = 1


def save_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    meta: dict[str, Any] | None = None,
    training_state: dict[str, Any] | None = None,
) -> Path:
    """Save ``model``'s weights and JSON-like ``meta`` to ``path`` (parent folders are created).

    ``training_state`` (tensors, numbers, lists and dicts: optimizer states, RNG states)
    is what a resumed run needs beyond the weights; it is stored under its own key."""
    meta = dict(meta or {})
    try:
        json.dumps(meta)
    except TypeError as err:
        raise TypeError(f"checkpoint metadata must be JSON-serialisable: {err}") from err
    path = Path(path)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_class": type(model).__name__,
        "state_dict": state,
        "meta": meta,
    }
    if training_state is not None:
        payload["training_state"] = training_state
    return atomic_torch_save(payload, path)  # unique temporary name, then one rename


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint file with ``weights_only=True`` and check its format."""
    payload = safe_torch_load(
        path,
        CheckpointError,
        "checkpoint",
        "Pass a .pt file written by `python -m mtl_tutorial train` "
        "(mtl_tutorial.checkpoint.save_checkpoint), e.g. runs/NAME/seed0.pt.",
    )
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not an mtl_tutorial checkpoint (no 'format': '{FORMAT}' field); "
            "pass a .pt file written by `python -m mtl_tutorial train`"
        )
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {payload.get('format_version')}, "
            f"this package reads version {FORMAT_VERSION}; retrain or upgrade the package"
        )
    return payload


def _mismatch_report(model: nn.Module, state: dict[str, torch.Tensor]) -> list[str]:
    own = {k: v.shape for k, v in model.state_dict().items()}
    problems = []
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(k for k in set(own) & set(state) if tuple(own[k]) != tuple(state[k].shape))
    if missing:
        problems.append(
            f"missing in checkpoint: {', '.join(missing[:5])}"
            + (" ..." if len(missing) > 5 else "")
        )
    if unexpected:
        problems.append(
            f"not in the model: {', '.join(unexpected[:5])}"
            + (" ..." if len(unexpected) > 5 else "")
        )
    for k in shapes[:5]:
        problems.append(
            f"shape of {k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k])}"
        )
    return problems


def load_checkpoint(path: str | os.PathLike[str], model: nn.Module) -> dict[str, Any]:
    """Load weights from ``path`` into ``model`` and return the checkpoint's ``meta``.

    Refuses, with a :class:`CheckpointError` listing the differences, a checkpoint whose
    parameter names or shapes do not match the model (the architecture differs).
    """
    payload = read_checkpoint(path)
    state = payload["state_dict"]
    problems = _mismatch_report(model, state)
    if problems:
        raise CheckpointError(
            f"checkpoint {path} (saved from {payload.get('model_class')}) does not fit "
            f"{type(model).__name__}:\n  - " + "\n  - ".join(problems) + "\n"
            "Build the model with the same architecture and settings as the checkpoint "
            "(see its meta['config']), or retrain it."
        )
    model.load_state_dict(state)
    return payload["meta"]
