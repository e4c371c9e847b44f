"""The student edition of the book holds no solution; the instructor edition holds them all.

For every ``{solution}`` directive of ``book/*.md`` the test takes probes from its content
(long code lines of its snippet and long plain-prose lines) and looks for them in the
visible text of every page. Each solution must be found in the instructor edition (so the
probes are real: the test can fail) and none may appear in the student edition, which
``python -m mtl_tutorial classroom --book student`` builds into
``_build/student/_build/html``. Skips unless both builds exist, or fails with
``MTL_TUTORIAL_REQUIRE_BUILD=1`` (set by ``.ci/run``).
"""

from __future__ import annotations

import json
import os
import re
from functools import cache
from pathlib import Path

import pytest

bs4 = pytest.importorskip("bs4")

ROOT = Path(__file__).resolve().parents[1]
INSTRUCTOR = ROOT / "_build" / "html"
STUDENT = ROOT / "_build" / "student" / "_build" / "html"
PLAIN = re.compile(r"^[A-Za-z0-9 ,.;:'()\-]+$")


def _public_text() -> str:
    """What the student edition may show: the chapters without their solutions, the notebooks."""
    parts = [re.sub(r"^(:::+)\{solution\}.*?^\1$", "", p.read_text(encoding="utf-8"), flags=re.M | re.S)
             for p in (ROOT / "book").glob("*.md")]
    for nb in (ROOT / "notebooks").rglob("*.ipynb"):
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        parts += ["".join(c["source"]) for c in cells]
    return _norm(" ".join(parts))


def solutions() -> dict[str, list[str]]:
    """Label of the exercise -> probes of its solution's content (none that is also public)."""
    public = _public_text()
    out: dict[str, list[str]] = {}
    for path in sorted((ROOT / "book").glob("*.md")):
        lines = path.read_text(encoding="utf-8").splitlines()
        i = 0
        while i < len(lines):
            m = re.match(r"^(:::+)\{solution\}\s*(\S+)", lines[i])
            if not m:
                i += 1
                continue
            fence, label, probes, in_code = m.group(1), m.group(2), [], False
            i += 1
            while i < len(lines) and lines[i].strip() != fence:
                line = re.sub(r"^(\d+\.|-) ", "", lines[i].strip())  # list markers are not text
                if line.startswith("```"):
                    in_code = not in_code
                elif in_code and len(line) >= 30 and not line.startswith("#"):
                    probes.append(line)
                elif not in_code and len(line) >= 45 and PLAIN.match(line):
                    probes.append(line)
                i += 1
            out[label] = [p for p in probes if _norm(p) not in public]
    return out


@cache
def visible_text(html_root: Path) -> str:
    """All pages' visible text with whitespace collapsed."""
    if not (html_root / "index.html").exists():
        if os.environ.get("MTL_TUTORIAL_REQUIRE_BUILD"):
            pytest.fail(f"no build under {html_root}")
        pytest.skip(f"{html_root} not built")
    chunks = []
    for page in sorted(html_root.rglob("*.html")):
        if "_static" in page.parts or "_sources" in page.parts:
            continue
        soup = bs4.BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        for tag in soup(["script", "style", "head"]):
            tag.decompose()
        chunks.append(soup.get_text())  # no separator: highlighted code is split into spans
    return re.sub(r"\s+", " ", " ".join(chunks))


def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", s)


def test_the_probes_cover_every_solution():
    found = solutions()
    assert len(found) >= 40
    assert [label for label, probes in found.items() if not probes] == []


def test_instructor_edition_has_every_solution():
    text = visible_text(INSTRUCTOR)
    missing = [label for label, probes in solutions().items() if not any(_norm(p) in text for p in probes)]
    assert missing == [], f"solutions whose probes are not in the instructor edition: {missing}"


def test_student_edition_has_no_solution():
    text = visible_text(STUDENT)
    leaked = {
        label: [p for p in probes if _norm(p) in text]
        for label, probes in solutions().items()
    }
    leaked = {k: v for k, v in leaked.items() if v}
    assert leaked == {}, f"solution text in the student edition: {leaked}"


def test_student_edition_has_the_chapters_but_not_the_guide():
    text = visible_text(STUDENT)
    assert "student edition" in text
    assert (STUDENT / "book" / "02_sharing.html").exists()
    assert (STUDENT / "book" / "labs.html").exists()
    assert not (STUDENT / "book" / "instructor_guide.html").exists()
