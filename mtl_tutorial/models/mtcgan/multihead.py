"""Building blocks of the issue-#18 discriminators: batch chunks, a correct freeze, TAC losses.

* :func:`chunk_bounds` and :func:`chunked_d_adversarial_loss`: seed 002's ``K`` real/fake
  heads, each trained on its own chunk of the real and of the fake batch
  (``mtcgan-seed002``).
* :func:`frozen`: a context manager that freezes exactly one module (``requires_grad``
  off on its parameters, its BatchNorm layers in eval mode) and restores both on exit,
  even after an exception. Seed 002's code froze its "shared parts" and then called
  ``requires_grad_(True)`` on the *whole* discriminator inside the loop, which undid the
  freeze before any update (``tests/test_mtcgan_multihead.py`` reproduces that).
* :func:`tac_d_loss` and :func:`tac_g_loss`: the twin auxiliary classifier of TAC-GAN
  (Gong et al., 2019), used by ``mtcgan-proj``.

``mtcgan-seed002``: what is the article's and what is corrected. From the article (seed 002,
section 4.1): K = 4 real/fake heads (``NUM_HEADS``) with losses averaged with weights 1/K;
a first phase in which the heads learn from sub-batches ("Separate batches into heads");
a second phase that updates D on the whole batch with the "shared parts" frozen ("Combine
all heads together"); then the G step; Adam 2e-4, betas (0.5, 0.999), batch 64, z of 64.
Corrected: the heads share one trunk (the article's K heads were K separate networks with
nothing shared, so there was nothing to freeze); head ``k`` gets chunk ``k`` of the batch
(the article's loop gave every iteration the same first 16 images); the first phase is
one D update with the K chunk losses averaged, and the second phase one head-only update
(the article ran each phase K times, 8 D updates per G update: erratum 23), in which the
trunk really is frozen (:func:`frozen`; the article's ``requires_grad_(True)`` on the
whole D inside the loop undid its freeze before the first update); logits instead of the article's sigmoid, real
images scored as real; the class and latent heads stand for the article's
"classification and regression" losses as in ``mtcgan`` (its real/fake BCE and unpaired
image MSE are errata 14-15 in ``dev-notes/seed_errata.md``). Kept from the package: the
conditional generator, the 28x28 trunk without BatchNorm, the EMA of G.

A frozen parameter must have ``grad is None`` when the optimiser steps, not a zero
gradient: Adam (and SGD with momentum) moves a parameter whose gradient is zero through
its running averages. The GAN clears gradients with ``zero_grad(set_to_none=True)``, so a
parameter that took no part in the backward pass is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from ...losses import d_adversarial_loss

__all__ = [
    "chunk_bounds",
    "chunked_d_adversarial_loss",
    "frozen",
    "tac_d_loss",
    "tac_g_loss",
]


def chunk_bounds(n: int, k: int) -> list[tuple[int, int]]:
    """``k`` contiguous, disjoint ``[start, end)`` ranges that cover ``range(n)``.

    Sizes differ by at most one, the larger chunks first (``torch.tensor_split``'s rule):
    ``chunk_bounds(10, 4) == [(0, 3), (3, 6), (6, 8), (8, 10)]``. The loader shuffles the
    batch, so contiguous chunks are random subsets of it.
    """
    if k < 1:
        raise ValueError(f"the number of chunks must be at least 1, got {k}")
    if n < k:
        raise ValueError(
            f"a batch of {n} cannot give each of the {k} real/fake heads its own chunk; "
            f"use a batch of at least {k} images"
        )
    size, extra = divmod(n, k)
    bounds, start = [], 0
    for i in range(k):
        end = start + size + (1 if i < extra else 0)
        bounds.append((start, end))
        start = end
    return bounds


def chunked_d_adversarial_loss(
    real: torch.Tensor, fake: torch.Tensor, kind: str = "ns"
) -> torch.Tensor:
    """Mean over the ``K`` heads of head ``k``'s discriminator loss on chunk ``k`` only.

    ``real`` and ``fake`` are ``(B, K)`` logits (column ``k`` = head ``k``). Head ``k``
    sees the rows ``chunk_bounds(B, K)[k]`` of both batches; the mean over heads uses
    seed 002's weights ``1/K``. The shared trunk receives the gradient of every row.
    """
    if real.dim() != 2 or real.shape != fake.shape:
        raise ValueError(
            "chunked_d_adversarial_loss expects real and fake logits of the same shape (B, K), "
            f"got {tuple(real.shape)} and {tuple(fake.shape)}"
        )
    losses = [
        d_adversarial_loss(real[s:e, k], fake[s:e, k], kind)
        for k, (s, e) in enumerate(chunk_bounds(real.shape[0], real.shape[1]))
    ]
    return torch.stack(losses).mean()


@contextmanager
def frozen(module: nn.Module) -> Iterator[nn.Module]:
    """Freeze ``module`` for the ``with`` block: no gradient, BatchNorm statistics fixed.

    Sets ``requires_grad=False`` on exactly ``module``'s parameters and puts its BatchNorm
    layers in eval mode (their running statistics stop moving, they normalise with the
    stored ones); on exit every parameter's ``requires_grad`` and every layer's mode is
    restored to what it was, also when the block raises. Parameters outside ``module``
    are not touched, so the heads of a discriminator whose trunk is frozen still learn.
    """
    params = list(module.parameters())
    flags = [p.requires_grad for p in params]
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    modes = [m.training for m in norms]
    try:
        for p in params:
            p.requires_grad_(False)
        for m in norms:
            m.eval()
        yield module
    finally:
        for p, flag in zip(params, flags, strict=True):
            p.requires_grad_(flag)
        for m, mode in zip(norms, modes, strict=True):
            m.train(mode)


def tac_d_loss(
    cls_real: torch.Tensor, labels: torch.Tensor, tac_fake: torch.Tensor, wanted: torch.Tensor
) -> torch.Tensor:
    """D's twin-auxiliary-classifier loss: ``CE(cls(x), y) + CE(tac(x~), c)``.

    The classifier ``cls`` learns the classes of *real* images only, the twin ``tac`` the
    requested classes of the *fakes* (as in the TAC-GAN authors' code, where AC-GAN's
    classifier also saw real images only). Uniform logits give ``2 log C``.
    """
    return F.cross_entropy(cls_real, labels) + F.cross_entropy(tac_fake, wanted)


def tac_g_loss(
    cls_fake: torch.Tensor, tac_fake: torch.Tensor, wanted: torch.Tensor
) -> torch.Tensor:
    """G's twin-auxiliary-classifier loss: ``CE(cls(x~), c) - CE(tac(x~), c)``.

    The first term is AC-GAN's: make the fake look like class ``c`` to a classifier of real
    digits. Alone it also rewards fakes that are *easy* to classify (it lowers the
    conditional entropy of the generated classes), which pushes G away from the class
    boundaries and costs diversity. The twin, trained on G's own samples, estimates that
    entropy; subtracting its cross-entropy cancels the bias (Gong et al., 2019, §3). When
    both heads give the same logits the term is 0; with uniform logits too.
    """
    return F.cross_entropy(cls_fake, wanted) - F.cross_entropy(tac_fake, wanted)
