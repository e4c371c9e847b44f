"""MNIST loading and the error for missing data files."""

from __future__ import annotations

import pytest
import torch
from torchvision import datasets

from mtl_tutorial.data import RAW_FILES, DataNotFoundError, MNISTDigits, data_root, load_source


def test_missing_data_names_folder_and_files(tmp_path, monkeypatch):
    def no_network(self):
        raise OSError("network is unreachable")

    monkeypatch.setattr(datasets.MNIST, "download", no_network)
    with pytest.raises(DataNotFoundError) as info:
        load_source("mnist", "train", root=tmp_path)
    message = str(info.value)
    assert str(tmp_path / "MNIST" / "raw") in message
    for name in RAW_FILES:
        assert name in message
    assert "MTL_TUTORIAL_DATA" in message and "network is unreachable" in message
    assert isinstance(info.value, FileNotFoundError)


def test_missing_data_without_download(tmp_path):
    with pytest.raises(DataNotFoundError, match="FashionMNIST data not found"):
        load_source("fashion_mnist", "test", root=tmp_path, download=False)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown source"):
        load_source("cifar10")
    with pytest.raises(ValueError, match="unknown split"):
        load_source("mnist", "validation")


def test_data_root_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("MTL_TUTORIAL_DATA", str(tmp_path / "env"))
    assert data_root() == tmp_path / "env"
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv("MTL_TUTORIAL_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data_root() == tmp_path / "cache" / "mtl_tutorial" / "data"


def test_mnist_loads_known_labels(mnist_root):
    images, labels = load_source("mnist", "test")
    assert images.shape == (10_000, 28, 28) and images.dtype == torch.uint8
    assert labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    x, t = MNISTDigits("train")[0]
    assert x.shape == (1, 28, 28) and int(t["digit"]) == 5
