"""Every bad input gets a clear error: the message names the problem and the fix (issue 11).

Models check their input at the top of ``forward`` (:mod:`mtl_tutorial.models.checks`),
``get_device`` explains unknown and unavailable devices, ``experiments.get`` suggests the
right spelling and ``pretrained.load`` validates its device before reading any file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from mtl_tutorial import experiments, pretrained, utils
from mtl_tutorial.models.classifier import MNISTClassifier
from mtl_tutorial.models.dense import DenseMultiTaskNet
from mtl_tutorial.models.genseg import GenSegNet, Seed000Net, Seed001Net
from mtl_tutorial.models.mtcgan import Discriminator, Generator
from mtl_tutorial.models.seeds import Seed003Net, Seed004BoxNet
from mtl_tutorial.models.sharing import CrossStitchNet, HardSharingNet, SoftSharingNet
from mtl_tutorial.tasks import classification, segmentation
from mtl_tutorial.utils import get_device

LEFT, RIGHT = classification("left"), classification("right")


@dataclass(frozen=True)
class Case:
    """A model, an input shape it accepts, and the wrong size it must reject (with the words)."""

    build: Callable[[], nn.Module]
    good: tuple[int, int, int, int]
    expected: str  # the expected-shape text of the message
    bad_size: tuple[int, int]
    size_words: str  # what the wrong-size message must say
    uint8_fix: str = "x.float() / 255"


CASES = {
    "HardSharingNet": Case(
        lambda: HardSharingNet([LEFT, RIGHT], widths=(4, 8), features=16),
        (2, 1, 28, 28),
        "(B, 1, 28, 28) float in [0, 1]",
        (32, 32),
        "built for 28x28 images, the input is 32x32",
    ),
    "SoftSharingNet": Case(
        lambda: SoftSharingNet([LEFT, RIGHT], widths=(4, 8), features=16),
        (2, 1, 28, 28),
        "(B, 1, 28, 28) float in [0, 1]",
        (28, 24),
        "built for 28x28 images, the input is 28x24",
    ),
    "CrossStitchNet": Case(
        lambda: CrossStitchNet([LEFT, RIGHT], widths=(4, 8), features=16),
        (2, 1, 28, 28),
        "(B, 1, 28, 28) float in [0, 1]",
        (32, 32),
        "built for 28x28 images",
    ),
    "DenseMultiTaskNet": Case(
        lambda: DenseMultiTaskNet([segmentation(), classification("shapes", 3)], widths=(4, 4, 4)),
        (2, 3, 16, 20),
        "(B, 3, H, W) float in [0, 1] with H and W divisible by 4",
        (18, 16),
        "18x16, but H and W must be divisible by 4",
    ),
    "GenSegNet": Case(
        lambda: GenSegNet(("seg", "gen", "left"), widths=(4, 8, 8), latent_dim=4),
        (2, 1, 36, 36),
        "(B, 1, 36, 36) float in [0, 1]",
        (32, 32),
        "built for 36x36 images, the input is 32x32",
    ),
    "Seed000Net": Case(
        lambda: Seed000Net(width=4, noise_dim=3),
        (2, 1, 36, 36),
        "(B, 1, 36, 36) float in [0, 1]",
        (28, 28),
        "built for 36x36 images, the input is 28x28",
    ),
    "Seed001Net": Case(
        lambda: Seed001Net(widths=(4, 8, 8), latent_dim=4),
        (2, 1, 36, 36),
        "(B, 1, 36, 36) float in [0, 1]",
        (32, 32),
        "built for 36x36 images",
    ),
    "Seed003Net": Case(
        lambda: Seed003Net(width=4),
        (2, 3, 32, 32),
        "(B, 3, 32, 32) float in [0, 1]",
        (28, 28),
        "built for 32x32 images, the input is 28x28",
    ),
    "Seed004BoxNet": Case(
        lambda: Seed004BoxNet(width=4),
        (2, 3, 32, 32),
        "(B, 3, H, W) float in [0, 1] with H, W >= 4",
        (3, 3),
        "the model needs at least 4x4",
    ),
    "MNISTClassifier": Case(
        lambda: MNISTClassifier(widths=(4, 8), features=16),
        (2, 1, 28, 28),
        "(B, 1, 28, 28) float in [0, 1]",
        (32, 32),
        "built for 28x28 images",
    ),
    "Discriminator": Case(
        lambda: Discriminator(width=4, cls_head=True),
        (2, 1, 28, 28),
        "(B, 1, 28, 28) float in [-1, 1]",
        (32, 32),
        "built for 28x28 images",
        uint8_fix="x.float() / 127.5 - 1",
    ),
}


def _raises(model: nn.Module, x: torch.Tensor) -> str:
    with pytest.raises(ValueError) as info:
        model(x)
    return str(info.value)


def _assert_names(message: str, name: str, case: Case, got: str) -> None:
    """The message names the model, what it expects and what it got."""
    assert message.startswith(f"{name}: expected input {case.expected}, got {got}"), message


@pytest.fixture(params=sorted(CASES))
def case(request) -> tuple[str, Case, nn.Module]:
    torch.manual_seed(0)
    c = CASES[request.param]
    return request.param, c, c.build().eval()


def test_correct_input_still_works(case):
    name, c, model = case
    with torch.no_grad():
        out = model(torch.rand(c.good))
    assert isinstance(out, dict) and out


def test_uint8_input_says_divide_by_255(case):
    name, c, model = case
    x = torch.randint(0, 256, c.good, dtype=torch.uint8)
    message = _raises(model, x)
    _assert_names(message, name, c, f"{c.good} uint8")
    assert f"Integer pixels (0-255): convert with {c.uint8_fix}." in message


def test_missing_batch_dimension_says_unsqueeze(case):
    name, c, model = case
    message = _raises(model, torch.rand(c.good[1:]))
    _assert_names(message, name, c, f"{c.good[1:]} float32")
    assert "Missing batch dimension: add one with x.unsqueeze(0)." in message


def test_wrong_channels_say_what_the_model_was_built_for(case):
    name, c, model = case
    b, channels, h, w = c.good
    wrong = 3 if channels == 1 else 1
    message = _raises(model, torch.rand(b, wrong, h, w))
    _assert_names(message, name, c, f"{(b, wrong, h, w)} float32")
    assert f"Wrong number of channels: the model was built for {channels}" in message
    assert f"the input has {wrong}" in message
    fix = "x.mean(dim=1, keepdim=True)" if channels == 1 else "x.expand(-1, 3, -1, -1)"
    assert fix in message


def test_wrong_size_says_what_the_model_was_built_for(case):
    name, c, model = case
    shape = (*c.good[:2], *c.bad_size)
    message = _raises(model, torch.rand(shape))
    _assert_names(message, name, c, f"{shape} float32")
    assert c.size_words in message
    assert "torch.nn.functional." in message  # the fix: interpolate or pad


def test_fixes_are_concrete():
    """Rebuild hints use the model's own constructor arguments; pad amounts are computed."""
    hard = HardSharingNet([LEFT], widths=(4, 8), features=16)
    message = _raises(hard, torch.rand(2, 1, 32, 32))
    assert "interpolate(x, size=(28, 28)), or build the model with image_size=32." in message
    message = _raises(hard, torch.rand(2, 3, 28, 28))
    assert "or build the model with in_channels=3" in message
    message = _raises(hard, torch.rand(2, 28, 28, 1))
    assert "channels are last (B, H, W, C): move them with x.permute(0, 3, 1, 2)" in message
    message = _raises(hard, torch.randint(0, 255, (28, 28), dtype=torch.uint8))
    assert "add them with x[None, None]" in message and "x.float() / 255" in message
    message = _raises(hard, torch.rand(5, 28, 28))
    assert "Missing channel dimension: add one with x.unsqueeze(1)." in message
    dense = DenseMultiTaskNet([segmentation()], widths=(4, 4, 4))
    message = _raises(dense, torch.rand(1, 3, 30, 33))
    assert "pad(x, (0, 3, 0, 2)) or crop to 28x32" in message
    seed3 = Seed003Net(width=4)  # 3 channels is the architecture: no in_channels to change
    message = _raises(seed3, torch.rand(1, 1, 32, 32))
    assert "built for 3 (the architecture takes 3 only)" in message
    assert "in_channels" not in message


def test_sizes_each_model_really_accepts():
    """Fully convolutional models take other sizes; the check lets them through."""
    with torch.no_grad():
        seg_only = GenSegNet(("seg", "left"), widths=(4, 8, 8))  # no VAE: any multiple of 4
        assert seg_only(torch.rand(1, 1, 32, 28))["seg"].shape == (1, 11, 32, 28)
        assert Seed004BoxNet(width=4)(torch.rand(1, 3, 17, 23))["box"].shape == (1, 4)
        small = Seed001Net(widths=(4, 8, 8), latent_dim=4, image_size=16)
        assert small(torch.rand(1, 1, 16, 16))["seg"].shape == (1, 11, 16, 16)


def test_soft_sharing_with_dense_columns_names_itself():
    model = SoftSharingNet(
        [segmentation()], column=lambda t: DenseMultiTaskNet([t], widths=(4, 4, 4))
    )
    message = _raises(model, torch.rand(1, 3, 30, 32))
    assert message.startswith("SoftSharingNet: expected input (B, 3, H, W)")


def test_generator_inputs():
    g = Generator(z_dim=8, num_classes=10, width=4).eval()
    assert g(torch.randn(2, 8), torch.tensor([0, 9])).shape == (2, 1, 28, 28)
    with pytest.raises(ValueError) as info:
        g(torch.randn(8), torch.tensor([1]))
    assert str(info.value) == (
        "Generator: expected z of shape (B, 8) float, got (8,) float32. "
        "Missing batch dimension: add one with z.unsqueeze(0)."
    )
    with pytest.raises(ValueError, match=r"z_dim=8\); draw it with torch.randn\(B, 8\)"):
        g(torch.randn(2, 5), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"got \(2,\) float32\. .*convert with labels\.long\(\)"):
        g(torch.randn(2, 8), torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"look one-hot: pass class indices, labels\.argmax\(1\)"):
        g(torch.randn(2, 8), torch.eye(10, dtype=torch.long)[:2])
    with pytest.raises(ValueError, match=r"needs labels \(B,\) int64.*G\(z, labels\)"):
        g(torch.randn(2, 8))


def test_discriminator_labels_and_seed000_noise():
    d = Discriminator(width=4, projection=True)
    with pytest.raises(ValueError, match=r"Discriminator: expected labels of shape \(2,\)"):
        d(torch.rand(2, 1, 28, 28), torch.tensor([1.0, 2.0]))
    assert d(torch.rand(2, 1, 28, 28), torch.tensor([1, 2], dtype=torch.int32))["adv"].shape == (2,)
    seed0 = Seed000Net(width=4, noise_dim=3)
    with pytest.raises(
        ValueError, match=r"expected z of shape \(2, 3, 1, 1\).*z\[:, :, None, None\]"
    ):
        seed0(torch.rand(2, 1, 36, 36), torch.randn(2, 3))


def test_check_is_compatible_with_torch_compile():
    model = HardSharingNet([LEFT], widths=(4, 8), features=16).eval()
    x = torch.rand(2, 1, 28, 28)
    compiled = torch.compile(model, backend="eager", fullgraph=True)  # no graph break
    assert torch.equal(compiled(x)["left"], model(x)["left"])


# --- devices ----------------------------------------------------------------------------
@pytest.fixture()
def cpu_only(monkeypatch):
    """A machine with neither CUDA nor MPS, and no MTL_TUTORIAL_DEVICE."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(utils, "_mps_available", lambda: False)
    monkeypatch.delenv("MTL_TUTORIAL_DEVICE", raising=False)
    return monkeypatch


def _device_error(preference="auto") -> str:
    with pytest.raises(ValueError) as info:
        get_device(preference)
    return str(info.value)


def test_unknown_device_in_env_names_the_variable_and_value(cpu_only):
    cpu_only.setenv("MTL_TUTORIAL_DEVICE", "tpu")
    message = _device_error()
    assert "unknown device 'tpu' in the environment variable MTL_TUTORIAL_DEVICE" in message
    assert "'auto'" not in message  # the old message blamed the argument, 'auto'
    assert "cpu, cuda, mps or auto" in message
    assert (
        "`unset MTL_TUTORIAL_DEVICE`" in message and "`export MTL_TUTORIAL_DEVICE=cpu`" in message
    )
    assert get_device("cpu") == torch.device("cpu")  # an explicit device ignores the variable


def test_unknown_device_argument(cpu_only):
    message = _device_error("tpu")
    assert message.startswith("unknown device 'tpu'; use one of cpu, cuda, mps or auto")
    assert "--device cpu" in message and "MTL_TUTORIAL_DEVICE" not in message
    assert "unknown device 'cuda:x'" in _device_error("cuda:x")


def test_cuda_from_env_without_cuda_never_advises_auto(cpu_only):
    cpu_only.setenv("MTL_TUTORIAL_DEVICE", "cuda")
    message = _device_error("auto")
    assert message.startswith(
        "the environment variable MTL_TUTORIAL_DEVICE='cuda' asks for CUDA, "
        "but CUDA is not available here"
    )
    assert "unset it (`unset MTL_TUTORIAL_DEVICE`; auto then picks cpu here)" in message
    assert "`export MTL_TUTORIAL_DEVICE=cpu`" in message
    assert "--device auto" not in message  # it would read the same variable again


def test_cuda_argument_without_cuda(cpu_only):
    message = _device_error("cuda")
    assert message.startswith("device 'cuda' was requested but CUDA is not available; ")
    assert "use --device cpu (device='cpu' in Python)" in message
    assert "--device auto, which picks cpu here" in message  # auto works: nothing overrides it
    cpu_only.setenv("MTL_TUTORIAL_DEVICE", "cuda")  # now auto would ask for CUDA again
    message = _device_error("cuda")
    assert "--device auto" not in message and "`unset MTL_TUTORIAL_DEVICE`" in message
    with pytest.raises(ValueError, match="CUDA is not available"):
        get_device(torch.device("cuda"))


def test_mps_without_mps(cpu_only):
    message = _device_error("mps")
    assert "device 'mps' was requested but MPS is not available; use --device cpu" in message
    cpu_only.setenv("MTL_TUTORIAL_DEVICE", "mps")
    message = _device_error()
    assert "MTL_TUTORIAL_DEVICE='mps' asks for MPS, but MPS is not available here" in message
    assert "--device auto" not in message and "`unset MTL_TUTORIAL_DEVICE`" in message


def test_cuda_index_beyond_device_count(cpu_only):
    cpu_only.setattr(torch.cuda, "is_available", lambda: True)
    cpu_only.setattr(torch.cuda, "device_count", lambda: 1)
    message = _device_error("cuda:7")
    assert message == (
        "device 'cuda:7' asks for CUDA device 7, but only 1 CUDA device(s) exist here "
        "(cuda:0 to cuda:0); use cuda:0 or plain cuda"
    )
    cpu_only.setenv("MTL_TUTORIAL_DEVICE", "cuda:7")
    assert _device_error().startswith("the environment variable MTL_TUTORIAL_DEVICE='cuda:7'")
    assert get_device("cuda:0") == torch.device("cuda:0")


def test_valid_device_requests_unchanged(cpu_only):
    assert get_device() == torch.device("cpu")
    assert get_device(None) == torch.device("cpu")
    cpu_only.setenv("MTL_TUTORIAL_DEVICE", "")  # empty counts as unset
    assert get_device() == torch.device("cpu")
    cpu_only.setenv("MTL_TUTORIAL_DEVICE", "CPU")
    assert get_device("auto") == torch.device("cpu")
    device = torch.device("cpu")
    assert get_device(device) is device


# --- experiment names and pretrained.load -----------------------------------------------
def test_wrong_case_experiment_name_suggests_the_right_one():
    with pytest.raises(KeyError) as info:
        experiments.get("MultiMNIST-Hard")
    message = str(info.value)
    assert "unknown experiment 'MultiMNIST-Hard'. Did you mean multimnist-hard? " in message
    assert "names are lower-case, with hyphens" in message
    with pytest.raises(KeyError, match=r"'multimnist_hard'\. Did you mean multimnist-hard\?"):
        experiments.get("multimnist_hard")
    with pytest.raises(KeyError, match=r"Did you mean multimnist-hard\b"):
        experiments.get("MultiMNST-hard")  # a typo and the wrong case


def test_pretrained_load_validates_the_device_before_reading(cpu_only):
    def must_not_run(*args, **kwargs):
        raise AssertionError("the device must be checked first")

    cpu_only.setattr(experiments, "get", must_not_run)
    with pytest.raises(ValueError, match=re.escape("unknown device 'tpu'; use one of cpu, cuda")):
        pretrained.load("multimnist-hard", device="tpu")
    with pytest.raises(ValueError, match="CUDA is not available; use --device cpu"):
        pretrained.load("multimnist-hard", device="cuda")
