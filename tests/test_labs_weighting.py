"""Lab 3's checks accept correct answers and reject typical wrong ones with a useful message."""

from __future__ import annotations

import pytest
import torch

from mtl_tutorial.labs import weighting as checks
from mtl_tutorial.labs.checking import LabCheckError, LabNotReadyError, ready
from mtl_tutorial.weighting.dwa import dwa_weights
from mtl_tutorial.weighting.mgda import min_norm_weights
from mtl_tutorial.weighting.pcgrad import pcgrad_project


def good_uncertainty(losses, log_vars):
    return (torch.exp(-log_vars) * losses + log_vars).sum()


def good_mgda(g1, g2):
    return float(min_norm_weights(torch.stack([g1, g2]))[0])


def good_pcgrad(g1, g2):
    out = pcgrad_project(torch.stack([g1, g2]))
    return out[0], out[1]


def test_correct_answers_pass():
    assert checks.check_dwa(dwa_weights)
    assert checks.check_uncertainty_loss(good_uncertainty)
    assert checks.check_mgda_two_tasks(good_mgda)
    assert checks.check_pcgrad_two_tasks(good_pcgrad)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda p, b, t=2.0: None, "no answer yet"),
        (lambda p, b, t=2.0: torch.softmax(torch.tensor(p) / torch.tensor(b) / t, 0), "sum to"),
        (lambda p, b, t=2.0: 2 * torch.softmax(torch.tensor(b) / torch.tensor(p) / t, 0), "differs"),
        (lambda p, b, t=2.0: len(p) * torch.softmax(torch.tensor(p) / torch.tensor(b), 0), "differs"),
    ],
)
def test_dwa_rejects(wrong, message):
    with pytest.raises(LabCheckError, match=message):
        checks.check_dwa(wrong)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda loss, s: (torch.exp(-s) * loss).sum(), "differs"),  # no regulariser: weights -> 0
        (lambda loss, s: (torch.exp(-s) * loss + s), "scalar"),  # not summed
        (lambda loss, s: (torch.exp(-s) * loss + s).sum().detach(), "does not require grad"),
        (lambda loss, s: (torch.exp(s) * loss + s).sum(), "differs"),  # wrong sign
        (lambda loss, s: (torch.exp(-s) * loss.detach() + s).sum(), "gradient with respect to the losses"),
    ],
)
def test_uncertainty_rejects(wrong, message):
    with pytest.raises(LabCheckError, match=message):
        checks.check_uncertainty_loss(wrong)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda a, b: float((b - a) @ b / ((a - b) @ (a - b))), "outside"),  # no clipping
        (lambda a, b: 1 - good_mgda(a, b), "differs"),  # weight on the wrong gradient
        (lambda a, b: 0.5, "differs"),
        (lambda a, b: "alpha", "expected numbers"),
    ],
)
def test_mgda_rejects(wrong, message):
    with pytest.raises(LabCheckError, match=message):
        checks.check_mgda_two_tasks(wrong)


def test_mgda_rejects_nan_for_equal_gradients():
    def unsafe(a, b):
        if torch.equal(a, b):
            return float("nan")
        return good_mgda(a, b)

    with pytest.raises(LabCheckError, match="g1 == g2"):
        checks.check_mgda_two_tasks(unsafe)


def project_always(g1, g2):  # projects even when the gradients agree
    dot = g1 @ g2
    return g1 - dot / (g2 @ g2) * g2, g2 - dot / (g1 @ g1) * g1


def project_sequential(g1, g2):  # projects g2 against the already projected g1
    if g1 @ g2 >= 0:
        return g1, g2
    p1 = g1 - (g1 @ g2) / (g2 @ g2) * g2
    return p1, g2 - (g2 @ p1) / (p1 @ p1 + 1e-12) * p1


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (project_always, "no conflict"),
        (project_sequential, "conflict"),
        (lambda a, b: a + b, "pair"),
    ],
)
def test_pcgrad_rejects(wrong, message):
    with pytest.raises(LabCheckError, match=message):
        checks.check_pcgrad_two_tasks(wrong)


def test_student_errors_are_reported_not_raised():
    def broken(loss, s):
        return loss @ torch.ones(99)

    with pytest.raises(LabCheckError, match="your code raised RuntimeError"):
        checks.check_uncertainty_loss(broken)


def test_ready_stops_with_the_task_message():
    with pytest.raises(LabNotReadyError, match="Task 2"):
        ready(lambda: checks.check_uncertainty_loss(lambda loss, s: None))
    ready(lambda: checks.check_dwa(dwa_weights))  # a passing check is silent


def test_adapters_train_like_the_package(capsys):
    from mtl_tutorial.models.sharing import HardSharingNet
    from mtl_tutorial.tasks import classification
    from mtl_tutorial.trainer import Trainer

    tasks = [classification("left"), classification("right")]
    x = torch.randn(16, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    y = {"left": torch.arange(16) % 10, "right": (torch.arange(16) + 3) % 10}
    for weighting in (
        checks.StudentUncertainty(["left", "right"], good_uncertainty),
        checks.StudentPCGrad(["left", "right"], good_pcgrad),
    ):
        torch.manual_seed(0)
        trainer = Trainer(HardSharingNet(tasks, widths=(4, 8), features=16), tasks, weighting, lr=1e-2)
        first = trainer.step((x, y))
        for _ in range(30):
            last = trainer.step((x, y))
        assert last["loss_left"] + last["loss_right"] < 0.5 * (first["loss_left"] + first["loss_right"])
    assert weighting.steps == 31 and 0 <= weighting.conflicts <= 31
    assert capsys.readouterr().out == ""
