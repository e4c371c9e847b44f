"""Chapter 2's experiments under their old name: see :mod:`mtl_tutorial.experiments.ch2_sharing`."""

from __future__ import annotations

from ..experiments.ch2_sharing import *  # noqa: F403 - the chapter's public names
from ..experiments.ch2_sharing import nt_tag as _nt_tag  # noqa: F401 - the old private name
from ..experiments.common import (  # noqa: F401 - lived here before experiments/common.py
    GRAD_COSINE_EVERY,
    Setup,
    single_task_baselines,
)
