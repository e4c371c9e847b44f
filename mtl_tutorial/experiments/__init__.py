"""Every experiment of the book, by name, chapter by chapter.

* :mod:`.registry`: what an :class:`Experiment` is; :func:`register`, :func:`get`,
  :func:`all_experiments` and :func:`run` (train by name and save the checkpoint).
* :mod:`.common`: the standard experiment (:class:`~.common.Setup`,
  :func:`~.common.register_standard`, the ``--quick`` rule).
* :mod:`.ch2_sharing` (with :mod:`.ch2_scarcity`), :mod:`.ch3_weighting`, :mod:`.ch4_genseg` (scored by
  :mod:`.genseg_eval`), :mod:`.ch5_mtcgan`: each chapter's experiments, every name written
  out, so ``grep -r multimnist-hard-pcgrad`` finds its definition.

Importing this package registers every chapter's experiments.
"""

from __future__ import annotations

from . import ch2_scarcity, ch2_sharing, ch3_weighting, ch4_genseg, ch5_mtcgan, registry
from .registry import *  # noqa: F403 - Experiment, TrainConfig, RunResult, register, get, run...

__all__ = ["CHAPTERS", "EXPERIMENT_MODULES", *registry.__all__]

#: The chapter modules, in book order; importing them registered their experiments.
CHAPTERS = (ch2_sharing, ch2_scarcity, ch3_weighting, ch4_genseg, ch5_mtcgan)
EXPERIMENT_MODULES = tuple(chapter.__name__ for chapter in CHAPTERS)  # the old name of CHAPTERS
