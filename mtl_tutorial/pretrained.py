"""The trained models of the book's experiments: ``load`` them, or retrain them.

``pretrained.load(NAME)`` builds the experiment's model from the registry and fills it
with the shipped weights (checked against the manifest's sha256). Everything about the
files themselves (the manifest, ``ship``, ``record_run``, ``seed_statistics``...) lives
in :mod:`mtl_tutorial.store` and is re-exported here, so ``pretrained.manifest()`` keeps
working.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from . import experiments, store
from .checkpoint import load_checkpoint
from .store import *  # noqa: F403 - re-exported: the storage API, e.g. pretrained.manifest()

__all__ = sorted({*store.__all__, "load", "load_or_train", "ship"})


def ship(  # type: ignore[no-redef]  # store.ship plus the registry's architecture check
    name: str, checkpoint: str | os.PathLike[str], weights_dir: Path | None = None
) -> Path:
    """:func:`mtl_tutorial.store.ship`, with the architecture check of a registered experiment."""
    registered = name in {e.name for e in experiments.all_experiments()}
    model = experiments.get(name).build_model() if registered else None
    return store.ship(name, checkpoint, weights_dir, model=model)


def load(
    name: str, device: str | torch.device = "cpu", checkpoint: str | os.PathLike[str] | None = None
) -> nn.Module:
    """Return the trained model of experiment ``name`` in eval mode.

    Uses the shipped weights (after checking their sha256 against the manifest) unless
    ``checkpoint`` points at another file.

    >>> model = load("multimnist-hard")  # doctest: +SKIP
    """
    from .utils import get_device

    device = get_device(device)  # an unknown or unavailable device fails before any file is read
    exp = experiments.get(name)
    path = checkpoint or store.verify_weights(name)
    model = exp.build_model()
    load_checkpoint(path, model)
    return model.to(device).eval()


def load_or_train(
    name: str,
    retrain: bool = False,
    device: str | torch.device = "auto",
    seed: int = 0,
    epochs: int | None = None,
    quick: bool = False,
    out_dir: str | os.PathLike[str] = "runs",
) -> nn.Module:
    """The notebooks' switch: the shipped model, or (``retrain=True``) a freshly trained one.

    Retraining goes through :func:`mtl_tutorial.experiments.run`, exactly like
    ``python -m mtl_tutorial train NAME``, and saves its checkpoint under ``out_dir``.
    """
    from .utils import get_device

    dev = get_device(device)
    if not retrain:
        return load(name, device=dev)
    config = experiments.TrainConfig(
        seed=seed, epochs=epochs, device=dev, quick=quick, out_dir=Path(out_dir)
    )
    result, _ = experiments.run(name, config)
    return result.model.to(dev).eval()
