"""Lab 4: the VAE's loss and stage 2's frozen shared encoder, written by the student.

The student writes the KL term of a diagonal Gaussian against N(0, I), the
reparameterisation, the per-pixel negative ELBO and the freezing of the shared encoder
(seed 001's stage 2); each ``check_*`` compares them with :mod:`mtl_tutorial.losses` and
:meth:`~mtl_tutorial.models.genseg.GenSegNet.freeze_encoder` on random inputs and checks a
property (KL zero at the prior and never negative, gradients that reach ``mu`` and
``logvar``, an encoder that stays bit-identical through a training step). The glue at the
end plugs the student's functions into :class:`~mtl_tutorial.models.genseg.GenSegNet` and
the package's :class:`~mtl_tutorial.trainer.Trainer` for the lab's training run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..losses import VAEOutput, generation_loss, kl_divergence
from ..metrics import ReconstructionMSE
from ..models.genseg import GEN, SEG, GenSegNet, SharedEncoder, UNetDecoder, VAEBranch
from ..tasks import Task
from ..trainer import Batch, Trainer
from . import checking
from .checking import LabCheckError, as_tensor, expect_close, passed, random_generator, student_call

__all__ = [
    "StudentVAEBranch", "TinyGenSeg", "check_freeze_shared_encoder", "check_kl_divergence",
    "check_reparameterise", "check_vae_loss", "lab_model", "student_generation_task",
    "train_steps", "trainer_with_optimizer",
]  # fmt: skip


def _scalar_with_grad(value: Any, task: str, hint: str) -> torch.Tensor:
    """``value`` as a 0-dim tensor that gradients can flow through, or a LabCheckError."""
    value = checking.expect_tensor(value, task, hint)
    if value.dim() != 0:
        raise LabCheckError(f"{task}: expected one number (a 0-dim tensor), got shape {tuple(value.shape)}. {hint}")
    if not value.requires_grad:
        raise LabCheckError(
            f"{task}: the result does not require grad, so no gradient could reach the network. "
            "Build it from the tensors you were given with torch operations (no .item(), "
            "no .detach(), no numpy, no torch.no_grad())."
        )
    return value


def _which(got: torch.Tensor, candidates: dict[str, torch.Tensor], default: str) -> str:
    """The hint of the first known wrong answer that ``got`` equals, else ``default``."""
    for hint, value in candidates.items():
        if got.shape == value.shape and torch.allclose(got, value.double(), rtol=1e-4, atol=1e-6):
            return hint
    return default


# --- task 1: the KL term ----------------------------------------------------------------------
def check_kl_divergence(fn: Callable[..., Any]) -> bool:
    """Task 1: ``fn(mu, logvar)`` is KL(N(mu, exp(logvar)) || N(0, I)), summed over j, mean over b."""
    task = "Task 1 (kl_divergence)"
    formula = "KL = -0.5 * sum_j (1 + logvar_j - mu_j^2 - exp(logvar_j)), then the mean over the batch."
    gen = random_generator(41)
    for batch, latent in [(5, 7), (8, 32), (1, 3)]:
        mu = (1.5 * torch.randn(batch, latent, generator=gen)).requires_grad_()
        logvar = torch.randn(batch, latent, generator=gen).requires_grad_()
        got = student_call(fn, task, mu, logvar)
        got_t = as_tensor(got, task, formula)
        per_term = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).detach()
        if got_t.dim() > 0 and got_t.shape[0] == batch > 1:
            raise LabCheckError(
                f"{task}: you returned shape {tuple(got_t.shape)}, not one number: sum over the "
                "latent dimensions (dim=1), then average over the images (.mean())."
            )
        want = kl_divergence(mu.detach(), logvar.detach())
        wrong = {
            "You summed over the batch as well: take the mean over the images.": per_term.sum(),
            "You averaged over the latent dimensions too: sum over j, mean over the batch.": per_term.mean(),
            "The sign is flipped: KL is -0.5 * sum(1 + logvar - mu^2 - exp(logvar)) >= 0.": -want,
            "The factor 1/2 is missing.": 2 * want,
            "logvar and exp(logvar) are swapped: the formula has + logvar_j in the middle and "
            "- exp(logvar_j) (the variance) at the end.": (
                -0.5 * (1 + logvar.exp() - mu.pow(2) - logvar).detach().sum(1).mean()
            ),
        }
        hint = _which(got_t, wrong, formula) if batch > 1 else formula
        expect_close(got_t, want, f"{task} for mu, logvar of shape {(batch, latent)}", hint=hint)
        _scalar_with_grad(got, task, formula).backward()
        assert mu.grad is not None and logvar.grad is not None
        expect_close(mu.grad, mu.detach() / batch, f"{task}: gradient with respect to mu",
                     hint="d KL / d mu_j = mu_j (divided by the batch size for the mean).")
        expect_close(logvar.grad, 0.5 * (logvar.detach().exp() - 1) / batch,
                     f"{task}: gradient with respect to logvar",
                     hint="d KL / d logvar_j = (exp(logvar_j) - 1) / 2 (divided by the batch size).")
    zero = as_tensor(student_call(fn, task, torch.zeros(4, 6), torch.zeros(4, 6)), task)
    if abs(float(zero.reshape(-1)[0])) > 1e-6:
        raise LabCheckError(
            f"{task}: at mu = 0, logvar = 0 the posterior IS the prior N(0, I), so the KL term "
            f"must be exactly 0; got {float(zero.reshape(-1)[0]):.4g}. {formula}"
        )
    wide_mu, wide_logvar = 4 * torch.randn(300, 2, generator=gen), 4 * torch.randn(300, 2, generator=gen)
    for i in range(300):  # one posterior per call: every single KL must be >= 0
        one = as_tensor(student_call(fn, task, wide_mu[i : i + 1], wide_logvar[i : i + 1]), task)
        if float(one.reshape(-1)[0]) < -1e-6:
            raise LabCheckError(
                f"{task}: got a negative KL ({float(one.reshape(-1)[0]):.4g}) for mu = "
                f"{wide_mu[i].tolist()}, logvar = {wide_logvar[i].tolist()}; a KL divergence is "
                f"never negative. {formula}"
            )
    return passed(
        "Task 1", "matches kl_divergence (value and gradients) on random posteriors, is 0 at the "
        "prior and never negative"
    )


def _reparam_gradients(z: Any, mu: torch.Tensor, logvar: torch.Tensor, noise: torch.Tensor, what: str, formula: str) -> None:
    """Back-propagate random weights through ``z``; ``noise`` is ``sigma * eps``, so dz/dlogvar = noise / 2."""
    if not isinstance(z, torch.Tensor) or not z.requires_grad:
        raise LabCheckError(
            f"{what}: z does not require grad, so the loss could not train the encoder through "
            "the sample. Compute z from mu and logvar with torch operations (not torch.normal, "
            "no .detach(), no torch.no_grad())."
        )
    weights = torch.randn(z.shape, generator=random_generator(5))
    (z * weights).sum().backward()
    for name, param, want in [("mu", mu, weights), ("logvar", logvar, weights * 0.5 * noise)]:
        if param.grad is None or not param.grad.abs().sum() > 0:
            raise LabCheckError(
                f"{what}: no gradient reached {name}. The point of the trick is that z is a "
                "differentiable function of mu and logvar; do not detach them or sample with "
                "torch.normal(mu, sigma), whose gradient is zero."
            )
        expect_close(param.grad, want, f"{what}: gradient with respect to {name}", hint=formula)


# --- task 2: the reparameterisation -----------------------------------------------------------
def check_reparameterise(fn: Callable[..., Any]) -> bool:
    """Task 2: ``fn(mu, logvar, eps)`` is ``mu + exp(logvar / 2) * eps``; without ``eps`` it draws N(0, I)."""
    task = "Task 2 (reparameterise)"
    formula = "z = mu + exp(logvar / 2) * eps, with eps = torch.randn_like(mu) when eps is None."
    gen = random_generator(42)
    mu = torch.randn(6, 5, generator=gen).requires_grad_()
    logvar = torch.randn(6, 5, generator=gen).requires_grad_()
    eps = torch.randn(6, 5, generator=gen)
    z = student_call(fn, task, mu, logvar, eps)
    z_t = as_tensor(z, task, formula)
    m, lv = mu.detach(), logvar.detach()
    hint = _which(
        z_t,
        {
            "exp(logvar) is the variance; the noise is scaled by the standard deviation "
            "sigma = exp(logvar / 2).": m + lv.exp() * eps,
            "logvar is the log of the variance, not the standard deviation: sigma = "
            "exp(logvar / 2).": m + lv * eps,
            "You returned mu: the noise sigma * eps is missing.": m,
        },
        formula,
    )
    expect_close(z_t, m + (0.5 * lv).exp() * eps, f"{task} with a given eps", hint=hint)
    _reparam_gradients(z, mu, logvar, (0.5 * lv).exp() * eps, f"{task} with a given eps", formula)
    # without eps: fresh standard-normal noise at every call, and still a gradient
    with torch.random.fork_rng():
        torch.manual_seed(0)
        mu1 = torch.tensor([[0.5, -1.0, 2.0]]).repeat(20000, 1).requires_grad_()
        lv1 = torch.tensor([[0.0, 1.0, -2.0]]).repeat(20000, 1).requires_grad_()
        z1 = student_call(fn, task, mu1, lv1)
        first = as_tensor(z1, f"{task} without eps", formula)
        second = as_tensor(student_call(fn, task, mu1, lv1), f"{task} without eps", formula)
    if first.shape != mu1.shape:
        raise LabCheckError(f"{task}: without eps, z must have mu's shape {tuple(mu1.shape)}, got {tuple(first.shape)}")
    if torch.equal(first, second):
        raise LabCheckError(
            f"{task}: two calls without eps gave the same z. Draw fresh noise at every call "
            "(eps = torch.randn_like(mu)), or the VAE trains on one fixed code per image."
        )
    mean, std = first.mean(0), first.std(0)
    expect_close(mean, mu1[0].detach(), f"{task}: mean of 20,000 samples without eps", atol=0.05, rtol=0.0,
                 hint="Without eps the samples must average to mu; eps must have mean 0.")
    expect_close(std, (0.5 * lv1[0].detach()).exp(), f"{task}: standard deviation of 20,000 samples without eps",
                 atol=0.0, rtol=0.05,
                 hint="eps must be standard normal (torch.randn_like, not torch.rand_like), scaled by exp(logvar / 2).")
    _reparam_gradients(z1, mu1, lv1, first.float() - mu1.detach(), f"{task} without eps", formula)
    return passed(
        "Task 2", "z = mu + sigma * eps for a given eps, gradients reach mu and logvar, fresh N(0, I) "
        "noise without eps"
    )


# --- task 3: the VAE loss ---------------------------------------------------------------------
def check_vae_loss(fn: Callable[..., Any]) -> bool:
    """Task 3: ``fn(prediction, target, beta)`` equals :func:`~mtl_tutorial.losses.generation_loss`."""
    task = "Task 3 (vae_loss)"
    formula = "L = mean over the batch of [sum_p BCE(logits_p, x_p) + beta * KL] / P, with P = C * H * W."
    gen = random_generator(43)
    cases = [((4, 1, 12, 12), 1.0), ((3, 2, 8, 8), 0.25), ((2, 1, 36, 36), 3.0), ((5, 1, 8, 8), 0.0)]
    for k, (shape, beta) in enumerate(cases):
        logits = (2 * torch.randn(shape, generator=gen)).requires_grad_()
        target = torch.rand(shape, generator=gen)
        mu = torch.randn(shape[0], 6, generator=gen).requires_grad_()
        logvar = (0.5 * torch.randn(shape[0], 6, generator=gen)).requires_grad_()
        prediction = VAEOutput(logits, mu, logvar)
        # the first case uses the default beta, which must be 1
        got = student_call(fn, task, prediction, target) if k == 0 else student_call(fn, task, prediction, target, beta)
        got_t = as_tensor(got, task, formula)
        ref = [t.detach().clone().requires_grad_() for t in (logits, mu, logvar)]
        want = generation_loss(VAEOutput(*ref), target, beta)
        pixels, batch = target[0].numel(), shape[0]
        bce = F.binary_cross_entropy_with_logits(logits.detach(), target)
        kl = kl_divergence(mu.detach(), logvar.detach())
        what = f"{task} for images of shape {shape}, beta = {beta}"
        wrong = {
            "The KL term is per image: divide it by the number of pixels P as well.": bce + beta * kl,
            "P counts every value of one image, C * H * W (target[0].numel()), not just H * W.": (
                bce + beta * kl / (shape[2] * shape[3])
            ),
            "This is the per-image negative ELBO: divide it by P (use the mean BCE).": bce * pixels + beta * kl,
            "The BCE is summed over the whole batch; take the mean over pixels and images.": (
                bce * pixels * batch + beta * kl
            ),
            "Multiply the KL term by beta.": bce + kl / pixels,
            "The KL term is missing.": bce,
            "The reconstruction term is binary cross-entropy on the logits "
            "(F.binary_cross_entropy_with_logits), not a squared error.": (
                F.mse_loss(torch.sigmoid(logits.detach()), target) + beta * kl / pixels
            ),
            "prediction.logits are logits: do not apply a sigmoid before "
            "binary_cross_entropy_with_logits.": (
                F.binary_cross_entropy_with_logits(torch.sigmoid(logits.detach()), target) + beta * kl / pixels
            ),
        }
        expect_close(got_t, want, what, hint=_which(got_t, wrong, formula))
        _scalar_with_grad(got, task, formula).backward()
        want.backward()
        for name, mine, theirs in zip(("logits", "mu", "logvar"), (logits, mu, logvar), ref, strict=True):
            want_grad = torch.zeros_like(mine) if theirs.grad is None else theirs.grad  # beta = 0: no KL
            if mine.grad is None and want_grad.any():
                raise LabCheckError(
                    f"{what}: no gradient reached {name}; "
                    + ("use prediction.logits in the reconstruction term." if name == "logits"
                       else "the KL term must be computed from prediction.mu and prediction.logvar.")
                )
            got_grad = torch.zeros_like(mine) if mine.grad is None else mine.grad
            expect_close(got_grad, want_grad, f"{what}: gradient with respect to {name}", hint=formula)
    return passed(
        "Task 3", "matches generation_loss for four image shapes and beta in {0, 0.25, 1, 3}, "
        "gradients reach logits, mu and logvar"
    )


# --- task 4: stage 2's freezing ---------------------------------------------------------------
class TinyGenSeg(nn.Module):
    """A stand-in for GenSegNet with the same ``encoder``/``seg_decoder``/``vae`` but no freeze helpers."""

    def __init__(self, widths: tuple[int, int, int] = (4, 8, 8), image_size: int = 12, latent_dim: int = 4):
        super().__init__()
        self.encoder = SharedEncoder(1, widths)
        self.seg_decoder = UNetDecoder(11, widths)
        self.vae = VAEBranch(widths[2] * (image_size // 4) ** 2, latent_dim, 1, image_size, widths)

    def forward(self, x: torch.Tensor) -> dict[str, object]:
        features = self.encoder(x)
        return {SEG: self.seg_decoder(features), GEN: self.vae(features[-1])}


def _freeze_problem(model: nn.Module, optimizer: Any, lr: float) -> str:
    """What is wrong with the state right after the student's freezing ('' if nothing)."""
    if not isinstance(optimizer, torch.optim.Optimizer):
        return (f"expected the optimiser for stage 2 (torch.optim.Adam over the parameters that are "
                f"still trainable), got {type(optimizer).__name__}. Did you forget `return`?")
    encoder, params = model.get_submodule("encoder"), dict(model.named_parameters())
    in_opt = {id(p) for group in optimizer.param_groups for p in group["params"]}
    still = [n for n, p in encoder.named_parameters() if p.requires_grad]
    heads = [n for n, p in params.items() if not n.startswith("encoder.") and not p.requires_grad]
    frozen_in = [n for n, p in params.items() if id(p) in in_opt and not p.requires_grad]
    missing = [n for n, p in params.items() if p.requires_grad and id(p) not in in_opt]
    lrs = sorted({group["lr"] for group in optimizer.param_groups})
    problems = [
        (still, f"encoder parameters are still trainable, e.g. {still[:3]}; use requires_grad_(False)."),
        (heads, f"you froze head parameters too, e.g. {heads[:3]}; freeze exactly the shared encoder "
                "(model.encoder), the heads must keep training."),
        (encoder.training, "model.encoder is still in training mode. Its BatchNorm layers would keep "
                           "updating their running statistics (buffers, not parameters) at every forward "
                           "pass; put the encoder in evaluation mode with .eval()."),
        (not all(m.training for n, m in model.named_modules() if n and not n.startswith("encoder")),
         "a head was put in evaluation mode; only the encoder goes to eval(), the heads keep "
         "training (do not call model.eval())."),
        (not isinstance(optimizer, torch.optim.Adam),
         f"use torch.optim.Adam, as the package's schedule does; got {type(optimizer).__name__}."),
        (frozen_in, f"the optimiser holds frozen parameters, e.g. {frozen_in[:3]}; give it only the "
                    "parameters with requires_grad = True."),
        (missing, f"the optimiser misses trainable parameters, e.g. {missing[:3]}."),
        (lrs != [lr], f"called with lr = {lr}, but the optimiser uses {lrs}; pass lr on."),
    ]
    return next((message for bad, message in problems if bad), "")


def check_freeze_shared_encoder(fn: Callable[..., Any]) -> bool:
    """Task 4: ``fn(model, lr)`` freezes exactly ``model.encoder`` and returns Adam over the rest."""
    task, lr = "Task 4 (freeze_shared_encoder)", 0.01
    models: list[tuple[str, Callable[[], nn.Module]]] = [
        ("GenSegNet", lambda: GenSegNet((SEG, GEN), image_size=12, widths=(4, 8, 8), latent_dim=4)),
        ("a stand-in with the same parts (TinyGenSeg)", TinyGenSeg),
    ]
    for label, build in models:
        what = f"{task} on {label}"
        with torch.random.fork_rng():
            torch.manual_seed(4)
            model = build().train()
            x, labels = torch.rand(4, 1, 12, 12), torch.randint(0, 11, (4, 12, 12))
        encoder = model.get_submodule("encoder")
        encoder_before = {k: v.clone() for k, v in encoder.state_dict().items()}
        heads_before = {n: p.detach().clone() for n, p in model.named_parameters() if not n.startswith("encoder.")}
        try:
            optimizer = student_call(fn, what, model, lr)
        except LabCheckError as exc:
            if "freeze_encoder" in str(exc) or "shared_parameters" in str(exc):
                raise LabCheckError(
                    f"{what}: this model has only the parts encoder, seg_decoder and vae, no "
                    "freeze_encoder() or shared_parameters(). Freeze model.encoder yourself: "
                    "requires_grad_(False) and eval()."
                ) from exc
            raise
        problem = _freeze_problem(model, optimizer, lr)
        if problem:
            raise LabCheckError(f"{what}: {problem}")
        out = model(x)  # one training step, as stage 2 runs it
        loss = F.cross_entropy(out[SEG], labels) + generation_loss(out[GEN], x)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        moved = [k for k, v in encoder.state_dict().items() if not torch.equal(v, encoder_before[k])]
        if moved:
            raise LabCheckError(f"{what}: after one training step the encoder changed: {moved[:4]}.")
        changed = {n.split(".")[0] for n, p in model.named_parameters()
                   if not n.startswith("encoder.") and not torch.equal(p.detach(), heads_before[n])}
        if changed != {"seg_decoder", "vae"}:
            raise LabCheckError(
                f"{what}: after one training step only {sorted(changed)} changed; both heads "
                "(seg_decoder and vae) must learn."
            )
    return passed(
        "Task 4", "exactly the encoder is frozen (parameters and BatchNorm statistics stay "
        "bit-identical through a step), the heads learn, the optimiser holds only trainable parameters"
    )


# --- glue for the training cell ---------------------------------------------------------------
class StudentVAEBranch(VAEBranch):
    """The package's VAE branch, drawing its training code ``z`` with the student's ``reparameterise``."""

    def __init__(self, reparameterise: Callable[..., torch.Tensor], *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.reparameterise = reparameterise

    def forward(self, deepest: torch.Tensor) -> VAEOutput:
        h = deepest.flatten(1)
        mu, logvar = self.to_mu(h), self.to_logvar(h)
        z = self.reparameterise(mu, logvar) if self.training else mu
        return VAEOutput(self.decoder(z), mu, logvar)


def lab_model(reparameterise: Callable[..., torch.Tensor], widths: tuple[int, int, int] = (8, 16, 32),
              latent_dim: int = 16, size: int = 36) -> GenSegNet:
    """Seed 001's network (``GenSegNet(("seg", "gen"))``) whose VAE samples with the student's trick."""
    model = GenSegNet((SEG, GEN), image_size=size, widths=widths, latent_dim=latent_dim)
    # the same branch as the package's, but z is drawn by the student's reparameterise
    model.vae = StudentVAEBranch(reparameterise, widths[2] * (size // 4) ** 2, latent_dim, 1, size, widths)
    return model.to(memory_format=torch.channels_last)


def student_generation_task(loss_fn: Callable[..., torch.Tensor], name: str = GEN) -> Task:
    """The package's generation task with the student's ``loss_fn(prediction, target)`` as its loss."""
    return Task(name, "dense", 1, loss_fn, ReconstructionMSE, "recon_mse", higher_is_better=False)


def trainer_with_optimizer(model: nn.Module, tasks: list[Task], optimizer: torch.optim.Optimizer) -> Trainer:
    """The package's :class:`Trainer`, stepping ``optimizer`` (e.g. stage 2's) instead of its own Adam."""
    trainer = Trainer(model, tasks)
    trainer.optimizers, trainer.optimizer = {"model": optimizer}, optimizer
    return trainer


def train_steps(trainer: Trainer, loader: Iterable[Batch], steps: int, max_seconds: float) -> int:
    """Run ``trainer.step`` on batches of ``loader`` (epoch after epoch) until ``steps`` or ``max_seconds``."""
    done, start = 0, time.perf_counter()
    while done < steps and time.perf_counter() - start < max_seconds:
        for batch in loader:
            trainer.step(batch)
            done += 1
            if done >= steps or time.perf_counter() - start >= max_seconds:
                break
    return done
