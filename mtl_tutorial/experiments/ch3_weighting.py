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
* ``shapes-dense-<method>``: segmentation (cross-entropy) + depth (MSE) on Shapes with the
  shared encoder and two decoders of ``shapes-hard``, whose losses live on very different
  scales; again ``shapes-hard`` is the equal-weight member (alias ``shapes-dense-equal``).
  ``shapes-dense-static`` uses (seg, depth) = (0.05, 1.95): with equal weights the
  segmentation loss runs at 31-98x the depth MSE (epoch means of ``shapes-hard`` seed 0:
  0.63 vs 0.010 in the first epoch, 0.023 vs 0.0007 in the last), so the hand-set weights
  (ratio 1:39) make up a large part of that gap while still summing to 2.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from ..models.dense import DenseMultiTaskNet
from ..models.sharing import HardSharingNet
from ..tasks import Task
from ..weighting import Weighting, make_weighting
from ..weighting.uncertainty import CommonScaleUncertainty
from .ch2_sharing import DENSE, DENSE_NORM, DENSE_WIDTHS, DEPTH, LEFT, MULTIMNIST, RIGHT, SEG
from .common import register_standard

__all__ = [
    "CHAPTER",
    "DENSE_DESCRIPTIONS",
    "DENSE_METHOD_RUNS",
    "DENSE_STATIC_WEIGHTS",
    "DENSE_TASKS",
    "DESCRIPTIONS",
    "EQUAL_ALIASES",
    "MULTIMNIST_METHOD_RUNS",
    "MULTIMNIST_TASKS",
    "STATIC_SWEEP",
    "STATIC_SWEEP_RUNS",
    "STATIC_WEIGHTS",
    "weighting_factory",
]

CHAPTER = "3-weighting"
STATIC_WEIGHTS = (0.7, 1.3)  # (left, right) of multimnist-hard-static
DENSE_STATIC_WEIGHTS = (0.05, 1.95)  # (seg, depth) of shapes-dense-static
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


def _label(method: str, descriptions: dict[str, str], static: Sequence[float], name: str) -> str:
    """How the description names ``method`` (its fixed weights, or the alias it ships)."""
    if method == "static":
        return "fixed weights (" + ", ".join(f"{w:g}" for w in static) + ")"
    if method == "equal":
        return f"{descriptions[method]} (an alias: ships the weights of {EQUAL_ALIASES[name]})"
    return descriptions[method]


# --- MultiMNIST: one hard-sharing LeNet per method ---------------------------------------
MULTIMNIST_TASKS = [LEFT, RIGHT]
#: (experiment, weighting method), one per method of weighting.METHODS
MULTIMNIST_METHOD_RUNS = (
    ("multimnist-hard-equal", "equal"),
    ("multimnist-hard-static", "static"),
    ("multimnist-hard-uncertainty", "uncertainty"),
    ("multimnist-hard-dwa", "dwa"),
    ("multimnist-hard-gradnorm", "gradnorm"),
    ("multimnist-hard-pcgrad", "pcgrad"),
    ("multimnist-hard-mgda", "mgda"),
    ("multimnist-hard-cagrad", "cagrad"),
    ("multimnist-hard-famo", "famo"),
)
for _name, _method in MULTIMNIST_METHOD_RUNS:
    _options = {"weights": STATIC_WEIGHTS} if _method == "static" else {}
    register_standard(
        _name,
        f"hard sharing with {_label(_method, DESCRIPTIONS, STATIC_WEIGHTS, _name)}",
        MULTIMNIST,
        MULTIMNIST_TASKS,
        functools.partial(HardSharingNet, MULTIMNIST_TASKS),
        chapter=CHAPTER,
        weighting=weighting_factory(_method, MULTIMNIST_TASKS, **_options),
    )

#: (experiment, w_left) of the static-weight sweep; w_right = 1 - w_left
STATIC_SWEEP_RUNS = (
    ("multimnist-hard-static-w0.1", 0.1),
    ("multimnist-hard-static-w0.3", 0.3),
    ("multimnist-hard-static-w0.5", 0.5),
    ("multimnist-hard-static-w0.7", 0.7),
    ("multimnist-hard-static-w0.9", 0.9),
)
STATIC_SWEEP = tuple(w for _, w in STATIC_SWEEP_RUNS)
for _name, _w in STATIC_SWEEP_RUNS:
    _weights = (_w, round(1.0 - _w, 10))
    register_standard(
        _name,
        f"static-weight sweep: (left, right) = ({_weights[0]:g}, {_weights[1]:g})",
        MULTIMNIST,
        MULTIMNIST_TASKS,
        functools.partial(HardSharingNet, MULTIMNIST_TASKS),
        chapter=CHAPTER,
        weighting=weighting_factory("static", MULTIMNIST_TASKS, weights=_weights),
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
#: (experiment, weighting method), one per method of weighting.METHODS
DENSE_METHOD_RUNS = (
    ("shapes-dense-equal", "equal"),
    ("shapes-dense-static", "static"),
    ("shapes-dense-uncertainty", "uncertainty"),
    ("shapes-dense-dwa", "dwa"),
    ("shapes-dense-gradnorm", "gradnorm"),
    ("shapes-dense-pcgrad", "pcgrad"),
    ("shapes-dense-mgda", "mgda"),
    ("shapes-dense-cagrad", "cagrad"),
    ("shapes-dense-famo", "famo"),
)
for _name, _method in DENSE_METHOD_RUNS:
    _options = {"weights": DENSE_STATIC_WEIGHTS} if _method == "static" else {}
    register_standard(
        _name,
        f"seg + depth, shared encoder, "
        f"{_label(_method, DENSE_DESCRIPTIONS, DENSE_STATIC_WEIGHTS, _name)}",
        DENSE,
        DENSE_TASKS,
        functools.partial(DenseMultiTaskNet, DENSE_TASKS, widths=DENSE_WIDTHS, norm=DENSE_NORM),
        chapter=CHAPTER,
        weighting=weighting_factory(_method, DENSE_TASKS, **_options),
    )


# --- Controls (issue #17) ----------------------------------------------------------------
register_standard(
    "multimnist-hard-uncertainty-common",
    "control: uncertainty weighting's common loss scale, equal ratio (CommonScaleUncertainty)",
    MULTIMNIST,
    MULTIMNIST_TASKS,
    functools.partial(HardSharingNet, MULTIMNIST_TASKS),
    chapter=CHAPTER,
    weighting=functools.partial(CommonScaleUncertainty, [t.name for t in MULTIMNIST_TASKS]),
)
