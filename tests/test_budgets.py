"""Moving whole manifest entries between weights folders (``reproduce.budgets``)."""

from __future__ import annotations

import json

import pytest
import torch

from mtl_tutorial import experiments, pretrained, store
from mtl_tutorial.checkpoint import save_checkpoint
from mtl_tutorial.errors import WeightsIntegrityError
from mtl_tutorial.reproduce.budgets import copy_entries, entry_budgets

NAME = "shapes-nt-r000-single-shapes"  # a tiny registered network


def _ship(folder, seed, budget, device="cpu (1 threads)"):
    torch.manual_seed(seed)
    meta = {"experiment": NAME, "seed": seed, "epochs": 1 + seed, "quick": False, "budget": budget,
            "device": device, "metrics": {"acc_shapes": 0.5 + seed / 100}}
    path = save_checkpoint(folder / f"run{seed}.pt", experiments.get(NAME).build_model(), meta)
    if seed == 0:
        store.ship(NAME, path, folder)
    else:
        store.record_run(NAME, path, folder)


def test_copy_keeps_runs_and_file_and_a_reference_sees_a_changed_file(tmp_path):
    main, aside = tmp_path / "main", tmp_path / "main" / "cpu-budget"
    main.mkdir()
    for seed in (0, 1):
        _ship(main, seed, "cpu")
    copy_entries([NAME], main, aside, refer=True)
    assert store.manifest(aside)[NAME]["file"] == f"../{NAME}.pt"
    assert store.verify_weights(NAME, aside).resolve() == (main / f"{NAME}.pt").resolve()
    assert entry_budgets(NAME, aside) == {"cpu"} and store.manifest(aside)[NAME]["runs"] == store.manifest(main)[NAME]["runs"]
    with pretrained.using_weights(aside):
        assert isinstance(pretrained.load(NAME), torch.nn.Module)

    copy_entries([NAME], main, aside)  # now a copy of its own: main may change
    assert store.manifest(aside)[NAME]["file"] == f"{NAME}.pt"
    longer = tmp_path / "longer"
    longer.mkdir()
    _ship(longer, 0, "gpu")
    copy_entries([NAME], longer, main)  # a longer budget's entry replaces main's, file and all
    assert entry_budgets(NAME, main) == {"gpu"} and store.verify_weights(NAME, main)
    assert store.verify_weights(NAME, aside).parent == aside
    assert {r["budget"] for r in store.manifest(aside)[NAME]["runs"]} == {"cpu"}


def test_a_reference_to_a_file_that_changed_is_refused(tmp_path):
    main, aside = tmp_path / "main", tmp_path / "aside"
    main.mkdir()
    _ship(main, 0, "cpu")
    copy_entries([NAME], main, aside, refer=True)
    _ship(main, 0, "gpu")  # overwrites the referred file
    with pytest.raises(WeightsIntegrityError, match="were changed"):
        store.verify_weights(NAME, aside)


def test_nothing_is_written_for_an_unknown_name_or_a_damaged_file(tmp_path):
    main, aside = tmp_path / "main", tmp_path / "aside"
    main.mkdir()
    _ship(main, 0, "cpu")
    with pytest.raises(KeyError, match="has no entry 'nope'.*nothing was copied"):
        copy_entries([NAME, "nope"], main, aside)
    (main / f"{NAME}.pt").write_bytes(b"damaged")
    with pytest.raises(WeightsIntegrityError):
        copy_entries([NAME], main, aside)
    assert not (aside / "manifest.json").exists()


def test_the_shipped_cpu_budget_folder_holds_every_gan_at_the_cpu_budget():
    from mtl_tutorial.recipes.mtcgan import CPU_BUDGET, GAN_EPOCHS, GPU_BUDGET_GANS, VARIANTS

    entries = json.loads((CPU_BUDGET / "manifest.json").read_text())["experiments"]
    assert set(VARIANTS) <= set(entries)
    for name in VARIANTS:
        store.verify_weights(name, CPU_BUDGET)
        assert entry_budgets(name, CPU_BUDGET) == {"cpu"}
        assert len(entries[name]["runs"]) >= 3
        assert all(run["epochs"] <= GAN_EPOCHS for run in entries[name]["runs"])
    for name in VARIANTS:  # the package's entry: the gpu budget for these, the cpu one for the rest
        assert entry_budgets(name) == ({"gpu"} if name in GPU_BUDGET_GANS else {"cpu"}), name
    for name in GPU_BUDGET_GANS:  # a file of its own in the cpu-budget folder: main's differs
        assert "/" not in entries[name]["file"]


def test_train_record_and_ship_refuse_to_mix_budgets_and_write_nothing(tmp_path):
    from mtl_tutorial.errors import CheckpointError

    for seed in (0, 1):
        _ship(tmp_path, seed, "gpu")
    before = (tmp_path / "manifest.json").read_bytes(), (tmp_path / f"{NAME}.pt").read_bytes()
    for seed in (2, 0):  # record seed 2; ship seed 0, whose file would be replaced first
        with pytest.raises(CheckpointError, match="'cpu' budget on cpu.*\\['gpu'\\].*never mixes budgets, epoch caps or "
                           "kinds of device, so nothing was written.*cpu-budget"):
            _ship(tmp_path, seed, "cpu")
        # the same budget on a GPU: `train --record` on a GPU must not join CPU-trained seeds
        with pytest.raises(CheckpointError, match="on cuda, the entry's other runs under \\['gpu'\\] on "
                           "\\['cpu'\\].*nothing was written"):
            _ship(tmp_path, seed, "gpu", device="cuda (NVIDIA H200)")
    assert ((tmp_path / "manifest.json").read_bytes(), (tmp_path / f"{NAME}.pt").read_bytes()) == before
    _ship(tmp_path, 1, "gpu")  # a seed of the entry's own budget is replaced as before


def test_a_run_with_another_epoch_cap_never_joins_an_entry():
    """The gpu budget's GAN cap went from 15 to 40: a 40-epoch run must not be averaged with
    the 15-epoch seeds of the same budget; runs recorded before caps were are not compared."""
    from mtl_tutorial.provenance import mixing, run_cap

    old = [{"seed": 0, "budget": "gpu", "epochs": 14, "max_epochs": 15}, {"seed": 1, "budget": "gpu", "epochs": 9}]
    assert mixing({"seed": 2, "budget": "gpu", "epochs": 30, "max_epochs": 15}, old) is None
    why = mixing({"seed": 2, "budget": "gpu", "epochs": 30, "max_epochs": 40}, old)
    assert why == "it was trained with at most 40 epochs, the entry's other runs with at most [15]"
    assert mixing({"seed": 0, "budget": "gpu", "epochs": 30, "max_epochs": 40}, old[:1]) is None  # replaces it
    assert [run_cap(r) for r in old] == [15, 9]  # no cap recorded: it trained all its epochs
    for exp in experiments.all_experiments():  # what the package ships records its GAN caps
        if exp.resumable:
            runs = pretrained.manifest()[exp.name]["runs"]
            assert all(r["epochs"] <= r["max_epochs"] for r in runs), exp.name
