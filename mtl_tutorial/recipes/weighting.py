"""Chapter 3's experiments under their old name: see :mod:`mtl_tutorial.experiments.ch3_weighting`."""

from __future__ import annotations

from ..experiments.ch3_weighting import *  # noqa: F403 - the chapter's public names
