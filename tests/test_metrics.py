"""Metrics and Δm on hand-worked cases."""

from __future__ import annotations

import pytest
import torch

from mtl_tutorial.metrics import (
    Accuracy,
    BoxIoU,
    MeanIoU,
    MeanSquaredError,
    MultiLabelAccuracy,
    delta_m,
)


def test_delta_m_hand_worked():
    # accuracy up from 0.90 to 0.99 (+10%), error down from 0.20 to 0.25 (worse by 25%)
    value = delta_m(
        {"acc": 0.99, "err": 0.25}, {"acc": 0.90, "err": 0.20}, {"acc": True, "err": False}
    )
    assert value == pytest.approx((0.10 - 0.25) / 2)
    assert delta_m({"a": 0.5}, {"a": 0.5}, {"a": True}) == 0.0
    with pytest.raises(KeyError, match="missing"):
        delta_m({}, {"a": 1.0}, {"a": True})
    with pytest.raises(ValueError, match="undefined"):
        delta_m({"a": 1.0}, {"a": 0.0}, {"a": True})


def test_mean_iou_hand_worked():
    target = torch.tensor([[0, 0, 1, 1], [2, 2, 2, 0]])
    predicted = torch.tensor([[0, 1, 1, 1], [2, 2, 0, 0]])
    # class 0: tp 2, fp 1, fn 1 -> 2/4; class 1: tp 2, fp 1 -> 2/3; class 2: tp 2, fn 1 -> 2/3
    metric = MeanIoU(num_classes=4)  # class 3 never appears and is left out of the mean
    metric.update(predicted, target)
    assert metric.compute() == pytest.approx((0.5 + 2 / 3 + 2 / 3) / 3)
    logits = (
        torch.nn.functional.one_hot(predicted, 4).permute(2, 0, 1).float()[None]
    )  # (1, 4, 2, 4)
    from_logits = MeanIoU(4)
    from_logits.update(logits, target[None])
    assert from_logits.compute() == pytest.approx(metric.compute())


def test_accuracy_mse_multilabel_box():
    acc = Accuracy()
    acc.update(torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]]), torch.tensor([0, 1, 1]))
    assert acc.compute() == pytest.approx(2 / 3)
    mse = MeanSquaredError()
    mse.update(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 0.0]))
    assert mse.compute() == pytest.approx(2.5) and not mse.higher_is_better
    ml = MultiLabelAccuracy()
    ml.update(torch.tensor([[1.0, -1.0], [1.0, 1.0]]), torch.tensor([[1.0, 0.0], [1.0, 0.0]]))
    assert ml.compute() == pytest.approx(0.5)
    box = BoxIoU()
    box.update(torch.tensor([[0.0, 0.0, 0.5, 0.5]]), torch.tensor([[0.25, 0.0, 0.75, 0.5]]))
    assert box.compute() == pytest.approx(1 / 3)  # intersection 0.125, union 0.375
