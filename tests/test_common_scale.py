"""CommonScaleUncertainty: uncertainty weighting's log-variances and common scale, no ratio."""

from __future__ import annotations

import torch
from torch import nn

from mtl_tutorial.weighting.uncertainty import CommonScaleUncertainty, UncertaintyWeighting


def _losses(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    out = model(x)
    return [(out[:, 0] ** 2).mean(), (3.0 * out[:, 1] - 1.0).abs().mean()]


def test_log_variances_learn_exactly_as_in_uncertainty_weighting_and_the_model_sees_one_scale():
    torch.manual_seed(0)
    model, x = nn.Linear(4, 2), torch.randn(8, 4)
    s0 = torch.tensor([0.7, -1.2])
    control, reference = CommonScaleUncertainty(["a", "b"]), UncertaintyWeighting(["a", "b"])
    control.log_vars.data, reference.log_vars.data = s0.clone(), s0.clone()

    weights = control.combine(_losses(model, x), model, None)
    model_grad = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    reference.combine(_losses(model, x), model, None)

    common = torch.exp(-s0).mean()
    assert torch.allclose(weights, common.expand(2))
    assert torch.allclose(control.log_vars.grad, reference.log_vars.grad)  # same s dynamics
    model.zero_grad()
    (common * sum(_losses(model, x))).backward()  # the model: c * (L_a + L_b), one ratio
    for got, want in zip(model_grad, (p.grad for p in model.parameters()), strict=True):
        assert torch.allclose(got, want, atol=1e-6)


def test_the_log_variance_gradient_vanishes_at_log_l():
    model, x = nn.Linear(4, 2), torch.randn(8, 4)
    control = CommonScaleUncertainty(["a", "b"])
    with torch.no_grad():
        control.log_vars.data = torch.log(torch.stack(_losses(model, x)))
    control.combine(_losses(model, x), model, None)
    assert torch.allclose(control.log_vars.grad, torch.zeros(2), atol=1e-6)
