"""A fast, seeded batch loader for in-memory datasets.

The package's datasets keep their tensors in memory and expose ``batch(index)``, so a
batch is one indexing operation instead of ``batch_size`` Python calls and a collate.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import torch

__all__ = ["BatchLoader", "InputAsTarget", "Subset"]


class BatchDataset(Protocol):
    def __len__(self) -> int: ...

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]: ...


class Subset:
    """The first ``n`` items (or the items ``index``) of a batch dataset."""

    def __init__(
        self, dataset: BatchDataset, n: int | None = None, index: torch.Tensor | None = None
    ):
        self.dataset = dataset
        self.index = (
            index if index is not None else torch.arange(min(n or len(dataset), len(dataset)))
        )

    def __len__(self) -> int:
        return len(self.index)

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return self.dataset.batch(self.index[index])


class BatchLoader:
    """Iterate over ``dataset`` in batches; shuffling is driven by its own seeded generator.

    The same ``seed`` gives the same batch order epoch after epoch of a run, independent of
    any other use of the global random state.
    """

    def __init__(
        self,
        dataset: BatchDataset,
        batch_size: int = 256,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.dataset, self.batch_size, self.shuffle, self.drop_last = (
            dataset,
            batch_size,
            shuffle,
            drop_last,
        )
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, dict[str, torch.Tensor]]]:
        n = len(self.dataset)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        for b in range(len(self)):
            yield self.dataset.batch(order[b * self.batch_size : (b + 1) * self.batch_size])


class InputAsTarget:
    """A batch dataset whose targets also hold the input image, under each of ``keys``.

    Reconstruction tasks (e.g. a VAE's "gen") are trained against the image itself; the
    trainer looks a task's target up by the task's name, so the image is added under it.
    """

    def __init__(self, dataset: BatchDataset, keys: tuple[str, ...] = ("gen",)):
        self.dataset, self.keys = dataset, tuple(keys)

    def __len__(self) -> int:
        return len(self.dataset)

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x, targets = self.dataset.batch(index)
        return x, {**targets, **dict.fromkeys(self.keys, x)}
