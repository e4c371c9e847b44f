"""How the per-task losses become one update: one file per weighting method.

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

Each method lives in its own module (``equal``, ``static``, ``uncertainty``, ``dwa``,
``gradnorm``, ``pcgrad``, ``mgda``, ``cagrad``, ``famo``), with its formula and citation in
the module docstring; :mod:`.base` holds the interface and :mod:`.gradients` the per-task
gradient helpers.

Methods that write ``.grad`` of the shared parameters themselves (PCGrad, CAGrad) *add*
to what is already there (e.g. a soft-sharing penalty's gradient); the task-specific
parameters always get the ordinary gradient of :math:`\\sum_t L_t`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .base import Weighting
from .cagrad import CAGrad, cagrad_direction, cagrad_dual
from .dwa import DynamicWeightAverage, dwa_weights
from .equal import EqualWeighting
from .famo import FAMO
from .gradients import flat_grad, task_gradients
from .gradnorm import GradNorm
from .mgda import MGDA, min_norm_weights
from .pcgrad import PCGrad, pcgrad_project
from .static import StaticWeighting
from .uncertainty import UncertaintyWeighting

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
    "cagrad_dual",
    "dwa_weights",
    "flat_grad",
    "make_weighting",
    "min_norm_weights",
    "pcgrad_project",
    "task_gradients",
]

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
