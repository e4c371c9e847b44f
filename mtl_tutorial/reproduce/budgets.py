"""Move whole manifest entries between weights folders, e.g. to keep one budget's runs.

A manifest entry never mixes two training budgets. When runs of a longer budget replace
the package's entry of an experiment, its shorter-budget runs are copied first into a
second weights folder (``weights/cpu-budget``), so a chapter can still compare every
model at one budget. An entry there may *refer* to the package's file instead of copying
it: its ``file`` is then a relative path such as ``../acgan.pt``, checked against the
same sha256, so a later change of that file is caught, not silently read.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .. import store
from ..files import atomic_copy
from ..provenance import run_budget

__all__ = [
    "copy_entries",
    "entry_budgets",
    "run_budgets",
    "set_aside_replaced",
]


def run_budgets(entry: dict[str, Any]) -> set[str]:
    """The budgets of a manifest entry's recorded runs (``cpu`` for runs recorded before
    budgets existed)."""
    return {run_budget(run) for run in entry.get("runs", [])}


def entry_budgets(name: str, weights_dir: Path | None = None) -> set[str]:
    """The budgets of ``name``'s recorded runs in ``weights_dir``'s manifest."""
    return run_budgets(store.manifest(weights_dir)[name])


def copy_entries(
    names: Iterable[str],
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    refer: bool = False,
) -> list[str]:
    """Replace ``target``'s manifest entries of ``names`` by ``source``'s, runs and all.

    Each shipped weight file is verified against ``source``'s sha256 first, then copied
    into ``target`` (``refer=False``) or referred to by a path relative to ``target``
    (``refer=True``). Nothing is written unless every name has a valid entry in
    ``source``. Returns the names copied.
    """
    source, target = Path(source), Path(target)
    names = list(dict.fromkeys(names))
    if not names:
        return names
    stored = store.entries(source)
    for name in names:
        if name not in stored:
            raise KeyError(
                f"{source / 'manifest.json'} has no entry {name!r}: nothing was copied. "
                f"Fix: pass the folder that holds it (known: {', '.join(sorted(stored)) or 'none'})"
            )
        if "alias_of" in stored[name]:
            raise ValueError(
                f"{name!r} is an alias of {stored[name]['alias_of']!r} in {source}: copy "
                "the entry it names instead"
            )
    files = {name: store.verify_weights(name, source) for name in names if "file" in stored[name]}
    target.mkdir(parents=True, exist_ok=True)
    placed = {}
    for name, path in files.items():
        if refer:
            placed[name] = Path(os.path.relpath(path.resolve(), target.resolve())).as_posix()
        else:
            atomic_copy(path, target / path.name)
            placed[name] = path.name
    with store.manifest_lock(target):
        entries = store.entries(target)
        for name in names:
            entry = dict(stored[name])
            if name in placed:
                entry["file"] = placed[name]
            entries[name] = entry
        store.write_entries(entries, target)
    return names


def set_aside_replaced(
    replacing: dict[str, set[str]],
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
) -> list[str]:
    """Copy into ``target`` every entry of ``source`` that runs of another budget are about
    to replace there; ``replacing`` maps each experiment to the budgets of its new runs.
    Returns the names copied (aliases and entries of the same budget are left alone)."""
    stored = store.entries(Path(source))
    replaced = sorted(
        name
        for name, budgets in replacing.items()
        if name in stored
        and "alias_of" not in stored[name]
        and run_budgets(stored[name]) != budgets
    )
    return copy_entries(replaced, source, target)
