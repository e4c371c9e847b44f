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

from ..errors import DataNotFoundError

__all__ = [
    "DATA_ENV_VAR",
    "DataNotFoundError",
    "MNISTDigits",
    "RAW_FILES",
    "SOURCES",
    "data_root",
    "load_source",
    "raw_file_problems",
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


#: Size in bytes of each extracted IDX file (the same for MNIST and Fashion-MNIST).
EXTRACTED_BYTES: dict[str, int] = {
    "train-images-idx3-ubyte": 16 + 60_000 * 28 * 28,
    "train-labels-idx1-ubyte": 8 + 60_000,
    "t10k-images-idx3-ubyte": 16 + 10_000 * 28 * 28,
    "t10k-labels-idx1-ubyte": 8 + 10_000,
}


def raw_file_problems(source: str, root: str | os.PathLike[str] | None = None) -> list[str]:
    """What is wrong with ``source``'s raw files under ``root``, one sentence each (empty: fine).

    A file is fine when its extracted IDX file has the right size, or else its ``.gz`` is
    present with torchvision's md5. Otherwise it is reported as half-extracted, corrupt or
    missing, with the fix. An unwritable folder is reported when extraction is still due.
    """
    from torchvision.datasets import MNIST, FashionMNIST  # lazy: slow to import
    from torchvision.datasets.utils import check_integrity

    raw = data_root(root) / SOURCES[source] / "raw"
    md5 = dict((MNIST if source == "mnist" else FashionMNIST).resources)
    problems, to_extract = [], False
    for gz in RAW_FILES:
        extracted = raw / gz.removesuffix(".gz")
        if extracted.exists():
            if extracted.stat().st_size == EXTRACTED_BYTES[extracted.name]:
                continue
            problems.append(
                f"{extracted} is half-extracted ({extracted.stat().st_size} of "
                f"{EXTRACTED_BYTES[extracted.name]} bytes): delete it, it is extracted again "
                f"from {gz}"
            )
        if not (raw / gz).exists():
            problems.append(f"{raw / gz} is missing: copy it there")
        elif not check_integrity(str(raw / gz), md5[gz]):
            problems.append(
                f"{raw / gz} is corrupt (its md5 is not torchvision's {md5[gz]}): "
                "replace it with a good copy"
            )
        else:
            to_extract = True
    if to_extract and not os.access(raw, os.W_OK):
        problems.append(
            f"{raw} is not writable, so the .gz files cannot be extracted there: make it "
            f"writable, or copy the four .gz files to a writable folder and set {DATA_ENV_VAR}"
        )
    return problems


def _data_error(source: str, root: Path, cause: BaseException, download: bool) -> str:
    raw = root / SOURCES[source] / "raw"
    problems = raw_file_problems(source, root)
    if not problems:  # the files look fine: say what torchvision said
        return (
            f"{SOURCES[source]} in {raw} could not be loaded although its files look complete: "
            f"{type(cause).__name__}: {str(cause).splitlines()[0] if str(cause) else ''}. "
            f"Delete the extracted files in {raw} (keep the .gz) and run again"
        )
    missing_only = all(p.endswith("is missing: copy it there") for p in problems)
    head = (
        f"{SOURCES[source]} data not found in {raw}"
        if missing_only
        else (f"{SOURCES[source]} data in {raw} is unusable")
    )
    first = str(cause).splitlines()[0] if str(cause) else ""
    why = (
        f" (it could not be downloaded either: {type(cause).__name__}: {first[:120]})"
        if download
        else " (downloading was switched off: download=False)"
    )
    files = "\n".join(f"  - {p}" for p in problems)
    return (
        f"{head}{why}:\n{files}\nThe four files are {', '.join(RAW_FILES)}; put good copies "
        f"into {raw}/ or set {DATA_ENV_VAR} to a folder that holds "
        f"{SOURCES[source]}/raw/*.gz, then run again. "
        "`python -m mtl_tutorial doctor` checks the whole setup."
    )


def _checked_root(root: str | os.PathLike[str] | None) -> Path:
    """The data root, created if needed; a clear error if it is a file or cannot be created."""
    path = data_root(root)
    origin = (
        f"{DATA_ENV_VAR}={path}" if root is None and os.environ.get(DATA_ENV_VAR) else str(path)
    )
    if path.exists() and not path.is_dir():
        raise DataNotFoundError(
            f"the data root {origin} is a file, not a folder: set {DATA_ENV_VAR} to a folder "
            f"that holds MNIST/raw/*.gz"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataNotFoundError(
            f"the data root {origin} cannot be created ({err.strerror}): set {DATA_ENV_VAR} "
            "to a writable folder that holds MNIST/raw/*.gz"
        ) from err
    return path


@functools.lru_cache(maxsize=8)
def _load_cached(
    source: str, split: str, root: str, download: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    from torchvision import datasets  # imported lazily: torchvision is slow to import

    cls = datasets.MNIST if source == "mnist" else datasets.FashionMNIST
    try:
        ds = cls(root, train=(split == "train"), download=download)
    except Exception as err:  # torchvision raises RuntimeError, URLError, OSError, ...
        raise DataNotFoundError(_data_error(source, Path(root), err, download)) from err
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
    return _load_cached(source, split, str(_checked_root(root)), download)


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
