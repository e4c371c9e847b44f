"""Safe file I/O shared by checkpoints, the manifest and the dataset caches.

* Writes are atomic: the content goes to a temporary file with a unique name in the target's
  folder, then replaces the target in one step. Two processes writing the same file never
  collide on the temporary name, an interrupt leaves no partial file, and readers only ever
  see a complete old or new file.
* Tensor files are read with ``torch.load(weights_only=True)``: a planted pickle cannot run
  code, and every way a file can be unreadable (a folder, an empty or truncated file, a
  pickle of arbitrary objects) becomes one error that names the file and the fix.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import torch

__all__ = [
    "atomic_copy",
    "atomic_torch_save",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_writable_dir",
    "safe_torch_load",
]


@contextlib.contextmanager
def _atomic(path: Path, mode: str) -> Iterator[IO[Any]]:
    """Yield a handle to a uniquely named temporary file that replaces ``path`` on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; expected a file path to write")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> Path:
    """``torch.save(obj, path)`` through a unique temporary file (see the module docstring)."""
    path = Path(path)
    with _atomic(path, "wb") as handle:
        torch.save(obj, handle)
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    path = Path(path)
    with _atomic(path, "w") as handle:
        handle.write(text)
    return path


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    path = Path(path)
    with _atomic(path, "wb") as handle:
        handle.write(data)
    return path


def atomic_copy(source: str | os.PathLike[str], path: str | os.PathLike[str]) -> Path:
    """Copy ``source`` to ``path`` atomically."""
    path = Path(path)
    with open(source, "rb") as src, _atomic(path, "wb") as handle:
        shutil.copyfileobj(src, handle)
    return path


def safe_torch_load(
    path: str | os.PathLike[str],
    error: Callable[[str], Exception],
    what: str,
    fix: str,
) -> Any:
    """Load a tensor file with ``weights_only=True``; any failure raises ``error(message)``.

    ``what`` names the kind of file (``"checkpoint"``, ``"MultiMNIST cache file"``) and
    ``fix`` says what to do; both go into the one-line message with the file's path.
    """
    path = Path(path)
    if path.is_dir():
        raise error(f"{what} {path} is a folder, not a file. {fix}")
    if not path.exists():
        raise error(f"{what} {path} does not exist. {fix}")
    size = path.stat().st_size
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols on odd files
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for a bad file
        reason = str(err).split("\n")[0][:160]
        if "Weights only load failed" in reason or "Unsupported global" in str(err):
            why = (
                "it holds objects other than tensors, which torch.load(weights_only=True) "
                "refuses unread (loading them could run code)"
            )
        else:
            why = (
                f"it is truncated or not a torch file "
                f"({size} bytes; {type(err).__name__}: {reason})"
            )
        raise error(f"{what} {path} cannot be read: {why}. {fix}") from err


def check_writable_dir(path: str | os.PathLike[str], purpose: str) -> Path:
    """Make sure ``path`` is (or can be created as) a folder we can write to.

    Raises ``NotADirectoryError``/``PermissionError`` with a message that names the folder,
    what it is for (``purpose``) and the fix, before any long computation starts.
    """
    path = Path(path)
    existing = path
    while not existing.exists():  # the nearest existing ancestor must be writable
        existing = existing.parent
    if not existing.is_dir():
        raise NotADirectoryError(
            f"{existing} is a file, but {purpose} needs a folder there ({path}); "
            "pass another folder or remove the file"
        )
    writable = existing.is_dir() and os.access(existing, os.W_OK | os.X_OK)
    if writable:  # access() can say yes where a write still fails (e.g. some mounts): try one
        try:
            with tempfile.TemporaryFile(dir=existing):
                pass
        except OSError:
            writable = False
    if not writable:
        raise PermissionError(
            f"cannot write to {existing} ({purpose} goes to {path}); "
            "make it writable or choose another folder"
        )
    return path
