"""How the per-task losses become one update.

A :class:`Weighting` turns the dict of task losses into gradients on the model
(``backward``) and reports the weights it used. The trainer calls nothing else during a
step, so a method that needs per-task gradients can compute them here without changing
the trainer. After every epoch the trainer calls :meth:`Weighting.epoch_end` with the
epoch's mean training loss per task (only DWA uses it).

A method that sets ``needs_representation = True`` also receives the shared
representation ``z`` (the encoder output the task heads read), when the model exposes
``representation(x)`` and ``heads_forward(z)``: per-task gradients with respect to ``z``
are much cheaper than with respect to all shared parameters. On a model without that
hook (e.g. :class:`~mtl_tutorial.models.dense.DenseMultiTaskNet`, whose decoders read
three feature maps) these methods fall back to gradients over ``model.shared_parameters()``.

The methods (names as in :data:`METHODS`, built by :func:`make_weighting`):

=============  ===========================================  =================================
name           idea                                         per-step cost beyond equal
=============  ===========================================  =================================
equal          :math:`\\sum_t L_t`                            none
static         :math:`\\sum_t \\lambda_t L_t`, fixed            none
uncertainty    learned homoscedastic noise (Kendall 2018)   none (T extra parameters)
dwa            softmax of per-epoch loss ratios (Liu 2019)  none
gradnorm       equalise gradient norms at z (Chen 2018)     T backward passes through heads
pcgrad         project away conflicts (Yu 2020)             T backward passes through encoder
mgda           min-norm point at z (Sener & Koltun 2018)    T backward passes through heads
cagrad         conflict-averse direction (Liu 2021)         T backward passes through encoder
famo           balance log-loss decrease (Liu 2023)         none
=============  ===========================================  =================================

Methods that write ``.grad`` of the shared parameters themselves (PCGrad, CAGrad) *add*
to what is already there (e.g. a soft-sharing penalty's gradient); the task-specific
parameters always get the ordinary gradient of :math:`\\sum_t L_t`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "CAGrad",
    "DynamicWeightAverage",
    "EqualWeighting",
    "FAMO",
    "GradNorm",
    "METHODS",
    "MGDA",
    "PCGrad",
    "StaticWeighting",
    "UncertaintyWeighting",
    "Weighting",
    "cagrad_direction",
    "dwa_weights",
    "make_weighting",
    "min_norm_weights",
    "pcgrad_project",
]


class Weighting:
    """Base class: ``backward(losses, model)`` fills ``.grad`` and returns the task weights used."""

    name = "base"
    needs_representation = False

    @classmethod
    def create(cls, task_names: Sequence[str], **kwargs: Any) -> Weighting:
        """Build the method for ``task_names`` (what :func:`make_weighting` calls)."""
        return cls(list(task_names), **kwargs)  # type: ignore[call-arg]

    def parameters(self) -> list[nn.Parameter]:
        """Learnable parameters of the method itself (e.g. log-variances); none by default.

        The trainer's optimiser updates them together with the model.
        """
        return []

    def backward(
        self,
        losses: Mapping[str, torch.Tensor],
        model: nn.Module,
        representation: torch.Tensor | None = None,
    ) -> dict[str, float]:
        """Add the gradients of the combined objective to ``.grad``; return each task's weight.

        ``representation`` is the shared ``z`` the heads were applied to (only passed to
        methods with ``needs_representation``, and only for models with that hook).
        """
        raise NotImplementedError

    def epoch_end(self, mean_losses: dict[str, float]) -> None:
        """Called by the trainer after every epoch with the mean training loss of each task."""

    def hparams(self) -> dict[str, Any]:
        """The method's hyperparameters (for ``repr`` and the experiment config)."""
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hparams().items())
        return f"{type(self).__name__}({args})"


# --- helpers ---------------------------------------------------------------------------
def _ordered(losses: Mapping[str, torch.Tensor], task_names: Sequence[str]) -> list[torch.Tensor]:
    if set(losses) != set(task_names):
        raise KeyError(
            f"the weighting was built for tasks {list(task_names)} but got losses for {sorted(losses)}"
        )
    return [losses[k] for k in task_names]


def _shared_parameters(model: nn.Module, method: str) -> list[nn.Parameter]:
    get = getattr(model, "shared_parameters", None)
    if not callable(get):
        raise TypeError(
            f"{method} needs a model with shared_parameters(); {type(model).__name__} has none"
        )
    params = [p for p in get() if p.requires_grad]
    if not params:
        raise ValueError(f"{method}: the model has no trainable shared parameters")
    return params


def _flat_grad(loss: torch.Tensor, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
    """Gradient of ``loss`` w.r.t. ``inputs`` as one flat vector (zeros where unused)."""
    grads = torch.autograd.grad(loss, list(inputs), retain_graph=True, allow_unused=True)
    return torch.cat(
        [
            (g if g is not None else torch.zeros_like(x)).reshape(-1)
            for g, x in zip(grads, inputs, strict=True)
        ]
    )


def _task_gradients(
    losses: Sequence[torch.Tensor],
    model: nn.Module,
    representation: torch.Tensor | None,
    method: str,
) -> torch.Tensor:
    """``(T, D)`` per-task gradients w.r.t. ``representation``, else the shared parameters."""
    inputs = [representation] if representation is not None else _shared_parameters(model, method)
    return torch.stack([_flat_grad(loss, inputs) for loss in losses])


def _add_to_grad(params: Sequence[nn.Parameter], flat: torch.Tensor) -> None:
    """Add the flat vector ``flat`` to the ``.grad`` of ``params`` (in order)."""
    offset = 0
    for p in params:
        g = flat[offset : offset + p.numel()].view_as(p)
        offset += p.numel()
        if p.grad is None:
            p.grad = g.clone()
        else:
            p.grad.add_(g)


def _backward_task_specific(
    total: torch.Tensor, model: nn.Module, shared: Sequence[nn.Parameter]
) -> None:
    """Ordinary gradients of ``total`` for every trainable parameter not in ``shared``."""
    ids = {id(p) for p in shared}
    specific = [p for p in model.parameters() if p.requires_grad and id(p) not in ids]
    if not specific:
        return
    grads = torch.autograd.grad(total, specific, allow_unused=True)
    for p, g in zip(specific, grads, strict=True):
        if g is None:
            continue
        if p.grad is None:
            p.grad = g
        else:
            p.grad.add_(g)


def _to_device(tensor: torch.Tensor, device: torch.device) -> None:
    """Move a leaf tensor in place (same object, so optimisers holding it still see it)."""
    if tensor.device != device:
        tensor.data = tensor.data.to(device)


def _as_dict(task_names: Sequence[str], values: torch.Tensor | Sequence[float]) -> dict[str, float]:
    values = values.tolist() if isinstance(values, torch.Tensor) else list(values)
    return {k: float(v) for k, v in zip(task_names, values, strict=True)}


# --- equal and static ------------------------------------------------------------------
class StaticWeighting(Weighting):
    """Fixed weights: minimise :math:`\\sum_t \\lambda_t L_t`."""

    name = "static"

    def __init__(self, weights: Mapping[str, float]):
        if any(w < 0 for w in weights.values()):
            raise ValueError(f"static task weights must be non-negative, got {dict(weights)}")
        self.weights = dict(weights)

    @classmethod
    def create(
        cls,
        task_names: Sequence[str],
        weights: Mapping[str, float] | Sequence[float] | None = None,
    ) -> StaticWeighting:
        """Weights as a mapping, a sequence in the order of ``task_names``, or all 1 (default)."""
        if weights is None:
            return cls(dict.fromkeys(task_names, 1.0))
        if isinstance(weights, Mapping):
            return cls(weights)
        if len(weights) != len(task_names):
            raise ValueError(f"got {len(weights)} static weights for tasks {list(task_names)}")
        return cls(dict(zip(task_names, map(float, weights), strict=True)))

    def hparams(self) -> dict[str, Any]:
        return {"weights": self.weights}

    def backward(
        self,
        losses: Mapping[str, torch.Tensor],
        model: nn.Module,
        representation: torch.Tensor | None = None,
    ) -> dict[str, float]:
        unknown = set(losses) - set(self.weights)
        if unknown:
            raise KeyError(
                f"no weight given for tasks {sorted(unknown)}; weights are {self.weights}"
            )
        total = sum(self.weights[k] * loss for k, loss in losses.items())
        total.backward()  # type: ignore[union-attr]
        return {k: self.weights[k] for k in losses}


class EqualWeighting(Weighting):
    """Every task has weight 1: minimise :math:`\\sum_t L_t`."""

    name = "equal"

    @classmethod
    def create(cls, task_names: Sequence[str], **kwargs: Any) -> EqualWeighting:
        if kwargs:
            raise TypeError(f"equal weighting takes no options, got {sorted(kwargs)}")
        return cls()

    def backward(
        self,
        losses: Mapping[str, torch.Tensor],
        model: nn.Module,
        representation: torch.Tensor | None = None,
    ) -> dict[str, float]:
        sum(losses.values()).backward()  # type: ignore[union-attr]
        return dict.fromkeys(losses, 1.0)


# --- uncertainty weighting ---------------------------------------------------------------
class UncertaintyWeighting(Weighting):
    """Homoscedastic-uncertainty weighting (Kendall, Gal & Cipolla, CVPR 2018).

    With learnable log-variances :math:`s_t = \\log \\sigma_t^2` (initialised to 0) the
    trainer minimises

    .. math:: \\sum_t e^{-s_t} L_t + s_t .

    Kendall et al. derive :math:`\\frac{1}{2\\sigma^2} L + \\log\\sigma` for regression and
    (approximately) :math:`\\frac{1}{\\sigma^2} L + \\log\\sigma` for classification, i.e.
    :math:`\\frac12(e^{-s}L + s)` and :math:`e^{-s}L + \\frac12 s`. We use one form for every
    task, twice the regression form (as most re-implementations do). For a fixed loss
    :math:`L_t` its optimum is :math:`s_t = \\log L_t`: the weight :math:`e^{-s_t}` tends to
    :math:`1 / L_t`. The log-variances are updated by the trainer's optimiser (they are
    returned by :meth:`parameters`); the reported weights are :math:`e^{-s_t}`.
    """

    name = "uncertainty"

    def __init__(self, task_names: Sequence[str], init: float = 0.0):
        self.task_names = list(task_names)
        self.init = init
        self.log_vars = nn.Parameter(torch.full((len(self.task_names),), float(init)))

    def hparams(self) -> dict[str, Any]:
        return {"init": self.init}

    def parameters(self) -> list[nn.Parameter]:
        return [self.log_vars]

    def backward(
        self,
        losses: Mapping[str, torch.Tensor],
        model: nn.Module,
        representation: torch.Tensor | None = None,
    ) -> dict[str, float]:
        stacked = torch.stack(_ordered(losses, self.task_names))
        _to_device(self.log_vars, stacked.device)
        s = self.log_vars
        (torch.exp(-s) * stacked + s).sum().backward()
        return _as_dict(self.task_names, torch.exp(-s.detach()))


# --- dynamic weight average ---------------------------------------------------------------
def dwa_weights(
    previous: Sequence[float], before: Sequence[float], temperature: float = 2.0
) -> list[float]:
    """DWA weights :math:`T\\,\\mathrm{softmax}(r / \\tau)` with :math:`r_t = L_t(k-1) / L_t(k-2)`.

    ``previous`` holds the mean losses of epoch k-1, ``before`` those of epoch k-2.
    """
    ratios = [p / max(b, 1e-12) for p, b in zip(previous, before, strict=True)]
    top = max(ratios) / temperature
    exps = [math.exp(r / temperature - top) for r in ratios]
    return [len(ratios) * e / sum(exps) for e in exps]


class DynamicWeightAverage(Weighting):
    """Dynamic Weight Average (Liu, Johns & Davison, CVPR 2019, "MTAN").

    In epoch :math:`k` (counting from 1) the loss is :math:`\\sum_t w_t(k) L_t` with

    .. math:: w_t(k) = \\frac{T \\exp(r_t(k-1)/\\tau)}{\\sum_i \\exp(r_i(k-1)/\\tau)},
              \\qquad r_t(k-1) = \\frac{L_t(k-1)}{L_t(k-2)},

    where :math:`L_t(k)` is task t's mean training loss over epoch :math:`k` (passed by the
    trainer to :meth:`epoch_end`) and :math:`\\tau = 2`. In the first two epochs every
    weight is 1. A task whose loss fell less than the others' gets more weight.
    """

    name = "dwa"

    def __init__(self, task_names: Sequence[str], temperature: float = 2.0):
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.task_names = list(task_names)
        self.temperature = temperature
        self.history: list[dict[str, float]] = []
        self.weights = dict.fromkeys(self.task_names, 1.0)

    def hparams(self) -> dict[str, Any]:
        return {"temperature": self.temperature}

    def epoch_end(self, mean_losses: dict[str, float]) -> None:
        self.history.append({k: float(mean_losses[k]) for k in self.task_names})
        if len(self.history) >= 2:
            prev, before = self.history[-1], self.history[-2]
            w = dwa_weights(
                [prev[k] for k in self.task_names],
                [before[k] for k in self.task_names],
                self.temperature,
            )
            self.weights = dict(zip(self.task_names, w, strict=True))

    def backward(
        self,
        losses: Mapping[str, torch.Tensor],
        model: nn.Module,
        representation: torch.Tensor | None = None,
    ) -> dict[str, float]:
        ordered = _ordered(losses, self.task_names)
        total = sum(
            self.weights[k] * loss for k, loss in zip(self.task_names, ordered, strict=True)
        )
        total.backward()  # type: ignore[union-attr]
        return dict(self.weights)


# --- GradNorm ---------------------------------------------------------------------------------
class GradNorm(Weighting):
    """GradNorm (Chen, Badrinarayanan, Lee & Rabinovich, ICML 2018), :math:`\\alpha = 1.5`.

    The model gets the gradient of :math:`\\sum_t w_t L_t`. The weights :math:`w_t` are then
    updated to equalise the weighted gradient norms :math:`G_t = w_t \\lVert\\nabla_z L_t\\rVert`:

    .. math:: L_{\\text{grad}} = \\sum_t \\bigl| G_t - \\bar G\\, r_t^{\\alpha} \\bigr|,\\qquad
              r_t = \\frac{\\tilde L_t}{\\operatorname{mean}_i \\tilde L_i},\\quad
              \\tilde L_t = \\frac{L_t}{L_t(0)},

    with the target :math:`\\bar G r_t^\\alpha` held constant (:math:`\\bar G` = mean of the
    :math:`G_t`, :math:`L_t(0)` = the losses of the first step). Tasks that train slower
    (larger :math:`r_t`) are pushed towards larger gradients.

    Choices made here:

    * The paper takes the gradient w.r.t. the last shared layer's *weights*; we take it
      w.r.t. the shared representation :math:`z` (the batch of encoder outputs), which
      needs only a backward pass through each head. On models without a
      ``representation`` hook we use all shared parameters instead.
    * The weights have their own Adam optimiser (``lr=0.025``, our choice), stepped inside
      :meth:`backward`; :meth:`parameters` is empty, so the trainer's optimiser never
      touches them. After each step they are clamped to at least ``min_weight`` and
      renormalised to sum to T, as in the paper.
    """

    name = "gradnorm"
    needs_representation = True

    def __init__(
        self,
        task_names: Sequence[str],
        alpha: float = 1.5,
        lr: float = 0.025,
        min_weight: float = 1e-3,
    ):
        self.task_names = list(task_names)
        self.alpha, self.lr, self.min_weight = alpha, lr, min_weight
        self.weights = torch.ones(len(self.task_names), requires_grad=True)
        self.optimizer = torch.optim.Adam([self.weights], lr=lr)
        self.initial_losses: torch.Tensor | None = None

    def hparams(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "lr": self.lr}

    def backward(
        self,
        losses: Mapping[str, torch.Tensor],
        model: nn.Module,
        representation: torch.Tensor | None = None,
    ) -> dict[str, float]:
        ordered = _ordered(losses, self.task_names)
        stacked = torch.stack(ordered)
        _to_device(self.weights, stacked.device)
        norms = _task_gradients(ordered, model, representation, self.name).norm(dim=1).detach()
        used = self.weights.detach().clone()
        (used * stacked).sum().backward()

        current = stacked.detach()
        if self.initial_losses is None:
            self.initial_losses = current.clamp_min(1e-12)
        ratio = current / self.initial_losses
        ratio = ratio / ratio.mean().clamp_min(1e-12)
        g = self.weights * norms
        target = (g.detach().mean() * ratio**self.alpha).detach()
        self.optimizer.zero_grad(set_to_none=True)
        (g - target).abs().sum().backward()
        self.optimizer.step()
        with torch.no_grad():
            self.weights.clamp_(min=self.min_weight)
            self.weights.mul_(len(self.task_names) / self.weights.sum())
        return _as_dict(self.task_names, used)


# --- PCGrad -------------------------------------------------------------------------------------
def pcgrad_project(grads: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """PCGrad's projected task gradients ``(T, D)`` from the original ones ``(T, D)``.

    For each task i, visit the other tasks j in a random order; whenever the (partly
    projected) :math:`g_i` conflicts with the original :math:`g_j`
    (:math:`g_i \\cdot g_j < 0`), remove the conflicting component:
    :math:`g_i \\leftarrow g_i - \\frac{g_i \\cdot g_j}{\\lVert g_j\\rVert^2} g_j`.
    """
    n = grads.shape[0]
    out = grads.clone()
    sq_norms = (grads * grads).sum(dim=1).clamp_min(1e-30)
    for i in range(n):
        others = [j for j in range(n) if j != i]
        for k in torch.randperm(len(others), generator=generator).tolist():
            j = others[k]
            dot = out[i] @ grads[j]
            out[i] -= dot.clamp(max=0.0) / sq_norms[j] * grads[j]
    return out


class PCGrad(Weighting):
    """Projecting conflicting gradients (Yu et al., NeurIPS 2020, "Gradient Surgery").

    The per-task gradients :math:`g_t` over the shared parameters
    (``model.shared_parameters()``) are projected with :func:`pcgrad_project` and their
    sum is written to the shared parameters' ``.grad``; the task-specific parameters get
    their ordinary gradients. The random projection order comes from a
    ``torch.Generator`` seeded with ``seed``, so a run is reproducible. The reported
    weights are all 1 (PCGrad changes directions, not weights).
    """

    name = "pcgrad"

    def __init__(self, task_names: Sequence[str], seed: int = 0):
        self.task_names = list(task_names)
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)

    def hparams(self) -> dict[str, Any]:
        return {"seed": self.seed}

    def backward(
        self,
        losses: Mapping[str, torch.Tensor],
        model: nn.Module,
        representation: torch.Tensor | None = None,
    ) -> dict[str, float]:
        ordered = _ordered(losses, self.task_names)
        shared = _shared_parameters(model, self.name)
        grads = torch.stack([_flat_grad(loss, shared) for loss in ordered])
        _add_to_grad(shared, pcgrad_project(grads, self.generator).sum(dim=0))
        _backward_task_specific(sum(ordered), model, shared)  # type: ignore[arg-type]
        return dict.fromkeys(self.task_names, 1.0)


# --- MGDA-UB ------------------------------------------------------------------------------------
def _min_norm_pair(g11: float, g12: float, g22: float) -> tuple[float, float]:
    """Weight on the first vector and squared norm of the min-norm point of a segment."""
    denom = g11 + g22 - 2.0 * g12
    alpha = 0.5 if denom <= 1e-20 else min(max((g22 - g12) / denom, 0.0), 1.0)
    cost = alpha * alpha * g11 + 2.0 * alpha * (1.0 - alpha) * g12 + (1.0 - alpha) ** 2 * g22
    return alpha, cost


def min_norm_weights(grads: torch.Tensor, max_iter: int = 1000, tol: float = 1e-10) -> torch.Tensor:
    """The point of the simplex :math:`\\alpha` minimising :math:`\\lVert\\sum_t \\alpha_t g_t\\rVert`.

    ``grads`` is ``(T, D)``. For two tasks the closed form
    :math:`\\alpha_1 = \\mathrm{clip}\\bigl(\\frac{(g_2-g_1)\\cdot g_2}{\\lVert g_1-g_2\\rVert^2}, 0, 1\\bigr)`;
    for more, Frank-Wolfe on the Gram matrix as in Sener & Koltun (2018, Alg. 2): start at
    the best pair, then repeatedly move towards the vertex with the smallest
    :math:`(M\\alpha)_t` with an exact line search. Returns ``(T,)`` on ``grads``' device.
    """
    n = grads.shape[0]
    gram = (grads @ grads.T).double().cpu().tolist()
    if n == 1:
        sol = [1.0]
    elif n == 2:
        a, _ = _min_norm_pair(gram[0][0], gram[0][1], gram[1][1])
        sol = [a, 1.0 - a]
    else:
        best = None
        for i, j in itertools.combinations(range(n), 2):
            a, cost = _min_norm_pair(gram[i][i], gram[i][j], gram[j][j])
            if best is None or cost < best[0]:
                best = (cost, i, j, a)
        assert best is not None
        _, i, j, a = best
        sol = [0.0] * n
        sol[i], sol[j] = a, 1.0 - a
        for _ in range(max_iter):
            m_sol = [sum(gram[r][c] * sol[c] for c in range(n)) for r in range(n)]
            t = min(range(n), key=m_sol.__getitem__)
            v1v1 = sum(sol[r] * m_sol[r] for r in range(n))
            gamma, _ = _min_norm_pair(v1v1, m_sol[t], gram[t][t])
            new = [gamma * s for s in sol]
            new[t] += 1.0 - gamma
            change = sum(abs(x - y) for x, y in zip(new, sol, strict=True))
            sol = new
            if change < tol:
                break
    return torch.tensor(sol, dtype=grads.dtype, device=grads.device)


class MGDA(Weighting):
    """MGDA-UB (Sener & Koltun, NeurIPS 2018, "Multi-Task Learning as Multi-Objective Optimization").

    Find the min-norm point of the convex hull of the per-task gradients w.r.t. the
    shared representation :math:`z` (the "upper bound" variant: one backward pass
    through each head instead of through the encoder), :math:`\\alpha =`
    :func:`min_norm_weights`, then back-propagate :math:`\\sum_t \\alpha_t L_t`. The
    weights sum to 1, not T; with Adam this overall scale hardly matters.

    ``normalization`` rescales each gradient before the solver, as in the official code:
    ``"none"`` (default), ``"l2"`` (:math:`g_t/\\lVert g_t\\rVert`), ``"loss"``
    (:math:`g_t/L_t`) or ``"loss+"`` (:math:`g_t/(L_t\\lVert g_t\\rVert)`); the resulting
    :math:`\\alpha` multiplies the unnormalised losses. On models without a
    ``representation`` hook the gradients are over all shared parameters (plain MGDA).
    """

    name = "mgda"
    needs_representation = True
    NORMALIZATIONS = ("none", "l2", "loss", "loss+")

    def __init__(self, task_names: Sequence[str], normalization: str = "none"):
        if normalization not in self.NORMALIZATIONS:
            raise ValueError(
                f"unknown normalization {normalization!r}; choose one of {self.NORMALIZATIONS}"
            )
        self.task_names = list(task_names)
        self.normalization = normalization

    def hparams(self) -> dict[str, Any]:
        return {"normalization": self.normalization}

    def backward(
        self,
        losses: Mapping[str, torch.Tensor],
        model: nn.Module,
        representation: torch.Tensor | None = None,
    ) -> dict[str, float]:
        ordered = _ordered(losses, self.task_names)
        stacked = torch.stack(ordered)
        grads = _task_gradients(ordered, model, representation, self.name).detach()
        if self.normalization != "none":
            scale = torch.ones_like(stacked.detach())
            if self.normalization in ("l2", "loss+"):
                scale = scale * grads.norm(dim=1)
            if self.normalization in ("loss", "loss+"):
                scale = scale * stacked.detach()
            grads = grads / scale.clamp_min(1e-12).unsqueeze(1)
        alpha = min_norm_weights(grads)
        (alpha * stacked).sum().backward()
        return _as_dict(self.task_names, alpha)


# --- CAGrad -------------------------------------------------------------------------------------
def _project_simplex(v: torch.Tensor) -> torch.Tensor:
    """Euclidean projection onto the probability simplex (sort-based)."""
    u, _ = torch.sort(v, descending=True)
    css = torch.cumsum(u, 0) - 1.0
    k = torch.arange(1, len(v) + 1, dtype=v.dtype)
    rho = int((u - css / k > 0).nonzero().max())
    return (v - css[rho] / (rho + 1)).clamp_min(0.0)


def _cagrad_dual(
    gram: torch.Tensor, sqrt_phi: float, iters: int = 500, line_search: bool = True
) -> torch.Tensor:
    """Minimise :math:`F(w) = w^\\top M \\mathbf{1}/T + \\sqrt{\\phi}\\sqrt{w^\\top M w}` over the simplex.

    ``gram`` is :math:`M = G G^\\top` in float64 on the CPU. Two tasks (and
    ``line_search``): golden-section search over :math:`w = (x, 1-x)`; otherwise projected
    gradient descent with backtracking, started at the uniform weights.
    """
    n = gram.shape[0]
    scale = max(float(gram.diagonal().mean()), 1e-30)  # F is homogeneous: solve at unit scale
    m = gram / scale
    b = m.mean(dim=1)
    c = sqrt_phi / math.sqrt(scale)

    def f(w: torch.Tensor) -> float:
        return float(w @ b + c * torch.sqrt(w @ m @ w + 1e-16))

    if n == 1:
        return torch.ones(1, dtype=torch.float64)
    if n == 2 and line_search:  # in plain floats: F(x) for w = (x, 1 - x)
        (m00, m01), (_, m11) = m.tolist()
        b0, b1 = b.tolist()

        def f_pair(x: float) -> float:
            quad = x * x * m00 + 2.0 * x * (1.0 - x) * m01 + (1.0 - x) ** 2 * m11
            return x * b0 + (1.0 - x) * b1 + c * math.sqrt(max(quad, 0.0) + 1e-16)

        lo, hi = 0.0, 1.0
        ratio = (math.sqrt(5.0) - 1.0) / 2.0
        x1, x2 = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        f1, f2 = f_pair(x1), f_pair(x2)
        for _ in range(80):
            if f1 <= f2:
                hi, x2, f2 = x2, x1, f1
                x1 = hi - ratio * (hi - lo)
                f1 = f_pair(x1)
            else:
                lo, x1, f1 = x1, x2, f2
                x2 = lo + ratio * (hi - lo)
                f2 = f_pair(x2)
        x = (lo + hi) / 2.0
        return torch.tensor([x, 1.0 - x], dtype=torch.float64)
    w = torch.full((n,), 1.0 / n, dtype=torch.float64)
    fw, step = f(w), 1.0
    for _ in range(iters):
        q = m @ w
        grad = b + c * q / torch.sqrt(w @ q + 1e-16)
        while True:
            new = _project_simplex(w - step * grad)
            f_new = float(new @ b + c * torch.sqrt(new @ m @ new + 1e-16))
            diff = new - w
            if f_new <= fw + float(grad @ diff) + float(diff @ diff) / (2 * step) or step < 1e-12:
                break
            step *= 0.5
        done = float(diff.abs().sum()) < 1e-12
        w, fw, step = new, f_new, step * 2.0
        if done:
            break
    return w


def _cagrad(grads: torch.Tensor, c: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Direction ``(D,)`` and the coefficient of each task gradient in it ``(T,)``."""
    n = grads.shape[0]
    gram = (grads @ grads.T).double().cpu()
    g0_norm = math.sqrt(float(gram.mean()) + 1e-8)  # ||g0||, g0 = mean gradient
    sqrt_phi = c * g0_norm + 1e-8
    w = _cagrad_dual(gram, sqrt_phi)
    gw_norm = math.sqrt(max(float(w @ gram @ w), 0.0))
    lam = sqrt_phi / (gw_norm + 1e-8)
    coeffs = (torch.full((n,), 1.0 / n, dtype=torch.float64) + lam * w) / (1.0 + c * c)
    coeffs = coeffs.to(device=grads.device, dtype=grads.dtype)
    return coeffs @ grads, coeffs


def cagrad_direction(grads: torch.Tensor, c: float = 0.4) -> torch.Tensor:
    """CAGrad's update direction ``(D,)`` from the per-task gradients ``grads`` ``(T, D)``.

    With :math:`g_0` the average gradient and :math:`\\phi = c^2\\lVert g_0\\rVert^2`, solve the
    dual :math:`\\min_{w \\in \\Delta} g_w^\\top g_0 + \\sqrt\\phi \\lVert g_w\\rVert`
    (:math:`g_w = \\sum_t w_t g_t`), then

    .. math:: d = \\frac{1}{1 + c^2}\\Bigl(g_0 + \\frac{\\sqrt\\phi}{\\lVert g_w\\rVert} g_w\\Bigr),

    the official implementation's ``rescale=1``. Before rescaling, :math:`d` maximises
    :math:`\\min_t g_t \\cdot d` over the ball :math:`\\lVert d - g_0\\rVert \\le c\\lVert g_0\\rVert`.
    """
    return _cagrad(grads, c)[0]


class CAGrad(Weighting):
    """Conflict-Averse Gradient descent (Liu, Liu, Jin, Stone & Liu, NeurIPS 2021), c = 0.4.

    The per-task gradients over ``model.shared_parameters()`` are combined by
    :func:`cagrad_direction`; as in the official multi-task code, the direction (which is
    built on the *mean* gradient) is multiplied by T to match the scale of
    :math:`\\sum_t L_t`, and written to the shared parameters' ``.grad``. Task-specific
    parameters get their ordinary gradients. The reported weights are each task
    gradient's coefficient in the shared update, :math:`T(1/T + \\lambda w_t)/(1+c^2)`.
    """

    name = "cagrad"

    def __init__(self, task_names: Sequence[str], c: float = 0.4):
        if c < 0:
            raise ValueError(f"c must be non-negative, got {c}")
        self.task_names = list(task_names)
        self.c = c

    def hparams(self) -> dict[str, Any]:
        return {"c": self.c}

    def backward(
        self,
        losses: Mapping[str, torch.Tensor],
        model: nn.Module,
        representation: torch.Tensor | None = None,
    ) -> dict[str, float]:
        ordered = _ordered(losses, self.task_names)
        shared = _shared_parameters(model, self.name)
        grads = torch.stack([_flat_grad(loss, shared) for loss in ordered])
        direction, coeffs = _cagrad(grads, self.c)
        n = len(ordered)
        _add_to_grad(shared, n * direction)
        _backward_task_specific(sum(ordered), model, shared)  # type: ignore[arg-type]
        return _as_dict(self.task_names, n * coeffs)


# --- FAMO ---------------------------------------------------------------------------------------
class FAMO(Weighting):
    """Fast Adaptive Multitask Optimization (Liu, Feng, Stone & Liu, NeurIPS 2023).

    Keeps logits :math:`\\xi` (initialised to 0), :math:`z = \\mathrm{softmax}(\\xi)`, and
    back-propagates

    .. math:: \\sum_t \\frac{z_t}{c} \\log L_t,\\qquad c = \\sum_i \\frac{z_i}{L_i}\\ \\text{(held constant)},

    i.e. the task gradients get the weights :math:`z_t / (c L_t)`, which sum to 1 (the
    reported weights). Before that, the logits take one step of their own Adam
    (``lr=0.025``, weight decay ``gamma=0.01`` as in the authors' standalone FAMO class;
    their benchmark code defaults to ``gamma=1e-5`` and tunes it per data set) on
    the gradient :math:`\\partial (z \\cdot \\delta)/\\partial \\xi = z \\odot (\\delta - z\\cdot\\delta)`, where
    :math:`\\delta_t = \\log L_t^{\\text{prev}} - \\log L_t` is the decrease of task t's
    log-loss over the last step: weight moves towards the tasks that improved least.

    Difference from the official code: it recomputes the losses on the *same* batch after
    the optimiser step (an extra forward pass); here :math:`\\delta` compares the previous
    step's losses with this step's (on the next batch), so FAMO costs nothing extra but
    its :math:`\\delta` is noisier. The official ``min_losses`` are 0, as here.
    """

    name = "famo"

    def __init__(
        self, task_names: Sequence[str], lr: float = 0.025, gamma: float = 0.01, eps: float = 1e-8
    ):
        self.task_names = list(task_names)
        self.lr, self.gamma, self.eps = lr, gamma, eps
        self.logits = torch.zeros(len(self.task_names), requires_grad=True)
        self.optimizer = torch.optim.Adam([self.logits], lr=lr, weight_decay=gamma)
        self.previous: torch.Tensor | None = None

    def hparams(self) -> dict[str, Any]:
        return {"lr": self.lr, "gamma": self.gamma}

    def backward(
        self,
        losses: Mapping[str, torch.Tensor],
        model: nn.Module,
        representation: torch.Tensor | None = None,
    ) -> dict[str, float]:
        stacked = torch.stack(_ordered(losses, self.task_names))
        _to_device(self.logits, stacked.device)
        current = stacked.detach() + self.eps
        if self.previous is not None:
            delta = self.previous.log() - current.log()
            self.optimizer.zero_grad(set_to_none=True)
            F.softmax(self.logits, dim=0).backward(delta)
            self.optimizer.step()
        z = F.softmax(self.logits.detach(), dim=0)
        c = (z / current).sum()
        ((z / c) * (stacked + self.eps).log()).sum().backward()
        self.previous = current
        return _as_dict(self.task_names, z / (c * current))


METHODS: dict[str, type[Weighting]] = {
    "equal": EqualWeighting,
    "static": StaticWeighting,
    "uncertainty": UncertaintyWeighting,
    "dwa": DynamicWeightAverage,
    "gradnorm": GradNorm,
    "pcgrad": PCGrad,
    "mgda": MGDA,
    "cagrad": CAGrad,
    "famo": FAMO,
}
"""Every weighting method by name, in the order the book introduces them."""


def make_weighting(name: str, task_names: Sequence[str], **kwargs: Any) -> Weighting:
    """Build weighting method ``name`` (a key of :data:`METHODS`) for ``task_names``.

    ``kwargs`` are the method's options, e.g. ``make_weighting("static", names, weights=(0.7, 1.3))``
    or ``make_weighting("cagrad", names, c=0.5)``.
    """
    if name not in METHODS:
        raise ValueError(f"unknown weighting method {name!r}; choose one of {', '.join(METHODS)}")
    return METHODS[name].create(task_names, **kwargs)
