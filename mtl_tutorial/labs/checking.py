"""What every lab check is built from: one error type and a few comparisons with messages.

A lab check calls the student's function on random inputs, compares the result with the
package's reference and raises :class:`LabCheckError` (an ``AssertionError``, so the
grader counts it as a failed test) whose message says what was expected, what came back
and where to look. A check that passes is silent and returns ``True``.

>>> expect_close(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0]), "w")
>>> expect_close(torch.tensor([1.0, 2.5]), torch.tensor([1.0, 2.0]), "w", hint="See Task 1.")
Traceback (most recent call last):
...
mtl_tutorial.labs.checking.LabCheckError: w: differs from the reference by up to 0.5 (got [1, 2.5], expected [1, 2]). See Task 1.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Sequence
from typing import Any

import torch

__all__ = [
    "LabCheckError",
    "LabNotReadyError",
    "as_tensor",
    "expect_close",
    "expect_shape",
    "expect_tensor",
    "passed",
    "random_generator",
    "ready",
    "student_call",
]


class LabCheckError(AssertionError):
    """A student's answer does not match the reference; the message says how and why."""


class LabNotReadyError(RuntimeError):
    """A lab cell needs a task that is not finished yet; the message names the task."""


def random_generator(seed: int = 0) -> torch.Generator:
    """A seeded CPU generator, so a failing check fails the same way every time."""
    return torch.Generator().manual_seed(seed)


def as_tensor(value: Any, what: str, hint: str = "") -> torch.Tensor:
    """``value`` as a float tensor, or a :class:`LabCheckError` that says what came back."""
    if value is None or value is Ellipsis:
        raise LabCheckError(
            f"{what}: got {value!r}. The function has no answer yet: replace the `...` "
            f"with your code and make it `return` the result. {hint}".strip()
        )
    if isinstance(value, torch.Tensor):
        return value.detach().to(torch.float64)
    try:
        return torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise LabCheckError(
            f"{what}: expected numbers (a tensor or a list), got {type(value).__name__}. {hint}"
        ) from exc


def expect_tensor(value: Any, what: str, hint: str = "") -> torch.Tensor:
    """``value`` itself (dtype and autograd graph kept) if it is a tensor, else a clear error.

    ``None``/``...`` give "no answer yet" and non-numbers "expected numbers" (as
    :func:`as_tensor`); numbers that are not a tensor (a float from ``.item()``, a list)
    give "expected a torch tensor".
    """
    if not isinstance(value, torch.Tensor):
        as_tensor(value, what, hint)
        raise LabCheckError(
            f"{what}: expected a torch tensor (torch.Tensor), got {type(value).__name__}. {hint}".strip()
        )
    return value


def expect_shape(value: torch.Tensor, shape: Sequence[int], what: str, hint: str = "") -> None:
    """Raise unless ``value`` has exactly ``shape``."""
    if tuple(value.shape) != tuple(shape):
        raise LabCheckError(
            f"{what}: expected shape {tuple(shape)}, got {tuple(value.shape)}. {hint}".strip()
        )


def expect_close(
    got: Any, want: Any, what: str, hint: str = "", atol: float = 1e-5, rtol: float = 1e-4
) -> None:
    """Raise unless ``got`` equals the reference ``want`` up to ``atol + rtol * |want|``."""
    want_t = as_tensor(want, f"{what} (reference)")
    got_t = as_tensor(got, what, hint)
    expect_shape(got_t, want_t.shape, what, hint)
    if not torch.isfinite(got_t).all():
        raise LabCheckError(f"{what}: contains NaN or infinity. {hint}".strip())
    gap = (got_t - want_t).abs()
    if (gap > atol + rtol * want_t.abs()).any():
        worst = float(gap.max())
        raise LabCheckError(
            f"{what}: differs from the reference by up to {worst:.3g} "
            f"(got {_short(got_t)}, expected {_short(want_t)}). {hint}".strip()
        )


def _short(t: torch.Tensor) -> str:
    flat = t.flatten()
    shown = ", ".join(f"{v:.4g}" for v in flat[:4].tolist())
    return f"[{shown}{', ...' if flat.numel() > 4 else ''}]"


def passed(task: str, what: str) -> bool:
    """A check's success value: ``True``, silently.

    ``task`` and ``what`` document what the check verified. The grader prints its own
    "passed" line, and the test cells read ``assert checks.check_x(x)``, which must print
    nothing when the check passes (an Otter test compares the cell's output with nothing).
    """
    return bool(task and what) or True


def ready(*checks: Callable[[], object]) -> None:
    """Run the given checks quietly before a training cell; raise if one fails.

    A training cell that starts with ``ready(...)`` stops at once with the failing task's
    message instead of training a broken model for two minutes.
    """
    for check in checks:
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                check()
        except LabCheckError as exc:
            raise LabNotReadyError(
                f"This cell uses your code, which does not pass its check yet: {exc}"
            ) from None


def student_call(fn: Callable[..., Any], task: str, *args: Any, **kwargs: Any) -> Any:
    """Call the student's ``fn``; an exception inside it becomes a :class:`LabCheckError`."""
    if not callable(fn):
        raise LabCheckError(f"{task}: expected a function, got {type(fn).__name__}")
    try:
        return fn(*args, **kwargs)
    except LabCheckError:
        raise
    except Exception as exc:  # the student's code may raise anything; report it, do not crash
        raise LabCheckError(
            f"{task}: your code raised {type(exc).__name__}: {exc}. Read the traceback by "
            "calling the function yourself in a new cell."
        ) from exc
