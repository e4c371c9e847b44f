"""Check a student's setup: ``python -m mtl_tutorial doctor`` and the notebooks' :func:`require`.

Each check returns a :class:`Check`: its name, whether it passed, what it found and, for a
problem, the fix. A problem with something the notebooks need is a failure (``FAIL``, exit
status 1); one they can do without (writing into the weights folder) is a warning.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import struct
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from . import pretrained
from .data.mnist import DATA_ENV_VAR, SOURCES, data_root, load_source
from .errors import DataCacheError, SetupError
from .files import check_writable_dir, safe_torch_load
from .utils import describe_device, get_device

__all__ = ["NEEDS", "Check", "SetupError", "add_parser", "require", "run_checks"]

REPO = Path(__file__).resolve().parents[1]
NEEDS = ("mnist", "fashion_mnist", "weights")
#: Which notebooks read each source (grep notebooks/ and mtl_tutorial/experiments/).
USED_BY = {"mnist": "every notebook", "fashion_mnist": "notebooks/01_data_tour.ipynb only"}


@dataclass(frozen=True)
class Check:
    """The result of one check; ``needed=False`` turns a problem into a warning."""

    name: str
    ok: bool
    detail: str
    fix: str | None = None
    needed: bool = True

    @property
    def status(self) -> str:
        return "ok" if self.ok else "FAIL" if self.needed else "warn"


def _why(err: BaseException) -> str:
    return f"{type(err).__name__}: {(str(err).splitlines() or [''])[0]}"


def _split(message: str, fix: str | None = None) -> tuple[str, str | None]:
    """The package's error messages end in "Fix: ...": (what was found, the fix)."""
    found, _, own = message.partition(" Fix: ")
    return found.rstrip(". "), own.rstrip(". ") or fix


def _pins() -> str:
    """The torch/torchvision pins of requirements.txt, as a pip command."""
    req = REPO / "requirements.txt"
    lines = req.read_text().splitlines() if req.is_file() else []
    pins = [f'"{ln.strip()}"' for ln in lines if ln.startswith(("torch>", "torchvision>"))]
    return "pip install " + (" ".join(pins) if len(pins) == 2 else "-r requirements.txt")


def check_torch() -> Check:
    """torch and torchvision import, form a matching pair, and torchvision's compiled ops run."""
    fix = f"reinstall a matching pair: {_pins()}"
    try:  # a mismatched pair fails here, on the missing torchvision::nms operator
        import torchvision
        from torchvision.ops import nms

        nms(torch.tensor([[0.0, 0.0, 1.0, 1.0]]), torch.tensor([1.0]), 0.5)
    except Exception as err:  # noqa: BLE001 - a broken install raises anything
        return Check("torch", False, f"torch {torch.__version__}; torchvision: {_why(err)}", fix)
    pair = f"torch {torch.__version__}, torchvision {torchvision.__version__}"
    t_major, t_minor = map(int, torch.__version__.split("+")[0].split(".")[:2])
    v_major, v_minor = map(int, torchvision.__version__.split("+")[0].split(".")[:2])
    # PyTorch's compatibility matrix: torch 2.M goes with torchvision 0.(M + 15).
    if t_major == 2 and v_major == 0 and v_minor - 15 != t_minor:
        why = f"{pair}: not a matching pair (torchvision 0.{v_minor} goes with torch 2.{v_minor - 15})"
        return Check("torch", False, why, fix)
    return Check("torch", True, f"{pair}: a matching pair, torchvision's ops work")


def check_device() -> Check:
    """The device that ``--device auto`` (and the notebooks' retraining) will use."""
    env = os.environ.get("MTL_TUTORIAL_DEVICE")
    how = f"MTL_TUTORIAL_DEVICE={env}" if env else "auto: cuda > mps > cpu"
    try:
        device = get_device("auto")
        torch.ones(2, device=device).sum().item()
    except Exception as err:  # noqa: BLE001 - a broken driver raises RuntimeError, ...
        fix = "unset MTL_TUTORIAL_DEVICE (auto picks cuda > mps > cpu) or set it to cpu"
        return Check("device", False, *_split(f"{how}: {_why(err)}", fix))
    return Check("device", True, f"{describe_device(device)} ({how})")


def _idx_complete(path: Path) -> bool:
    """An extracted IDX file is as long as its header says (a cheap test for truncation)."""
    with open(path, "rb") as handle:
        head = handle.read(16)  # magic 0 0 8 ndim, then ndim big-endian uint32 sizes
    ndim = head[3] if len(head) >= 4 and head[:3] == b"\x00\x00\x08" else 0
    if not 1 <= ndim <= 3 or len(head) < 4 + 4 * ndim:
        return False
    sizes = struct.unpack_from(f">{ndim}I", head, 4)
    return path.stat().st_size == 4 + 4 * ndim + math.prod(sizes)


def check_source(source: str, root: Path | None = None) -> Check:
    """The raw files of ``source``: each .gz present with torchvision's md5 (or extracted)."""
    from torchvision.datasets import MNIST, FashionMNIST
    from torchvision.datasets.utils import check_integrity

    folder = SOURCES[source]
    raw = data_root(root).resolve() / folder / "raw"
    missing, corrupt, truncated = [], [], []
    for filename, md5 in (MNIST if source == "mnist" else FashionMNIST).resources:
        gz, extracted = raw / filename, raw / filename.removesuffix(".gz")
        if extracted.is_file() and not _idx_complete(extracted):
            truncated.append(extracted.name)  # torchvision reads this one, not the .gz
        if gz.exists() and not check_integrity(str(gz), md5):
            corrupt.append(filename)
        elif not gz.exists() and not extracted.is_file():
            missing.append(filename)
    if not (missing or corrupt or truncated):
        detail = f"4 files in {raw}, md5 as torchvision lists them (needed by {USED_BY[source]})"
        return Check(folder, True, detail)
    found, fixes = [], []
    if missing:
        found.append(f"missing {', '.join(missing)}")
    if corrupt:
        found.append(f"corrupt (md5 differs from torchvision's) {', '.join(corrupt)}")
    if truncated:
        found.append(f"truncated (extracted) {', '.join(truncated)}")
    if corrupt or truncated:
        fixes.append(f"delete {' '.join(str(raw / f) for f in corrupt + truncated)}")
    if missing or corrupt:  # good copies: ../shared/data in the course set-up, or any mirror
        shared = REPO.parent / "shared" / "data" / folder / "raw"
        mkdir = "" if raw.is_dir() else f"mkdir -p {raw} && "
        how = (
            f"run `{mkdir}cp {shared}/*.gz {raw}/`" if shared.is_dir() else f"copy them into {raw}/"
        )
        fixes.append(f"{how} (see the README's Data section; online, torchvision fetches them)")
    detail = f"{raw}: {'; '.join(found)} (needed by {USED_BY[source]})"
    return Check(folder, False, detail, "; then ".join(fixes))


def _writable(name: str, path: Path, purpose: str, fix: str, needed: bool = True) -> Check:
    try:
        check_writable_dir(path, purpose)
    except OSError as err:
        return Check(name, False, str(err), fix, needed)
    return Check(name, True, f"{path.resolve()} is writable ({purpose})")


def check_data_root(root: Path | None = None) -> Check:
    """The data root is a writable folder: torchvision extracts there, the caches go there."""
    root = data_root(root).resolve()
    fix = f"create it, or set {DATA_ENV_VAR} to a writable folder that holds MNIST/raw/*.gz"
    if not root.is_dir():
        where = f"{DATA_ENV_VAR}={os.environ.get(DATA_ENV_VAR, '(unset)')}"
        return Check("data root", False, f"{root} is not a folder ({where})", fix)
    return _writable("data root", root, "extracted data and dataset caches", fix)


def check_caches(root: Path | None = None) -> Check:
    """Every derived cache ``<data root>/multimnist/*.pt`` loads with weights_only=True."""
    folder = data_root(root).resolve() / "multimnist"
    files = sorted(folder.glob("*.pt")) if folder.is_dir() else []
    bad = []
    for path in files:
        try:
            safe_torch_load(path, DataCacheError, "cache", "")
        except DataCacheError as err:
            bad.append((path, str(err).strip()))
    if bad:
        fix = f"delete {' '.join(str(p) for p, _ in bad)} (rebuilt from the raw files on first use)"
        return Check("caches", False, "; ".join(why for _, why in bad), fix)
    found = f"{len(files)} file(s) load cleanly" if files else "none yet (built on first use)"
    return Check("caches", True, f"{folder}: {found}")


def check_weights(folder: Path | None = None, hashes: bool = True) -> Check:
    """The manifest parses and every shipped weight file exists (and matches its sha256)."""
    folder = pretrained.weights_dir(folder).resolve()
    path = folder / "manifest.json"
    restore = f"restore it with `git checkout -- {folder}` (or reinstall the package)"
    if not path.is_file():
        return Check("weights", False, f"no manifest at {path}", restore)
    try:
        entries = pretrained.manifest(folder)
    except Exception as err:  # noqa: BLE001 - ManifestError, ...
        return Check("weights", False, *_split(str(err), restore))
    files = {e["file"]: name for name, e in sorted(entries.items()) if "file" in e}
    problems = []
    for file, name in files.items():  # an alias shares its target's file: hashed once
        try:
            if hashes:
                pretrained.verify_weights(name, folder)
            elif not (folder / file).is_file():
                raise FileNotFoundError(f"{folder / file} is missing. Fix: {restore}")
        except (OSError, RuntimeError) as err:
            problems.append(_split(str(err), restore))
    if problems:
        fixes = "; ".join(dict.fromkeys(fix for _, fix in problems if fix))
        return Check("weights", False, "; ".join(found for found, _ in problems), fixes)
    how = "match their sha256" if hashes else "are present"
    return Check("weights", True, f"{len(files)} files in {folder} {how} ({len(entries)} entries)")


RUNS_FIX = "make ./runs a writable folder, run from another folder, or train with `--out DIR`"
SHIP_FIX = f"train without --ship/--record, or set {pretrained.WEIGHTS_ENV_VAR} to a writable copy"


def check_ship() -> Check:
    """Only ``train --ship/--record`` write into the weights folder: a warning, not a failure."""
    return _writable("weights folder", pretrained.weights_dir(), "--ship/--record", SHIP_FIX, False)


CHECKS: dict[str, Callable[[], Check]] = {
    "torch": check_torch,
    "device": check_device,
    "data root": check_data_root,
    "MNIST": lambda: check_source("mnist"),
    "FashionMNIST": lambda: check_source("fashion_mnist"),
    "caches": check_caches,
    "weights": check_weights,
    # training writes checkpoints under runs/ (--out's default) in the current folder
    "runs": lambda: _writable("runs", Path.cwd() / "runs", "training's default --out", RUNS_FIX),
    "weights folder": check_ship,
}


def run_checks() -> list[Check]:
    """Every check, in order; a check that crashes is reported as a failure, never raised."""
    results = []
    for name, check in CHECKS.items():
        try:
            results.append(check())
        except Exception as err:  # noqa: BLE001 - the doctor reports, it does not crash
            if os.environ.get("MTL_TUTORIAL_DEBUG") == "1":
                raise
            fix = "run again with MTL_TUTORIAL_DEBUG=1 for the traceback and report it"
            results.append(Check(name, False, f"the check itself failed: {_why(err)}", fix))
    return results


def _cmd_doctor(args: argparse.Namespace) -> int:
    """One line per check, then the fix of each problem, then a summary line (or JSON)."""
    start = time.perf_counter()
    results = run_checks()
    failed = sum(c.status == "FAIL" for c in results)
    if args.json:
        print(json.dumps([{**asdict(c), "status": c.status} for c in results], indent=1))
        return int(failed > 0)
    width = max(len(c.name) for c in results)
    lines = [f"{c.status:<4}  {c.name:<{width}}  {c.detail}" for c in results]
    fixes = [f"  {c.name}: {c.fix}" for c in results if not c.ok and c.fix]
    lines += ["", "How to fix:", *fixes] if fixes else []
    warned = sum(c.status == "warn" for c in results)
    verdict = "fix the failures first" if failed else "everything the notebooks need is in place"
    took = f"{len(results)} checks in {time.perf_counter() - start:.1f} s"
    print("\n".join([*lines, "", f"{took}: {failed} failed, {warned} warned; {verdict}"]))
    return int(failed > 0)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``doctor`` to the command line's subcommands."""
    p = sub.add_parser("doctor", help="check versions, device, data and weights; print fixes")
    p.add_argument("--json", action="store_true", help="print a JSON list of the checks")
    p.set_defaults(func=_cmd_doctor)


def _fetch(source: str) -> bool:
    """Let torchvision download and extract ``source``, as the notebook would; False offline."""
    try:
        for split in ("train", "test"):
            load_source(source, split)
    except (OSError, RuntimeError):  # DataNotFoundError, a read-only folder, ...
        return False
    return True


def require(*needs: str) -> None:
    """Raise one :class:`SetupError` naming what is missing and the fix; silent when all is fine.

    ``needs`` are ``"mnist"``, ``"fashion_mnist"`` (raw files present, md5 checked; if not,
    torchvision may download them) and ``"weights"`` (manifest readable, every shipped file
    present; not hashed). Each notebook calls it first, e.g. ``require("mnist", "weights")``.
    """
    if unknown := [n for n in needs if n not in NEEDS]:
        raise ValueError(f"unknown needs {unknown}; use some of {NEEDS}")
    checks = []
    for source in [s for s in SOURCES if s in needs]:
        check = check_source(source)
        if not check.ok and _fetch(source):  # online, torchvision downloads what is missing
            check = check_source(source)
        checks.append(check)
    if checks and all(c.ok for c in checks):  # extracted files and caches are written there
        checks.append(check_data_root())
    if "weights" in needs:
        checks.append(check_weights(hashes=False))
    if problems := [c for c in checks if not c.ok]:
        lines = "".join(f"\n{c.name}: {c.detail}\n  fix: {c.fix}" for c in problems)
        full = "Run `python -m mtl_tutorial doctor` for a full check."
        raise SetupError(f"this notebook cannot run yet.{lines}\n{full}")
