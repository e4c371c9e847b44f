"""Bad input gets one clear error (problem, file, fix) and no trained work is lost (issue 11).

Each test asserts the content of the message, not only that something fails.
"""

from __future__ import annotations

import gzip
import json
import os
import pickle
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
import torch
from torch import nn
from torchvision import datasets

from mtl_tutorial import experiments, pretrained
from mtl_tutorial.checkpoint import read_checkpoint, save_checkpoint
from mtl_tutorial.cli import main
from mtl_tutorial.data import load_source
from mtl_tutorial.data.mnist import raw_file_problems
from mtl_tutorial.data.multimnist import build_multimnist
from mtl_tutorial.errors import (
    CheckpointError,
    DataCacheError,
    DataNotFoundError,
    ManifestError,
    WeightsIntegrityError,
)
from mtl_tutorial.files import atomic_torch_save

TOY = "toy-reliability"


@pytest.fixture()
def toy(tmp_path, monkeypatch):
    """A registered toy experiment, a private weights folder and a record of training calls."""
    calls: list[int] = []
    state = {"fail_evaluation": False}

    def build() -> nn.Module:
        return nn.Linear(2, 1)

    def train(cfg: experiments.TrainConfig) -> experiments.RunResult:
        calls.append(cfg.epochs or 0)
        model = build()
        with torch.no_grad():
            model.weight.fill_(0.5)
        return experiments.RunResult(model, None, [{"epoch": 1.0}], epochs=cfg.epochs or 1)

    def evaluate(model: nn.Module, device: torch.device) -> dict[str, float]:
        if state["fail_evaluation"]:
            raise RuntimeError("the judge classifier is missing")
        return {"w0": float(model.weight[0, 0].detach())}

    exp = experiments.register(
        experiments.Experiment(
            TOY, "test", "a toy", build, train, evaluate, ("w0",), 2, requires=("other",)
        )
    )
    weights = tmp_path / "weights"
    weights.mkdir()
    monkeypatch.setenv(pretrained.WEIGHTS_ENV_VAR, str(weights))
    yield {"exp": exp, "calls": calls, "state": state, "weights": weights, "out": tmp_path / "runs"}
    experiments.unregister(TOY)


def _cli(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    err = capsys.readouterr().err
    return code, err


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# --- 1. numeric options are validated before anything runs --------------------------------
@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["train", TOY, "--epochs", "0"], "--epochs: must be at least 1, got 0"),
        (["train", TOY, "--epochs", "-3"], "--epochs: must be at least 1, got -3"),
        (["train", TOY, "--seed", "-1"], "--seed: must be at least 0"),
        (["train", TOY, "--seed", str(2**40)], "--seed: must lie in [0, 2147483647]"),
        (["train", TOY, "--epochs", "two"], "expected a whole number, got 'two'"),
        (["sample", "mtcgan", "--out", "x.png", "--nrow", "0"], "--nrow: must be at least 1"),
        (["sample", "mtcgan", "--out", "x.png", "--n", "0"], "--n: must be at least 1"),
    ],
)
def test_bad_numbers_are_usage_errors_before_training(toy, capsys, argv, expected):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    line = _one_line(capsys.readouterr().err)
    assert expected in line and "--help" in line
    assert toy["calls"] == []


def test_train_config_refuses_zero_epochs_and_bad_seeds():
    with pytest.raises(ValueError, match="epochs must be at least 1"):
        experiments.TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="seed must lie in"):
        experiments.TrainConfig(seed=-1)
    with pytest.raises(ValueError, match="budget must be one of"):
        experiments.TrainConfig(budget="tpu")


@pytest.mark.parametrize("meta_change", [{"quick": True}, {"epochs": 0}, {"metrics": {}}])
def test_ship_and_record_refuse_a_run_that_did_not_train(toy, tmp_path, meta_change):
    meta = {"experiment": TOY, "seed": 0, "epochs": 1, "metrics": {"w0": 0.1}, **meta_change}
    path = save_checkpoint(tmp_path / "run.pt", nn.Linear(2, 1), meta)
    for action in (pretrained.record_run, pretrained.ship):
        with pytest.raises(CheckpointError, match="refusing to ship or record"):
            action(TOY, path)
    assert not (toy["weights"] / "manifest.json").exists()


# --- 2. every output location is checked first ----------------------------------------------
def test_out_pointing_at_a_file_fails_before_training(toy, capsys, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    code, err = _cli(capsys, "train", TOY, "--out", str(blocker))
    line = _one_line(err)
    assert code == 1 and str(blocker) in line and "is a file" in line and "needs a folder" in line
    assert toy["calls"] == []


def test_ship_into_an_unwritable_weights_folder_fails_before_training(toy, capsys, monkeypatch):
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda p, m: False if Path(p) == toy["weights"] else real_access(p, m)
    )
    code, err = _cli(capsys, "train", TOY, "--out", str(toy["out"]), "--ship")
    line = _one_line(err)
    assert code == 1 and f"cannot write to {toy['weights']}" in line and "--ship" in line
    assert "make it writable" in line and toy["calls"] == []


# --- 3. the checkpoint is saved before anything that can fail; the manifest is checked first --
def test_damaged_manifest_is_found_before_training(toy, capsys):
    (toy["weights"] / "manifest.json").write_text("{not json")
    code, err = _cli(capsys, "train", TOY, "--out", str(toy["out"]))
    line = _one_line(err)
    assert code == 1 and "manifest.json is damaged: it is not valid JSON" in line
    assert "git checkout --" in line and toy["calls"] == []


def test_failing_evaluation_keeps_the_trained_checkpoint(toy, capsys):
    toy["state"]["fail_evaluation"] = True
    code, err = _cli(capsys, "train", TOY, "--out", str(toy["out"]), "--epochs", "1")
    line = _one_line(err)
    saved = toy["out"] / TOY / "seed0.pt"
    assert code == 1 and saved.exists() and toy["calls"] == [1]
    assert f"weights are saved in {saved}" in line and "the judge classifier is missing" in line
    assert f"evaluate {TOY} --checkpoint {saved}" in line
    assert read_checkpoint(saved)["state_dict"]["weight"][0, 0] == 0.5


def test_record_lands_threads_budget_and_torch_version(toy, capsys):
    assert main(["train", TOY, "--out", str(toy["out"]), "--record"]) == 0
    run = pretrained.manifest()[TOY]["runs"][0]
    assert run["threads"] == torch.get_num_threads() and run["budget"] == "cpu"
    assert run["epochs"] == 2 and run["metrics"] == {"w0": 0.5} and "torch_version" in run


# --- 4. shipped weights are checked against the manifest's sha256 on every load -------------
def test_tampered_weights_are_refused_with_the_two_ways_back(toy, capsys):
    assert main(["train", TOY, "--out", str(toy["out"]), "--ship"]) == 0
    capsys.readouterr()
    assert isinstance(pretrained.load(TOY), nn.Linear)
    weight_file = toy["weights"] / f"{TOY}.pt"
    save_checkpoint(weight_file, nn.Linear(2, 1), {"experiment": TOY})  # same shape, other bytes
    with pytest.raises(WeightsIntegrityError) as info:
        pretrained.load(TOY)
    message = str(info.value)
    assert str(weight_file) in message and "were changed" in message
    assert f"git checkout -- {weight_file}" in message and f"train {TOY} --ship" in message
    code, err = _cli(capsys, "evaluate", TOY)
    assert code == 1 and "were changed" in _one_line(err)
    weight_file.unlink()
    with pytest.raises(WeightsIntegrityError, match="are missing"):
        pretrained.load(TOY)


# --- 5. ship refuses a checkpoint of another experiment or architecture ---------------------
def test_ship_refuses_another_experiments_checkpoint(toy, tmp_path):
    assert main(["train", TOY, "--out", str(toy["out"]), "--ship"]) == 0
    before = (
        (toy["weights"] / "manifest.json").read_bytes(),
        pretrained.sha256_of(toy["weights"] / f"{TOY}.pt"),
    )
    other = save_checkpoint(
        tmp_path / "other.pt",
        nn.Linear(2, 1),
        {"experiment": "multimnist-hard", "seed": 0, "epochs": 3, "metrics": {"a": 1.0}},
    )
    with pytest.raises(CheckpointError, match="is a run of 'multimnist-hard', not of"):
        pretrained.ship(TOY, other)
    wrong_shape = save_checkpoint(
        tmp_path / "wide.pt",
        nn.Linear(5, 1),
        {"experiment": TOY, "seed": 0, "epochs": 3, "metrics": {"w0": 1.0}},
    )
    with pytest.raises(CheckpointError, match=r"(?s)does not fit Linear.*shape of weight"):
        pretrained.ship(TOY, wrong_shape)
    after = (
        (toy["weights"] / "manifest.json").read_bytes(),
        pretrained.sha256_of(toy["weights"] / f"{TOY}.pt"),
    )
    assert after == before


# --- unhelpful before: one line that names the problem, the file and the fix -------------------
@pytest.mark.parametrize(
    ("content", "expected"),
    [(None, "is a folder, not a file"), (b"abc", "truncated or not a torch file (3 bytes")],
)
def test_bad_checkpoint_argument(toy, capsys, tmp_path, content, expected):
    target = tmp_path / "ckpt"
    if content is None:
        target.mkdir()
    else:
        target.write_bytes(content)
    code, err = _cli(capsys, "evaluate", TOY, "--checkpoint", str(target))
    line = _one_line(err)
    assert (
        code == 1
        and str(target) in line
        and expected in line
        and "python -m mtl_tutorial train" in line
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[1, 2]", "expected a JSON object, found a list"),
        ('{"format_version": 1}', "it has no 'experiments' object"),
        ('{"format_version": 1, "experiments": {"a": {"file": "a.pt"}}}', "without its sha256"),
        ('{"format_version": 1, "experiments": {"a": {"runs": [1]}}}', "not a list of"),
        ('{"format_version": 7, "experiments": {}}', "format_version is 7"),
    ],
)
def test_damaged_manifest_layouts(toy, capsys, text, expected):
    path = toy["weights"] / "manifest.json"
    path.write_text(text)
    with pytest.raises(ManifestError) as info:
        pretrained.manifest()
    assert expected in str(info.value) and str(path) in str(info.value)
    code, err = _cli(capsys, "list")
    line = _one_line(err)
    assert code == 1 and expected in line and "git checkout --" in line


def test_a_bare_key_error_is_explained(monkeypatch, capsys):
    def broken(args):
        raise KeyError(101)

    monkeypatch.setattr("mtl_tutorial.cli._cmd_list", broken)
    code, err = _cli(capsys, "list")
    line = _one_line(err)
    assert (
        code == 2 and "internal error: missing key 101" in line and "MTL_TUTORIAL_DEBUG=1" in line
    )


def test_debug_variable_shows_the_traceback(toy, capsys, tmp_path, monkeypatch):
    (tmp_path / "ckpt").mkdir()
    monkeypatch.setenv("MTL_TUTORIAL_DEBUG", "1")
    assert main(["evaluate", TOY, "--checkpoint", str(tmp_path / "ckpt")]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_data_root_that_is_a_file(tmp_path, monkeypatch):
    target = tmp_path / "data.txt"
    target.write_text("x")
    monkeypatch.setenv("MTL_TUTORIAL_DATA", str(target))
    with pytest.raises(DataNotFoundError) as info:
        load_source("mnist", "test")
    message = str(info.value)
    assert f"MTL_TUTORIAL_DATA={target} is a file, not a folder" in message
    assert "set MTL_TUTORIAL_DATA to a folder" in message


def _raw(root: Path) -> Path:
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    return raw


@pytest.fixture()
def no_download(monkeypatch):
    def refuse(self):
        raise OSError("network is unreachable")

    monkeypatch.setattr(datasets.MNIST, "download", refuse)


def test_data_errors_tell_missing_corrupt_and_half_extracted_apart(
    tmp_path, mnist_root, no_download
):
    raw = _raw(tmp_path)
    source = mnist_root / "MNIST" / "raw"
    shutil.copy(source / "t10k-labels-idx1-ubyte.gz", raw)  # a good file
    with gzip.open(raw / "t10k-images-idx3-ubyte.gz", "wb") as handle:
        handle.write(b"not mnist")  # a corrupt one
    (raw / "train-labels-idx1-ubyte").write_bytes(b"\0" * 100)  # half-extracted
    problems = raw_file_problems("mnist", tmp_path)
    text = "\n".join(problems)
    assert f"{raw / 't10k-images-idx3-ubyte.gz'} is corrupt (its md5 is not torchvision's" in text
    assert f"{raw / 'train-labels-idx1-ubyte'} is half-extracted (100 of 60008 bytes)" in text
    assert f"{raw / 'train-images-idx3-ubyte.gz'} is missing: copy it there" in text
    assert "t10k-labels" not in text
    with pytest.raises(DataNotFoundError) as info:
        load_source("mnist", "test", root=tmp_path)
    message = str(info.value)
    assert "MNIST data in" in message and "is unusable" in message and "is corrupt" in message
    assert "network is unreachable" in message and "doctor" in message


def test_unwritable_data_folder_is_named(tmp_path, mnist_root, monkeypatch):
    raw = _raw(tmp_path)
    for name in os.listdir(mnist_root / "MNIST" / "raw"):
        if name.endswith(".gz"):
            shutil.copy(mnist_root / "MNIST" / "raw" / name, raw)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, m: False if Path(p) == raw else real_access(p, m))
    (problem,) = raw_file_problems("mnist", tmp_path)
    assert f"{raw} is not writable" in problem and "set MTL_TUTORIAL_DATA" in problem


def _cache_file(root: Path) -> Path:
    folder = root / "multimnist"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "cls_mnist_test_seed0_v1.pt"


class _Planted:
    marker: Path = Path()

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_planted_pickle_cache_is_refused_without_running(tmp_path):
    _Planted.marker = tmp_path / "pwned"
    cache = _cache_file(tmp_path)
    cache.write_bytes(pickle.dumps({"images": _Planted()}))
    with pytest.raises(DataCacheError) as info:
        build_multimnist("test", root=tmp_path)
    message = str(info.value)
    assert not _Planted.marker.exists()
    assert f"MultiMNIST cache file {cache}" in message and "refuses unread" in message
    assert "Delete it: it is rebuilt" in message


def test_truncated_cache_names_the_cache_not_a_checkpoint(tmp_path):
    cache = _cache_file(tmp_path)
    torch.save({"images": torch.zeros(100, 28, 28)}, cache)
    cache.write_bytes(cache.read_bytes()[:500])
    with pytest.raises(DataCacheError) as info:
        build_multimnist("test", root=tmp_path)
    message = str(info.value)
    assert f"MultiMNIST cache file {cache} cannot be read" in message
    assert "truncated" in message and "checkpoint" not in message


def _write_many(path: str) -> int:
    for i in range(15):
        atomic_torch_save({"x": torch.full((20_000,), float(i))}, path)
    return 0


def test_concurrent_writers_never_collide_or_leave_partial_files(tmp_path):
    target = tmp_path / "shared.pt"
    with ProcessPoolExecutor(2) as pool:
        assert list(pool.map(_write_many, [str(target)] * 2)) == [0, 0]
    assert torch.load(target, weights_only=True)["x"].shape == (20_000,)
    assert [p.name for p in tmp_path.iterdir()] == ["shared.pt"]  # no temporary left behind


def test_record_into_manifest_keeps_other_entries_when_run_twice(toy, capsys):
    for seed in ("0", "1"):
        assert main(["train", TOY, "--out", str(toy["out"]), "--seed", seed, "--record"]) == 0
    runs = pretrained.manifest()[TOY]["runs"]
    assert [r["seed"] for r in runs] == [0, 1]
    assert json.loads((toy["weights"] / "manifest.json").read_text())["format_version"] == 1


def test_unwritable_cache_folder_is_named(tmp_path, mnist_root, monkeypatch):
    (tmp_path / "MNIST").symlink_to(mnist_root / "MNIST", target_is_directory=True)

    def refuse(obj, path):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("mtl_tutorial.data.multimnist.atomic_torch_save", refuse)
    with pytest.raises(DataCacheError) as info:
        build_multimnist("test", root=tmp_path)
    message = str(info.value)
    assert f"cannot write the MultiMNIST cache file {_cache_file(tmp_path)}" in message
    assert (
        "Permission denied" in message and "set MTL_TUTORIAL_DATA to a writable folder" in message
    )
