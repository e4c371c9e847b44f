"""The docstring examples of every module in ``mtl_tutorial`` run as doctests.

Modules are found by walking the package's folders, so a module that moves is still
collected. Examples marked ``# doctest: +SKIP`` stay skipped.
"""

from __future__ import annotations

import doctest
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import mtl_tutorial

PACKAGE = Path(mtl_tutorial.__file__).resolve().parent


def module_names(root: Path = PACKAGE) -> list[str]:
    """Dotted names of every module under ``root`` that lies in a package (has ``__init__.py``)."""
    names = set()
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        folders = [root.parent.joinpath(*parts[:i]) for i in range(1, len(parts))]
        if not all((folder / "__init__.py").exists() for folder in folders):
            continue
        names.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return sorted(names)


MODULES = module_names()


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(verbose=False)
    tests = [t for t in finder.find(module, name) if t.examples]
    for test in tests:
        runner.run(test, out=lambda text: print(text, end=""))
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed (see stdout)"


def test_walk_finds_the_modules_with_examples() -> None:
    assert {"mtl_tutorial.schedules", "mtl_tutorial.data.shapes"} <= set(MODULES)
    assert any(name.startswith("mtl_tutorial.models.genseg") for name in MODULES)
    assert len(MODULES) > 30


@pytest.mark.parametrize("name", ["mtl_tutorial.__main__", "mtl_tutorial.reproduce.worker"])
def test_entry_points_do_nothing_on_import(name: str) -> None:
    """Importing a ``python -m`` entry point (as the doctest walk does) must not run it."""
    code = f"import {name}; print('imported')"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout == "imported\n" and out.stderr == ""
