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
ENV_DEVICE = "MTL_TUTORIAL_DEVICE"  # overrides "auto"


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()


def _auto_device() -> torch.device:
    """The best device available here: ``cuda`` > ``mps`` > ``cpu`` (ignores the environment)."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def _unavailable(pref: str, name: str, why: str, from_env: bool) -> ValueError:
    """The error for an accelerator that is not here; never advises a request that fails too."""
    if from_env:
        return ValueError(
            f"the environment variable {ENV_DEVICE}={pref!r} asks for {name}, but {name} is not "
            f"available here ({why}). Fix: unset it (`unset {ENV_DEVICE}`; auto then picks "
            f"{_auto_device().type} here) or set it to cpu (`export {ENV_DEVICE}=cpu`)"
        )
    hint = "use --device cpu (device='cpu' in Python)"
    env = os.environ.get(ENV_DEVICE, "").strip().lower()
    if not env or env == "auto":  # auto is not pointed back at the failing request
        hint += f", or --device auto, which picks {_auto_device().type} here"
    elif env.split(":")[0] == pref.split(":")[0]:
        hint += f"; {ENV_DEVICE}={env} asks for it too: `unset {ENV_DEVICE}`"
    return ValueError(f"device {pref!r} was requested but {name} is not available; {hint} ({why})")


def _check_device(pref: str, from_env: bool) -> torch.device:
    """``torch.device(pref)`` if it exists here, else a ``ValueError`` that says what to do."""
    where = f"the environment variable {ENV_DEVICE}={pref!r}" if from_env else f"device {pref!r}"
    why_mps = "MPS needs an Apple-silicon Mac with macOS 12.3 or later"
    kind, sep, index = pref.partition(":")
    if kind not in DEVICE_CHOICES or (sep and (kind == "auto" or not index.isdigit())):
        valid = ", ".join(DEVICE_CHOICES[1:]) + " or auto (a device index as in cuda:1 is allowed)"
        if from_env:
            raise ValueError(
                f"unknown device {pref!r} in the environment variable {ENV_DEVICE}; valid values "
                f"are {valid}. Fix: unset it (`unset {ENV_DEVICE}`, which means auto) or set it "
                f"to one of them, e.g. `export {ENV_DEVICE}=cpu`"
            )
        raise ValueError(f"unknown device {pref!r}; use one of {valid}, e.g. --device cpu")
    if kind == "cuda":
        if not torch.cuda.is_available():
            why = (
                "this PyTorch build has no CUDA support (a CPU-only wheel)"
                if torch.version.cuda is None
                else "no CUDA GPU is visible: check nvidia-smi and CUDA_VISIBLE_DEVICES"
            )
            raise _unavailable(pref, "CUDA", why, from_env)
        count = torch.cuda.device_count()
        if index and int(index) >= count:
            raise ValueError(
                f"{where} asks for CUDA device {index}, but only {count} CUDA device(s) exist "
                f"here (cuda:0 to cuda:{count - 1}); use cuda:0 or plain cuda"
            )
    if kind == "mps":
        if not _mps_available():
            raise _unavailable(pref, "MPS", why_mps, from_env)
        if index and int(index) > 0:
            raise ValueError(f"{where}: there is only one MPS device; use mps")
    return torch.device(pref)


def get_device(preference: str | torch.device | None = "auto") -> torch.device:
    """Pick a device: ``"auto"`` prefers ``cuda`` > ``mps`` > ``cpu``; a name forces that device.

    ``$MTL_TUTORIAL_DEVICE`` overrides ``"auto"`` (empty counts as unset). Asking for an
    unknown device, an unavailable accelerator or a CUDA index beyond the device count
    raises a ``ValueError`` that says where the request came from and how to fall back.
    A ``torch.device`` is returned as is once its accelerator is known to be available.
    """
    if isinstance(preference, torch.device):
        if preference.type in ("cuda", "mps"):
            _check_device(str(preference), from_env=False)
        return preference
    pref = (preference or "auto").strip().lower()
    from_env = False
    if pref == "auto":
        env = os.environ.get(ENV_DEVICE, "").strip().lower()
        if env and env != "auto":
            pref, from_env = env, True
    if pref == "auto":
        return _auto_device()
    return _check_device(pref, from_env)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (CPU and CUDA), make cuDNN deterministic and keep
    convolutions and matrix products in full float32 on a GPU (no TF32).

    On the CPU this fully fixes the results of the package's training runs. On a GPU a
    few kernels (e.g. the backward pass of adaptive average pooling) still add in a
    varying order, so two runs of one seed there agree closely, not bit for bit. Without
    TF32 a model trained on a GPU evaluates on the CPU to within float32 rounding of what
    the GPU recorded.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    # the legacy flags: torch 2.9's fp32_precision settings make reading these raise, and
    # torch.backends.cudnn.flags() and others still read them
    torch.backends.cudnn.allow_tf32 = False  # on by default for convolutions
    torch.backends.cuda.matmul.allow_tf32 = False


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
