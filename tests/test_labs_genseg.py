"""Lab 4's checks pass on correct code and fail, with a useful message, on typical mistakes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mtl_tutorial.labs import genseg as checks
from mtl_tutorial.labs.checking import LabCheckError
from mtl_tutorial.losses import VAEOutput, generation_loss, kl_divergence
from mtl_tutorial.models.genseg import GenSegNet
from mtl_tutorial.tasks import segmentation
from mtl_tutorial.trainer import Trainer


# --- the lab's solutions, re-typed --------------------------------------------------------------
def kl_solution(mu, logvar):
    return (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)).mean()


def reparameterise_solution(mu, logvar, eps=None):
    if eps is None:
        eps = torch.randn_like(mu)
    return mu + torch.exp(0.5 * logvar) * eps


def vae_loss_solution(prediction, target, beta=1.0):
    bce = F.binary_cross_entropy_with_logits(prediction.logits, target)
    return bce + beta * kl_solution(prediction.mu, prediction.logvar) / target[0].numel()


def freeze_solution(model, lr=1e-3):
    model.encoder.requires_grad_(False)
    model.encoder.eval()
    return torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)


def _fails(check, fn, *fragments):
    with pytest.raises(LabCheckError) as info:
        check(fn)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


# --- task 1 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", [kl_solution, kl_divergence])
def test_kl_check_passes_on_correct_code(fn):
    assert checks.check_kl_divergence(fn) is True


def _per_term(mu, logvar):
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())


@pytest.mark.parametrize(
    ("wrong", "fragments"),
    [
        (lambda mu, lv: None, ["no answer yet"]),
        (lambda mu, lv: ..., ["no answer yet"]),
        (lambda mu, lv: _per_term(mu, lv).sum(), ["summed over the batch"]),
        (lambda mu, lv: _per_term(mu, lv).mean(), ["averaged over the latent dimensions"]),
        (lambda mu, lv: _per_term(mu, lv).sum(1), ["not one number"]),
        (lambda mu, lv: -kl_solution(mu, lv), ["sign is flipped"]),
        (lambda mu, lv: 2 * kl_solution(mu, lv), ["factor 1/2"]),
        (lambda mu, lv: (-0.5 * (1 + lv.exp() - mu.pow(2) - lv).sum(1)).mean(), ["swapped"]),
        (lambda mu, lv: kl_solution(mu, lv).item(), ["expected a torch tensor"]),
        (lambda mu, lv: kl_solution(mu, lv).detach(), ["does not require grad"]),
        (lambda mu, lv: kl_solution(mu, lv) + 0.1, ["differs from the reference"]),
        (lambda mu, lv: mu.sum() / 0, ["contains NaN or infinity"]),
        (lambda mu: mu, ["raised TypeError"]),
    ],
)
def test_kl_check_fails_on_typical_mistakes(wrong, fragments):
    _fails(checks.check_kl_divergence, wrong, "Task 1 (kl_divergence)", *fragments)


def test_kl_check_catches_a_negative_value_that_matches_on_the_batches():
    def sometimes_negative(mu, logvar):  # right on batches, wrong on one posterior of one image
        value = kl_solution(mu, logvar)
        return value - 50.0 if mu.shape == (1, 2) else value

    _fails(checks.check_kl_divergence, sometimes_negative, "negative KL", "never negative")


# --- task 2 ----------------------------------------------------------------------------------------
def test_reparameterise_check_passes_on_correct_code():
    assert checks.check_reparameterise(reparameterise_solution) is True


def _own_eps(mu, logvar, eps=None):
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


@pytest.mark.parametrize(
    ("wrong", "fragments"),
    [
        (lambda mu, lv, eps=None: None, ["no answer yet"]),
        (lambda mu, lv, eps=None: mu + lv.exp() * (torch.randn_like(mu) if eps is None else eps), ["variance"]),
        (lambda mu, lv, eps=None: mu + lv * (torch.randn_like(mu) if eps is None else eps), ["log of the variance"]),
        (lambda mu, lv, eps=None: mu, ["noise sigma * eps is missing"]),
        (lambda mu, lv, eps=None: reparameterise_solution(mu, lv, eps).detach(), ["does not require grad"]),
        (lambda mu, lv, eps=None: reparameterise_solution(mu.detach(), lv, eps), ["no gradient reached mu"]),
        (lambda mu, lv, eps=None: reparameterise_solution(mu, lv.detach(), eps), ["no gradient reached logvar"]),
        (lambda mu, lv, eps=None: reparameterise_solution(mu, lv, torch.zeros_like(mu) if eps is None else eps),
         ["same z"]),
        (lambda mu, lv, eps=None: mu + torch.exp(0.5 * lv) * (torch.rand_like(mu) if eps is None else eps),
         ["mean of 20,000 samples"]),
        (lambda mu, lv, eps=None: mu + torch.exp(0.5 * lv) * (2 * torch.randn_like(mu) if eps is None else eps),
         ["standard deviation of 20,000 samples"]),
        (_own_eps, ["with a given eps"]),
        (lambda mu, lv: mu, ["raised TypeError"]),
    ],
)
def test_reparameterise_check_fails_on_typical_mistakes(wrong, fragments):
    _fails(checks.check_reparameterise, wrong, "Task 2 (reparameterise)", *fragments)


def test_torch_normal_is_caught_as_a_sample_without_gradient():
    def normal_without_eps(mu, logvar, eps=None):  # right values, but autograd gives it a zero gradient
        if eps is not None:
            return reparameterise_solution(mu, logvar, eps)
        return torch.normal(mu, torch.exp(0.5 * logvar))

    _fails(checks.check_reparameterise, normal_without_eps, "Task 2", "without eps", "no gradient reached mu")

    def numpy_without_eps(mu, logvar, eps=None):
        if eps is not None:
            return reparameterise_solution(mu, logvar, eps)
        return torch.from_numpy(reparameterise_solution(mu, logvar).detach().numpy())

    _fails(checks.check_reparameterise, numpy_without_eps, "Task 2", "without eps", "does not require grad")


# --- task 3 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", [vae_loss_solution, generation_loss])
def test_vae_loss_check_passes_on_correct_code(fn):
    assert checks.check_vae_loss(fn) is True


def _bce(p, x):
    return F.binary_cross_entropy_with_logits(p.logits, x)


def _kl(p):
    return kl_divergence(p.mu, p.logvar)


@pytest.mark.parametrize(
    ("wrong", "fragments"),
    [
        (lambda p, x, beta=1.0: None, ["no answer yet"]),
        (lambda p, x, beta=1.0: _bce(p, x) + beta * _kl(p), ["divide it by the number of pixels"]),
        (lambda p, x, beta=1.0: _bce(p, x) * x[0].numel() + beta * _kl(p), ["per-image negative ELBO"]),
        (lambda p, x, beta=1.0: F.binary_cross_entropy_with_logits(p.logits, x, reduction="sum") + beta * _kl(p),
         ["summed over the whole batch"]),
        (lambda p, x, beta=1.0: _bce(p, x) + _kl(p) / x[0].numel(), ["Multiply the KL term by beta"]),
        (lambda p, x, beta=1.0: _bce(p, x), ["KL term is missing"]),
        (lambda p, x, beta=1.0: F.mse_loss(p.image, x) + beta * _kl(p) / x[0].numel(), ["not a squared error"]),
        (lambda p, x, beta=1.0: F.binary_cross_entropy_with_logits(p.image, x) + beta * _kl(p) / x[0].numel(),
         ["do not apply a sigmoid"]),
        (lambda p, x, beta=1.0: _bce(p, x) + beta * _kl(p) / (x.shape[-1] * x.shape[-2]), ["C * H * W"]),
        (lambda p, x, beta=1.0: vae_loss_solution(p, x, beta).detach(), ["does not require grad"]),
        (lambda p, x, beta=1.0: vae_loss_solution(p, x, beta).item(), ["expected a torch tensor"]),
        (lambda p, x, beta=2.0: vae_loss_solution(p, x, beta), ["beta = 1.0"]),
        (lambda p, x, beta=1.0: _bce(p, x) + beta * _kl(VAEOutput(p.logits, p.mu.detach(), p.logvar.detach()))
         / x[0].numel(), ["no gradient reached mu"]),
    ],
)
def test_vae_loss_check_fails_on_typical_mistakes(wrong, fragments):
    _fails(checks.check_vae_loss, wrong, "Task 3 (vae_loss)", *fragments)


# --- task 4 ----------------------------------------------------------------------------------------
def test_freeze_check_passes_on_correct_code():
    assert checks.check_freeze_shared_encoder(freeze_solution) is True


def _no_eval(model, lr=1e-3):
    model.encoder.requires_grad_(False)
    return torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)


def _all_params(model, lr=1e-3):
    freeze_solution(model, lr)
    return torch.optim.Adam(model.parameters(), lr=lr)


def _whole_model(model, lr=1e-3):
    model.requires_grad_(False)
    model.eval()
    return torch.optim.Adam(model.vae.parameters(), lr=lr)


def _model_eval(model, lr=1e-3):
    optimizer = freeze_solution(model, lr)
    model.eval()
    return optimizer


def _package_helper(model, lr=1e-3):
    model.freeze_encoder()
    return torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)


def _sgd(model, lr=1e-3):
    freeze_solution(model, lr)
    return torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr)


def _fixed_lr(model, lr=1e-3):
    freeze_solution(model, lr)
    return torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)


def _heads_only_seg(model, lr=1e-3):
    freeze_solution(model, lr)
    return torch.optim.Adam(model.seg_decoder.parameters(), lr=lr)


def _forgets_return(model, lr=1e-3):
    freeze_solution(model, lr)


def _only_eval(model, lr=1e-3):
    model.encoder.eval()
    return torch.optim.Adam([p for n, p in model.named_parameters() if not n.startswith("encoder.")], lr=lr)


@pytest.mark.parametrize(
    ("wrong", "fragments"),
    [
        (_no_eval, ["still in training mode", "BatchNorm"]),
        (_all_params, ["holds frozen parameters"]),
        (_whole_model, ["froze head parameters too"]),
        (_model_eval, ["head was put in evaluation mode"]),
        (_package_helper, ["stand-in", "requires_grad_(False) and eval()"]),
        (_sgd, ["torch.optim.Adam"]),
        (_fixed_lr, ["pass lr on"]),
        (_heads_only_seg, ["misses trainable parameters", "vae."]),
        (_forgets_return, ["forget `return`"]),
        (_only_eval, ["still trainable", "requires_grad_(False)"]),
    ],
)
def test_freeze_check_fails_on_typical_mistakes(wrong, fragments):
    _fails(checks.check_freeze_shared_encoder, wrong, "Task 4 (freeze_shared_encoder)", *fragments)


def test_freeze_check_catches_changes_made_inside_the_call():
    def nudges_the_encoder(model, lr=1e-3):
        with torch.no_grad():
            next(model.encoder.parameters()).add_(1.0)
        return freeze_solution(model, lr)

    _fails(checks.check_freeze_shared_encoder, nudges_the_encoder, "the encoder changed")


# --- the glue of the training cell ----------------------------------------------------------------
def test_lab_model_samples_with_the_students_reparameterise():
    calls = []

    def counting(mu, logvar, eps=None):
        calls.append(tuple(mu.shape))
        return reparameterise_solution(mu, logvar, eps)

    torch.manual_seed(0)
    model = checks.lab_model(counting, widths=(4, 8, 8), latent_dim=3, size=12)
    reference = GenSegNet(("seg", "gen"), image_size=12, widths=(4, 8, 8), latent_dim=3)
    assert model.state_dict().keys() == reference.state_dict().keys()
    out = model(torch.rand(2, 1, 12, 12))
    assert calls == [(2, 3)] and isinstance(out["gen"], VAEOutput)
    model.eval()
    model(torch.rand(2, 1, 12, 12))  # evaluation decodes mu: no sample drawn
    assert calls == [(2, 3)]


def test_glue_trains_with_the_students_loss_and_optimizer():
    torch.manual_seed(0)
    model = checks.lab_model(reparameterise_solution, widths=(4, 8, 8), latent_dim=3, size=12)
    tasks = [segmentation("seg", 11), checks.student_generation_task(vae_loss_solution)]
    x = torch.rand(4, 1, 12, 12)
    batches = [(x, {"seg": torch.randint(0, 11, (4, 12, 12)), "gen": x})] * 3
    assert checks.train_steps(Trainer(model, tasks, lr=1e-3), batches, steps=5, max_seconds=60) == 5
    before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    optimizer = freeze_solution(model, lr=1e-3)
    trainer = checks.trainer_with_optimizer(model, tasks, optimizer)
    assert trainer.optimizer is optimizer
    row = trainer.step(batches[0])
    assert set(row) >= {"loss_seg", "loss_gen"}
    assert all(torch.equal(v, before[k]) for k, v in model.encoder.state_dict().items())
    assert checks.train_steps(trainer, batches, steps=100, max_seconds=0.0) == 0
    assert isinstance(checks.TinyGenSeg()(torch.rand(1, 1, 12, 12))["gen"], VAEOutput)
