"""Command line: ``python -m mtl_tutorial {list,train,evaluate,sample,data,doctor}``."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from . import classroom, doctor, experiments, pretrained, reproduce
from .errors import UsageError
from .files import check_writable_dir
from .models.protocols import Sampler
from .utils import get_device
from .weighting import METHODS

DEBUG_ENV_VAR = "MTL_TUTORIAL_DEBUG"

__all__ = ["build_parser", "main"]


def _cmd_list(args: argparse.Namespace) -> int:
    shipped = set(pretrained.available())
    rows = [
        {
            "name": e.name,
            "chapter": e.chapter,
            "description": e.description,
            "metrics": list(e.metrics),
            "pretrained": e.name in shipped,
        }
        for e in experiments.all_experiments()
    ]
    methods = list(METHODS)
    if args.json:
        print(json.dumps({"experiments": rows, "methods": methods}, indent=1))
        return 0
    if not rows:
        print("No experiments are registered yet.")
        print(f"weighting methods: {', '.join(methods)}")
        return 0
    width = max(len(e.name) for e in experiments.all_experiments())
    for r in rows:
        mark = "*" if r["pretrained"] else " "
        print(f"{mark} {r['name']:<{width}}  [{r['chapter']}] {r['description']}")
    print("\n* = pretrained weights ship with the package")
    print(f"weighting methods: {', '.join(methods)}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    if args.quick and (args.ship or args.record):
        raise UsageError(
            "refusing to ship or record a --quick run: it is a smoke test, not a result; "
            "leave out --quick"
        )
    exp = experiments.get(args.experiment)  # an unknown name fails before anything runs
    device = get_device(args.device)
    # every place the run will write is checked now, not after an hour of training
    check_writable_dir(Path(args.out) / exp.name, f"--out {args.out}")
    if args.ship or args.record:
        pretrained.check_writable()
    config = experiments.TrainConfig(
        seed=args.seed,
        epochs=args.epochs,
        device=device,
        quick=args.quick,
        out_dir=Path(args.out),
        resume=args.resume,
    )
    result, path = experiments.run(exp.name, config)
    if args.ship:
        pretrained.ship(exp.name, path)
    elif args.record:
        pretrained.record_run(exp.name, path)
    print(
        json.dumps(
            {
                "experiment": exp.name,
                "checkpoint": str(path),
                "epochs": result.epochs,
                "metrics": result.metrics,
            },
            indent=1,
        )
    )
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    exp = experiments.get(args.experiment)
    device = get_device(args.device)
    checkpoint = args.checkpoint or pretrained.weights_path(exp.name)
    model = pretrained.load(exp.name, device=device, checkpoint=args.checkpoint)
    with torch.no_grad():
        metrics = exp.evaluate(model, device)
    if args.json:
        print(
            json.dumps({"experiment": exp.name, "checkpoint": str(checkpoint), "metrics": metrics})
        )
    else:
        print(f"{exp.name} ({checkpoint})")
        for k, v in metrics.items():
            print(f"  {k:<16} {v:.4f}")
    return 0


def _cmd_sample(args: argparse.Namespace) -> int:
    """Sample from a :class:`~mtl_tutorial.models.protocols.Sampler`:
    ``sample(labels, z=None, generator=None)``, where an unconditional model
    (``num_classes`` None) uses only the number of labels. Images are mapped to [0, 1]
    from the model's ``sample_range``.
    """
    exp = experiments.get(args.experiment)
    device = get_device(args.device)
    model = pretrained.load(exp.name, device=device, checkpoint=args.checkpoint)
    if not isinstance(model, Sampler):
        raise UsageError(
            f"experiment {exp.name!r} is not generative: its model has no sample() method; "
            "pick a GAN or VAE experiment (e.g. mtcgan, genseg-single-gen)"
        )
    classes = model.num_classes
    if args.label is not None:
        if classes is None:
            raise UsageError(f"experiment {exp.name!r} is unconditional: leave out --label")
        if not 0 <= args.label < classes:
            raise UsageError(f"--label must lie in [0, {classes - 1}], got {args.label}")
    noise = torch.Generator().manual_seed(args.seed)  # on the CPU: the same images on any device
    labels = (
        torch.arange(args.n) % (classes or 1)
        if args.label is None
        else torch.full((args.n,), args.label, dtype=torch.long)
    )
    with torch.no_grad():
        images = model.sample(labels, generator=noise).cpu().float()
    low, high = model.sample_range
    images = ((images - low) / (high - low)).clamp(0, 1)
    from torchvision.utils import save_image  # lazy: torchvision is slow to import

    out = Path(args.out)
    if out.is_dir():
        raise UsageError(f"--out {out} is a folder; give a .png file name, e.g. {out}/samples.png")
    check_writable_dir(out.parent, f"--out {out}")
    if args.nrow:
        nrow = args.nrow
    elif args.label is None and classes:  # cycling labels: one column per class
        nrow = min(classes, args.n)
    else:
        nrow = max(1, math.ceil(math.sqrt(args.n)))
    save_image(images, out, nrow=nrow, padding=2, pad_value=1.0)
    print(json.dumps({"experiment": exp.name, "out": str(out), "n": args.n, "label": args.label}))
    return 0


def _cmd_data_summary(args: argparse.Namespace) -> int:
    from .data.summary import dataset_summary, format_summary

    rows = dataset_summary(seed=args.seed)
    print(json.dumps(rows, indent=1) if args.json else format_summary(rows))
    return 0


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]  # argparse: NoReturn
        self.exit(2, f"error: {self.prog}: {message} (see `{self.prog} --help`)\n")


def _at_least(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


def _seed(text: str) -> int:
    value = _at_least(0)(text)
    if value > experiments.MAX_SEED:
        raise argparse.ArgumentTypeError(f"must lie in [0, {experiments.MAX_SEED}], got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; chapters add experiments, never subcommands."""
    parser = _Parser(
        prog="python -m mtl_tutorial",
        description="Multi-task learning tutorial: list, train and evaluate the book's experiments.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list the registered experiments")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("train", help="train an experiment and save a checkpoint")
    p.add_argument("experiment", help="experiment name (see `list`)")
    p.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda or mps")
    p.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")
    p.add_argument(
        "--epochs",
        type=_at_least(1),
        default=None,
        help="number of epochs, at least 1 (default: the experiment's)",
    )
    p.add_argument(
        "--quick", action="store_true", help="a few batches only: a smoke test, not a result"
    )
    p.add_argument(
        "--out", default="runs", help="folder for checkpoints and histories (default runs/)"
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="go on from the last epoch saved in --out, if any (GANs: OUT/NAME/seedS_full.pt)",
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--ship", action="store_true", help="copy the result into the package's pretrained weights"
    )
    g.add_argument(
        "--record", action="store_true", help="record this seed's metrics in the manifest only"
    )
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser(
        "evaluate", help="evaluate shipped weights (or --checkpoint) on the test split"
    )
    p.add_argument("experiment", help="experiment name (see `list`)")
    p.add_argument(
        "--checkpoint", default=None, help="checkpoint file (default: the shipped weights)"
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    p.add_argument(
        "--json", action="store_true", help='print one JSON object {"experiment", "metrics", ...}'
    )
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser(
        "sample", help="write a PNG grid of samples of a generative experiment (e.g. mtcgan)"
    )
    p.add_argument("experiment", help="experiment name (see `list`)")
    p.add_argument(
        "--label", type=int, default=None, help="class to generate (default: cycle through all)"
    )
    p.add_argument("--n", type=_at_least(1), default=64, help="number of samples (default 64)")
    p.add_argument("--out", required=True, help="PNG file to write")
    p.add_argument(
        "--checkpoint", default=None, help="checkpoint file (default: the shipped weights)"
    )
    p.add_argument("--seed", type=_seed, default=0, help="noise seed (default 0)")
    p.add_argument(
        "--nrow",
        type=_at_least(1),
        default=None,
        help="images per row (default: sqrt(n), or one per class without --label)",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    p.set_defaults(func=_cmd_sample)

    p = sub.add_parser("data", help="dataset utilities")
    dsub = p.add_subparsers(dest="data_command", required=True)
    d = dsub.add_parser("summary", help="print each dataset's split sizes and tensor shapes")
    d.add_argument(
        "--seed", type=_seed, default=0, help="seed of the composed datasets (default 0)"
    )
    d.add_argument("--json", action="store_true", help="print JSON instead of a table")
    d.set_defaults(func=_cmd_data_summary)
    doctor.add_parser(sub)
    reproduce.add_parser(sub)
    classroom.add_parser(sub)
    return parser


def _message(err: BaseException) -> str:
    """One line for ``err``: its own message, or the type and key of an unexpected error."""
    if (
        isinstance(err, KeyError)
        and err.args
        and isinstance(err.args[0], str)
        and " " in err.args[0]
    ):
        text = err.args[0]  # our KeyErrors carry a sentence (unknown experiment, ...)
    elif isinstance(err, KeyError):
        text = (
            f"internal error: missing key {err.args[0] if err.args else ''!r} "
            f"(set {DEBUG_ENV_VAR}=1 for the traceback)"
        )
    else:
        text = str(err) or type(err).__name__
    return " ".join(text.split())  # one line


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m mtl_tutorial``.

    Usage errors (a bad option, an unknown experiment) exit with status 2, every other
    error with status 1; either way one line goes to stderr, with no traceback unless
    ``MTL_TUTORIAL_DEBUG=1``.
    """
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:  # e.g. `python -m mtl_tutorial list | head`
        sys.stderr.close()  # nothing more can be written; exit quietly
        return 0
    except KeyboardInterrupt:
        print("error: interrupted; files already written are complete", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - the CLI's one place that turns errors into text
        if os.environ.get(DEBUG_ENV_VAR) == "1":
            traceback.print_exc()
        print(f"error: {_message(err)}", file=sys.stderr)
        return 2 if isinstance(err, (ValueError, KeyError)) else 1
