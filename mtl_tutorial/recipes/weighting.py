"""Chapter 3 experiments: loss weighting and gradient balancing.

Every experiment here trains the chapter-2 hard-sharing model of its family with the
same data, epochs, batch size and optimiser; only the
:class:`~mtl_tutorial.weighting.Weighting` changes.

* ``multimnist-hard-<method>``: the MultiMNIST LeNet with two heads, for every method of
  :data:`~mtl_tutorial.weighting.METHODS`; ``multimnist-hard-equal`` is an alias of
  chapter 2's ``multimnist-hard`` (:data:`EQUAL_ALIASES`).
  ``multimnist-hard-static`` uses the weights (left, right) = (0.7, 1.3): they sum to T = 2
  like equal weights but lean towards the right digit, so the run differs from equal.
* ``multimnist-hard-static-w<w>``: a sweep of static weights (w, 1 - w) for the
  accuracy trade-off (Pareto front) plot.
* ``shapes-dense-<method>``: segmentation (cross-entropy) + depth (L1) on Shapes with the
  shared encoder and two decoders of ``shapes-hard``, whose losses live on different
  scales; again ``shapes-hard`` is the equal-weight member (alias ``shapes-dense-equal``).
  ``shapes-dense-static`` uses (seg, depth) = (0.6, 1.4): early in training the depth L1
  loss runs at about 0.4x the segmentation loss (0.10 vs 0.24 after 120 steps), so the
  hand-set weights make up most of that ratio while still summing to 2.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from ..models.dense import DenseMultiTaskNet
from ..models.sharing import HardSharingNet
from ..tasks import Task
from ..weighting import METHODS, Weighting, make_weighting
from .sharing import DENSE, DENSE_NORM, DENSE_WIDTHS, DEPTH, LEFT, MULTIMNIST, RIGHT, SEG, _register

CHAPTER = "3-weighting"
STATIC_WEIGHTS = (0.7, 1.3)  # (left, right) of multimnist-hard-static
STATIC_SWEEP = (0.1, 0.3, 0.5, 0.7, 0.9)  # w_left; w_right = 1 - w_left
DENSE_STATIC_WEIGHTS = (0.6, 1.4)  # (seg, depth) of shapes-dense-static
# The equal-weight member of each family is chapter 2's run; the manifest lists these
# names as aliases of it (same weights, same seeds), so every method has a <family>-<method> name.
EQUAL_ALIASES = {"multimnist-hard-equal": "multimnist-hard", "shapes-dense-equal": "shapes-hard"}

DESCRIPTIONS = {
    "equal": "equal weights",
    "static": "fixed weights",
    "uncertainty": "uncertainty weighting (Kendall et al., 2018)",
    "dwa": "dynamic weight average (Liu et al., 2019)",
    "gradnorm": "GradNorm, alpha=1.5 (Chen et al., 2018)",
    "pcgrad": "PCGrad gradient surgery (Yu et al., 2020)",
    "mgda": "MGDA-UB min-norm weights (Sener & Koltun, 2018)",
    "cagrad": "CAGrad, c=0.4 (Liu et al., 2021)",
    "famo": "FAMO (Liu et al., 2023)",
}


def weighting_factory(
    method: str, tasks: Sequence[Task], **kwargs: object
) -> Callable[[], Weighting]:
    """A function that builds a fresh ``method`` weighting for ``tasks`` (one per training run)."""
    return functools.partial(make_weighting, method, [t.name for t in tasks], **kwargs)


def _static_label(weights: Sequence[float]) -> str:
    return "fixed weights (" + ", ".join(f"{w:g}" for w in weights) + ")"


# --- MultiMNIST: one hard-sharing LeNet per method ---------------------------------------
MULTIMNIST_TASKS = [LEFT, RIGHT]
for _method in METHODS:
    _options = {"weights": STATIC_WEIGHTS} if _method == "static" else {}
    _label = _static_label(STATIC_WEIGHTS) if _method == "static" else DESCRIPTIONS[_method]
    if _method == "equal":
        _label += f" (an alias: ships the weights of {EQUAL_ALIASES['multimnist-hard-equal']})"
    _register(
        f"multimnist-hard-{_method}",
        f"hard sharing with {_label}",
        MULTIMNIST,
        MULTIMNIST_TASKS,
        functools.partial(HardSharingNet, MULTIMNIST_TASKS),
        weighting=weighting_factory(_method, MULTIMNIST_TASKS, **_options),
        chapter=CHAPTER,
    )

for _w in STATIC_SWEEP:
    _weights = (_w, round(1.0 - _w, 10))
    _register(
        f"multimnist-hard-static-w{_w:g}",
        f"static-weight sweep: (left, right) = ({_weights[0]:g}, {_weights[1]:g})",
        MULTIMNIST,
        MULTIMNIST_TASKS,
        functools.partial(HardSharingNet, MULTIMNIST_TASKS),
        weighting=weighting_factory("static", MULTIMNIST_TASKS, weights=_weights),
        chapter=CHAPTER,
    )

# --- Shapes dense pair: segmentation + depth, losses on different scales -----------------
# DenseMultiTaskNet has no single representation z (its decoders read three feature maps),
# so the z-based methods use the gradients over the shared encoder's parameters instead.
DENSE_TASKS = [SEG, DEPTH]
DENSE_DESCRIPTIONS = {
    **DESCRIPTIONS,
    "gradnorm": "GradNorm, alpha=1.5, norms over the encoder (Chen et al., 2018)",
    "mgda": "MGDA min-norm weights over the encoder (Sener & Koltun, 2018)",
}
for _method in METHODS:
    _options = {"weights": DENSE_STATIC_WEIGHTS} if _method == "static" else {}
    _label = (
        _static_label(DENSE_STATIC_WEIGHTS) if _method == "static" else DENSE_DESCRIPTIONS[_method]
    )
    if _method == "equal":
        _label += f" (an alias: ships the weights of {EQUAL_ALIASES['shapes-dense-equal']})"
    _register(
        f"shapes-dense-{_method}",
        f"seg + depth, shared encoder, {_label}",
        DENSE,
        DENSE_TASKS,
        functools.partial(DenseMultiTaskNet, DENSE_TASKS, widths=DENSE_WIDTHS, norm=DENSE_NORM),
        weighting=weighting_factory(_method, DENSE_TASKS, **_options),
        chapter=CHAPTER,
    )
