"""Figure helpers: the book's figures must be images whatever the matplotlib backend, and
image mosaics tile as drawn by hand."""

import matplotlib

matplotlib.use("Agg")  # what CI uses; a glued Figure object would then have only a text form

import matplotlib.pyplot as plt
import myst_nb
import pytest
import torch

from mtl_tutorial import viz


def test_figure_png_is_a_png() -> None:
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    assert viz.figure_png(fig).startswith(b"\x89PNG\r\n\x1a\n")
    plt.close(fig)


def test_publish_glues_a_png_image_and_closes_the_figure(monkeypatch) -> None:
    glued = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, obj, display: glued.update({name: obj}))
    fig, ax = plt.subplots()
    ax.imshow(torch.rand(4, 4).numpy())
    viz.publish(fig, "fig-test")
    assert "image/png" in glued["fig-test"]._repr_mimebundle_()[0]
    assert not plt.fignum_exists(fig.number)


def test_mosaic_hand_worked() -> None:
    # two 2x2 images, one row: a white frame (1.0) around each, side by side
    images = torch.tensor([[[[0.1, 0.2], [0.3, 0.4]]], [[[0.5, 0.6], [0.7, 0.8]]]])
    tiled = viz.mosaic(images, ncols=2)
    assert tiled.shape == (4, 8)
    assert torch.equal(tiled[1:3, 1:3], images[0, 0]) and torch.equal(tiled[1:3, 5:7], images[1, 0])
    assert (tiled[0] == 1).all() and (tiled[:, 4] == 1).all() and (tiled[:, 3] == 1).all()
    # one column: the images stack vertically; frame=0 is a plain concatenation
    assert torch.equal(viz.mosaic(images, ncols=1)[5:7, 1:3], images[1, 0])
    assert torch.equal(
        viz.mosaic(images, ncols=2, frame=0), torch.cat([images[0, 0], images[1, 0]], 1)
    )


def test_mosaic_tile_size_follows_the_images() -> None:
    assert viz.mosaic(torch.rand(30, 1, 36, 36), 10).shape == (3 * 38, 10 * 38)  # chapter 4
    mnist = torch.rand(100, 1, 28, 28)
    assert viz.mosaic(mnist).shape == (300, 300)  # chapter 5: 10 per row, 30-pixel tiles
    assert torch.equal(viz.mosaic(mnist)[30 + 1 : 30 + 29, 60 + 1 : 60 + 29], mnist[12, 0])


def test_mosaic_rejects_what_it_cannot_tile() -> None:
    with pytest.raises(ValueError, match="do not fill rows of 10"):
        viz.mosaic(torch.rand(15, 1, 4, 4))
    with pytest.raises(ValueError, match="grey images"):
        viz.mosaic(torch.rand(10, 3, 4, 4))
