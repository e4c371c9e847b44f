"""Every ```python block in ``book/*.md`` runs, so the chapters' examples cannot rot.

The blocks of one page share a namespace and run in order, like the cells of a notebook.
A block that is deliberately not runnable carries an HTML comment (invisible in the book)
on the line right before its fence, with the reason::

    <!-- no-run: the broken snippet this section explains -->
    ```python
    ...

A block that raises :class:`DataNotFoundError` is skipped where the MNIST files are missing
(the ``mnist_root`` fixture decides; in CI it fails instead).
"""

from __future__ import annotations

import re
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
import torch
from markdown_it import MarkdownIt

from mtl_tutorial.errors import DataNotFoundError

BOOK = Path(__file__).resolve().parent.parent / "book"
NO_RUN = re.compile(r"<!--\s*no-run:\s*(?P<reason>\S.*?)\s*-->", re.DOTALL)


@dataclass(frozen=True)
class Block:
    """One fenced code block: its page, the 1-based line of its opening fence, its code."""

    page: Path
    line: int
    code: str
    no_run: str | None = None  # the reason, for a block marked ``<!-- no-run: ... -->``

    @property
    def id(self) -> str:
        return f"{self.page.name}:L{self.line}"


def parse_blocks(page: Path, text: str | None = None, first_line: int = 1) -> list[Block]:
    """The ```python blocks of a MyST page, in order, with any ``no-run`` marker.

    ``first_line`` is the page line of ``text``'s first line; the content of a backtick
    directive (```{name}) is Markdown too, so its blocks are collected recursively.
    """
    text = page.read_text(encoding="utf-8") if text is None else text
    tokens = MarkdownIt("commonmark").parse(text)
    blocks: list[Block] = []
    for i, token in enumerate(tokens):
        if token.type == "html_block" and "no-run" in token.content:
            if not NO_RUN.fullmatch(token.content.strip()):
                raise ValueError(
                    f"{page.name}:L{first_line + token.map[0]}: write the marker as "
                    "'<!-- no-run: reason -->' (the reason is required)"
                )
            after = tokens[i + 1] if i + 1 < len(tokens) else None
            if (
                after is None
                or after.type != "fence"
                or after.info.strip() != "python"
                or after.map is None
                or token.map is None
                or after.map[0] != token.map[1]
            ):
                raise ValueError(
                    f"{page.name}:L{first_line + token.map[0]}: a no-run marker must stand "
                    "on the line right before a ```python fence"
                )
        if token.type != "fence" or token.map is None:
            continue
        line = first_line + token.map[0]
        info = token.info.strip()
        if info.startswith("{") and not info.startswith("{code"):
            blocks += parse_blocks(page, token.content, line + 1)
            continue
        if info != "python":
            continue
        before = tokens[i - 1] if i > 0 else None
        reason = None
        if before is not None and before.type == "html_block" and before.map is not None:
            match = NO_RUN.fullmatch(before.content.strip())
            if match and before.map[1] == token.map[0]:
                reason = match["reason"]
        blocks.append(Block(page, line, token.content, reason))
    return blocks


PAGES = sorted(BOOK.glob("*.md"))
BLOCKS = [block for page in PAGES for block in parse_blocks(page)]


@dataclass
class Page:
    """The shared namespace of one page and which of its blocks have run."""

    module: types.ModuleType
    done: dict[int, BaseException | None] = field(default_factory=dict)


_pages: dict[Path, Page] = {}


def _page(path: Path) -> Page:
    if path not in _pages:
        name = "book_" + re.sub(r"\W", "_", path.stem)
        module = types.ModuleType(name)
        sys.modules[name] = module  # classes and dataclasses defined in a block resolve
        torch.manual_seed(0)
        _pages[path] = Page(module)
    return _pages[path]


def _run(block: Block, request: pytest.FixtureRequest) -> None:
    """Run ``block`` in its page's namespace; the traceback shows the Markdown's lines."""
    source = "\n" * block.line + block.code  # the code starts on the line after the fence
    code = compile(source, str(block.page), "exec")
    try:
        exec(code, _pages[block.page].module.__dict__)
    except DataNotFoundError:
        request.getfixturevalue("mnist_root")  # skips (fails in CI) without the MNIST files
        raise
    finally:
        plt.close("all")


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_book_block_runs(
    block: Block, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if block.no_run is not None:
        pytest.skip(f"no-run: {block.no_run}")
    monkeypatch.chdir(tmp_path)  # a block that writes a file does not litter the repository
    page = _page(block.page)
    # Earlier blocks of the page first (when selected with -k they have not run yet).
    for earlier in BLOCKS:
        if earlier.page != block.page or earlier.line >= block.line or earlier.no_run:
            continue
        if earlier.line not in page.done:
            try:
                _run(earlier, request)
                page.done[earlier.line] = None
            except BaseException as err:  # noqa: B036 - recorded, re-raised below
                page.done[earlier.line] = err
        if page.done[earlier.line] is not None:
            pytest.fail(f"an earlier block of the page failed: {earlier.id}", pytrace=False)
    try:
        _run(block, request)
    except BaseException as err:
        page.done[block.line] = err
        raise
    page.done[block.line] = None


def test_every_page_has_blocks_and_few_are_skipped() -> None:
    assert len(BLOCKS) >= 39, [b.id for b in BLOCKS]
    skipped = [b.id for b in BLOCKS if b.no_run]
    assert len(skipped) <= 3, f"keep the no-run list short: {skipped}"


def test_parser_reads_markers_and_directives(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text(
        "# T\n\n```python\na = 1\n```\n\n<!-- no-run: shown broken on purpose -->\n"
        "```python\nb = \n```\n\n```bash\nls\n```\n\n````{admonition} x\n```python\nc = 3\n```\n"
        "````\n"
    )
    blocks = parse_blocks(page)
    assert [(b.line, b.code, b.no_run) for b in blocks] == [
        (3, "a = 1\n", None),
        (8, "b = \n", "shown broken on purpose"),
        (17, "c = 3\n", None),
    ]
    page.write_text("<!-- no-run: -->\n```python\nx\n```\n")
    with pytest.raises(ValueError, match="reason is required"):
        parse_blocks(page)
    for text in (
        "<!-- no-run: why -->\n\nsome prose\n",
        "<!-- no-run: why -->\n\n```python\n```\n",
    ):
        page.write_text(text)
        with pytest.raises(ValueError, match="right before"):
            parse_blocks(page)
