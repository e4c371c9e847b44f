"""The two editions of the book: the instructor's (the default build) and the students'.

The student edition is the same book built with sphinx-exercise's ``hide_solutions``,
which drops every ``{solution}`` directive from the document tree (the solutions are not
in the HTML at all, not merely collapsed), and without the instructor guide. It reuses
the instructor build's notebook cache, so the notebooks are not executed a second time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from ..errors import SetupError, UsageError

__all__ = ["EDITIONS", "INSTRUCTOR_ONLY", "build_edition", "edition_config", "edition_toc"]

EDITIONS = ("instructor", "student")
#: Pages that only the instructor edition has.
INSTRUCTOR_ONLY = ("book/instructor_guide",)


def _yaml() -> Any:
    try:
        import yaml
    except ImportError as err:  # pragma: no cover - PyYAML comes with jupyter-book
        raise SetupError("PyYAML is missing; fix: pip install -r requirements.txt") from err
    return yaml


def edition_config(
    config: dict[str, Any], edition: str, cache: Path, root: Path | None = None
) -> dict[str, Any]:
    """``_config.yml`` of ``edition``: the student one hides solutions and says so in its title.

    The derived file lives elsewhere than ``root``'s own, so the paths in it that
    jupyter-book reads relative to the config file (local extensions, bibliographies)
    become absolute paths under ``root``.
    """
    if edition not in EDITIONS:
        raise UsageError(f"unknown edition {edition!r}; choose from {EDITIONS}")
    out = dict(config)
    if root is not None:
        out["bibtex_bibfiles"] = [str(root / f) for f in config.get("bibtex_bibfiles", [])]
        sphinx = dict(out.get("sphinx", {}))
        local = sphinx.get("local_extensions") or {}
        sphinx["local_extensions"] = {k: str(root / v) for k, v in local.items()}
        out["sphinx"] = sphinx
    if edition == "student":
        out["title"] = f"{config.get('title', 'Book')} (student edition)"
        sphinx = dict(out.get("sphinx", {}))
        sphinx["config"] = dict(sphinx.get("config", {}), hide_solutions=True)
        out["sphinx"] = sphinx
    out["execute"] = dict(out.get("execute", {}), cache=str(cache))
    return out


def edition_toc(toc: dict[str, Any], edition: str) -> dict[str, Any]:
    """``_toc.yml`` of ``edition``: the student one leaves out :data:`INSTRUCTOR_ONLY`."""
    if edition == "instructor":
        return toc

    def keep(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        kept = []
        for entry in entries:
            if entry.get("file") in INSTRUCTOR_ONLY:
                continue
            entry = dict(entry)
            for key in ("chapters", "sections"):
                if key in entry:
                    entry[key] = keep(entry[key])
            kept.append(entry)
        return kept

    out = dict(toc)
    out["parts"] = [p for p in keep(toc.get("parts", [])) if p.get("chapters")]
    return out


def build_edition(root: Path, edition: str, out: Path | None = None, strict: bool = True) -> Path:
    """Build ``edition`` of the book in ``root`` with jupyter-book; return its HTML folder.

    The instructor edition is the ordinary build (``_build/html``); the student edition
    goes to ``_build/student/_build/html`` unless ``out`` says otherwise. ``strict`` turns
    warnings into errors (``-W``), as CI does.
    """
    yaml = _yaml()
    root = root.resolve()
    config_file, toc_file = root / "_config.yml", root / "_toc.yml"
    if not config_file.is_file() or not toc_file.is_file():
        raise UsageError(
            f"{root} has no _config.yml/_toc.yml: run the command from the book's repository "
            "root or pass --root DIR"
        )
    cache = root / "_build" / ".jupyter_cache"
    target = (out or (root if edition == "instructor" else root / "_build" / edition)).resolve()
    exe = shutil.which("jupyter-book", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if exe is None:
        raise SetupError("jupyter-book is not installed; fix: pip install -r requirements.txt")
    cmd = [exe, "build", str(root), "--path-output", str(target)]
    if edition != "instructor":
        spec = target / "edition"
        spec.mkdir(parents=True, exist_ok=True)
        config = edition_config(
            yaml.safe_load(config_file.read_text(encoding="utf-8")), edition, cache, root
        )
        toc = edition_toc(yaml.safe_load(toc_file.read_text(encoding="utf-8")), edition)
        (spec / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        (spec / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False), encoding="utf-8")
        cmd += ["--config", str(spec / "_config.yml"), "--toc", str(spec / "_toc.yml")]
        html = target / "_build" / "html"
        if html.exists():
            shutil.rmtree(html)  # a stale page from an earlier build must not survive
    if strict:
        cmd += ["-W", "--keep-going"]
    done = subprocess.run(cmd, cwd=root)
    if done.returncode != 0:
        raise RuntimeError(f"jupyter-book build of the {edition} edition failed (see above)")
    return target / "_build" / "html"
