"""Sharing models: shapes, gradients, the soft penalty, cross-stitch identity, seed models."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from mtl_tutorial.models.dense import DenseMultiTaskNet
from mtl_tutorial.models.seeds import Seed003Net, Seed004BoxNet
from mtl_tutorial.models.sharing import (
    CrossStitchNet,
    CrossStitchUnit,
    HardSharingNet,
    SoftSharingNet,
    count_parameters,
)
from mtl_tutorial.tasks import (
    box_regression,
    classification,
    dense_regression,
    multilabel,
    segmentation,
)

LEFT, RIGHT = classification("left"), classification("right")


def _grads_everywhere(model: nn.Module, outputs: dict[str, torch.Tensor]) -> None:
    sum(o.float().square().mean() for o in outputs.values()).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


@pytest.mark.parametrize("cls", [HardSharingNet, SoftSharingNet, CrossStitchNet])
def test_multimnist_models_forward_backward(cls):
    torch.manual_seed(0)
    model = cls([LEFT, RIGHT])
    out = model(torch.rand(4, 1, 28, 28))
    assert set(out) == {"left", "right"} and all(v.shape == (4, 10) for v in out.values())
    _grads_everywhere(model, out)


def test_hard_sharing_shares_and_single_task_does_not():
    hard = HardSharingNet([LEFT, RIGHT])
    single = HardSharingNet([LEFT])
    soft = SoftSharingNet([LEFT, RIGHT])
    assert count_parameters(soft) == 2 * count_parameters(single)
    assert count_parameters(hard) == count_parameters(single) + 128 * 10 + 10  # one more head
    with pytest.raises(ValueError, match=r"expected input \(B, 1, 28, 28\)"):
        hard(torch.rand(2, 3, 28, 28))
    with pytest.raises(ValueError, match="dense tasks"):
        HardSharingNet([segmentation()])


def test_soft_penalty_matches_hand_computation():
    torch.manual_seed(0)
    model = SoftSharingNet([LEFT, RIGHT, classification("third")], penalty_weight=0.25)
    cols = list(model.columns.values())
    expected = 0.0
    for a, b in itertools.combinations(cols, 2):
        for pa, pb in zip(a.encoder.parameters(), b.encoder.parameters(), strict=True):
            expected += float(((pa.detach() - pb.detach()) ** 2).sum())
    assert float(model.penalty().detach()) == pytest.approx(0.25 * expected, rel=1e-5)
    # identical encoders -> zero penalty; the heads never count
    two = SoftSharingNet([LEFT, RIGHT], penalty_weight=1.0)
    two.columns["right"].encoder.load_state_dict(two.columns["left"].encoder.state_dict())
    assert float(two.penalty().detach()) == 0.0
    # gradient of lambda * ||a - b||^2 w.r.t. a is 2 * lambda * (a - b)
    two.columns["right"].encoder.stages[0][0].bias.data += 1.0
    two.penalty().backward()
    grad = two.columns["left"].encoder.stages[0][0].bias.grad
    assert torch.allclose(grad, torch.full_like(grad, -2.0))
    with pytest.raises(ValueError, match="non-negative"):
        SoftSharingNet([LEFT, RIGHT], penalty_weight=-1.0)


def test_cross_stitch_identity_equals_independent_networks():
    torch.manual_seed(0)
    stitched = CrossStitchNet([LEFT, RIGHT], init_self=1.0)
    x = torch.rand(5, 1, 28, 28)
    out = stitched(x)
    for name in ("left", "right"):
        alone = stitched.columns[name](x)[name]  # the column run on its own, no stitching
        assert torch.allclose(out[name], alone, atol=1e-6)
    unit = CrossStitchUnit(2, init_self=0.9)
    a, b = torch.rand(3, 4), torch.rand(3, 4)
    mixed = unit([a, b])
    assert torch.allclose(mixed[0], 0.9 * a + 0.1 * b) and torch.allclose(
        mixed[1], 0.1 * a + 0.9 * b
    )


def test_dense_model_shapes_and_gradients():
    tasks = [segmentation("seg", 4), dense_regression("depth"), multilabel("shapes", 3)]
    model = DenseMultiTaskNet(tasks)
    out = model(torch.rand(2, 3, 32, 32))
    assert out["seg"].shape == (2, 4, 32, 32) and out["depth"].shape == (2, 1, 32, 32)
    assert out["shapes"].shape == (2, 3)
    _grads_everywhere(model, out)
    with pytest.raises(ValueError, match="divisible by 4"):
        model(torch.rand(2, 3, 30, 30))
    soft = SoftSharingNet(tasks[:2], penalty_weight=1e-3, column=lambda t: DenseMultiTaskNet([t]))
    assert (
        set(soft(torch.rand(1, 3, 32, 32))) == {"seg", "depth"}
        and float(soft.penalty().detach()) > 0
    )


def test_seed_models_shapes_and_sharing():
    seed3 = Seed003Net()
    out = seed3(torch.rand(2, 3, 32, 32))
    assert out["shapes"].shape == (2, 3) and out["seg"].shape == (2, 4, 32, 32)
    _grads_everywhere(seed3, out)
    # the trunk is shared: both heads' losses reach it
    seed3.zero_grad()
    seed3(torch.rand(2, 3, 32, 32))["seg"].sum().backward()
    assert seed3.trunk[0].weight.grad.abs().sum() > 0
    seed4 = Seed004BoxNet()
    out = seed4(torch.rand(2, 3, 32, 32))
    assert out["front"].shape == (2, 3) and out["box"].shape == (2, 4)
    assert (out["box"] >= 0).all() and (out["box"] <= 1).all()
    _grads_everywhere(seed4, out)
    assert box_regression().metric_name == "box_iou"
