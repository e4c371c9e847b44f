"""Tables, numbers and verdicts for the book, read from the shipped manifest and checkpoints.

* :mod:`~mtl_tutorial.report.results`: the recorded results of an experiment (its seeds,
  per-seed metrics and Δm, the shipped run, its history);
* :mod:`~mtl_tutorial.report.verdicts`: what several verdicts say together, and trends;
* :mod:`~mtl_tutorial.report.tables`: Markdown tables and sentences for the notebooks;
* :mod:`~mtl_tutorial.report.paired`: paired t intervals over matched seeds and Holm's
  correction over a family of comparisons;
* :mod:`~mtl_tutorial.report.family`: a notebook's family of paired comparisons, closed
  when the first verdict is read, with matched seeds read from the manifest.

The notebooks read every result through these functions, never through the manifest's JSON.
"""

from . import family, paired, results, tables, verdicts
from .family import *  # noqa: F403
from .paired import *  # noqa: F403
from .results import *  # noqa: F403 - the package's API is its three modules' public names
from .tables import *  # noqa: F403
from .verdicts import *  # noqa: F403

__all__ = sorted(
    [*family.__all__, *paired.__all__, *results.__all__, *tables.__all__, *verdicts.__all__]
)
