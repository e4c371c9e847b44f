"""Shared fixtures. Tests that need the real MNIST files use ``mnist_root``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mtl_tutorial.data import RAW_FILES, data_root


def _has_raw(root: Path, folder: str) -> bool:
    raw = root / folder / "raw"
    return all((raw / f).exists() or (raw / f.removesuffix(".gz")).exists() for f in RAW_FILES)


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    """The configured data root, if it holds MNIST; CI copies the files there."""
    root = data_root()
    if not _has_raw(root, "MNIST"):
        if os.environ.get("CI"):
            pytest.fail(f"MNIST raw files missing under {root}/MNIST/raw in CI")
        pytest.skip(f"MNIST raw files not found under {root}/MNIST/raw (set MTL_TUTORIAL_DATA)")
    return root


@pytest.fixture()
def private_root(tmp_path: Path, mnist_root: Path) -> Path:
    """A fresh data root that links to the real MNIST files but has its own cache folder."""
    (tmp_path / "MNIST").symlink_to(mnist_root / "MNIST", target_is_directory=True)
    return tmp_path
