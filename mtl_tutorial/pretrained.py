"""Pretrained weights that ship inside the package, and their manifest.

``mtl_tutorial/weights/manifest.json`` has one entry per experiment::

    {"format_version": 1,
     "experiments": {"NAME": {"file": "NAME.pt", "sha256": "...", "seed": 0, "epochs": 10,
                              "device": "cpu", "wall_time_s": 81.2, "torch_version": "2.14.1",
                              "created": "2026-11-22T15:00:00+00:00", "metrics": {...},
                              "runs": [{"seed": 0, "metrics": {...}, "wall_time_s": 81.2}, ...]}}}

``metrics`` are those of the shipped weights (seed ``seed``); ``runs`` holds every seed
that was trained for the mean and standard deviation reported in the book.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import shutil
import statistics
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import experiments
from .checkpoint import load_checkpoint, read_checkpoint

__all__ = [
    "WEIGHTS_DIR",
    "available",
    "load",
    "manifest",
    "record_run",
    "seed_statistics",
    "ship",
    "weights_path",
]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
MANIFEST_VERSION = 1


def _manifest_path(weights_dir: Path | None = None) -> Path:
    return (weights_dir or WEIGHTS_DIR) / "manifest.json"


def _entries(weights_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    """The manifest's ``experiments`` mapping as stored (aliases unresolved)."""
    path = _manifest_path(weights_dir)
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    if data.get("format_version") != MANIFEST_VERSION:
        raise ValueError(
            f"{path}: unsupported manifest format_version {data.get('format_version')}"
        )
    return data["experiments"]


def manifest(weights_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    """Return the manifest's ``experiments`` mapping (empty if nothing ships yet).

    An entry ``{"alias_of": other}`` (e.g. ``multimnist-hard-equal`` is ``multimnist-hard``)
    is returned as ``other``'s entry.
    """
    entries = _entries(weights_dir)
    return {k: entries[v["alias_of"]] if "alias_of" in v else v for k, v in entries.items()}


def _write_manifest(entries: dict[str, dict[str, Any]], weights_dir: Path | None = None) -> None:
    path = _manifest_path(weights_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    ordered = {k: entries[k] for k in sorted(entries)}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(
        json.dumps({"format_version": MANIFEST_VERSION, "experiments": ordered}, indent=1) + "\n"
    )
    os.replace(tmp, path)  # readers never see a half-written manifest


@contextlib.contextmanager
def _manifest_lock(weights_dir: Path | None = None):
    """Serialise manifest updates between processes (training runs may finish at the same time)."""
    folder = weights_dir or WEIGHTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no locking, run trainings one at a time
        yield
        return
    with open(folder / ".manifest.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def available(weights_dir: Path | None = None) -> list[str]:
    """Names of the experiments whose weights ship with the package."""
    return sorted(manifest(weights_dir))


def weights_path(name: str, weights_dir: Path | None = None) -> Path:
    """Path of the shipped checkpoint for ``name``; a clear error if none ships."""
    entries = manifest(weights_dir)
    if name not in entries:
        shipped = ", ".join(sorted(entries)) or "none"
        raise FileNotFoundError(
            f"no pretrained weights ship for {name!r} (shipped: {shipped}). "
            f"Train them with `python -m mtl_tutorial train {name}` and pass --checkpoint."
        )
    return (weights_dir or WEIGHTS_DIR) / entries[name]["file"]


def load(
    name: str, device: str | torch.device = "cpu", checkpoint: str | os.PathLike[str] | None = None
) -> nn.Module:
    """Return the trained model of experiment ``name`` in eval mode.

    Uses the shipped weights unless ``checkpoint`` points at another file.

    >>> model = load("multimnist-hard")  # doctest: +SKIP
    """
    exp = experiments.get(name)
    model = exp.build_model()
    load_checkpoint(checkpoint or weights_path(name), model)
    return model.to(device).eval()


def load_or_train(
    name: str,
    retrain: bool = False,
    device: str | torch.device = "auto",
    seed: int = 0,
    epochs: int | None = None,
    quick: bool = False,
    out_dir: str | os.PathLike[str] = "runs",
) -> nn.Module:
    """The notebooks' switch: the shipped model, or (``retrain=True``) a freshly trained one.

    Retraining goes through :func:`mtl_tutorial.experiments.run`, exactly like
    ``python -m mtl_tutorial train NAME``, and saves its checkpoint under ``out_dir``.
    """
    from .utils import get_device

    dev = get_device(device)
    if not retrain:
        return load(name, device=dev)
    config = experiments.TrainConfig(
        seed=seed, epochs=epochs, device=dev, quick=quick, out_dir=Path(out_dir)
    )
    result, _ = experiments.run(name, config)
    return result.model.to(dev).eval()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def _compact(history: list[dict[str, float]]) -> list[dict[str, float]]:
    """``history`` with floats rounded to 6 significant digits (keeps the manifest small)."""
    return [{k: float(f"{v:.6g}") for k, v in row.items()} for row in history]


def run_history(name: str, seed: int, weights_dir: Path | None = None) -> list[dict[str, float]]:
    """The per-epoch history recorded for seed ``seed`` of ``name`` (runs recorded with history)."""
    for run in manifest(weights_dir).get(name, {}).get("runs", []):
        if run["seed"] == seed and "history" in run:
            return run["history"]
    raise KeyError(
        f"no history recorded for {name!r} seed {seed}; "
        f"train it with: python -m mtl_tutorial train {name} --seed {seed} --record"
    )


def record_run(
    name: str, checkpoint: str | os.PathLike[str], weights_dir: Path | None = None
) -> None:
    """Add one seed's result (from a checkpoint's meta) to ``name``'s ``runs`` in the manifest."""
    meta = read_checkpoint(checkpoint)["meta"]
    with _manifest_lock(weights_dir):
        entries = _entries(weights_dir)
        entry = entries.get(name, {"runs": []})
        if "alias_of" in entry:  # training an alias gives it weights of its own
            entry = {"runs": []}
        entries[name] = entry
        runs = [r for r in entry.get("runs", []) if r["seed"] != meta["seed"]]
        run = {k: meta[k] for k in ("seed", "epochs", "device", "wall_time_s", "metrics")}
        if meta.get("history"):  # per-epoch rows: small enough for the manifest
            run["history"] = _compact(meta["history"])
        runs.append(run)
        entry["runs"] = sorted(runs, key=lambda r: r["seed"])
        _write_manifest(entries, weights_dir)


def ship(name: str, checkpoint: str | os.PathLike[str], weights_dir: Path | None = None) -> Path:
    """Copy ``checkpoint`` into the package as ``name``'s pretrained weights and update the manifest."""
    checkpoint = Path(checkpoint)
    meta = read_checkpoint(checkpoint)["meta"]
    folder = weights_dir or WEIGHTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.pt"
    if checkpoint.resolve() != target.resolve():
        shutil.copyfile(checkpoint, target)
    record_run(name, checkpoint, weights_dir)
    with _manifest_lock(weights_dir):
        entries = _entries(weights_dir)
        entries[name].update(
            {
                "file": target.name,
                "sha256": _sha256(target),
                "created": _now(),
                **{
                    k: meta[k]
                    for k in ("seed", "epochs", "device", "wall_time_s", "torch_version", "metrics")
                },
            }
        )
        _write_manifest(entries, weights_dir)
    return target


def seed_statistics(
    name: str, weights_dir: Path | None = None
) -> dict[str, tuple[float, float, int]]:
    """Mean, standard deviation and count of each metric over the recorded seeds of ``name``."""
    runs = manifest(weights_dir)[name].get("runs", [])
    keys = sorted({k for r in runs for k in r["metrics"]})
    out = {}
    for k in keys:
        values = [float(r["metrics"][k]) for r in runs if k in r["metrics"]]
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        out[k] = (statistics.fmean(values), std, len(values))
    return out
