"""Evaluating generators without downloads: classifiers trained by the package are the judges.

FID (Heusel et al., 2017) compares Inception features of real and generated images; the
Inception network would have to be downloaded, and it was trained on ImageNet photographs,
not digits. Here the judges are the package's own MNIST classifiers, trained on MNIST train
and never on generated images or by the GANs. Chapter 5's GAN metrics
(:func:`evaluate_generator`) use ``mnist-judge`` (:data:`JUDGE`: a CNN at 0.996 test
accuracy whose 256 features are all live on real digits) and, for a second opinion on the
labels, ``mnist-judge-mlp`` (:data:`SECOND_JUDGE`, an MLP of another model family). Chapter
4's two-digit metrics and the GANs' cheap per-epoch monitor use the smaller
``mnist-classifier`` (:data:`CLASSIFIER`, 0.989), which is what they were built with:

* ``label_accuracy``: how often the classifier assigns a generated digit to the requested class;
* ``classifier_fid``: the Fréchet distance between Gaussians fitted to the classifier's
  penultimate-layer features of generated images and of the real *test* images
  (``classifier_fid_floor``: the same between real train and real test images, the value a
  perfect generator would get up to sampling noise);
* ``precision`` and ``recall`` (Kynkäänniemi et al., 2019) in the same feature space:
  the share of generated images inside the real data's k-NN manifold, and the share of real
  images inside the generated data's manifold.

Numbers computed in this feature space are comparable with each other, not with published
Inception FIDs.

For any judge (issue #18): ``binomial_interval`` (Wilson interval of a label accuracy),
``live_units`` and ``frechet_distance(..., mask=...)`` (the distance on the units that vary
on real images only) and ``fd_over_seeds`` (one distance per noise seed: mean and spread).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import torch
from torch import nn

from . import store
from .checkpoint import load_checkpoint
from .feature_stats import (
    binomial_interval,
    frechet_distance,
    frechet_distance_from_stats,
    gaussian_stats,
    live_units,
    precision_recall,
)
from .models.classifier import MNISTClassifier
from .models.judges import ConvJudge, MLPJudge
from .models.mtcgan import Generator

__all__ = [
    "CLASSIFIER",
    "ClassifierMissingError",
    "JUDGE",
    "Judge",
    "NOISE_SEEDS",
    "SECOND_JUDGE",
    "classifier_features",
    "classifier_key",
    "binomial_interval",
    "evaluate_generator",
    "fd_over_seeds",
    "frechet_distance",
    "frechet_distance_from_stats",
    "gaussian_stats",
    "generate",
    "label_accuracy",
    "live_units",
    "load_classifier",
    "pair_features",
    "precision_recall",
    "real_floor",
    "real_test_features",
    "require_judges",
]

#: Chapter 4's judge (two-digit canvases) and the GANs' per-epoch monitor.
CLASSIFIER = "mnist-classifier"
#: The judge of chapter 5's GAN metrics: label accuracy, FD, precision and recall.
JUDGE = "mnist-judge"
#: A judge of another model family: a second label accuracy (``label_accuracy_mlp``).
SECOND_JUDGE = "mnist-judge-mlp"
#: Noise seeds of :func:`evaluate_generator`'s FD spread (``classifier_fid_noise_sd``).
NOISE_SEEDS = (0, 1, 2, 3)
_ARCHITECTURES: dict[str, type[nn.Module]] = {
    CLASSIFIER: MNISTClassifier,
    JUDGE: ConvJudge,
    SECOND_JUDGE: MLPJudge,
}


class ClassifierMissingError(FileNotFoundError):
    """A judge's weights (``mnist-classifier``, ``mnist-judge``, ...) do not ship yet."""


class Judge(Protocol):
    """What the metrics need of a judge: ``MNISTClassifier`` or a model of ``models.judges``."""

    def features(self, x: torch.Tensor) -> torch.Tensor: ...
    def __call__(self, x: torch.Tensor) -> dict[str, torch.Tensor]: ...
    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]: ...
    def eval(self) -> Any: ...


@torch.no_grad()
def classifier_features(
    classifier: Judge, images: torch.Tensor, batch_size: int = 1000
) -> torch.Tensor:
    """The classifier's penultimate features (N, D) of ``images`` (N, 1, 28, 28) in [0, 1]."""
    device = next(classifier.parameters()).device
    classifier.eval()
    return torch.cat(
        [
            classifier.features(images[i : i + batch_size].to(device)).float().cpu()
            for i in range(0, len(images), batch_size)
        ]
    )


@torch.no_grad()
def pair_features(
    classifier: Judge, canvases: torch.Tensor, batch_size: int = 1000
) -> torch.Tensor:
    """Features (N, 2D) of two-digit 36x36 canvases: the classifier's features of the left
    digit's 28x28 window and of the right digit's, concatenated.

    MultiMNIST(-Seg) pastes the left digit at rows/cols [0:28] and the right one at [6:34]
    (:mod:`mtl_tutorial.data.multimnist`), so each window holds one whole digit (plus part of
    the other, for real and generated canvases alike). This lets the MNIST judge compare
    generators of two-digit canvases (chapter 4) in the same way as digit generators.
    """
    from .data.multimnist import CANVAS, DIGIT, LEFT_OFFSET, RIGHT_OFFSET

    if canvases.dim() != 4 or canvases.shape[1:] != (1, CANVAS, CANVAS):
        raise ValueError(
            f"expected canvases (N, 1, {CANVAS}, {CANVAS}) in [0, 1], got {tuple(canvases.shape)}"
        )
    windows = [
        canvases[..., o : o + DIGIT, o : o + DIGIT].contiguous()
        for o in (LEFT_OFFSET, RIGHT_OFFSET)
    ]
    return torch.cat([classifier_features(classifier, w, batch_size) for w in windows], dim=1)


@torch.no_grad()
def label_accuracy(
    classifier: Judge, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000
) -> float:
    """Share of ``images`` (in [0, 1]) that ``classifier`` assigns to ``labels``."""
    device = next(classifier.parameters()).device
    classifier.eval()
    correct = 0
    for i in range(0, len(images), batch_size):
        logits = classifier(images[i : i + batch_size].to(device))["digit"]
        correct += int((logits.argmax(1).cpu() == labels[i : i + batch_size].cpu()).sum())
    return correct / max(len(images), 1)


@torch.no_grad()
def generate(
    generator: Generator, n: int, seed: int = 0, batch_size: int = 1000
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` samples of ``generator`` as images in [0, 1] (on the CPU) and their requested labels.

    Labels cycle through the classes (balanced, like MNIST test); the noise comes from a
    CPU generator seeded with ``seed``, so the result does not depend on the device.
    """
    classes = getattr(generator, "num_classes", None) or 10
    labels = torch.arange(n) % classes
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(n, generator.z_dim, generator=rng)
    was_training = generator.training
    generator.eval()
    images = torch.cat(
        [
            generator.sample(labels[i : i + batch_size], z[i : i + batch_size]).cpu()
            for i in range(0, n, batch_size)
        ]
    )
    generator.train(was_training)
    return ((images + 1) / 2).clamp(0, 1), labels


def load_classifier(device: torch.device | str = "cpu", name: str = CLASSIFIER) -> Judge:
    """The shipped judge ``name`` (sha256-checked) in eval mode, or a clear error.

    ``name`` is :data:`CLASSIFIER`, :data:`JUDGE` or :data:`SECOND_JUDGE`. The judge is
    loaded straight from the store, not through the experiment registry, so evaluation code
    never depends on the layer that defines the experiments.
    """
    if name not in _ARCHITECTURES:
        raise ValueError(f"unknown judge {name!r}; use one of {sorted(_ARCHITECTURES)}")
    if name not in store.available():
        raise ClassifierMissingError(
            f"the generator metrics need the shipped {name!r} weights, which are missing. "
            f"Train it first with `python -m mtl_tutorial train {name} --ship`."
        )
    model = _ARCHITECTURES[name]()
    load_checkpoint(store.verify_weights(name), model)
    return model.to(device).eval()  # type: ignore[return-value]  # every entry is a Judge


def require_judges(names: Sequence[str] = (JUDGE, SECOND_JUDGE)) -> None:
    """Fail with :class:`ClassifierMissingError` unless every judge in ``names`` ships intact.

    Checks the files and their sha256 only: no network is built, so the seeded random
    number stream of a training run that calls this first is not touched.
    """
    for name in names:
        if name not in store.available():
            raise ClassifierMissingError(
                f"the generator metrics need the shipped {name!r} weights, which are missing. "
                f"Train it first with `python -m mtl_tutorial train {name} --ship`."
            )
        store.verify_weights(name)


def classifier_key(name: str = CLASSIFIER) -> str:
    """The shipped judge's sha256: a cache key for features computed with it."""
    return store.manifest()[name]["sha256"]


@functools.lru_cache(maxsize=8)
def _real_features(split: str, n: int, seed: int, name: str, key: str, device: str) -> torch.Tensor:
    """Features by judge ``name`` of ``n`` real images of ``split`` (all if ``n`` >= size).

    Cached per shipped judge (``key`` is its sha256) and device.
    """
    from .data import MNISTDigits

    data = MNISTDigits(split)
    index = (
        torch.arange(len(data))
        if n >= len(data)
        else torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n]
    )
    images, _ = data.batch(index)
    return classifier_features(load_classifier(device, name), images)


def real_test_features(
    device: torch.device | str = "cpu", n: int = 10_000, seed: int = 0, name: str = CLASSIFIER
) -> torch.Tensor:
    """Judge ``name``'s features of the MNIST test images (a seeded subset if ``n`` < 10,000)."""
    return _real_features("test", n, seed, name, classifier_key(name), str(torch.device(device)))


def real_floor(
    n: int = 10_000,
    device: torch.device | str = "cpu",
    k: int = 3,
    seed: int = 0,
    name: str = CLASSIFIER,
) -> dict[str, float]:
    """What a perfect generator would score: ``n`` real train images against real test.

    Returns ``classifier_fid_floor``, ``precision_floor`` and ``recall_floor``, in the
    features of judge ``name`` (FD on the units that are live on the test images).
    """
    key, dev = classifier_key(name), str(torch.device(device))
    train = _real_features("train", n, seed, name, key, dev)
    test = _real_features("test", n, seed, name, key, dev)
    precision, recall = precision_recall(test, train, k)
    return {
        "classifier_fid_floor": frechet_distance(train, test, live_units(test)),
        "precision_floor": precision,
        "recall_floor": recall,
    }


@torch.no_grad()
def fd_over_seeds(
    generator: Generator,
    classifier: Judge,
    real_features: torch.Tensor,
    seeds: Sequence[int] = (0, 1, 2, 3),
    n: int = 10_000,
    mask: torch.Tensor | None = None,
) -> list[float]:
    """One Fréchet distance per noise seed (:func:`generate`'s ``seed``) of ``n`` samples against
    ``real_features``, on the units ``mask`` selects (all if None): their spread is sampling noise.
    """
    if not seeds:
        raise ValueError("fd_over_seeds needs at least one seed, e.g. seeds=(0, 1, 2, 3)")
    fakes = (classifier_features(classifier, generate(generator, n, s)[0]) for s in seeds)
    return [frechet_distance(fake, real_features, mask) for fake in fakes]


@torch.no_grad()
def evaluate_generator(
    generator: Generator,
    device: torch.device | str = "cpu",
    n: int = 10_000,
    seed: int = 0,
    k: int = 3,
    classifier: Judge | None = None,
    real_features: torch.Tensor | None = None,
) -> dict[str, float]:
    """All generator metrics of this module for ``n`` samples against the real test images.

    By default (no ``classifier``) the judges are the shipped :data:`JUDGE` and
    :data:`SECOND_JUDGE`, and the result holds, for ``n`` samples of noise seed ``seed``:

    * ``label_accuracy`` (:data:`JUDGE`) with its 95 % Wilson interval
      ``label_accuracy_low`` / ``label_accuracy_high``, and ``label_accuracy_mlp``
      (:data:`SECOND_JUDGE`); all left out for an unconditional generator;
    * ``classifier_fid``: FD in :data:`JUDGE`'s features, on the units live on the 10,000
      test images (all 256 today); ``classifier_fid_noise_sd``: the standard deviation of
      that FD over the noise seeds :data:`NOISE_SEEDS` (sampling noise, not training noise);
    * ``precision``, ``recall`` (k-NN manifolds in the same features) and
      ``classifier_fid_floor`` (:func:`real_floor`).

    Pass ``classifier`` and ``real_features`` to evaluate with another judge (as the tests
    do): then only ``label_accuracy``, ``classifier_fid``, ``precision`` and ``recall``.
    """
    generator = generator.to(device)
    conditional = getattr(generator, "num_classes", None) is not None
    if classifier is not None:
        if real_features is None:
            raise ValueError("pass real_features together with a custom classifier")
        images, labels = generate(generator, n, seed)
        fake = classifier_features(classifier, images)
        precision, recall = precision_recall(real_features, fake, k)
        metrics = (
            {"label_accuracy": label_accuracy(classifier, images, labels)} if conditional else {}
        )
        metrics.update(
            classifier_fid=frechet_distance(fake, real_features), precision=precision, recall=recall
        )
        return metrics

    judge = load_classifier(device, JUDGE)
    real = real_test_features(device, n, seed, JUDGE)
    mask = live_units(real_test_features(device, name=JUDGE))
    images, labels = generate(generator, n, seed)
    fake = classifier_features(judge, images)
    precision, recall = precision_recall(real, fake, k)
    metrics = {}
    if conditional:
        correct = round(label_accuracy(judge, images, labels) * n)
        low, high = binomial_interval(correct, n)
        second = load_classifier(device, SECOND_JUDGE)
        metrics.update(
            label_accuracy=correct / n,
            label_accuracy_low=low,
            label_accuracy_high=high,
            label_accuracy_mlp=label_accuracy(second, images, labels),
        )
    others = [s for s in NOISE_SEEDS if s != seed]
    fds = [
        frechet_distance(fake, real, mask),
        *fd_over_seeds(generator, judge, real, others, n, mask),
    ]
    metrics.update(
        classifier_fid=fds[0],
        classifier_fid_noise_sd=float(torch.tensor(fds).std()),
        precision=precision,
        recall=recall,
        classifier_fid_floor=real_floor(n, device, k, seed, JUDGE)["classifier_fid_floor"],
    )
    return metrics
