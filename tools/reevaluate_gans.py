"""Re-evaluate recorded GAN runs with the current judges and update their manifest metrics.

Issue #18 moved the GAN metrics from ``mnist-classifier`` to ``mnist-judge`` (with
``mnist-judge-mlp`` as a second opinion). Runs trained before the switch keep their weights
(same sha256); only their metrics are recomputed from those weights with
:func:`mtl_tutorial.gan_eval.evaluate_generator`:

* seed 0 from the shipped weights (``mtl_tutorial/weights/NAME.pt``), which updates both the
  entry's ``metrics`` and its seed-0 run;
* any other seed whose EMA-generator checkpoint is still at ``--runs/NAME/seed<S>.pt``.

A run whose weights are gone keeps its old metrics and is reported, so nothing is silently
mixed: the script exits with status 1 if any recorded run of a named GAN is left
un-evaluated.

    python tools/reevaluate_gans.py [NAME ...] [--runs runs] [--device cpu]
"""

from __future__ import annotations

import argparse
import sys

from tqdm import tqdm

from mtl_tutorial import gan_eval, pretrained, store
from mtl_tutorial.experiments.ch5_mtcgan import VARIANTS


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", help="GAN experiments (default: every recorded GAN)")
    p.add_argument("--runs", default="runs", help="folder with runs/NAME/seed<S>.pt")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    recorded = store.manifest()
    names = args.names or [n for n in VARIANTS if n in recorded]
    unknown = [n for n in names if n not in VARIANTS or n not in recorded]
    if unknown:
        p.error(f"not a recorded GAN experiment: {unknown}; choose from {sorted(VARIANTS)}")
    jobs = [(n, r["seed"]) for n in names for r in recorded[n].get("runs", [])]
    missing = []
    for name, seed in tqdm(jobs, desc="re-evaluating", unit="run"):
        try:
            path = store.seed_weights(name, seed, args.runs)
        except FileNotFoundError:
            missing.append(f"{name} seed {seed}")
            continue
        model = pretrained.load(name, device=args.device, checkpoint=path)
        metrics = gan_eval.evaluate_generator(model, args.device)
        with store.manifest_lock():
            entries = store.entries()
            entry = entries[name]
            for run in entry["runs"]:
                if run["seed"] == seed:
                    run["metrics"] = metrics
            if seed == entry.get("seed", 0) and "sha256" in entry:
                entry["metrics"] = metrics
            store.write_entries(entries)
        tqdm.write(f"{name} seed {seed}: FD {metrics['classifier_fid']:.2f}")
    if missing:
        print(f"kept the old metrics (no weights found): {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
