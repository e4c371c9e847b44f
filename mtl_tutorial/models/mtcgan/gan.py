"""The GAN bundle: generator, multi-task discriminator and EMA generator, with their losses.

Flags in :class:`GANConfig` switch the discriminator's heads on and off, so ``dcgan``,
``cgan``, ``acgan``, ``mtcgan``, ``mtcgan-seed002``, ``mtcgan-proj`` and the ablations are
one code path. Losses (non-saturating by default; ``loss="hinge"`` for the hinge loss), with
``l(s, 1) = softplus(-s)`` and ``l(s, 0) = softplus(s)`` the logistic losses of a logit ``s``,
``x`` a real image of class ``y``, ``x~ = G(z, c)`` a fake of the requested class ``c``::

    adversarial (D):  A_D = (1 - p) [l(adv(x), 1) + l(adv(x~), 0)]
                          +  p  mean over patches [l(patch(x), 1) + l(patch(x~), 0)]
    adversarial (G):  A_G = (1 - p) l(adv(x~), 1) + p mean over patches l(patch(x~), 1)
    L_D = A_D + lambda_cls C_D + lambda_lat ||latent(x~) - z||^2 / z_dim
    L_G = A_G + lambda_cls C_G + lambda_lat ||latent(x~) - z||^2 / z_dim

    class task   AC-GAN (cls_head):      C_D = CE(cls(x), y) + CE(cls(x~), c)    C_G = CE(cls(x~), c)
                 TAC-GAN (+ tac_head):   C_D = CE(cls(x), y) + CE(tac(x~), c)
                                         C_G = CE(cls(x~), c) - CE(tac(x~), c)

with ``p = patch_weight`` (0 without a patch head) and the class and latent terms present
only when their heads are on. With ``adv_heads = K > 1`` (seed 002's several real/fake
heads) ``adv`` has K columns: in D's step head ``k`` is scored on its own chunk ``k`` of the
real and of the fake batch (:func:`.multihead.chunked_d_adversarial_loss`, mean over heads),
in G's step every head judges every fake (mean over heads). ``head_steps > 0`` adds that
many head-only D updates per batch, with the shared trunk frozen (:func:`.multihead.frozen`)
and every head on the whole batch: seed 002's second phase, done right.
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

from ...errors import DivergenceError
from ...losses import d_adversarial_loss, g_adversarial_loss
from ..protocols import Batch, TrainerView
from .discriminator import Discriminator
from .ema import EMA, recalibrate_batchnorm
from .generator import Generator
from .multihead import chunked_d_adversarial_loss, frozen, tac_d_loss, tac_g_loss
from .samples import save_sample_grid

__all__ = ["GAN", "GANConfig"]


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
    ``adv_heads``: the number ``K`` of real/fake heads; with ``K > 1`` each is trained on its
    own chunk of the batch (seed 002's multi-head discriminator).
    ``head_steps``: head-only D updates per batch after the D step, shared trunk frozen.
    ``tac_head``: the twin auxiliary classifier of TAC-GAN (needs ``cls_head``); the class
    head then learns from real images only and G's class term is ``CE(cls) - CE(tac)``.
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
    adv_heads: int = 1
    head_steps: int = 0
    tac_head: bool = False

    def __post_init__(self) -> None:
        if self.loss not in ("ns", "hinge"):
            raise ValueError(f"unknown GAN loss {self.loss!r}; use 'ns' or 'hinge'")
        if (self.projection or self.cls_head) and not self.conditional:
            raise ValueError("projection and cls_head need a conditional generator")
        if not 0.0 <= self.patch_weight < 1.0:
            raise ValueError("patch_weight must lie in [0, 1)")
        if self.adv_heads < 1 or self.head_steps < 0:
            raise ValueError(
                f"adv_heads must be at least 1 and head_steps at least 0, got {self.adv_heads} "
                f"and {self.head_steps}"
            )
        if self.projection and self.adv_heads > 1:
            raise ValueError("projection is implemented for one real/fake head (adv_heads=1)")
        if self.tac_head and not self.cls_head:
            raise ValueError("tac_head is the twin of the class head: it needs cls_head=True")


class GAN(nn.Module):
    """Generator, multi-task discriminator and EMA generator, trained by the book's Trainer.

    ``configure_optimizers`` gives one Adam per network; ``training_step`` does one D step
    (plus ``config.head_steps`` head-only D steps) then one G step on a batch
    ``(x in [0, 1], {"digit": y})`` and updates the EMA; ``discriminator_loss`` and
    ``generator_loss`` give ``L_D`` and ``L_G`` from D's outputs (the module docstring);
    ``epoch_metrics`` recalibrates the EMA generator's BatchNorm statistics, measures D's
    class-head accuracy on EMA samples, calls ``monitor`` (if set) and writes a sample
    grid to ``sample_dir/epoch_XX.png`` (if set). ``generator_ema`` is what gets shipped.
    """

    def __init__(self, config: GANConfig | None = None):
        super().__init__()
        self.config = c = config or GANConfig()
        self.generator = Generator(c.z_dim, c.num_classes if c.conditional else None, c.width)
        self.discriminator = Discriminator(
            c.width,
            c.num_classes,
            c.z_dim,
            c.cls_head,
            c.patch_head,
            c.latent_head,
            c.projection,
            c.adv_heads,
            c.tac_head,
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

    def _adversarial(
        self, out: dict[str, torch.Tensor], real: bool | None, chunked: bool = False
    ) -> torch.Tensor:
        """The combined adversarial loss of the global and patch heads.

        ``real=None``: D's loss on a concatenated [real; fake] batch output split in halves;
        ``real=True``: G's loss on fakes (they should be called real). ``chunked``: with
        several real/fake heads, D's head ``k`` is scored on chunk ``k`` only.
        """
        c = self.config

        def head_loss(name: str) -> torch.Tensor:
            if real is None:
                r, f = out[name].chunk(2)
                if chunked and name == "adv" and c.adv_heads > 1:
                    return chunked_d_adversarial_loss(r, f, c.loss)
                return d_adversarial_loss(r, f, c.loss)
            return g_adversarial_loss(out[name], c.loss)

        p = c.patch_weight if "patch" in out else 0.0
        total = (1.0 - p) * head_loss("adv")
        if p:
            total = total + p * head_loss("patch")
        return total

    def _check_finite(self, network: str, loss: torch.Tensor, trainer: TrainerView) -> None:
        """Raise :class:`DivergenceError` naming ``network`` if its loss is NaN or infinite.

        Raised inside a :func:`.multihead.frozen` block, which restores ``requires_grad``.
        """
        if torch.isfinite(loss):
            return
        raise DivergenceError(
            f"{network} loss is {float(loss.detach())} at epoch {len(trainer.history) + 1}; "
            "lower the learning rate"
        )

    def discriminator_loss(
        self,
        out: dict[str, torch.Tensor],
        labels: torch.Tensor,
        wanted: torch.Tensor,
        z: torch.Tensor,
        chunked: bool = True,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """``(L_D, logged values)`` from D's outputs on the concatenated batch [real; fake].

        ``labels`` are the real images' classes, ``wanted`` and ``z`` the fakes' requested
        classes and noise. ``chunked=False`` scores every real/fake head on the whole batch
        (the head-only phase).
        """
        c, n = self.config, labels.shape[0]
        adv = self._adversarial(out, real=None, chunked=chunked)
        loss, row = adv, {"d_adv": float(adv.detach())}
        if "cls" in out:
            cls_real, cls_fake = out["cls"].chunk(2)
            if "tac" in out:  # TAC-GAN: the classifier sees reals only, its twin the fakes
                d_cls = tac_d_loss(cls_real, labels, out["tac"][n:], wanted)
                row["tac_acc_fake"] = float((out["tac"][n:].argmax(1) == wanted).float().mean())
            else:  # AC-GAN: one classifier on both
                d_cls = F.cross_entropy(cls_real, labels) + F.cross_entropy(cls_fake, wanted)
            loss = loss + c.lambda_cls * d_cls
            row["d_cls"] = float(d_cls.detach())
            row["cls_acc_real"] = float((cls_real.argmax(1) == labels).float().mean())
        if "latent" in out:
            d_lat = F.mse_loss(out["latent"][n:], z)
            loss = loss + c.lambda_latent * d_lat
            row["d_latent"] = float(d_lat.detach())
        return loss, row

    def generator_loss(
        self, out: dict[str, torch.Tensor], wanted: torch.Tensor, z: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """``(L_G, logged values)`` from D's outputs on the fakes ``G(z, wanted)``."""
        c = self.config
        g_adv = self._adversarial(out, real=True)
        loss, row = g_adv, {"g_adv": float(g_adv.detach())}
        if "cls" in out:
            if "tac" in out:  # the twin's term enters with the opposite sign
                g_cls = tac_g_loss(out["cls"], out["tac"], wanted)
                # the twin's cross-entropy, which G pushes up: a runaway value means trouble
                row["g_tac_ce"] = float(F.cross_entropy(out["tac"].detach(), wanted))
            else:
                g_cls = F.cross_entropy(out["cls"], wanted)
            loss = loss + c.lambda_cls * g_cls
            row["cls_acc_fake"] = float((out["cls"].argmax(1) == wanted).float().mean())
        if "latent" in out:
            loss = loss + c.lambda_latent * F.mse_loss(out["latent"], z)
        return loss, row

    def training_step(self, batch: Batch, trainer: TrainerView) -> dict[str, float]:
        """One D step, ``head_steps`` head-only D steps, one G step on the same fakes, the EMA update.

        Fakes get uniformly drawn classes ``wanted``. Returns the losses (``d_loss``,
        ``g_loss`` and their adversarial parts ``d_adv``, ``g_adv``; ``d_cls``, ``d_latent``
        when those heads are on; ``d_heads``, the last head-only step's loss) and accuracies
        of D: ``d_real_acc`` / ``d_fake_acc`` (share of real / fake logits on the right side
        of 0 before the D step, over every real/fake head), ``cls_acc_real`` and
        ``cls_acc_fake`` (class head on real images, and on fakes after the D step),
        ``tac_acc_fake`` (the twin classifier on fakes, D step) and ``g_tac_ce`` (its
        cross-entropy on the fakes in G's step, which G maximises).
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
        both, both_labels = torch.cat([x, fake.detach()]), torch.cat([y, wanted])
        out = self.discriminator(both, both_labels)
        d_loss, row = self.discriminator_loss(out, y, wanted, z, chunked=True)
        self._check_finite("discriminator", d_loss, trainer)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        adv_real, adv_fake = out["adv"].detach().chunk(2)

        # --- head-only steps: the shared trunk is frozen (no gradient, so Adam skips it)
        for _ in range(c.head_steps):
            with frozen(self.discriminator.trunk):
                head_loss, _ = self.discriminator_loss(
                    self.discriminator(both, both_labels), y, wanted, z, chunked=False
                )
                self._check_finite("discriminator head phase", head_loss, trainer)
                opt_d.zero_grad(set_to_none=True)
                head_loss.backward()
                opt_d.step()
            row["d_heads"] = float(head_loss.detach())

        # --- generator step: the updated D judges the same fakes; D's weights are frozen
        with frozen(self.discriminator):
            g_loss, g_row = self.generator_loss(self.discriminator(fake, wanted), wanted, z)
            self._check_finite("generator", g_loss, trainer)
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
        self.ema.update(self.generator)

        row.update(g_row)
        row.update(
            d_loss=float(d_loss.detach()),
            g_loss=float(g_loss.detach()),
            d_real_acc=float((adv_real > 0).float().mean()),
            d_fake_acc=float((adv_fake < 0).float().mean()),
        )
        self._g_adv_sum += row["g_adv"]
        self._steps += 1
        return row

    @torch.no_grad()
    def epoch_metrics(self, trainer: TrainerView | None = None) -> dict[str, float]:
        """Per-epoch checks and measurements on the EMA generator (see the class docstring).

        Raises :class:`~mtl_tutorial.errors.DivergenceError` when the epoch's mean
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
