"""Chapter 4: generation + segmentation models, the VAE loss, the staged schedule and the recipes."""

from __future__ import annotations

import math

import pytest
import torch

from mtl_tutorial.data import Shapes
from mtl_tutorial.loaders import BatchLoader, InputAsTarget
from mtl_tutorial.metrics import MeanIoU, PixelAccuracy, ReconstructionMSE
from mtl_tutorial.models.genseg import (
    GenSegNet,
    Seed000Net,
    Seed001Net,
    VAEOutput,
    generation_loss,
    kl_divergence,
)
from mtl_tutorial.models.protocols import Sampler
from mtl_tutorial.schedules import StageEpochs, split_epochs, staged_fit
from mtl_tutorial.tasks import classification, generation, segmentation
from mtl_tutorial.trainer import Trainer
from mtl_tutorial.utils import seed_everything

SEG4, GEN = segmentation("seg", 4), generation("gen")
SMALL = {"in_channels": 3, "image_size": 16, "seg_classes": 4, "widths": (4, 8, 8), "latent_dim": 8}


def _shapes(n: int = 16) -> InputAsTarget:
    """Tiny Shapes (3x16x16, 4 seg classes) with the image as the "gen" target."""
    return InputAsTarget(Shapes("train", n=n, seed=0, relatedness=0.5, size=16), keys=("gen",))


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Parameters *and* buffers (BatchNorm running statistics)."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _changed(module: torch.nn.Module, before: dict[str, torch.Tensor]) -> bool:
    return any(not torch.equal(v, before[k]) for k, v in module.state_dict().items())


# --- shapes of every branch -----------------------------------------------------------------
def test_every_branch_has_the_right_shape_on_multimnist_seg_sized_input():
    model = GenSegNet(("seg", "gen", "left", "right", "render"), widths=(4, 8, 8), latent_dim=6)
    out = model(torch.rand(3, 1, 36, 36))
    assert set(out) == {"seg", "gen", "left", "right", "render"}
    assert out["seg"].shape == (3, 11, 36, 36)
    assert isinstance(out["gen"], VAEOutput)
    assert out["gen"].logits.shape == (3, 1, 36, 36) and out["gen"].mu.shape == (3, 6)
    assert out["gen"].logvar.shape == (3, 6)
    assert out["left"].shape == out["right"].shape == (3, 10)
    assert out["render"].shape == (3, 1, 36, 36)
    images = [
        model.sample(torch.zeros(5, dtype=torch.long)),
        model.reconstruct(torch.rand(2, 1, 36, 36)),
        model.generate_from_mask(torch.randint(0, 11, (2, 36, 36))),
    ]
    assert [tuple(i.shape) for i in images] == [(5, 1, 36, 36), (2, 1, 36, 36), (2, 1, 36, 36)]
    assert all(0.0 <= float(i.min()) and float(i.max()) <= 1.0 for i in images)
    assert model.training  # reconstruct() restores the mode it found
    # generation runs in evaluation mode: BatchNorm uses its running statistics, leaves them
    # alone, and a seeded sample is reproducible
    before = _snapshot(model)
    two = torch.zeros(2, dtype=torch.long)
    first = model.sample(two, generator=torch.Generator().manual_seed(0))
    assert torch.equal(first, model.sample(two, generator=torch.Generator().manual_seed(0)))
    z = torch.randn(2, 6, generator=torch.Generator().manual_seed(0))
    assert torch.equal(first, model.sample(torch.tensor([3, 7]), z))  # label values are ignored
    assert not _changed(model, before)
    assert isinstance(model, Sampler) and model.num_classes is None
    with pytest.raises(TypeError, match=r"torch.zeros\(n, dtype=torch.long\)"):
        model.sample(5)  # type: ignore[arg-type]


def test_active_tasks_only_and_bad_configurations():
    assert set(GenSegNet(("gen",), widths=(4, 8, 8))(torch.rand(1, 1, 36, 36))) == {"gen"}
    only_seg = GenSegNet(("seg",), widths=(4, 8, 8))
    assert only_seg.vae is None and only_seg.renderer is None
    with pytest.raises(RuntimeError, match="no 'gen'"):
        only_seg.sample(torch.zeros(1, dtype=torch.long))
    with pytest.raises(ValueError, match="needs 'seg'"):
        GenSegNet(("gen", "render"))
    with pytest.raises(ValueError, match="duplicate"):
        GenSegNet(("seg", "seg"))


def test_cli_samples_the_vae_with_the_one_sample_signature(tmp_path, capsys):
    from mtl_tutorial.checkpoint import save_checkpoint
    from mtl_tutorial.cli import main
    from mtl_tutorial.recipes.genseg import LATENT_DIM, WIDTHS

    model = GenSegNet(("gen",), widths=WIDTHS, latent_dim=LATENT_DIM)
    checkpoint = save_checkpoint(tmp_path / "vae.pt", model)
    out = tmp_path / "vae.png"
    argv = ["sample", "genseg-single-gen", "--n", "4", "--out", str(out)]
    assert main(argv + ["--checkpoint", str(checkpoint)]) == 0 and out.exists()
    assert main(argv + ["--checkpoint", str(checkpoint), "--label", "3"]) == 2
    assert "unconditional: leave out --label" in capsys.readouterr().err


def test_vae_reconstructs_from_the_posterior_mean_in_evaluation():
    model = GenSegNet(("gen",), **SMALL).eval()
    x = torch.rand(2, 3, 16, 16)
    a, b = model(x)["gen"], model(x)["gen"]
    assert torch.equal(a.logits, b.logits)  # z = mu: deterministic
    model.train()
    assert not torch.equal(model(x)["gen"].logits, model(x)["gen"].logits)  # z is sampled


def test_seed_models_shapes_and_seed001_is_the_joint_network():
    out = Seed000Net(width=4, noise_dim=3)(torch.rand(2, 1, 36, 36))
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "left": (2, 10),
        "right": (2, 10),
        "seg": (2, 11, 36, 36),
        "gen": (2, 1, 36, 36),
    }
    seed001 = Seed001Net(widths=(4, 8, 8))
    assert seed001.tasks == ("seg", "gen")
    assert seed001.shared_encoder is seed001.encoder and seed001.segmenter is seed001.seg_decoder
    assert seed001.generator is seed001.vae
    plain = GenSegNet(("seg", "gen"), widths=(4, 8, 8))
    assert list(seed001.state_dict()) == list(plain.state_dict())  # aliases add no parameters


def test_multimnist_seg_batch_feeds_every_branch(mnist_root):
    from mtl_tutorial.recipes.genseg import genseg_data

    data = genseg_data("test", 8)
    x, targets = data.batch(torch.arange(4))
    assert x.shape == (4, 1, 36, 36) and torch.equal(targets["gen"], x)
    assert targets["seg"].shape == (4, 36, 36) and int(targets["seg"].max()) <= 10
    model = GenSegNet(("seg", "gen", "left", "right"), widths=(4, 8, 8))
    out = model(x)
    tasks = [segmentation("seg", 11), GEN, classification("left"), classification("right")]
    losses = {t.name: t.loss(out[t.name], targets[t.name]) for t in tasks}
    assert all(torch.isfinite(v) for v in losses.values())


# --- the VAE loss and the metrics, by hand -----------------------------------------------------
def test_kl_divergence_hand_worked():
    # sample 1: mu = (1, 0), logvar = (0, ln 2): -0.5 * [(1 + 0 - 1 - 1) + (1 + ln 2 - 0 - 2)]
    #         = -0.5 * (ln 2 - 2) = 1 - ln(2) / 2;  sample 2: the prior itself, KL = 0
    mu = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(2.0)], [0.0, 0.0]])
    assert kl_divergence(mu, logvar).item() == pytest.approx((1 - math.log(2) / 2) / 2)
    # and against torch.distributions on random values
    mu, logvar = torch.randn(4, 3), torch.randn(4, 3)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros(3), torch.ones(3))
    expected = torch.distributions.kl_divergence(q, p).sum(1).mean()
    assert kl_divergence(mu, logvar).item() == pytest.approx(expected.item(), rel=1e-5)


def test_generation_loss_is_the_per_pixel_negative_elbo():
    target = torch.rand(2, 1, 4, 4)
    zero_logits = torch.zeros(2, 1, 4, 4)  # sigmoid = 0.5: BCE = ln 2 for any target
    prior = VAEOutput(zero_logits, torch.zeros(2, 3), torch.zeros(2, 3))
    assert generation_loss(prior, target).item() == pytest.approx(math.log(2))
    assert generation_loss(zero_logits, target).item() == pytest.approx(math.log(2))
    shifted = VAEOutput(zero_logits, torch.ones(2, 3), torch.zeros(2, 3))  # KL = 3 * 0.5 = 1.5
    assert generation_loss(shifted, target, beta=2.0).item() == pytest.approx(
        math.log(2) + 2.0 * 1.5 / 16
    )
    assert generation_loss(shifted, target, beta=0.0).item() == pytest.approx(math.log(2))


def test_miou_and_pixel_accuracy_with_eleven_classes_hand_worked():
    # 8 pixels; classes 0 (background), 3 and 7 appear, the other 8 classes nowhere
    target = torch.tensor([[0, 0, 0, 0, 3, 3, 7, 7]])
    labels = torch.tensor([[0, 0, 0, 3, 3, 3, 7, 0]])
    logits = torch.nn.functional.one_hot(labels, 11).permute(0, 2, 1).float()  # (1, 11, 8)
    miou, acc = MeanIoU(11), PixelAccuracy()
    miou.update(logits, target)
    acc.update(logits, target)
    # IoU: class 0 = 3 / (4 + 4 - 3) = 3/5; class 3 = 2 / (3 + 2 - 2) = 2/3; class 7 = 1/2
    assert miou.compute() == pytest.approx((3 / 5 + 2 / 3 + 1 / 2) / 3)
    assert acc.compute() == pytest.approx(6 / 8)


def test_reconstruction_mse_uses_sigmoid_of_the_logits():
    metric = ReconstructionMSE()
    metric.update(
        VAEOutput(torch.zeros(1, 1, 2, 2), torch.zeros(1, 2), torch.zeros(1, 2)),
        torch.ones(1, 1, 2, 2),
    )
    metric.update(torch.full((1, 1, 2, 2), 50.0), torch.ones(1, 1, 2, 2))  # plain logits, ~perfect
    assert metric.compute() == pytest.approx(0.25 / 2)


# --- training: joint, frozen encoder, staged ---------------------------------------------------
def test_short_joint_run_lowers_both_losses():
    seed_everything(0)
    model = GenSegNet(("seg", "gen"), **{**SMALL, "widths": (8, 16, 16)})
    trainer = Trainer(model, [SEG4, GEN], lr=3e-3)
    batch = _shapes(16).batch(torch.arange(16))
    first = trainer.step(batch)
    for _ in range(40):
        last = trainer.step(batch)
    assert last["loss_seg"] < 0.7 * first["loss_seg"]
    assert last["loss_gen"] < 0.9 * first["loss_gen"]


def test_stage_two_freezes_exactly_the_shared_encoder():
    seed_everything(0)
    model = Seed001Net(**{**SMALL, "image_size": 16})
    model.freeze_encoder()
    assert model.encoder_frozen
    assert not any(p.requires_grad for p in model.encoder.parameters())
    heads = [model.seg_decoder, model.vae]
    assert all(p.requires_grad for h in heads for p in h.parameters())
    trainer = Trainer(model, [SEG4, GEN], lr=1e-2)  # built after freezing, as staged_fit does
    encoder_before, heads_before = _snapshot(model.encoder), [_snapshot(h) for h in heads]
    batch = _shapes(8).batch(torch.arange(8))
    for _ in range(2):
        trainer.step(batch)  # calls model.train(): the frozen encoder must stay in eval mode
    assert model.training and not model.encoder.training
    assert all(p.grad is None for p in model.encoder.parameters())
    assert not _changed(model.encoder, encoder_before)  # weights and BatchNorm statistics
    assert all(_changed(h, b) for h, b in zip(heads, heads_before, strict=True))
    model.unfreeze_encoder()
    assert not model.encoder_frozen and model.encoder.training
    trainer.step(batch)  # the old Trainer's Adam also holds the encoder: it now moves again
    assert _changed(model.encoder, encoder_before)


def test_single_task_pretraining_leaves_the_other_branch_alone():
    seed_everything(0)
    model = Seed001Net(**{**SMALL, "image_size": 16})
    vae_before = [p.detach().clone() for p in model.vae.parameters()]
    enc_before = _snapshot(model.encoder)
    Trainer(model, [SEG4]).step(_shapes(8).batch(torch.arange(8)))
    assert _changed(model.encoder, enc_before)
    # the VAE gets no gradient, so its weights stay; its forward pass still runs in train
    # mode, so its BatchNorm statistics follow the encoder (harmless, even useful)
    assert all(torch.equal(p, b) for p, b in zip(model.vae.parameters(), vae_before, strict=True))


def test_staged_fit_runs_three_stages_and_restores_the_encoder():
    seed_everything(0)
    model = Seed001Net(**{**SMALL, "image_size": 16})
    data = _shapes(16)
    history = staged_fit(
        model, [SEG4, GEN], BatchLoader(data, 8, shuffle=True), BatchLoader(data, 16),
        StageEpochs(pretrain=2, frozen=1, finetune=1), lr=3e-3,
    )  # fmt: skip
    assert [r["stage"] for r in history] == [1.0, 1.0, 2.0, 3.0]
    assert [r["epoch"] for r in history] == [1.0, 2.0, 3.0, 4.0]
    assert [r.get("pretrain_task") for r in history] == [0.0, 1.0, None, None]
    assert "miou" in history[0] and "recon_mse" not in history[0]  # stage 1 trains seg alone
    assert "recon_mse" in history[1] and {"miou", "recon_mse"} <= set(history[-1])
    assert not model.encoder_frozen


@pytest.mark.parametrize(
    ("total", "expected"),
    [(8, (4, 1, 3)), (12, (6, 2, 4)), (4, (2, 1, 1)), (6, (4, 1, 1)), (16, (8, 3, 5))],
)
def test_split_epochs_keeps_the_joint_budget(total, expected):
    stages = split_epochs(total)
    assert (stages.pretrain, stages.frozen, stages.finetune) == expected
    assert stages.total == total
    with pytest.raises(ValueError, match="at least"):
        split_epochs(3)


# --- the registered experiments ----------------------------------------------------------------
def test_genseg_experiments_are_registered_and_quick_runs_train(tmp_path, mnist_root):
    from mtl_tutorial import experiments
    from mtl_tutorial.experiments import TrainConfig

    names = {e.name for e in experiments.all_experiments() if e.chapter == "4-genseg"}
    assert {
        "genseg-single-seg",
        "genseg-single-gen",
        "genseg-single-cls",
        "genseg-joint",
        "genseg-staged",
        "genseg-three-task",
        "genseg-seed000",
        "genseg-render",
    } <= names
    assert any(n.startswith("genseg-joint-lambda-") for n in names)
    result, path = experiments.run(
        "genseg-staged", TrainConfig(seed=0, quick=True, out_dir=tmp_path)
    )
    assert path.exists() and result.epochs == 4
    assert [r["stage"] for r in result.history] == [1.0, 1.0, 2.0, 3.0]
    for key in ("miou", "pixel_acc", "recon_mse"):
        assert 0.0 <= result.metrics[key] <= 1.0


# --- sample quality: the MNIST judge on each digit window --------------------------------------
def test_pair_features_reads_each_digit_window():
    from mtl_tutorial import gan_eval
    from mtl_tutorial.data.multimnist import compose_pair
    from mtl_tutorial.models.classifier import MNISTClassifier

    torch.manual_seed(0)
    judge = MNISTClassifier().eval()
    left, right = torch.rand(5, 28, 28), torch.rand(5, 28, 28)
    blank = torch.zeros_like(left)
    only_left = compose_pair(left, blank).unsqueeze(1)
    only_right = compose_pair(blank, right).unsqueeze(1)
    d = gan_eval.classifier_features(judge, left.unsqueeze(1)).shape[1]
    features = gan_eval.pair_features(judge, only_left)
    assert features.shape == (5, 2 * d)
    # with the right digit blank, the left window is exactly the left digit, and vice versa
    own = gan_eval.classifier_features(judge, left.unsqueeze(1))
    torch.testing.assert_close(features[:, :d], own)
    torch.testing.assert_close(
        gan_eval.pair_features(judge, only_right)[:, d:],
        gan_eval.classifier_features(judge, right.unsqueeze(1)),
    )
    with pytest.raises(ValueError, match=r"\(N, 1, 36, 36\)"):
        gan_eval.pair_features(judge, torch.rand(5, 1, 28, 28))


def test_vae_experiments_report_the_classifier_fid():
    from mtl_tutorial import experiments

    for name in ("genseg-single-gen", "genseg-joint", "genseg-staged", "genseg-three-task"):
        assert {"classifier_fid", "classifier_fid_floor"} <= set(experiments.get(name).metrics)
    # seed 000's generator is a plain decoder of the input's features: it cannot sample
    assert "classifier_fid" not in experiments.get("genseg-seed000").metrics
    assert "classifier_fid" not in experiments.get("genseg-single-seg").metrics


def test_generation_fid_is_seeded_and_the_floor_is_below_noise(mnist_root):
    from mtl_tutorial.recipes.genseg import generation_fid

    torch.manual_seed(0)
    model = GenSegNet(("gen",), widths=(4, 8, 8), latent_dim=6).eval()
    first = generation_fid(model, n=300, seed=1)
    assert first == generation_fid(model, n=300, seed=1)
    # an untrained decoder makes grey blobs: far from real canvases, unlike real train canvases
    assert 0 <= first["classifier_fid_floor"] < first["classifier_fid"]


def test_staged_equal_budget_epochs_give_the_encoder_the_joint_learning_rate_budget():
    """genseg-staged-e56's epoch count is the smallest E at which seed 001's schedule gives the
    encoder, through one task's loss, as much learning rate as joint training does in EPOCHS
    (chapter 4's exercise ex-genseg-staged-budget), summed over the per-epoch cosine rates."""
    from mtl_tutorial.experiments.ch4_genseg import (
        EPOCHS,
        FINETUNE_LR_FACTOR,
        STAGED_EQUAL_BUDGET_EPOCHS,
    )
    from mtl_tutorial.schedules import split_epochs

    def budget(n: int, factor: float = 1.0) -> float:
        opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=factor)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=n)
        total = 0.0
        for _ in range(n):
            total += opt.param_groups[0]["lr"]
            opt.step()
            sched.step()
        return total

    def staged(e: int) -> float:
        stages = split_epochs(e)
        return budget(stages.pretrain // 2) + budget(stages.finetune, FINETUNE_LR_FACTOR)

    joint = budget(EPOCHS)
    assert joint == pytest.approx(8.5)
    assert staged(STAGED_EQUAL_BUDGET_EPOCHS) >= joint - 1e-9
    assert staged(STAGED_EQUAL_BUDGET_EPOCHS - 1) < joint
    assert staged(EPOCHS) == pytest.approx(2.8)  # a third of joint training's budget at E = 16
