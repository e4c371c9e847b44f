"""The reproduction plan: every registered experiment x seed, in dependency order, with estimates.

A job is one (experiment, seed). An experiment's jobs wait for every planned job of the
experiments it ``requires`` (its Δm baselines, the judge classifier). Aliases in the
manifest (``multimnist-hard-equal``...) are not planned: they ship their target's weights.

Estimates (seconds of one run):

* ``cpu``: the experiment's recorded single-thread CPU wall time per epoch (the manifest's
  median over seeds) times the budget's epochs; with no record, the measured CPU step cost
  of its family (``step_costs.json``) times the steps, plus :data:`EVAL_FACTOR` for the
  per-epoch test evaluation.
* ``gpu``: a GPU step of these small networks costs what the framework spends per step,
  not arithmetic. With a measured ``cuda`` step cost in ``step_costs.json`` that is used;
  otherwise the CPU step at batch size 2 (the dispatch overhead) times
  :data:`GPU_LAUNCH_FACTOR`. Experiments of one family that cost more per epoch on the
  CPU than its probe (soft sharing, gradient surgery) are scaled by that ratio. Each run
  also pays :data:`GPU_FIXED_S` (process start, CUDA context, data, final evaluation).

The plan's wall time is a list-scheduling simulation of the jobs on ``jobs`` workers; on
a GPU each worker runs at :data:`GPU_PARALLEL_EFFICIENCY` of its solo speed.

A plan longer than one device session is run in pieces: the jobs go in the order of
:func:`priority_order` (the GANs, genseg and MultiMNIST first, each experiment's seeds
together, so a cut-off leaves whole experiments), and ``resume_on`` leaves out every
experiment that the manifest already holds under this budget on that kind of device.
"""

from __future__ import annotations

import fnmatch
import heapq
import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from .. import experiments, pretrained
from ..provenance import run_budget, run_device_kind
from .measure import load_step_costs

__all__ = [
    "Job",
    "build_plan",
    "estimate_wall",
    "family_of",
    "format_plan",
    "priority_order",
    "run_estimate",
]

#: family -> (training items, batch size, drop_last): the steps of one epoch
FAMILY_DATA = {
    "mnist": (60_000, 128, False),
    "multimnist": (60_000, 256, False),
    "shapes-dense": (10_000, 64, False),
    "shapes-nt": (3_000, 64, False),
    "shapes-seeds": (10_000, 64, False),
    "shapes-box": (10_000, 64, False),
    "genseg": (12_000, 128, False),
    "gan": (60_000, 64, True),
}
EVAL_FACTOR = 1.15  # per-epoch test evaluation and bookkeeping on top of the training steps
GPU_LAUNCH_FACTOR = 1.5  # a CUDA step = CPU dispatch overhead at batch 2 x this (assumption)
GPU_FIXED_S = 15.0  # per run on the GPU: interpreter + CUDA context + data + final evaluation
GPU_PARALLEL_EFFICIENCY = 0.6  # speed of each of 16 processes sharing one GPU (assumption)
#: one device call as tools/gpu_reproduce.sh spends it (a test reads the script's numbers):
#: CALL_S for the whole script (the device's limit is 600 s), of which 90 s are kept for
#: building the data and packing; about 50 s go to the logs and the dry run (a first call
#: also measures the step costs, up to 120 s more). The rest trains: GPU_CALL_S.
GPU_SCRIPT_S, GPU_PACK_RESERVE_S, GPU_SETUP_S = 540.0, 90.0, 50.0
GPU_CALL_S = GPU_SCRIPT_S - GPU_PACK_RESERVE_S - GPU_SETUP_S  # seconds of training per call
CPU_FIXED_S = 10.0  # per run on the CPU without a recorded wall time
#: what a short GPU session trains first (issue #14): the GANs, genseg, then MultiMNIST;
#: the rest after. A requirement (the judge) ranks with its most urgent dependent.
FAMILY_RANK = {"gan": 0, "genseg": 1, "multimnist": 2}


@dataclass(frozen=True)
class Job:
    """One training run of the plan."""

    experiment: str
    seed: int
    family: str
    epochs: dict[str, int]  # budget -> epochs
    requires: tuple[str, ...] = ()
    estimate_s: dict = field(default_factory=dict)  # device kind -> seconds of one run; budget

    @property
    def key(self) -> str:
        return f"{self.experiment}/seed{self.seed}"


def family_of(exp: experiments.Experiment) -> str:
    """The family whose data and network size an experiment shares (see :data:`FAMILY_DATA`)."""
    name = exp.name
    if exp.chapter.startswith("5"):  # the GANs, and the judges: MNIST classifiers
        return "gan" if name in experiments.ch5_mtcgan.VARIANTS else "mnist"
    if exp.chapter.startswith("4"):
        return "genseg"
    if name.startswith("shapes-nt"):
        return "shapes-nt"
    if name == "shapes-seed003":
        return "shapes-seeds"
    if name == "shapes-seed004-box":
        return "shapes-box"
    return "shapes-dense" if name.startswith("shapes") else "multimnist"


def steps_per_epoch(family: str) -> int:
    n, batch, drop_last = FAMILY_DATA[family]
    return n // batch if drop_last else -(-n // batch)


def _aliases(weights: Path | None = None) -> set[str]:
    """The alias entries of the package's manifest and of ``weights``'."""
    folders = {pretrained.WEIGHTS_DIR, pretrained.weights_dir(weights)}
    return {n for f in folders for n, e in pretrained.entries(f).items() if "alias_of" in e}


def trained_on(entry: dict, budget: str, kind: str, seeds: tuple[int, ...]) -> bool:
    """Whether a manifest entry ships weights and holds a run of every one of ``seeds``
    trained under ``budget`` on a device of ``kind`` (``"cuda"``, ``"cpu"``)."""
    runs = {r["seed"]: r for r in entry.get("runs", [])}
    return "file" in entry and all(
        s in runs and run_budget(runs[s]) == budget and run_device_kind(runs[s]) == kind
        for s in seeds
    )


def _cpu_epoch_s(name: str, shipped: dict[str, dict]) -> float | None:
    """Median recorded single-thread CPU seconds per epoch of ``name`` (None: no record)."""
    rows = [
        r["wall_time_s"] / r["epochs"]
        for r in shipped.get(name, {}).get("runs", [])
        if r.get("epochs")
        and r.get("wall_time_s")
        and r.get("device")
        and run_device_kind(r) == "cpu"
    ]
    return statistics.median(rows) if rows else None


def run_estimate(
    exp: experiments.Experiment, budget: str, costs: dict, shipped: dict[str, dict]
) -> dict[str, float]:
    """Estimated seconds of one run of ``exp`` under ``budget`` on ``cpu`` and on ``cuda``."""
    family, epochs = family_of(exp), exp.estimated_epochs(budget)
    steps = steps_per_epoch(family)
    probe = costs.get("cpu", {}).get("families", {}).get(family, {})
    recorded = _cpu_epoch_s(exp.name, shipped)
    probe_epoch = probe.get("step_s", 0.0) * steps * EVAL_FACTOR
    cpu_epoch = recorded or probe_epoch
    cpu = cpu_epoch * epochs + (0.0 if recorded else CPU_FIXED_S)
    ratio = min(max(cpu_epoch / probe_epoch, 0.5), 4.0) if recorded and probe_epoch else 1.0
    measured = costs.get("cuda", {}).get("families", {}).get(family, {}).get("step_s")
    gpu_step = measured or probe.get("overhead_step_s", 0.0) * GPU_LAUNCH_FACTOR
    gpu = gpu_step * ratio * steps * epochs * EVAL_FACTOR + GPU_FIXED_S
    return {
        "cpu": round(cpu, 1),
        "cuda": round(gpu, 1),
        "budget": budget,
        "epochs": epochs,  # the epochs counted; a fixed part per run besides them:
        "fixed_cpu": 0.0 if recorded else CPU_FIXED_S,
        "fixed_cuda": GPU_FIXED_S,
    }


def build_plan(
    only: list[str] | None = None,
    seeds: tuple[int, ...] = (0, 1, 2),
    budget: str = "gpu",
    costs: dict | None = None,
    resume_on: str | None = None,
    weights: Path | None = None,
) -> list[Job]:
    """Every registered experiment matching ``only`` (globs) x ``seeds``, dependencies first.

    A required experiment that is not selected is added when the weights folder lacks
    what its dependents read: its recorded runs, or for a judge
    (``Experiment.reads_weights_of``) its weight file; otherwise they read its results.
    ``resume_on`` (a device kind such as ``"cuda"``): leave out the experiments whose
    manifest entry already holds every seed under ``budget`` on that kind of device (an
    experiment is retrained whole or not at all, so an entry never mixes two sessions'
    halves); their weights are read like any unselected requirement's.
    ``weights``: the weights folder whose manifest says what is trained (default:
    :func:`pretrained.weights_dir`); the CPU estimates read the package's records.
    """
    costs = load_step_costs() if costs is None else costs
    aliases = _aliases(weights)
    registry = {e.name: e for e in experiments.all_experiments() if e.name not in aliases}
    selected = {n for n in registry if not only or any(fnmatch.fnmatchcase(n, g) for g in only)}
    if not selected:
        raise ValueError(f"--only {only} matches no experiment; see `python -m mtl_tutorial list`")
    for name in list(selected):
        for dep in registry[name].requires:
            if dep not in registry:
                raise KeyError(f"{name!r} requires {dep!r}, which is not a registered experiment")
    folder = pretrained.weights_dir(weights)
    shipped = pretrained.manifest(folder)
    same = folder.resolve() == pretrained.WEIGHTS_DIR.resolve()
    records = shipped if same else pretrained.manifest(pretrained.WEIGHTS_DIR)
    if resume_on is not None:
        selected -= {
            n for n in selected if trained_on(shipped.get(n, {}), budget, resume_on, seeds)
        }
        if not selected:
            return []
    pending = sorted(selected)
    while pending:  # add the missing dependencies: no runs, or weights read but not on disk
        name = pending.pop()
        for dep in registry[name].requires:
            if dep in selected:
                continue
            entry = shipped.get(dep, {})
            if dep in registry[name].reads_weights_of:
                missing = "file" not in entry or not (folder / entry["file"]).is_file()
            else:  # a Δm baseline: its recorded metrics are what is read
                missing = not entry.get("runs")
            if missing:
                selected.add(dep)
                pending.append(dep)
    order = _topological([registry[n] for n in sorted(selected)])
    return [
        Job(
            exp.name,
            seed,
            family_of(exp),
            {b: exp.epochs_for(b) for b in experiments.BUDGETS},
            tuple(d for d in exp.requires if d in selected),
            run_estimate(exp, budget, costs, records),
        )
        for exp in order
        for seed in seeds
    ]


def _topological(exps: list[experiments.Experiment]) -> list[experiments.Experiment]:
    """Kahn's algorithm over the ``requires`` edges inside ``exps`` (ties: by name)."""
    names = {e.name: e for e in exps}
    deps = {e.name: {d for d in e.requires if d in names} for e in exps}
    ready = [n for n, d in deps.items() if not d]
    heapq.heapify(ready)
    out: list[experiments.Experiment] = []
    while ready:
        name = heapq.heappop(ready)
        out.append(names[name])
        for other, d in deps.items():
            if name in d:
                d.discard(name)
                if not d:
                    heapq.heappush(ready, other)
    if len(out) != len(exps):
        cycle = sorted(n for n, d in deps.items() if d)
        raise ValueError(f"the experiments' requires form a cycle among: {', '.join(cycle)}")
    return out


def estimate_wall(plan: list[Job], device: str, jobs: int) -> float:
    """Seconds to run ``plan`` on ``jobs`` parallel workers (list scheduling, longest first)."""
    slow = 1.0 / GPU_PARALLEL_EFFICIENCY if device == "cuda" and jobs > 1 else 1.0
    length = {j.key: j.estimate_s[device] * slow for j in plan}
    by_exp: dict[str, list[Job]] = {}
    for j in plan:
        by_exp.setdefault(j.experiment, []).append(j)
    finish: dict[str, float] = {}
    free = [0.0] * max(jobs, 1)
    for j in priority_order(plan):
        ready = max((finish[d.key] for r in j.requires for d in by_exp.get(r, [])), default=0.0)
        worker = min(range(len(free)), key=lambda w: max(free[w], ready))
        start = max(free[worker], ready)
        finish[j.key] = free[worker] = start + length[j.key]
    return max(finish.values(), default=0.0)


def priority_order(plan: list[Job]) -> list[Job]:
    """The order jobs start in: the most urgent family first (:data:`FAMILY_RANK`), then
    dependency level, then the longest experiment; an experiment's seeds go together,
    seed 0 (it ships) first, so a plan cut off by a time limit leaves whole experiments.
    The runner starts the first job whose requirements have finished."""
    level: dict[str, int] = {}
    for j in plan:  # the plan is in dependency order
        level[j.experiment] = 1 + max((level.get(r, 0) for r in j.requires), default=-1)
    rank: dict[str, int] = {}
    for j in reversed(plan):  # every dependent is ranked before its requirements
        own = FAMILY_RANK.get(j.family, len(FAMILY_RANK))
        rank[j.experiment] = min(rank.get(j.experiment, own), own)
        for r in j.requires:
            rank[r] = min(rank.get(r, rank[j.experiment]), rank[j.experiment])
    longest: dict[str, float] = {}
    for j in plan:
        longest[j.experiment] = max(longest.get(j.experiment, 0.0), j.estimate_s.get("cuda", 0.0))
    return sorted(
        plan,
        key=lambda j: (
            rank[j.experiment],
            level[j.experiment],
            -longest[j.experiment],
            j.experiment,
            j.seed,
        ),
    )


def format_plan(cpu_plan: list[Job], gpu_plan: list[Job], jobs: dict[str, int], costs: dict) -> str:
    """The ``--dry-run`` report: one line per experiment, then totals and their derivation.

    ``cpu_plan`` gives the CPU estimates (its budget), ``gpu_plan`` the CUDA ones; both
    hold the same jobs in the same order.
    """
    cpu_budget = cpu_plan[0].estimate_s.get("budget", "cpu")
    lines = [
        f"{'experiment':<32} {'seeds':<7} {'family':<13} epochs cpu/gpu   "
        f"est. run: cpu ({cpu_budget} budget) / cuda (gpu budget)"
    ]
    seen: dict[str, list[tuple[Job, Job]]] = {}
    for c, g in zip(cpu_plan, gpu_plan, strict=True):
        seen.setdefault(c.experiment, []).append((c, g))
    for name, pairs in seen.items():
        c, g = pairs[0]
        mark = "*" if c.epochs["gpu"] != c.epochs["cpu"] else " "
        lines.append(
            f"{name:<32} {','.join(str(x.seed) for x, _ in pairs):<7} {c.family:<13} "
            f"{c.epochs['cpu']:>3} / {c.epochs['gpu']:<3}{mark}     "
            f"{c.estimate_s['cpu']:7.0f}s / {g.estimate_s['cuda']:5.0f}s"
            + (f"   after {', '.join(c.requires)}" if c.requires else "")
        )
    cpu_costs = costs.get("cpu", {})
    gpu_wall = estimate_wall(gpu_plan, "cuda", jobs["cuda"])
    gpu_step = (
        f"measured cuda step cost ({costs['cuda'].get('device')})"
        if "cuda" in costs
        else f"CPU step at batch 2 ({cpu_costs.get('device', 'not measured')}, "
        f"torch {cpu_costs.get('torch_version', '?')}) x {GPU_LAUNCH_FACTOR} (launch-bound:"
        " an H200 does these small networks' arithmetic in microseconds)"
    )
    lines += [
        "",
        f"{len(cpu_plan)} runs of {len(seen)} experiments (* = the gpu budget trains longer)",
        f"estimated wall time: cpu, {jobs['cpu']} job(s) of 1 thread: "
        f"{estimate_wall(cpu_plan, 'cpu', jobs['cpu']) / 60:.1f} min; "
        f"cuda, {jobs['cuda']} jobs: {gpu_wall / 60:.1f} min if it ran in one go "
        f"(at least {math.ceil(gpu_wall / GPU_CALL_S)} device call(s) of {GPU_CALL_S:.0f} s "
        "of training)",
        "derivation: a run trains its budget's epochs, except that a gpu-budget run with a "
        "stopping rule (the GANs: plateau) is counted at the epochs where the rule is expected "
        "to end it (dev-notes/gpu.md);",
        "  cpu = recorded 1-thread CPU seconds per epoch (manifest) x epochs;",
        f"  cuda = {gpu_step} x steps x epochs x {EVAL_FACTOR} (evaluation) "
        f"+ {GPU_FIXED_S:.0f} s per run;",
        f"  {jobs['cuda']} processes share the GPU at {GPU_PARALLEL_EFFICIENCY:.0%} of solo "
        "speed each (assumption until a GPU run measures it: see dev-notes/gpu.md).",
    ]
    return "\n".join(lines)


def plan_as_json(plan: list[Job]) -> str:
    """The plan as JSON (for tools)."""
    return json.dumps([j.__dict__ for j in plan], indent=1)
