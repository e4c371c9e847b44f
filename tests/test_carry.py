"""Carrying a GAN run that a device call's time limit stopped on to the next call."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from torch import nn

from mtl_tutorial import experiments, pretrained
from mtl_tutorial.checkpoint import save_checkpoint
from mtl_tutorial.cli import main
from mtl_tutorial.errors import WeightsIntegrityError
from mtl_tutorial.experiments import ch5_mtcgan
from mtl_tutorial.experiments.resume import full_checkpoint
from mtl_tutorial.reproduce import carry, runner
from mtl_tutorial.reproduce.pack import INDEX, import_results, read_index
from mtl_tutorial.reproduce.plan import Job
from mtl_tutorial.reproduce.runner import RunOptions, epochs_ahead, expected_s, run_plan

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


def test_the_most_advanced_saved_states_are_carried_first_within_the_budget():
    candidates = [("a/seed0", 5, 10), ("b/seed0", 8, 30), ("c/seed0", 6, 20), ("d/seed0", 1, 2)]
    assert carry.choose(candidates, 15) == (["b/seed0", "c/seed0", "d/seed0"], ["a/seed0"])
    assert carry.choose(candidates, 0) == ([], ["b/seed0", "c/seed0", "a/seed0", "d/seed0"])


def test_a_resumed_run_is_expected_to_take_only_its_remaining_epochs():
    job = Job("cgan", 0, "gan", {"cpu": 10, "gpu": 40}, (), {"cpu": 100.0, "cuda": 40.0})
    cpu = RunOptions(out=Path("."), device="cpu", budget="cpu")
    assert expected_s(job, cpu, done=4) == pytest.approx(60.0)
    assert expected_s(job, cpu, done=10) == 0.0  # finished: it is only evaluated again
    gpu = RunOptions(out=Path("."), device="cuda", budget="gpu", jobs=1)
    assert expected_s(job, gpu, done=30) == pytest.approx(10.0)


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
    experiments.run(name, TrainConfig(seed=0, quick=True, out_dir=tmp_path))
    size = full_checkpoint(tmp_path, name, 0).stat().st_size
    assert size <= carry.state_bytes(name) <= size + carry.STATE_OVERHEAD
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
    from mtl_tutorial.reproduce.pack import Packer

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


def test_an_experiment_imported_whole_leaves_no_saved_state_behind(tmp_path):
    folder = tmp_path / "resume"
    _saved(full_checkpoint(folder, "cgan", 1), 5)
    _saved(full_checkpoint(folder, "acgan", 0), 5)
    data = {("acgan", 0): b"newer state"}
    rows = [{"experiment": "acgan", "seed": 0, "epochs": 7}]
    written = carry.write_saved_states(rows, data, folder, imported={"cgan"})
    assert written == ["acgan/seed0 (7 epochs)"]
    assert not (folder / "cgan").exists()
    assert full_checkpoint(folder, "acgan", 0).read_bytes() == b"newer state"


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
