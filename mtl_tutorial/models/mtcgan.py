"""MT-CGAN corrected: a class-conditional GAN whose discriminator learns several tasks.

Seed 002 describes a GAN whose discriminator has "several heads" with "classification and
regression" losses. Its code has no shared trunk, no labels and no working loss (see
``notes/seed_errata.md``). This module is the sound version, small enough to train on one
CPU thread::

    Generator  (z (B, 64), one-hot label (B, 10))
      -> linear -> BN -> ReLU -> (2w, 7, 7)
      -> convT 4x4 s2 -> BN -> ReLU -> (w, 14, 14)
      -> convT 4x4 s2 -> tanh -> (1, 28, 28) in [-1, 1]

    Discriminator (image (B, 1, 28, 28) in [-1, 1])
      shared trunk: conv 4x4 s2 -> LeakyReLU -> (w, 14, 14)
                    conv 4x4 s2 -> LeakyReLU -> map (2w, 7, 7); h = flatten(map), 98w values
      heads:  adv    linear(h) -> 1 real/fake logit for the whole image           (every GAN)
              (+ <embed(y), h> with ``projection``: the cGAN baseline, Miyato & Koyama 2018)
              patch  conv 1x1 on the map -> (7, 7) real/fake logits, one per 10x10-pixel
                     patch (PatchGAN, Isola et al. 2017): the same judge at every place
              cls    linear(h) -> 10 class logits                 (AC-GAN, Odena et al. 2017)
              latent linear(h) -> z_dim, recovers the z of a fake (InfoGAN-style, Chen et al. 2016)

:class:`GAN` bundles G, D and the EMA copy of G; flags in :class:`GANConfig` switch the
heads on and off, so ``dcgan``, ``cgan``, ``acgan``, ``mtcgan`` and the ablations are one
code path. Losses (non-saturating by default; ``loss="hinge"`` for the hinge loss), with
``l(s, 1) = softplus(-s)`` and ``l(s, 0) = softplus(s)`` the logistic losses of a logit ``s``,
``x`` a real image of class ``y``, ``x~ = G(z, c)`` a fake of the requested class ``c``::

    adversarial (D):  A_D = (1 - p) [l(adv(x), 1) + l(adv(x~), 0)]
                          +  p  mean over patches [l(patch(x), 1) + l(patch(x~), 0)]
    adversarial (G):  A_G = (1 - p) l(adv(x~), 1) + p mean over patches l(patch(x~), 1)
    L_D = A_D + lambda_cls [CE(cls(x), y) + CE(cls(x~), c)] + lambda_lat ||latent(x~) - z||^2 / z_dim
    L_G = A_G + lambda_cls  CE(cls(x~), c)                  + lambda_lat ||latent(x~) - z||^2 / z_dim

with ``p = patch_weight`` (0 without a patch head) and the class and latent terms present
only when their heads are on. Samples come from an exponential moving average of G's
weights (:class:`EMA`), which is what the seed's undefined ``update_average`` most plausibly
meant.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import DivergenceError
from .checks import check_images, check_labels, check_vectors

__all__ = [
    "EMA",
    "GAN",
    "Discriminator",
    "GANConfig",
    "Generator",
    "d_adversarial_loss",
    "g_adversarial_loss",
    "recalibrate_batchnorm",
    "save_sample_grid",
]


def _dcgan_init(module: nn.Module) -> None:
    """DCGAN initialisation: conv/linear weights ~ N(0, 0.02), BN scale ~ N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class Generator(nn.Module):
    """``G(z, labels) -> image (B, 1, 28, 28)`` in [-1, 1]; class-conditional by a one-hot label.

    With ``num_classes=None`` the generator is unconditional (the ``dcgan`` baseline): it
    accepts labels for a uniform interface and ignores them.
    """

    sample_range = (-1.0, 1.0)  # what sample() returns (tanh)

    def __init__(self, z_dim: int = 64, num_classes: int | None = 10, width: int = 32):
        super().__init__()
        self.z_dim, self.num_classes, self.width = z_dim, num_classes, width
        in_features = z_dim + (num_classes or 0)
        self.fc = nn.Sequential(
            nn.Linear(in_features, 2 * width * 7 * 7, bias=False),
            nn.BatchNorm1d(2 * width * 7 * 7),
            nn.ReLU(),
        )
        self.up = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1, bias=False),  # 7 -> 14
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.ConvTranspose2d(width, 1, 4, stride=2, padding=1),  # 14 -> 28
            nn.Tanh(),
        )
        _dcgan_init(self)

    @property
    def conditional(self) -> bool:
        return self.num_classes is not None

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        check_vectors(z, "Generator", self.z_dim)
        if self.num_classes is not None:
            if labels is None:
                raise ValueError(
                    "Generator: a class-conditional generator needs labels (B,) int64, one class "
                    "index per z; pass G(z, labels) (or build it with num_classes=None)"
                )
            check_labels(labels, "Generator", z.shape[0], self.num_classes, long_only=True)
            z = torch.cat([z, F.one_hot(labels, self.num_classes).to(z.dtype)], dim=1)
        h = self.fc(z).view(-1, 2 * self.width, 7, 7)
        return self.up(h)

    @torch.no_grad()
    def sample(
        self,
        labels: torch.Tensor,
        z: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Images ``(N, 1, 28, 28)`` in [-1, 1] for the requested ``labels`` (N,).

        ``z`` defaults to standard normal noise (drawn with ``generator`` if given, on the CPU,
        so that a seed gives the same images on every device). An unconditional generator
        uses only ``len(labels)``. Call it on a model in eval mode (``pretrained.load`` returns
        one) so that batch normalisation uses its stored statistics.
        """
        device = next(self.parameters()).device
        labels = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
        if (
            self.num_classes is not None
            and len(labels)
            and not (0 <= int(labels.min()) and int(labels.max()) < self.num_classes)
        ):
            raise ValueError(f"labels must lie in [0, {self.num_classes - 1}]")
        if z is None:
            z = torch.randn(len(labels), self.z_dim, generator=generator)
        return self(z.to(device), labels.to(device))


class Discriminator(nn.Module):
    """Multi-task discriminator: a shared conv trunk and one small head per task.

    ``forward(x, labels)`` returns a dict with ``adv`` (B,) always, and ``patch``
    (B, 7, 7), ``cls`` (B, num_classes) and ``latent`` (B, z_dim) when those heads are on.
    ``projection=True`` adds ``<embed(labels), h>`` to the ``adv`` logit (projection cGAN);
    it then needs ``labels``.
    """

    def __init__(
        self,
        width: int = 32,
        num_classes: int = 10,
        z_dim: int = 64,
        cls_head: bool = False,
        patch_head: bool = False,
        latent_head: bool = False,
        projection: bool = False,
    ):
        super().__init__()
        self.width, self.num_classes, self.z_dim = width, num_classes, z_dim
        self.trunk = nn.Sequential(
            nn.Conv2d(1, width, 4, 2, 1),  # 28 -> 14
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1),  # 14 -> 7
            nn.LeakyReLU(0.2),
        )
        features = 2 * width * 7 * 7
        self.adv = nn.Linear(features, 1)
        self.embed = nn.Embedding(num_classes, features) if projection else None
        self.patch = nn.Conv2d(2 * width, 1, 1) if patch_head else None
        self.cls = nn.Linear(features, num_classes) if cls_head else None
        self.latent = nn.Linear(features, z_dim) if latent_head else None
        _dcgan_init(self)

    @property
    def heads(self) -> tuple[str, ...]:
        """Names of the heads this discriminator has, in output order."""
        return ("adv",) + tuple(
            n for n in ("patch", "cls", "latent") if getattr(self, n) is not None
        )

    def forward(
        self, x: torch.Tensor, labels: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        check_images(x, "Discriminator", 1, 28, value_range="[-1, 1]")
        if labels is not None and self.embed is not None:
            check_labels(labels, "Discriminator", x.shape[0], self.num_classes)
        fmap = self.trunk(x)
        h = fmap.flatten(1)
        adv = self.adv(h).squeeze(1)
        if self.embed is not None:
            if labels is None:
                raise ValueError(
                    "Discriminator: a projection discriminator needs labels (B,), one class "
                    "index per image; pass D(x, labels)"
                )
            adv = adv + (self.embed(labels) * h).sum(dim=1)
        out = {"adv": adv}
        if self.patch is not None:
            out["patch"] = self.patch(fmap).squeeze(1)
        if self.cls is not None:
            out["cls"] = self.cls(h)
        if self.latent is not None:
            out["latent"] = self.latent(h)
        return out


def d_adversarial_loss(real: torch.Tensor, fake: torch.Tensor, kind: str = "ns") -> torch.Tensor:
    """The discriminator's loss on real and fake logits (any shape), averaged over elements.

    ``"ns"``: ``softplus(-real) + softplus(fake)``, i.e. binary cross-entropy with targets
    1 and 0 computed from logits (no sigmoid layer: the seed's double sigmoid, erratum 10).
    ``"hinge"``: ``relu(1 - real) + relu(1 + fake)``.
    """
    if kind == "ns":
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    if kind == "hinge":
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
    raise ValueError(f"unknown GAN loss {kind!r}; use 'ns' or 'hinge'")


def g_adversarial_loss(fake: torch.Tensor, kind: str = "ns") -> torch.Tensor:
    """The generator's loss on fake logits: non-saturating ``softplus(-fake)`` or hinge ``-fake``."""
    if kind == "ns":
        return F.softplus(-fake).mean()
    if kind == "hinge":
        return -fake.mean()
    raise ValueError(f"unknown GAN loss {kind!r}; use 'ns' or 'hinge'")


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


def save_sample_grid(
    generator: Generator, path: str | Path, per_class: int = 10, seed: int = 1234
) -> Path:
    """Save a PNG grid: one row per class (10 rows of ``per_class`` fixed-noise samples).

    The noise comes from ``seed``, so grids of successive epochs show the same ``z``.
    An unconditional generator gives the same layout without class rows.
    """
    from torchvision.utils import save_image  # lazy: torchvision is slow to import

    classes = generator.num_classes or 10
    labels = torch.arange(classes).repeat_interleave(per_class)
    z = torch.randn(len(labels), generator.z_dim, generator=torch.Generator().manual_seed(seed))
    was_training = generator.training
    generator.eval()
    images = generator.sample(labels, z).cpu()
    generator.train(was_training)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image((images + 1) / 2, path, nrow=per_class, padding=2, pad_value=1.0)
    return path


@dataclass(frozen=True)
class GANConfig:
    """Which heads and losses a :class:`GAN` uses.

    ``conditional``: G gets the label (False: the unconditional ``dcgan``).
    ``projection``: D's real/fake logit is label-conditioned by projection (``cgan``).
    ``cls_head``: the AC-GAN class head and its cross-entropy for D and G.
    ``patch_head``: a second real/fake head on 10x10-pixel patches; its loss gets weight
    ``patch_weight`` and the global head ``1 - patch_weight``.
    ``latent_head``: D recovers the ``z`` of every fake; D and G both minimise the squared
    error (weight ``lambda_latent``).
    """

    conditional: bool = True
    projection: bool = False
    cls_head: bool = False
    patch_head: bool = False
    latent_head: bool = False
    z_dim: int = 64
    width: int = 32
    num_classes: int = 10
    loss: str = "ns"
    lambda_cls: float = 1.0
    lambda_latent: float = 0.5
    patch_weight: float = 0.5
    ema_decay: float = 0.999
    betas: tuple[float, float] = (0.5, 0.999)
    #: an epoch whose mean adversarial G loss exceeds this is reported as divergence (D wins)
    max_g_adv: float = 15.0

    def __post_init__(self) -> None:
        if self.loss not in ("ns", "hinge"):
            raise ValueError(f"unknown GAN loss {self.loss!r}; use 'ns' or 'hinge'")
        if (self.projection or self.cls_head) and not self.conditional:
            raise ValueError("projection and cls_head need a conditional generator")
        if not 0.0 <= self.patch_weight < 1.0:
            raise ValueError("patch_weight must lie in [0, 1)")


class GAN(nn.Module):
    """Generator, multi-task discriminator and EMA generator, trained by the book's Trainer.

    ``configure_optimizers`` gives one Adam per network; ``training_step`` does one D step
    then one G step on a batch ``(x in [0, 1], {"digit": y})`` and updates the EMA;
    ``epoch_metrics`` recalibrates the EMA generator's BatchNorm statistics, measures D's
    class-head accuracy on EMA samples, calls ``monitor`` (if set) and writes a sample
    grid to ``sample_dir/epoch_XX.png`` (if set). ``generator_ema`` is what gets shipped.
    """

    def __init__(self, config: GANConfig | None = None):
        super().__init__()
        self.config = c = config or GANConfig()
        self.generator = Generator(c.z_dim, c.num_classes if c.conditional else None, c.width)
        self.discriminator = Discriminator(
            c.width, c.num_classes, c.z_dim, c.cls_head, c.patch_head, c.latent_head, c.projection
        )
        self.generator_ema = copy.deepcopy(self.generator)
        self.ema = EMA(self.generator_ema, c.ema_decay)
        self.sample_dir: Path | None = None
        self.monitor: Callable[[Generator], dict[str, float]] | None = None
        self._g_adv_sum, self._steps = 0.0, 0  # this epoch's, for the divergence check

    def train(self, mode: bool = True) -> GAN:
        super().train(mode)
        self.generator_ema.eval()  # the average is only ever sampled from
        return self

    def configure_optimizers(
        self, lr: float, weight_decay: float = 0.0
    ) -> dict[str, torch.optim.Optimizer]:
        b = self.config.betas
        return {
            "d": torch.optim.Adam(
                self.discriminator.parameters(), lr=lr, betas=b, weight_decay=weight_decay
            ),
            "g": torch.optim.Adam(
                self.generator.parameters(), lr=lr, betas=b, weight_decay=weight_decay
            ),
        }

    def _adversarial(self, out: dict[str, torch.Tensor], real: bool | None) -> torch.Tensor:
        """The combined adversarial loss of the global and patch heads.

        ``real=None``: D's loss on a concatenated [real; fake] batch output split in halves;
        ``real=True``: G's loss on fakes (they should be called real).
        """
        c = self.config
        p = c.patch_weight if "patch" in out else 0.0
        heads = ("adv", "patch") if p else ("adv",)
        weights = {"adv": 1.0 - p, "patch": p}
        total = 0.0
        for name in heads:
            if real is None:
                r, f = out[name].chunk(2)
                total = total + weights[name] * d_adversarial_loss(r, f, c.loss)
            else:
                total = total + weights[name] * g_adversarial_loss(out[name], c.loss)
        return total

    def _check_finite(self, network: str, loss: torch.Tensor, trainer) -> None:
        """Raise :class:`DivergenceError` naming ``network`` if its loss is NaN or infinite.

        D's ``requires_grad`` is restored first, since G's step freezes it.
        """
        if torch.isfinite(loss):
            return
        self.discriminator.requires_grad_(True)
        raise DivergenceError(
            f"{network} loss is {float(loss.detach())} at epoch {len(trainer.history) + 1}; "
            "lower the learning rate"
        )

    def training_step(self, batch, trainer) -> dict[str, float]:
        """One D step, then one G step on the same fakes, then the EMA update.

        Fakes get uniformly drawn classes ``wanted``. Returns the losses (``d_loss``,
        ``g_loss`` and their adversarial parts ``d_adv``, ``g_adv``; ``d_cls``, ``d_latent``
        when those heads are on) and accuracies of D: ``d_real_acc`` / ``d_fake_acc`` (share
        of real / fake images on the right side of 0 before the D step), ``cls_acc_real``
        and ``cls_acc_fake`` (class head on real images, and on fakes after the D step).
        """
        c = self.config
        opt_d, opt_g = trainer.optimizers["d"], trainer.optimizers["g"]
        x, targets = batch
        y = targets["digit"]
        x = x * 2.0 - 1.0  # [0, 1] -> [-1, 1], the range of tanh
        n = x.shape[0]
        z = torch.randn(n, c.z_dim, device=x.device)
        wanted = torch.randint(0, c.num_classes, (n,), device=x.device)
        fake = self.generator(z, wanted)

        # --- discriminator step: real and fake in one forward pass (D has no batch statistics)
        out = self.discriminator(torch.cat([x, fake.detach()]), torch.cat([y, wanted]))
        d_adv = self._adversarial(out, real=None)
        d_loss = d_adv
        row: dict[str, float] = {}
        if "cls" in out:
            cls_real, cls_fake = out["cls"].chunk(2)
            d_cls = F.cross_entropy(cls_real, y) + F.cross_entropy(cls_fake, wanted)
            d_loss = d_loss + c.lambda_cls * d_cls
            row["d_cls"] = float(d_cls.detach())
            row["cls_acc_real"] = float((cls_real.argmax(1) == y).float().mean())
        if "latent" in out:
            d_lat = F.mse_loss(out["latent"][n:], z)
            d_loss = d_loss + c.lambda_latent * d_lat
            row["d_latent"] = float(d_lat.detach())
        self._check_finite("discriminator", d_loss, trainer)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        adv_real, adv_fake = out["adv"].detach().chunk(2)

        # --- generator step: the updated D judges the same fakes; D's weights are frozen
        self.discriminator.requires_grad_(False)
        out_g = self.discriminator(fake, wanted)
        g_adv = self._adversarial(out_g, real=True)
        g_loss = g_adv
        if "cls" in out_g:
            g_cls = F.cross_entropy(out_g["cls"], wanted)
            g_loss = g_loss + c.lambda_cls * g_cls
            row["cls_acc_fake"] = float((out_g["cls"].argmax(1) == wanted).float().mean())
        if "latent" in out_g:
            g_loss = g_loss + c.lambda_latent * F.mse_loss(out_g["latent"], z)
        self._check_finite("generator", g_loss, trainer)
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        self.discriminator.requires_grad_(True)
        self.ema.update(self.generator)

        row.update(
            d_loss=float(d_loss.detach()),
            g_loss=float(g_loss.detach()),
            d_adv=float(d_adv.detach()),
            g_adv=float(g_adv.detach()),
            d_real_acc=float((adv_real > 0).float().mean()),
            d_fake_acc=float((adv_fake < 0).float().mean()),
        )
        self._g_adv_sum += row["g_adv"]
        self._steps += 1
        return row

    @torch.no_grad()
    def epoch_metrics(self, trainer=None) -> dict[str, float]:
        """Per-epoch checks and measurements on the EMA generator (see the class docstring).

        Raises :class:`~mtl_tutorial.trainer.DivergenceError` when the epoch's mean
        adversarial G loss exceeds ``config.max_g_adv``: D then rejects every fake with
        near certainty and G gets no useful gradient, a state GANs rarely recover from.
        """
        epoch = len(trainer.history) + 1 if trainer is not None else 0
        mean_g_adv = self._g_adv_sum / max(self._steps, 1)
        self._g_adv_sum, self._steps = 0.0, 0
        if mean_g_adv > self.config.max_g_adv:
            raise DivergenceError(
                f"epoch {epoch}: the discriminator wins outright (mean adversarial G loss "
                f"{mean_g_adv:.1f} > {self.config.max_g_adv}); the generator gets no gradient. "
                "Lower the learning rate or weaken D"
            )
        recalibrate_batchnorm(self.generator_ema)
        self.generator_ema.eval()
        metrics: dict[str, float] = {}
        device = next(self.parameters()).device
        if self.discriminator.cls is not None:
            labels = torch.arange(1000, device=device) % self.config.num_classes
            images = self.generator_ema.sample(
                labels, generator=torch.Generator().manual_seed(4321)
            )
            self.discriminator.eval()
            logits = self.discriminator(images, labels)["cls"]
            self.discriminator.train()
            metrics["ema_d_cls_acc"] = float((logits.argmax(1) == labels).float().mean())
        if self.monitor is not None:
            metrics.update(self.monitor(self.generator_ema))
        if self.sample_dir is not None:
            save_sample_grid(self.generator_ema, Path(self.sample_dir) / f"epoch_{epoch:02d}.png")
        bad = [k for k, v in metrics.items() if not math.isfinite(v)]
        if bad:
            raise DivergenceError(f"epoch {epoch}: {bad} not finite")
        return metrics

    def describe(self) -> dict[str, object]:
        """The configuration as a JSON-ready dict (for checkpoint metadata)."""
        d = asdict(self.config)
        d["betas"] = list(d["betas"])
        return d
