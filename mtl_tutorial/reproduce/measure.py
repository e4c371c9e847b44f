"""Measure the cost of one training step of each experiment family on a device.

The plan's time estimates (:mod:`.plan`) need a per-step cost for every family. Each
family is probed with its representative network on real data: a few warm-up steps,
then ``steps`` timed optimisation steps at the family's batch size and at batch size 2.
The batch-2 time is the framework's fixed cost per step (Python, dispatch, one kernel
launch per op): on a large GPU the arithmetic of these small networks nearly vanishes,
so that fixed cost is what a GPU step costs. ``python -m mtl_tutorial reproduce
--measure`` writes the table to ``step_costs.json`` (next to this file by default).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from ..loaders import BatchDataset
from ..tasks import Task
from ..utils import describe_device, progress, seed_everything

__all__ = ["FAMILY_PROBES", "STEP_COSTS", "load_step_costs", "measure_families"]

STEP_COSTS = Path(__file__).resolve().parent / "step_costs.json"
Probe = tuple[nn.Module, list[Task], BatchDataset, int]  # model, tasks, data, batch size


def _sharing(key: str) -> Probe:
    from ..data import MultiMNIST, Shapes
    from ..experiments import ch2_sharing as s
    from ..models.dense import DenseMultiTaskNet
    from ..models.seeds import Seed003Net, Seed004BoxNet
    from ..models.sharing import HardSharingNet
    from ..tasks import box_regression, classification

    if key == "multimnist":
        return HardSharingNet([s.LEFT, s.RIGHT]), [s.LEFT, s.RIGHT], MultiMNIST("train"), 256
    if key == "shapes-dense":
        tasks = [s.SEG, s.DEPTH]
        net = DenseMultiTaskNet(tasks, widths=s.DENSE_WIDTHS, norm=s.DENSE_NORM)
        return net, tasks, Shapes("train", n=256, seed=0, relatedness=0.5), 64
    if key == "shapes-nt":
        tasks = [s.SHAPES_T, s.COLOURS_T]
        return s.small_net(tasks)(), tasks, Shapes("train", n=256, seed=0, relatedness=0.5), 64
    if key == "shapes-seeds":
        tasks = [s.SHAPES_T, s.SEG]
        return Seed003Net(), tasks, Shapes("train", n=256, seed=0, relatedness=0.5), 64
    tasks = [classification("front", 3), box_regression("box")]
    return Seed004BoxNet(), tasks, Shapes("train", n=256, seed=0, max_shapes=1), 64


def _genseg() -> Probe:
    from ..experiments import ch4_genseg as g

    tasks = [g.SEG, g.GEN, g.LEFT, g.RIGHT]
    return g.genseg_net(["seg", "gen", "left", "right"])(), tasks, g.genseg_data("train", 512), 128


def _gan() -> Probe:
    from ..data import MNISTDigits
    from ..experiments import ch5_mtcgan as mtcgan
    from ..models.mtcgan import GAN

    return GAN(mtcgan.VARIANTS["mtcgan"][1]), [], MNISTDigits("train"), mtcgan.GAN_BATCH_SIZE


def _mnist() -> Probe:
    from ..data import MNISTDigits
    from ..experiments import ch5_mtcgan as mtcgan
    from ..models.classifier import MNISTClassifier

    return MNISTClassifier(), [mtcgan.DIGIT], MNISTDigits("train"), 128


#: family -> a function building its representative (model, tasks, data, batch size)
FAMILY_PROBES: dict[str, Callable[[], Probe]] = {
    "mnist": _mnist,
    "multimnist": lambda: _sharing("multimnist"),
    "shapes-dense": lambda: _sharing("shapes-dense"),
    "shapes-nt": lambda: _sharing("shapes-nt"),
    "shapes-seeds": lambda: _sharing("shapes-seeds"),
    "shapes-box": lambda: _sharing("shapes-box"),
    "genseg": _genseg,
    "gan": _gan,
}


def _time_steps(probe: Probe, batch_size: int, steps: int, device: torch.device) -> float:
    """Seconds per optimisation step of ``probe``'s model at ``batch_size``."""
    from ..trainer import Trainer

    model, tasks, data, _ = probe
    trainer = Trainer(model, tasks, lr=1e-4, device=device)
    x, targets = data.batch(torch.arange(batch_size))  # on the device already, as in training
    batch = x.to(device), {k: v.to(device) for k, v in targets.items()}
    for _ in range(3):  # warm-up: allocator, autotuning, lazy initialisation
        trainer.step(batch)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        trainer.step(batch)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / steps


def measure_families(
    device: torch.device | str = "cpu", steps: int = 10, families: list[str] | None = None
) -> dict[str, object]:
    """Time ``steps`` training steps of each family at its batch size and at batch size 2.

    Returns ``{"device", "threads", "torch_version", "families": {name: {"batch_size",
    "step_s", "overhead_step_s"}}}``. As in training, the random generators and cuDNN are
    set by :func:`seed_everything` and the batch is already on the device (a resident
    dataset's).
    """
    device = torch.device(device)
    out: dict[str, dict[str, float]] = {}
    for name in progress(families or list(FAMILY_PROBES), desc="measure"):
        seed_everything(0)
        probe = FAMILY_PROBES[name]()
        step = _time_steps(probe, probe[3], steps, device)
        seed_everything(0)
        overhead = _time_steps(FAMILY_PROBES[name](), 2, steps, device)
        out[name] = {
            "batch_size": probe[3],
            "step_s": round(step, 5),
            "overhead_step_s": round(overhead, 5),
        }
    return {
        "device": describe_device(device),
        "threads": torch.get_num_threads(),
        "torch_version": torch.__version__.split("+")[0],
        "families": out,
    }


def load_step_costs(path: Path | None = None) -> dict[str, object]:
    """The stored measurements (``{}`` when none were made)."""
    path = path or STEP_COSTS
    return json.loads(path.read_text()) if path.exists() else {}
