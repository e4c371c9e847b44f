"""Checks on the built book (``_build/html``), run by ``.ci/run`` after the book build.

* The book works offline: no page loads a script, stylesheet or font from another host;
  in particular MathJax is the local copy in ``_static/mathjax`` (a CDN would leave every
  formula as raw TeX on a machine without internet).
* No raw TeX reaches the reader: no ``$`` or ``\\(`` / ``\\[`` in text outside math,
  code and output containers (a math role that failed to parse, or a Markdown line that
  broke a formula, shows up exactly like that).
* Chapters are numbered 1-5 in the order of the book, each results notebook is a section
  of its chapter, and figures/exercises are numbered per chapter ("Fig. 2.3").
* The References page labels entries author-year, like the in-text citations.

Locally the tests skip when the book has not been built; with
``MTL_TUTORIAL_REQUIRE_BUILD=1`` (set by ``.ci/run``) a missing build is a failure.
``MTL_TUTORIAL_BOOK_HTML`` points the tests at another build folder.
"""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path
from urllib.parse import urlparse

import pytest

bs4 = pytest.importorskip("bs4")

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("MTL_TUTORIAL_BOOK_HTML", ROOT / "_build" / "html"))

# Containers whose text is math, code or program output, never prose.
_SKIP_TAGS = {"script", "style", "code", "pre", "kbd", "samp", "math", "svg", "head", "title"}
_SKIP_CLASSES = {"math", "highlight", "MathJax", "mjx-container"}
_RAW_TEX = re.compile(r"\$|\\\(|\\\[|\\begin\{")


def _pages() -> list[Path]:
    if not (HTML / "index.html").exists():
        if os.environ.get("MTL_TUTORIAL_REQUIRE_BUILD"):
            pytest.fail(f"no built book under {HTML}: run `jupyter-book build .` first")
        pytest.skip(f"book not built ({HTML} absent); run `jupyter-book build .`")
    pages = sorted(
        p for p in HTML.rglob("*.html") if "_static" not in p.parts and "_sources" not in p.parts
    )
    assert pages, f"no HTML pages under {HTML}"
    return pages


@cache
def _soup(path: Path) -> bs4.BeautifulSoup:
    return bs4.BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def _rel(path: Path) -> str:
    return path.relative_to(HTML).as_posix()


def _is_external(url: str) -> bool:
    parsed = urlparse(url)
    return bool(parsed.netloc) or parsed.scheme in {"http", "https"}


def _inside_skipped(node: bs4.element.PageElement) -> bool:
    for parent in node.parents:
        name = getattr(parent, "name", None)
        if name is None:
            continue
        if name in _SKIP_TAGS or name.startswith("mjx-"):
            return True
        classes = parent.get("class") or []
        if any(c in _SKIP_CLASSES for c in classes):
            return True
    return False


def test_no_external_scripts_styles_or_fonts() -> None:
    problems = []
    for page in _pages():
        soup = _soup(page)
        for tag in soup.find_all("script", src=True):
            if _is_external(tag["src"]):
                problems.append(f"{_rel(page)}: <script src={tag['src']}>")
        for tag in soup.find_all("link", href=True):
            rel = set(tag.get("rel") or [])
            if rel & {"stylesheet", "preload", "modulepreload", "prefetch"} and _is_external(
                tag["href"]
            ):
                problems.append(f"{_rel(page)}: <link rel={sorted(rel)} href={tag['href']}>")
    assert not problems, "pages load files from another host:\n" + "\n".join(problems)


def test_mathjax_is_the_local_copy() -> None:
    math_pages = 0
    for page in _pages():
        soup = _soup(page)
        if not soup.select(".math"):
            continue
        math_pages += 1
        srcs = [
            t["src"] for t in soup.find_all("script", src=True) if "mathjax" in t["src"].lower()
        ]
        assert srcs, f"{_rel(page)} has math but loads no MathJax"
        for src in srcs:
            assert not _is_external(src), f"{_rel(page)} loads MathJax from {src}"
            local = (page.parent / src.split("?")[0]).resolve()
            assert local.is_file(), f"{_rel(page)}: MathJax {src} missing at {local}"
    assert math_pages >= 3, f"only {math_pages} pages with math: is the math extension on?"


def test_no_raw_tex_outside_math() -> None:
    problems = []
    for page in _pages():
        body = _soup(page).body
        if body is None:
            continue
        for text in body.find_all(string=_RAW_TEX):
            if isinstance(text, bs4.element.Comment) or _inside_skipped(text):
                continue
            snippet = " ".join(str(text).split())[:120]
            problems.append(f"{_rel(page)}: {snippet!r}")
    assert not problems, "raw TeX outside math containers:\n" + "\n".join(problems)


def _number(page: Path) -> str:
    soup = _soup(page)
    h1 = soup.select_one("section h1") or soup.find("h1")
    assert h1 is not None, f"{_rel(page)} has no <h1>"
    num = h1.find(class_="section-number")
    return num.get_text(strip=True).rstrip(".") if num else ""


def test_chapters_numbered_in_order() -> None:
    _pages()
    for n in range(1, 6):
        (chapter,) = sorted((HTML / "book").glob(f"0{n}_*.html"))
        assert _number(chapter) == str(n), f"{_rel(chapter)} is not numbered chapter {n}"
        (notebook,) = sorted((HTML / "notebooks").glob(f"0{n}_*.html"))
        assert _number(notebook).startswith(f"{n}."), (
            f"{_rel(notebook)} is not a section of chapter {n}: {_number(notebook)!r}"
        )
    for page in ("book/intro.html", "book/glossary.html", "book/references.html"):
        assert _number(HTML / page) == "", f"{page} should not be numbered"


def test_figures_and_exercises_numbered_per_chapter() -> None:
    _pages()
    for n in range(1, 6):
        pages = [*(HTML / "book").glob(f"0{n}_*.html"), *(HTML / "notebooks").glob(f"0{n}_*.html")]
        for page in pages:
            soup = _soup(page)
            labels = [s.get_text(" ", strip=True) for s in soup.select(".caption-number")]
            labels += [
                s.get_text(" ", strip=True) for s in soup.select(".exercise .admonition-title")
            ]
            for label in labels:
                m = re.search(r"(Fig\.|Table|Exercise)\s*\(?([\d.]+)", label)
                if m:
                    assert m.group(2).startswith(f"{n}."), (
                        f"{_rel(page)}: {label!r} not numbered {n}.x"
                    )


def test_references_are_author_year() -> None:
    _pages()
    soup = _soup(HTML / "book" / "references.html")
    labels = [s.get_text(strip=True).strip("[]") for s in soup.select(".citation .label")]
    assert labels, "no bibliography entries on the References page"
    bad = [label for label in labels if not re.fullmatch(r"\D+, \d{4}[a-z]?", label)]
    assert not bad, f"bibliography labels not author-year: {bad}"
