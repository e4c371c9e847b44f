"""MNIST and Fashion-MNIST through torchvision, rooted at ``$MTL_TUTORIAL_DATA``.

The raw IDX files are loaded once into uint8 tensors and kept in memory, so that
the derived datasets (MultiMNIST, MultiMNIST-Seg) can be built with vectorised
tensor operations instead of per-item PIL calls.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import torch
import torch.utils.data

__all__ = [
    "DATA_ENV_VAR",
    "DataNotFoundError",
    "MNISTDigits",
    "RAW_FILES",
    "SOURCES",
    "data_root",
    "load_source",
]

DATA_ENV_VAR = "MTL_TUTORIAL_DATA"

#: The four gzipped IDX files torchvision expects in ``<root>/<folder>/raw/``.
RAW_FILES: tuple[str, ...] = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)

#: Source name -> torchvision folder name.
SOURCES: dict[str, str] = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}

SPLITS = ("train", "test")


class DataNotFoundError(FileNotFoundError):
    """Raised when a dataset's raw files are missing and cannot be downloaded."""


def data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """Return the data root: ``root`` if given, else ``$MTL_TUTORIAL_DATA``, else a user cache.

    The default is ``$XDG_CACHE_HOME/mtl_tutorial/data`` (``~/.cache/mtl_tutorial/data``).
    """
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(cache) / "mtl_tutorial" / "data"


def check_split(split: str) -> None:
    """Raise a ``ValueError`` unless ``split`` is ``"train"`` or ``"test"``."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {SPLITS}")


def _missing_message(source: str, root: Path, cause: BaseException, download: bool) -> str:
    raw = root / SOURCES[source] / "raw"
    files = "\n".join(f"  - {name}" for name in RAW_FILES)
    if download:
        why = f" The download failed: {type(cause).__name__}: {cause}."
    else:
        why = " Downloading was switched off (download=False)."
    return (
        f"{SOURCES[source]} data not found in {raw}.{why}\n"
        f"Put these four files into {raw}/ :\n{files}\n"
        f"or set {DATA_ENV_VAR} to a folder that holds {SOURCES[source]}/raw/*.gz, then run again."
    )


@functools.lru_cache(maxsize=8)
def _load_cached(
    source: str, split: str, root: str, download: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    from torchvision import datasets  # imported lazily: torchvision is slow to import

    cls = datasets.MNIST if source == "mnist" else datasets.FashionMNIST
    try:
        ds = cls(root, train=(split == "train"), download=download)
    except Exception as err:  # torchvision raises RuntimeError, URLError, OSError, ...
        raise DataNotFoundError(_missing_message(source, Path(root), err, download)) from err
    return ds.data.contiguous(), ds.targets.to(torch.int64).contiguous()


def load_source(
    source: str = "mnist",
    split: str = "train",
    root: str | os.PathLike[str] | None = None,
    download: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load MNIST or Fashion-MNIST as ``(images uint8 (N, 28, 28), labels int64 (N,))``.

    With ``download=True`` torchvision first looks for the ``.gz`` files in
    ``<root>/<MNIST|FashionMNIST>/raw/``; if they are there and their md5 matches it
    only extracts them, with no network access. If they are missing and the
    download fails, a :class:`DataNotFoundError` names the folder and the files.

    >>> images, labels = load_source("mnist", "test")  # doctest: +SKIP
    >>> images.shape, labels[:3].tolist()                # doctest: +SKIP
    (torch.Size([10000, 28, 28]), [7, 2, 1])
    """
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; use one of {sorted(SOURCES)}")
    check_split(split)
    path = data_root(root)
    path.mkdir(parents=True, exist_ok=True)
    return _load_cached(source, split, str(path), download)


class MNISTDigits(torch.utils.data.Dataset):
    """MNIST or Fashion-MNIST as ``(image (1, 28, 28) in [0, 1], {"digit": label})``."""

    def __init__(
        self,
        split: str = "train",
        source: str = "mnist",
        root: str | os.PathLike[str] | None = None,
    ):
        self.images, self.labels = load_source(source, split, root)

    def __len__(self) -> int:
        return len(self.images)

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Items ``index`` as one batch: images ``(B, 1, 28, 28)`` and ``digit`` ``(B,)``."""
        return self.images[index].unsqueeze(1).float() / 255.0, {"digit": self.labels[index]}

    def __getitem__(self, i: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x, targets = self.batch(torch.tensor([i]))
        return x[0], {k: v[0] for k, v in targets.items()}
