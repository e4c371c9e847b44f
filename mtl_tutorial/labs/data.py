"""Lab 1: composing MultiMNIST from two digits, written by the student.

The student writes the four steps of :mod:`mtl_tutorial.data.multimnist`: pasting a digit
on the 36x36 canvas, combining the two canvases by a pixel-wise maximum, resizing to
28x28 and (optional) the per-pixel label map of MultiMNIST-Seg. Each ``check_*`` compares
the student's function with the package's on random digit batches and checks the
geometry of chapter 1 (where a pixel lands, what a blank digit does, what the overlap
shows). :class:`ComposedPairs` turns the student's images into a dataset for the
package's :class:`~mtl_tutorial.trainer.Trainer`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from ..data.multimnist import (
    CANVAS,
    FOREGROUND_THRESHOLD,
    LEFT_OFFSET,
    RIGHT_OFFSET,
    compose_pair,
    place_on_canvas,
    resize_canvas,
    segmentation_map,
)
from .checking import LabCheckError, expect_tensor, passed, random_generator, student_call

__all__ = [
    "ComposedPairs",
    "check_compose_pair",
    "check_place_on_canvas",
    "check_resize_canvas",
    "check_segmentation_map",
    "random_digits",
]

DIGIT = 28


def random_digits(
    n: int, gen: torch.Generator, dtype: torch.dtype = torch.uint8, levels: list[int] | None = None
) -> torch.Tensor:
    """``n`` random 28x28 "digits": about a third of the pixels inked, the rest zero.

    Unlike real MNIST digits they have ink up to the border, so a digit pasted one pixel
    off cannot go unnoticed. ``levels`` restricts the ink to those grey values. A float
    ``dtype`` gives values in [0, 1].
    """
    shape = (n, DIGIT, DIGIT)
    if levels is None:
        ink = torch.randint(1, 256, shape, generator=gen)
    else:
        ink = torch.tensor(levels)[torch.randint(len(levels), shape, generator=gen)]
    images = torch.where(torch.rand(shape, generator=gen) < 0.35, ink, torch.zeros_like(ink))
    return images.to(torch.uint8) if dtype == torch.uint8 else images.to(dtype) / 255.0


def _expect(got: Any, want: torch.Tensor, what: str, hint: str = "") -> torch.Tensor:
    """Raise unless ``got`` is a tensor of ``want``'s shape and dtype with exactly its values."""
    got_t = expect_tensor(got, what)
    if tuple(got_t.shape) != tuple(want.shape):
        raise LabCheckError(
            f"{what}: expected shape {tuple(want.shape)}, got {tuple(got_t.shape)}. {hint}".strip()
        )
    if got_t.dtype != want.dtype:
        raise LabCheckError(
            f"{what}: expected dtype {want.dtype}, got {got_t.dtype}. Keep the input's dtype: "
            "build on tensors of that dtype and do not convert the result."
        )
    if not torch.equal(got_t, want):
        bad = (got_t != want).nonzero()[0].tolist()
        at = tuple(bad)
        raise LabCheckError(
            f"{what}: {int((got_t != want).sum())} of {want.numel()} values differ from the "
            f"reference; the first at index {at}: got {got_t[at].item():.4g}, expected "
            f"{want[at].item():.4g}. {hint}".strip()
        )
    return got_t


def _nonzero(canvas: torch.Tensor) -> list[tuple[int, int]]:
    """The first three non-zero pixels ``(row, column)`` of a 2-D canvas."""
    return [(int(p[0]), int(p[1])) for p in canvas.nonzero().tolist()][:3]


def check_place_on_canvas(fn: Callable[..., Any]) -> bool:
    """Task 1: ``fn(images, offset)`` pastes ``(..., 28, 28)`` images on ``(..., 36, 36)`` zeros."""
    task = "Task 1 (place_on_canvas)"
    hint = (
        "The digit goes to canvas[..., k:k + 28, k:k + 28] for offset k, on zeros of shape "
        "(*images.shape[:-2], 36, 36)."
    )
    r, c = 2, 5
    for k in (LEFT_OFFSET, RIGHT_OFFSET):
        image = torch.zeros(DIGIT, DIGIT, dtype=torch.uint8)
        image[r, c] = 200
        got = expect_tensor(student_call(fn, task, image, k), f"{task} with offset {k}")
        if tuple(got.shape) != (CANVAS, CANVAS):
            raise LabCheckError(
                f"{task} with offset {k}: a 28x28 image must give a {CANVAS}x{CANVAS} canvas "
                f"(the same size for every offset), got shape {tuple(got.shape)}."
            )
        if got.dtype != image.dtype:
            raise LabCheckError(
                f"{task}: a {image.dtype} image must give a {image.dtype} canvas, got "
                f"{got.dtype}. Make the canvas with images.new_zeros(...) or pass dtype=images.dtype."
            )
        where = _nonzero(got)
        if where != [(r + k, c + k)] or int(got[r + k, c + k]) != 200:
            raise LabCheckError(
                f"{task} with offset {k}: the digit's pixel at row {r}, column {c} must land at "
                f"row {r + k}, column {c + k} of the canvas with its value 200 and be the only "
                f"non-zero pixel; your canvas is non-zero at {where or 'no pixel at all'}. {hint}"
            )
    gen = random_generator(11)
    for dtype in (torch.uint8, torch.float32):
        images = random_digits(4, gen, dtype)
        before = images.clone()
        for k in (LEFT_OFFSET, 3, RIGHT_OFFSET):
            what = f"{task} on a batch of shape {tuple(images.shape)} ({dtype}), offset {k}"
            try:
                got = student_call(fn, task, images, k)
            except LabCheckError as exc:
                raise LabCheckError(f"{exc} It works on one digit, not on a batch: {hint}") from None
            if not torch.equal(images, before):
                raise LabCheckError(f"{task}: your function changed its input images; write into a new canvas.")
            _expect(got, place_on_canvas(images, k), what, hint)
    return passed(
        "Task 1",
        "a digit pixel (r, c) lands at (r + k, c + k); single images and batches, uint8 and "
        "float, offsets 0, 3 and 6 match the package",
    )


def check_compose_pair(fn: Callable[..., Any]) -> bool:
    """Task 2: ``fn(left, right)`` is ``max(P_0(left), P_6(right))`` on the 36x36 canvas."""
    task = "Task 2 (compose_pair)"
    left = torch.zeros(DIGIT, DIGIT, dtype=torch.uint8)
    right = torch.zeros_like(left)
    left[3, 4], right[3, 4] = 100, 200
    got = expect_tensor(student_call(fn, task, left, right), task)
    if tuple(got.shape) != (CANVAS, CANVAS):
        raise LabCheckError(
            f"{task}: two 28x28 digits must give one {CANVAS}x{CANVAS} canvas, got shape "
            f"{tuple(got.shape)}. Paste both with place_on_canvas before combining them."
        )
    placed = {(int(p[0]), int(p[1])): int(got[p[0], p[1]]) for p in got.nonzero().tolist()}
    if set(placed) == {(3, 4), (9, 10)} and placed != {(3, 4): 100, (9, 10): 200}:
        raise LabCheckError(
            f"{task}: the two digits land in the right places, but their values changed: a left "
            f"pixel of 100 and a right pixel of 200 that do not overlap must stay 100 and 200, "
            f"yours are {placed}. Where only one digit has ink, max(a, 0) = a shows it unchanged."
        )
    if placed != {(3, 4): 100, (9, 10): 200}:
        raise LabCheckError(
            f"{task}: with one pixel inked at row 3, column 4 of each digit, the left one (100) "
            f"must land at (3, 4) (offset {LEFT_OFFSET}) and the right one (200) at (9, 10) "
            f"(offset {RIGHT_OFFSET}); your canvas has {placed or 'no ink at all'}."
        )
    for a, b in ((90, 230), (230, 90)):  # the overlap shows the brighter, whichever side it is
        full_left = torch.full((DIGIT, DIGIT), a / 255.0)
        full_right = torch.full((DIGIT, DIGIT), b / 255.0)
        got = expect_tensor(student_call(fn, task, full_left, full_right), task)
        if tuple(got.shape) == (CANVAS, CANVAS) and abs(float(got[15, 15]) - max(a, b) / 255) > 1e-6:
            raise LabCheckError(
                f"{task}: where a left pixel of {a / 255:.3f} meets a right pixel of {b / 255:.3f} "
                f"the canvas must show the brighter one, {max(a, b) / 255:.3f} (max is symmetric: "
                f"max(a, b) = max(b, a)); yours shows {float(got[15, 15]):.3f}. Pasting one digit "
                "over the other, or adding them, does not give the maximum: use torch.maximum."
            )
    gen = random_generator(12)
    digits = random_digits(3, gen)
    blank = torch.zeros_like(digits)
    _expect(
        student_call(fn, task, digits, blank),
        place_on_canvas(digits, LEFT_OFFSET),
        f"{task} with a blank (all-zero) right digit",
        "A blank right digit must leave the left digit unchanged at [0:28, 0:28]: "
        "max(a, 0) = a. An average or a product would change it.",
    )
    _expect(
        student_call(fn, task, blank, digits),
        place_on_canvas(digits, RIGHT_OFFSET),
        f"{task} with a blank left digit",
        "A blank left digit must leave the right digit unchanged at [6:34, 6:34].",
    )
    for dtype in (torch.float32, torch.uint8):
        da, db = random_digits(5, gen, dtype), random_digits(5, gen, dtype)
        got = student_call(fn, task, da, db)
        if dtype == torch.float32 and isinstance(got, torch.Tensor) and got.numel() and (
            float(got.min()) < 0 or float(got.max()) > 1
        ):
            raise LabCheckError(
                f"{task}: digits with values in [0, 1] must give a canvas in [0, 1]; yours spans "
                f"[{float(got.min()):.3g}, {float(got.max()):.3g}]. The maximum never leaves the range."
            )
        _expect(got, compose_pair(da, db), f"{task} on a batch of shape {tuple(da.shape)} ({dtype})",
                "The result is torch.maximum(place_on_canvas(left, 0), place_on_canvas(right, 6)).")
    return passed(
        "Task 2",
        "digits land at offsets 0 and 6; a blank digit leaves the other unchanged; the overlap "
        "is the pixel-wise max (symmetric, stays in [0, 1]); batches match the package",
    )


def _resize_variants(canvas: torch.Tensor) -> dict[str, torch.Tensor]:
    """Typical near misses of :func:`resize_canvas`, each with what to change."""

    def shrink(x: torch.Tensor, mode: str = "bilinear", **kwargs: Any) -> torch.Tensor:
        return F.interpolate(x[:, None], size=(DIGIT, DIGIT), mode=mode, **kwargs)[:, 0]

    x = canvas.float()
    rounded = {
        "antialias is missing: pass antialias=True to F.interpolate": shrink(x, align_corners=False),
        "use align_corners=False": shrink(x, align_corners=True, antialias=True),
        "the mode must be 'bilinear', not 'nearest'": shrink(x, "nearest"),
        "the mode must be 'bilinear', not 'area'": shrink(x, "area"),
    }
    out = {advice: v.round().clamp(0, 255).to(torch.uint8) for advice, v in rounded.items()}
    out["the values are truncated, not rounded: call .round() before .to(torch.uint8)"] = shrink(
        x, align_corners=False, antialias=True
    ).to(torch.uint8)
    try:  # some PyTorch builds cannot interpolate uint8 tensors at all
        out[
            "it looks like you interpolated the uint8 tensor directly, whose rounding differs: "
            "convert it with .float() first"
        ] = shrink(canvas, align_corners=False, antialias=True)
    except RuntimeError:
        pass
    return out


def check_resize_canvas(fn: Callable[..., Any]) -> bool:
    """Task 3: ``fn(canvas)`` resizes uint8 ``(N, 36, 36)`` canvases to uint8 ``(N, 28, 28)``."""
    task = "Task 3 (resize_canvas)"
    hint = (
        "Add a channel dimension, convert to float, F.interpolate(..., size=(28, 28), "
        "mode='bilinear', align_corners=False, antialias=True), then "
        ".round().clamp(0, 255).to(torch.uint8) and drop the channel again."
    )
    gen = random_generator(13)
    canvas = compose_pair(random_digits(6, gen), random_digits(6, gen))
    before = canvas.clone()
    got = expect_tensor(student_call(fn, task, canvas), task)
    if tuple(got.shape) != (6, DIGIT, DIGIT):
        raise LabCheckError(
            f"{task}: 6 canvases of shape (6, 36, 36) must give shape (6, 28, 28), got "
            f"{tuple(got.shape)}. {hint}"
        )
    if got.dtype != torch.uint8:
        raise LabCheckError(
            f"{task}: the result must be uint8 like the stored images, got {got.dtype}. {hint}"
        )
    if not torch.equal(canvas, before):
        raise LabCheckError(f"{task}: your function changed its input canvases.")
    want = resize_canvas(canvas)
    if not torch.equal(got, want):
        for advice, variant in _resize_variants(canvas).items():
            if torch.equal(got, variant):
                raise LabCheckError(f"{task}: close, but {advice}.")
        _expect(got, want, task, hint)
    for value in (0, 77, 255):  # a constant canvas stays that constant: the range is kept
        flat = torch.full((2, CANVAS, CANVAS), value, dtype=torch.uint8)
        got = expect_tensor(student_call(fn, task, flat), task)
        if tuple(got.shape) != (2, DIGIT, DIGIT) or bool((got != value).any()):
            raise LabCheckError(
                f"{task}: a canvas that is {value} everywhere must resize to 28x28 images that are "
                f"{value} everywhere; yours has values {sorted(set(got.flatten().tolist()))[:5]}."
            )
    for lo, hi in ((40, 180), (0, 255)):  # bilinear averages: no value outside the input's range
        inside = torch.randint(lo, hi + 1, (3, CANVAS, CANVAS), generator=gen).to(torch.uint8)
        got = expect_tensor(student_call(fn, task, inside), task)
        if got.numel() and (int(got.min()) < lo or int(got.max()) > hi):
            raise LabCheckError(
                f"{task}: canvases with values in [{lo}, {hi}] gave values in "
                f"[{int(got.min())}, {int(got.max())}]; bilinear resizing averages neighbours, "
                f"so it cannot leave the input's range. {hint}"
            )
        _expect(got, resize_canvas(inside), f"{task} on noise in [{lo}, {hi}]", hint)
    return passed(
        "Task 3",
        "(N, 36, 36) uint8 -> (N, 28, 28) uint8 equal to the package's resize; constants and "
        "the value range are kept",
    )


def check_segmentation_map(fn: Callable[..., Any]) -> bool:
    """Task 4 (optional): ``fn(left, right, left_label, right_label)`` is MultiMNIST-Seg's map."""
    task = "Task 4 (segmentation_map)"
    rule = (
        "A canvas pixel is foreground when max(P0(a), P6(b)) >= 128; its label is 1 + the "
        "digit whose placed pixel is brighter (ties: the left digit), and 0 on background."
    )
    # one probe per row of cases: (left value, right value) at canvas pixel (10, 10)
    cases = [(0, 0, 0), (127, 0, 0), (128, 0, 1), (0, 128, 2), (255, 0, 1), (100, 100, 0),
             (120, 90, 0), (200, 200, 1), (150, 250, 2), (250, 150, 1), (100, 130, 2), (130, 100, 1)]
    n = len(cases)
    left = torch.zeros(n, DIGIT, DIGIT, dtype=torch.uint8)
    right = torch.zeros_like(left)
    for i, (a, b, _) in enumerate(cases):
        left[i, 10, 10], right[i, 4, 4] = a, b  # both land on canvas pixel (10, 10)
    right[:, 27, 27] = 255  # lands on (33, 33): only the right digit reaches it
    ly, ry = torch.full((n,), 3), torch.full((n,), 7)
    got = expect_tensor(student_call(fn, task, left, right, ly, ry), task)
    if tuple(got.shape) != (n, CANVAS, CANVAS):
        raise LabCheckError(
            f"{task}: {n} pairs must give label maps of shape ({n}, 36, 36) (the canvas is not "
            f"resized), got {tuple(got.shape)}."
        )
    if got.dtype != torch.uint8:
        raise LabCheckError(f"{task}: the label map must be uint8 like the package's, got {got.dtype}; "
                            "finish with .to(torch.uint8).")
    corner = int(got[0, 33, 33])
    if corner != 8:
        raise LabCheckError(
            f"{task}: pixel (27, 27) of the right digit (255) lands on canvas pixel (33, 33), whose "
            f"label must be 8 (1 + right digit 7); yours is {corner}. "
            + ("Labels are 1 + digit, so that 0 can mean background." if corner == 7
               else "Place the right digit at offset 6, the left one at offset 0.")
        )
    names = {0: "0 (background)", 1: "4 (1 + left digit 3)", 2: "8 (1 + right digit 7)"}
    value = {0: 0, 1: 4, 2: 8}
    for i, (a, b, who) in enumerate(cases):
        mine = int(got[i, 10, 10])
        if mine != value[who]:
            why = {
                (0, 0): "Background is 0.",
                (127, 0): "127 is below the threshold 128: background.",
                (128, 0): "128 itself is foreground (>= 128, not > 128).",
                (0, 128): "128 itself is foreground (>= 128, not > 128).",
                (100, 100): "The composite is max(100, 100) = 100 < 128: background (not the sum).",
                (120, 90): "The composite is max(120, 90) = 120 < 128: background.",
                (200, 200): "A tie goes to the left digit: compare with >=.",
            }.get((a, b), "The brighter placed pixel decides the digit.")
            if mine in (3, 7) and who:
                why = "Labels are 1 + digit, so that 0 can mean background."
            raise LabCheckError(
                f"{task}: where the left digit's pixel is {a} and the right one's is {b} the label "
                f"must be {names[who]}, yours is {mine}. {why}"
            )
    gen = random_generator(14)
    levels = [64, 127, 128, 129, 200, 255]  # exact ties and the threshold are common
    for _ in range(3):
        da, db = random_digits(8, gen, levels=levels), random_digits(8, gen, levels=levels)
        ya, yb = torch.randint(10, (8,), generator=gen), torch.randint(10, (8,), generator=gen)
        _expect(student_call(fn, task, da, db, ya, yb), segmentation_map(da, db, ya, yb),
                f"{task} on a random batch", rule)
    return passed(
        "Task 4",
        f"threshold {FOREGROUND_THRESHOLD} inclusive, brighter source wins, ties to the left, "
        "labels 1 + digit; random batches match the package",
    )


class ComposedPairs:
    """Composed 28x28 images and their (left, right) labels, as a batch dataset.

    Items are ``(image (1, 28, 28) in [0, 1], {"left": y, "right": y})`` like
    :class:`~mtl_tutorial.data.MultiMNIST`, so :class:`~mtl_tutorial.loaders.BatchLoader`
    and the trainer take them as they are.
    """

    def __init__(self, images: torch.Tensor, left: torch.Tensor, right: torch.Tensor):
        if images.dim() != 3 or tuple(images.shape[1:]) != (DIGIT, DIGIT):
            raise ValueError(f"expected images of shape (N, 28, 28), got {tuple(images.shape)}")
        if images.dtype != torch.uint8:
            raise ValueError(f"expected uint8 images (0 to 255), got {images.dtype}")
        if not len(images) == len(left) == len(right):
            raise ValueError(f"{len(images)} images but {len(left)} left and {len(right)} right labels")
        self.images = images
        self.targets = {"left": left.long(), "right": right.long()}

    def __len__(self) -> int:
        return len(self.images)

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Items ``index`` as one batch: images ``(B, 1, 28, 28)`` and labels ``(B,)``."""
        x = self.images[index].unsqueeze(1).float() / 255.0
        return x, {k: v[index] for k, v in self.targets.items()}
