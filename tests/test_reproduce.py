"""``python -m mtl_tutorial reproduce``: plan order, packing limits, import checks, end to end."""

from __future__ import annotations

import dataclasses
import json
import os
import tarfile
from pathlib import Path

import pytest
import torch

from mtl_tutorial import experiments, pretrained
from mtl_tutorial.checkpoint import save_checkpoint
from mtl_tutorial.cli import main
from mtl_tutorial.errors import WeightsIntegrityError
from mtl_tutorial.reproduce import build_plan
from mtl_tutorial.reproduce.pack import INDEX, Packer, PackLimits, import_results, read_index
from mtl_tutorial.reproduce.plan import Job, estimate_wall, format_plan, priority_order
from mtl_tutorial.reproduce.runner import (
    RunOptions,
    expected_s,
    prepare_staging,
    run_epochs,
    run_plan,
)

NAME = "shapes-nt-r000-single-shapes"  # a tiny registered network


def _checkpoint(
    folder: Path, seed: int, name: str = NAME, budget: str = "cpu", device: str = "cpu (1 threads)"
) -> tuple[dict, Path]:
    torch.manual_seed(seed)
    model = experiments.get(name).build_model()
    meta = {
        "experiment": name,
        "seed": seed,
        "epochs": 1,
        "quick": False,
        "budget": budget,
        "device": device,
        "threads": 1,
        "wall_time_s": 1.0,
        "torch_version": "x",
        "metrics": {"acc_shapes": 0.5 + seed / 100},
    }
    path = save_checkpoint(folder / f"{name}-seed{seed}.pt", model, meta)
    return meta, path


def test_plan_puts_dependencies_first_and_skips_aliases():
    plan = build_plan(seeds=(0, 1, 2), budget="gpu")
    position = {j.key: i for i, j in enumerate(plan)}
    names = {j.experiment for j in plan}
    assert "multimnist-hard-equal" not in names and "shapes-dense-equal" not in names
    assert {"mnist-classifier", "dcgan", "genseg-joint", "multimnist-hard"} <= names
    for job in plan:
        for dep in job.requires:
            for seed in (0, 1, 2):
                assert position[f"{dep}/seed{seed}"] < position[job.key], (dep, job.key)
    gan = next(j for j in plan if j.experiment == "dcgan")
    assert "mnist-classifier" in gan.requires and gan.epochs["gpu"] > gan.epochs["cpu"]
    hard = next(j for j in plan if j.experiment == "shapes-nt-r000-hard")
    assert set(hard.requires) == {"shapes-nt-r000-single-shapes", "shapes-nt-r000-single-colours"}
    assert len(plan) == 3 * len(names)
    # the simulated schedule respects the dependencies: more workers never take longer
    assert 0 < estimate_wall(plan, "cuda", 16) <= estimate_wall(plan, "cuda", 4)
    text = format_plan(plan, plan, {"cpu": 2, "cuda": 16}, {})
    assert "dcgan" in text and "derivation" in text


def test_plan_adds_a_dependency_whose_weights_are_missing(tmp_path, monkeypatch):
    monkeypatch.setenv(pretrained.WEIGHTS_ENV_VAR, str(tmp_path))  # an empty weights folder
    plan = build_plan(["dcgan"], seeds=(0,))
    judges = [j.experiment for j in plan][:-1]  # every judge first, then the GAN
    assert sorted(judges) == ["mnist-classifier", "mnist-judge", "mnist-judge-mlp"]
    assert plan[-1].experiment == "dcgan"
    with pytest.raises(ValueError, match="matches no experiment"):
        build_plan(["no-such-*"])


def test_staging_holds_the_shipped_judges_of_a_gan_planned_alone(tmp_path):
    """``--only cgan`` plans no judge (their weights are shipped), yet the staged weights
    folder must hold them: the GAN's metrics read them (a job's ``requires`` lists only the
    planned dependencies, so staging has to look them up in the registry)."""
    plan = build_plan(["cgan"], seeds=(0,))
    assert [j.experiment for j in plan] == ["cgan"] and plan[0].requires == ()
    prepare_staging(plan, tmp_path)
    staged = sorted(p.name for p in tmp_path.glob("*.pt"))
    assert staged == ["mnist-classifier.pt", "mnist-judge-mlp.pt", "mnist-judge.pt"]
    entries = json.loads((tmp_path / "manifest.json").read_text())["experiments"]
    assert "cgan" not in entries and "mnist-judge" in entries  # planned out, judges kept


def test_packing_respects_file_count_and_size(tmp_path):
    limits = PackLimits(max_files=3, max_file_bytes=40 * 1024, max_total_bytes=90 * 1024)
    packer = Packer(tmp_path / "pack", limits, {"quick": False})
    for seed in range(8):
        blob = tmp_path / f"blob{seed}.pt"
        blob.write_bytes(os.urandom(15 * 1024))
        packer.add({"experiment": "x", "seed": seed, "metrics": {}}, blob)
    files = list((tmp_path / "pack").iterdir())
    assert len(files) <= 3
    assert all(f.stat().st_size <= limits.max_file_bytes for f in files)
    assert sum(f.stat().st_size for f in files) <= limits.max_total_bytes
    index = read_index(tmp_path / "pack")
    assert len(index["runs"]) == 8  # every run's meta is kept...
    assert index["dropped"]  # ...but not every checkpoint fits
    packed = [r for r in index["runs"] if "member" in r]
    assert 2 <= len(packed) < 8
    for row in packed:
        with tarfile.open(tmp_path / "pack" / row["archive"]) as tar:
            assert row["member"] in tar.getnames()


def test_import_refuses_a_wrong_sha256(tmp_path):
    packer = Packer(tmp_path / "pack", info={"quick": True})
    packer.add(*_checkpoint(tmp_path, 0))
    index = json.loads((tmp_path / "pack" / INDEX).read_text())
    index["runs"][0]["sha256"] = "0" * 64
    (tmp_path / "pack" / INDEX).write_text(json.dumps(index))
    weights = tmp_path / "weights"
    with pytest.raises(WeightsIntegrityError) as err:
        import_results(tmp_path / "pack", weights)
    message = str(err.value)
    assert "sha256 mismatch" in message and "results-1.tar" in message
    assert f"{NAME}-seed0.pt" in message and "nothing was imported" in message
    assert not (weights / "manifest.json").exists()


def test_quick_pack_never_goes_into_the_package_weights(tmp_path):
    Packer(tmp_path / "pack", info={"quick": True})
    with pytest.raises(ValueError, match="--quick pack"):
        import_results(tmp_path / "pack", pretrained.WEIGHTS_DIR)


def test_partial_archive_imports_exactly_what_finished(tmp_path):
    packer = Packer(tmp_path / "pack", info={"quick": True, "ship_seed": 0})
    packer.add(*_checkpoint(tmp_path, 0))
    packer.add(_checkpoint(tmp_path, 1)[0])  # seed 1: meta only
    # cut off mid-update: the archive already holds seed 2's checkpoint, the index does not
    _, path = _checkpoint(tmp_path, 2)
    archive, _, tmp = packer._place(f"{NAME}-seed2.pt", path)
    os.replace(tmp, tmp_path / "pack" / archive)
    (tmp_path / "pack" / ".results-1.tar.tmp").write_bytes(b"half a file")
    summary = import_results(tmp_path / "pack", tmp_path / "weights")
    assert summary["imported"] == [f"{NAME}/seed0", f"{NAME}/seed1"]
    entry = pretrained.manifest(tmp_path / "weights")[NAME]
    assert [r["seed"] for r in entry["runs"]] == [0, 1]
    assert entry["seed"] == 0 and entry["budget"] == "cpu"
    assert pretrained.verify_weights(NAME, tmp_path / "weights").is_file()


def test_more_seeds_join_an_entry_of_their_budget_and_never_one_of_another(tmp_path):
    weights = tmp_path / "weights"
    first = Packer(tmp_path / "first", info={"quick": True, "ship_seed": 0})
    first.add(*_checkpoint(tmp_path, 0))
    import_results(tmp_path / "first", weights)
    # `reproduce --seeds 3 --ship-seed 0`: nothing ships, seed 3 joins the entry
    more = Packer(tmp_path / "more", info={"quick": True, "ship_seed": 0})
    more.add(_checkpoint(tmp_path, 3)[0])
    import_results(tmp_path / "more", weights)
    entry = pretrained.manifest(weights)[NAME]
    assert [r["seed"] for r in entry["runs"]] == [0, 3] and entry["seed"] == 0
    other = Packer(tmp_path / "other", info={"quick": True, "ship_seed": 0})
    meta, _ = _checkpoint(tmp_path, 4)
    other.add({**meta, "budget": "gpu"})
    with pytest.raises(ValueError, match="never mixes budgets.*another weights folder"):
        import_results(tmp_path / "other", weights)
    elsewhere = Packer(tmp_path / "elsewhere", info={"quick": True, "ship_seed": 0})
    elsewhere.add({**meta, "device": "cuda (NVIDIA H200)"})  # same budget, another device
    with pytest.raises(
        ValueError, match="on cuda.*on \\['cpu'\\].*never mixes budgets, epoch caps or kinds"
    ):
        import_results(tmp_path / "elsewhere", weights)
    assert [r["seed"] for r in pretrained.manifest(weights)[NAME]["runs"]] == [0, 3]


def test_ship_seed_option_defaults_to_the_first_seed(tmp_path, monkeypatch):
    from mtl_tutorial.reproduce import runner

    seen = []
    monkeypatch.setattr(
        runner, "run_plan", lambda plan, options: seen.append(options) or {"failed": {}}
    )
    argv = ["reproduce", "--only", NAME, "--device", "cpu", "--out", str(tmp_path)]
    assert main([*argv, "--seeds", "3,4"]) == 0
    assert main([*argv, "--seeds", "3,4", "--ship-seed", "0"]) == 0
    assert [o.ship_seed for o in seen] == [3, 0]


def test_quick_plan_end_to_end_then_import_evaluates_as_recorded(tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    argv = ["reproduce", "--only", "shapes-nt-r000-*", "--seeds", "0", "--device", "cpu"]
    assert main([*argv, "--out", str(out), "--quick", "--jobs", "2"]) == 0
    capsys.readouterr()
    weights = tmp_path / "weights"
    monkeypatch.setenv(pretrained.WEIGHTS_ENV_VAR, str(weights))
    assert main(["reproduce", "--import", str(out / "pack")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert len(summary["imported"]) == 5 and not summary["failed"]  # 2 singles, hard, soft, wide
    shipped = pretrained.manifest(weights)
    for name in ("shapes-nt-r000-single-shapes", "shapes-nt-r000-single-colours"):
        assert name in shipped
    for name, entry in shipped.items():
        if not name.startswith("shapes-nt-r000"):
            continue
        assert entry["epochs"] == 1 and entry["budget"] == "cpu"
        assert entry["device"].startswith("cpu") and entry["threads"] >= 1
        model = pretrained.load(name)  # checks the imported file's sha256
        with torch.no_grad():
            metrics = experiments.get(name).evaluate(model, torch.device("cpu"))
        assert metrics.keys() == entry["metrics"].keys()
        for key, value in entry["metrics"].items():
            assert metrics[key] == pytest.approx(value, abs=1e-6), (name, key)
    assert "delta_m" in shipped["shapes-nt-r000-hard"]["metrics"]


def test_import_keeps_an_entry_that_runs_of_another_budget_replace(tmp_path):
    weights, kept = tmp_path / "weights", tmp_path / "weights" / "cpu-budget"
    cpu = Packer(tmp_path / "cpu", info={"quick": True, "ship_seed": 0})
    for seed in (0, 1):
        cpu.add(*_checkpoint(tmp_path, seed))
    import_results(tmp_path / "cpu", weights, keep_replaced=kept)  # nothing replaced yet
    assert not (kept / "manifest.json").exists()
    old = pretrained.manifest(weights)[NAME]
    gpu = Packer(tmp_path / "gpu", info={"quick": True, "ship_seed": 0})
    (tmp_path / "longer").mkdir()
    gpu.add(*_checkpoint(tmp_path / "longer", 0, budget="gpu"))
    import_results(tmp_path / "gpu", weights, keep_replaced=kept)
    assert pretrained.manifest(weights)[NAME]["budget"] == "gpu"
    aside = pretrained.manifest(kept)[NAME]
    assert aside["runs"] == old["runs"] and aside["sha256"] == old["sha256"]
    assert pretrained.verify_weights(NAME, kept).parent == kept  # its own copy of the file


def test_priority_order_runs_the_gans_first_and_keeps_each_experiments_seeds_together():
    """A device session too short for the whole plan trains the GANs, genseg and MultiMNIST
    first (issue #14), and a cut-off leaves whole experiments rather than many seed 0s."""
    plan = build_plan(seeds=(0, 1, 2), budget="gpu")
    order = priority_order(plan)
    assert sorted(j.key for j in order) == sorted(j.key for j in plan)
    at = {j.key: i for i, j in enumerate(order)}
    first = {}
    for i, j in enumerate(order):
        first.setdefault(j.experiment, i)
        assert at[j.key] == first[j.experiment] + j.seed  # seeds 0, 1, 2 in a row
        for dep in j.requires:
            assert at[f"{dep}/seed2"] < i, (dep, j.key)
    gan = max(i for i, j in enumerate(order) if j.family == "gan")
    assert {j.experiment for j in order[:9]} == {
        "mnist-judge",
        "mnist-judge-mlp",
        "mnist-classifier",
    }
    assert all(i > gan for j, i in at.items() if j.startswith(("genseg-joint", "multimnist-")))
    genseg = max(i for j, i in at.items() if j.startswith("genseg-"))
    assert all(i > genseg for j, i in at.items() if j.startswith(("multimnist-", "shapes")))


def test_resume_leaves_out_the_experiments_already_trained_on_that_device(tmp_path, monkeypatch):
    weights = tmp_path / "weights"
    pack = Packer(tmp_path / "pack", info={"quick": True, "ship_seed": 0})
    for seed in (0, 1):
        meta, path = _checkpoint(tmp_path, seed, budget="gpu", device="cuda (NVIDIA H200)")
        pack.add(meta, path if seed == 0 else None)
    import_results(tmp_path / "pack", weights)

    def planned(**kw):
        plan = build_plan(["shapes-nt-r000-*"], budget="gpu", weights=weights, **kw)
        return {j.experiment for j in plan}

    every = planned(seeds=(0, 1))
    assert NAME in every and len(every) == 5
    assert planned(seeds=(0, 1), resume_on="cuda") == every - {NAME}
    assert planned(seeds=(0, 1), resume_on="cpu") == every  # its runs are not CPU runs
    assert planned(seeds=(0, 1, 2), resume_on="cuda") == every  # seed 2 is missing: all again
    assert build_plan([NAME], seeds=(0, 1), budget="gpu", resume_on="cuda", weights=weights) == []
    monkeypatch.setenv(pretrained.WEIGHTS_ENV_VAR, str(weights))  # as on the device
    hard = build_plan(["shapes-nt-r000-hard"], seeds=(0,), budget="gpu", resume_on="cuda")
    prepare_staging(hard, tmp_path / "staging")  # the resumed plan reads the finished baseline
    staged = pretrained.manifest(tmp_path / "staging")[NAME]
    assert [r["seed"] for r in staged["runs"]] == [0, 1]  # its recorded metrics are read
    assert not (tmp_path / "staging" / f"{NAME}.pt").exists()  # its weights are not
    # so a Δm baseline whose weight file stayed behind is not trained again (a judge is)
    (weights / f"{NAME}.pt").unlink()
    again = build_plan(["shapes-nt-r000-hard"], seeds=(0,), budget="gpu", resume_on="cuda")
    assert NAME not in {j.experiment for j in again}


def test_import_complete_only_holds_back_experiments_cut_off_halfway(tmp_path):
    other = "shapes-nt-r000-single-colours"
    planned = [f"{n}/seed{s}" for n in (NAME, other, "shapes-nt-r000-hard") for s in (0, 1)]
    pack = Packer(tmp_path / "pack", info={"quick": True, "ship_seed": 0, "planned": planned})
    pack.add(*_checkpoint(tmp_path, 0))
    pack.add(_checkpoint(tmp_path, 1)[0])
    pack.add(_checkpoint(tmp_path, 1, name=other)[0])  # its seed 0 was cut off
    pack.fail(other, 0, "time limit reached")
    pack.fail("shapes-nt-r000-hard", 0, "not started: expected 90 s, 20 s left")
    summary = import_results(tmp_path / "pack", tmp_path / "weights", complete_only=True)
    assert summary["imported"] == [f"{NAME}/seed0", f"{NAME}/seed1"]
    assert summary["held_back"] == {other: "seed(s) 0 did not finish"}
    assert set(pretrained.manifest(tmp_path / "weights")) == {NAME}
    # a shipped seed whose weights did not fit the pack holds its experiment back too
    full = Packer(tmp_path / "full", info={"quick": True, "ship_seed": 0, "planned": planned[:2]})
    full.add(_checkpoint(tmp_path, 0)[0])
    full.add(_checkpoint(tmp_path, 1)[0])
    summary = import_results(tmp_path / "full", tmp_path / "w2", complete_only=True)
    assert summary["imported"] == [] and summary["held_back"] == {NAME: "seed(s) 0 did not finish"}


def test_expected_time_scales_with_sharing_epochs_and_the_runs_so_far():
    job = Job("cgan", 0, "gan", {"cpu": 10, "gpu": 20}, (), {"cpu": 100.0, "cuda": 12.0})
    cpu = RunOptions(out=Path("."), device="cpu", budget="cpu", jobs=2)
    assert expected_s(job, cpu) == 100.0
    assert expected_s(job, RunOptions(out=Path("."), budget="cpu", epochs=1)) == 10.0
    assert expected_s(job, cpu, [(10.0, 20.0)] * 2) == 100.0  # too few runs to calibrate
    assert expected_s(job, cpu, [(10.0, 20.0), (10.0, 30.0), (5.0, 5.0)]) == 200.0  # median 2
    assert expected_s(job, cpu, [(0.0, 20.0)] * 3 + [(5.0, 5.0)]) == 100.0  # no estimate: no ratio
    gpu = RunOptions(out=Path("."), device="cuda", budget="gpu", jobs=16)
    assert expected_s(job, gpu) == pytest.approx(12.0 / 0.6)


def test_a_job_expected_to_overrun_the_time_limit_does_not_start(tmp_path):
    plan = [
        dataclasses.replace(j, estimate_s={"cpu": 1e6, "cuda": 1e6})
        for j in build_plan(["shapes-nt-r000-*"], seeds=(0,), budget="cpu")
    ]
    options = RunOptions(out=tmp_path, device="cpu", budget="cpu", jobs=2, time_limit_s=600)
    summary = run_plan(plan, options)
    assert summary["finished"] == [] and summary["wall_s"] < 60
    reasons = summary["failed"].values()
    assert sum(r.startswith("not started: expected 1000000 s") for r in reasons) == 2  # singles
    assert sum(r.startswith("skipped:") for r in reasons) == 3  # hard, soft, wide wait on them
    assert not list((tmp_path / "logs").glob("*.log"))  # no process was launched
    index = read_index(tmp_path / "pack")
    assert len(index["failed"]) == 5 and not index["runs"]


def test_release_copies_a_whole_campaign_into_the_weights_at_once(tmp_path, monkeypatch, capsys):
    """The pieces of a long GPU plan go into a campaign folder; the book's weights change
    only when it is whole, so no judge or baseline is replaced under the old runs it scored."""
    campaign, weights, kept = tmp_path / "campaign", tmp_path / "weights", tmp_path / "kept"
    cpu = Packer(tmp_path / "cpu", info={"quick": True, "ship_seed": 0})
    cuda = Packer(tmp_path / "cuda", info={"quick": True, "ship_seed": 0})
    (tmp_path / "gpu").mkdir()
    for seed in (0, 1):
        meta, path = _checkpoint(tmp_path, seed)
        cpu.add(meta, path if seed == 0 else None)
        meta, path = _checkpoint(tmp_path / "gpu", seed, budget="gpu", device="cuda (H200)")
        cuda.add(meta, path if seed == 0 else None)
    import_results(tmp_path / "cpu", weights)
    import_results(tmp_path / "cuda", campaign)
    old = pretrained.manifest(weights)[NAME]
    monkeypatch.setenv(pretrained.WEIGHTS_ENV_VAR, str(weights))
    argv = ["reproduce", "--release", str(campaign), "--seeds", "0,1", "--keep-replaced", str(kept)]
    assert main([*argv, "--only", "shapes-nt-r000-*"]) == 2  # the campaign has one of five
    error = capsys.readouterr().err
    assert "lacks 4 experiment(s)" in error and "shapes-nt-r000-hard" in error
    assert "nothing was released" in error and "--resume" in error
    assert pretrained.manifest(weights)[NAME] == old
    assert main([*argv, "--only", NAME, "--resume", "cpu"]) == 2  # its runs are cuda runs
    assert "lacks 1 experiment" in capsys.readouterr().err
    capsys.readouterr()
    assert main([*argv, "--only", NAME]) == 0
    assert json.loads(capsys.readouterr().out)["released"] == [NAME]
    entry = pretrained.manifest(weights)[NAME]
    assert entry["device"].startswith("cuda") and [r["seed"] for r in entry["runs"]] == [0, 1]
    assert pretrained.verify_weights(NAME, weights).parent == weights
    assert pretrained.manifest(kept)[NAME]["runs"] == old["runs"]  # the cpu-budget runs, aside


def test_a_quick_plan_gives_each_experiment_the_fewest_epochs_it_can_run():
    from mtl_tutorial.schedules import split_epochs

    for exp in experiments.all_experiments():
        assert 1 <= exp.min_epochs <= min(exp.epochs_for(b) for b in experiments.BUDGETS)
    staged = experiments.get("genseg-staged")
    assert staged.min_epochs == 4 and experiments.get("genseg-joint").min_epochs == 1
    split_epochs(staged.min_epochs, num_tasks=2)  # the fewest a staged schedule accepts
    with pytest.raises(ValueError, match="at least 4 epochs"):
        split_epochs(staged.min_epochs - 1, num_tasks=2)
    # the fit rule expects what the run trains: 4 of the budget's 16 epochs, not 1
    job = Job("genseg-staged", 0, "genseg", {"cpu": 16, "gpu": 24}, (), {"cpu": 160.0})
    quick = RunOptions(out=Path("."), budget="cpu", epochs=1, quick=True)
    assert run_epochs(job, quick) == 4 and expected_s(job, quick) == pytest.approx(40.0)
    assert run_epochs(job, RunOptions(out=Path("."), budget="gpu")) == 24


def test_the_plans_call_length_is_what_the_gpu_script_leaves_for_training():
    """``plan.GPU_CALL_S`` (the dry run's "about N device calls") restates the numbers of
    ``tools/gpu_reproduce.sh``: its whole time and the reserve it keeps for data and packing."""
    import re

    from mtl_tutorial.reproduce import plan

    script = (Path(__file__).resolve().parents[1] / "tools" / "gpu_reproduce.sh").read_text()
    call_s = re.search(r"CALL_S=\$\{CALL_S:-(\d+)\}", script)
    reserve = re.search(
        r"PLAN_LIMIT=\$\{PLAN_LIMIT:-\$\(\(CALL_S - \(SECONDS - began\) - (\d+)\)\)\}", script
    )
    assert call_s and reserve, (
        "tools/gpu_reproduce.sh no longer sets CALL_S and PLAN_LIMIT as the plan expects"
    )
    assert float(call_s.group(1)) == plan.GPU_SCRIPT_S < 600  # the device's limit per command
    assert float(reserve.group(1)) == plan.GPU_PACK_RESERVE_S
    assert 0 < plan.GPU_CALL_S == plan.GPU_SCRIPT_S - plan.GPU_PACK_RESERVE_S - plan.GPU_SETUP_S


def test_under_resume_the_runner_and_worker_let_gan_runs_go_on_from_their_last_epoch(
    tmp_path, monkeypatch
):
    """``reproduce --resume`` passes ``--resume`` to the worker of a resumable experiment
    (the GANs) only, and the worker hands it to the run as ``TrainConfig.resume``."""
    from mtl_tutorial.reproduce import runner, worker

    commands = []
    monkeypatch.setattr(runner.subprocess, "Popen", lambda command, **_: commands.append(command))
    gan = Job("cgan", 1, "gan", {"cpu": 6, "gpu": 15})
    tiny = Job(NAME, 1, "shapes-nt", {"cpu": 20, "gpu": 20})
    for resume_runs in (False, True):
        options = RunOptions(out=tmp_path, resume_runs=resume_runs)
        for job in (gan, tiny):
            runner._launch(job, options, tmp_path, tmp_path, 1, {})
    flags = [("--resume" in c) for c in commands]
    assert flags == [False, False, True, False]

    seen = []

    def fake_run(name, config):
        seen.append(config.resume)
        return None, tmp_path / "seed1.pt"

    monkeypatch.setattr(worker.experiments, "run", fake_run)
    monkeypatch.setattr(worker.pretrained, "record_run", lambda name, path: None)
    for extra in ([], ["--resume"]):
        argv = ["cgan", "1", f"--out={tmp_path}", f"--result={tmp_path / 'r.json'}", *extra]
        assert worker.main(argv) == 0
    assert seen == [False, True]


def test_only_the_judges_weights_are_read_by_other_experiments():
    """What a device call must be sent besides the manifest: the judges' weight files."""
    read = {r for e in experiments.all_experiments() for r in e.reads_weights_of}
    assert read == {"mnist-judge", "mnist-judge-mlp", "mnist-classifier"}
    for exp in experiments.all_experiments():
        assert set(exp.reads_weights_of) <= set(exp.requires), exp.name
    assert experiments.get("genseg-joint").reads_weights_of == ("mnist-classifier",)
    assert experiments.get("multimnist-hard").reads_weights_of == ()  # Δm: recorded metrics
