"""`python -m mtl_tutorial doctor` and the notebooks' `require`: a good setup and each broken one."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mtl_tutorial import doctor, pretrained
from mtl_tutorial.cli import main
from mtl_tutorial.data import RAW_FILES

WEIGHTS = ["shapes-nt-r000-single-shapes", "shapes-nt-r100-single-colours"]  # two small files


class Planted:
    """Unpickling this would call a function: ``torch.load(weights_only=True)`` must refuse."""

    def __reduce__(self):
        return (os.getcwd, ())


def run_doctor(capsys, *args: str) -> tuple[int, str]:
    rc = main(["doctor", *args])
    out, err = capsys.readouterr()
    assert err == ""  # problems are reported on stdout, one line each, never a traceback
    return rc, out


def line(out: str, name: str) -> str:
    """The report line of check ``name``."""
    return next(ln for ln in out.splitlines() if ln[6:].startswith(name + " "))


def fix(out: str, name: str) -> str:
    """The fix printed for check ``name``."""
    return next(ln for ln in out.splitlines() if ln.startswith(f"  {name}: "))


@pytest.fixture()
def setup(tmp_path: Path, mnist_root: Path, monkeypatch) -> Path:
    """A complete private setup: data root (links to the real raw files), weights, cwd."""
    for folder in ("MNIST", "FashionMNIST"):
        raw = tmp_path / "data" / folder / "raw"
        raw.mkdir(parents=True)
        for name in RAW_FILES:
            source = mnist_root / folder / "raw" / name
            if not source.exists():
                pytest.skip(f"{source} is missing")
            (raw / name).symlink_to(source)
    weights = tmp_path / "weights"
    weights.mkdir()
    entries = pretrained.manifest()
    for name in WEIGHTS:
        shutil.copy(pretrained.WEIGHTS_DIR / entries[name]["file"], weights)
    keep = {name: entries[name] for name in WEIGHTS}
    (weights / "manifest.json").write_text(json.dumps({"format_version": 1, "experiments": keep}))
    monkeypatch.setenv("MTL_TUTORIAL_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("MTL_TUTORIAL_WEIGHTS", str(weights))
    monkeypatch.delenv("MTL_TUTORIAL_DEVICE", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_real_setup_passes(mnist_root, tmp_path):
    """The configured data root and the package's weights: exit 0, every check ok."""
    env = {**os.environ, "MTL_TUTORIAL_DATA": str(mnist_root)}
    env.pop("MTL_TUTORIAL_WEIGHTS", None)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "mtl_tutorial", "doctor"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert time.perf_counter() - start < 60
    assert "0 failed" in proc.stdout and "everything the notebooks need is in place" in proc.stdout
    assert "FAIL" not in proc.stdout
    assert f"{len(pretrained.manifest())} entries" in line(proc.stdout, "weights")


def test_private_setup_passes_and_json(setup, capsys):
    rc, out = run_doctor(capsys)
    assert rc == 0, out
    assert "2 files in" in line(out, "weights") and "match their sha256" in out
    rc, out = run_doctor(capsys, "--json")
    checks = {c["name"]: c for c in json.loads(out)}
    assert rc == 0 and all(c["status"] == "ok" for c in checks.values())
    assert set(checks) == set(doctor.CHECKS)


def test_missing_data_file(setup, capsys):
    raw = setup / "data" / "MNIST" / "raw"
    (raw / "t10k-labels-idx1-ubyte.gz").unlink()
    rc, out = run_doctor(capsys)
    assert rc == 1
    assert line(out, "MNIST").startswith("FAIL")
    assert f"{raw}: missing t10k-labels-idx1-ubyte.gz" in out
    assert "cp " in fix(out, "MNIST") and str(raw) in fix(out, "MNIST")
    assert "1 failed" in out


def test_corrupt_data_file(setup, capsys):
    raw = setup / "data" / "FashionMNIST" / "raw"
    good = (raw / "train-labels-idx1-ubyte.gz").read_bytes()
    (raw / "train-labels-idx1-ubyte.gz").unlink()
    (raw / "train-labels-idx1-ubyte.gz").write_bytes(good[:-10] + b"0123456789")
    rc, out = run_doctor(capsys)
    assert rc == 1
    assert line(out, "FashionMNIST").startswith("FAIL")
    assert "corrupt (md5 differs from torchvision's) train-labels-idx1-ubyte.gz" in out
    assert f"delete {raw / 'train-labels-idx1-ubyte.gz'}" in fix(out, "FashionMNIST")


def test_truncated_extracted_file(setup, capsys):
    """torchvision reads the extracted file when it exists: a truncated one is a failure."""
    raw = setup / "data" / "MNIST" / "raw"
    header = (60000).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    (raw / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03" + header + bytes(1000))
    rc, out = run_doctor(capsys)
    assert rc == 1
    assert "truncated (extracted) train-images-idx3-ubyte" in line(out, "MNIST")
    assert f"delete {raw / 'train-images-idx3-ubyte'}" in fix(out, "MNIST")


@pytest.mark.parametrize("kind", ["pickle", "truncated"])
def test_bad_multimnist_cache(setup, capsys, kind):
    cache = setup / "data" / "multimnist" / "cls_mnist_train_seed0_v1.pt"
    cache.parent.mkdir()
    if kind == "pickle":  # a planted pickle: weights_only refuses it unread
        cache.write_bytes(pickle.dumps(Planted()))
    else:
        torch.save({"images": torch.zeros(100)}, cache)
        cache.write_bytes(cache.read_bytes()[:200])
    rc, out = run_doctor(capsys)
    assert rc == 1
    assert line(out, "caches").startswith("FAIL") and str(cache) in line(out, "caches")
    assert (
        fix(out, "caches") == f"  caches: delete {cache} (rebuilt from the raw files on first use)"
    )


def test_good_cache_and_no_cache(setup, capsys):
    rc, out = run_doctor(capsys)
    assert rc == 0 and "none yet (built on first use)" in line(out, "caches")
    cache = setup / "data" / "multimnist" / "cls_mnist_test_seed0_v1.pt"
    cache.parent.mkdir()
    torch.save({"images": torch.zeros(2, 28, 28, dtype=torch.uint8)}, cache)
    rc, out = run_doctor(capsys)
    assert rc == 0 and "1 file(s) load cleanly" in line(out, "caches")


def test_tampered_weight_file(setup, capsys):
    path = setup / "weights" / f"{WEIGHTS[1]}.pt"
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    rc, out = run_doctor(capsys)
    assert rc == 1
    assert line(out, "weights").startswith("FAIL")
    assert f"shipped weights of '{WEIGHTS[1]}' were changed: {path}" in out
    assert f"git checkout -- {path}" in fix(out, "weights")
    assert f"python -m mtl_tutorial train {WEIGHTS[1]} --ship" in fix(out, "weights")


def test_missing_weight_file_and_bad_manifest(setup, capsys):
    (setup / "weights" / f"{WEIGHTS[0]}.pt").unlink()
    rc, out = run_doctor(capsys)
    assert rc == 1 and f"shipped weights of '{WEIGHTS[0]}' are missing" in out
    (setup / "weights" / "manifest.json").write_text('{"format_version": 1, "experiments": {')
    rc, out = run_doctor(capsys)
    assert rc == 1 and "is not valid JSON" in line(out, "weights")
    assert "git checkout -- " in fix(out, "weights")


def test_runs_not_writable(setup, capsys):
    """`runs` is a file (chmod cannot stop root from writing, a file in the way can)."""
    (setup / "runs").write_text("not a folder")
    rc, out = run_doctor(capsys)
    assert rc == 1
    assert line(out, "runs").startswith("FAIL") and str(setup / "runs") in line(out, "runs")
    assert "--out DIR" in fix(out, "runs")


def test_weights_folder_not_writable_is_a_warning(setup, capsys, monkeypatch):
    def refuse(path, purpose):
        if Path(path) == setup / "weights":
            raise PermissionError(f"cannot write to {path} ({purpose})")

    monkeypatch.setattr(doctor, "check_writable_dir", refuse)
    rc, out = run_doctor(capsys)
    assert rc == 0
    assert line(out, "weights folder").startswith("warn") and "0 failed, 1 warned" in out


def test_bad_device_and_mismatched_torchvision(setup, capsys, monkeypatch):
    import torchvision

    monkeypatch.setenv("MTL_TUTORIAL_DEVICE", "tpu")
    monkeypatch.setattr(torchvision, "__version__", "0.30.0")
    rc, out = run_doctor(capsys)
    assert rc == 1
    assert line(out, "device").startswith("FAIL") and "MTL_TUTORIAL_DEVICE=tpu" in out
    assert "unset MTL_TUTORIAL_DEVICE" in fix(out, "device")
    assert "not a matching pair (torchvision 0.30 goes with torch 2.15)" in line(out, "torch")
    assert 'pip install "torch>=' in fix(out, "torch")


def test_a_crashing_check_is_reported(setup, capsys, monkeypatch):
    monkeypatch.setitem(doctor.CHECKS, "caches", lambda: 1 / 0)
    rc, out = run_doctor(capsys)
    assert rc == 1 and "the check itself failed: ZeroDivisionError" in line(out, "caches")


def test_require_passes_quickly_on_a_good_setup(setup):
    doctor.require("mnist")  # imports torchvision once
    start = time.perf_counter()
    doctor.require("mnist", "fashion_mnist", "weights")
    assert time.perf_counter() - start < 1.0


def test_require_on_a_missing_data_root(tmp_path, monkeypatch):
    root = tmp_path / "nowhere"
    monkeypatch.setenv("MTL_TUTORIAL_DATA", str(root))
    monkeypatch.delenv("MTL_TUTORIAL_WEIGHTS", raising=False)
    monkeypatch.setattr(doctor, "_fetch", lambda source: False)  # offline
    with pytest.raises(doctor.SetupError) as info:
        doctor.require("mnist", "weights")
    message = str(info.value)
    assert message.startswith("this notebook cannot run yet.")
    assert f"{root}/MNIST/raw: missing train-images-idx3-ubyte.gz" in message
    assert "fix: " in message and "Run `python -m mtl_tutorial doctor` for a full check." in message
    assert "\nweights:" not in message  # the shipped weights are fine
    assert not root.exists()


def test_require_names_a_missing_weight_file(setup):
    (setup / "weights" / f"{WEIGHTS[0]}.pt").unlink()
    with pytest.raises(doctor.SetupError, match=f"{WEIGHTS[0]}.pt is missing"):
        doctor.require("weights")
    with pytest.raises(ValueError, match="unknown needs"):
        doctor.require("imagenet")
