"""Registered experiments: quick training runs per family, shipped weights and the CLI contract."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch

from mtl_tutorial import experiments, pretrained
from mtl_tutorial.cli import main
from mtl_tutorial.experiments import TrainConfig


def test_every_shipped_checkpoint_fits_its_experiment():
    entries = pretrained.manifest()
    for name, entry in entries.items():
        path = pretrained.weights_path(name)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"], name
        model = pretrained.load(name)  # raises CheckpointError on an architecture mismatch
        assert not model.training
        assert entry["device"] and entry["wall_time_s"] > 0 and entry["epochs"] >= 1
        assert any(r["seed"] == entry["seed"] for r in entry["runs"])


@pytest.mark.parametrize(
    "name",
    [
        "shapes-nt-r050-hard",
        "shapes-soft",
        "shapes-seed003",
        "shapes-seed004-box",
        "multimnist-cross-stitch",
    ],
)
def test_quick_training_runs(name, tmp_path, mnist_root):
    result, path = experiments.run(name, TrainConfig(seed=0, quick=True, out_dir=tmp_path))
    assert path.exists() and result.epochs == 1
    exp = experiments.get(name)
    expected = {m for m in exp.metrics if m not in ("params", "delta_m")}
    assert expected <= set(result.metrics)
    for key in expected:
        assert 0.0 <= result.metrics[key] <= 1.0 or key.endswith("mse")


def test_quick_training_is_deterministic(tmp_path):
    runs = [
        experiments.run(
            "shapes-nt-r000-hard", TrainConfig(seed=4, quick=True, out_dir=tmp_path / s)
        )[0]
        for s in "ab"
    ]
    assert runs[0].metrics == runs[1].metrics
    for (k, a), b in zip(
        runs[0].model.state_dict().items(), runs[1].model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), k


def test_shipped_multimnist_hard_meets_the_bar(capsys, mnist_root):
    assert main(["evaluate", "multimnist-hard", "--json", "--device", "cpu"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["experiment"] == "multimnist-hard"
    metrics = report["metrics"]
    assert metrics["acc_left"] >= 0.96 and metrics["acc_right"] >= 0.95
    assert "delta_m" in metrics and -1.0 < metrics["delta_m"] < 1.0


def test_shipped_genseg_joint_reproduces_its_manifest_metrics(capsys, mnist_root):
    # the shipped weights, evaluated again (test split, seeded VAE samples for the FID), give the
    # numbers the manifest recorded when they were trained
    assert main(["evaluate", "genseg-joint", "--json", "--device", "cpu"]) == 0
    out = json.loads(capsys.readouterr().out)
    recorded = pretrained.manifest()["genseg-joint"]["metrics"]
    for key in ("miou", "pixel_acc", "recon_mse", "kl", "classifier_fid", "classifier_fid_floor"):
        assert out["metrics"][key] == pytest.approx(recorded[key], rel=1e-3), key


def test_cli_refuses_to_ship_quick_runs(capsys):
    assert main(["train", "shapes-nt-r000-hard", "--quick", "--ship"]) == 2
    assert "refusing to ship" in capsys.readouterr().err
