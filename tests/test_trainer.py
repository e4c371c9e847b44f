"""The trainer: a loss that drops on tiny data, determinism, divergence and bad input."""

from __future__ import annotations

import pytest
import torch

from mtl_tutorial.data import Shapes
from mtl_tutorial.loaders import BatchLoader, Subset
from mtl_tutorial.models.dense import DenseMultiTaskNet
from mtl_tutorial.models.protocols import (
    CustomStep,
    EpochMetrics,
    Penalized,
    RepresentationModel,
    SharedTrunk,
)
from mtl_tutorial.models.sharing import HardSharingNet, SoftSharingNet
from mtl_tutorial.tasks import dense_regression, multilabel, segmentation
from mtl_tutorial.trainer import DivergenceError, Trainer
from mtl_tutorial.utils import seed_everything

SHAPES, COLOURS = multilabel("shapes", 3), multilabel("colours", 3)


def _tiny(n: int = 64) -> Shapes:
    return Shapes("train", n=n, seed=0, relatedness=0.5, size=16)


def test_fifty_steps_lower_the_loss():
    seed_everything(0)
    data = _tiny()
    model = HardSharingNet([SHAPES, COLOURS], in_channels=3, image_size=16)
    trainer = Trainer(model, [SHAPES, COLOURS], lr=3e-3)
    batch = data.batch(torch.arange(64))
    first = trainer.step(batch)
    for _ in range(48):
        trainer.step(batch)
    last = trainer.step(batch)
    for task in ("shapes", "colours"):
        assert last[f"loss_{task}"] < 0.5 * first[f"loss_{task}"], task


def test_dense_pair_both_losses_drop_and_penalty_is_logged():
    seed_everything(0)
    tasks = [segmentation("seg", 4), dense_regression("depth")]
    model = SoftSharingNet(
        tasks, penalty_weight=1e-3, column=lambda t: DenseMultiTaskNet([t], widths=(8, 8, 8))
    )
    trainer = Trainer(model, tasks, lr=3e-3)
    batch = _tiny(16).batch(torch.arange(16))
    first = trainer.step(batch)
    for _ in range(48):
        last = trainer.step(batch)
    assert (
        "penalty" in first
        and last["loss_seg"] < first["loss_seg"]
        and last["loss_depth"] < first["loss_depth"]
    )


def _run(seed: int) -> list[dict[str, float]]:
    seed_everything(seed)
    data = _tiny(96)
    model = HardSharingNet([SHAPES, COLOURS], in_channels=3, image_size=16)
    trainer = Trainer(model, [SHAPES, COLOURS], lr=1e-3, cosine_epochs=2)
    history = trainer.fit(
        BatchLoader(data, 32, shuffle=True, seed=seed), BatchLoader(Subset(data, 32), 32), epochs=2
    )
    return [{k: v for k, v in row.items() if k != "train_time_s"} for row in history]


def test_trainer_is_deterministic_for_a_seed():
    a, b, c = _run(1), _run(1), _run(2)
    assert a == b
    assert a != c
    assert {"acc_shapes", "acc_colours", "train_loss_shapes", "test_loss_colours", "epoch"} <= set(
        a[0]
    )


def test_divergence_and_missing_outputs_are_reported():
    data = _tiny(8)
    model = HardSharingNet([SHAPES], in_channels=3, image_size=16)
    with torch.no_grad():
        model.heads["shapes"].bias.fill_(float("nan"))
    with pytest.raises(DivergenceError, match="not finite"):
        Trainer(model, [SHAPES]).step(data.batch(torch.arange(8)))
    with pytest.raises(KeyError, match="no prediction for tasks \\['colours'\\]"):
        Trainer(HardSharingNet([SHAPES], in_channels=3, image_size=16), [SHAPES, COLOURS]).step(
            data.batch(torch.arange(8))
        )


def test_batch_loader_covers_every_item_once():
    data = _tiny(10)
    loader = BatchLoader(data, 4, shuffle=True, seed=3)
    assert len(loader) == 3
    seen = torch.cat([x.flatten(1) for x, _ in loader])
    assert seen.shape[0] == 10
    assert torch.allclose(seen.sum(0), data.batch(torch.arange(10))[0].flatten(1).sum(0))
    with pytest.raises(ValueError, match="batch_size"):
        BatchLoader(data, 0)


class _TwoOptimiserModel(torch.nn.Module):
    """A toy model with its own step: two parameters, each with its own optimiser."""

    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(3.0))
        self.b = torch.nn.Parameter(torch.tensor(-2.0))

    def configure_optimizers(
        self, lr: float, weight_decay: float
    ) -> dict[str, torch.optim.Optimizer]:
        return {"a": torch.optim.SGD([self.a], lr=0.1), "b": torch.optim.SGD([self.b], lr=0.1)}

    def training_step(self, batch, trainer: Trainer) -> dict[str, float]:
        x, targets = batch
        assert "seg" in targets and x.device == trainer.device  # every target arrives on the device
        for name, param in (("a", self.a), ("b", self.b)):
            opt = trainer.optimizers[name]
            opt.zero_grad()
            (param**2).backward()
            opt.step()
        return {"a2": float(self.a.detach() ** 2), "b2": float(self.b.detach() ** 2)}

    def epoch_metrics(self, trainer: Trainer) -> dict[str, float]:
        return {"distance": float((self.a - self.b).abs().detach())}


def test_the_trainer_dispatches_on_the_model_contract():
    tasks = [segmentation("seg", 4)]
    hard = HardSharingNet([SHAPES, COLOURS], in_channels=3, image_size=16)
    soft = SoftSharingNet([SHAPES, COLOURS], in_channels=3, image_size=16)
    assert isinstance(hard, SharedTrunk) and isinstance(hard, RepresentationModel)
    assert isinstance(soft, Penalized) and not isinstance(hard, Penalized)
    dense = DenseMultiTaskNet(tasks)
    assert isinstance(dense, SharedTrunk) and not isinstance(dense, RepresentationModel)
    assert not isinstance(dense, CustomStep) and not isinstance(dense, EpochMetrics)


def test_custom_training_step_uses_the_same_loop():
    model = _TwoOptimiserModel()
    assert isinstance(model, CustomStep) and isinstance(model, EpochMetrics)
    trainer = Trainer(model, [], cosine_epochs=3)
    assert set(trainer.optimizers) == {"a", "b"} and len(trainer.schedulers) == 2
    history = trainer.fit(BatchLoader(_tiny(8), 4), BatchLoader(_tiny(8), 4), epochs=3)
    assert len(history) == 3 and {"train_a2", "train_b2", "distance"} <= set(history[-1])
    assert history[-1]["train_a2"] < history[0]["train_a2"]  # both parameters shrink towards 0
    assert abs(model.a.item()) < 3.0 and abs(model.b.item()) < 2.0
    with torch.no_grad():
        model.a.fill_(float("inf"))
    with pytest.raises(DivergenceError, match="not finite"):
        trainer.step(_tiny(4).batch(torch.arange(4)))


def test_resident_dataset_gives_exactly_the_same_batches():
    from mtl_tutorial.loaders import BatchLoader, InputAsTarget, Resident, Subset

    class Toy:
        def __init__(self):
            g = torch.Generator().manual_seed(0)
            self.images = torch.randint(0, 256, (50, 6, 6), dtype=torch.uint8, generator=g)
            self.labels = torch.randint(0, 10, (50,), generator=g)

        def __len__(self):
            return len(self.images)

        def batch(self, index):
            return self.images[index].unsqueeze(1).float() / 255, {"y": self.labels[index]}

    source = InputAsTarget(Subset(Toy(), 37), keys=("gen",))
    resident = Resident(source, "cpu", chunk=8)  # several chunks, the last one short
    assert len(resident) == 37
    for a, b in zip(
        BatchLoader(source, 5, shuffle=True, seed=3),
        BatchLoader(resident, 5, shuffle=True, seed=3),
        strict=True,
    ):
        assert torch.equal(a[0], b[0]) and a[1].keys() == b[1].keys()
        assert all(torch.equal(a[1][k], b[1][k]) for k in a[1])
    loader = BatchLoader(source, 5)
    assert loader.to_device("cpu") is loader and loader.dataset is source  # no copy on the CPU
    # on an accelerator (here the shape-only "meta" device) the batch order is on the
    # device before any batch is indexed: one copy an epoch, not one a batch
    seen = []
    on_device = BatchLoader(source, 5, shuffle=True).to_device("meta")
    batch = on_device.dataset.batch
    on_device.dataset.batch = lambda index: seen.append(index.device.type) or batch(index)
    assert [x.shape[0] for x, _ in on_device] == [5] * 7 + [2]
    assert seen == ["meta"] * 8
