"""The stronger judges of issue #18 (``mnist-judge``, ``mnist-judge-mlp``) and the honest metrics.

Interfaces, the train-mode-only augmentation, live feature units, the Wilson interval of a
label accuracy, the Fréchet distance on live units and its spread over noise seeds. Only
tiny untrained models run here; the shipped weights are checked on real data if present.
"""

from __future__ import annotations

import pytest
import torch
from scipy.stats import binomtest
from torch import nn

from mtl_tutorial import experiments, gan_eval, pretrained, store
from mtl_tutorial.models.classifier import MNISTClassifier
from mtl_tutorial.models.judges import ConvJudge, MLPJudge, RandomAffine
from mtl_tutorial.models.mtcgan import Generator
from mtl_tutorial.utils import seed_everything

JUDGES = {"mnist-judge": ConvJudge, "mnist-judge-mlp": MLPJudge}


def _images(n: int = 6, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


# --- the models ---------------------------------------------------------------------------
@pytest.mark.parametrize("build", [ConvJudge, MLPJudge])
def test_judges_have_the_classifier_interface(build):
    seed_everything(0)
    model = build().eval()
    x = _images()
    assert model(x)["digit"].shape == (6, 10) and model.features(x).shape == (6, 256)
    # gan_eval accepts them like MNISTClassifier
    assert gan_eval.classifier_features(model, x, batch_size=4).shape == (6, 256)
    assert 0 <= gan_eval.label_accuracy(model, x, torch.arange(6)) <= 1
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        model(torch.rand(2, 1, 32, 32))


def test_judges_are_registered_in_chapter_5_and_wider_than_the_shipped_one():
    for name, build in JUDGES.items():
        exp = experiments.get(name)
        assert exp.chapter == "5-mtcgan" and isinstance(exp.build_model(), build)
        assert "acc_digit" in exp.metrics
    assert experiments.get("mnist-judge").epochs_for("cpu") <= 6
    count = sum(p.numel() for p in ConvJudge().parameters())
    assert count > sum(p.numel() for p in MNISTClassifier().parameters())


def test_augmentation_only_in_training_mode():
    seed_everything(0)
    x = _images(8)
    augment = RandomAffine()
    a, b = augment(x), augment(x)
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1
    assert not torch.allclose(a, x) and not torch.allclose(a, b)  # random, per call
    assert augment.eval()(x) is x
    # no rotation, shift or zoom: the identity up to resampling round-off
    assert torch.allclose(RandomAffine(0.0, 0.0, (1.0, 1.0))(x), x, atol=1e-5)
    with pytest.raises(ValueError, match="translate"):
        RandomAffine(translate=1.5)


def test_conv_judge_augments_in_forward_in_train_mode_only():
    seed_everything(0)
    model, x = ConvJudge(), _images(8)
    seen: list[bool] = []
    model.augment.register_forward_hook(lambda m, i, o: seen.append(not torch.equal(i[0], o)))
    model.train()(x)
    model.eval()
    out = model(x)["digit"]
    assert seen == [True, False]  # changed the batch in train mode, passed it in eval mode
    assert torch.equal(out, model(x)["digit"])  # eval mode is deterministic
    assert torch.equal(model.features(x), model.features(x))
    assert isinstance(ConvJudge(augment=False).augment, nn.Identity)


# --- live units ---------------------------------------------------------------------------
def test_live_units_on_a_hand_made_matrix():
    features = torch.tensor(
        [[0.0, 1.0, 5.0, 2.0], [0.0, 2.0, 5.0, 2.0], [0.0, 3.0, 5.0, 2.0 + 1e-3]]
    )
    assert gan_eval.live_units(features).tolist() == [False, True, False, True]
    assert gan_eval.live_units(features, eps=0.01).tolist() == [False, True, False, False]
    with pytest.raises(ValueError, match="N >= 2"):
        gan_eval.live_units(features[:1])


def test_frechet_distance_on_live_units_equals_the_hand_sliced_one():
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(300, 6, generator=g), torch.randn(200, 6, generator=g) + 0.5
    real[:, [1, 4]] = 0.0  # dead units: constant on the real images
    mask = gan_eval.live_units(real)
    assert mask.tolist() == [True, False, True, True, False, True]
    keep = [0, 2, 3, 5]
    expected = gan_eval.frechet_distance(fake[:, keep], real[:, keep])
    assert gan_eval.frechet_distance(fake, real, mask) == pytest.approx(expected, rel=1e-12)
    assert gan_eval.frechet_distance(fake, real) != pytest.approx(expected)  # the mask matters
    with pytest.raises(ValueError, match="bool tensor"):
        gan_eval.frechet_distance(fake, real, torch.ones(5, dtype=torch.bool))
    with pytest.raises(ValueError, match="0 selected"):
        gan_eval.frechet_distance(fake, real, torch.zeros(6, dtype=torch.bool))


def test_fd_over_seeds_gives_one_distance_per_seed():
    seed_everything(0)
    judge = MLPJudge(hidden=16, features=8).eval()
    g = Generator(z_dim=8, num_classes=10, width=4).eval()
    real = gan_eval.classifier_features(judge, _images(200))
    mask = gan_eval.live_units(real)
    fds = gan_eval.fd_over_seeds(g, judge, real, seeds=(0, 1, 2), n=100, mask=mask)
    assert len(fds) == 3 and all(f >= 0 for f in fds) and len(set(fds)) == 3
    images, _ = gan_eval.generate(g, 100, seed=1)
    fake = gan_eval.classifier_features(judge, images)
    assert fds[1] == pytest.approx(gan_eval.frechet_distance(fake, real, mask))
    with pytest.raises(ValueError, match="at least one seed"):
        gan_eval.fd_over_seeds(g, judge, real, seeds=())


# --- the binomial interval ----------------------------------------------------------------
def test_binomial_interval_is_the_wilson_interval():
    # by hand: p = 0.9, n = 100, z = 1.959964: centre (p + z^2/2n) / (1 + z^2/n),
    # half-width z sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n)
    z, p, n = 1.959963984540054, 0.9, 100
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * (p * (1 - p) / n + z**2 / (4 * n**2)) ** 0.5 / (1 + z**2 / n)
    low, high = gan_eval.binomial_interval(90, 100)
    assert (low, high) == pytest.approx((centre - half, centre + half), rel=1e-9)
    ci = binomtest(9512, 10_000).proportion_ci(confidence_level=0.99, method="wilson")
    assert gan_eval.binomial_interval(9512, 10_000, 0.99) == pytest.approx((ci.low, ci.high))


def test_binomial_interval_edge_cases_and_errors():
    low, high = gan_eval.binomial_interval(0, 50)
    assert low == 0.0 and 0 < high < 0.1
    low, high = gan_eval.binomial_interval(50, 50)
    assert 0.9 < low < 1 and high == 1.0
    for correct, n in ((11, 10), (-1, 10), (0, 0)):
        with pytest.raises(ValueError, match="0 <= correct <= n"):
            gan_eval.binomial_interval(correct, n)
    with pytest.raises(ValueError, match="integer counts"):
        gan_eval.binomial_interval(0.9, 10)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="level"):
        gan_eval.binomial_interval(5, 10, level=95)


# --- the shipped weights, on real data -------------------------------------------------------
@pytest.mark.parametrize("name", list(JUDGES))
def test_shipped_judge_has_no_dead_feature_unit_on_real_digits(name, mnist_root):
    if name not in store.available():
        pytest.skip(f"{name} does not ship yet (python -m mtl_tutorial train {name} --ship)")
    from mtl_tutorial.data import MNISTDigits

    model = pretrained.load(name, "cpu")
    images, _ = MNISTDigits("test").batch(torch.arange(2000))
    features = gan_eval.classifier_features(model, images)
    assert bool(gan_eval.live_units(features).all())
