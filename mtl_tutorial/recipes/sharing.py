"""Chapter 2 experiments: what should the tasks share?

Three families, each with single-task baselines trained under the same budget:

* **MultiMNIST** (left/right digit): single-task LeNets, hard sharing, soft sharing
  (plus a sweep of the penalty weight) and cross-stitch networks.
* **Shapes dense pair** (segmentation + depth): seed 004's encoder with two decoders
  (hard), two encoder-decoders tied by the soft penalty, and single-task networks.
* **Negative transfer** on Shapes (which shapes? / which colours?) at three settings of
  the relatedness knob, with a deliberately small shared encoder.

Plus the corrected seed 003 and seed 004 image models on Shapes. Every run uses Adam
with cosine decay. The training seed changes the initialisation and the batch order,
never the data. Test splits are used for reporting only: no early stopping or model
selection happens on them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from .. import pretrained
from ..data import MultiMNIST, Shapes
from ..experiments import Experiment, RunResult, TrainConfig, register
from ..loaders import BatchLoader, Subset
from ..metrics import delta_m
from ..models.dense import DenseMultiTaskNet
from ..models.seeds import Seed003Net, Seed004BoxNet
from ..models.sharing import CrossStitchNet, HardSharingNet, SoftSharingNet, count_parameters
from ..tasks import Task, box_regression, classification, dense_regression, multilabel, segmentation
from ..trainer import Trainer
from ..weighting import Weighting

CHAPTER = "2-sharing"


@dataclass(frozen=True)
class Setup:
    """Data and optimisation settings shared by the experiments of one family."""

    key: str
    train: Callable[[], object]
    test: Callable[[], object]
    epochs: int
    batch_size: int = 256
    lr: float = 1e-3
    baselines: dict[str, str] = field(default_factory=dict)  # metric -> single-task experiment


@functools.lru_cache(maxsize=16)
def _shapes(split: str, n: int, relatedness: float) -> Shapes:
    return Shapes(split, n=n, seed=0, relatedness=relatedness)


MULTIMNIST = Setup(
    "multimnist",
    lambda: MultiMNIST("train", seed=0),
    lambda: MultiMNIST("test", seed=0),
    epochs=12,
    baselines={"acc_left": "multimnist-single-left", "acc_right": "multimnist-single-right"},
)
DENSE = Setup(
    "shapes-dense",
    lambda: _shapes("train", 10_000, 0.5),
    lambda: _shapes("test", 2_000, 0.5),
    epochs=8,
    batch_size=64,
    baselines={"miou": "shapes-single-seg", "depth_mse": "shapes-single-depth"},
)
NT_RELATEDNESS = (0.0, 0.5, 1.0)
NT_WIDTHS, NT_FEATURES = (8, 16), 16


def _nt_setup(r: float) -> Setup:
    tag = _nt_tag(r)
    return Setup(
        f"shapes-nt-{tag}",
        lambda: _shapes("train", 3_000, r),
        lambda: _shapes("test", 2_000, r),
        epochs=20,
        batch_size=64,
        baselines={
            "acc_shapes": f"shapes-nt-{tag}-single-shapes",
            "acc_colours": f"shapes-nt-{tag}-single-colours",
        },
    )


def _nt_tag(r: float) -> str:
    return f"r{int(round(100 * r)):03d}"


SEEDS = Setup(
    "shapes-seeds",
    lambda: _shapes("train", 10_000, 0.5),
    lambda: _shapes("test", 2_000, 0.5),
    epochs=8,
    batch_size=64,
)
SEEDS_BOX = Setup(
    "shapes-box",
    lambda: Shapes("train", n=10_000, seed=0, max_shapes=1),
    lambda: Shapes("test", n=2_000, seed=0, max_shapes=1),
    epochs=8,
    batch_size=64,
)


def single_task_baselines(setup: Setup) -> dict[str, float]:
    """Seed-mean metrics of the shipped single-task baselines of ``setup``, keyed by metric."""
    shipped = pretrained.manifest()
    return {
        m: pretrained.seed_statistics(n)[m][0] for m, n in setup.baselines.items() if n in shipped
    }


def _evaluator(
    setup: Setup, tasks: list[Task]
) -> Callable[[nn.Module, torch.device], dict[str, float]]:
    def evaluate(model: nn.Module, device: torch.device) -> dict[str, float]:
        result = Trainer(model, tasks, device=device).evaluate(BatchLoader(setup.test(), 500))
        metrics = {t.metric_name: result[t.metric_name] for t in tasks}
        metrics["params"] = float(count_parameters(model))
        baselines = single_task_baselines(setup)
        if len(tasks) > 1 and baselines and set(baselines) <= set(metrics):
            better = {t.metric_name: t.higher_is_better for t in tasks}
            metrics["delta_m"] = delta_m(metrics, baselines, better)
        return metrics

    return evaluate


GRAD_COSINE_EVERY = 20  # steps between two measurements of the task-gradient cosine


def _register(
    name: str,
    description: str,
    setup: Setup,
    tasks: list[Task],
    build: Callable[[], nn.Module],
    epochs: int | None = None,
    weighting: Callable[[], Weighting] | None = None,
    chapter: str = CHAPTER,
) -> None:
    """Register experiment ``name``: ``build()`` trained on ``setup`` with Adam + cosine decay.

    ``weighting`` builds a fresh loss weighting for each run (default: equal weights);
    ``chapter`` is the book chapter the experiment belongs to.
    """
    evaluate = _evaluator(setup, tasks)
    default_epochs = epochs or setup.epochs

    def train(cfg: TrainConfig) -> RunResult:
        n_epochs = 1 if cfg.quick and cfg.epochs is None else (cfg.epochs or default_epochs)
        train_data, test_data = setup.train(), setup.test()
        max_batches = None
        if cfg.quick:
            train_data, test_data, max_batches = Subset(train_data, 1024), Subset(test_data, 500), 8
        model = build()
        options = {} if weighting is None else {"weighting": weighting()}
        trainer = Trainer(
            model,
            tasks,
            lr=setup.lr,
            device=cfg.device,
            cosine_epochs=n_epochs,
            grad_cosine_every=GRAD_COSINE_EVERY if len(tasks) > 1 else 0,
            **options,
        )
        history = trainer.fit(
            BatchLoader(train_data, setup.batch_size, shuffle=True, seed=cfg.seed),
            BatchLoader(test_data, 500),
            n_epochs,
            max_batches,
        )
        # a full run is evaluated by experiments.run, after its checkpoint is saved
        metrics = trainer.evaluate(BatchLoader(test_data, 500)) if cfg.quick else None
        config = {
            "setup": setup.key,
            "epochs": n_epochs,
            "batch_size": setup.batch_size,
            "lr": setup.lr,
            "schedule": "cosine",
            "optimizer": "adam",
            "data_seed": 0,
        }
        if weighting is not None:
            config["weighting"] = repr(trainer.weighting)
        return RunResult(model.cpu(), metrics, history, n_epochs, extra={"config": config})

    metric_names = (
        tuple(t.metric_name for t in tasks) + ("params",) + (("delta_m",) if len(tasks) > 1 else ())
    )
    # a multi-task run's delta_m reads its single-task baselines' shipped seed means
    requires = tuple(sorted(set(setup.baselines.values()))) if len(tasks) > 1 else ()
    register(
        Experiment(
            name,
            chapter,
            description,
            build,
            train,
            evaluate,
            metric_names,
            default_epochs,
            requires=requires,
        )
    )


# --- MultiMNIST ----------------------------------------------------------------------
LEFT, RIGHT = classification("left"), classification("right")
SOFT_PENALTY = 1e-3
SOFT_SWEEP = (0.0, 1e-4, 1e-3, 1e-2, 1e-1)
SOFT_SWEEP_EPOCHS = 4
CROSS_STITCH_INIT = 0.9

_register(
    "multimnist-single-left",
    "single-task baseline: left digit",
    MULTIMNIST,
    [LEFT],
    lambda: HardSharingNet([LEFT]),
)
_register(
    "multimnist-single-right",
    "single-task baseline: right digit",
    MULTIMNIST,
    [RIGHT],
    lambda: HardSharingNet([RIGHT]),
)
_register(
    "multimnist-hard",
    "hard sharing: one LeNet encoder, two heads, equal weights",
    MULTIMNIST,
    [LEFT, RIGHT],
    lambda: HardSharingNet([LEFT, RIGHT]),
)
_register(
    "multimnist-soft",
    f"soft sharing: two LeNets + {SOFT_PENALTY:g}*||theta1-theta2||^2",
    MULTIMNIST,
    [LEFT, RIGHT],
    lambda: SoftSharingNet([LEFT, RIGHT], penalty_weight=SOFT_PENALTY),
)
_register(
    "multimnist-cross-stitch",
    "two LeNets mixed by cross-stitch units after both conv stages",
    MULTIMNIST,
    [LEFT, RIGHT],
    lambda: CrossStitchNet([LEFT, RIGHT], init_self=CROSS_STITCH_INIT),
)
for _lam in SOFT_SWEEP:
    _register(
        f"multimnist-soft-lambda-{_lam:g}",
        f"soft-sharing sweep point lambda={_lam:g} ({SOFT_SWEEP_EPOCHS} epochs)",
        MULTIMNIST,
        [LEFT, RIGHT],
        functools.partial(SoftSharingNet, [LEFT, RIGHT], penalty_weight=_lam),
        epochs=SOFT_SWEEP_EPOCHS,
    )

# --- Shapes dense pair: segmentation + depth ------------------------------------------
SEG, DEPTH = segmentation("seg", 4), dense_regression("depth")
DENSE_WIDTHS = (8, 16, 32)
DENSE_NORM = True  # without BatchNorm, 1 seed in 3 stalled at background-vs-shape segmentation
DENSE_PENALTY = 1e-3

_register(
    "shapes-single-seg",
    "single-task segmentation (encoder-decoder)",
    DENSE,
    [SEG],
    lambda: DenseMultiTaskNet([SEG], widths=DENSE_WIDTHS, norm=DENSE_NORM),
)
_register(
    "shapes-single-depth",
    "single-task depth (encoder-decoder)",
    DENSE,
    [DEPTH],
    lambda: DenseMultiTaskNet([DEPTH], widths=DENSE_WIDTHS, norm=DENSE_NORM),
)
_register(
    "shapes-hard",
    "seed 004 corrected: shared encoder, seg + depth decoders",
    DENSE,
    [SEG, DEPTH],
    lambda: DenseMultiTaskNet([SEG, DEPTH], widths=DENSE_WIDTHS, norm=DENSE_NORM),
)
_register(
    "shapes-soft",
    f"two encoder-decoders + {DENSE_PENALTY:g}*||enc1-enc2||^2",
    DENSE,
    [SEG, DEPTH],
    lambda: SoftSharingNet(
        [SEG, DEPTH],
        DENSE_PENALTY,
        column=lambda t: DenseMultiTaskNet([t], widths=DENSE_WIDTHS, norm=DENSE_NORM),
    ),
)

# --- Negative transfer: which shapes? / which colours? --------------------------------
SHAPES_T, COLOURS_T = multilabel("shapes", 3), multilabel("colours", 3)


def _small(tasks: list[Task]) -> Callable[[], nn.Module]:
    return functools.partial(
        HardSharingNet, tasks, in_channels=3, image_size=32, widths=NT_WIDTHS, features=NT_FEATURES
    )


for _r in NT_RELATEDNESS:
    _s = _nt_setup(_r)
    _t = _nt_tag(_r)
    _register(
        f"shapes-nt-{_t}-single-shapes",
        f"negative transfer, relatedness {_r}: shapes alone",
        _s,
        [SHAPES_T],
        _small([SHAPES_T]),
    )
    _register(
        f"shapes-nt-{_t}-single-colours",
        f"negative transfer, relatedness {_r}: colours alone",
        _s,
        [COLOURS_T],
        _small([COLOURS_T]),
    )
    _register(
        f"shapes-nt-{_t}-hard",
        f"negative transfer, relatedness {_r}: shared small encoder",
        _s,
        [SHAPES_T, COLOURS_T],
        _small([SHAPES_T, COLOURS_T]),
    )

# --- The seeds' own image models, corrected --------------------------------------------
_register(
    "shapes-seed003",
    "seed 003 corrected: shared trunk, multi-label classifier + segmenter",
    SEEDS,
    [SHAPES_T, SEG],
    Seed003Net,
)
_register(
    "shapes-seed004-box",
    "seed 004 corrected: shared CNN, front-shape class + box regression",
    SEEDS_BOX,
    [classification("front", 3), box_regression("box")],
    Seed004BoxNet,
)
