"""How to run a reproduce plan: the options the runner, the fit rule and the call
simulation share."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .pack import PackLimits

__all__ = ["RunOptions"]


@dataclass
class RunOptions:
    """How to run a plan."""

    out: Path
    device: str = "cpu"
    budget: str = "cpu"
    jobs: int = 1
    epochs: int | None = None  # overrides every experiment's budget (``--quick``: 1)
    quick: bool = False
    ship_seed: int = 0
    pack_dir: Path | None = None
    limits: PackLimits = field(default_factory=PackLimits)
    time_limit_s: float | None = None
    resume_runs: bool = False  # resumable runs (the GANs) go on from their last epoch in out/runs
    carry_bytes: int = 0  # under resume_runs: saved states packed for the next call (.carry)
