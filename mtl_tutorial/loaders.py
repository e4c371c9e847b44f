"""A fast, seeded batch loader for in-memory datasets.

The package's datasets keep their tensors in memory and expose ``batch(index)``, so a
batch is one indexing operation instead of ``batch_size`` Python calls and a collate.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import torch

__all__ = ["BatchLoader", "InputAsTarget", "Resident", "Subset"]


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


class Resident:
    """``dataset`` materialised once on ``device``: every batch is then one device-side index.

    On a GPU this replaces a host-to-device copy per batch by one copy per run. The items
    are exactly ``dataset.batch`` of each index (built in chunks of ``chunk`` items), so a
    run's numbers do not change.
    """

    def __init__(self, dataset: BatchDataset, device: torch.device | str, chunk: int = 8192):
        self.dataset, self.device = dataset, torch.device(device)
        n = len(dataset)
        parts = [dataset.batch(torch.arange(s, min(s + chunk, n))) for s in range(0, n, chunk)]
        self.x = torch.cat([x for x, _ in parts]).to(self.device)
        self.targets = {k: torch.cat([t[k] for _, t in parts]).to(self.device) for k in parts[0][1]}

    def __len__(self) -> int:
        return len(self.x)

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        index = index.to(self.device)
        return self.x[index], {k: v[index] for k, v in self.targets.items()}


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

    def to_device(self, device: torch.device | str) -> BatchLoader:
        """Keep the dataset's tensors resident on ``device`` (a no-op on the CPU); returns self."""
        device = torch.device(device)
        if device.type != "cpu" and not (
            isinstance(self.dataset, Resident) and self.dataset.device == device
        ):
            self.dataset = Resident(self.dataset, device)
        return self

    def __iter__(self) -> Iterator[tuple[torch.Tensor, dict[str, torch.Tensor]]]:
        n = len(self.dataset)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        if isinstance(self.dataset, Resident):  # one copy an epoch, not a blocking one a batch
            order = order.to(self.dataset.device)
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
