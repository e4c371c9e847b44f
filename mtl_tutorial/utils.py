"""Small shared helpers: device choice, seeding and progress bars."""

from __future__ import annotations

import os
import random
from collections.abc import Iterable, Iterator
from typing import TypeVar

import numpy as np
import torch
from tqdm import tqdm

__all__ = ["describe_device", "get_device", "progress", "seed_everything"]

T = TypeVar("T")
DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()


def get_device(preference: str | torch.device | None = "auto") -> torch.device:
    """Pick a device: ``"auto"`` prefers ``cuda`` > ``mps`` > ``cpu``; a name forces that device.

    ``$MTL_TUTORIAL_DEVICE`` overrides ``"auto"``. Asking for an unavailable
    accelerator raises a ``ValueError`` that says how to fall back.
    """
    if isinstance(preference, torch.device):
        return preference
    pref = (preference or "auto").lower()
    if pref == "auto":
        pref = os.environ.get("MTL_TUTORIAL_DEVICE", "auto").lower()
    if pref == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind = pref.split(":")[0]
    if kind not in DEVICE_CHOICES:
        raise ValueError(f"unknown device {preference!r}; use one of {DEVICE_CHOICES}")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "device 'cuda' was requested but CUDA is not available; use --device cpu or auto"
        )
    if kind == "mps" and not _mps_available():
        raise ValueError(
            "device 'mps' was requested but MPS is not available; use --device cpu or auto"
        )
    return torch.device(pref)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (CPU and CUDA) and make cuDNN deterministic.

    On the CPU this fully fixes the results of the package's training runs.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def progress(
    iterable: Iterable[T],
    desc: str | None = None,
    total: int | None = None,
    disable: bool = False,
    **kwargs,
) -> Iterator[T]:
    """Wrap a slow loop in a tqdm progress bar (``disable=True`` for short loops).

    Set ``MTL_TUTORIAL_PROGRESS=0`` to silence every bar (the book build does this).
    """
    disable = disable or os.environ.get("MTL_TUTORIAL_PROGRESS", "1") == "0"
    return iter(
        tqdm(
            iterable,
            desc=desc,
            total=total,
            disable=disable,
            leave=False,
            dynamic_ncols=True,
            **kwargs,
        )
    )


def describe_device(device: torch.device) -> str:
    """A human-readable device description for manifests, e.g. ``"cpu (2 threads)"``."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return device.type
