"""Lab 5: a conditional GAN with a multi-task discriminator, written by the student.

The student writes the non-saturating GAN losses, the AC-GAN losses and a latent-recovery
head with its loss. Each ``check_*`` compares them with :mod:`mtl_tutorial.losses` and the
step of :class:`~mtl_tutorial.models.mtcgan.GAN` on seeded random inputs and checks
properties: gradient signs, stability, where the gradient goes (``detach``), shapes.
:class:`LabGAN` and :func:`train` run the student's code in the package's GAN and Trainer.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from ..data import MNISTDigits
from ..loaders import BatchLoader, Subset
from ..losses import d_adversarial_loss, g_adversarial_loss
from ..models.mtcgan import GAN, Discriminator, GANConfig, Generator, recalibrate_batchnorm
from ..models.protocols import Batch, TrainerView
from ..trainer import Trainer
from ..viz import mosaic
from . import checking
from .checking import LabCheckError, expect_close, expect_shape, expect_tensor, passed, student_call

__all__ = [
    "LabGAN", "check_acgan_d_loss", "check_acgan_g_loss", "check_d_loss", "check_g_loss",
    "check_latent_head", "class_head_accuracy", "sample_grid", "train",
]

LossFn = Callable[..., torch.Tensor]
Mistakes = list[tuple[torch.Tensor, str]]  # (value of a typical wrong answer, what is wrong)


def _compare(got: torch.Tensor, want: torch.Tensor, what: str, mistakes: Mistakes, hint: str) -> None:
    """``expect_close`` whose message names the typical mistake that ``got`` matches, if any."""
    expect_shape(got, (), what, "Return one number: average with .mean().")
    for value, why in mistakes:
        if torch.allclose(got.detach().double(), value.detach().double(), atol=1e-5, rtol=1e-4):
            hint = why
            break
    expect_close(got, want, what, hint)


def _needs_grad(got: torch.Tensor, task: str, who: str) -> None:
    if not got.requires_grad:
        raise LabCheckError(f"{task}: the loss has no gradient, so {who} cannot learn from it. "
                            "Keep it in torch (no .item(), .detach(), numpy or torch.no_grad()).")


# --- Tasks 1 and 2: the non-saturating GAN losses ---------------------------------------------
D_HINT = ("L_D = mean softplus(-real) + mean softplus(fake): binary cross-entropy with target 1 "
          "for real logits and 0 for fake ones (chapter 5, 'Logits and the logistic loss').")
G_HINT = ("L_G = mean softplus(-fake): G wants its fakes called real (target 1); see 'The "
          "non-saturating generator loss' in chapter 5.")


def check_d_loss(d_loss: LossFn) -> bool:
    """Task 1: ``d_loss(real_logits, fake_logits)`` equals ``d_adversarial_loss``."""
    task, gen = "Task 1 (d_loss)", checking.random_generator(1)
    for shape in [(16,), (4, 7, 7)]:  # one logit per image, or a PatchGAN map per image
        real, fake = (3 * torch.randn(2, *shape, generator=gen)).requires_grad_(True)
        got = expect_tensor(student_call(d_loss, task, real, fake), task, D_HINT)
        r, f, sp = real.detach(), fake.detach(), F.softplus
        mistakes = [
            (sp(r).mean() + sp(-f).mean(), "The targets are swapped: real logits get target 1 "
             "(softplus(-real)), fake logits target 0 (softplus(fake))."),
            (sp(-r).sum() + sp(f).sum(), "You summed over the elements; average with .mean()."),
            (sp(torch.cat([-r, f])).mean(), "That is one mean over real and fake logits "
             "together (half the reference): average each term, then add the two means."),
            (sp(-torch.sigmoid(r)).mean() + sp(torch.sigmoid(f)).mean(), "You applied a "
             "sigmoid before a loss that expects logits (the seed's double sigmoid)."),
            (-sp(-r).mean() - sp(f).mean(), "The sign is wrong: a cross-entropy is never negative."),
        ]
        _compare(got, d_adversarial_loss(r, f), f"{task} on logits of shape {shape}", mistakes, D_HINT)
        _needs_grad(got, task, "D")
        real_grad, fake_grad = torch.autograd.grad(got, [real, fake], allow_unused=True)
        if real_grad is None or fake_grad is None or (real_grad >= 0).any() or (fake_grad <= 0).any():
            raise LabCheckError(f"{task}: raising a real logit or lowering a fake logit must lower "
                                f"the loss (gradient < 0 for real, > 0 for fake). {D_HINT}")
    sure = torch.full((8,), 30.0)
    best = float(checking.as_tensor(student_call(d_loss, task, sure, -sure), f"{task}(30, -30)"))
    if not best < 1e-6:
        raise LabCheckError(f"{task}: d_loss(real=30, fake=-30) = {best:.4g}, but a discriminator "
                            "that is sure and right should pay almost nothing. No sigmoid first.")
    worst = float(checking.as_tensor(student_call(d_loss, task, -7 * sure, 7 * sure), f"{task}(-210, 210)"))
    if abs(worst - 420.0) > 1e-2:  # inf or nan fail this test too
        raise LabCheckError(f"{task}: d_loss(real=-210, fake=210) = {worst:.4g}, expected 420. "
                            "log(sigmoid(s)) underflows to log(0) for very negative s (and "
                            "F.binary_cross_entropy clips it at 100). Compute the loss from the "
                            "logits: F.softplus or F.binary_cross_entropy_with_logits.")
    return passed("Task 1", "matches d_adversarial_loss; right gradient signs; ~0 when D is sure "
                  "and right; finite for huge logits")


def check_g_loss(g_loss: LossFn) -> bool:
    """Task 2: ``g_loss(fake_logits)`` equals ``g_adversarial_loss`` and does not saturate."""
    task, gen = "Task 2 (g_loss)", checking.random_generator(2)
    for shape in [(16,), (4, 7, 7)]:
        fake = (3 * torch.randn(*shape, generator=gen)).requires_grad_(True)
        got = expect_tensor(student_call(g_loss, task, fake), task, G_HINT)
        f = fake.detach()
        mistakes = [
            (-F.softplus(f).mean(), "This is the minimax loss log(1 - D(G(z))), which saturates: "
             "when D rejects the fakes its gradient vanishes. Use the non-saturating loss."),
            (F.softplus(f).mean(), "softplus(fake) is D's term for fakes (target 0); G wants 1."),
            (F.softplus(-f).sum(), "You summed over the elements; average with .mean()."),
            (-f.mean(), "-mean(fake) is the hinge/Wasserstein generator loss, not this one."),
        ]
        _compare(got, g_adversarial_loss(f), f"{task} on logits of shape {shape}", mistakes, G_HINT)
        _needs_grad(got, task, "G")
        (grad,) = torch.autograd.grad(got, [fake])
        if (grad >= 0).any():
            raise LabCheckError(f"{task}: its gradient must push every fake logit up "
                                f"(d loss / d fake < 0). {G_HINT}")
    rejected = torch.full((4,), -5.0, requires_grad=True)  # D is sure that the fakes are fake
    got = expect_tensor(student_call(g_loss, task, rejected), task, G_HINT)
    _needs_grad(got, task, "G")
    slope = 4 * float(torch.autograd.grad(got, [rejected])[0][0])  # undo the mean over 4
    if abs(slope - (torch.sigmoid(torch.tensor(-5.0)).item() - 1.0)) > 1e-4:
        raise LabCheckError(f"{task}: at a fake logit of -5 the derivative is {slope:.4f}; the "
                            "non-saturating loss has sigma(-5) - 1 = -0.9933 there.")
    huge = float(checking.as_tensor(student_call(g_loss, task, torch.full((4,), -300.0)), f"{task}(-300)"))
    if abs(huge - 300.0) > 1e-2:
        raise LabCheckError(f"{task}: g_loss(-300) = {huge:.4g}, expected 300. Compute it from "
                            "the logits with F.softplus (or binary_cross_entropy_with_logits).")
    return passed("Task 2", "matches g_adversarial_loss; pushes every fake logit up; slope "
                  "-0.993 at -5 (non-saturating); finite for huge logits")


# --- Tasks 3 and 4: the AC-GAN losses ---------------------------------------------------------
def _acgan_setup(seed: int, batch: int = 8) -> tuple[Discriminator, list[torch.Tensor]]:
    """A seeded AC-GAN discriminator; real images, their labels, fakes and their classes."""
    with torch.random.fork_rng(devices=[]):  # the global random state stays untouched
        torch.manual_seed(seed)
        D = Discriminator(width=8, cls_head=True)
    vec = nn.utils.parameters_to_vector(D.parameters())  # x10: logits far from 0 tell mistakes apart
    nn.utils.vector_to_parameters(10 * vec.detach(), D.parameters())
    gen = checking.random_generator(seed)
    real, fake = torch.rand(2, batch, 1, 28, 28, generator=gen) * 2 - 1
    labels = torch.randint(0, 10, (batch,), generator=gen)
    wanted = (labels + torch.randint(1, 10, (batch,), generator=gen)) % 10  # never == labels
    return D, [real, labels, fake.clone().requires_grad_(True), wanted]  # fake: G's output


def check_acgan_d_loss(acgan_d_loss: LossFn) -> bool:
    """Task 3: D's AC-GAN loss; its gradient in D; no gradient into the fake images."""
    task = "Task 3 (acgan_d_loss)"
    hint = ("L_D = d_loss(adv(real), adv(fake)) + lambda_cls * [CE(cls(real), labels) + "
            "CE(cls(fake), wanted)], as in GAN.training_step (Task 1 must pass first).")
    for lam in (1.0, 0.5):
        D, (real, labels, fake, wanted) = _acgan_setup(3)
        got = expect_tensor(student_call(acgan_d_loss, task, D, real, labels, fake, wanted, lam),
                            task, hint)
        ref_D = _acgan_setup(3)[0]
        r_out, f_out = ref_D(real), ref_D(fake.detach())
        adv = d_adversarial_loss(r_out["adv"], f_out["adv"])
        ce_r, ce_f = F.cross_entropy(r_out["cls"], labels), F.cross_entropy(f_out["cls"], wanted)
        want = adv + lam * (ce_r + ce_f)
        mistakes = [
            (adv + lam * ce_r, "The class term on the fakes is missing: D also learns to name "
             "each fake's requested class (`wanted`)."),
            (adv + lam * ce_f, "The class term on the real images is missing: CE(cls(real), labels)."),
            (adv + lam * (ce_r + F.cross_entropy(f_out["cls"], labels)), "The fakes are scored "
             "against `labels`, the real images' classes; use `wanted`."),
            (adv + ce_r + ce_f, "lambda_cls is ignored: multiply the class terms by it."),
            (adv + lam * (ce_r + ce_f) / 2, "The two class terms are averaged; add them."),
            (adv, "Only the adversarial part: add lambda_cls times the two class terms."),
            (lam * (ce_r + ce_f), "The adversarial part d_loss(adv(real), adv(fake)) is missing."),
        ]
        _compare(got, want, f"{task} with lambda_cls={lam}", mistakes, hint)
        _needs_grad(got, task, "D")
        got.backward()
        if fake.grad is not None and fake.grad.abs().max() > 0:
            raise LabCheckError(f"{task}: your D loss sends gradient into the fake images, hence "
                                "into the generator. In D's step the fakes are constants: use "
                                "fake.detach() before D sees them. (Otherwise this backward frees "
                                "G's graph and G's own step fails with 'Trying to backward "
                                "through the graph a second time'.)")
        want.backward()
        for (name, p), ref in zip(D.named_parameters(), ref_D.parameters(), strict=True):
            if ref.grad is None:
                continue
            if p.grad is None:
                raise LabCheckError(f"{task}: D's parameter {name} gets no gradient; do not "
                                    "compute D's outputs under torch.no_grad() or detach them.")
            expect_close(p.grad, ref.grad, f"{task}: gradient of D's {name}", "The value is right "
                         "but D's gradient is not: is a part computed under no_grad or detached?",
                         atol=1e-4 * float(ref.grad.abs().max()) + 1e-12, rtol=1e-3)
    return passed("Task 3", "matches the AC-GAN D loss of GAN.training_step for two lambda_cls; "
                  "gives D the reference gradient; puts no gradient into the fakes")


def check_acgan_g_loss(acgan_g_loss: LossFn) -> bool:
    """Task 4: G's AC-GAN loss and the gradient it sends into the fake images."""
    task = "Task 4 (acgan_g_loss)"
    hint = ("L_G = g_loss(adv(fake)) + lambda_cls * CE(cls(fake), wanted), as in "
            "GAN.training_step (Task 2 must pass first).")
    for lam in (1.0, 0.5):
        D, (_, labels, fake, wanted) = _acgan_setup(4)
        got = expect_tensor(student_call(acgan_g_loss, task, D, fake, wanted, lam), task, hint)
        ref_fake = fake.detach().clone().requires_grad_(True)
        out = _acgan_setup(4)[0](ref_fake)
        adv, ce = g_adversarial_loss(out["adv"]), F.cross_entropy(out["cls"], wanted)
        want = adv + lam * ce
        mistakes = [
            (adv - lam * ce, "The class term has the wrong sign. It is not adversarial: G and D "
             "both want the fakes classified as `wanted`."),
            (adv, "The class term lambda_cls * CE(cls(fake), wanted) is missing."),
            (adv + lam * F.cross_entropy(out["cls"], labels), "Use `wanted`, the classes G was "
             "asked to draw."),
            (adv + ce, "lambda_cls is ignored: multiply the class term by it."),
            (F.softplus(out["adv"]).mean() + lam * ce, "That adversarial part is D's term for "
             "fakes; G's is g_loss(adv(fake)) (Task 2)."),
            (lam * ce, "The adversarial part g_loss(adv(fake)) is missing."),
        ]
        _compare(got, want, f"{task} with lambda_cls={lam}", mistakes, hint)
        _needs_grad(got, task, "G")
        got.backward()
        want.backward()
        if fake.grad is None or fake.grad.abs().max() == 0:
            raise LabCheckError(f"{task}: no gradient reaches the fake images, so G cannot learn. "
                                "In G's step do not detach the fakes or use torch.no_grad().")
        assert ref_fake.grad is not None
        expect_close(fake.grad, ref_fake.grad, f"{task}: gradient w.r.t. the fake images",
                     "The value is right but the gradient is not: is a part detached?",
                     atol=1e-4 * float(ref_fake.grad.abs().max()) + 1e-12, rtol=1e-3)
    return passed("Task 4", "matches the AC-GAN G loss for two lambda_cls and sends the "
                  "reference gradient into the fake images")


# --- Task 5: a latent-recovery head -----------------------------------------------------------
HEAD_HINT = ("LatentHead(features, z_dim) maps D's flattened trunk features h (B, features) to "
             "z_hat (B, z_dim), e.g. with one nn.Linear(features, z_dim) made in __init__.")
LATENT_HINT = ("latent_loss(z_hat, z) is the mean squared error per coordinate, "
               "||z_hat - z||^2 / (B * z_dim), i.e. F.mse_loss(z_hat, z).")


def check_latent_head(latent_head: type[nn.Module], latent_loss: LossFn) -> bool:
    """Task 5: the head's shape and parameters, its loss, and gradient into D's shared trunk."""
    with torch.random.fork_rng(devices=[]):  # the student's layers draw from the global RNG
        torch.manual_seed(5)
        return _check_latent_head(latent_head, latent_loss)


def _check_latent_head(latent_head: type[nn.Module], latent_loss: LossFn) -> bool:
    task, gen = "Task 5 (LatentHead, latent_loss)", checking.random_generator(5)
    for features, z_dim in [(784, 16), (3136, 64)]:
        head = student_call(latent_head, task, features, z_dim)
        if not isinstance(head, nn.Module):
            raise LabCheckError(f"{task}: LatentHead(...) must be an nn.Module. {HEAD_HINT}")
        if not any(p.requires_grad for p in head.parameters()):
            raise LabCheckError(f"{task}: LatentHead has no trainable parameters; make its layer "
                                f"in __init__ and store it on self. {HEAD_HINT}")
        h = torch.randn(6, features, generator=gen).requires_grad_(True)
        what = f"LatentHead({features}, {z_dim})(h)"
        out = expect_tensor(student_call(head, task, h), what, HEAD_HINT)
        expect_shape(out, (6, z_dim), f"{what} for h of shape (6, {features})",
                     "Use the constructor's arguments, not fixed sizes.")
        if float((out[0] - out[1]).detach().abs().max()) < 1e-6:
            raise LabCheckError(f"{task}: two different feature vectors give the same z_hat; the "
                                "head must compute its output from h.")
        if not out.requires_grad or torch.autograd.grad(out.sum(), [h], allow_unused=True)[0] is None:
            raise LabCheckError(f"{task}: no gradient flows from z_hat back to h, the trunk's "
                                "features; do not detach h.")

    z_hat, z = torch.randn(2, 8, 16, generator=gen)
    z_hat.requires_grad_(True)
    got = expect_tensor(student_call(latent_loss, task, z_hat, z), f"{task}: latent_loss", LATENT_HINT)
    d = z_hat.detach() - z
    mistakes = [
        (d.pow(2).sum(1).mean(), "You summed over the coordinates: divide by z_dim too, so that "
         "1 means 'nothing recovered'."),
        (d.pow(2).sum(), "You summed; average over the batch and the coordinates."),
        (d.abs().mean(), "That is the mean absolute error; square the differences."),
        (d.pow(2).mean().sqrt(), "That is the root of the mean squared error; drop the sqrt."),
    ]
    _compare(got, F.mse_loss(z_hat.detach(), z), f"{task}: latent_loss", mistakes, LATENT_HINT)
    _needs_grad(got, task, "the head")

    D = Discriminator(width=8, z_dim=16, latent_head=True)
    D.latent = head = student_call(latent_head, task, D.adv.in_features, 16)  # yours, on D's trunk
    x, z = torch.rand(6, 1, 28, 28, generator=gen) * 2 - 1, torch.randn(6, 16, generator=gen)
    z_hat = expect_tensor(D(x)["latent"], f"{task}: D(x)['latent'] with your head")
    expect_shape(z_hat, (6, 16), f"{task}: D(x)['latent'] with your head")
    expect_tensor(student_call(latent_loss, task, z_hat, z), task).backward()
    trunk = next(D.trunk.parameters()).grad
    if trunk is None or trunk.abs().max() == 0:
        raise LabCheckError(f"{task}: the latent loss does not reach D's shared trunk; the head "
                            "must use h without detaching it.")
    if any(p.grad is None for p in head.parameters()):
        raise LabCheckError(f"{task}: some of the head's parameters get no gradient.")
    if D.adv.weight.grad is not None:
        raise LabCheckError(f"{task}: the latent loss reached the real/fake head; it should "
                            "train only the latent head and the shared trunk.")
    return passed("Task 5", "LatentHead gives (B, z_dim) for two sizes; latent_loss matches "
                  "F.mse_loss; its gradient trains the head and D's shared trunk only")


# --- training ---------------------------------------------------------------------------------
class LabGAN(GAN):
    """The package's :class:`GAN` (AC-GAN + latent head) with the student's code in its step.

    ``acgan_d_loss`` and ``acgan_g_loss`` are Tasks 3 and 4; ``latent_head`` (Task 5) replaces
    D's ``latent`` head, and ``latent_loss`` (weight ``config.lambda_latent``) trains it.
    """

    def __init__(self, acgan_d_loss: LossFn, acgan_g_loss: LossFn,
                 latent_head: type[nn.Module], latent_loss: LossFn, config: GANConfig | None = None):
        super().__init__(config or GANConfig(cls_head=True, latent_head=True))
        head = latent_head(self.discriminator.adv.in_features, self.config.z_dim)
        self.discriminator.latent = head  # type: ignore[assignment]  # any module of the same shape
        self.acgan_d_loss, self.acgan_g_loss, self.latent_loss = acgan_d_loss, acgan_g_loss, latent_loss

    def training_step(self, batch: Batch, trainer: TrainerView) -> dict[str, float]:
        """One D step and one G step (D frozen) on the same fakes, then the EMA update."""
        c, D = self.config, self.discriminator
        opt_d, opt_g = trainer.optimizers["d"], trainer.optimizers["g"]
        x, y = batch[0] * 2.0 - 1.0, batch[1]["digit"]  # [0, 1] -> [-1, 1], the range of tanh
        z = torch.randn(x.shape[0], c.z_dim, device=x.device)
        wanted = torch.randint(0, c.num_classes, (x.shape[0],), device=x.device)
        fake = self.generator(z, wanted)

        d_latent = self.latent_loss(D(fake.detach())["latent"], z)
        d_loss = self.acgan_d_loss(D, x, y, fake, wanted, c.lambda_cls) + c.lambda_latent * d_latent
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()

        D.requires_grad_(False)  # G's step: the gradient flows through D into G; D stays put
        try:
            g_latent = self.latent_loss(D(fake)["latent"], z)
            g_loss = self.acgan_g_loss(D, fake, wanted, c.lambda_cls) + c.lambda_latent * g_latent
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
        finally:
            D.requires_grad_(True)
        self.ema.update(self.generator)
        return {"d_loss": float(d_loss.detach()), "g_loss": float(g_loss.detach()),
                "d_latent": float(d_latent.detach())}


def train(gan: LabGAN, steps: int = 400, data: Subset | None = None, batch_size: int = 64,
          lr: float = 2e-4, max_seconds: float = 80.0) -> tuple[list[dict[str, float]], float]:
    """Train ``gan`` on ``steps`` batches of ``data`` (default: the first 9,600 MNIST training
    digits) or until ``max_seconds`` have passed; recalibrate the EMA generator's BatchNorm."""
    data = Subset(MNISTDigits("train"), 9_600) if data is None else data
    loader = BatchLoader(data, batch_size=batch_size, shuffle=True, seed=0, drop_last=True)
    trainer = Trainer(gan, tasks=[], lr=lr)  # the GAN brings one Adam per network
    rows: list[dict[str, float]] = []
    start = time.perf_counter()
    for batch in (b for _ in itertools.count() for b in loader):  # as many passes as needed
        if len(rows) >= steps or time.perf_counter() - start >= max_seconds:
            break
        rows.append(trainer.step(batch))
    seconds = time.perf_counter() - start
    recalibrate_batchnorm(gan.generator_ema)
    gan.generator_ema.eval()
    return rows, seconds


@torch.no_grad()
def class_head_accuracy(gan: GAN, n: int = 1000) -> float:
    """Share of the first ``n`` MNIST test digits that D's class head names correctly."""
    x, targets = MNISTDigits("test").batch(torch.arange(n))
    logits = gan.discriminator(x * 2 - 1)["cls"]  # D has no batch norm: no eval() needed
    return float((logits.argmax(1) == targets["digit"]).float().mean())


@torch.no_grad()
def sample_grid(generator: Generator, per_class: int = 4, seed: int = 0, title: str = "") -> Figure:
    """10 class columns, ``per_class`` rows each with one noise vector; ``generator`` -> eval mode."""
    labels = torch.arange(10).repeat(per_class)  # row r: the classes 0..9, all with noise z[r]
    z = torch.randn(per_class, generator.z_dim, generator=checking.random_generator(seed))
    images = (generator.eval().sample(labels, z.repeat_interleave(10, dim=0)) + 1) / 2
    fig = Figure(figsize=(6.4, 0.75 * per_class + 0.9))
    ax = fig.add_subplot()
    ax.imshow(mosaic(images.clamp(0, 1)).cpu().numpy(), cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([15 + 30 * c for c in range(10)], [str(c) for c in range(10)])
    ax.set_yticks([15 + 30 * r for r in range(per_class)], [f"z{r + 1}" for r in range(per_class)])
    ax.set(xlabel="requested class", ylabel="noise vector")
    ax.tick_params(length=0)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
