"""MultiMNIST / MultiMNIST-Seg: composition, labels, pairing and determinism."""

from __future__ import annotations

import pytest
import torch

from mtl_tutorial.data import (
    FOREGROUND_THRESHOLD,
    MultiMNIST,
    MultiMNISTSeg,
    build_multimnist,
    build_multimnist_seg,
    compose_pair,
    load_source,
    resize_canvas,
    sample_pairs,
    segmentation_map,
)


def _blank() -> torch.Tensor:
    return torch.zeros(28, 28, dtype=torch.uint8)


def test_compose_pair_exact_positions():
    left, right = _blank(), _blank()
    left[0, 0], left[27, 27], left[10, 10] = 255, 100, 80
    right[0, 0], right[27, 27], right[4, 4] = 50, 200, 120  # right (4, 4) lands on canvas (10, 10)
    canvas = compose_pair(left, right)
    assert canvas.shape == (36, 36) and canvas.dtype == torch.uint8
    expected = torch.zeros(36, 36, dtype=torch.uint8)
    expected[0, 0] = 255  # left only
    expected[6, 6] = 50  # right (0, 0) shifted by 6
    expected[27, 27] = 100  # left (27, 27); right (21, 21) is 0
    expected[33, 33] = 200  # right (27, 27)
    expected[10, 10] = 120  # overlap: pixel-wise max of 80 and 120
    assert torch.equal(canvas, expected)


def test_compose_pair_places_whole_images():
    g = torch.Generator().manual_seed(0)
    left = torch.randint(0, 256, (28, 28), generator=g, dtype=torch.uint8)
    canvas = compose_pair(left, _blank())
    assert torch.equal(canvas[:28, :28], left)
    assert canvas[28:].sum() == 0 and canvas[:, 28:].sum() == 0
    canvas = compose_pair(_blank(), left)
    assert torch.equal(canvas[6:34, 6:34], left)
    assert canvas[34:].sum() == 0 and canvas[:, 34:].sum() == 0 and canvas[:6].sum() == 0


def test_compose_pair_batches_and_rejects_bad_shapes():
    a = torch.randint(0, 256, (5, 28, 28), dtype=torch.uint8)
    b = torch.randint(0, 256, (5, 28, 28), dtype=torch.uint8)
    batch = compose_pair(a, b)
    assert torch.equal(batch[3], compose_pair(a[3], b[3]))
    with pytest.raises(ValueError, match=r"\(\.\.\., 28, 28\)"):
        compose_pair(
            torch.zeros(5, 32, 32, dtype=torch.uint8), torch.zeros(5, 32, 32, dtype=torch.uint8)
        )
    with pytest.raises(ValueError, match="same shape"):
        compose_pair(a, b[:2])


def test_resize_canvas_shape_and_constant_image():
    canvas = torch.full((3, 36, 36), 77, dtype=torch.uint8)
    small = resize_canvas(canvas)
    assert small.shape == (3, 28, 28) and small.dtype == torch.uint8
    assert torch.all(small == 77)


def test_segmentation_map_overlap_rule():
    left, right = _blank()[None], _blank()[None]
    left[0, 10, 10], right[0, 4, 4] = 200, 150  # canvas (10, 10): left brighter
    left[0, 12, 12], right[0, 6, 6] = 140, 250  # canvas (12, 12): right brighter
    left[0, 14, 14], right[0, 8, 8] = 180, 180  # canvas (14, 14): tie -> left
    left[0, 16, 16], right[0, 10, 10] = 100, 129  # (16, 16): only the right is foreground
    left[0, 1, 1] = FOREGROUND_THRESHOLD - 1  # just below the threshold: background
    left[0, 2, 2] = FOREGROUND_THRESHOLD  # at the threshold: foreground
    right[0, 27, 27] = 255  # canvas (33, 33): right only
    mask = segmentation_map(left, right, torch.tensor([3]), torch.tensor([8]))[0]
    assert mask.shape == (36, 36) and mask.dtype == torch.uint8
    assert mask[10, 10] == 4 and mask[12, 12] == 9 and mask[14, 14] == 4 and mask[16, 16] == 9
    assert mask[1, 1] == 0 and mask[2, 2] == 4 and mask[33, 33] == 9
    assert int((mask > 0).sum()) == 6


def test_sample_pairs_is_seeded_and_valid():
    left, right = sample_pairs(1000, seed=3, split="train")
    again = sample_pairs(1000, seed=3, split="train")
    assert torch.equal(left, again[0]) and torch.equal(right, again[1])
    assert torch.equal(
        torch.sort(left).values, torch.arange(1000)
    )  # each image is a left digit once
    assert not torch.any(left == right)
    other = sample_pairs(1000, seed=4, split="train")
    assert not torch.equal(left, other[0])
    test_split = sample_pairs(1000, seed=3, split="test")
    assert not torch.equal(left, test_split[0])
    with pytest.raises(ValueError, match="unknown split"):
        sample_pairs(10, 0, "valid")


def test_multimnist_real_data_labels_and_sizes(mnist_root):
    data = build_multimnist("test", seed=0)
    images, labels = load_source("mnist", "test")
    assert data["images"].shape == (10_000, 28, 28) and data["images"].dtype == torch.uint8
    assert torch.equal(data["left"], labels[data["left_index"]])
    assert torch.equal(data["right"], labels[data["right_index"]])
    i = 17
    canvas = compose_pair(images[data["left_index"][i]], images[data["right_index"][i]])
    assert torch.equal(data["images"][i], resize_canvas(canvas[None])[0])
    x, targets = MultiMNIST("test")[i]
    assert x.shape == (1, 28, 28) and 0.0 <= x.min() and x.max() <= 1.0
    assert set(targets) == {"left", "right"}


def test_multimnist_same_seed_identical_other_seed_differs(private_root, tmp_path_factory):
    other_root = tmp_path_factory.mktemp("other_root")
    (other_root / "MNIST").symlink_to(private_root / "MNIST", target_is_directory=True)
    a = build_multimnist("test", seed=5, root=private_root)
    b = build_multimnist("test", seed=5, root=other_root)  # built from scratch, not from a's cache
    assert (private_root / "multimnist").exists() and (other_root / "multimnist").exists()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    c = build_multimnist("test", seed=6, root=private_root)
    assert not torch.equal(a["images"], c["images"])
    cached = build_multimnist("test", seed=5, root=private_root)  # second call reads the cache
    assert torch.equal(cached["images"], a["images"])


def test_multimnist_seg_matches_composition_and_rule(mnist_root):
    seg = build_multimnist_seg("test", seed=0)
    cls = build_multimnist("test", seed=0)
    assert seg["images"].shape == (10_000, 36, 36) and seg["mask"].shape == (10_000, 36, 36)
    assert torch.equal(seg["left_index"], cls["left_index"])
    assert torch.equal(resize_canvas(seg["images"][:50]), cls["images"][:50])  # same composition
    mask, images = seg["mask"], seg["images"]
    assert torch.equal(mask > 0, images >= FOREGROUND_THRESHOLD)
    for i in range(50):
        present = set(mask[i].unique().tolist()) - {0}
        assert present <= {int(seg["left"][i]) + 1, int(seg["right"][i]) + 1}
    assert mask[:, 34:].sum() == 0 and mask[:, :, 34:].sum() == 0
    x, targets = MultiMNISTSeg("test")[0]
    assert x.shape == (1, 36, 36) and targets["seg"].dtype == torch.int64
