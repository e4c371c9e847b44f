"""Seed 001's three-stage schedule, run with the book's one :class:`~mtl_tutorial.trainer.Trainer`.

Seed 001 trains its generation + segmentation network in three stages:

1. **Pre-train each branch.** The seed does not say on which backbone. Here there is one
   shared encoder, and the stage alternates *single-task epochs*: epoch 1 trains encoder +
   the first task's branch on that task's loss alone, epoch 2 encoder + the second branch,
   and so on round-robin. Each task has its own ``Trainer`` (its own Adam state and cosine
   schedule over its own epochs); a branch that gets no loss gets no gradient, and Adam
   skips parameters without a gradient, so only the encoder and the active branch move.
2. **Freeze the encoder, train the heads** on the joint loss. A *new* ``Trainer`` after
   ``model.freeze_encoder()``: the encoder's parameters have ``requires_grad = False``, never
   get a gradient and Adam leaves them exactly as they are. With the encoder fixed, the
   heads share no trainable parameter, so the joint loss splits into independent per-task
   problems: the heads cannot "adapt to each other" as the seed claims.
3. **Unfreeze and fine-tune end to end** on the joint loss, with the learning rate scaled by
   ``finetune_lr_factor`` (a new ``Trainer``: fresh Adam, cosine over this stage).

The budget is counted in passes over the training data (epochs), so a staged run is
compared with joint training for the same number of epochs: :func:`split_epochs`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .tasks import Task
from .trainer import Batch, Trainer
from .weighting import Weighting

__all__ = ["StageEpochs", "split_epochs", "staged_fit"]


@dataclass(frozen=True)
class StageEpochs:
    """Epochs of the three stages: per-branch pre-training, frozen encoder, fine-tuning."""

    pretrain: int
    frozen: int
    finetune: int

    @property
    def total(self) -> int:
        return self.pretrain + self.frozen + self.finetune


def split_epochs(total: int, num_tasks: int = 2) -> StageEpochs:
    """Split ``total`` epochs as 1/2 pre-training, 1/6 frozen encoder, the rest fine-tuning.

    Pre-training is rounded to a multiple of ``num_tasks`` (every task gets the same number of
    single-task epochs); each stage gets at least ``num_tasks``, 1 and 1 epochs.

    >>> split_epochs(12)
    StageEpochs(pretrain=6, frozen=2, finetune=4)
    """
    if total < num_tasks + 2:
        raise ValueError(f"a staged run needs at least {num_tasks + 2} epochs, got {total}")
    pretrain = max(num_tasks, num_tasks * round(total / 2 / num_tasks))
    frozen = max(1, round(total / 6))
    finetune = total - pretrain - frozen
    if finetune < 1:
        pretrain -= num_tasks if pretrain > num_tasks else 0
        frozen = max(1, total - pretrain - 1)
        finetune = total - pretrain - frozen
    return StageEpochs(pretrain, frozen, finetune)


def staged_fit(
    model: nn.Module,
    tasks: Sequence[Task],
    train_loader: Iterable[Batch],
    eval_loader: Iterable[Batch],
    epochs: StageEpochs,
    lr: float = 1e-3,
    finetune_lr_factor: float = 0.1,
    weighting: Callable[[], Weighting] | None = None,
    device: torch.device | str = "cpu",
    max_batches: int | None = None,
) -> list[dict[str, float]]:
    """Train ``model`` with the three stages; returns one history row per epoch.

    ``model`` must provide ``freeze_encoder()`` and ``unfreeze_encoder()``. ``weighting``
    builds the joint-loss weighting of stages 2 and 3 (default: equal weights). Each row
    carries ``stage`` (1, 2, 3), a running ``epoch`` and, in stage 1, ``pretrain_task``
    (the index of the task trained in that epoch).
    """
    history: list[dict[str, float]] = []

    def record(trainer: Trainer, stage: int, **extra: float) -> None:
        row = dict(trainer.history[-1])
        row.update(stage=float(stage), stage_epoch=row["epoch"], epoch=float(len(history) + 1))
        row.update(extra)
        history.append(row)

    def options() -> dict[str, Any]:  # Trainer keyword arguments
        return {} if weighting is None else {"weighting": weighting()}

    # stage 1: alternate single-task epochs, one Trainer (Adam state) per task
    per_task = epochs.pretrain // len(tasks)
    pretrainers = [
        Trainer(model, [t], lr=lr, device=device, cosine_epochs=per_task or None) for t in tasks
    ]
    for e in range(epochs.pretrain):
        k = e % len(tasks)
        pretrainers[k].fit(train_loader, eval_loader, 1, max_batches)
        record(pretrainers[k], 1, pretrain_task=float(k))

    # stage 2: shared encoder frozen, heads trained on the joint loss
    model.freeze_encoder()  # type: ignore[operator]  # staged_fit is given a GenSegNet, which has freeze_encoder
    try:
        frozen = Trainer(
            model, tasks, lr=lr, device=device, cosine_epochs=epochs.frozen, **options()
        )
        for _ in range(epochs.frozen):
            frozen.fit(train_loader, eval_loader, 1, max_batches)
            record(frozen, 2)
    finally:
        model.unfreeze_encoder()  # type: ignore[operator]  # staged_fit is given a GenSegNet, which has unfreeze_encoder

    # stage 3: everything trainable again, lower learning rate
    finetune = Trainer(
        model,
        tasks,
        lr=lr * finetune_lr_factor,
        device=device,
        cosine_epochs=epochs.finetune,
        **options(),
    )
    for _ in range(epochs.finetune):
        finetune.fit(train_loader, eval_loader, 1, max_batches)
        record(finetune, 3)
    return history
