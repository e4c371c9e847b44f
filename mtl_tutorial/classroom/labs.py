"""Labs: one source notebook per lab in, a student notebook and its grader out.

Each lab in ``notebooks/labs/`` is an Otter Assign notebook (otter-grader): the solutions,
the checks and the prose live in one file, and ``otter assign`` writes

* ``student/<lab>.ipynb``: the solutions replaced by ``...``, the checks kept as
  ``grader.check("task")`` cells (the tests travel in the notebook's metadata);
* ``autograder/``: the solution notebook, the tests and ``<lab>-autograder_*.zip``, which
  ``otter run -a <zip> <submission>.ipynb`` (or Gradescope) grades.

Otter runs every check on the solution notebook while it assigns, and fails if one does
not pass. :func:`try_student_notebook` then runs the student notebook as handed out, to
show that its setup cells work and that every check fails with its task's message.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SetupError, UsageError

__all__ = [
    "LAB_PATTERN",
    "Lab",
    "StudentRun",
    "assign_lab",
    "find_labs",
    "solution_lines",
    "task_messages",
    "try_student_notebook",
]

#: Lab sources are ``notebooks/labs/lab<N>_<topic>.ipynb``.
LAB_PATTERN = re.compile(r"^lab(\d+)_[a-z0-9_]+\.ipynb$")


@dataclass(frozen=True)
class Lab:
    """One lab source notebook and what assigning it produced."""

    source: Path
    out: Path

    @property
    def name(self) -> str:
        """``lab3_weighting`` for ``lab3_weighting.ipynb``."""
        return self.source.stem

    @property
    def student(self) -> Path:
        """The notebook handed to students."""
        return self.out / "student" / self.source.name

    @property
    def autograder(self) -> Path:
        """The folder with the solution notebook, the tests and the autograder zip."""
        return self.out / "autograder"


def find_labs(labs_dir: Path, only: list[str] | None = None) -> list[Path]:
    """The lab sources in ``labs_dir`` (sorted by number), or those named in ``only``."""
    if not labs_dir.is_dir():
        raise UsageError(
            f"no labs folder {labs_dir}: run the command from the root of the book's "
            "repository (where notebooks/labs/ is) or pass --labs DIR"
        )
    found = sorted(
        (p for p in labs_dir.iterdir() if LAB_PATTERN.match(p.name)),
        key=lambda p: int(LAB_PATTERN.match(p.name).group(1)),  # type: ignore[union-attr]  # filtered by the same pattern above
    )
    if not found:
        raise UsageError(f"{labs_dir} holds no lab notebooks named like lab1_topic.ipynb")
    if only:
        names = {p.stem: p for p in found} | {p.stem.split("_")[0]: p for p in found}
        unknown = [n for n in only if n not in names]
        if unknown:
            raise UsageError(f"unknown lab(s) {unknown}; choose from {sorted(p.stem for p in found)}")
        found = [names[n] for n in dict.fromkeys(only)]
    return found


def _otter() -> list[str]:
    """Otter's command line, run by this interpreter (the one whose packages the labs use)."""
    if importlib.util.find_spec("otter") is None:
        raise SetupError(
            "otter-grader is not installed; it builds the student notebooks and the grader. "
            "Fix: pip install -r requirements.txt"
        )
    return [sys.executable, "-m", "otter"]


def assign_lab(source: Path, out: Path, run_tests: bool = True) -> Lab:
    """Run ``otter assign`` on ``source`` into ``out`` (replaced if it exists).

    With ``run_tests`` (the default) Otter executes the solution notebook and fails unless
    every check passes; a failure raises :class:`RuntimeError` with Otter's report.
    """
    lab = Lab(source.resolve(), out.resolve())
    if lab.out.exists():
        shutil.rmtree(lab.out)
    cmd = [*_otter(), "assign", str(lab.source), str(lab.out)]
    if not run_tests:
        cmd.append("--no-run-tests")
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=lab.source.parent)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-40:])
        raise RuntimeError(
            f"otter assign failed on {source} (a solution does not pass its check, or the "
            f"notebook's Otter markers are malformed):\n{tail}"
        )
    if not lab.student.is_file():
        raise RuntimeError(f"otter assign wrote no student notebook for {source} in {out}")
    return lab


def task_messages(notebook: Path) -> dict[str, list[str]]:
    """The failure message of every check in a (student) notebook, by task name."""
    meta = json.loads(notebook.read_text(encoding="utf-8"))["metadata"].get("otter", {})
    out: dict[str, list[str]] = {}
    for task, test in meta.get("tests", {}).items():
        cases = [c for suite in test.get("suites", []) for c in suite.get("cases", [])]
        out[task] = [c.get("failure_message") or "" for c in cases]
    return out


def solution_lines(source: Path, min_length: int = 12) -> list[str]:
    """The code lines of ``source`` that Otter must strip: inside ``# BEGIN/END SOLUTION``
    blocks or marked ``# SOLUTION`` (lines shorter than ``min_length`` are too generic)."""
    cells = json.loads(source.read_text(encoding="utf-8"))["cells"]
    out = []
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        inside = False
        for line in "".join(cell["source"]).splitlines():
            text = line.strip()
            if text == "# BEGIN SOLUTION":
                inside = True
            elif text == "# END SOLUTION":
                inside = False
            elif (inside or text.endswith("# SOLUTION")) and len(text) >= min_length:
                out.append(text.removesuffix("# SOLUTION").strip())
    return out


@dataclass
class StudentRun:
    """What running a student notebook as handed out gave."""

    setup_errors: list[str] = field(default_factory=list)
    check_outputs: dict[str, str] = field(default_factory=dict)


def try_student_notebook(notebook: Path, timeout: int = 300) -> StudentRun:
    """Execute ``notebook`` top to bottom, errors allowed, and collect what matters.

    ``setup_errors`` lists the errors of cells tagged ``setup`` (there must be none);
    ``check_outputs`` maps each ``grader.check("task")`` to its printed report.
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(notebook, as_version=4)
    os.environ.setdefault("MTL_TUTORIAL_PROGRESS", "0")  # the kernel inherits it
    client = NotebookClient(
        nb, timeout=timeout, allow_errors=True, resources={"metadata": {"path": str(notebook.parent)}}
    )
    client.execute()
    run = StudentRun()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        text = "\n".join(_output_text(o) for o in cell.get("outputs", []))
        if "setup" in cell.metadata.get("tags", []):
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            if errors:
                run.setup_errors.append(f"{cell.source[:60]!r}: {errors[0].get('evalue', '')}")
        match = re.fullmatch(r'\s*grader\.check\("([^"]+)"\)\s*', cell.source)
        if match:
            run.check_outputs[match.group(1)] = text
    return run


def _output_text(output: dict) -> str:
    if output.get("output_type") == "stream":
        return str(output.get("text", ""))
    if output.get("output_type") == "error":
        return f"{output.get('ename')}: {output.get('evalue')}"
    return str(output.get("data", {}).get("text/plain", ""))
