"""Chapter 5's experiments under their old name: see :mod:`mtl_tutorial.experiments.ch5_mtcgan`."""

from __future__ import annotations

from ..experiments.ch5_mtcgan import *  # noqa: F403 - the chapter's public names
