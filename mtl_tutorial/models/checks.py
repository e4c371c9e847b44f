"""Input checks shared by every model's ``forward``: a bad input fails with a clear message.

A wrong input to a convolutional network usually fails deep inside PyTorch ("mat1 and
mat2 shapes cannot be multiplied", "expected scalar type Float but found Byte"), far from
the mistake. :func:`check_images` runs first and raises a ``ValueError`` that names the
model, what it expects, what it got, and the fix::

    HardSharingNet: expected input (B, 1, 28, 28) float in [0, 1], got (28, 28) uint8.
    Missing batch and channel dimensions: add them with x[None, None]. Integer pixels:
    convert with x.float() / 255.

The checks read only ``.shape`` and ``.dtype`` (plain Python, no data-dependent operation,
no GPU synchronisation), so they cost nothing next to the forward pass and work under
``torch.compile``. Values (e.g. pixels outside [0, 1]) are not checked, since that needs the data.
"""

from __future__ import annotations

import torch

__all__ = ["check_images", "check_labels", "check_vectors"]


def _dtype(x: torch.Tensor) -> str:
    return str(x.dtype).removeprefix("torch.")


def _got(x: torch.Tensor) -> str:
    return f"{tuple(x.shape)} {_dtype(x)}"


def _to_float_fix(x: torch.Tensor, name: str, value_range: str) -> str | None:
    """The fix for a non-float input, or ``None`` if ``x`` is floating point."""
    if x.dtype.is_floating_point:
        return None
    if x.dtype == torch.uint8:
        scaled = (
            f"{name}.float() / 255" if value_range == "[0, 1]" else f"{name}.float() / 127.5 - 1"
        )
        return f"Integer pixels (0-255): convert with {scaled}."
    if x.dtype == torch.bool:
        return f"Boolean input: convert with {name}.float()."
    return f"Integer input: convert with {name}.float() and scale the values to {value_range}."


def check_images(
    x: torch.Tensor,
    model: str,
    channels: int,
    size: int | None = None,
    *,
    multiple: int = 1,
    min_size: int = 1,
    value_range: str = "[0, 1]",
    channels_arg: str | None = None,
    size_arg: str | None = None,
) -> None:
    """Raise a ``ValueError`` unless ``x`` is a float image batch ``(B, channels, H, W)`` for ``model``.

    ``size``: the model accepts only ``size x size`` images (a linear layer sees the flat
    feature map), and ``multiple`` is what the size argument of a rebuilt model must be
    divisible by; ``None``: any ``H, W`` divisible by ``multiple`` and at least ``min_size``
    (fully convolutional models). ``channels_arg`` / ``size_arg`` name the constructor
    arguments that set the channels / size (``None``: fixed by the architecture), so the
    message can say how to build a model for the input instead. All problems found are
    reported at once.
    """
    if size is None:
        rules = [f"H and W divisible by {multiple}"] if multiple > 1 else []
        rules += [f"H, W >= {min_size}"] if min_size > 1 else []
        expected = f"(B, {channels}, H, W) float in {value_range}"
        expected += f" with {' and '.join(rules)}" if rules else ""
    else:
        expected = f"(B, {channels}, {size}, {size}) float in {value_range}"
    head = f"{model}: expected input {expected}"
    if not isinstance(x, torch.Tensor):
        raise ValueError(
            f"{head}, got a {type(x).__name__}. Convert it with torch.as_tensor(x, dtype=torch.float32)."
        )

    def spatial_ok(h: int, w: int) -> bool:
        if size is not None:
            return h == size and w == size
        return h % multiple == 0 and w % multiple == 0 and h >= min_size and w >= min_size

    problems: list[str] = []
    shape = tuple(x.shape)
    if x.dim() == 4:
        full = shape
    elif x.dim() == 3 and channels == 1 and shape[0] != 1:  # (B, H, W): grey images without C
        full = (shape[0], 1, *shape[1:])
        problems.append("Missing channel dimension: add one with x.unsqueeze(1).")
    elif x.dim() == 3:  # (C, H, W): one image without its batch dimension
        full = (1, *shape)
        problems.append("Missing batch dimension: add one with x.unsqueeze(0).")
    elif x.dim() == 2 and channels == 1:  # (H, W): one grey image
        full = (1, 1, *shape)
        problems.append("Missing batch and channel dimensions: add them with x[None, None].")
    else:
        raise ValueError(
            f"{head}, got {_got(x)}: a {x.dim()}-D tensor where a 4-D batch (B, C, H, W) is needed."
        )

    _, c, h, w = full
    if c != channels:
        if w == channels and spatial_ok(c, h):
            problems.append(
                "The channels are last (B, H, W, C): move them with x.permute(0, 3, 1, 2)."
            )
        else:
            fixes = []
            if channels == 1 and c == 3:
                fixes.append("convert to grey with x.mean(dim=1, keepdim=True)")
            elif channels == 3 and c == 1:
                fixes.append("repeat the grey channel with x.expand(-1, 3, -1, -1)")
            elif channels == 3 and c == 4:
                fixes.append("drop the alpha channel with x[:, :3]")
            if channels_arg:
                fixes.append(f"build the model with {channels_arg}={c}")
            fix = "; " + ", or ".join(fixes) if fixes else ""
            fixed = "" if channels_arg else f" (the architecture takes {channels} only)"
            problems.append(
                f"Wrong number of channels: the model was built for {channels}{fixed}, "
                f"the input has {c}{fix}."
            )
    elif not spatial_ok(h, w):
        if size is not None:
            rebuild = (
                f", or build the model with {size_arg}={h}"
                if size_arg and h == w and h % multiple == 0
                else ""
            )
            problems.append(
                f"Wrong image size: the model was built for {size}x{size} images, the input is "
                f"{h}x{w}; resize with torch.nn.functional.interpolate(x, size=({size}, {size})){rebuild}."
            )
        elif h < min_size or w < min_size:
            problems.append(
                f"Image too small: {h}x{w}, the model needs at least {min_size}x{min_size}; "
                f"upsample with torch.nn.functional.interpolate(x, size=({max(h, min_size)}, {max(w, min_size)}))."
            )
        else:
            ph, pw = -h % multiple, -w % multiple
            halvings = multiple.bit_length() - 1
            times = {1: "once", 2: "twice"}.get(halvings, f"{halvings} times")
            problems.append(
                f"Wrong image size: {h}x{w}, but H and W must be divisible by {multiple} (the "
                f"encoder halves the resolution {times}); pad with "
                f"torch.nn.functional.pad(x, (0, {pw}, 0, {ph})) or crop to "
                f"{h - h % multiple}x{w - w % multiple}."
            )
    float_fix = _to_float_fix(x, "x", value_range)
    if float_fix:
        problems.append(float_fix)
    if problems:
        raise ValueError(f"{head}, got {_got(x)}. " + " ".join(problems))


def check_vectors(z: torch.Tensor, model: str, features: int, name: str = "z") -> None:
    """Raise a ``ValueError`` unless ``z`` is a float batch of vectors ``(B, features)``."""
    head = f"{model}: expected {name} of shape (B, {features}) float"
    if not isinstance(z, torch.Tensor):
        raise ValueError(
            f"{head}, got a {type(z).__name__}; draw it with torch.randn(B, {features})."
        )
    problems = []
    if z.dim() == 1 and z.shape[0] == features:
        problems.append(f"Missing batch dimension: add one with {name}.unsqueeze(0).")
    elif z.dim() == 4 and z.shape[1] == features and z.shape[2:] == (1, 1):
        problems.append(
            f"Image-shaped noise (B, {features}, 1, 1): flatten it with {name}.flatten(1)."
        )
    elif z.dim() != 2 or z.shape[1] != features:
        problems.append(
            f"The model was built for {features} values per sample (z_dim={features}); "
            f"draw it with torch.randn(B, {features})."
        )
    if not z.dtype.is_floating_point:
        problems.append(
            f"Integer {name}: it is Gaussian noise, draw it with torch.randn(B, {features})."
        )
    if problems:
        raise ValueError(f"{head}, got {_got(z)}. " + " ".join(problems))


def check_labels(
    labels: torch.Tensor, model: str, batch: int, num_classes: int, long_only: bool = False
) -> None:
    """Raise a ``ValueError`` unless ``labels`` are ``batch`` integer class indices ``(B,)``.

    ``long_only``: only int64 works (``F.one_hot``); otherwise int32 is accepted too
    (``nn.Embedding``). The values (in ``[0, num_classes)``) are not checked: that would
    read the data.
    """
    kind = "int64" if long_only else "integer"
    head = f"{model}: expected labels of shape ({batch},) {kind} in [0, {num_classes - 1}]"
    if not isinstance(labels, torch.Tensor):
        raise ValueError(
            f"{head}, got a {type(labels).__name__}; convert with torch.as_tensor(labels, dtype=torch.long)."
        )
    problems = []
    shape = tuple(labels.shape)
    if shape == (batch, num_classes) and num_classes != 1:
        problems.append("These look one-hot: pass class indices, labels.argmax(1).")
    elif shape == (batch, 1):
        problems.append("Extra dimension: use labels.reshape(-1).")
    elif shape != (batch,):
        problems.append(f"Need one label per sample of the batch of {batch}.")
    allowed = (torch.int64,) if long_only else (torch.int64, torch.int32)
    if labels.dtype not in allowed:
        problems.append("Class indices must be int64: convert with labels.long().")
    if problems:
        raise ValueError(f"{head}, got {_got(labels)}. " + " ".join(problems))
