"""Pack finished runs into a few bounded files, and import them with sha256 checks.

A pack folder holds ``index.json`` plus ``results-<k>.tar`` archives (plain tar). The
index lists every finished run: its checkpoint meta (metrics, history, device, budget...)
and, for the shipped seed, the archive and member that hold its checkpoint with the
member's sha256. After each run the changed archive is rewritten to a temporary file and
renamed, then the index is: a run cut off at any moment leaves an index that lists
exactly the runs whose checkpoints are complete (an archive may hold one member more, not
yet listed; it is ignored). Limits: ``max_files`` files (index included), each at most
``max_file_bytes``, ``max_total_bytes`` in all; a checkpoint that does not fit is
recorded without its weights and listed under ``dropped``. Under ``resume`` the index lists
the saved training states packed for the next device call (:mod:`.carry`).
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from .. import pretrained
from ..checkpoint import save_checkpoint
from ..errors import WeightsIntegrityError
from ..files import atomic_write_text
from ..provenance import mixing, run_budget
from .budgets import copy_entries, run_budgets, set_aside_replaced
from .carry import write_saved_states
from .plan import build_plan

__all__ = [
    "INDEX",
    "PackLimits",
    "Packer",
    "hold_back_incomplete",
    "import_results",
    "read_index",
    "release",
]

INDEX = "index.json"
FORMAT = "mtl_tutorial-reproduce"
MiB = 1 << 20


@dataclass(frozen=True)
class PackLimits:
    """What one device run may send back."""

    max_files: int = 8
    max_file_bytes: int = 16 * MiB
    max_total_bytes: int = 64 * MiB


class Packer:
    """Collects finished runs into ``folder`` under ``limits``, rewriting files atomically."""

    def __init__(self, folder: Path, limits: PackLimits = PackLimits(), info: dict | None = None):
        if limits.max_files < 2:
            raise ValueError("a pack needs at least 2 files: the index and one archive")
        self.folder, self.limits = Path(folder), limits
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in [*self.folder.glob("results-*.tar"), self.folder / INDEX]:
            old.unlink(missing_ok=True)  # a fresh pack: never mix two plans' results
        self.index: dict[str, Any] = {
            "format": FORMAT,
            "format_version": 1,
            "info": dict(info or {}),
            "runs": [],
            "failed": [],
            "dropped": [],
            "resume": [],
        }
        self.archives: dict[str, list[tuple[str, Path]]] = {}  # archive -> (member, source)
        self._write_index()

    def _archive_path(self, name: str) -> Path:
        return self.folder / name

    def _size(self, name: str) -> int:
        path = self._archive_path(name)
        return path.stat().st_size if path.exists() else 0

    def _write_archive(self, name: str, members: list[tuple[str, Path]]) -> Path:
        tmp = self.folder / f".{name}.tmp"
        with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
            for member, source in members:
                tar.add(source, arcname=member)
        return tmp

    def _index_text(self) -> str:
        return json.dumps(self.index, indent=1) + "\n"

    def _write_index(self) -> None:
        text = self._index_text()
        if len(text.encode()) > self.limits.max_file_bytes:
            raise ValueError(f"the pack index outgrew {self.limits.max_file_bytes} bytes")
        atomic_write_text(self.folder / INDEX, text)

    def add(self, meta: dict[str, Any], checkpoint: Path | None = None) -> dict[str, Any]:
        """Record one finished run (``checkpoint``: the weights to ship, or None); returns its row."""
        row: dict[str, Any] = {
            "experiment": meta["experiment"],
            "seed": meta["seed"],
            "meta": meta,
        }
        if checkpoint is not None:
            placed = self._place(f"{meta['experiment']}-seed{meta['seed']}.pt", Path(checkpoint))
            if placed is None:
                self.index["dropped"].append(
                    {"experiment": meta["experiment"], "seed": meta["seed"], "reason": "pack full"}
                )
            else:
                archive, member, tmp = placed
                row.update(archive=archive, member=member, sha256=pretrained.sha256_of(checkpoint))
                os.replace(tmp, self._archive_path(archive))
        self.index["runs"].append(row)
        self._write_index()
        return row

    def carry(
        self, experiment: str, seed: int, path: Path, epochs: int, finished: bool = False
    ) -> bool:
        """Pack the saved training state ``path`` of a run of an experiment that did not
        finish whole here, after ``epochs`` epochs, for the next call (:mod:`.carry`); a
        ``finished`` run's final checkpoint instead, which points at the run's shipped
        weights if they are that file (no second copy). False if it does not fit."""
        row = {"experiment": experiment, "seed": seed, "epochs": epochs}
        digest = pretrained.sha256_of(path)
        shipped = [
            r
            for r in self.index["runs"]
            if (r["experiment"], r["seed"]) == (experiment, seed) and r.get("sha256") == digest
        ]
        if finished and shipped:
            row.update({k: shipped[0][k] for k in ("archive", "member", "sha256")})
        else:
            member = f"seed{seed}_final.pt" if finished else f"seed{seed}_full.pt"
            placed = self._place(f"resume/{experiment}/{member}", Path(path))
            if placed is None:
                self.drop(experiment, seed, "pack full: its saved state is not carried")
                return False
            archive, member, tmp = placed
            row.update(archive=archive, member=member, sha256=digest)
            os.replace(tmp, self._archive_path(archive))
        if finished:
            row["finished"] = True
        self.index["resume"].append(row)
        self._write_index()
        return True

    def drop(self, experiment: str, seed: int, reason: str) -> None:
        """Record a file that is not packed, and why."""
        self.index["dropped"].append({"experiment": experiment, "seed": seed, "reason": reason})
        self._write_index()

    def fail(self, experiment: str, seed: int, reason: str) -> None:
        """Record a run that did not finish (its dependents are skipped by the runner)."""
        self.index["failed"].append({"experiment": experiment, "seed": seed, "reason": reason})
        self._write_index()

    def _place(self, member: str, source: Path) -> tuple[str, str, Path] | None:
        """Write the archive that takes ``source`` to a temporary file; None if nothing fits."""
        lim = self.limits
        names = list(self.archives)
        candidates = names[-1:] + (
            [f"results-{len(names) + 1}.tar"] if len(names) + 1 < lim.max_files else []
        )
        index_bytes = len(self._index_text().encode()) + 4096 + len(json.dumps(member)) * 4
        for name in candidates:
            members = [*self.archives.get(name, []), (member, source)]
            tmp = self._write_archive(name, members)
            size = tmp.stat().st_size
            total = sum(self._size(n) for n in names if n != name) + size + index_bytes
            if size <= lim.max_file_bytes and total <= lim.max_total_bytes:
                self.archives[name] = members
                return name, member, tmp
            tmp.unlink()
        return None


def read_index(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The pack's index (``folder`` or ``folder/pack``); a clear error if there is none."""
    folder = Path(folder)
    for candidate in (folder, folder / "pack"):
        if (candidate / INDEX).is_file():
            data = json.loads((candidate / INDEX).read_text())
            if data.get("format") != FORMAT:
                raise ValueError(f"{candidate / INDEX} is not a reproduce pack index")
            data["_folder"] = str(candidate)
            return data
    raise FileNotFoundError(
        f"no {INDEX} in {folder}: pass the folder that `reproduce` wrote its pack to"
    )


def _read_member(folder: Path, row: dict[str, Any]) -> bytes:
    """The bytes of the archive member ``row`` names, after checking its sha256."""
    archive = folder / row["archive"]
    where = f"{archive} (member {row['member']})"
    try:
        with tarfile.open(archive, "r") as tar:
            handle = tar.extractfile(row["member"])
            data = handle.read() if handle else b""
    except (OSError, KeyError, tarfile.TarError) as err:
        raise WeightsIntegrityError(f"cannot read {where}: {err}; nothing was imported") from err
    actual = hashlib.sha256(data).hexdigest()
    if actual != row["sha256"]:
        raise WeightsIntegrityError(
            f"sha256 mismatch in {where}: the file has {actual[:16]}..., the index "
            f"records {row['sha256'][:16]}...; the pack is damaged or was changed, "
            "nothing was imported"
        )
    return data


def _verified_members(index: dict[str, Any], into: Path) -> dict[tuple[str, int], Path]:
    """Extract every listed checkpoint into ``into`` after checking its sha256 (all or nothing)."""
    folder = Path(index["_folder"])
    out: dict[tuple[str, int], Path] = {}
    for row in index["runs"]:
        if "member" not in row:
            continue
        target = into / row["member"]
        target.write_bytes(_read_member(folder, row))
        out[(row["experiment"], row["seed"])] = target
    return out


def _check_budgets(
    index: dict[str, Any], entries: dict[str, Any], fresh: set[str], target: Path
) -> None:
    """Refuse, before anything is written, runs that would join an entry trained under
    another budget or on another kind of device (:func:`provenance.mixing`); an entry the
    pack replaces (``fresh``) is not checked."""
    for row in index["runs"]:
        name, seed = row["experiment"], row["seed"]
        if name in fresh or name not in entries or "alias_of" in entries[name]:
            continue
        why = mixing(row["meta"], entries[name]["runs"])
        if why:
            raise ValueError(
                f"{name} seed {seed}: {why} in {target}; a manifest entry never mixes "
                "budgets, epoch caps or kinds of device. Fix: import into another weights folder "
                "(MTL_TUTORIAL_WEIGHTS), include the shipped seed so the entry is replaced, "
                "or import with --complete-only"
            )


def hold_back_incomplete(index: dict[str, Any]) -> dict[str, str]:
    """Drop from ``index`` the runs of every experiment that did not finish whole: a
    planned seed is missing, or its shipped seed's weights are not in the pack. Returns
    ``{experiment: why}`` for those held back (a later ``reproduce --resume`` reruns them)."""
    ship_seed = index["info"].get("ship_seed", 0)
    planned: dict[str, set[int]] = {}
    for key in index["info"].get("planned", []):
        name, _, seed = key.rpartition("/seed")
        planned.setdefault(name, set()).add(int(seed))
    finished: dict[str, set[int]] = {}
    for row in index["runs"]:
        if row["seed"] != ship_seed or "member" in row:
            finished.setdefault(row["experiment"], set()).add(row["seed"])
    held = {}
    for name in sorted({r["experiment"] for r in index["runs"]}):
        missing = sorted(planned.get(name, set()) - finished.get(name, set()))
        if missing:
            held[name] = f"seed(s) {', '.join(map(str, missing))} did not finish"
    index["runs"] = [r for r in index["runs"] if r["experiment"] not in held]
    return held


def import_results(
    folder: str | os.PathLike[str],
    weights_dir: Path | None = None,
    allow_quick: bool = False,
    keep_replaced: str | os.PathLike[str] | None = None,
    complete_only: bool = False,
    resume_dir: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Merge a pack into ``weights_dir`` (default: :func:`pretrained.weights_dir`) and its manifest.

    Every checkpoint's sha256 is verified before anything is written. An experiment whose
    shipped seed is in the pack gets a fresh entry (its old runs are dropped, so the seed
    statistics never mix two budgets); runs of other seeds are added to it. A ``--quick``
    pack goes only into a weights folder other than the package's (``allow_quick``).
    ``keep_replaced``: a weights folder that first receives a copy of every entry the pack
    replaces with runs of another budget (e.g. ``weights/cpu-budget``), files included.
    ``complete_only``: import only the experiments that finished whole
    (:func:`hold_back_incomplete`); the summary lists the others under ``held_back``.
    ``resume_dir`` (with ``complete_only``): where the saved states of the held-back GAN
    runs go, for the next call to go on from (:mod:`.carry`); the summary lists them
    under ``saved_states``.
    """
    if resume_dir is not None and not complete_only:
        raise ValueError(
            "--resume-dir goes with --complete-only: saved states are kept for the "
            "experiments held back, which only --complete-only holds back"
        )
    index = read_index(folder)
    held = hold_back_incomplete(index) if complete_only else {}
    target = pretrained.weights_dir(weights_dir)
    quick = bool(index["info"].get("quick"))
    if quick and not allow_quick and target.resolve() == pretrained.WEIGHTS_DIR.resolve():
        raise ValueError(
            "refusing to import a --quick pack into the package's weights: it is a smoke "
            "test, not a result (set MTL_TUTORIAL_WEIGHTS to import it elsewhere)"
        )
    ship_seed = index["info"].get("ship_seed", 0)
    imported: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        checkpoints = _verified_members(index, Path(tmp))
        rows = index.get("resume", []) if resume_dir is not None else []
        states = {
            (r["experiment"], r["seed"]): _read_member(Path(index["_folder"]), r) for r in rows
        }
        fresh = {name for name, seed in checkpoints if seed == ship_seed}
        if keep_replaced is not None:
            budgets = {r["experiment"]: run_budget(r["meta"]) for r in index["runs"]}
            set_aside_replaced({n: {budgets[n]} for n in fresh}, target, keep_replaced)
        with pretrained.manifest_lock(target):
            entries = pretrained.entries(target)
            _check_budgets(index, entries, fresh, target)
            for name in fresh:
                if name in entries and "alias_of" not in entries[name]:
                    entries[name] = {"runs": []}
            pretrained.write_entries(entries, target)
        for row in sorted(index["runs"], key=lambda r: (r["experiment"], r["seed"])):
            key = (row["experiment"], row["seed"])
            if key in checkpoints and row["seed"] == ship_seed:
                pretrained.ship(row["experiment"], checkpoints[key], target)
            else:
                meta_only = Path(tmp) / f"{row['experiment']}-seed{row['seed']}-meta.pt"
                save_checkpoint(meta_only, nn.Module(), row["meta"])
                pretrained.record_run(row["experiment"], meta_only, target)
            imported.append(f"{row['experiment']}/seed{row['seed']}")
    whole = {r["experiment"] for r in index["runs"]}
    planned = {key.rpartition("/seed")[0] for key in index["info"].get("planned", [])}
    saved = []
    if resume_dir is not None:
        saved = write_saved_states(rows, states, Path(resume_dir), planned, whole)
    elif index.get("resume"):
        n = len(index["resume"])
        saved = [f"not kept: {n} saved state(s) in the pack; --resume-dir keeps them"]
    return {
        "weights_dir": str(target),
        "imported": imported,
        "failed": index["failed"],
        "dropped": index["dropped"],
        "held_back": held,
        "saved_states": saved,
        "info": index["info"],
    }


def release(
    campaign: str | os.PathLike[str],
    seeds: tuple[int, ...] = (0, 1, 2),
    kind: str = "cuda",
    only: list[str] | None = None,
    keep_replaced: str | os.PathLike[str] | None = None,
    weights_dir: Path | None = None,
) -> list[str]:
    """Copy every entry of ``campaign`` into ``weights_dir`` (default: the package's), once
    the campaign is whole; returns the names copied.

    A campaign is a weights folder that the pieces of one long plan were imported into
    (``tools/gpu-campaign``), so that the book's weights change all at once: a judge or a
    baseline never replaced while the runs scored against it are still the old ones. It
    is whole when it holds every selected experiment (``only``), every one of ``seeds``,
    under the gpu budget on a ``kind`` device. ``keep_replaced`` as in :func:`import_results`.
    """
    campaign, target = Path(campaign), pretrained.weights_dir(weights_dir)
    left = build_plan(only, seeds, "gpu", resume_on=kind, weights=campaign)
    if left:
        names = sorted({j.experiment for j in left})
        raise ValueError(
            f"{campaign} still lacks {len(names)} experiment(s) trained under the gpu budget "
            f"on {kind} with seeds {','.join(map(str, seeds))} ({', '.join(names[:5])}"
            f"{', ...' if len(names) > 5 else ''}): nothing was released. Fix: run the "
            "remaining pieces (`reproduce --budget gpu --resume`) and import them there"
        )
    stored = pretrained.entries(campaign)
    names = sorted(n for n, e in stored.items() if "alias_of" not in e)
    if keep_replaced is not None:
        set_aside_replaced({n: run_budgets(stored[n]) for n in names}, target, keep_replaced)
    return copy_entries(names, campaign, target)
