"""Chapter 4's experiments under their old name: see :mod:`mtl_tutorial.experiments.ch4_genseg`."""

from __future__ import annotations

from ..experiments.ch4_genseg import *  # noqa: F403 - the chapter's public names
