"""Figure helpers: the book's figures must be images whatever the matplotlib backend."""

import matplotlib

matplotlib.use("Agg")  # what CI uses; a glued Figure object would then have only a text form

import matplotlib.pyplot as plt
import myst_nb
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
