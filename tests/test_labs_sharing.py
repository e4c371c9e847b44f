"""Lab 2's checks pass on correct answers and fail, with a useful message, on typical mistakes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mtl_tutorial.labs import sharing as checks
from mtl_tutorial.labs.checking import LabCheckError
from mtl_tutorial.models.sharing import ConvEncoder, CrossStitchUnit, HardSharingNet

# ---- the lab's solutions, re-typed ----------------------------------------------------


class HardSharing(nn.Module):
    def __init__(self, tasks, widths=(16, 32), features=128):
        super().__init__()
        self.encoder = ConvEncoder(widths=widths, features=features)
        self.heads = nn.ModuleDict({t.name: nn.Linear(features, t.out_channels) for t in tasks})

    def forward(self, x):
        z = self.encoder(x)
        return {name: head(z) for name, head in self.heads.items()}


def train_step(model, batch, optimizer):
    x, targets = batch
    model.train()
    optimizer.zero_grad()
    outputs = model(x)
    losses = {name: F.cross_entropy(out, targets[name]) for name, out in outputs.items()}
    sum(losses.values()).backward()
    optimizer.step()
    return {name: loss.item() for name, loss in losses.items()}


def soft_sharing_penalty(net_a, net_b, weight):
    pairs = zip(net_a.encoder.parameters(), net_b.encoder.parameters(), strict=True)
    return weight * sum(((pa - pb) ** 2).sum() for pa, pb in pairs)


class CrossStitch(nn.Module):
    def __init__(self, num_tasks, init_self=1.0):
        super().__init__()
        off = (1.0 - init_self) / max(num_tasks - 1, 1)
        alpha = torch.full((num_tasks, num_tasks), off)
        alpha.fill_diagonal_(init_self)
        self.alpha = nn.Parameter(alpha)

    def forward(self, xs):
        return [sum(self.alpha[i, j] * x for j, x in enumerate(xs)) for i in range(len(xs))]


def test_correct_answers_and_the_package_pass():
    assert checks.check_hard_sharing(HardSharing)
    assert checks.check_hard_sharing(HardSharingNet)  # the package's own class
    assert checks.check_train_step(train_step)
    assert checks.check_soft_penalty(soft_sharing_penalty)
    assert checks.check_cross_stitch(CrossStitch)
    assert checks.check_cross_stitch(CrossStitchUnit)


def test_checks_leave_the_global_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    checks.check_hard_sharing(HardSharing)
    assert torch.equal(torch.rand(3), expected)


def _fails(check, answer, *words):
    with pytest.raises(LabCheckError) as info:
        check(answer)
    message = str(info.value)
    for word in words:
        assert word in message, message
    return message


# ---- Task 1 ---------------------------------------------------------------------------


class Blank(nn.Module):  # the student notebook as handed out
    def __init__(self, tasks, widths=(16, 32), features=128):
        super().__init__()

    def forward(self, x):
        return None


class PlainDictHeads(HardSharing):
    def __init__(self, tasks, widths=(16, 32), features=128):
        nn.Module.__init__(self)
        self.encoder = ConvEncoder(widths=widths, features=features)
        self.heads = {t.name: nn.Linear(features, t.out_channels) for t in tasks}  # type: ignore[assignment]


class EncoderPerTask(HardSharing):
    def __init__(self, tasks, widths=(16, 32), features=128):
        super().__init__(tasks, widths, features)
        self.heads = nn.ModuleDict({
            t.name: nn.Sequential(ConvEncoder(widths=widths, features=features), nn.Linear(features, t.out_channels))
            for t in tasks
        })

    def forward(self, x):
        return {name: head(x) for name, head in self.heads.items()}


class Detached(HardSharing):
    def forward(self, x):
        z = self.encoder(x)
        names = list(self.heads)
        return {n: self.heads[n](z if n == names[0] else z.detach()) for n in names}


class TenClassesHardCoded(HardSharing):
    def __init__(self, tasks, widths=(16, 32), features=128):
        super().__init__(tasks, widths, features)
        self.heads = nn.ModuleDict({t.name: nn.Linear(features, 10) for t in tasks})


class ListOutput(HardSharing):
    def forward(self, x):
        return list(super().forward(x).values())


class EncoderPerHead(HardSharing):
    def forward(self, x):
        return {name: head(self.encoder(x)) for name, head in self.heads.items()}


class MixedHeads(HardSharing):
    def forward(self, x):
        out = super().forward(x)
        names = list(out)
        return {**out, names[1]: out[names[1]] + out[names[0]]}


class SameHead(HardSharing):
    def __init__(self, tasks, widths=(16, 32), features=128):
        super().__init__(tasks, widths, features)
        head = nn.Linear(features, tasks[0].out_channels)
        self.heads = nn.ModuleDict({t.name: head for t in tasks})


def test_task1_mistakes_are_caught():
    _fails(checks.check_hard_sharing, Blank, "self.encoder")
    _fails(checks.check_hard_sharing, PlainDictHeads, "ModuleDict", "plain dict")
    _fails(checks.check_hard_sharing, EncoderPerTask, "parameters", "heads: yours 14740, its 340")
    _fails(checks.check_hard_sharing, Detached, "no gradient into self.encoder")
    _fails(checks.check_hard_sharing, TenClassesHardCoded, "3 tasks", "t.out_channels")
    _fails(checks.check_hard_sharing, ListOutput, "dict")
    _fails(checks.check_hard_sharing, EncoderPerHead, "ran 2 times")
    _fails(checks.check_hard_sharing, MixedHeads, "output 'right'", "self.heads[name](z)")
    _fails(checks.check_hard_sharing, SameHead, "its own per task")


# ---- Task 2 ---------------------------------------------------------------------------


def step_returns_none(model, batch, optimizer):
    train_step(model, batch, optimizer)


def step_mean(model, batch, optimizer):
    x, targets = batch
    model.train()
    optimizer.zero_grad()
    losses = {n: F.cross_entropy(o, targets[n]) for n, o in model(x).items()}
    (sum(losses.values()) / len(losses)).backward()
    optimizer.step()
    return {n: loss.item() for n, loss in losses.items()}


def step_no_zero_grad(model, batch, optimizer):
    x, targets = batch
    model.train()
    losses = {n: F.cross_entropy(o, targets[n]) for n, o in model(x).items()}
    sum(losses.values()).backward()
    optimizer.step()
    return {n: loss.item() for n, loss in losses.items()}


def step_two_backwards(model, batch, optimizer):
    x, targets = batch
    model.train()
    optimizer.zero_grad()
    losses = {n: F.cross_entropy(o, targets[n]) for n, o in model(x).items()}
    for loss in losses.values():
        loss.backward(retain_graph=True)
    optimizer.step()
    return {n: loss.item() for n, loss in losses.items()}


def step_no_optimizer_step(model, batch, optimizer):
    x, targets = batch
    model.train()
    optimizer.zero_grad()
    losses = {n: F.cross_entropy(o, targets[n]) for n, o in model(x).items()}
    sum(losses.values()).backward()
    return {n: loss.item() for n, loss in losses.items()}


def step_left_only(model, batch, optimizer):
    x, targets = batch
    model.train()
    optimizer.zero_grad()
    losses = {n: F.cross_entropy(o, targets[n]) for n, o in model(x).items()}
    losses["left"].backward()
    optimizer.step()
    return {n: loss.item() for n, loss in losses.items()}


def step_two_forwards(model, batch, optimizer):
    x, targets = batch
    model.train()
    optimizer.zero_grad()
    losses = {n: F.cross_entropy(model(x)[n], targets[n]) for n in targets}
    sum(losses.values()).backward()
    optimizer.step()
    return {n: loss.item() for n, loss in losses.items()}


def step_no_train_mode(model, batch, optimizer):
    x, targets = batch
    optimizer.zero_grad()
    losses = {n: F.cross_entropy(o, targets[n]) for n, o in model(x).items()}
    sum(losses.values()).backward()
    optimizer.step()
    return {n: loss.item() for n, loss in losses.items()}


def step_model_zero_grad(model, batch, optimizer):  # also correct: model.zero_grad() clears the same grads
    x, targets = batch
    model.train()
    model.zero_grad()
    losses = {n: F.cross_entropy(o, targets[n]) for n, o in model(x).items()}
    sum(losses.values()).backward()
    optimizer.step()
    return {n: loss for n, loss in losses.items()}  # tensors instead of floats are fine too


def step_zero_grad_late(model, batch, optimizer):
    x, targets = batch
    model.train()
    losses = {n: F.cross_entropy(o, targets[n]) for n, o in model(x).items()}
    sum(losses.values()).backward()
    optimizer.zero_grad()
    optimizer.step()
    return {n: loss.item() for n, loss in losses.items()}


def step_before_backward(model, batch, optimizer):
    x, targets = batch
    model.train()
    optimizer.zero_grad()
    losses = {n: F.cross_entropy(o, targets[n]) for n, o in model(x).items()}
    optimizer.step()
    sum(losses.values()).backward()
    return {n: loss.item() for n, loss in losses.items()}


def step_raises(model, batch, optimizer):
    x, targets = batch
    return model(x) + 1


def test_task2_mistakes_are_caught():
    _fails(checks.check_train_step, step_returns_none, "None", "Return the dict")
    _fails(checks.check_train_step, step_mean, "do not average")
    _fails(checks.check_train_step, step_no_zero_grad, "zero_grad")
    _fails(checks.check_train_step, step_two_backwards, "2 times", "once")
    _fails(checks.check_train_step, step_no_optimizer_step, "did not change", "optimizer.step()")
    _fails(checks.check_train_step, step_left_only, "'left' loss only")
    _fails(checks.check_train_step, step_two_forwards, "ran 2 times")
    _fails(checks.check_train_step, step_no_train_mode, "model.train()")
    _fails(checks.check_train_step, step_raises, "TypeError")
    _fails(checks.check_train_step, step_zero_grad_late, "between backward and step")
    _fails(checks.check_train_step, step_before_backward, "ran before backward")
    assert checks.check_train_step(step_model_zero_grad)


# ---- Task 3 ---------------------------------------------------------------------------


def penalty_blank(net_a, net_b, weight):
    ...


def penalty_with_heads(net_a, net_b, weight):
    pairs = zip(net_a.parameters(), net_b.parameters(), strict=True)
    return weight * sum(((pa - pb) ** 2).sum() for pa, pb in pairs)


def penalty_no_weight(net_a, net_b, weight):
    return soft_sharing_penalty(net_a, net_b, 1.0)


def penalty_norm(net_a, net_b, weight):
    pairs = zip(net_a.encoder.parameters(), net_b.encoder.parameters(), strict=True)
    return weight * sum(torch.linalg.vector_norm(pa - pb) for pa, pb in pairs)


def penalty_detached(net_a, net_b, weight):
    return soft_sharing_penalty(net_a, net_b, weight).detach()


def penalty_float(net_a, net_b, weight):
    return soft_sharing_penalty(net_a, net_b, weight).item()


def penalty_abs(net_a, net_b, weight):
    pairs = zip(net_a.encoder.parameters(), net_b.encoder.parameters(), strict=True)
    return weight * sum((pa - pb).abs().sum() for pa, pb in pairs)


def test_task3_mistakes_are_caught():
    _fails(checks.check_soft_penalty, penalty_blank, "no answer yet")
    _fails(checks.check_soft_penalty, penalty_with_heads, "only the encoders")
    _fails(checks.check_soft_penalty, penalty_no_weight, "weight is missing")
    _fails(checks.check_soft_penalty, penalty_norm, "squared norm")
    _fails(checks.check_soft_penalty, penalty_detached, "does not require grad")
    _fails(checks.check_soft_penalty, penalty_float, "scalar tensor", "float")
    _fails(checks.check_soft_penalty, penalty_abs, "differs from the reference")


# ---- Task 4 ---------------------------------------------------------------------------


class StitchBlank(nn.Module):
    def __init__(self, num_tasks, init_self=1.0):
        super().__init__()

    def forward(self, xs):
        return None


class StitchTransposed(CrossStitch):
    def forward(self, xs):
        return [sum(self.alpha[j, i] * x for j, x in enumerate(xs)) for i in range(len(xs))]


class StitchNotParameter(CrossStitch):
    def __init__(self, num_tasks, init_self=1.0):
        super().__init__(num_tasks, init_self)
        alpha = self.alpha.detach().clone()
        del self.alpha
        self.alpha = alpha


class StitchWrongOffDiagonal(CrossStitch):
    def __init__(self, num_tasks, init_self=1.0):
        super().__init__(num_tasks, init_self)
        with torch.no_grad():
            self.alpha.fill_(1.0 - init_self).fill_diagonal_(init_self)


class StitchDetached(CrossStitch):
    def forward(self, xs):
        return [sum(self.alpha[i, j].item() * x for j, x in enumerate(xs)) for i in range(len(xs))]


class StitchStacked(CrossStitch):
    def forward(self, xs):
        return torch.stack(super().forward(xs))


class StitchInPlace(CrossStitch):
    def forward(self, xs):
        out = super().forward(xs)
        xs[0].mul_(1.0)
        xs[0].add_(1.0)
        return out


def test_task4_mistakes_are_caught():
    _fails(checks.check_cross_stitch, StitchBlank, "nn.Parameter")
    _fails(checks.check_cross_stitch, StitchTransposed, "transpose")
    _fails(checks.check_cross_stitch, StitchNotParameter, "nn.Parameter", "Tensor")
    _fails(checks.check_cross_stitch, StitchWrongOffDiagonal, "T=3", "(1 - init_self) / (T - 1)")
    _fails(checks.check_cross_stitch, StitchDetached, "do not require grad")
    _fails(checks.check_cross_stitch, StitchStacked, "list of 2 tensors")
    _fails(checks.check_cross_stitch, StitchInPlace, "in place")
