"""Storage of the trained weights that ship inside the package, and their manifest.

This module only reads and writes files (layer 1 of the package): it knows nothing of the
experiment registry. :mod:`mtl_tutorial.pretrained` adds ``load``/``load_or_train`` on top.

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
import statistics
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from torch import nn

from .checkpoint import load_checkpoint, read_checkpoint
from .errors import CheckpointError, ManifestError, WeightsIntegrityError
from .files import atomic_copy, atomic_write_text, check_writable_dir
from .provenance import RUN_FIELDS, mixing

__all__ = [
    "WEIGHTS_DIR",
    "WEIGHTS_ENV_VAR",
    "available",
    "check_writable",
    "entries",
    "manifest",
    "manifest_lock",
    "record_run",
    "run_history",
    "seed_statistics",
    "seed_weights",
    "sha256_of",
    "ship",
    "using_weights",
    "verify_weights",
    "weights_dir",
    "weights_path",
    "write_entries",
]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
WEIGHTS_ENV_VAR = "MTL_TUTORIAL_WEIGHTS"
MANIFEST_VERSION = 1
_RESTORE = "restore it with `git checkout -- {path}` (or reinstall the package)"


_USING: ContextVar[Path | None] = ContextVar("mtl_tutorial_weights", default=None)


def weights_dir(folder: str | os.PathLike[str] | None = None) -> Path:
    """The weights folder: ``folder`` if given, else the one of an enclosing
    :func:`using_weights` block, else ``$MTL_TUTORIAL_WEIGHTS``, else the package's."""
    if folder is not None:
        return Path(folder)
    if (active := _USING.get()) is not None:
        return active
    env = os.environ.get(WEIGHTS_ENV_VAR)
    return Path(env).expanduser() if env else WEIGHTS_DIR


@contextlib.contextmanager
def using_weights(folder: str | os.PathLike[str]) -> Iterator[Path]:
    """Within the block, everything that reads the manifest or the weights by default (the
    ``report`` functions, ``pretrained.load``) uses ``folder``, e.g. a second weights folder
    that holds the runs of another training budget; outside it, nothing changes."""
    path = Path(folder)
    if not (path / "manifest.json").is_file():
        raise FileNotFoundError(
            f"{path} holds no manifest.json: it is not a weights folder. Fix: pass the folder "
            "that `python -m mtl_tutorial reproduce --import` wrote"
        )
    token = _USING.set(path)
    try:
        yield path
    finally:
        _USING.reset(token)


_folder = weights_dir  # for the functions below, whose ``weights_dir`` argument shadows it


def _manifest_path(folder: Path | None = None) -> Path:
    return _folder(folder) / "manifest.json"


def _damaged(path: Path, problem: str) -> ManifestError:
    return ManifestError(
        f"manifest {path} is damaged: {problem}. Fix: {_RESTORE.format(path=path)}; "
        "trained checkpoints under runs/ are not affected"
    )


def entries(weights_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    """The manifest's ``experiments`` mapping as stored (aliases unresolved), validated.

    Read it under :func:`manifest_lock` and write it back with :func:`write_entries` to
    change the manifest; :func:`manifest` is the read-only view with aliases resolved.
    """
    path = _manifest_path(weights_dir)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _damaged(path, f"it is not valid JSON ({err})") from err
    except OSError as err:
        raise ManifestError(f"manifest {path} cannot be read: {err}") from err
    if not isinstance(data, dict):
        raise _damaged(path, f"expected a JSON object, found a {type(data).__name__}")
    if data.get("format_version") != MANIFEST_VERSION:
        raise _damaged(
            path,
            f"format_version is {data.get('format_version')!r}, this package reads "
            f"{MANIFEST_VERSION}",
        )
    found = data.get("experiments")
    if not isinstance(found, dict):
        raise _damaged(path, "it has no 'experiments' object")
    for name, entry in found.items():
        if not isinstance(entry, dict):
            raise _damaged(path, f"entry {name!r} is not an object")
        if "alias_of" in entry:
            if entry["alias_of"] not in found or "alias_of" in found[entry["alias_of"]]:
                raise _damaged(path, f"{name!r} is an alias of a missing entry")
            continue
        runs = entry.get("runs", [])
        if not isinstance(runs, list) or not all(
            isinstance(r, dict) and isinstance(r.get("metrics"), dict) and "seed" in r for r in runs
        ):
            raise _damaged(path, f"the runs of {name!r} are not a list of {{seed, metrics}}")
        if "file" in entry and not (isinstance(entry["file"], str) and "sha256" in entry):
            raise _damaged(path, f"{name!r} names a weight file without its sha256")
    return found


def manifest(weights_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    """Return the manifest's ``experiments`` mapping (empty if nothing ships yet).

    An entry ``{"alias_of": other}`` (e.g. ``multimnist-hard-equal`` is ``multimnist-hard``)
    is returned as ``other``'s entry. A damaged manifest raises a ``ManifestError`` that
    says how to restore it.
    """
    stored = entries(weights_dir)
    return {k: stored[v["alias_of"]] if "alias_of" in v else v for k, v in stored.items()}


def write_entries(mapping: dict[str, dict[str, Any]], weights_dir: Path | None = None) -> None:
    """Replace the manifest's ``experiments`` mapping, atomically (hold :func:`manifest_lock`)."""
    ordered = {k: mapping[k] for k in sorted(mapping)}
    text = json.dumps({"format_version": MANIFEST_VERSION, "experiments": ordered}, indent=1)
    atomic_write_text(_manifest_path(weights_dir), text + "\n")  # never half-written


@contextlib.contextmanager
def manifest_lock(weights_dir: Path | None = None) -> Iterator[None]:
    """Serialise manifest updates between processes (training runs may finish at the same time)."""
    folder = _folder(weights_dir)
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


def check_writable(weights_dir: Path | None = None) -> None:
    """Fail now, before a training run, if ``--ship``/``--record`` could not write the result.

    Checks that the weights folder is writable and that the manifest is readable.
    """
    folder = _folder(weights_dir)
    check_writable_dir(folder, "shipping or recording weights (--ship/--record)")
    entries(folder)


def available(weights_dir: Path | None = None) -> list[str]:
    """Names of the experiments whose weights ship with the package."""
    return sorted(manifest(weights_dir))


def weights_path(name: str, weights_dir: Path | None = None) -> Path:
    """Path of the shipped checkpoint for ``name``; a clear error if none ships."""
    known = manifest(weights_dir)
    if name not in known or "file" not in known[name]:
        shipped = ", ".join(sorted(k for k, v in known.items() if "file" in v)) or "none"
        raise FileNotFoundError(
            f"no pretrained weights ship for {name!r} (shipped: {shipped}). "
            f"Train them with `python -m mtl_tutorial train {name}` and pass --checkpoint."
        )
    return _folder(weights_dir) / known[name]["file"]


def sha256_of(path: str | os.PathLike[str]) -> str:
    """The hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_weights(name: str, weights_dir: Path | None = None) -> Path:
    """Check that ``name``'s shipped weight file exists and matches the manifest's sha256.

    Returns the file's path; raises a ``WeightsIntegrityError`` that names the file and the
    two ways back (restore it from version control, or retrain and ship it).
    """
    path = weights_path(name, weights_dir)
    expected = manifest(weights_dir)[name]["sha256"]
    retrain = f"retrain it with `python -m mtl_tutorial train {name} --ship`"
    if not path.is_file():
        raise WeightsIntegrityError(
            f"shipped weights of {name!r} are missing: {path}. "
            f"Fix: {_RESTORE.format(path=path)}, or {retrain}"
        )
    actual = sha256_of(path)
    if actual != expected:
        raise WeightsIntegrityError(
            f"shipped weights of {name!r} were changed: {path} has sha256 {actual[:12]}..., "
            f"the manifest records {expected[:12]}.... Fix: {_RESTORE.format(path=path)}, "
            f"or {retrain}"
        )
    return path


def seed_weights(
    name: str, seed: int, runs: str | os.PathLike[str] = "runs", weights_dir: Path | None = None
) -> Path:
    """The weight file of seed ``seed`` of ``name``: the shipped file for the shipped seed
    (sha256 checked), else ``runs/NAME/seed<S>.pt``, where ``train --record`` leaves it."""
    entry = manifest(weights_dir).get(name, {})
    if "file" in entry and seed == entry.get("seed", 0):
        return verify_weights(name, weights_dir)
    path = Path(runs) / name / f"seed{seed}.pt"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: seed {seed} of {name!r} is not shipped and its recorded "
            f"weights are not in {runs}. Fix: pass the runs folder that holds it, or train it "
            f"again with `python -m mtl_tutorial train {name} --seed {seed} --record`"
        )
    return path


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


def _check_trained(name: str, meta: dict[str, Any], checkpoint: str | os.PathLike[str]) -> None:
    """Refuse to ship or record a checkpoint that is not a finished run of ``name``."""
    if meta.get("experiment", name) != name:
        raise CheckpointError(
            f"{checkpoint} is a run of {meta['experiment']!r}, not of {name!r}: refusing to "
            f"ship or record it as {name!r}. Pass the checkpoint under runs/{name}/"
        )
    if meta.get("quick") or not isinstance(meta.get("epochs"), int) or meta["epochs"] < 1:
        raise CheckpointError(
            f"{checkpoint} is not a finished training run (quick={meta.get('quick')}, "
            f"epochs={meta.get('epochs')}): refusing to ship or record it. "
            f"Train it fully with `python -m mtl_tutorial train {name} --record`"
        )
    if not isinstance(meta.get("metrics"), dict) or not meta["metrics"]:
        raise CheckpointError(
            f"{checkpoint} has no test metrics (its evaluation did not finish): refusing to "
            f"ship or record it. Evaluate it with `python -m mtl_tutorial evaluate {name} "
            f"--checkpoint {checkpoint}` to see why"
        )


def _check_budget(name: str, meta: dict[str, Any], weights_dir: Path | None) -> None:
    """Refuse a run that would join runs of another budget or device kind (``mixing``)."""
    why = mixing(meta, entries(weights_dir).get(name, {}).get("runs", []))
    if why:
        raise CheckpointError(
            f"{name} seed {meta.get('seed')}: {why} in {_manifest_path(weights_dir)}; a "
            "manifest entry never mixes budgets, epoch caps or kinds of device, so nothing was "
            "written. Fix: record it in a weights folder of its own (e.g. MTL_TUTORIAL_WEIGHTS="
            "mtl_tutorial/weights/cpu-budget for a cpu-budget run), or train it like theirs "
            f"(reproduce --budget ... --device ... --only {name}, or train --epochs N)"
        )


def record_run(
    name: str, checkpoint: str | os.PathLike[str], weights_dir: Path | None = None
) -> None:
    """Add one seed's result (from a checkpoint's meta) to ``name``'s ``runs`` in the manifest.

    Refuses a checkpoint of another experiment, a ``--quick`` or zero-epoch run, one
    without metrics, and one whose budget differs from the entry's other runs.
    """
    meta = read_checkpoint(checkpoint)["meta"]
    _check_trained(name, meta, checkpoint)
    with manifest_lock(weights_dir):
        _check_budget(name, meta, weights_dir)
        stored = entries(weights_dir)
        entry = stored.get(name, {"runs": []})
        if "alias_of" in entry:  # training an alias gives it weights of its own
            entry = {"runs": []}
        stored[name] = entry
        runs = [r for r in entry.get("runs", []) if r["seed"] != meta["seed"]]
        run = {k: meta[k] for k in RUN_FIELDS if k in meta}
        run["metrics"] = meta["metrics"]
        if meta.get("history"):  # per-epoch rows: small enough for the manifest
            run["history"] = _compact(meta["history"])
        runs.append(run)
        entry["runs"] = sorted(runs, key=lambda r: r["seed"])
        write_entries(stored, weights_dir)


def ship(
    name: str,
    checkpoint: str | os.PathLike[str],
    weights_dir: Path | None = None,
    model: nn.Module | None = None,
) -> Path:
    """Copy ``checkpoint`` into the package as ``name``'s pretrained weights and update the manifest.

    Refuses, before anything is written, a checkpoint that :func:`record_run` refuses or,
    given an untrained ``model`` of ``name``'s architecture, whose weights do not fit it.
    """
    checkpoint = Path(checkpoint)
    meta = read_checkpoint(checkpoint)["meta"]
    _check_trained(name, meta, checkpoint)
    if model is not None:
        load_checkpoint(checkpoint, model)  # architecture check
    _check_budget(name, meta, weights_dir)  # before the file is replaced
    folder = _folder(weights_dir)
    target = folder / f"{name}.pt"
    if checkpoint.resolve() != target.resolve():
        atomic_copy(checkpoint, target)
    record_run(name, checkpoint, weights_dir)
    with manifest_lock(weights_dir):
        stored = entries(weights_dir)
        stored[name].update(
            {
                "file": target.name,
                "sha256": sha256_of(target),
                "created": _now(),
                "metrics": meta["metrics"],
                **{k: meta[k] for k in RUN_FIELDS if k in meta},
            }
        )
        write_entries(stored, weights_dir)
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
