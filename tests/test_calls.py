"""The dry run's device calls: the runner's rules replayed on the plan's estimates."""

from __future__ import annotations

from mtl_tutorial.cli import main
from mtl_tutorial.reproduce import carry
from mtl_tutorial.reproduce.calls import simulate_calls
from mtl_tutorial.reproduce.plan import Job

MiB = 1 << 20


def _gan(seed: int = 0) -> Job:
    """A ``cgan`` run expected to stop at epoch 20 of its cap of 40: 15 s fixed + 10 s an epoch."""
    estimate = {"cuda": 215.0, "fixed_cuda": 15.0, "epochs": 20, "budget": "gpu"}
    return Job("cgan", seed, "gan", {"cpu": 6, "gpu": 40}, (), estimate)


def _plain(name: str, seed: int, seconds: float, requires: tuple[str, ...] = ()) -> Job:
    return Job(name, seed, "shapes-nt", {"cpu": 20, "gpu": 20}, requires, {"cuda": seconds})


def test_a_gan_run_longer_than_a_call_goes_on_in_the_next_one_only_with_a_carry_budget():
    calls, stuck = simulate_calls([_gan()], jobs=1, call_s=120, carry_bytes=0)
    assert stuck == ["cgan"] and calls[0].not_started == ["cgan/seed0"]
    calls, stuck = simulate_calls([_gan()], jobs=1, call_s=120, carry_bytes=10 * MiB)
    assert stuck == [] and len(calls) == 2
    # stopped at 120 s: 7.5 s of start-up, then 11 whole epochs of 10 s were saved
    assert calls[0].carried == {"cgan/seed0": 11} and calls[0].imported == []
    assert calls[1].finished == ["cgan/seed0"] and calls[1].imported == ["cgan"]


def test_the_carry_budget_bounds_how_many_gan_runs_train_across_a_call():
    room = carry.state_bytes("cgan")
    plan = [_gan(seed) for seed in (0, 1, 2)]
    calls, _ = simulate_calls(plan, jobs=3, call_s=120, carry_bytes=2 * room)
    assert len(calls[0].carried) == 2 and len(calls[0].not_started) == 1
    roomy, _ = simulate_calls(plan, jobs=3, call_s=120, carry_bytes=3 * room)
    assert len(roomy[0].carried) == 3 and len(roomy) < len(calls)


def test_an_experiment_whose_seeds_cannot_all_finish_in_one_call_is_never_imported():
    plan = [_plain("shapes-nt-r000-single-shapes", seed, 100.0) for seed in (0, 1, 2)]
    calls, stuck = simulate_calls(plan, jobs=1, call_s=250, carry_bytes=0)
    assert calls[0].finished == [
        "shapes-nt-r000-single-shapes/seed0",
        "shapes-nt-r000-single-shapes/seed1",
    ]
    assert stuck == ["shapes-nt-r000-single-shapes"]  # --complete-only holds it back each time
    calls, stuck = simulate_calls(plan, jobs=3, call_s=250, carry_bytes=0)
    assert stuck == [] and len(calls) == 1


def test_a_dependent_starts_in_the_call_after_its_requirement_was_imported():
    base, hard = "shapes-nt-r000-single-shapes", "shapes-nt-r000-hard"
    plan = [_plain(base, 0, 100.0), _plain(hard, 0, 100.0, (base,))]
    calls, stuck = simulate_calls(plan, jobs=1, call_s=150, carry_bytes=0)
    assert stuck == [] and [c.imported for c in calls] == [[base], [hard]]
    assert calls[0].not_started == [f"{hard}/seed0"]  # 100 s expected, 50 s left


def test_the_dry_run_prints_the_simulated_device_calls(capsys):
    assert (
        main(["reproduce", "--dry-run", "--budget", "gpu", "--only", "cgan", "--seeds", "0"]) == 0
    )
    out = capsys.readouterr().out
    assert "device calls, simulated" in out and "42 MiB of saved GAN states" in out
    assert "call 1:" in out


def test_the_dry_run_takes_the_carry_budget_to_simulate(capsys):
    argv = ["reproduce", "--dry-run", "--budget", "gpu", "--only", "mtcgan", "--jobs", "16"]
    assert main([*argv, "--carry-mib", "0"]) == 0
    out = capsys.readouterr().out
    assert "never finished under these rules: mtcgan" in out  # it cannot reach its cap in a call
    assert main([*argv, "--carry-mib", "64"]) == 0
    out = capsys.readouterr().out
    assert "64 MiB of saved GAN states" in out and "never finished" not in out


def test_the_saved_states_share_the_calls_pack_with_the_shipped_weights(monkeypatch):
    from mtl_tutorial.reproduce import calls

    plan = [_gan(seed) for seed in (0, 1, 2)]
    roomy, _ = simulate_calls(plan, jobs=3, call_s=120, carry_bytes=64 * MiB)
    assert len(roomy[0].carried) == 3
    monkeypatch.setattr(calls, "PACK_BYTES", 2 * carry.state_bytes("cgan"))
    full, _ = simulate_calls(plan, jobs=3, call_s=120, carry_bytes=64 * MiB)
    assert len(full[0].carried) == 2 and len(full[0].dropped) == 1


def test_a_finished_run_carried_in_needs_no_worker_and_the_other_seed_resumes():
    plan = [_gan(0), _gan(1)]  # one worker: seed 0 finishes at 215 s, seed 1 cannot
    calls, stuck = simulate_calls(plan, jobs=1, call_s=300, carry_bytes=64 * MiB)
    assert stuck == [] and len(calls) == 2
    assert calls[0].finished == ["cgan/seed0"] and calls[0].carried == {
        "cgan/seed0": 40,  # its final checkpoint
        "cgan/seed1": 7,  # started at 215 s: 7.5 s of start-up, 7 epochs of 10 s
    }
    assert calls[1].finished == ["cgan/seed0", "cgan/seed1"] and calls[1].imported == ["cgan"]


def test_a_run_that_fits_a_call_only_as_estimated_is_flagged_if_the_gpu_is_slower(capsys):
    from mtl_tutorial.reproduce.calls import scaled

    plan = [_plain("shapes-nt-r000-single-shapes", 0, 150.0)]
    assert simulate_calls(plan, jobs=1, call_s=200, carry_bytes=0)[1] == []
    slower = scaled(plan, 2.0)
    assert slower[0].estimate_s["cuda"] == 300.0 and plan[0].estimate_s["cuda"] == 150.0
    assert simulate_calls(slower, jobs=1, call_s=200, carry_bytes=0)[1] == [plan[0].experiment]
    assert scaled([_gan()], 0.5)[0].estimate_s["fixed_cuda"] == 7.5
    argv = ["reproduce", "--dry-run", "--budget", "gpu", "--only", "shapes-nt-r000-*"]
    assert main(argv) == 0
    assert "if the GPU runs took another multiple of their estimates: 0.5x: 1; 2x: 1" in (
        capsys.readouterr().out
    )
