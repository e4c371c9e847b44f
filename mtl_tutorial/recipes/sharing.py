"""Chapter 2 experiments: hard vs soft sharing on MultiMNIST (left/right digit classification).

Every experiment trains on the MultiMNIST training split (data seed 0) with Adam
(lr 1e-3, cosine decay, batch 256) and reports test accuracy per task. The training seed
changes the initialisation and the batch order, never the data. The test split is only
used for reporting: there is no early stopping or model selection on it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .. import pretrained
from ..data import MultiMNIST
from ..experiments import Experiment, RunResult, TrainConfig, register
from ..loaders import BatchLoader, Subset
from ..metrics import delta_m
from ..models.sharing import CrossStitchNet, HardSharingNet, SoftSharingNet, count_parameters
from ..tasks import Task, classification
from ..trainer import Trainer

LEFT, RIGHT = classification("left"), classification("right")
EPOCHS = 12
BATCH = 256
LR = 1e-3
SOFT_PENALTY = 1e-3
CROSS_STITCH_INIT = 0.9
SINGLE = {"acc_left": "multimnist-single-left", "acc_right": "multimnist-single-right"}


def single_task_baselines() -> dict[str, float]:
    """Seed-mean test accuracy of the shipped single-task baselines, keyed by metric."""
    shipped = pretrained.manifest()
    return {
        metric: pretrained.seed_statistics(name)[metric][0]
        for metric, name in SINGLE.items()
        if name in shipped
    }


def _loaders(cfg: TrainConfig) -> tuple[BatchLoader, BatchLoader, int | None]:
    train, test = MultiMNIST("train", seed=0), MultiMNIST("test", seed=0)
    if cfg.quick:
        return (
            BatchLoader(Subset(train, 2048), BATCH, True, cfg.seed),
            BatchLoader(Subset(test, 1000), 500),
            8,
        )
    return BatchLoader(train, BATCH, shuffle=True, seed=cfg.seed), BatchLoader(test, 1000), None


def _evaluator(tasks: list[Task]) -> Callable[[nn.Module, torch.device], dict[str, float]]:
    def evaluate(model: nn.Module, device: torch.device) -> dict[str, float]:
        trainer = Trainer(model, tasks, device=device)
        result = trainer.evaluate(BatchLoader(MultiMNIST("test", seed=0), 1000))
        metrics = {t.metric_name: result[t.metric_name] for t in tasks}
        metrics["params"] = float(count_parameters(model))
        baselines = single_task_baselines()
        if len(tasks) > 1 and set(baselines) == set(metrics) - {"params"}:
            metrics["delta_m"] = delta_m(metrics, baselines, {k: True for k in baselines})
        return metrics

    return evaluate


def _register(
    name: str, description: str, tasks: list[Task], build: Callable[[], nn.Module]
) -> None:
    evaluate = _evaluator(tasks)

    def train(cfg: TrainConfig) -> RunResult:
        epochs = 1 if cfg.quick and cfg.epochs is None else (cfg.epochs or EPOCHS)
        train_loader, test_loader, max_batches = _loaders(cfg)
        model = build()
        trainer = Trainer(model, tasks, lr=LR, device=cfg.device, cosine_epochs=epochs)
        history = trainer.fit(train_loader, test_loader, epochs, max_batches)
        metrics = evaluate(model, cfg.device) if not cfg.quick else trainer.evaluate(test_loader)
        config = {
            "epochs": epochs,
            "batch_size": BATCH,
            "lr": LR,
            "schedule": "cosine",
            "data_seed": 0,
        }
        return RunResult(model.cpu(), metrics, history, epochs, extra={"config": config})

    register(
        Experiment(
            name,
            "2-sharing",
            description,
            build,
            train,
            evaluate,
            tuple(t.metric_name for t in tasks) + ("params",),
            EPOCHS,
        )
    )


_register(
    "multimnist-single-left",
    "single-task baseline: left digit",
    [LEFT],
    lambda: HardSharingNet([LEFT]),
)
_register(
    "multimnist-single-right",
    "single-task baseline: right digit",
    [RIGHT],
    lambda: HardSharingNet([RIGHT]),
)
_register(
    "multimnist-hard",
    "hard sharing: shared LeNet encoder, equal weights",
    [LEFT, RIGHT],
    lambda: HardSharingNet([LEFT, RIGHT]),
)
_register(
    "multimnist-soft",
    f"soft sharing: two LeNets, L2 penalty lambda={SOFT_PENALTY:g}",
    [LEFT, RIGHT],
    lambda: SoftSharingNet([LEFT, RIGHT], penalty_weight=SOFT_PENALTY),
)
_register(
    "multimnist-cross-stitch",
    "cross-stitch units after both conv stages",
    [LEFT, RIGHT],
    lambda: CrossStitchNet([LEFT, RIGHT], init_self=CROSS_STITCH_INIT),
)
