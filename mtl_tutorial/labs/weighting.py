"""Lab 3: loss weighting and gradient balancing, written by the student.

The student writes DWA's weights, the uncertainty-weighted loss, MGDA's two-task closed
form and PCGrad's projection for two tasks; each ``check_*`` compares them with
:mod:`mtl_tutorial.weighting` on random inputs and checks a property of the method. The
two adapters plug the student's functions into the package's
:class:`~mtl_tutorial.trainer.Trainer` for the lab's training run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from ..weighting.base import Weighting
from ..weighting.dwa import dwa_weights
from ..weighting.gradients import (
    add_to_grad,
    backward_task_specific,
    shared_parameters,
    task_gradients,
)
from ..weighting.mgda import min_norm_weights
from ..weighting.pcgrad import pcgrad_project
from ..weighting.uncertainty import UncertaintyWeighting
from .checking import (
    LabCheckError,
    as_tensor,
    expect_close,
    passed,
    random_generator,
    student_call,
)

__all__ = [
    "StudentPCGrad",
    "StudentUncertainty",
    "check_dwa",
    "check_mgda_two_tasks",
    "check_pcgrad_two_tasks",
    "check_uncertainty_loss",
]


def check_dwa(fn: Callable[..., Any]) -> bool:
    """Task 1: ``fn(previous, before, temperature)`` gives DWA's weights."""
    task = "Task 1 (dwa_weights)"
    gen = random_generator(1)
    for trial in range(20):
        n = 2 + trial % 3
        before = (0.2 + 2 * torch.rand(n, generator=gen)).tolist()
        previous = (0.2 + 2 * torch.rand(n, generator=gen)).tolist()
        tau = [2.0, 1.0, 0.5][trial % 3]
        got = student_call(fn, task, previous, before, tau)
        got_t = as_tensor(got, task)
        if got_t.shape != (n,):
            raise LabCheckError(f"{task}: expected one weight per task ({n}), got shape {tuple(got_t.shape)}")
        if abs(float(got_t.sum()) - n) > 1e-5:
            raise LabCheckError(
                f"{task}: the weights must sum to the number of tasks T = {n}, yours sum to "
                f"{float(got_t.sum()):.4f}. Did you forget the factor T in T * softmax(r / tau)?"
            )
        expect_close(
            got_t,
            dwa_weights(previous, before, tau),
            f"{task} with previous={[round(v, 3) for v in previous]}, "
            f"before={[round(v, 3) for v in before]}, tau={tau}",
            hint="r_t = L_t(k-1) / L_t(k-2) is previous / before, and the softmax is over r / tau.",
        )
    same = as_tensor(student_call(fn, task, [0.5, 2.0, 1.0], [0.5, 2.0, 1.0], 2.0), task)
    expect_close(same, [1.0, 1.0, 1.0], f"{task} when no loss changed", hint="Equal ratios give equal weights.")
    return passed("Task 1", "DWA matches the package on 20 random cases; weights sum to T")


def check_uncertainty_loss(fn: Callable[..., Any]) -> bool:
    """Task 2: ``fn(losses, log_vars)`` is the scalar :math:`\\sum_t e^{-s_t} L_t + s_t`."""
    task = "Task 2 (uncertainty_loss)"
    gen = random_generator(2)
    for _ in range(10):
        n = int(torch.randint(2, 5, (1,), generator=gen))
        losses = (0.1 + 3 * torch.rand(n, generator=gen)).requires_grad_()
        log_vars = torch.randn(n, generator=gen).requires_grad_()
        got = student_call(fn, task, losses, log_vars)
        if not isinstance(got, torch.Tensor) or got.dim() != 0:
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise LabCheckError(f"{task}: expected a scalar tensor (0-dim), got {shape}. Sum over the tasks.")
        if not got.requires_grad:
            raise LabCheckError(
                f"{task}: the result does not require grad, so training could not learn "
                "log_vars. Build it from the tensors you were given (no .item(), no .detach())."
            )
        got.backward()
        # a gradient that never arrived (a detached input) is zero: the comparison says so
        mine = tuple(
            torch.zeros_like(t) if t.grad is None else t.grad.clone() for t in (losses, log_vars)
        )
        # the package's method, on copies of the same inputs, gives the reference gradients
        ref_losses = losses.detach().clone().requires_grad_()
        method = UncertaintyWeighting([f"t{i}" for i in range(n)])
        method.log_vars.data = log_vars.detach().clone()
        method.combine(list(ref_losses), nn.Identity(), None)
        assert ref_losses.grad is not None and method.log_vars.grad is not None
        want = float((torch.exp(-log_vars) * losses + log_vars).sum().detach())
        expect_close(got, want, f"{task} value", hint="The loss is sum_t exp(-s_t) * L_t + s_t.")
        expect_close(mine[0], ref_losses.grad, f"{task} gradient with respect to the losses",
                     hint="Each task's weight is exp(-s_t).")
        expect_close(mine[1], method.log_vars.grad, f"{task} gradient with respect to log_vars",
                     hint="d/ds_t of exp(-s_t) L_t + s_t is 1 - exp(-s_t) L_t.")
    # the property behind the method: for a fixed loss, the best s_t is log L_t
    loss = torch.tensor([0.5, 2.0])
    s = torch.log(loss).requires_grad_()
    student_call(fn, task, loss, s).backward()
    assert s.grad is not None
    expect_close(s.grad, [0.0, 0.0], f"{task} gradient at s = log L", hint="At s_t = log L_t the gradient must vanish.")
    return passed("Task 2", "value and both gradients match the package; optimum at s = log L")


def check_mgda_two_tasks(fn: Callable[..., Any]) -> bool:
    """Task 3: ``fn(g1, g2)`` is MGDA's weight on ``g1`` (the min-norm point of the segment)."""
    task = "Task 3 (mgda_two_tasks)"
    gen = random_generator(3)
    for trial in range(30):
        d = 2 + trial % 5
        g1, g2 = torch.randn(d, generator=gen), torch.randn(d, generator=gen)
        if trial % 6 == 0:  # one gradient much larger: the solution sits at an end
            g1 = 10 * g1
        got = as_tensor(student_call(fn, task, g1.clone(), g2.clone()), task).reshape(-1)
        if got.numel() != 1:
            raise LabCheckError(f"{task}: return one number, the weight alpha on g1 (got {got.numel()} values)")
        alpha = float(got[0])
        if not 0.0 <= alpha <= 1.0:
            raise LabCheckError(
                f"{task}: alpha = {alpha:.4f} is outside [0, 1]; clip the unconstrained optimum "
                "to the segment between g2 (alpha = 0) and g1 (alpha = 1)."
            )
        want = float(min_norm_weights(torch.stack([g1, g2]).double())[0])
        expect_close(alpha, want, f"{task} with g1={g1.tolist()}, g2={g2.tolist()}",
                     hint="alpha = clip((g2 - g1) . g2 / |g1 - g2|^2, 0, 1).", atol=1e-4)
        swapped = float(as_tensor(student_call(fn, task, g2.clone(), g1.clone()), task).reshape(-1)[0])
        if abs(swapped - (1 - alpha)) > 1e-4:
            raise LabCheckError(
                f"{task}: swapping the tasks must swap the weights (alpha -> 1 - alpha); "
                f"got {alpha:.4f} and {swapped:.4f}"
            )
    same = float(as_tensor(student_call(fn, task, torch.ones(3), torch.ones(3)), task).reshape(-1)[0])
    if not (math.isfinite(same) and 0 <= same <= 1):
        raise LabCheckError(
            f"{task}: for g1 == g2 the denominator |g1 - g2|^2 is 0; return any weight in "
            f"[0, 1] (e.g. 0.5) instead of {same}"
        )
    return passed("Task 3", "the closed form matches the package on 30 pairs, is symmetric and safe for g1 == g2")


def _pair(value: Any, task: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise LabCheckError(f"{task}: return a pair (g1_projected, g2_projected), got {type(value).__name__}")
    return as_tensor(value[0], task).reshape(-1), as_tensor(value[1], task).reshape(-1)


def check_pcgrad_two_tasks(fn: Callable[..., Any]) -> bool:
    """Task 4: ``fn(g1, g2)`` returns PCGrad's projected pair ``(g1', g2')``."""
    task = "Task 4 (pcgrad_two_tasks)"
    gen = random_generator(4)
    conflicts = 0
    for trial in range(30):
        d = 2 + trial % 4
        g1, g2 = torch.randn(d, generator=gen), torch.randn(d, generator=gen)
        conflict = float(g1 @ g2) < 0
        conflicts += conflict
        p1, p2 = _pair(student_call(fn, task, g1.clone(), g2.clone()), task)
        ref = pcgrad_project(torch.stack([g1, g2]).double())
        what = f"{task} with g1={[round(v, 3) for v in g1.tolist()]}, g2={[round(v, 3) for v in g2.tolist()]}"
        if not conflict:
            expect_close(torch.stack([p1, p2]), torch.stack([g1, g2]), what + " (no conflict)",
                         hint="Gradients that do not conflict (g1 . g2 >= 0) stay as they are.")
            continue
        expect_close(torch.stack([p1, p2]), ref, what + " (conflict)",
                     hint="Project each gradient on the normal plane of the OTHER task's original gradient.")
        if abs(float(p1 @ g2.double())) > 1e-4 or abs(float(p2 @ g1.double())) > 1e-4:
            raise LabCheckError(f"{task}: after projection g1' . g2 and g2' . g1 must be 0")
    assert conflicts > 5  # the random cases must exercise both branches
    return passed("Task 4", "projections match the package on 30 pairs, conflicting and not")


class StudentUncertainty(Weighting):
    """Uncertainty weighting whose loss is the student's ``loss_fn(losses, log_vars)``."""

    name = "student-uncertainty"

    def __init__(self, task_names: Sequence[str], loss_fn: Callable[..., torch.Tensor]):
        self.task_names = list(task_names)
        self.loss_fn = loss_fn
        self.log_vars = nn.Parameter(torch.zeros(len(self.task_names)))

    def parameters(self) -> list[nn.Parameter]:
        return [self.log_vars]

    def combine(
        self, losses: list[torch.Tensor], model: nn.Module, representation: torch.Tensor | None
    ) -> torch.Tensor:
        self.loss_fn(torch.stack(losses), self.log_vars).backward()
        return torch.exp(-self.log_vars.detach())


class StudentPCGrad(Weighting):
    """PCGrad with the student's two-task projection; counts how often the tasks conflict."""

    name = "student-pcgrad"

    def __init__(self, task_names: Sequence[str], project_fn: Callable[..., Any]):
        if len(task_names) != 2:
            raise ValueError(f"the lab's PCGrad is for two tasks, got {list(task_names)}")
        self.task_names = list(task_names)
        self.project_fn = project_fn
        self.steps = 0
        self.conflicts = 0

    def combine(
        self, losses: list[torch.Tensor], model: nn.Module, representation: torch.Tensor | None
    ) -> list[float]:
        shared = shared_parameters(model, "pcgrad")
        grads = task_gradients(losses, shared)
        self.steps += 1
        self.conflicts += int(float(grads[0] @ grads[1]) < 0)
        p1, p2 = self.project_fn(grads[0], grads[1])
        add_to_grad(shared, p1 + p2)
        backward_task_specific(losses[0] + losses[1], model, shared)
        return [1.0, 1.0]
