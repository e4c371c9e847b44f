"""Loss weighting and gradient balancing: the solvers' properties and every method in the trainer."""

from __future__ import annotations

import itertools
import json
import math

import pytest
import torch
from torch import nn

from mtl_tutorial import experiments
from mtl_tutorial.cli import main
from mtl_tutorial.data import Shapes
from mtl_tutorial.loaders import BatchLoader, Subset
from mtl_tutorial.models.dense import DenseMultiTaskNet
from mtl_tutorial.models.sharing import HardSharingNet
from mtl_tutorial.tasks import classification, dense_regression, multilabel, segmentation
from mtl_tutorial.trainer import Trainer
from mtl_tutorial.utils import seed_everything
from mtl_tutorial.weighting import (
    METHODS,
    DynamicWeightAverage,
    EqualWeighting,
    GradNorm,
    StaticWeighting,
    UncertaintyWeighting,
    cagrad_direction,
    dwa_weights,
    make_weighting,
    min_norm_weights,
    pcgrad_project,
)

SHAPES, COLOURS, FRONT = (
    multilabel("shapes", 3),
    multilabel("colours", 3),
    classification("front", 3),
)
SEG, DEPTH = segmentation("seg", 4), dense_regression("depth")


def _tiny(n: int = 64) -> Shapes:
    return Shapes("train", n=n, seed=0, relatedness=0.5, size=16)


def _conflicting_pair(seed: int, dim: int = 50) -> torch.Tensor:
    g = torch.randn(2, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    if g[0] @ g[1] > 0:
        g[1] = -g[1]
    return g


# --- MGDA's min-norm solver ----------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(6))
def test_min_norm_two_tasks_is_the_closed_form_and_the_grid_minimum(seed):
    gen = torch.Generator().manual_seed(seed)
    g = torch.randn(2, 20, generator=gen, dtype=torch.float64)
    g[1] *= [0.1, 1.0, 3.0][seed % 3]  # include cases where the clip is active
    g1, g2 = g
    expected = float(((g2 - g1) @ g2) / (g1 - g2).square().sum())
    expected = min(max(expected, 0.0), 1.0)
    alpha = min_norm_weights(g)
    assert alpha.shape == (2,) and float(alpha.sum()) == pytest.approx(1.0)
    assert float(alpha[0]) == pytest.approx(expected, abs=1e-9)
    best = float((alpha @ g).norm())
    grid = torch.linspace(0, 1, 2001, dtype=torch.float64)
    norms = (grid[:, None] * g1 + (1 - grid[:, None]) * g2).norm(dim=1)
    assert best <= float(norms.min()) + 1e-9


def test_min_norm_clips_when_one_gradient_dominates():
    g = torch.tensor([[1.0, 0.0], [3.0, 0.0]])  # the min-norm point is the vertex g1
    assert min_norm_weights(g).tolist() == pytest.approx([1.0, 0.0])


@pytest.mark.parametrize("seed", range(4))
def test_frank_wolfe_three_tasks_stays_on_the_simplex_and_beats_every_vertex(seed):
    g = torch.randn(3, 30, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    alpha = min_norm_weights(g)
    assert (alpha >= 0).all() and float(alpha.sum()) == pytest.approx(1.0)
    norm = float((alpha @ g).norm())
    assert all(norm <= float(v.norm()) + 1e-12 for v in g)
    # and it is (close to) the minimum over a fine grid of the simplex
    steps = torch.linspace(0, 1, 201, dtype=torch.float64)
    a, b = torch.meshgrid(steps, steps, indexing="ij")
    keep = a + b <= 1
    w = torch.stack([a[keep], b[keep], 1 - a[keep] - b[keep]], dim=1)
    assert norm <= float((w @ g).norm(dim=1).min()) + 1e-6


# --- PCGrad ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(5))
def test_pcgrad_removes_the_conflict_between_two_tasks(seed):
    g = _conflicting_pair(seed)
    p = pcgrad_project(g, torch.Generator().manual_seed(0))
    assert float(p[0] @ g[1]) >= -1e-9 and float(p[1] @ g[0]) >= -1e-9
    expected = g[0] - (g[0] @ g[1]) / g[1].square().sum() * g[1]
    assert torch.allclose(p[0], expected)


def test_pcgrad_leaves_non_conflicting_gradients_alone():
    g = torch.rand(3, 40, generator=torch.Generator().manual_seed(1))  # all entries >= 0
    assert torch.equal(pcgrad_project(g, torch.Generator().manual_seed(0)), g)


def test_pcgrad_projection_order_is_seeded():
    g = torch.randn(5, 8, generator=torch.Generator().manual_seed(3))
    runs = [pcgrad_project(g, torch.Generator().manual_seed(s)) for s in (7, 7)]
    assert torch.equal(runs[0], runs[1])


# --- CAGrad ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("tasks", [2, 3])
def test_cagrad_direction_maximises_the_worst_task_improvement_in_its_ball(tasks):
    c = 0.4
    gen = torch.Generator().manual_seed(tasks)
    g = torch.randn(tasks, 12, generator=gen, dtype=torch.float64)
    g[1] = -0.8 * g[0] + 0.3 * g[1]  # a real conflict
    g0 = g.mean(0)
    d = cagrad_direction(g, c) * (1 + c * c)  # undo the official rescale
    radius = c * float(g0.norm())
    assert float((d - g0).norm()) == pytest.approx(radius, rel=1e-4)
    worst = float((g @ d).min())
    # random points of the same ball never do better on the worst task
    u = torch.randn(4000, 12, generator=gen, dtype=torch.float64)
    candidates = g0 + radius * u / u.norm(dim=1, keepdim=True)
    assert worst >= float((candidates @ g.T).min(dim=1).values.max()) - 1e-6
    assert worst > float((g @ g0).min())  # better than plain averaging


@pytest.mark.parametrize("seed", range(6))
def test_cagrad_general_solver_agrees_with_the_two_task_line_search(seed):
    from mtl_tutorial.weighting import cagrad_dual

    g = torch.randn(2, 12, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    g[1] = -0.8 * g[0] + 0.3 * g[1]
    gram = g @ g.T
    sqrt_phi = 0.4 * float(gram.mean().sqrt())
    exact = cagrad_dual(gram, sqrt_phi)
    assert torch.allclose(cagrad_dual(gram, sqrt_phi, line_search=False), exact, atol=1e-6)


def test_cagrad_with_c_zero_is_the_average_gradient():
    g = torch.randn(3, 10, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert torch.allclose(cagrad_direction(g, 0.0), g.mean(0), atol=1e-7)


# --- task order -----------------------------------------------------------------------------------
@pytest.mark.parametrize("tasks", [2, 3, 4])
def test_mgda_and_cagrad_do_not_depend_on_the_task_order(tasks):
    g = torch.randn(tasks, 25, generator=torch.Generator().manual_seed(tasks), dtype=torch.float64)
    g[1] = -0.5 * g[0] + 0.5 * g[1]
    mgda = min_norm_weights(g) @ g
    cagrad = cagrad_direction(g, 0.4)
    for perm in itertools.permutations(range(tasks)):
        h = g[list(perm)]
        assert torch.allclose(min_norm_weights(h) @ h, mgda, atol=1e-7), perm
        assert torch.allclose(cagrad_direction(h, 0.4), cagrad, atol=1e-6), perm


# --- uncertainty, GradNorm, DWA -------------------------------------------------------------------
def test_uncertainty_log_variances_converge_to_log_of_the_losses():
    losses = {"a": torch.tensor(0.3), "b": torch.tensor(2.5), "c": torch.tensor(1.0)}
    weighting = make_weighting("uncertainty", list(losses))
    assert isinstance(weighting, UncertaintyWeighting)
    opt = torch.optim.Adam(weighting.parameters(), lr=0.05)
    for _ in range(1500):
        opt.zero_grad()
        weights = weighting.backward(losses, nn.Identity())
        opt.step()
    expected = torch.log(torch.stack(list(losses.values())))
    assert torch.allclose(weighting.log_vars.detach(), expected, atol=1e-3)
    assert weights["b"] == pytest.approx(1 / 2.5, rel=1e-2)


def test_gradnorm_weights_stay_positive_and_sum_to_the_number_of_tasks():
    seed_everything(0)
    tasks = [SHAPES, COLOURS, FRONT]
    weighting = make_weighting("gradnorm", [t.name for t in tasks])
    assert isinstance(weighting, GradNorm)
    trainer = Trainer(
        HardSharingNet(tasks, in_channels=3, image_size=16), tasks, weighting=weighting, lr=3e-3
    )
    data = _tiny()
    seen = []
    for step in range(60):
        row = trainer.step(data.batch(torch.arange(step % 2 * 32, step % 2 * 32 + 32)))
        used = [row[f"weight_{t.name}"] for t in tasks]
        for w in (used, weighting.weights.detach().tolist()):
            assert min(w) > 0 and sum(w) == pytest.approx(3.0, abs=1e-5)
        seen.append(used)
    assert max(abs(w - 1.0) for w in seen[-1]) > 0.01  # the weights do move


def test_dwa_follows_its_formula_on_a_loss_history():
    weighting = DynamicWeightAverage(["a", "b", "c"], temperature=2.0)
    history = [
        {"a": 1.0, "b": 2.0, "c": 0.5},
        {"a": 0.5, "b": 1.8, "c": 0.5},
        {"a": 0.45, "b": 0.9, "c": 0.4},
    ]
    assert weighting.weights == {"a": 1.0, "b": 1.0, "c": 1.0}
    weighting.epoch_end(history[0])
    assert weighting.weights == {"a": 1.0, "b": 1.0, "c": 1.0}  # still 1 in epoch 2
    for k in (1, 2):
        weighting.epoch_end(history[k])
        r = {t: history[k][t] / history[k - 1][t] for t in "abc"}
        z = sum(math.exp(v / 2.0) for v in r.values())
        for t in "abc":
            assert weighting.weights[t] == pytest.approx(3 * math.exp(r[t] / 2.0) / z)
    assert dwa_weights([0.5, 0.5], [1.0, 1.0]) == pytest.approx([1.0, 1.0])
    # backward uses those weights
    x = nn.Parameter(torch.ones(3))
    weighting.backward({"a": x[0], "b": 2 * x[1], "c": x[2] ** 2}, nn.Identity())
    w = weighting.weights
    assert x.grad.tolist() == pytest.approx([w["a"], 2 * w["b"], 2 * w["c"]])


class _Recorder(EqualWeighting):
    def __init__(self) -> None:
        self.calls: list[dict[str, float]] = []

    def epoch_end(self, mean_losses: dict[str, float]) -> None:
        self.calls.append(dict(mean_losses))


def test_trainer_calls_epoch_end_once_per_epoch_with_mean_train_losses():
    seed_everything(0)
    data = _tiny(64)
    recorder = _Recorder()
    trainer = Trainer(
        HardSharingNet([SHAPES, COLOURS], in_channels=3, image_size=16),
        [SHAPES, COLOURS],
        weighting=recorder,
    )
    history = trainer.fit(BatchLoader(data, 16), BatchLoader(Subset(data, 16), 16), epochs=3)
    assert len(recorder.calls) == 3
    for call, row in zip(recorder.calls, history, strict=True):
        assert set(call) == {"shapes", "colours"}
        assert call["shapes"] == pytest.approx(row["train_loss_shapes"])


def test_dwa_in_the_trainer_uses_the_epoch_means():
    seed_everything(0)
    data = _tiny(64)
    trainer = Trainer(
        HardSharingNet([SHAPES, COLOURS], in_channels=3, image_size=16),
        [SHAPES, COLOURS],
        weighting=make_weighting("dwa", ["shapes", "colours"]),
        lr=3e-3,
    )
    h = trainer.fit(BatchLoader(data, 16), BatchLoader(Subset(data, 16), 16), epochs=3)
    assert h[0]["train_weight_shapes"] == h[1]["train_weight_shapes"] == 1.0
    expected = dwa_weights(
        [h[1]["train_loss_shapes"], h[1]["train_loss_colours"]],
        [h[0]["train_loss_shapes"], h[0]["train_loss_colours"]],
    )
    assert [h[2]["train_weight_shapes"], h[2]["train_weight_colours"]] == pytest.approx(expected)


# --- every method in the real trainer -------------------------------------------------------------
@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_trains_without_nan(method):
    seed_everything(0)
    tasks = [SHAPES, COLOURS]
    model = HardSharingNet(tasks, in_channels=3, image_size=16)
    before = [p.detach().clone() for p in model.parameters()]
    trainer = Trainer(
        model, tasks, weighting=make_weighting(method, ["shapes", "colours"]), lr=3e-3
    )
    data = _tiny()
    rows = [trainer.step(data.batch(torch.arange(i % 2 * 32, i % 2 * 32 + 32))) for i in range(20)]
    assert all(math.isfinite(v) for row in rows for v in row.values())
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())
    for old, new in zip(before, model.parameters(), strict=True):
        assert not torch.equal(old, new.detach())  # every parameter, shared or not, moved
    assert rows[-1]["loss_shapes"] < rows[0]["loss_shapes"]


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_trains_a_dense_model_without_a_representation_hook(method):
    seed_everything(0)
    tasks = [SEG, DEPTH]
    model = DenseMultiTaskNet(tasks, widths=(8, 8, 8))
    encoder = [p.detach().clone() for p in model.encoder.parameters()]
    trainer = Trainer(model, tasks, weighting=make_weighting(method, ["seg", "depth"]), lr=3e-3)
    batch = _tiny(16).batch(torch.arange(16))
    rows = [trainer.step(batch) for _ in range(5)]
    assert all(math.isfinite(v) for row in rows for v in row.values())
    assert all(
        not torch.equal(a, b.detach())
        for a, b in zip(encoder, model.encoder.parameters(), strict=True)
    )


@pytest.mark.parametrize("method", ["pcgrad", "cagrad"])
def test_surgery_methods_add_to_existing_gradients(method):
    """A penalty's gradient (already in .grad when the weighting runs) must survive."""
    data = _tiny(16).batch(torch.arange(16))
    grads = []
    for prefill in (False, True):
        torch.manual_seed(0)
        model = HardSharingNet([SHAPES, COLOURS], in_channels=3, image_size=16)
        if prefill:
            for p in model.parameters():
                p.grad = torch.ones_like(p)
        out = model(data[0])
        losses = {t.name: t.loss(out[t.name], data[1][t.name]) for t in (SHAPES, COLOURS)}
        make_weighting(method, ["shapes", "colours"]).backward(losses, model)
        grads.append([p.grad.clone() for p in model.parameters()])
    for plain, filled in zip(*grads, strict=True):
        assert torch.allclose(filled, plain + 1, atol=1e-6)


def _pcgrad_run(seed: int) -> tuple[list[dict[str, float]], list[torch.Tensor]]:
    seed_everything(seed)
    tasks = [SHAPES, COLOURS, FRONT]
    model = HardSharingNet(tasks, in_channels=3, image_size=16)
    trainer = Trainer(
        model, tasks, weighting=make_weighting("pcgrad", [t.name for t in tasks], seed=seed)
    )
    data = _tiny(96)
    history = trainer.fit(
        BatchLoader(data, 32, shuffle=True, seed=seed), BatchLoader(Subset(data, 32), 32), epochs=2
    )
    rows = [{k: v for k, v in row.items() if k != "train_time_s"} for row in history]
    return rows, [p.detach().clone() for p in model.parameters()]


def test_pcgrad_training_is_deterministic_for_a_seed():
    (h1, p1), (h2, p2) = _pcgrad_run(3), _pcgrad_run(3)
    assert h1 == h2
    assert all(torch.equal(a, b) for a, b in zip(p1, p2, strict=True))


# --- construction, registry and CLI -----------------------------------------------------------------
def test_make_weighting_names_options_and_errors():
    assert list(METHODS) == [
        "equal",
        "static",
        "uncertainty",
        "dwa",
        "gradnorm",
        "pcgrad",
        "mgda",
        "cagrad",
        "famo",
    ]
    with pytest.raises(
        ValueError, match="unknown weighting method 'x'; choose one of equal, static, uncertainty"
    ):
        make_weighting("x", ["a", "b"])
    static = make_weighting("static", ["a", "b"])
    assert isinstance(static, StaticWeighting) and static.weights == {"a": 1.0, "b": 1.0}
    assert make_weighting("static", ["a", "b"], weights=(0.7, 1.3)).weights == {"a": 0.7, "b": 1.3}
    with pytest.raises(ValueError, match="got 1 static weights"):
        make_weighting("static", ["a", "b"], weights=(1.0,))
    with pytest.raises(ValueError, match="unknown normalization"):
        make_weighting("mgda", ["a", "b"], normalization="bogus")
    assert "c=0.5" in repr(make_weighting("cagrad", ["a", "b"], c=0.5))
    with pytest.raises(KeyError, match="built for tasks"):
        make_weighting("famo", ["a", "b"]).backward({"a": torch.tensor(1.0)}, nn.Identity())
    with pytest.raises(TypeError, match="shared_parameters"):
        x = nn.Parameter(torch.ones(1))
        make_weighting("pcgrad", ["a", "b"]).backward({"a": x.sum(), "b": x.sum()}, nn.Identity())


def test_weighting_experiments_are_registered_and_listed(capsys):
    names = {e.name for e in experiments.all_experiments() if e.chapter == "3-weighting"}
    assert {f"multimnist-hard-{m}" for m in METHODS} <= names
    assert {f"shapes-dense-{m}" for m in METHODS} <= names
    assert {f"multimnist-hard-static-w{w}" for w in ("0.1", "0.3", "0.5", "0.7", "0.9")} <= names
    # the equal-weight names are aliases of chapter 2's runs in the shipped manifest
    from mtl_tutorial import pretrained
    from mtl_tutorial.recipes.weighting import EQUAL_ALIASES

    for alias, target in EQUAL_ALIASES.items():
        assert pretrained.entries()[alias] == {"alias_of": target}
        assert pretrained.manifest()[alias] == pretrained.manifest()[target]
    exp = experiments.get("multimnist-hard-mgda")
    assert exp.metrics == ("acc_left", "acc_right", "params", "delta_m")
    assert experiments.get("multimnist-hard").chapter == "2-sharing"
    assert main(["list"]) == 0
    assert f"weighting methods: {', '.join(METHODS)}" in capsys.readouterr().out
    assert main(["list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["methods"] == list(METHODS)


@pytest.mark.parametrize("name", ["multimnist-hard-cagrad", "shapes-dense-gradnorm"])
def test_quick_weighting_experiment_trains_and_records_its_method(name, tmp_path, request):
    if name.startswith("multimnist"):
        request.getfixturevalue("mnist_root")
    result, path = experiments.run(name, experiments.TrainConfig(quick=True, out_dir=tmp_path))
    assert path.exists() and result.epochs == 1
    assert result.extra["config"]["weighting"].startswith(("CAGrad(", "GradNorm("))
    exp = experiments.get(name)
    assert {m for m in exp.metrics if m not in ("params", "delta_m")} <= set(result.metrics)


def test_benchmark_script_table_and_saved_json_come_from_one_run(mnist_root, tmp_path, capsys):
    from mtl_tutorial import bench_weighting

    path = tmp_path / "bench.json"
    args = ["--steps", "1", "--warmup", "0", "--device", "cpu", "--save-json", str(path)]
    assert bench_weighting.main(args) == 0
    table = capsys.readouterr().out
    saved = json.loads(path.read_text())
    assert [r["method"] for r in saved["results"]] == list(METHODS)
    assert saved["results"][0]["ratio"] == 1.0
    for r in saved["results"]:  # the printed table shows the saved numbers
        assert f"{r['method']:<12} {r['ms_per_step']:>9.1f} {r['ratio']:>8.2f}" in table
