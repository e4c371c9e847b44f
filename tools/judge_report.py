"""The six shipped GANs judged by the stronger judges of issue #18 (numbers in dev-notes/judge.md).

For each GAN of chapter 5 (``dcgan cgan acgan mtcgan mtcgan-no-latent mtcgan-no-patch``,
shipped weights) and the shipped judges ``mnist-judge`` (CNN) and ``mnist-judge-mlp`` (MLP):

* label accuracy (conditional GANs) on ``--n`` balanced samples of noise seed 0, with its
  95 % Wilson interval, under both judges, and under the shipped ``mnist-classifier`` for
  comparison, and counts of the samples they disagree on (``disagreement``);
* the Fréchet distance in ``mnist-judge``'s feature space, on the units live on the real
  test images, against all 10,000 MNIST test images: mean and sample std over ``--seeds``;
* the floor: the same distance between ``--n`` real train images (seeded subset) and test.

Usage: python tools/judge_report.py [--n 10000] [--seeds 0 1 2 3] [--json OUT.json]
Single-threaded on the CPU (about 10 minutes).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from mtl_tutorial import gan_eval, pretrained
from mtl_tutorial.data import MNISTDigits

GANS = ("dcgan", "cgan", "acgan", "mtcgan", "mtcgan-no-latent", "mtcgan-no-patch")
JUDGE, MLP = "mnist-judge", "mnist-judge-mlp"


@torch.no_grad()
def predictions(model: torch.nn.Module, images: torch.Tensor, batch: int = 1000) -> torch.Tensor:
    """The class each image is assigned to by ``model`` (in eval mode)."""
    model.eval()
    return torch.cat(
        [model(images[i : i + batch])["digit"].argmax(1) for i in range(0, len(images), batch)]
    )


def accuracy(correct: torch.Tensor) -> dict[str, float]:
    """Accuracy of a bool vector with its 95 % Wilson interval."""
    k, n = int(correct.sum()), len(correct)
    low, high = gan_eval.binomial_interval(k, n)
    return {"acc": k / n, "low": low, "high": high, "correct": k, "n": n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="samples per seed (default 10000)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()

    judge, mlp = pretrained.load(JUDGE, "cpu"), pretrained.load(MLP, "cpu")
    old = gan_eval.load_classifier("cpu")
    test_images, test_labels = MNISTDigits("test").batch(torch.arange(10_000))
    train = MNISTDigits("train")
    index = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[: args.n]
    real = gan_eval.classifier_features(judge, test_images)
    live = gan_eval.live_units(real)
    live_old = gan_eval.live_units(gan_eval.classifier_features(old, test_images))
    report: dict = {
        "n": args.n,
        "seeds": args.seeds,
        "weights_sha256": {m: pretrained.manifest()[m]["sha256"] for m in (JUDGE, MLP)},
        "test_accuracy": {
            name: float((predictions(m, test_images) == test_labels["digit"]).float().mean())
            for name, m in ((JUDGE, judge), (MLP, mlp), ("mnist-classifier", old))
        },
        "live_units": [int(live.sum()), len(live)],
        "live_units_mnist_classifier": [int(live_old.sum()), len(live_old)],
        "fd_floor": gan_eval.frechet_distance(
            gan_eval.classifier_features(judge, train.batch(index)[0]), real, live
        ),
        "gans": {},
    }
    print(f"live units of {JUDGE}: {report['live_units']}, floor FD {report['fd_floor']:.3f}")
    for name in GANS:
        generator = pretrained.load(name, "cpu")
        row: dict = {}
        if generator.num_classes is not None:
            images, labels = gan_eval.generate(generator, args.n, seed=args.seeds[0])
            hits = {
                m: predictions(model, images) == labels
                for m, model in ((JUDGE, judge), (MLP, mlp), ("mnist-classifier", old))
            }
            row = {m: accuracy(h) for m, h in hits.items()}
            old_ok, judge_ok, mlp_ok = hits["mnist-classifier"], hits[JUDGE], hits[MLP]
            lenient = old_ok & ~judge_ok  # accepted by mnist-classifier, rejected by mnist-judge
            row["disagreement"] = {
                "old_accepts_judge_rejects": int(lenient.sum()),
                "of_those_mlp_rejects_too": int((lenient & ~mlp_ok).sum()),
                "judge_accepts_old_rejects": int((judge_ok & ~old_ok).sum()),
                "old_accepts_mlp_rejects": int((old_ok & ~mlp_ok).sum()),
                "all_three_reject": int((~old_ok & ~judge_ok & ~mlp_ok).sum()),
            }
            assert row[JUDGE]["acc"] == gan_eval.label_accuracy(judge, images, labels)
        fds = gan_eval.fd_over_seeds(generator, judge, real, args.seeds, args.n, live)
        row["fd"] = fds
        row["fd_mean"], row["fd_std"] = (
            statistics.mean(fds),
            statistics.stdev(fds) if len(fds) > 1 else 0.0,
        )
        report["gans"][name] = row
        acc = " ".join(
            f"{m}={row[m]['acc']:.4f} [{row[m]['low']:.4f}, {row[m]['high']:.4f}]"
            for m in (JUDGE, MLP, "mnist-classifier")
            if m in row
        )
        print(f"{name:17s} FD {row['fd_mean']:.3f} ± {row['fd_std']:.3f}  {acc}", flush=True)
    report["wall_time_s"] = round(time.perf_counter() - start, 1)
    print(json.dumps(report, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
