"""Lab 1's checks: they pass on correct code and fail, with a useful message, on wrong code."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mtl_tutorial.data.multimnist import (
    compose_pair,
    place_on_canvas,
    resize_canvas,
    segmentation_map,
)
from mtl_tutorial.labs import data as checks
from mtl_tutorial.labs.checking import LabCheckError, LabNotReadyError, ready
from mtl_tutorial.loaders import BatchLoader
from mtl_tutorial.models.sharing import HardSharingNet
from mtl_tutorial.tasks import classification

# --- the lab's solutions, re-typed -------------------------------------------------------


def place(images, offset):
    canvas = torch.zeros(*images.shape[:-2], 36, 36, dtype=images.dtype)
    canvas[..., offset : offset + 28, offset : offset + 28] = images
    return canvas


def compose(left, right):
    return torch.maximum(place(left, 0), place(right, 6))


def resize(canvas):
    small = F.interpolate(
        canvas[:, None].float(), size=(28, 28), mode="bilinear", align_corners=False, antialias=True
    )
    return small[:, 0].round().clamp(0, 255).to(torch.uint8)


def seg(left, right, left_label, right_label):
    a, b = place(left, 0), place(right, 6)
    foreground = torch.maximum(a, b) >= 128
    digit = torch.where(a >= b, left_label.view(-1, 1, 1), right_label.view(-1, 1, 1))
    return torch.where(foreground, digit + 1, 0).to(torch.uint8)


def fails(check, fn, *fragments):
    with pytest.raises(LabCheckError) as info:
        check(fn)
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)
    return str(info.value)


def blank(*args):
    """What the student notebook's functions return before the student writes them."""
    return ...


# --- Task 1 ----------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [place_on_canvas, place])
def test_place_passes(fn, capsys):
    assert checks.check_place_on_canvas(fn) is True
    assert capsys.readouterr().out == ""  # an Otter test cell must print nothing on success


def test_place_failures():
    fails(checks.check_place_on_canvas, blank, "no answer yet")
    fails(checks.check_place_on_canvas, lambda x, k: None, "no answer yet")
    fails(checks.check_place_on_canvas, lambda x, k: place(x, k).tolist(), "torch.Tensor")

    def float_canvas(x, k):
        canvas = torch.zeros(*x.shape[:-2], 36, 36)
        canvas[..., k : k + 28, k : k + 28] = x
        return canvas

    fails(checks.check_place_on_canvas, float_canvas, "dtype", "new_zeros")

    def rows_only(x, k):
        canvas = x.new_zeros(*x.shape[:-2], 36, 36)
        canvas[..., k : k + 28, 0:28] = x
        return canvas

    fails(checks.check_place_on_canvas, rows_only, "row 8, column 11", "(8, 5)")

    def tight(x, k):
        canvas = x.new_zeros(*x.shape[:-2], 28 + k, 28 + k)
        canvas[..., k:, k:] = x
        return canvas

    fails(checks.check_place_on_canvas, tight, "36x36", "(28, 28)")

    def single_only(x, k):
        canvas = x.new_zeros(36, 36)
        canvas[k : k + 28, k : k + 28] = x
        return canvas

    fails(checks.check_place_on_canvas, single_only, "your code raised RuntimeError",
          "not on a batch", "images.shape[:-2]")

    def transposed(x, k):
        return place(x, k).transpose(-1, -2)

    fails(checks.check_place_on_canvas, transposed, "row 2, column 5", "(5, 2)")

    def in_place(x, k):
        out = place(x, k)
        x.zero_()
        return out

    fails(checks.check_place_on_canvas, in_place, "changed its input")
    fails(checks.check_place_on_canvas, "place", "expected a function")


# --- Task 2 ----------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [compose_pair, compose])
def test_compose_passes(fn):
    assert checks.check_compose_pair(fn)


def test_compose_failures():
    fails(checks.check_compose_pair, blank, "no answer yet")
    fails(checks.check_compose_pair, lambda a, b: place(a, 0) + place(b, 6), "brighter", "adding")
    fails(checks.check_compose_pair, lambda a, b: (place(a, 0) + place(b, 6)) / 2,
          "values changed", "{(3, 4): 50, (9, 10): 100}")
    fails(checks.check_compose_pair, lambda a, b: torch.maximum(place(a, 6), place(b, 0)),
          "(9, 10)", "(3, 4)")

    def pasted_over(a, b):
        canvas = place(a, 0)
        canvas[..., 6:34, 6:34] = b
        return canvas

    msg = fails(checks.check_compose_pair, pasted_over, "symmetric", "torch.maximum")
    assert "0.902" in msg and "0.353" in msg
    fails(checks.check_compose_pair, lambda a, b: compose(a, b).float(), "dtype")
    fails(checks.check_compose_pair, lambda a, b: torch.maximum(a, b), "36x36")
    # a sum clipped to [0, 1], as if every image were float
    fails(checks.check_compose_pair, lambda a, b: (place(a, 0) + place(b, 6)).clamp(max=1),
          "values changed")


# --- Task 3 ----------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [resize_canvas, resize])
def test_resize_passes(fn):
    assert checks.check_resize_canvas(fn)


def _interp(canvas, dtype=torch.float32, **kwargs):
    kwargs = {"mode": "bilinear", "align_corners": False, "antialias": True} | kwargs
    return F.interpolate(canvas[:, None].to(dtype), size=(28, 28), **kwargs)[:, 0]


def test_resize_failures():
    fails(checks.check_resize_canvas, blank, "no answer yet")
    fails(checks.check_resize_canvas, lambda c: _interp(c, antialias=False).round().to(torch.uint8),
          "antialias=True")
    fails(checks.check_resize_canvas, lambda c: _interp(c).to(torch.uint8), ".round()")
    fails(checks.check_resize_canvas, lambda c: _interp(c).round(), "uint8", "float32")
    fails(checks.check_resize_canvas, lambda c: _interp(c, dtype=torch.uint8), ".float() first")
    fails(checks.check_resize_canvas, lambda c: _interp(c, mode="nearest", align_corners=None,
                                                        antialias=False).round().to(torch.uint8),
          "nearest")
    fails(checks.check_resize_canvas, lambda c: _interp(c, align_corners=True).round().to(torch.uint8),
          "align_corners=False")
    fails(checks.check_resize_canvas,
          lambda c: F.interpolate(c.float(), size=(28, 28), mode="bilinear"), "your code raised")
    fails(checks.check_resize_canvas, lambda c: resize(c)[:, None], "(6, 28, 28)")
    fails(checks.check_resize_canvas, lambda c: resize(c)[:, :, :27], "(6, 28, 28)")
    # bicubic overshoots: the range check (or the comparison) catches it
    fails(checks.check_resize_canvas,
          lambda c: _interp(c, mode="bicubic").round().clamp(0, 255).to(torch.uint8), "Task 3")


# --- Task 4 ----------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [segmentation_map, seg])
def test_seg_passes(fn):
    assert checks.check_segmentation_map(fn)


def test_seg_failures():
    fails(checks.check_segmentation_map, blank, "no answer yet")

    def strict(a, b, ya, yb):
        out = seg(a, b, ya, yb)
        x = torch.maximum(place(a, 0), place(b, 6))
        return torch.where(x > 128, out, 0).to(torch.uint8)

    fails(checks.check_segmentation_map, strict, "128 itself is foreground")

    def ties_right(a, b, ya, yb):
        pa, pb = place(a, 0), place(b, 6)
        digit = torch.where(pa > pb, ya.view(-1, 1, 1), yb.view(-1, 1, 1))
        return torch.where(torch.maximum(pa, pb) >= 128, digit + 1, 0).to(torch.uint8)

    fails(checks.check_segmentation_map, ties_right, "tie goes to the left")

    def no_plus_one(a, b, ya, yb):
        out = seg(a, b, ya, yb)
        return torch.where(out > 0, out - 1, 0).to(torch.uint8)

    fails(checks.check_segmentation_map, no_plus_one, "1 + digit")

    def summed(a, b, ya, yb):
        pa, pb = place(a, 0).int(), place(b, 6).int()
        digit = torch.where(pa >= pb, ya.view(-1, 1, 1), yb.view(-1, 1, 1))
        return torch.where(pa + pb >= 128, digit + 1, 0).to(torch.uint8)

    fails(checks.check_segmentation_map, summed, "not the sum")
    fails(checks.check_segmentation_map, lambda *args: seg(*args).long(), "uint8")
    fails(checks.check_segmentation_map, lambda a, b, ya, yb: seg(b, a, yb, ya), "Task 4")

    def right_at_zero(a, b, ya, yb):
        pa, pb = place(a, 0), place(b, 0)
        digit = torch.where(pa >= pb, ya.view(-1, 1, 1), yb.view(-1, 1, 1))
        return torch.where(torch.maximum(pa, pb) >= 128, digit + 1, 0).to(torch.uint8)

    fails(checks.check_segmentation_map, right_at_zero, "offset 6")
    fails(checks.check_segmentation_map, lambda a, b, ya, yb: seg(a, b, ya, yb)[:, 4:32, 4:32],
          "(12, 36, 36)")


# --- the training glue -----------------------------------------------------------------


def test_random_digits():
    gen = checks.random_generator(0)
    u = checks.random_digits(4, gen)
    f = checks.random_digits(4, gen, torch.float32)
    assert u.dtype == torch.uint8 and u.shape == (4, 28, 28) and 0.2 < (u > 0).float().mean() < 0.5
    assert f.dtype == torch.float32 and 0 <= float(f.min()) and float(f.max()) <= 1
    levelled = checks.random_digits(4, gen, levels=[128, 200])
    assert set(levelled.unique().tolist()) == {0, 128, 200}


def test_composed_pairs_feed_the_model():
    gen = checks.random_generator(1)
    a, b = checks.random_digits(20, gen), checks.random_digits(20, gen)
    images = resize(compose(a, b))
    data = checks.ComposedPairs(images, torch.arange(20) % 10, torch.arange(20) % 7)
    x, targets = data.batch(torch.tensor([0, 3]))
    assert x.shape == (2, 1, 28, 28) and x.dtype == torch.float32 and float(x.max()) <= 1
    assert targets["left"].tolist() == [0, 3] and targets["right"].tolist() == [0, 3]
    tasks = [classification("left"), classification("right")]
    x, targets = next(iter(BatchLoader(data, batch_size=8, shuffle=True)))
    out = HardSharingNet(tasks)(x)  # what the trainer does with a batch, without its optimiser
    for task in tasks:
        assert torch.isfinite(task.loss(out[task.name], targets[task.name]))
    with pytest.raises(ValueError, match="uint8"):
        checks.ComposedPairs(images.float(), torch.zeros(20), torch.zeros(20))
    with pytest.raises(ValueError, match=r"\(N, 28, 28\)"):
        checks.ComposedPairs(compose(a, b), torch.zeros(20), torch.zeros(20))
    with pytest.raises(ValueError, match="labels"):
        checks.ComposedPairs(images, torch.zeros(19), torch.zeros(20))


def test_ready_stops_on_an_unfinished_task():
    with pytest.raises(LabNotReadyError, match="Task 1"):
        ready(lambda: checks.check_place_on_canvas(blank))
    ready(lambda: checks.check_place_on_canvas(place), lambda: checks.check_compose_pair(compose))
