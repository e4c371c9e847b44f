"""The package's exceptions, in one leaf module that every layer may import.

Each message names the problem, the file it concerns and the fix. The command line maps
:class:`UsageError` (and ``ValueError``/``KeyError``: a bad argument) to exit status 2 and
every other error to exit status 1, printing one line and no traceback unless
``MTL_TUTORIAL_DEBUG=1``.
"""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "DataCacheError",
    "DataNotFoundError",
    "DivergenceError",
    "ManifestError",
    "SetupError",
    "UsageError",
    "WeightsIntegrityError",
]


class UsageError(ValueError):
    """A command-line option or argument is invalid; nothing has run yet."""


class CheckpointError(RuntimeError):
    """The file is not a usable checkpoint, or it does not fit the model."""


class ManifestError(RuntimeError):
    """``weights/manifest.json`` is damaged or does not have the expected layout."""


class WeightsIntegrityError(RuntimeError):
    """A shipped weight file does not match the sha256 recorded in the manifest."""


class DivergenceError(RuntimeError):
    """A loss became NaN or infinite during training."""


class DataNotFoundError(FileNotFoundError):
    """A dataset's raw files are missing, corrupt or cannot be extracted."""


class DataCacheError(RuntimeError):
    """A derived dataset cache file (e.g. MultiMNIST's) cannot be read or written."""


class SetupError(RuntimeError):
    """Something a notebook needs is missing or damaged (see ``mtl_tutorial.doctor.require``)."""
