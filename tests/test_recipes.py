"""Registered experiments: quick training runs per family, shipped weights and the CLI contract."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch

from mtl_tutorial import experiments, pretrained
from mtl_tutorial.cli import main
from mtl_tutorial.experiments import TrainConfig


def test_every_shipped_checkpoint_fits_its_experiment():
    entries = pretrained.manifest()
    for name, entry in entries.items():
        path = pretrained.weights_path(name)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"], name
        model = pretrained.load(name)  # raises CheckpointError on an architecture mismatch
        assert not model.training
        assert entry["device"] and entry["wall_time_s"] > 0 and entry["epochs"] >= 1
        assert any(r["seed"] == entry["seed"] for r in entry["runs"])


def test_the_gpu_budget_gans_ship_runs_of_the_gpu_budget():
    """The package's entries of GPU_BUDGET_GANS: at least 3 seeds, every one trained under
    the gpu budget (plateau rule, capped at their recorded cap, at most GAN_GPU_EPOCHS),
    some beyond the CPU budget."""
    from mtl_tutorial.provenance import run_cap
    from mtl_tutorial.recipes.mtcgan import GAN_EPOCHS, GAN_GPU_EPOCHS, GPU_BUDGET_GANS, VARIANTS

    entries = pretrained.manifest()
    for name in GPU_BUDGET_GANS:
        entry = entries[name]
        # sha256 and architecture checked
        assert pretrained.load(name).conditional == VARIANTS[name][1].conditional, name
        assert {0, 1, 2} <= {r["seed"] for r in entry["runs"]}, name
        for run in entry["runs"]:  # the plateau rule may stop a run before the cap
            assert run["budget"] == "gpu" and run["epochs"] <= run_cap(run) <= GAN_GPU_EPOCHS
            assert "max_epochs" in run, (name, run["seed"])  # the cap changed: keep each one
            assert len(run["history"]) == run["epochs"], (name, run["seed"])
        assert max(r["epochs"] for r in entry["runs"]) > GAN_EPOCHS, name


@pytest.mark.parametrize(
    "name",
    [
        "shapes-nt-r050-hard",
        "shapes-soft",
        "shapes-seed003",
        "shapes-seed004-box",
        "multimnist-cross-stitch",
    ],
)
def test_quick_training_runs(name, tmp_path, mnist_root):
    result, path = experiments.run(name, TrainConfig(seed=0, quick=True, out_dir=tmp_path))
    assert path.exists() and result.epochs == 1
    exp = experiments.get(name)
    expected = {m for m in exp.metrics if m not in ("params", "delta_m")}
    assert expected <= set(result.metrics)
    for key in expected:
        assert 0.0 <= result.metrics[key] <= 1.0 or key.endswith("mse")


def test_quick_training_is_deterministic(tmp_path):
    runs = [
        experiments.run(
            "shapes-nt-r000-hard", TrainConfig(seed=4, quick=True, out_dir=tmp_path / s)
        )[0]
        for s in "ab"
    ]
    assert runs[0].metrics == runs[1].metrics
    for (k, a), b in zip(
        runs[0].model.state_dict().items(), runs[1].model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), k


def test_shipped_multimnist_hard_meets_the_bar(capsys, mnist_root):
    assert main(["evaluate", "multimnist-hard", "--json", "--device", "cpu"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["experiment"] == "multimnist-hard"
    metrics = report["metrics"]
    assert metrics["acc_left"] >= 0.96 and metrics["acc_right"] >= 0.95
    assert "delta_m" in metrics and -1.0 < metrics["delta_m"] < 1.0


def test_shipped_genseg_joint_reproduces_its_manifest_metrics(capsys, mnist_root):
    # the shipped weights, evaluated again (test split, seeded VAE samples for the FID), give the
    # numbers the manifest recorded when they were trained
    assert main(["evaluate", "genseg-joint", "--json", "--device", "cpu"]) == 0
    out = json.loads(capsys.readouterr().out)
    recorded = pretrained.manifest()["genseg-joint"]["metrics"]
    for key in ("miou", "pixel_acc", "recon_mse", "kl", "classifier_fid", "classifier_fid_floor"):
        assert out["metrics"][key] == pytest.approx(recorded[key], rel=1e-3), key


def test_cli_refuses_to_ship_quick_runs(capsys):
    assert main(["train", "shapes-nt-r000-hard", "--quick", "--ship"]) == 2
    assert "refusing to ship" in capsys.readouterr().err


def test_every_experiment_name_is_written_out_in_its_chapter_module():
    # `grep -r NAME mtl_tutorial/experiments` must find every experiment's definition
    import ast
    from pathlib import Path

    literals = set()
    for chapter in experiments.CHAPTERS:
        tree = ast.parse(Path(chapter.__file__).read_text())
        literals |= {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)}
    missing = [e.name for e in experiments.all_experiments() if e.name not in literals]
    assert missing == []


def test_spec_tables_follow_the_naming_rules():
    from mtl_tutorial.experiments import ch2_sharing, ch3_weighting, ch4_genseg
    from mtl_tutorial.weighting import METHODS

    assert [n for n, _ in ch2_sharing.SOFT_SWEEP_RUNS] == [
        f"multimnist-soft-lambda-{lam:g}" for lam in ch2_sharing.SOFT_SWEEP
    ]
    for r, runs in ch2_sharing.NT_RUNS.items():
        tag = ch2_sharing.nt_tag(r)
        assert runs == tuple(
            f"shapes-nt-{tag}-{k}" for k in ("single-shapes", "single-colours", "hard")
        )
        assert ch2_sharing.NT_SOFT_RUNS[r] == f"shapes-nt-{tag}-soft"
        assert ch2_sharing.NT_WIDE_RUNS[r] == f"shapes-nt-{tag}-hard-wide"
    for family, runs in (
        ("multimnist-hard", ch3_weighting.MULTIMNIST_METHOD_RUNS),
        ("shapes-dense", ch3_weighting.DENSE_METHOD_RUNS),
    ):
        assert runs == tuple((f"{family}-{m}", m) for m in METHODS)
    assert [n for n, _ in ch3_weighting.STATIC_SWEEP_RUNS] == [
        f"multimnist-hard-static-w{w:g}" for w in ch3_weighting.STATIC_SWEEP
    ]
    assert [n for n, _ in ch4_genseg.LAMBDA_RUNS] == [
        f"genseg-joint-lambda-{lam:g}" for lam in ch4_genseg.LAMBDA_SWEEP
    ]


def test_the_judges_are_registered_under_the_names_gan_eval_loads():
    from mtl_tutorial import gan_eval

    for name in (gan_eval.CLASSIFIER, gan_eval.JUDGE, gan_eval.SECOND_JUDGE):
        assert experiments.get(name).chapter == "5-mtcgan"
        assert name in experiments.get("mtcgan-proj").requires  # trained before any GAN


def test_old_recipe_paths_keep_the_names_notebooks_use():
    from mtl_tutorial.experiments import ch2_sharing
    from mtl_tutorial.recipes import genseg, mtcgan, sharing, weighting

    for name in ("DENSE", "MULTIMNIST", "NT_RELATEDNESS", "SEEDS_BOX", "SOFT_SWEEP", "LEFT"):
        assert getattr(sharing, name) is getattr(ch2_sharing, name)
    assert sharing._nt_tag(0.5) == "r050" and sharing.single_task_baselines and sharing.Setup
    assert weighting.STATIC_SWEEP and weighting.EQUAL_ALIASES and weighting.weighting_factory
    for name in ("CHAPTER", "DELTA_M_METRICS", "GENSEG", "LAMBDA_SWEEP", "N_TEST"):
        assert hasattr(genseg, name), name
    assert genseg.genseg_data and genseg.generation_fid and genseg.evaluate_genseg
    for name in ("GAN_BATCH_SIZE", "GAN_LR", "MONITOR_SAMPLES", "VARIANTS", "generator_for"):
        assert hasattr(mtcgan, name), name


def test_quick_mode_is_one_rule():
    from mtl_tutorial.experiments.common import QUICK_BATCHES, quick_data, run_epochs
    from mtl_tutorial.loaders import Subset

    class Items:
        def __len__(self) -> int:
            return 5000

    full, quick = TrainConfig(), TrainConfig(quick=True)
    assert quick_data(full, Items(), Items())[2] is None
    train, test, batches = quick_data(quick, Items(), Items())
    assert isinstance(train, Subset) and (len(train), len(test), batches) == (
        1024,
        500,
        QUICK_BATCHES,
    )
    assert quick_data(quick, Items())[1] is None
    assert run_epochs(full, 12) == 12 and run_epochs(quick, 12) == 1
    assert (
        run_epochs(quick, 12, quick=4) == 4
        and run_epochs(TrainConfig(epochs=3, quick=True), 12) == 3
    )


def test_label_scarcity_runs_take_the_full_runs_steps_on_fewer_labels(mnist_root):
    from mtl_tutorial.experiments.ch2_scarcity import SCARCE_RUNS, scarce_setup
    from mtl_tutorial.experiments.ch2_sharing import MULTIMNIST

    for tag, (n, (left, right, hard, soft)) in SCARCE_RUNS.items():
        setup = scarce_setup(tag)
        train = setup.train()
        assert len(train) == len(MULTIMNIST.train()) == 60_000  # same steps per epoch ...
        assert (setup.epochs, setup.batch_size, setup.lr) == (
            MULTIMNIST.epochs,
            MULTIMNIST.batch_size,
            MULTIMNIST.lr,
        )  # ... and the same schedule
        assert train.index.unique().numel() == n  # but only n labelled images
        x, t = train.batch(torch.tensor([0, n]))  # item n is item 0 again
        assert torch.equal(x[0], x[1]) and t["left"][0] == t["left"][1]
        assert len(setup.test()) == len(MULTIMNIST.test())  # the full test set
        assert (
            experiments.get(hard).requires
            == experiments.get(soft).requires
            == tuple(sorted((left, right)))
        )
