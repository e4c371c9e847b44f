"""Device choice, seeding, the experiment registry and the command line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from torch import nn

from mtl_tutorial import experiments
from mtl_tutorial.cli import main
from mtl_tutorial.utils import get_device, seed_everything


def test_get_device_choices(monkeypatch):
    monkeypatch.delenv("MTL_TUTORIAL_DEVICE", raising=False)
    assert get_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else None
    if expected:
        assert get_device("auto").type == "cuda"
    monkeypatch.setenv("MTL_TUTORIAL_DEVICE", "cpu")
    assert get_device("auto") == torch.device("cpu")
    with pytest.raises(ValueError, match="unknown device"):
        get_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available; use --device cpu"):
            get_device("cuda")


def test_seed_everything_fixes_random_streams():
    seed_everything(11)
    a = torch.randn(5), nn.Linear(3, 3).weight.detach().clone()
    seed_everything(11)
    b = torch.randn(5), nn.Linear(3, 3).weight.detach().clone()
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


@pytest.fixture()
def toy_experiment():
    def build() -> nn.Module:
        return nn.Linear(2, 1)

    def train(cfg: experiments.TrainConfig) -> experiments.RunResult:
        model = build()
        x = torch.randn(64, 2)
        y = x @ torch.tensor([[1.0], [-2.0]])
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        history = []
        for epoch in range(cfg.epochs or 3):
            loss = ((model(x) - y) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            history.append({"epoch": epoch + 1, "loss": loss.item()})
        return experiments.RunResult(
            model, evaluate(model, cfg.device), history, epochs=len(history)
        )

    def evaluate(model: nn.Module, device: torch.device) -> dict[str, float]:
        return {"w0": float(model.weight[0, 0].detach())}

    exp = experiments.register(
        experiments.Experiment("toy-regression", "test", "a toy", build, train, evaluate, ("w0",))
    )
    yield exp
    experiments.unregister(exp.name)


def test_registry_unknown_name_suggests(toy_experiment):
    with pytest.raises(
        KeyError, match="unknown experiment 'toy-regresion'.*Did you mean toy-regression"
    ):
        experiments.get("toy-regresion")
    with pytest.raises(ValueError, match="already registered"):
        experiments.register(
            experiments.Experiment("toy-regression", "t", "", nn.Identity, None, None)
        )  # type: ignore[arg-type]


def test_cli_train_then_evaluate(toy_experiment, tmp_path, capsys):
    assert (
        main(["train", "toy-regression", "--out", str(tmp_path), "--epochs", "4", "--seed", "3"])
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    checkpoint = tmp_path / "toy-regression" / "seed3.pt"
    assert out["checkpoint"] == str(checkpoint) and checkpoint.exists()
    assert main(["evaluate", "toy-regression", "--checkpoint", str(checkpoint), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["experiment"] == "toy-regression"
    assert report["metrics"]["w0"] == pytest.approx(out["metrics"]["w0"])
    assert main(["list", "--json"]) == 0
    names = [e["name"] for e in json.loads(capsys.readouterr().out)["experiments"]]
    assert "toy-regression" in names


def test_cli_train_is_deterministic(toy_experiment, tmp_path, capsys):
    results = []
    for folder in ("a", "b"):
        main(
            [
                "train",
                "toy-regression",
                "--out",
                str(tmp_path / folder),
                "--seed",
                "5",
                "--device",
                "cpu",
            ]
        )
        results.append(json.loads(capsys.readouterr().out)["metrics"])
    assert results[0] == results[1]


def test_cli_errors_are_clear(capsys):
    assert main(["evaluate", "no-such-experiment", "--json"]) == 2
    assert "unknown experiment 'no-such-experiment'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train"])  # argparse: experiment name is required


def test_module_entry_point_help():
    out = subprocess.run(
        [sys.executable, "-m", "mtl_tutorial", "--help"], capture_output=True, text=True, check=True
    )
    for command in ("list", "train", "evaluate", "data"):
        assert command in out.stdout


def test_seeding_turns_tf32_off_for_gpu_convolutions_and_products():
    """cuDNN convolutions default to TF32 (a 10-bit mantissa) on a GPU: a run there would
    record metrics that a CPU evaluation of its weights does not reproduce."""
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    seed_everything(0)  # and leaves them off, as every run does
    assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
