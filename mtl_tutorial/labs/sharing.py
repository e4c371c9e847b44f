"""Lab 2: hard sharing, its training step, the soft-sharing penalty and a cross-stitch unit.

Each ``check_*`` runs the student's code on tiny random models and inputs, compares it with
:mod:`mtl_tutorial.models.sharing` and checks the property chapter 2 derives: gradient flow
into the shared encoder, one backward pass on the summed loss, a penalty that is zero,
symmetric and quadratic, a unit that is linear and starts at the identity.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..models import sharing as reference
from ..tasks import Task, classification
from ..weighting import EqualWeighting
from .checking import LabCheckError, as_tensor, expect_close, passed, random_generator, student_call

__all__ = ["check_cross_stitch", "check_hard_sharing", "check_soft_penalty", "check_train_step"]

WIDTHS, FEATURES = (4, 8), 16  # a tiny encoder: fast checks, same structure
_count = reference.count_parameters


def _isolated(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    """Run ``check`` with a fixed seed, leaving the student's global random state as it was."""
    @functools.wraps(check)
    def run(answer: Any) -> bool:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return check(answer)
    return run


def _images(n: int, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(n, 1, 28, 28, generator=gen)


def _labels(tasks: Sequence[Task], n: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    return {t.name: torch.randint(0, t.out_channels, (n,), generator=gen) for t in tasks}


def _grad_size(params: Sequence[nn.Parameter]) -> float:
    return sum(float(p.grad.abs().sum()) for p in params if p.grad is not None)


# Task 1: the hard-sharing network
def _build_hard(cls: Callable[..., Any], tasks: list[Task], task: str) -> tuple[nn.Module, nn.ModuleDict]:
    model = student_call(cls, task, tasks, widths=WIDTHS, features=FEATURES)
    if not isinstance(model, nn.Module):
        raise LabCheckError(f"{task}: {cls!r}(...) gave a {type(model).__name__}, not an nn.Module")
    if not isinstance(getattr(model, "encoder", None), nn.Module):
        raise LabCheckError(
            f"{task}: the model has no module `self.encoder`. In __init__, build the shared "
            "encoder once: self.encoder = ConvEncoder(widths=widths, features=features)."
        )
    heads = getattr(model, "heads", None)
    if not isinstance(heads, nn.ModuleDict):
        extra = " PyTorch does not see the parameters in a plain dict." if isinstance(heads, dict) else ""
        raise LabCheckError(
            f"{task}: expected self.heads to be an nn.ModuleDict with one nn.Linear per task "
            f"name, got {type(heads).__name__}.{extra}"
        )
    if sorted(heads.keys()) != sorted(t.name for t in tasks):
        raise LabCheckError(
            f"{task}: self.heads has keys {sorted(heads.keys())}, expected one head per task "
            f"name {sorted(t.name for t in tasks)} (use t.name for t in tasks)."
        )
    return model, heads


def _check_hard_structure(model: nn.Module, heads: nn.ModuleDict, tasks: list[Task], task: str) -> None:
    ref = reference.HardSharingNet(tasks, widths=WIDTHS, features=FEATURES)
    got_n, want_n = _count(model), _count(ref)
    if got_n != want_n:
        enc, ref_enc = _count(model.get_submodule("encoder")), _count(ref.encoder)
        fix = ("Build one ConvEncoder(widths=widths, features=features), not one per task." if enc != ref_enc
               else "Each head is a single nn.Linear(features, t.out_channels), its own per task.")
        raise LabCheckError(
            f"{task}: with widths={WIDTHS}, features={FEATURES} and {len(tasks)} tasks your model "
            f"has {got_n} parameters, HardSharingNet has {want_n} (encoder: yours {enc}, its "
            f"{ref_enc}; heads: yours {got_n - enc}, its {want_n - ref_enc}). {fix}"
        )
    seen: set[int] = {id(p) for p in model.get_submodule("encoder").parameters()}
    for name, head in heads.items():
        ids = {id(p) for p in head.parameters()}
        if ids & seen:
            raise LabCheckError(f"{task}: head {name!r} shares parameters with the encoder or "
                                "another head; each task needs its own nn.Linear.")
        seen |= ids


def _check_hard_forward(model: nn.Module, heads: nn.ModuleDict, tasks: list[Task], task: str,
                        gen: torch.Generator) -> None:
    x, names, calls = _images(5, gen), sorted(t.name for t in tasks), []
    handle = model.get_submodule("encoder").register_forward_hook(lambda *_: calls.append(1))
    try:
        out = student_call(model, task, x)
    finally:
        handle.remove()
    if out is None or out is Ellipsis:
        raise LabCheckError(f"{task}: forward returned {out!r}; return a dict {{task name: output}}.")
    if not isinstance(out, dict) or sorted(out) != names:
        keys = sorted(out) if isinstance(out, dict) else type(out).__name__
        raise LabCheckError(f"{task}: forward must return a dict with one entry per task {names}, got {keys}.")
    if len(calls) != 1:
        raise LabCheckError(f"{task}: self.encoder ran {len(calls)} times for one batch. Run it once, "
                            "z = self.encoder(x), and give z to every head: that is what is shared.")
    with torch.no_grad():
        z = model.get_submodule("encoder")(x)
    for name in names:
        expect_close(out[name], heads[name](z), f"{task} output {name!r}",
                     hint="Run the encoder once, z = self.encoder(x), then self.heads[name](z) per task.")


def _check_hard_gradients(model: nn.Module, heads: nn.ModuleDict, tasks: list[Task], task: str,
                          gen: torch.Generator) -> None:
    x, y = _images(6, gen), _labels(tasks, 6, gen)
    encoder = list(model.get_submodule("encoder").parameters())
    for t in tasks:
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x)[t.name], y[t.name]).backward()
        if _grad_size(encoder) == 0.0:
            raise LabCheckError(
                f"{task}: the loss of task {t.name!r} sends no gradient into self.encoder, so the "
                "encoder is not shared with that task. Feed the head the encoder's output "
                "itself (no .detach(), no torch.no_grad())."
            )
        for name, head in heads.items():
            if (_grad_size(list(head.parameters())) > 0.0) != (name == t.name):
                what = "does not reach its own head" if name == t.name else "also reaches the head"
                raise LabCheckError(f"{task}: the loss of task {t.name!r} {what} {name!r}; each "
                                    "output must come from its own head only.")
    model.zero_grad(set_to_none=True)


@_isolated
def check_hard_sharing(cls: Callable[..., Any]) -> bool:
    """Task 1: ``cls(tasks, widths, features)`` is a hard-sharing net like ``HardSharingNet``."""
    task = "Task 1 (HardSharing)"
    gen = random_generator(10)
    digits = [classification("left"), classification("right")]
    odd = [classification("a", 3), classification("b", 5), classification("c", 2)]
    for tasks in (digits, odd):
        model, heads = _build_hard(cls, tasks, task)
        _check_hard_structure(model, heads, tasks, task)
        _check_hard_forward(model, heads, tasks, task, gen)
        _check_hard_gradients(model, heads, tasks, task, gen)
    return passed("Task 1", "one shared encoder, separate heads, HardSharingNet's parameter "
                  "count, and every task's loss reaches the encoder")


# Task 2: the training step
class _SGD:
    """Plain SGD that logs its calls (no torch.optim: the checks stay fast and transparent)."""

    def __init__(self, params: Any, lr: float, events: list[str]):
        self.params, self.lr, self.events = list(params), lr, events

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.events.append("zero_grad")
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        self.events.append("step")
        with torch.no_grad():
            for p in (p for p in self.params if p.grad is not None):
                p -= self.lr * p.grad


def _losses(model: nn.Module, batch: tuple[torch.Tensor, dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    x, y = batch
    return {name: F.cross_entropy(out, y[name]) for name, out in model(x).items()}


def _flat(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def _sgd_delta(model: nn.Module, batch: Any, lr: float, backward: Callable[..., Any],
               stale: float = 0.0) -> torch.Tensor:
    """The change of all parameters after ``backward(losses)`` and one SGD step."""
    model = copy.deepcopy(model)
    before = _flat(model)
    for p in model.parameters():
        p.grad = torch.full_like(p, stale) if stale else None
    backward(_losses(model, batch))
    _SGD(model.parameters(), lr, []).step()
    return _flat(model) - before


def _log_passes(events: list[str]) -> Callable[..., None]:
    """A forward hook that logs the encoder's forward and backward passes in ``events``."""
    def on_forward(_m: nn.Module, _i: Any, out: torch.Tensor) -> None:
        events.append("forward")
        if out.requires_grad:
            out.register_hook(lambda _g: events.append("backward"))
    return on_forward


@_isolated
def check_train_step(fn: Callable[..., Any]) -> bool:
    """Task 2: ``fn(model, batch, optimizer)`` sums the task losses, back-propagates once, steps."""
    task = "Task 2 (train_step)"
    gen = random_generator(20)
    tasks = [classification("left"), classification("right")]
    ref = reference.HardSharingNet(tasks, widths=WIDTHS, features=FEATURES)
    batch = (_images(8, gen), _labels(tasks, 8, gen))
    model, lr, stale, events = copy.deepcopy(ref), 0.1, 0.5, list[str]()
    model.eval()  # as after an evaluation: the step must switch back to training mode
    for p in model.parameters():  # a gradient left over from an earlier step
        p.grad = torch.full_like(p, stale)
    before = _flat(model)
    handle = model.encoder.register_forward_hook(_log_passes(events))
    try:
        out = student_call(fn, task, model, batch, _SGD(model.parameters(), lr, events))
    finally:
        handle.remove()
    if out is None or out is Ellipsis:
        raise LabCheckError(f"{task}: got {out!r}. Return the dict of task losses, e.g. "
                            "{name: loss.item() for name, loss in losses.items()}.")
    if not isinstance(out, dict) or sorted(out) != ["left", "right"]:
        keys = sorted(out) if isinstance(out, dict) else type(out).__name__
        raise LabCheckError(f"{task}: return a dict with one loss per task ['left', 'right'], got {keys}.")
    want_losses = _losses(ref, batch)
    for name in ("left", "right"):
        expect_close(as_tensor(out[name], f"{task} loss {name!r}"), want_losses[name], f"{task} loss {name!r}",
                     hint="Return each task's cross-entropy on this batch (computed before the step).")
    problems: list[tuple[Callable[[], bool], str]] = [
        (lambda: events.count("forward") != 1, f"the model ran {events.count('forward')} times; run it once per step"),
        (lambda: events.count("backward") != 1, f"backward went through the encoder {events.count('backward')} "
         "times, expected once. Add the task losses into one total and call total.backward() once"),
        (lambda: "step" not in events, "optimizer.step() was never called, so the parameters did not change"),
        (lambda: events.index("step") < events.index("backward"), f"optimizer.step() ran before backward ({events})"),
        (lambda: "zero_grad" in events[events.index("backward"):events.index("step")],
         "optimizer.zero_grad() ran between backward and step and erased the gradients; call it first"),
        (lambda: not model.training, "the model is still in eval mode; call model.train() first"),
    ]
    for failed, message in problems:
        if failed():
            raise LabCheckError(f"{task}: {message}.")
    package = EqualWeighting()  # the trainer's default: back-propagate the sum of the task losses
    got, want = _flat(model) - before, _sgd_delta(ref, batch, lr, lambda d: package.backward(d, ref))
    if not torch.allclose(got, want, atol=1e-6, rtol=1e-4):
        for message, backward, old in (
            ("the update still contains the gradient of an earlier step: call optimizer.zero_grad() "
             "before backward", lambda d: package.backward(d, ref), stale),
            ("the update is half the expected one: sum the task losses, do not average them",
             lambda d: (sum(d.values()) / len(d)).backward(), 0.0),
            ("the update follows the 'left' loss only: add every task's loss", lambda d: d["left"].backward(), 0.0),
        ):
            if torch.allclose(got, _sgd_delta(ref, batch, lr, backward, old), atol=1e-6, rtol=1e-4):
                raise LabCheckError(f"{task}: {message}.")
        expect_close(got, want, f"{task} parameter update (one SGD step, lr={lr})",
                     hint="zero_grad, forward, cross-entropy per task, sum, backward, step.")
    trained, totals = copy.deepcopy(ref), []  # a few steps on one fixed batch must lower the loss
    for _ in range(6):
        losses = student_call(fn, task, trained, batch, _SGD(trained.parameters(), 0.2, []))
        totals.append(sum(float(as_tensor(v, task)) for v in losses.values()))
    if not totals[-1] < totals[0]:
        raise LabCheckError(f"{task}: six steps on one batch did not lower the loss: {totals}.")
    return passed("Task 2", "one forward, one backward on the summed loss, the same update as "
                  "the package; the loss falls on a fixed batch")


# Task 3: the soft-sharing penalty
@_isolated
def check_soft_penalty(fn: Callable[..., Any]) -> bool:
    """Task 3: ``fn(net_a, net_b, weight)`` equals ``SoftSharingNet.penalty`` and behaves like it."""
    task = "Task 3 (soft_sharing_penalty)"
    hint = "weight * sum over encoder parameters of ((p_a - p_b) ** 2).sum()."
    tasks, weight = [classification("left"), classification("right")], 0.01
    soft = reference.SoftSharingNet(tasks, penalty_weight=weight, widths=WIDTHS, features=FEATURES)
    a, b = soft.columns["left"], soft.columns["right"]

    def penalty(net_a: nn.Module, net_b: nn.Module, w: float, what: str) -> torch.Tensor:
        value = student_call(fn, task, net_a, net_b, w)
        as_tensor(value, task)  # a clear message for None or `...`
        if not isinstance(value, torch.Tensor) or value.dim() != 0:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise LabCheckError(f"{task}: expected a scalar tensor (0-dim), got {shape} ({what}).")
        return value

    got = penalty(a, b, weight, "two different encoders")
    want = soft.penalty()
    pairs = list(zip(a.parameters(), b.parameters(), strict=True))
    enc = list(zip(a.get_submodule("encoder").parameters(), b.get_submodule("encoder").parameters(), strict=True))
    wrong = {
        "you compared every parameter, heads included; only the encoders are tied":
            weight * sum(((p - q) ** 2).sum() for p, q in pairs),
        "the weight is missing": soft.distance(),
        "you used the norm, not the squared norm": weight * sum(torch.linalg.vector_norm(p - q) for p, q in enc),
        "you averaged the squared differences; sum them": weight * sum(((p - q) ** 2).mean() for p, q in enc),
    }
    if not torch.allclose(got.detach().double(), want.detach().double(), rtol=1e-4):
        for message, value in wrong.items():
            if torch.allclose(got.detach().double(), torch.as_tensor(value).detach().double(), rtol=1e-4):
                raise LabCheckError(f"{task}: {message} (got {float(got.detach()):.6g}, expected {float(want.detach()):.6g}).")
        expect_close(got, want, f"{task} on two random encoders", hint=hint)
    if not got.requires_grad:
        raise LabCheckError(f"{task}: the penalty does not require grad, so the trainer could not pull the "
                            "encoders together. Build it from the parameters (no .item(), .detach(), no_grad).")
    soft.zero_grad(set_to_none=True)
    got.backward()
    for (pa, pb), name in zip(enc, dict(a.get_submodule("encoder").named_parameters()), strict=True):
        expect_close(pa.grad, 2 * weight * (pa - pb).detach(), f"{task} gradient for encoder.{name}",
                     hint="The gradient of weight * ||a - b||^2 with respect to a is 2 * weight * (a - b).")
    expect_close(penalty(a, copy.deepcopy(a), weight, "identical encoders"), 0.0, f"{task} for identical encoders", hint=hint)
    expect_close(penalty(b, a, weight, "swapped"), got, f"{task} with the two networks swapped", hint=hint)
    expect_close(penalty(a, b, 3 * weight, "weight x3"), 3 * want, f"{task} with three times the weight", hint=hint)
    far = copy.deepcopy(b)  # twice as far from a in every encoder parameter
    with torch.no_grad():
        for (pa, pb), pf in zip(enc, far.get_submodule("encoder").parameters(), strict=True):
            pf.copy_(pa + 2 * (pb - pa))
    expect_close(penalty(a, far, weight, "twice as far"), 4 * want,
                 f"{task} with the encoders twice as far apart (a squared distance grows 4x)", hint=hint)
    return passed("Task 3", "equals SoftSharingNet.penalty with its gradient; zero for identical "
                  "encoders, symmetric, linear in the weight, quadratic in the distance")


# Task 4: the cross-stitch unit
def _unit(cls: Callable[..., Any], num_tasks: int, init_self: float, task: str) -> nn.Module:
    unit = student_call(cls, task, num_tasks, init_self)
    alpha = getattr(unit, "alpha", None)
    if not isinstance(alpha, nn.Parameter):
        got = "nothing" if alpha is None else type(alpha).__name__
        raise LabCheckError(f"{task}: self.alpha must be an nn.Parameter (so that it is trained), got "
                            f"{got}. Build the T x T tensor, then self.alpha = nn.Parameter(tensor).")
    ref = reference.CrossStitchUnit(num_tasks, init_self).alpha
    expect_close(alpha, ref, f"{task} initial alpha for T={num_tasks}, init_self={init_self}",
                 hint="init_self on the diagonal, (1 - init_self) / (T - 1) everywhere else.")
    return unit


def _mix(unit: nn.Module, xs: list[torch.Tensor], task: str) -> list[torch.Tensor]:
    out = student_call(unit, task, xs)
    if out is None or out is Ellipsis:
        raise LabCheckError(f"{task}: forward returned {out!r}; return the list of T mixed tensors.")
    if not isinstance(out, list | tuple) or len(out) != len(xs):
        raise LabCheckError(f"{task}: forward must return a list of {len(xs)} tensors, got {type(out).__name__}.")
    return list(out)


@_isolated
def check_cross_stitch(cls: Callable[..., Any]) -> bool:
    """Task 4: ``cls(num_tasks, init_self)`` mixes activations like ``CrossStitchUnit``."""
    task = "Task 4 (CrossStitch)"
    gen = random_generator(40)
    for num_tasks, init_self in ((2, 1.0), (2, 0.9), (3, 0.7)):
        unit, ref = _unit(cls, num_tasks, init_self, task), reference.CrossStitchUnit(num_tasks, init_self)
        xs = [torch.randn(4, 3, 5, 5, generator=gen) for _ in range(num_tasks)]
        kept = [x.clone() for x in xs]
        with torch.no_grad():  # a trained, non-symmetric alpha
            mixed = torch.randn(num_tasks, num_tasks, generator=gen)
            unit.get_parameter("alpha").copy_(mixed)
            ref.alpha.copy_(mixed)
        out, want = _mix(unit, xs, task), ref(xs)
        if any(not torch.equal(x, k) for x, k in zip(xs, kept, strict=True)):
            raise LabCheckError(f"{task}: forward changed its inputs in place; build new tensors.")
        transposed = torch.einsum("ji,j...->i...", mixed, torch.stack(xs))  # alpha is not symmetric
        if all(torch.allclose(torch.as_tensor(o), t, atol=1e-5) for o, t in zip(out, transposed, strict=True)):
            raise LabCheckError(f"{task}: you mixed with the transpose of alpha. Output i is "
                                "sum_j alpha[i, j] * xs[j]: row i holds the weights of output i.")
        for i in range(num_tasks):
            expect_close(out[i], want[i], f"{task} output {i} (T={num_tasks}, random alpha)",
                         hint="out_i = sum_j alpha[i, j] * xs[j].")
        if not all(isinstance(o, torch.Tensor) and o.requires_grad for o in out):
            raise LabCheckError(f"{task}: the outputs do not require grad, so alpha could not be trained. "
                                "Compute them from self.alpha (no .data, .detach() or torch.no_grad()).")
        sum(((o * w).sum() for o, w in zip(out, kept, strict=True)), torch.zeros(())).backward()
        sum(((o * w).sum() for o, w in zip(want, kept, strict=True)), torch.zeros(())).backward()
        expect_close(unit.get_parameter("alpha").grad, ref.alpha.grad, f"{task} gradient of alpha",
                     hint="Compute the outputs from self.alpha itself, so that gradients reach it.")
    xs = [torch.randn(2, 4, 3, 3, generator=gen) for _ in range(2)]
    ys = [torch.randn(2, 4, 3, 3, generator=gen) for _ in range(2)]
    same = _mix(_unit(cls, 2, 1.0, task), xs, task)
    for i in range(2):
        expect_close(same[i], xs[i], f"{task} output {i} with init_self=1 (the identity)")
    unit = _unit(cls, 2, 0.8, task)
    both = _mix(unit, [2 * x - 3 * y for x, y in zip(xs, ys, strict=True)], task)
    parts = (_mix(unit, xs, task), _mix(unit, ys, task))
    for i in range(2):
        expect_close(both[i], 2 * parts[0][i] - 3 * parts[1][i], f"{task} linearity, output {i}",
                     hint="The unit must be linear in its inputs: no bias, no activation.")
    tasks = [classification("left"), classification("right")]
    net = reference.CrossStitchNet(tasks, 0.9, widths=WIDTHS, features=FEATURES)
    mine = copy.deepcopy(net)
    mine.stitches = nn.ModuleList([_unit(cls, 2, 0.9, task) for _ in range(2)])
    got, want_out = mine(x := _images(3, gen)), net(x)
    for t in tasks:
        expect_close(got[t.name], want_out[t.name], f"{task} inside CrossStitchNet, output {t.name!r}")
    return passed("Task 4", "initial alpha, mixing, gradient of alpha as CrossStitchUnit; identity "
                  "at init_self=1, linear, and it works inside CrossStitchNet")
