"""Lab 5's checks pass on correct answers and fail, with a useful message, on typical mistakes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mtl_tutorial.labs import gan as checks
from mtl_tutorial.labs.checking import LabCheckError
from mtl_tutorial.loaders import Subset
from mtl_tutorial.losses import d_adversarial_loss, g_adversarial_loss
from mtl_tutorial.models.mtcgan import GANConfig


@pytest.fixture(autouse=True)
def one_thread():
    """One thread: on a shared 2-core machine two threads per process are far slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---- the lab's solutions, re-typed ----------------------------------------------------


def d_loss(real_logits, fake_logits):
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def g_loss(fake_logits):
    return F.softplus(-fake_logits).mean()


def acgan_d_loss(D, real, labels, fake, wanted, lambda_cls=1.0):
    out_real, out_fake = D(real), D(fake.detach())
    classes = F.cross_entropy(out_real["cls"], labels) + F.cross_entropy(out_fake["cls"], wanted)
    return d_loss(out_real["adv"], out_fake["adv"]) + lambda_cls * classes


def acgan_g_loss(D, fake, wanted, lambda_cls=1.0):
    out = D(fake)
    return g_loss(out["adv"]) + lambda_cls * F.cross_entropy(out["cls"], wanted)


class LatentHead(nn.Module):
    def __init__(self, features, z_dim):
        super().__init__()
        self.linear = nn.Linear(features, z_dim)

    def forward(self, h):
        return self.linear(h)


def latent_loss(z_hat, z):
    return F.mse_loss(z_hat, z)


def _fails(check, *answer, words=()):
    with pytest.raises(LabCheckError) as info:
        check(*answer)
    message = str(info.value)
    for word in words:
        assert word in message, message
    return message


def test_correct_answers_and_the_package_pass():
    assert checks.check_d_loss(d_loss)
    assert checks.check_d_loss(d_adversarial_loss)  # the package's own
    bce = F.binary_cross_entropy_with_logits
    assert checks.check_d_loss(
        lambda r, f: bce(r, torch.ones_like(r)) + bce(f, torch.zeros_like(f))
    )
    assert checks.check_g_loss(g_loss)
    assert checks.check_g_loss(g_adversarial_loss)
    assert checks.check_acgan_d_loss(acgan_d_loss)
    assert checks.check_acgan_g_loss(acgan_g_loss)
    assert checks.check_latent_head(LatentHead, latent_loss)
    assert checks.check_latent_head(lambda f, z: nn.Linear(f, z), nn.MSELoss())


def test_one_pass_over_real_and_fake_also_passes():
    def one_pass(D, real, labels, fake, wanted, lambda_cls=1.0):
        out = D(torch.cat([real, fake.detach()]))
        (adv_r, adv_f), (cls_r, cls_f) = out["adv"].chunk(2), out["cls"].chunk(2)
        ce = F.cross_entropy(cls_r, labels) + F.cross_entropy(cls_f, wanted)
        return d_loss(adv_r, adv_f) + lambda_cls * ce

    assert checks.check_acgan_d_loss(one_pass)


def test_checks_are_silent_and_leave_the_global_random_state_alone(capsys):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    checks.check_acgan_d_loss(acgan_d_loss)
    checks.check_latent_head(LatentHead, latent_loss)
    assert torch.equal(torch.rand(3), expected)
    assert capsys.readouterr().out == ""


def test_blank_answers_say_there_is_no_answer_yet():
    for check in (checks.check_d_loss, checks.check_acgan_d_loss):
        _fails(check, lambda *a, **k: None, words=("no answer yet",))
    _fails(checks.check_g_loss, lambda f: ..., words=("no answer yet",))

    class Blank(nn.Module):
        def __init__(self, features, z_dim):
            super().__init__()

        def forward(self, h):
            return None

    _fails(checks.check_latent_head, Blank, latent_loss, words=("no trainable parameters",))


def test_d_loss_mistakes():
    sp = F.softplus
    _fails(checks.check_d_loss, lambda r, f: sp(r).mean() + sp(-f).mean(), words=("swapped",))
    _fails(checks.check_d_loss, lambda r, f: sp(-r).sum() + sp(f).sum(), words=("summed",))
    _fails(checks.check_d_loss, lambda r, f: sp(torch.cat([-r, f])).mean(), words=("together",))
    _fails(
        checks.check_d_loss,
        lambda r, f: sp(-torch.sigmoid(r)).mean() + sp(torch.sigmoid(f)).mean(),
        words=("sigmoid",),
    )
    _fails(checks.check_d_loss, lambda r, f: sp(-r) + sp(f), words=("expected shape ()",))
    _fails(checks.check_d_loss, lambda r, f: (sp(-r).mean() + sp(f).mean()).item(),
           words=("torch.Tensor",))
    _fails(checks.check_d_loss, lambda r, f: (sp(-r).mean() + sp(f).mean()).detach(),
           words=("no gradient",))
    # mathematically right, numerically unstable: log(0) for very negative logits
    unstable = lambda r, f: -torch.log(torch.sigmoid(r)).mean() - torch.log(1 - torch.sigmoid(f)).mean()  # noqa: E731
    _fails(checks.check_d_loss, unstable, words=("underflows",))
    bce = F.binary_cross_entropy  # on probabilities: clipped at 100
    _fails(checks.check_d_loss,
           lambda r, f: bce(torch.sigmoid(r), torch.ones_like(r)) + bce(torch.sigmoid(f), torch.zeros_like(f)),
           words=("420",))
    _fails(checks.check_d_loss, lambda r, f: r.sum(), words=("Task 1", "d_loss"))


def test_g_loss_mistakes():
    _fails(checks.check_g_loss, lambda f: -F.softplus(f).mean(), words=("minimax",))
    _fails(checks.check_g_loss, lambda f: F.softplus(f).mean(), words=("target 0",))
    _fails(checks.check_g_loss, lambda f: -f.mean(), words=("hinge",))
    _fails(checks.check_g_loss, lambda f: F.softplus(-f).detach().mean(), words=("no gradient",))
    _fails(checks.check_g_loss, lambda f: -torch.log(torch.sigmoid(f)).mean(), words=("300",))

    def crashes(f):
        raise ValueError("boom")

    _fails(checks.check_g_loss, crashes, words=("ValueError: boom", "Task 2"))


def test_acgan_d_loss_mistakes():
    def without_detach(D, real, labels, fake, wanted, lambda_cls=1.0):
        out_real, out_fake = D(real), D(fake)
        ce = F.cross_entropy(out_real["cls"], labels) + F.cross_entropy(out_fake["cls"], wanted)
        return d_loss(out_real["adv"], out_fake["adv"]) + lambda_cls * ce

    _fails(checks.check_acgan_d_loss, without_detach, words=("detach", "generator"))

    def variant(fake_term=True, fake_labels="wanted", lam=True, adversarial=True, no_grad=False):
        def loss(D, real, labels, fake, wanted, lambda_cls=1.0):
            out_real = D(real)
            if no_grad:
                with torch.no_grad():
                    out_fake = D(fake.detach())
            else:
                out_fake = D(fake.detach())
            target = wanted if fake_labels == "wanted" else labels
            ce = F.cross_entropy(out_real["cls"], labels)
            if fake_term:
                ce = ce + F.cross_entropy(out_fake["cls"], target)
            adv = d_loss(out_real["adv"], out_fake["adv"]) if adversarial else 0.0
            return adv + (lambda_cls if lam else 1.0) * ce

        return loss

    _fails(checks.check_acgan_d_loss, variant(fake_term=False), words=("fakes is missing",))
    _fails(checks.check_acgan_d_loss, variant(fake_labels="labels"), words=("use `wanted`",))
    _fails(checks.check_acgan_d_loss, variant(lam=False), words=("lambda_cls is ignored",))
    _fails(checks.check_acgan_d_loss, variant(adversarial=False), words=("adversarial part",))
    _fails(checks.check_acgan_d_loss, variant(no_grad=True), words=("gradient",))


def test_acgan_g_loss_mistakes():
    def variant(sign=1.0, target="wanted", detach=False, adv="g"):
        def loss(D, fake, wanted, lambda_cls=1.0):
            out = D(fake.detach() if detach else fake)
            a = g_loss(out["adv"]) if adv == "g" else F.softplus(out["adv"]).mean()
            return a + sign * lambda_cls * F.cross_entropy(out["cls"], wanted)

        return loss

    _fails(checks.check_acgan_g_loss, variant(sign=-1.0), words=("not adversarial",))
    _fails(checks.check_acgan_g_loss, variant(adv="d"), words=("Task 2",))
    _fails(checks.check_acgan_g_loss, variant(detach=True), words=("no gradient",))
    _fails(checks.check_acgan_g_loss, lambda D, fake, wanted, lambda_cls=1.0: g_loss(D(fake)["adv"]),
           words=("missing",))


def test_latent_head_mistakes():
    class Fixed(nn.Module):  # hard-coded sizes
        def __init__(self, features, z_dim):
            super().__init__()
            self.linear = nn.Linear(3136, 64)

        def forward(self, h):
            return self.linear(h)

    _fails(checks.check_latent_head, Fixed, latent_loss, words=("Task 5",))

    class Detached(LatentHead):
        def forward(self, h):
            return self.linear(h.detach())

    _fails(checks.check_latent_head, Detached, latent_loss, words=("do not detach h",))

    class Constant(nn.Module):  # ignores its input
        def __init__(self, features, z_dim):
            super().__init__()
            self.z = nn.Parameter(torch.zeros(z_dim))

        def forward(self, h):
            return self.z.expand(len(h), -1)

    _fails(checks.check_latent_head, Constant, latent_loss, words=("same z_hat",))
    _fails(checks.check_latent_head, LatentHead, lambda a, b: ((a - b) ** 2).sum(1).mean(),
           words=("divide by z_dim",))
    _fails(checks.check_latent_head, LatentHead, lambda a, b: (a - b).abs().mean(),
           words=("absolute",))
    _fails(checks.check_latent_head, LatentHead, lambda a, b: F.mse_loss(a, b).item(),
           words=("torch.Tensor",))


class TinyDigits:
    """Random 'digits' in the batch-dataset format: the training glue without MNIST's load time."""

    def __init__(self, n):
        gen = torch.Generator().manual_seed(0)
        self.x, self.y = torch.rand(n, 1, 28, 28, generator=gen), torch.arange(n) % 10

    def __len__(self):
        return len(self.x)

    def batch(self, index):
        return self.x[index], {"digit": self.y[index]}


def test_lab_gan_runs_the_student_code_a_few_steps():
    torch.manual_seed(0)
    config = GANConfig(cls_head=True, latent_head=True, width=8)
    gan = checks.LabGAN(acgan_d_loss, acgan_g_loss, LatentHead, latent_loss, config)
    assert isinstance(gan.discriminator.latent, LatentHead)
    rows, seconds = checks.train(gan, steps=3, data=Subset(TinyDigits(96)), batch_size=32)
    assert len(rows) == 3 and seconds > 0
    assert set(rows[0]) == {"d_loss", "g_loss", "d_latent"}
    assert all(torch.isfinite(torch.tensor(list(r.values()))).all() for r in rows)
    assert all(p.requires_grad for p in gan.discriminator.parameters())  # D unfrozen after G's step
    fig = checks.sample_grid(gan.generator_ema, per_class=2)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == [str(c) for c in range(10)]


def test_a_d_loss_without_detach_breaks_the_training_step():
    # what the Task 3 message promises: D's backward frees G's graph, G's backward then fails
    def without_detach(D, real, labels, fake, wanted, lambda_cls=1.0):
        return acgan_d_loss(D, real, labels, fake, wanted, lambda_cls) + 0 * D(fake)["adv"].sum()

    gan = checks.LabGAN(without_detach, acgan_g_loss, LatentHead, latent_loss,
                        GANConfig(cls_head=True, latent_head=True, width=8))
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        checks.train(gan, steps=1, data=Subset(TinyDigits(32)), batch_size=32)
