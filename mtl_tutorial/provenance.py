"""What a recorded run was trained under: its budget, its epoch cap and its kind of device.

A manifest entry never mixes two training budgets (``cpu``, ``gpu``), two epoch caps or
two kinds of device (``cpu``, ``cuda``): the statistics over its seeds must compare like
with like.
Every path that adds a run to an entry (``train --record``/``--ship``, ``reproduce
--import``) asks :func:`mixing` first.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["RUN_FIELDS", "device_kind", "mixing", "run_budget", "run_cap", "run_device_kind"]

#: Meta fields copied from a checkpoint into its manifest run row (when present);
#: ``max_epochs`` is the cap a run was given, ``epochs`` what it trained (a GAN's plateau
#: rule may stop it earlier).
RUN_FIELDS = (
    "seed",
    "epochs",
    "max_epochs",
    "device",
    "threads",
    "torch_version",
    "budget",
    "wall_time_s",
)


def run_budget(run: dict[str, Any]) -> str:
    """The budget a run's meta or manifest row records (``cpu`` for runs recorded before
    budgets existed)."""
    return str(run.get("budget", "cpu"))


def run_cap(run: dict[str, Any]) -> int:
    """The most epochs a run could have trained: its recorded cap, else (runs recorded
    before caps were) the epochs it trained."""
    return int(run.get("max_epochs", run["epochs"]))


def device_kind(description: str) -> str:
    """``"cuda"`` for ``"cuda (NVIDIA H200)"``, ``"cpu"`` for ``"cpu (1 threads)"``."""
    return description.split()[0] if description.strip() else "cpu"


def run_device_kind(run: dict[str, Any]) -> str:
    """The kind of device (``cpu``, ``cuda``) a run's meta or manifest row records
    (``cpu`` for runs recorded without one)."""
    return device_kind(str(run.get("device", "cpu")))


def mixing(run: dict[str, Any], runs: Iterable[dict[str, Any]]) -> str | None:
    """Why ``run`` cannot join an entry holding ``runs``, or ``None`` when the budgets,
    recorded epoch caps and kinds of device of its runs of other seeds all agree with
    ``run``'s (a run replacing its own seed is not compared with the one it replaces).

    >>> mixing({"seed": 1, "budget": "gpu", "device": "cuda (H200)"}, [{"seed": 0, "budget": "gpu"}])
    "it was trained under the 'gpu' budget on cuda, the entry's other runs under ['gpu'] on ['cpu']"
    """
    others = [r for r in runs if r.get("seed") != run.get("seed")]
    budgets, kinds = {run_budget(r) for r in others}, {run_device_kind(r) for r in others}
    budget, kind = run_budget(run), run_device_kind(run)
    caps = {r["max_epochs"] for r in others if "max_epochs" in r}
    if "max_epochs" in run and not caps <= {run["max_epochs"]}:
        return (
            f"it was trained with at most {run['max_epochs']} epochs, the entry's other "
            f"runs with at most {sorted(caps)}"
        )
    if budgets <= {budget} and kinds <= {kind}:
        return None
    return (
        f"it was trained under the {budget!r} budget on {kind}, the entry's other runs under "
        f"{sorted(budgets)} on {sorted(kinds)}"
    )
