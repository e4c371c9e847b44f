"""Chapter 2 experiments, continued: does multi-task learning help when labels are scarce?

Seeds 000 and 004 claim that sharing pays most when a task has few labels. The MultiMNIST
models of :mod:`.ch2_sharing` (the two single-task networks, hard and soft sharing) are
trained on the labels of only the first 600 (1 %) or 6 000 (10 %) training images. The
labelled images are repeated up to the full 60 000 per epoch, so that every run takes exactly
the optimisation steps of the full one (same epochs, batch size and schedule); every run is
evaluated on the full test set, and Δm compares the shared models with the single-task
networks trained on the same labels.
"""

from __future__ import annotations

import torch

from ..data import MultiMNIST
from ..loaders import Subset
from ..models.sharing import HardSharingNet, SoftSharingNet
from .ch2_sharing import CHAPTER, LEFT, MULTIMNIST, RIGHT, SOFT_PENALTY
from .common import Setup, register_standard

__all__ = ["SCARCE_RUNS", "scarce_setup"]

#: fraction tag -> (labelled training images, (single left, single right, hard, soft)); the
#: claim of seeds 000 and 004 that multi-task learning helps most when labels are scarce
SCARCE_RUNS = {
    "frac01": (
        600,
        (
            "multimnist-single-left-frac01",
            "multimnist-single-right-frac01",
            "multimnist-hard-frac01",
            "multimnist-soft-frac01",
        ),
    ),
    "frac10": (
        6_000,
        (
            "multimnist-single-left-frac10",
            "multimnist-single-right-frac10",
            "multimnist-hard-frac10",
            "multimnist-soft-frac10",
        ),
    ),
}


def scarce_setup(tag: str) -> Setup:
    """:data:`MULTIMNIST` with labels for only the first ``n`` training images of
    :data:`SCARCE_RUNS`, repeated up to the full 60 000 so that a run takes exactly the
    optimisation steps of the full one; evaluated on the full test set."""
    n, (left, right, _, _) = SCARCE_RUNS[tag]
    full = 60_000
    return Setup(
        f"multimnist-{tag}",
        lambda: Subset(MultiMNIST("train", seed=0), index=torch.arange(n).repeat(full // n)),
        MULTIMNIST.test,
        epochs=MULTIMNIST.epochs,
        baselines={"acc_left": left, "acc_right": right},
    )


#: (description, tasks, builder) of the four experiments of a fraction, in SCARCE_RUNS order
_MODELS = (
    ("left digit alone", [LEFT], lambda: HardSharingNet([LEFT])),
    ("right digit alone", [RIGHT], lambda: HardSharingNet([RIGHT])),
    ("hard sharing", [LEFT, RIGHT], lambda: HardSharingNet([LEFT, RIGHT])),
    (
        "soft sharing",
        [LEFT, RIGHT],
        lambda: SoftSharingNet([LEFT, RIGHT], penalty_weight=SOFT_PENALTY),
    ),
)
for _tag, (_n, _names) in SCARCE_RUNS.items():
    for _name, (_what, _tasks, _build) in zip(_names, _MODELS, strict=True):
        register_standard(
            _name,
            f"{_what}, {_n} labelled training images",
            scarce_setup(_tag),
            _tasks,
            _build,
            chapter=CHAPTER,
        )
