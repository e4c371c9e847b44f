"""An exponential moving average of the generator's weights, and its BatchNorm statistics.

Samples come from the average (:class:`EMA`), which is what seed 002's undefined
``update_average`` most plausibly meant; :func:`recalibrate_batchnorm` gives the averaged
weights BatchNorm statistics of their own.
"""

from __future__ import annotations

import torch
from torch import nn

from .generator import Generator

__all__ = ["EMA", "recalibrate_batchnorm"]


class EMA:
    """Exponential moving average of a model's parameters, kept in ``target``.

    ``update(model)`` sets, for every parameter, ``theta_ema <- d * theta_ema + (1 - d) * theta``
    and copies the buffers (BatchNorm statistics: :func:`recalibrate_batchnorm` recomputes them
    for the averaged weights before sampling). With ``warmup=True`` the decay of update ``t``
    (counting from 0) is ``min(decay, (1 + t) / (10 + t))``, so that the average forgets the
    random initialisation quickly; with ``warmup=False`` it is always ``decay``.

    >>> ema = EMA(copy.deepcopy(model), decay=0.999)  # doctest: +SKIP
    >>> ema.update(model)                             # after every optimiser step  # doctest: +SKIP
    """

    def __init__(self, target: nn.Module, decay: float = 0.999, warmup: bool = True):
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"decay must lie in [0, 1], got {decay}")
        self.target, self.decay, self.warmup, self.num_updates = target, decay, warmup, 0
        target.requires_grad_(False)

    def current_decay(self) -> float:
        """The decay the next :meth:`update` will use."""
        if not self.warmup:
            return self.decay
        t = self.num_updates
        return min(self.decay, (1.0 + t) / (10.0 + t))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the average one step towards ``model``'s parameters; copy its buffers."""
        d = self.current_decay()
        for avg, p in zip(self.target.parameters(), model.parameters(), strict=True):
            avg.lerp_(p.detach(), 1.0 - d)  # avg + (1 - d)(p - avg) = d avg + (1 - d) p
        for avg_b, b in zip(self.target.buffers(), model.buffers(), strict=True):
            avg_b.copy_(b)
        self.num_updates += 1


@torch.no_grad()
def recalibrate_batchnorm(
    generator: Generator, batches: int = 10, batch_size: int = 500, seed: int = 0
) -> None:
    """Recompute ``generator``'s BatchNorm statistics for its current weights ("standing
    statistics", Brock et al. 2019): reset them, run ``batches`` batches of random ``z`` and
    uniform labels in train mode with a cumulative average, and restore the module's mode.

    Needed for EMA weights: the running statistics copied from the trained generator belong
    to the trained weights, not to their average. Uses its own random generator, so the
    global random state is untouched.
    """
    norms = [m for m in generator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    was_training = generator.training
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average over the batches below
    device = next(generator.parameters()).device
    rng = torch.Generator().manual_seed(seed)
    generator.train()
    for _ in range(batches):
        z = torch.randn(batch_size, generator.z_dim, generator=rng)
        labels = torch.randint(0, generator.num_classes or 1, (batch_size,), generator=rng)
        generator(z.to(device), labels.to(device))
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum
    generator.train(was_training)
