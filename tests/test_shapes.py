"""Shapes: determinism, label consistency and the relatedness knob."""

from __future__ import annotations

import pytest
import torch

from mtl_tutorial.data import Shapes, ShapesConfig, generate_shapes
from mtl_tutorial.data.shapes import _PALETTE


def test_shapes_is_deterministic_per_seed():
    a = generate_shapes(64, seed=1)
    b = generate_shapes(64, seed=1)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    c = generate_shapes(64, seed=2)
    assert not torch.equal(a["images"], c["images"])
    assert not torch.equal(a["images"], generate_shapes(64, seed=1, split="test")["images"])


def test_shapes_shapes_and_ranges():
    data = generate_shapes(32, seed=0, config=ShapesConfig(size=24))
    assert data["images"].shape == (32, 3, 24, 24) and data["images"].dtype == torch.uint8
    assert data["seg"].shape == (32, 24, 24) and int(data["seg"].max()) <= 3
    assert data["count"].min() >= 1 and data["count"].max() <= 3
    background = data["seg"] == 0
    assert torch.all(data["depth"][background] == 1.0)
    assert torch.all((data["depth"][~background] >= 0.1) & (data["depth"][~background] <= 0.9))


@pytest.mark.parametrize("relatedness", [0.0, 0.5, 1.0])
def test_class_map_agrees_with_image_labels(relatedness):
    data = generate_shapes(200, seed=7, config=ShapesConfig(relatedness=relatedness, noise=0.0))
    palette = torch.from_numpy(_PALETTE)
    for i in range(200):
        seg = data["seg"][i]
        visible_classes = set(seg.unique().tolist()) - {0}
        labelled = {int(c) + 1 for c in torch.nonzero(data["shapes"][i]).flatten()}
        assert visible_classes == labelled
        # the dominant channel of every foreground pixel is one of the labelled colours
        fg = seg > 0
        dominant = data["images"][i].float().argmax(dim=0)[fg]
        assert set(dominant.unique().tolist()) == {
            int(c) for c in torch.nonzero(data["colours"][i]).flatten()
        }
        assert len(visible_classes) <= int(data["count"][i])
    assert palette.shape == (3, 3)


def test_relatedness_knob_controls_colour_class_agreement():
    def agreement(r: float) -> float:
        data = generate_shapes(900, seed=0, config=ShapesConfig(relatedness=r, max_shapes=1))
        return float((data["shapes"] == data["colours"]).all(dim=1).float().mean())

    assert agreement(1.0) == 1.0
    assert abs(agreement(0.0) - 1 / 3) < 0.06  # independent: chance agreement
    assert abs(agreement(0.5) - 2 / 3) < 0.06  # 0.5 + 0.5 * 1/3


def test_dataset_items_and_bad_config():
    ds = Shapes("test", n=8, seed=0, relatedness=0.25)
    x, t = ds[3]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    assert t["seg"].dtype == torch.int64 and t["depth"].shape == (1, 32, 32)
    assert ds.describe()["relatedness"] == 0.25
    with pytest.raises(ValueError, match="relatedness"):
        ShapesConfig(relatedness=1.5)
    with pytest.raises(ValueError, match="unknown split"):
        Shapes("val", n=2)


def test_depth_head_starts_at_the_training_targets_mean():
    """DEPTH_MEAN is the measured mean depth of the dense pair's training set, and the
    depth decoder of every dense model starts its output there (issue #17)."""
    from mtl_tutorial.experiments.ch2_sharing import DENSE, DENSE_WIDTHS, DEPTH, DEPTH_MEAN, SEG
    from mtl_tutorial.models.dense import DenseMultiTaskNet

    train = DENSE.train()
    _, targets = train.batch(list(range(len(train))))
    assert targets["depth"].float().mean().item() == pytest.approx(DEPTH_MEAN, abs=2e-4)
    torch.manual_seed(0)
    model = DenseMultiTaskNet([SEG, DEPTH], widths=DENSE_WIDTHS, norm=True)
    assert torch.all(model.heads["depth"].out.bias == DEPTH_MEAN)
    assert DEPTH.loss is torch.nn.functional.mse_loss  # the loss is the reported metric
    out = model(torch.zeros(2, 3, 32, 32))["depth"]
    assert out.mean().item() == pytest.approx(DEPTH_MEAN, abs=0.3)  # starts near the mean, not 0
