"""Issue #18's discriminators: seed 002's K chunked heads with a frozen-trunk phase, and mtcgan-proj.

Properties of the building blocks (chunks, the freeze, the TAC losses in closed form), the
heads' shapes and gradients, a reproduction of seed 002's freezing defect next to the
package's phase, and quick runs of every new experiment through ``train`` and ``evaluate``.
"""

from __future__ import annotations

import copy
import functools
import json
import math

import pytest
import torch
from torch import nn

from mtl_tutorial import experiments, gan_eval, pretrained, report
from mtl_tutorial.cli import main
from mtl_tutorial.experiments import TrainConfig
from mtl_tutorial.models.mtcgan import (
    GAN,
    Discriminator,
    GANConfig,
    Generator,
    chunk_bounds,
    chunked_d_adversarial_loss,
    d_adversarial_loss,
    frozen,
    tac_d_loss,
    tac_g_loss,
)
from mtl_tutorial.recipes.mtcgan import REDESIGNS, VARIANTS, generator_for
from mtl_tutorial.trainer import Trainer
from mtl_tutorial.utils import seed_everything

SEED002 = REDESIGNS["mtcgan-seed002"][1]
PROJ = REDESIGNS["mtcgan-proj-latent"][1]  # every head of the family
LOG10 = math.log(10)


def _batch(n: int = 16, seed: int = 0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=g), {"digit": torch.arange(n) % 10}


def _small(config: GANConfig) -> GANConfig:
    return GANConfig(**{**config.__dict__, "width": 8, "z_dim": 16})


# --- the experiments' configurations -----------------------------------------------------------
def test_the_new_experiments_are_what_issue_18_asks_for():
    assert set(REDESIGNS) == {
        "mtcgan-seed002",
        "mtcgan-proj",
        "mtcgan-proj-no-patch",
        "mtcgan-proj-no-tac",
        "mtcgan-proj-latent",
    }
    assert set(REDESIGNS) <= set(VARIANTS)  # all eleven ship; the first six are unchanged
    assert list(VARIANTS)[:6] == [
        "dcgan",
        "cgan",
        "acgan",
        "mtcgan",
        "mtcgan-no-latent",
        "mtcgan-no-patch",
    ]
    # seed 002: 4 real/fake heads (the article's NUM_HEADS), one head-only step, mtcgan's
    # conditional set-up (class + latent heads), nothing of the book's own (no patch head)
    assert (SEED002.adv_heads, SEED002.head_steps) == (4, 1)
    assert SEED002.conditional and SEED002.cls_head and SEED002.latent_head
    assert not (SEED002.patch_head or SEED002.projection or SEED002.tac_head)
    # its control is mtcgan-no-patch: the same heads with one real/fake head and no head phase
    control = VARIANTS["mtcgan-no-patch"][1]
    assert SEED002 == GANConfig(**{**control.__dict__, "adv_heads": 4, "head_steps": 1})
    # mtcgan-proj: cgan's projection D + patch head + TAC; each ablation changes one head
    base = REDESIGNS["mtcgan-proj"][1]
    assert base == GANConfig(
        **{**VARIANTS["cgan"][1].__dict__, "cls_head": True, "tac_head": True, "patch_head": True}
    )
    heads = set(GAN(base).discriminator.heads)
    assert heads == {"adv", "patch", "cls", "tac"}
    changed = {
        "no-patch": heads - {"patch"},
        "no-tac": heads - {"cls", "tac"},
        "latent": heads | {"latent"},
    }
    for suffix, want in changed.items():
        config = REDESIGNS[f"mtcgan-proj-{suffix}"][1]
        assert set(GAN(config).discriminator.heads) == want, suffix
        assert config.projection and config.adv_heads == 1 and config.head_steps == 0
    for name in REDESIGNS:  # same budget, judge and metrics as the other GANs
        exp, mtcgan = experiments.get(name), experiments.get("mtcgan")
        assert exp.requires == mtcgan.requires and exp.chapter == mtcgan.chapter
        assert (exp.default_epochs, exp.gpu_epochs, exp.metrics) == (
            mtcgan.default_epochs,
            mtcgan.gpu_epochs,
            mtcgan.metrics,
        )
        assert {"label_accuracy", "classifier_fid", "precision", "recall"} <= set(exp.metrics)


def test_config_and_discriminator_reject_inconsistent_heads():
    with pytest.raises(ValueError, match="needs cls_head=True"):
        GANConfig(tac_head=True)
    with pytest.raises(ValueError, match="adv_heads must be at least 1"):
        GANConfig(adv_heads=0)
    with pytest.raises(ValueError, match="head_steps at least 0"):
        GANConfig(head_steps=-1)
    with pytest.raises(ValueError, match="one real/fake head"):
        GANConfig(projection=True, adv_heads=2)
    with pytest.raises(ValueError, match="adv_heads must be at least 1"):
        Discriminator(adv_heads=0)
    with pytest.raises(ValueError, match="one real/fake head"):
        Discriminator(projection=True, adv_heads=3)


# --- shapes ------------------------------------------------------------------------------------
def test_head_shapes_of_both_discriminators():
    x, labels = torch.rand(5, 1, 28, 28) * 2 - 1, torch.tensor([0, 1, 2, 3, 9])
    seed = Discriminator(width=8, z_dim=16, cls_head=True, latent_head=True, adv_heads=4)
    out = seed(x)
    assert seed.heads == ("adv", "cls", "latent") and tuple(out) == seed.heads
    assert out["adv"].shape == (5, 4) and out["cls"].shape == (5, 10)
    assert out["latent"].shape == (5, 16)
    proj = Discriminator(
        width=8, z_dim=16, cls_head=True, patch_head=True, latent_head=True, projection=True,
        tac_head=True,
    )  # fmt: skip
    out = proj(x, labels)
    assert proj.heads == ("adv", "patch", "cls", "latent", "tac") and tuple(out) == proj.heads
    assert out["adv"].shape == (5,) and out["patch"].shape == (5, 7, 7)
    assert out["cls"].shape == out["tac"].shape == (5, 10) and out["latent"].shape == (5, 16)
    assert not torch.allclose(out["cls"], out["tac"])  # two heads, not one head twice
    # the trunk is what every head shares, and only the trunk
    trunk = {id(p) for p in proj.shared_parameters()}
    assert trunk == {id(p) for p in proj.trunk.parameters()}
    heads = {id(p) for n, p in proj.named_parameters() if not n.startswith("trunk.")}
    assert heads and not trunk & heads


def test_one_real_fake_head_keeps_the_shipped_layout():
    # adv_heads=1 is the old Discriminator: same state-dict keys and shapes, (B,) logits
    d = Discriminator(width=8)
    assert d.adv.weight.shape == (1, 8 * 2 * 49)
    assert d(torch.zeros(3, 1, 28, 28))["adv"].shape == (3,)
    for name, (_, config) in VARIANTS.items():
        if name in REDESIGNS:
            continue
        gan = GAN(config)
        assert gan.discriminator.adv.out_features == 1, name
        assert "tac" not in gan.discriminator.heads, name
        assert generator_for(config).state_dict().keys() == gan.generator_ema.state_dict().keys()


# --- chunks ------------------------------------------------------------------------------------
def test_chunk_bounds_are_disjoint_covering_and_balanced():
    for n in range(1, 70):
        for k in range(1, min(n, 9) + 1):
            bounds = chunk_bounds(n, k)
            assert len(bounds) == k
            covered = [i for s, e in bounds for i in range(s, e)]
            assert covered == list(range(n))  # disjoint, in order, nothing left out
            sizes = [e - s for s, e in bounds]
            assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1
            assert sizes == [len(c) for c in torch.arange(n).tensor_split(k)]
    assert chunk_bounds(64, 4) == [(0, 16), (16, 32), (32, 48), (48, 64)]
    assert chunk_bounds(10, 4) == [(0, 3), (3, 6), (6, 8), (8, 10)]
    with pytest.raises(ValueError, match="batch of 3 cannot give each of the 4"):
        chunk_bounds(3, 4)
    with pytest.raises(ValueError, match="at least 1"):
        chunk_bounds(5, 0)


def test_head_k_learns_from_chunk_k_only():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(10, 4, generator=g, requires_grad=True)
    fake = torch.randn(10, 4, generator=g, requires_grad=True)
    loss = chunked_d_adversarial_loss(real, fake)
    by_hand = sum(
        d_adversarial_loss(real[s:e, k], fake[s:e, k])
        for k, (s, e) in enumerate(chunk_bounds(10, 4))
    )
    assert loss.item() == pytest.approx(by_hand.item() / 4)
    loss.backward()
    assert real.grad is not None and fake.grad is not None
    expected = torch.zeros(10, 4, dtype=torch.bool)
    for k, (s, e) in enumerate(chunk_bounds(10, 4)):
        expected[s:e, k] = True
    assert torch.equal(real.grad != 0, expected) and torch.equal(fake.grad != 0, expected)
    zero = torch.zeros(8, 4)
    assert float(chunked_d_adversarial_loss(zero, zero)) == pytest.approx(2 * math.log(2))
    with pytest.raises(ValueError, match=r"same shape \(B, K\)"):
        chunked_d_adversarial_loss(torch.zeros(8), torch.zeros(8))


# --- the freeze --------------------------------------------------------------------------------
def test_frozen_freezes_exactly_the_module_and_restores_it():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 1))
    trunk, head = net[:3], net[3]
    net[0].bias.requires_grad_(False)  # a parameter frozen before: stays frozen afterwards
    net.train()
    with frozen(trunk):
        assert not any(p.requires_grad for p in trunk.parameters())
        assert all(p.requires_grad for p in head.parameters())
        assert not net[1].training and head.training
        before = net[1].running_mean.clone()
        net(torch.randn(4, 1, 4, 4)).sum().backward()
        assert torch.equal(net[1].running_mean, before)  # eval mode: statistics fixed
        assert all(p.grad is None for p in trunk.parameters()) and head.weight.grad is not None
    assert net[0].weight.requires_grad and not net[0].bias.requires_grad
    assert net[1].training and net[1].weight.requires_grad
    net.eval()
    with pytest.raises(RuntimeError, match="boom"), frozen(trunk):
        raise RuntimeError("boom")
    assert net[0].weight.requires_grad and not net[1].training  # restored after an error too


def _head_phase_article(d: Discriminator, opt: torch.optim.Optimizer, x: torch.Tensor) -> None:
    """Seed 002's second phase: freeze the shared part, then the loop's first line undoes it."""
    for p in d.shared_parameters():
        p.requires_grad_(False)
    for _ in range(d.adv_heads):
        d.requires_grad_(True)  # `mt_cgan.dis.requires_grad_(True)` inside the loop
        real, fake = d(x)["adv"].chunk(2)
        opt.zero_grad(set_to_none=True)
        d_adversarial_loss(real, fake).backward()
        opt.step()
    for p in d.shared_parameters():
        p.requires_grad_(True)


def _head_phase_package(d: Discriminator, opt: torch.optim.Optimizer, x: torch.Tensor) -> None:
    for _ in range(d.adv_heads):
        with frozen(d.trunk):
            real, fake = d(x)["adv"].chunk(2)
            opt.zero_grad(set_to_none=True)
            d_adversarial_loss(real, fake).backward()
            opt.step()


def test_seed_002_freezing_defect_is_reproduced_and_fixed():
    x = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    changed = {}
    for name, phase in (("article", _head_phase_article), ("package", _head_phase_package)):
        seed_everything(0)
        d = Discriminator(width=8, adv_heads=4)
        opt = torch.optim.Adam(d.parameters(), lr=1e-3)
        trunk = [p.detach().clone() for p in d.trunk.parameters()]
        head = d.adv.weight.detach().clone()
        phase(d, opt, x)
        changed[name] = not all(
            torch.equal(a, b) for a, b in zip(trunk, d.trunk.parameters(), strict=True)
        )
        assert not torch.equal(head, d.adv.weight), name  # the heads learn in both
        assert all(p.requires_grad for p in d.parameters()), name
    assert changed == {"article": True, "package": False}


def test_head_phase_of_a_training_step_leaves_the_trunk_bit_identical():
    seed_everything(0)
    gan = GAN(_small(SEED002))
    trainer = Trainer(gan, [], lr=2e-4)
    trainer.step(_batch(seed=1))  # Adam now has momentum for the trunk: a zero grad would move it
    opt_d = trainer.optimizers["d"]
    snapshots = []
    step = opt_d.step

    def recording_step(*args, **kwargs):
        result = step(*args, **kwargs)
        snapshots.append({k: v.clone() for k, v in gan.discriminator.state_dict().items()})
        return result

    opt_d.step = recording_step  # type: ignore[method-assign]
    row = trainer.step(_batch(seed=2))
    assert len(snapshots) == 1 + SEED002.head_steps  # the D step, then the head-only step
    main, heads = snapshots
    trunk_keys = [k for k in main if k.startswith("trunk.")]
    assert trunk_keys and all(torch.equal(main[k], heads[k]) for k in trunk_keys)
    for k in ("adv.weight", "adv.bias", "cls.weight", "latent.weight"):
        assert not torch.equal(main[k], heads[k]), k
    assert math.isfinite(row["d_heads"])
    assert all(p.requires_grad for p in gan.discriminator.parameters())  # restored


# --- the twin auxiliary classifier -------------------------------------------------------------
def test_tac_losses_by_hand():
    uniform, labels = torch.zeros(6, 10), torch.tensor([0, 1, 2, 3, 4, 9])
    assert float(tac_d_loss(uniform, labels, uniform, labels)) == pytest.approx(2 * LOG10)
    assert float(tac_g_loss(uniform, uniform, labels)) == pytest.approx(0.0)
    # two classes: logits (0, log 3) give p = (1/4, 3/4)
    cls = torch.tensor([[0.0, math.log(3)]])
    twin = torch.tensor([[math.log(3), 0.0]], requires_grad=True)
    one = torch.tensor([1])
    # CE(cls, 1) = log(4/3), CE(twin, 1) = log 4
    assert tac_d_loss(cls, one, twin, one).item() == pytest.approx(math.log(4 / 3) + math.log(4))
    g = tac_g_loss(cls, twin, one)
    assert g.item() == pytest.approx(math.log(4 / 3) - math.log(4))  # = -log 3
    g.backward()
    # opposite sign: d/ds_y [-CE(twin)] = 1 - p_y = 3/4, so G's descent lowers the twin's
    # score of the requested class (hard-to-classify fakes are rewarded, not punished)
    assert twin.grad is not None
    assert twin.grad[0].tolist() == pytest.approx([-0.75, 0.75])


def test_gan_losses_in_closed_form_with_uniform_heads():
    gan = GAN(PROJ)
    n, c = 4, gan.config
    z, labels, wanted = torch.randn(n, c.z_dim), torch.arange(n), torch.arange(n) % 3
    both = {
        "adv": torch.zeros(2 * n),
        "patch": torch.zeros(2 * n, 7, 7),
        "cls": torch.zeros(2 * n, 10),
        "tac": torch.zeros(2 * n, 10),
        "latent": torch.cat([torch.zeros(n, c.z_dim), z]),  # the fakes' z recovered exactly
    }
    d_loss, row = gan.discriminator_loss(both, labels, wanted, z)
    assert float(d_loss) == pytest.approx(2 * math.log(2) + c.lambda_cls * 2 * LOG10)
    assert row["d_cls"] == pytest.approx(2 * LOG10) and row["d_latent"] == 0.0
    fakes = {k: v[n:] for k, v in both.items()}
    g_loss, _ = gan.generator_loss(fakes, wanted, z)
    assert float(g_loss) == pytest.approx(math.log(2))  # class terms cancel, latent exact
    # AC-GAN (no twin): D's class loss covers real and fake with one head, G pays log C
    ac = GAN(VARIANTS["acgan"][1])
    d_ac, _ = ac.discriminator_loss({"adv": both["adv"], "cls": both["cls"]}, labels, wanted, z)
    g_ac, _ = ac.generator_loss({"adv": fakes["adv"], "cls": fakes["cls"]}, wanted, z)
    assert float(d_ac) == pytest.approx(2 * math.log(2) + 2 * LOG10)
    assert float(g_ac) == pytest.approx(math.log(2) + LOG10)


# --- gradients into G --------------------------------------------------------------------------
def _g_grad(gan: GAN, d: Discriminator, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    n = 8
    z = torch.randn(n, gan.config.z_dim, generator=g)
    wanted = torch.arange(n) % 10
    fake = gan.generator(z, wanted).detach().requires_grad_(True)
    loss, _ = gan.generator_loss(d(fake, wanted), wanted, z)
    (grad,) = torch.autograd.grad(loss, fake)
    return grad


@pytest.mark.parametrize(
    ("config", "parts"),
    [
        (SEED002, ["adv.0", "adv.1", "adv.2", "adv.3", "cls", "latent"]),
        (PROJ, ["adv", "embed", "patch", "cls", "tac", "latent"]),
    ],
)
def test_every_head_reaches_the_generator(config, parts):
    seed_everything(0)
    gan = GAN(config)
    d = gan.discriminator
    base = _g_grad(gan, d)
    assert base.abs().sum() > 0
    for part in parts:  # remove one head's weights: G's gradient must change
        ablated = copy.deepcopy(d)
        name, _, column = part.partition(".")
        weight = getattr(ablated, name).weight
        with torch.no_grad():
            if column:
                weight[int(column)] = 0.0  # head k of the K real/fake heads
            else:
                weight.zero_()
        change = (_g_grad(gan, ablated) - base).norm() / base.norm()
        assert change > 1e-3, part  # at initialisation: 0.3 % (patch) to 96 % (cls)


# --- one step and the quick runs ---------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(REDESIGNS))
def test_every_new_variant_takes_a_finite_deterministic_step(name):
    config = REDESIGNS[name][1]
    rows, states = [], []
    for _ in range(2):
        seed_everything(3)
        gan = GAN(config)
        rows.append(Trainer(gan, [], lr=2e-4).step(_batch()))
        states.append(gan.state_dict())
    row = rows[0]
    assert rows[0] == rows[1] and all(torch.equal(v, states[1][k]) for k, v in states[0].items())
    assert all(math.isfinite(v) for v in row.values())
    assert ("d_heads" in row) == (config.head_steps > 0)
    assert ("tac_acc_fake" in row) == ("g_tac_ce" in row) == config.tac_head
    assert ("d_latent" in row) == config.latent_head
    gan = GAN(config)
    assert all(p.requires_grad for p in gan.discriminator.parameters())


@pytest.mark.parametrize("name", sorted(REDESIGNS))
def test_quick_run_checkpoints_and_evaluates(name, tmp_path, mnist_root, capsys, monkeypatch):
    result, path = experiments.run(name, TrainConfig(seed=0, quick=True, out_dir=tmp_path))
    run_dir = tmp_path / name
    assert path.exists() and (run_dir / "seed0_full.pt").exists()
    assert (run_dir / "seed0_samples" / "epoch_01.png").exists()
    assert isinstance(result.model, Generator) and {"train_d_loss", "train_g_loss"} <= set(
        result.metrics
    )
    assert isinstance(pretrained.load(name, checkpoint=path), Generator)
    # the CLI's evaluation path on the quick checkpoint, with 500 instead of 10,000 samples
    try:
        for judge in (gan_eval.JUDGE, gan_eval.SECOND_JUDGE):
            gan_eval.load_classifier("cpu", judge)
    except gan_eval.ClassifierMissingError:
        pytest.skip("the judges mnist-judge and mnist-judge-mlp are not shipped here")
    full = gan_eval.evaluate_generator
    monkeypatch.setattr(gan_eval, "evaluate_generator", functools.partial(full, n=500))
    argv = ["evaluate", name, "--checkpoint", str(path), "--device", "cpu", "--json"]
    assert main(argv) == 0
    metrics = json.loads(capsys.readouterr().out)["metrics"]
    expected = {"label_accuracy", "label_accuracy_mlp", "classifier_fid", "precision", "recall"}
    assert expected <= set(metrics) and set(metrics) == set(experiments.get(name).metrics)
    assert all(math.isfinite(v) for v in metrics.values())


def test_plateau_rule_stops_a_flat_fd_curve_and_not_a_falling_one():
    from mtl_tutorial.experiments.ch5_mtcgan import PLATEAU_PATIENCE, plateaued

    assert PLATEAU_PATIENCE == 3
    assert plateaued([90, 50, 30, 29.9, 29.8, 29.7])  # three epochs, each under 2 % below 30
    assert not plateaued([90, 50, 30, 29.9, 29.8])  # two flat epochs: noise, with patience 3
    assert not plateaued([90, 50, 30, 29.9, 29.8, 29])  # 29 is 3.3 % below 30: still falling
    assert plateaued([90, 50, 30, 35, 40, 45])  # worse than the best: a flat (or rising) curve
    assert not plateaued([90, 80, 70])  # too short to judge with patience 3
    assert plateaued([90, 50, 30, 29.9, 29.8], patience=2)
    assert plateaued([10, 9.9], patience=1) and not plateaued([10, 9.7], patience=1)
    with pytest.raises(ValueError, match="patience >= 1"):
        plateaued([1, 2, 3], patience=0)


def test_a_longer_patience_never_stops_a_run_sooner():
    """A stop with patience p implies a stop with patience p - 1 one epoch earlier."""
    from mtl_tutorial.experiments.ch5_mtcgan import plateau_epoch, plateaued

    rng = torch.Generator().manual_seed(0)
    for _ in range(500):
        curve = (100 * torch.rand(15, generator=rng).cumprod(0) + 5).tolist()
        for patience in (2, 3, 4):
            longer, shorter = plateau_epoch(curve, patience), plateau_epoch(curve, patience - 1)
            assert longer is None or (shorter is not None and shorter < longer)
            if longer is not None:  # the first epoch it fires, not a later one
                assert plateaued(curve[:longer], patience)
                assert not any(plateaued(curve[:e], patience) for e in range(1, longer))


def test_every_shipped_gan_run_ended_where_the_plateau_rule_ends_it():
    """Each run of the package's GAN entries stopped at the first epoch the current rule
    fires, or at its own cap without the rule firing: the manifest matches the code."""
    from mtl_tutorial.experiments.ch5_mtcgan import CPU_BUDGET, plateau_epoch
    from mtl_tutorial.provenance import run_cap

    for folder in (pretrained.WEIGHTS_DIR, CPU_BUDGET):
        with pretrained.using_weights(folder):
            stored = pretrained.manifest()
            for name in VARIANTS:
                caps = {r["seed"]: run_cap(r) for r in stored[name]["runs"]}
                for seed in report.seeds(name):
                    fids = [row["monitor_fid_2k"] for row in report.seed_history(name, seed)]
                    ended = plateau_epoch(fids) or caps[seed]
                    assert len(fids) == ended, (folder.name, name, seed, len(fids), ended)
