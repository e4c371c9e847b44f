"""How chapter 4 scores a generation + segmentation model.

:func:`evaluate_genseg` computes every metric of every task in one pass over a test
loader (``miou`` and ``pixel_acc`` for segmentation, ``recon_mse`` and, for a VAE, ``kl``
for generation, accuracy for the digit heads); :func:`generation_fid` scores the VAE's
samples with the MNIST judge of :mod:`mtl_tutorial.gan_eval`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence

import torch
from torch import nn

from .. import gan_eval
from ..data import MultiMNISTSeg
from ..losses import VAEOutput, kl_divergence
from ..metrics import Accuracy, MeanIoU, MeanMetric, Metric, PixelAccuracy, ReconstructionMSE
from ..models.genseg import GenSegNet
from ..tasks import Task
from ..trainer import Batch

__all__ = [
    "FID_METRICS",
    "FID_SAMPLES",
    "MeanKL",
    "evaluate_genseg",
    "generation_fid",
    "multimnist_seg",
    "task_metrics",
]

FID_SAMPLES = 2_000  # VAE samples, compared with as many test canvases
FID_METRICS = ("classifier_fid", "classifier_fid_floor")


@functools.lru_cache(maxsize=2)
def multimnist_seg(split: str) -> MultiMNISTSeg:
    """Chapter 4's MultiMNIST-Seg ``split`` (data seed 0), loaded once."""
    return MultiMNISTSeg(split, seed=0)


class MeanKL(MeanMetric):
    """Mean KL(q(z|x) || N(0, I)) of a VAE output in nats per image (read it with ``recon_mse``:
    a VAE can buy a lower reconstruction error with a larger KL)."""

    higher_is_better = False

    def update(  # type: ignore[override]  # the KL reads the VAE's output, not a tensor
        self, prediction: VAEOutput, target: torch.Tensor
    ) -> None:
        n = prediction.mu.shape[0]
        self.add(float(kl_divergence(prediction.mu, prediction.logvar)) * n, n)


def task_metrics(task: Task, vae: bool = True) -> dict[str, Metric]:
    """The metrics of ``task``, by name: ``vae`` adds ``kl`` to a generation task's."""
    if task.name == "seg":
        return {"miou": MeanIoU(task.out_channels), "pixel_acc": PixelAccuracy()}
    if task.name == "gen":
        return {"recon_mse": ReconstructionMSE(), **({"kl": MeanKL()} if vae else {})}
    if task.name == "render":
        return {task.metric_name: ReconstructionMSE()}
    return {task.metric_name: Accuracy()}


@torch.no_grad()
def evaluate_genseg(
    model: nn.Module,
    tasks: Sequence[Task],
    loader: Iterable[Batch],
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """Every metric of ``tasks`` in one pass over ``loader``.

    Segmentation: ``miou`` and ``pixel_acc``; generation: ``recon_mse`` and, for a VAE
    (a :class:`~mtl_tutorial.models.genseg.VAEOutput`), ``kl``; classification: accuracy.
    Sample quality is :func:`generation_fid`'s job.
    """
    model.to(device).eval()
    metrics: dict[str, dict[str, Metric]] | None = None
    for x, targets in loader:
        outputs = model(x.to(device))
        if metrics is None:
            vae = isinstance(outputs.get("gen"), VAEOutput)
            metrics = {t.name: task_metrics(t, vae) for t in tasks}
        for t in tasks:
            for metric in metrics[t.name].values():
                metric.update(outputs[t.name], targets[t.name].to(device))
    assert metrics is not None, "empty evaluation loader"
    return {k: m.compute() for per_task in metrics.values() for k, m in per_task.items()}


@functools.lru_cache(maxsize=4)
def _real_pair_features(split: str, key: str, device: str) -> torch.Tensor:
    """The judge's pair features of the first FID_SAMPLES canvases of ``split`` (cached per judge)."""
    images, _ = multimnist_seg(split).batch(torch.arange(FID_SAMPLES))
    return gan_eval.pair_features(gan_eval.load_classifier(device), images)


@torch.no_grad()
def generation_fid(
    model: GenSegNet, device: torch.device | str = "cpu", n: int = FID_SAMPLES, seed: int = 0
) -> dict[str, float]:
    """``classifier_fid`` of ``n`` VAE samples (noise seeded by ``seed``) against the first
    2,000 test canvases, and ``classifier_fid_floor``: the first 2,000 train canvases against
    the same test canvases. Judge: the shipped ``mnist-classifier``, on each digit window."""
    key, dev = gan_eval.classifier_key(), str(torch.device(device))
    real = _real_pair_features("test", key, dev)
    noise = torch.Generator().manual_seed(seed)
    samples = model.to(device).sample(torch.zeros(n, dtype=torch.long), generator=noise)
    fake = gan_eval.pair_features(gan_eval.load_classifier(device), samples)
    return {
        "classifier_fid": gan_eval.frechet_distance(fake, real),
        "classifier_fid_floor": gan_eval.frechet_distance(
            _real_pair_features("train", key, dev), real
        ),
    }
