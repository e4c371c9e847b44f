"""Checkpoints and the pretrained-weights manifest."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch
from torch import nn

from mtl_tutorial import pretrained
from mtl_tutorial.checkpoint import (
    CheckpointError,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from mtl_tutorial.errors import WeightsIntegrityError


def _net(width: int = 8) -> nn.Module:
    return nn.Sequential(nn.Linear(4, width), nn.ReLU(), nn.Linear(width, 2))


def _meta(seed: int = 0, acc: float = 0.5) -> dict:
    return {
        "experiment": "toy",
        "seed": seed,
        "epochs": 1,
        "device": "cpu (1 threads)",
        "wall_time_s": 1.0,
        "torch_version": "x",
        "metrics": {"acc": acc},
        "history": [{"epoch": 1, "loss": 0.3}],
    }


def test_round_trip_restores_weights_and_meta(tmp_path):
    torch.manual_seed(0)
    a = _net()
    path = save_checkpoint(tmp_path / "sub" / "a.pt", a, _meta())
    torch.manual_seed(1)
    b = _net()
    assert not torch.equal(a[0].weight, b[0].weight)
    meta = load_checkpoint(path, b)
    assert meta == _meta()
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)
    assert read_checkpoint(path)["model_class"] == "Sequential"


def test_refuses_mismatched_architecture(tmp_path):
    path = save_checkpoint(tmp_path / "a.pt", _net(8))
    with pytest.raises(
        CheckpointError, match=r"shape of 0\.weight: checkpoint \(8, 4\) vs model \(16, 4\)"
    ):
        load_checkpoint(path, _net(16))
    deeper = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2), nn.Linear(2, 2))
    with pytest.raises(CheckpointError, match="missing in checkpoint: 3.bias, 3.weight"):
        load_checkpoint(path, deeper)
    with pytest.raises(CheckpointError, match="same architecture"):
        load_checkpoint(path, nn.Linear(4, 2))


def test_refuses_files_that_are_not_checkpoints(tmp_path):
    torch.save({"weight": torch.zeros(2)}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="not an mtl_tutorial checkpoint"):
        read_checkpoint(tmp_path / "plain.pt")
    torch.save(
        {"format": "mtl_tutorial", "obj": _net()}, tmp_path / "pickled.pt"
    )  # a pickled module
    with pytest.raises(CheckpointError, match="weights_only"):
        read_checkpoint(tmp_path / "pickled.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        read_checkpoint(tmp_path / "absent.pt")


def test_meta_must_be_json(tmp_path):
    with pytest.raises(TypeError, match="JSON"):
        save_checkpoint(tmp_path / "a.pt", _net(), {"bad": object()})


def test_ship_and_record_write_a_manifest(tmp_path):
    weights = tmp_path / "weights"
    runs = []
    for seed, acc in [(0, 0.9), (1, 0.8), (2, 0.7)]:
        runs.append(save_checkpoint(tmp_path / f"seed{seed}.pt", _net(), _meta(seed, acc)))
    pretrained.record_run("toy", runs[1], weights)
    pretrained.record_run("toy", runs[2], weights)
    target = pretrained.ship("toy", runs[0], weights)
    entry = pretrained.manifest(weights)["toy"]
    assert entry["file"] == "toy.pt" and target.exists()
    assert entry["sha256"] == hashlib.sha256(target.read_bytes()).hexdigest()
    assert (
        entry["seed"] == 0
        and entry["metrics"] == {"acc": 0.9}
        and entry["device"].startswith("cpu")
    )
    assert [r["seed"] for r in entry["runs"]] == [0, 1, 2]
    mean, std, n = pretrained.seed_statistics("toy", weights)["acc"]
    assert n == 3 and mean == pytest.approx(0.8) and std == pytest.approx(0.1)
    pretrained.record_run("toy", runs[1], weights)  # recording a seed twice replaces it
    assert len(pretrained.manifest(weights)["toy"]["runs"]) == 3
    assert json.loads((weights / "manifest.json").read_text())["format_version"] == 1
    assert pretrained.available(weights) == ["toy"]


def test_seed_weights_finds_the_shipped_seed_and_the_recorded_ones(tmp_path):
    weights, runs = tmp_path / "weights", tmp_path / "runs"
    ship_from = save_checkpoint(tmp_path / "seed0.pt", _net(), _meta(0))
    shipped = pretrained.ship("toy", ship_from, weights)
    assert pretrained.seed_weights("toy", 0, runs, weights) == shipped
    recorded = save_checkpoint(runs / "toy" / "seed1.pt", _net(), _meta(1))
    assert pretrained.seed_weights("toy", 1, runs, weights) == recorded
    with pytest.raises(FileNotFoundError, match=r"seed2\.pt is missing.*--seed 2 --record"):
        pretrained.seed_weights("toy", 2, runs, weights)
    shipped.write_bytes(b"damaged")  # the shipped seed is checked, never read blindly
    with pytest.raises(WeightsIntegrityError, match="were changed"):
        pretrained.seed_weights("toy", 0, runs, weights)


def test_using_weights_redirects_the_default_folder_only_inside_the_block(tmp_path):
    from mtl_tutorial import report

    other = tmp_path / "other"
    pretrained.ship("toy", save_checkpoint(tmp_path / "s0.pt", _net(), _meta(0, 0.9)), other)
    pretrained.record_run("toy", save_checkpoint(tmp_path / "s1.pt", _net(), _meta(1, 0.7)), other)
    before = pretrained.weights_dir()
    with pretrained.using_weights(other) as folder:
        assert folder == other and pretrained.weights_dir() == other
        assert report.seed_values("toy", "acc") == [0.9, 0.7]
        assert pretrained.verify_weights("toy") == other / "toy.pt"
    assert pretrained.weights_dir() == before and "toy" not in pretrained.manifest()
    with pytest.raises(FileNotFoundError, match="no manifest.json"):
        with pretrained.using_weights(tmp_path / "empty"):
            pass


def test_weights_path_error_names_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m mtl_tutorial train nothing"):
        pretrained.weights_path("nothing", tmp_path)


def test_record_run_keeps_a_compact_history(tmp_path) -> None:
    history = [{"epoch": 1.0, "train_grad_cos": 0.123456789}]
    meta = {"seed": 3, "epochs": 1, "device": "cpu", "wall_time_s": 1.0, "metrics": {"a": 1.0}}
    ckpt = tmp_path / "run.pt"
    save_checkpoint(ckpt, torch.nn.Linear(1, 1), {**meta, "history": history})
    pretrained.record_run("toy", ckpt, weights_dir=tmp_path)
    assert pretrained.run_history("toy", 3, weights_dir=tmp_path) == [
        {"epoch": 1.0, "train_grad_cos": 0.123457}
    ]
    with pytest.raises(KeyError, match="--seed 4 --record"):
        pretrained.run_history("toy", 4, weights_dir=tmp_path)


def test_an_alias_entry_reads_as_its_target_and_training_it_replaces_the_alias(tmp_path) -> None:
    meta = {"seed": 0, "epochs": 1, "device": "cpu", "wall_time_s": 1.0, "metrics": {"a": 0.5}}
    meta["torch_version"] = str(torch.__version__)
    ckpt = tmp_path / "run.pt"
    save_checkpoint(ckpt, torch.nn.Linear(1, 1), meta)
    pretrained.ship("target", ckpt, weights_dir=tmp_path)
    entries = pretrained.entries(tmp_path)
    entries["alias"] = {"alias_of": "target"}
    pretrained.write_entries(entries, tmp_path)
    assert pretrained.manifest(tmp_path)["alias"] == pretrained.manifest(tmp_path)["target"]
    assert pretrained.weights_path("alias", tmp_path) == pretrained.weights_path("target", tmp_path)
    pretrained.record_run("alias", ckpt, weights_dir=tmp_path)  # the alias gets runs of its own
    assert "alias_of" not in pretrained.entries(tmp_path)["alias"]
    assert "file" in pretrained.entries(tmp_path)["target"]
