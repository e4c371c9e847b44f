"""The trainer's task-gradient cosine probe."""

import torch
from torch import nn

from mtl_tutorial.trainer import task_gradient_cosine


class TwoHeads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.shared = nn.Linear(2, 2, bias=False)

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.shared.parameters())


def _losses(model: TwoHeads, a: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
    x = torch.ones(1, 2)
    h = model.shared(x)
    return {"a": (h * a).sum(), "b": (h * b).sum()}


def test_cosine_matches_hand_computation() -> None:
    # d/dW sum(W x * a) = a x^T; with x = (1, 1) the flattened gradient is (a0, a0, a1, a1)
    model = TwoHeads()
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([1.0, 1.0])
    expected = float(torch.nn.functional.cosine_similarity(a, b, dim=0))
    assert abs(task_gradient_cosine(_losses(model, a, b), model) - expected) < 1e-6


def test_opposite_gradients_give_minus_one_and_leave_grad_untouched() -> None:
    model = TwoHeads()
    a = torch.tensor([1.0, -2.0])
    cos = task_gradient_cosine(_losses(model, a, -a), model)
    assert abs(cos + 1.0) < 1e-6
    assert model.shared.weight.grad is None


def test_no_shared_parameters_or_single_task_gives_none() -> None:
    model = TwoHeads()
    losses = _losses(model, torch.ones(2), torch.ones(2))
    assert task_gradient_cosine({"a": losses["a"]}, model) is None
    assert task_gradient_cosine(losses, nn.Linear(2, 2)) is None
