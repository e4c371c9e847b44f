"""Carrying a GAN run that a device call's time limit stopped on to the next call."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from torch import nn

from mtl_tutorial import experiments, pretrained
from mtl_tutorial.checkpoint import read_checkpoint, save_checkpoint
from mtl_tutorial.cli import main
from mtl_tutorial.errors import WeightsIntegrityError
from mtl_tutorial.experiments import ch5_mtcgan
from mtl_tutorial.experiments.resume import full_checkpoint
from mtl_tutorial.reproduce import carry, runner
from mtl_tutorial.reproduce.fit import epochs_ahead, expected_s
from mtl_tutorial.reproduce.pack import INDEX, Packer, import_results, read_index
from mtl_tutorial.reproduce.plan import Job
from mtl_tutorial.reproduce.runner import RunOptions, run_plan

MiB = 1 << 20


def _saved(path: Path, epochs: int) -> Path:
    """A stand-in for a GAN run's saved state after ``epochs`` epochs."""
    meta = {"experiment": "cgan", "history": [{"monitor_fid": 9.0}] * epochs}
    return save_checkpoint(path, nn.Linear(64, 64), meta, training_state={"ema_updates": 3})


def test_the_fit_rule_starts_an_unfinishable_gan_run_only_if_two_epochs_and_its_state_fit():
    # 400 s for 40 epochs: 10 s an epoch
    assert carry.refuse_unfinished(400, 60, 40, 8 * MiB, 20 * MiB) is None
    assert "not two epochs" in carry.refuse_unfinished(400, 19, 40, 8 * MiB, 20 * MiB)
    refused = carry.refuse_unfinished(400, 60, 40, 8 * MiB, 5 * MiB)
    assert "no room to carry its saved state (8 MiB, 5 MiB free)" in refused


def test_reserved_then_finished_then_the_most_advanced_runs_are_carried_within_the_budget():
    candidates = [("a/seed0", 5, 10, 2), ("b/seed0", 8, 30, 2), ("c/seed0", 6, 20, 2)]
    candidates.append(("d/seed0", 1, 2, 2))
    assert carry.choose(candidates, 15) == (["b/seed0", "c/seed0", "d/seed0"], ["a/seed0"])
    assert carry.choose(candidates, 0) == ([], ["b/seed0", "c/seed0", "a/seed0", "d/seed0"])
    candidates[0] = ("a/seed0", 5, 10, 0)  # room was reserved for it: it goes first
    assert carry.choose(candidates, 14) == (["a/seed0", "b/seed0", "d/seed0"], ["c/seed0"])
    candidates[3] = ("d/seed0", 1, 40, 1)  # a finished run: after the reserved one
    assert carry.choose(candidates, 7) == (["a/seed0", "d/seed0"], ["b/seed0", "c/seed0"])


def test_a_saved_run_the_plateau_rule_already_ended_counts_as_done(tmp_path):
    flat = [{"monitor_fid_2k": f} for f in (90.0, 50.0, 30.0, 29.9, 29.8, 29.7)]
    falling = [{"monitor_fid_2k": f} for f in (90.0, 50.0, 30.0, 25.0, 20.0, 15.0)]
    for history, expected in ((flat, 40), (falling, 6)):
        path = save_checkpoint(tmp_path / "s.pt", nn.Linear(2, 2), {"history": history})
        assert carry.saved_epochs(path, cap=40) == expected
    assert carry.saved_epochs(None, 40) == 0
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    assert carry.saved_epochs(tmp_path / "bad.pt", 40) == 0  # the resumed run reports it


def test_a_resumed_run_is_expected_to_take_only_its_remaining_epochs():
    job = Job("cgan", 0, "gan", {"cpu": 10, "gpu": 40}, (), {"cpu": 100.0, "cuda": 40.0})
    cpu = RunOptions(out=Path("."), device="cpu", budget="cpu")
    assert expected_s(job, cpu, done=4) == pytest.approx(60.0)
    assert expected_s(job, cpu, done=10) == 0.0  # finished: it is only evaluated again
    gpu = RunOptions(out=Path("."), device="cuda", budget="gpu", jobs=1)
    assert expected_s(job, gpu, done=30) == pytest.approx(10.0)


def test_the_fixed_part_of_a_run_is_not_scaled_by_the_epochs_left():
    # 15 s fixed (start-up, final evaluation) + 20 epochs of 1 s
    job = Job("cgan", 0, "gan", {"cpu": 6, "gpu": 40}, (), {"cpu": 35.0, "epochs": 20})
    job.estimate_s["fixed_cpu"] = 15.0
    gpu = RunOptions(out=Path("."), device="cpu", budget="gpu")
    assert expected_s(job, gpu) == pytest.approx(35.0)
    assert expected_s(job, gpu, done=19) == pytest.approx(16.0)
    assert expected_s(job, gpu, done=40) == pytest.approx(15.0)  # finished: evaluated again
    assert expected_s(job, gpu, to_cap=True) == pytest.approx(55.0)  # it may go on to 40
    assert epochs_ahead(job, gpu, done=30, to_cap=True) == 10


def test_a_gan_is_expected_to_stop_on_its_rule_before_its_cap_but_may_go_on_to_it():
    exp = experiments.get("cgan")
    assert exp.epochs_for("gpu") == ch5_mtcgan.GAN_GPU_EPOCHS == 40
    assert exp.estimated_epochs("gpu") == ch5_mtcgan.GAN_GPU_EXPECTED_EPOCHS == 22
    assert exp.estimated_epochs("cpu") == exp.epochs_for("cpu") == 6  # no rule ends it first
    assert experiments.get("genseg-joint").estimated_epochs("gpu") == 24  # no stopping rule
    # an estimate for the 22 expected epochs of a 40-epoch cap: 1 s an epoch
    job = Job("cgan", 0, "gan", {"cpu": 6, "gpu": 40}, (), {"cpu": 22.0, "epochs": 22})
    gpu = RunOptions(out=Path("."), device="cpu", budget="gpu")
    assert [epochs_ahead(job, gpu, done) for done in (0, 20, 22, 30, 40)] == [22, 2, 1, 1, 0]
    assert [expected_s(job, gpu, done=d) for d in (0, 20, 30, 40)] == [22.0, 2.0, 1.0, 0.0]
    quick = RunOptions(out=Path("."), budget="gpu", epochs=1, quick=True)
    assert epochs_ahead(job, quick) == 1 and expected_s(job, quick) == pytest.approx(1.0)


def test_the_bytes_reserved_for_a_gan_run_cover_its_saved_state(tmp_path, mnist_root):
    """Measured on a real (quick) run of the largest GAN: the estimate is above the file,
    by less than the overhead it allows for."""
    from mtl_tutorial.experiments import TrainConfig

    name = max(ch5_mtcgan.VARIANTS, key=carry.state_bytes)
    assert name == "mtcgan-proj-latent"
    _, path = experiments.run(name, TrainConfig(seed=0, quick=True, out_dir=tmp_path))
    meta = read_checkpoint(path)["meta"]
    assert meta["max_epochs"] == meta["epochs"] == 1  # a quick run's cap is what it trained
    size = full_checkpoint(tmp_path, name, 0).stat().st_size
    assert size <= carry.state_bytes(name) <= size + carry.STATE_OVERHEAD
    final = path.stat().st_size  # what a finished run travels as
    assert final <= carry.final_bytes(name) <= final + carry.STATE_OVERHEAD
    assert carry.state_bytes("cgan") < 6 * MiB < 8 * MiB < carry.state_bytes(name) < 9 * MiB


def test_a_gan_run_cut_off_by_the_limit_is_packed_imported_and_found_by_the_next_call(
    tmp_path, monkeypatch
):
    """The runner starts a GAN run that cannot finish (two epochs fit, its state has room),
    refuses the second one (no room left), packs the first's saved state when the limit
    stops it; the import writes it where the next call's runner resumes it."""
    launched = []

    def fake_launch(job, options, out, logs, threads, env):
        # the run saves epoch 3, then is still training when the limit stops it
        _saved(full_checkpoint(out / "runs", job.experiment, job.seed), 3)
        launched.append(job.key)
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        return proc, job, logs / f"{job.key.replace('/', '-')}.json", logs / "x.log"

    monkeypatch.setattr(runner, "_launch", fake_launch)
    monkeypatch.setattr(runner, "_warm_data", lambda plan: None)
    # 6 epochs expected in 12 s: 2 s each, over the 6 s limit but two epochs fit
    plan = [Job("cgan", s, "gan", {"cpu": 6, "gpu": 15}, (), {"cpu": 12.0}) for s in (0, 1)]
    options = RunOptions(
        out=tmp_path / "call1",
        jobs=2,
        time_limit_s=6,
        resume_runs=True,
        carry_bytes=carry.state_bytes("cgan") * 3 // 2,  # room for one run's state, not two
    )
    summary = run_plan(plan, options)
    assert launched == ["cgan/seed0"] and summary["carried"] == ["cgan/seed0"]
    assert "no room to carry its saved state" in summary["failed"]["cgan/seed1"]
    assert summary["failed"]["cgan/seed0"] == "time limit reached"
    pack = tmp_path / "call1" / "pack"
    (row,) = read_index(pack)["resume"]
    assert row["experiment"] == "cgan" and row["seed"] == 0 and row["epochs"] == 3

    # the import writes it where the next call's --out/runs gets it from
    resume = tmp_path / "send" / "resume"
    imported = import_results(pack, tmp_path / "campaign", complete_only=True, resume_dir=resume)
    assert imported["saved_states"] == ["cgan/seed0 (3 epochs)"] and imported["imported"] == []
    sent = full_checkpoint(resume, "cgan", 0)
    source = full_checkpoint(tmp_path / "call1" / "runs", "cgan", 0)
    assert sent.read_bytes() == source.read_bytes()
    shutil.copytree(resume, tmp_path / "call2" / "runs")  # what the device script does
    state = carry.saved_state(tmp_path / "call2", plan[0])
    assert state is not None and carry.saved_epochs(state) == 3
    assert carry.saved_state(tmp_path / "call2", plan[1]) is None


def test_a_saved_state_with_a_wrong_sha256_is_refused_and_nothing_is_written(tmp_path):
    pack = tmp_path / "pack"
    packer = Packer(pack, info={"quick": True, "ship_seed": 0, "planned": ["cgan/seed0"]})
    assert packer.carry("cgan", 0, _saved(tmp_path / "state.pt", 2), 2)
    index = json.loads((pack / INDEX).read_text())
    index["resume"][0]["sha256"] = "0" * 64
    (pack / INDEX).write_text(json.dumps(index))
    resume = tmp_path / "resume"
    with pytest.raises(WeightsIntegrityError, match="sha256 mismatch.*resume/cgan/seed0_full.pt"):
        import_results(pack, tmp_path / "w", complete_only=True, resume_dir=resume)
    assert not resume.exists() and not (tmp_path / "w" / "manifest.json").exists()
    with pytest.raises(ValueError, match="--resume-dir goes with --complete-only"):
        import_results(pack, tmp_path / "w", resume_dir=resume)


def test_the_runner_carries_what_the_next_call_needs_and_nothing_else(tmp_path):
    """At the end of a call: the run with room reserved goes first, a state carried in
    but not run again is carried on, a finished experiment's and a failed run's are not."""
    out = tmp_path / "call"
    plan = [Job(n, s, "gan", {"cpu": 6, "gpu": 40}) for n, s in [("cgan", 0), ("cgan", 1)]]
    plan += [Job("acgan", 0, "gan", {"cpu": 6, "gpu": 40}), Job("dcgan", 0, "gan", {})]
    for job, epochs in zip(plan, (9, 2, 5, 7), strict=True):
        _saved(full_checkpoint(out / "runs", job.experiment, job.seed), epochs)
    options = RunOptions(out=out, resume_runs=True, carry_bytes=100 * MiB)

    def carried(budget, reserved):
        packer = Packer(out / "pack", info={"planned": [j.key for j in plan]})
        keys = runner._carry_saved(
            plan, reserved, {"dcgan/seed0"}, {"acgan/seed0"}, out, packer,
            dataclasses.replace(options, carry_bytes=budget),
        )  # fmt: skip
        return keys, {(d["experiment"], d["reason"][:14]) for d in packer.index["dropped"]}

    # cgan seed 0 was carried in and not run again (no worker free): it still travels
    state = carry.state_bytes("cgan")
    assert carried(100 * MiB, {"cgan/seed1": state}) == (
        ["cgan/seed1", "cgan/seed0"],
        {("dcgan", "its run failed")},
    )
    size = full_checkpoint(out / "runs", "cgan", 1).stat().st_size
    keys, dropped = carried(size, {"cgan/seed1": state})  # room for one: the reserved one
    assert keys == ["cgan/seed1"] and ("cgan", "no room in the") in dropped
    # reserved as a final checkpoint, it was stopped and travels as a (larger) state: it
    # has no priority, and the more advanced one goes
    biggest = max(full_checkpoint(out / "runs", "cgan", s).stat().st_size for s in (0, 1))
    keys, _ = carried(biggest, {"cgan/seed1": size - 1})
    assert keys == ["cgan/seed0"]


def test_an_import_replaces_the_saved_states_of_the_experiments_the_pack_planned(tmp_path):
    folder = tmp_path / "resume"
    _saved(full_checkpoint(folder, "cgan", 1), 5)  # imported whole now
    _saved(full_checkpoint(folder, "acgan", 1), 5)  # planned, not carried again: dropped
    _saved(full_checkpoint(folder, "dcgan", 0), 5)  # not planned in that call: kept
    data = {("acgan", 0): b"newer state"}
    rows = [{"experiment": "acgan", "seed": 0, "epochs": 7}]
    written = carry.write_saved_states(rows, data, folder, {"cgan", "acgan"}, {"cgan"})
    assert written == ["acgan/seed0 (7 epochs)"]
    assert not (folder / "cgan").exists() and not full_checkpoint(folder, "acgan", 1).exists()
    assert full_checkpoint(folder, "acgan", 0).read_bytes() == b"newer state"
    assert full_checkpoint(folder, "dcgan", 0).is_file()


def test_the_cli_takes_the_carry_budget_and_the_resume_folder(tmp_path, monkeypatch, capsys):
    seen = {}
    monkeypatch.setattr(
        runner, "run_plan", lambda plan, options: seen.update(o=options) or {"failed": {}}
    )
    # the cpu budget on cuda: a plan that nothing shipped ever leaves empty
    argv = ["reproduce", "--only", "cgan", "--seeds", "0", "--budget", "cpu", "--resume", "cuda"]
    assert main([*argv, "--out", str(tmp_path), "--carry-mib", "20", "--time-limit", "60"]) == 0
    assert seen["o"].carry_bytes == 20 * MiB and seen["o"].resume_runs
    capsys.readouterr()
    monkeypatch.setenv(pretrained.WEIGHTS_ENV_VAR, str(tmp_path / "w"))
    assert main(["reproduce", "--import", str(tmp_path / "none"), "--resume-dir", "x"]) == 2
    assert "--resume-dir goes with --complete-only" in capsys.readouterr().err
    assert main(["reproduce", "--only", "cgan", "--carry-mib", "20", "--out", str(tmp_path)]) == 2
    assert "--carry-mib goes with --resume" in capsys.readouterr().err


def _finished(path: Path, seed: int, budget: str = "gpu", device: str = "cpu (1 threads)") -> Path:
    """A stand-in for a GAN run's final checkpoint: ended by its rule at 22 of 40 epochs."""
    meta = {"experiment": "cgan", "seed": seed, "epochs": 22, "max_epochs": 40, "quick": False}
    meta.update(budget=budget, device=device, metrics={"fid": 5.0}, history=[{"fid": 5.0}] * 22)
    return save_checkpoint(path, nn.Linear(4, 4), meta)


def test_a_finished_run_travels_as_its_final_checkpoint_and_is_not_run_again(tmp_path, monkeypatch):
    """A finished seed of an experiment another seed of which the limit stopped goes to the
    next call as its final checkpoint (a quarter of a saved state), ahead of the stopped
    run; the next call packs and records it as it is, without launching a worker."""
    plan = [Job("cgan", s, "gan", {"cpu": 6, "gpu": 40}) for s in (0, 1)]
    call1 = tmp_path / "call1"
    stopped = _saved(full_checkpoint(call1 / "runs", "cgan", 0), 9)
    _saved(full_checkpoint(call1 / "runs", "cgan", 1), 22)  # its state: not what travels
    final = _finished(call1 / "runs" / "cgan" / "seed1.pt", 1)  # the worker's checkpoint
    options = RunOptions(out=call1, budget="gpu", resume_runs=True)
    packer = Packer(call1 / "pack", info={"ship_seed": 0, "planned": [j.key for j in plan]})
    room = final.stat().st_size  # room for the finished run only: it goes first
    keys = runner._carry_saved(
        plan, {}, set(), {"cgan/seed1"}, call1, packer,
        dataclasses.replace(options, carry_bytes=room),
    )  # fmt: skip
    assert keys == ["cgan/seed1"] and final.stat().st_size * 3 < stopped.stat().st_size
    assert packer.index["resume"][0]["finished"] and packer.index["resume"][0]["epochs"] == 40

    resume = tmp_path / "send" / "resume"
    imported = import_results(call1 / "pack", tmp_path / "w", complete_only=True, resume_dir=resume)
    assert imported["saved_states"] == ["cgan/seed1 (40 epochs, finished)"]
    assert carry.final_checkpoint(resume, "cgan", 1).read_bytes() == final.read_bytes()

    call2 = tmp_path / "call2"
    shutil.copytree(resume, call2 / "runs")  # what the device script does
    _saved(full_checkpoint(call2 / "runs", "cgan", 0), 9)  # and seed 0's state, say
    launched = []

    def fake_launch(job, options, out, logs, threads, env):
        if job.seed == 1:
            raise AssertionError("a finished run was launched again")
        launched.append(job.key)  # seed 0 holds the only worker until the limit
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        return proc, job, logs / "cgan-seed0.json", logs / "x.log"

    monkeypatch.setattr(runner, "_launch", fake_launch)
    monkeypatch.setattr(runner, "_warm_data", lambda plan: None)
    busy = dataclasses.replace(options, out=call2, carry_bytes=20 * MiB, time_limit_s=3)
    summary = run_plan(plan, busy)  # one worker, taken by seed 0: seed 1 needs none
    assert launched == ["cgan/seed0"] and summary["finished"] == ["cgan/seed1"]
    (row,) = read_index(call2 / "pack")["runs"]
    assert row["meta"]["metrics"] == {"fid": 5.0} and row["meta"]["epochs"] == 22
    staged = pretrained.manifest(call2 / "weights")["cgan"]["runs"]
    assert [r["seed"] for r in staged] == [1]
    # cgan is still unfinished: both travel again, the finished run as its checkpoint
    assert sorted(summary["carried"]) == ["cgan/seed0", "cgan/seed1"]
    rows = {r["seed"]: r.get("finished", False) for r in read_index(call2 / "pack")["resume"]}
    assert rows == {0: False, 1: True}


@pytest.mark.parametrize(
    "change",
    ["budget", "device", "cap", "quick", "seed", "unreadable", "not resumable", "worker output"],
)
def test_a_final_checkpoint_is_taken_only_for_the_same_run(tmp_path, change):
    job = Job("cgan", 1, "gan", {"cpu": 6, "gpu": 40})
    path = carry.final_checkpoint(tmp_path / "runs", "cgan", 1)
    _finished(path, 1)
    assert carry.finished_run(tmp_path, job, "gpu", "cpu", 40, False) == path
    args = {"budget": "gpu", "kind": "cpu", "cap": 40, "quick": False}
    if change == "budget":
        _finished(path, 1, budget="cpu")
    elif change == "device":
        _finished(path, 1, device="cuda (NVIDIA H200)")
    elif change == "cap":
        args["cap"] = 15
    elif change == "quick":
        args["quick"] = True
    elif change == "seed":
        _finished(path, 2)
    elif change == "unreadable":
        path.write_bytes(b"cut off")
    elif change == "worker output":  # a plan folder's own seed1.pt is never taken for one
        path.rename(path.with_name("seed1.pt"))
    else:
        job = Job("multimnist-hard", 1, "multimnist", {"cpu": 12, "gpu": 12})
        shutil.copytree(tmp_path / "runs" / "cgan", tmp_path / "runs" / "multimnist-hard")
    assert carry.finished_run(tmp_path, job, **args) is None


def test_only_runs_that_travel_reserve_carry_room_each_for_what_it_travels_as():
    """15 s fixed + 10 s an epoch, 20 epochs expected, 40 at most: 215 s, 415 s to the cap."""
    from mtl_tutorial.reproduce.fit import admit

    estimate = {"cpu": 215.0, "fixed_cpu": 15.0, "epochs": 20}
    seeds = [Job("cgan", s, "gan", {"cpu": 6, "gpu": 40}, (), estimate) for s in (0, 1, 2)]
    state, final = carry.state_bytes("cgan"), carry.final_bytes("cgan")
    assert final * 3 < state
    plain = RunOptions(out=Path("."), budget="gpu", resume_runs=True)
    assert "expected 415 s, 300 s left" in admit(seeds[0], plain, 300)  # no carry: to the cap
    options = dataclasses.replace(plain, carry_bytes=state + final)
    launched, carrying = {}, set()
    # expected to finish (215 s of 300): it starts and reserves nothing
    assert admit(seeds[0], options, 300, 0, (), launched, carrying) is None
    assert carrying == set() and launched["cgan/seed0"] == (seeds[0], final)
    # expected to outlast the limit: its state and its finishing sibling's checkpoint travel
    tight = dataclasses.replace(options, carry_bytes=state + final - 1)
    assert "no room to carry" in admit(seeds[1], tight, 100, 0, (), dict(launched), set())
    assert admit(seeds[1], options, 100, 0, (), launched, carrying) is None
    assert carrying == {"cgan"}
    # its experiment now travels: a third run needs room even if it would finish
    refused = admit(seeds[2], options, 300, 0, (), launched, carrying)
    assert "no room to carry" in refused and "not two epochs" not in refused
    roomy = dataclasses.replace(options, carry_bytes=state + 2 * final)
    assert admit(seeds[2], roomy, 300, 0, (), launched, carrying) is None
    # a saved run the rule already ended needs only its 15 s of evaluation: not in 10 s
    assert "not two epochs" in admit(seeds[0], options, 10, 40, (), {}, set())


def test_a_finished_shipped_run_is_carried_as_a_pointer_to_its_packed_weights(tmp_path):
    """Seed 0's final checkpoint is already in the pack as its shipped weights: the resume
    row points at that member instead of packing the file twice; the import still checks
    its sha256 and writes the final checkpoint for the next call."""
    final = _finished(tmp_path / "runs" / "cgan" / "seed0.pt", 0)
    pack = tmp_path / "pack"
    packer = Packer(
        pack, info={"quick": True, "ship_seed": 0, "planned": ["cgan/seed0", "cgan/seed1"]}
    )
    shipped = packer.add(read_checkpoint(final)["meta"], final)
    before = sorted(p.stat().st_size for p in pack.glob("results-*.tar"))
    assert packer.carry("cgan", 0, final, 40, finished=True)
    (row,) = packer.index["resume"]
    assert (row["archive"], row["member"]) == (shipped["archive"], shipped["member"])
    assert sorted(p.stat().st_size for p in pack.glob("results-*.tar")) == before
    resume = tmp_path / "resume"
    summary = import_results(pack, tmp_path / "w", complete_only=True, resume_dir=resume)
    assert summary["saved_states"] == ["cgan/seed0 (40 epochs, finished)"]
    assert carry.final_checkpoint(resume, "cgan", 0).read_bytes() == final.read_bytes()
    # a saved state is never a pointer: it is packed as a file of its own
    assert packer.carry("cgan", 1, _saved(tmp_path / "s.pt", 3), 3)
    assert packer.index["resume"][1]["member"] == "resume/cgan/seed1_full.pt"
