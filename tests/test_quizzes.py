"""The concept checks: ``book/quizzes/ch<N>.json`` and ``notebooks/quizzes/ch<N>_concept_checks.ipynb``.

Each chapter has a quiz in jupyterquiz's JSON format, shown by a one-cell notebook that
reads the file and passes the *list* to ``jupyterquiz.display_quiz`` (a list is embedded
in the page, so the built book fetches nothing). These tests check what jupyterquiz does
not: enough questions of both kinds, a flagged correct answer and feedback on every
answer, numeric answers that the browser can match (jupyterquiz takes the *first*
matching answer, so a wrong-answer range must not hide the correct one), text that its
``jaxify`` and ``innerHTML`` render as intended, and notebooks that load their file.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QUIZZES = ROOT / "book" / "quizzes"
NOTEBOOKS = ROOT / "notebooks" / "quizzes"
CHAPTERS = range(1, 6)
MIN_QUESTIONS = 5

CHOICE_TYPES = {"multiple_choice", "many_choice"}
# Tags that may appear in question, answer and feedback text (rendered with innerHTML).
ALLOWED_TAGS = re.compile(r"</?(code|em|b|strong|br|sub|sup)\s*/?>")
UNESCAPED_DOLLAR = re.compile(r"(?<!\\)\$")


def _questions(chapter: int) -> list[dict]:
    path = QUIZZES / f"ch{chapter}.json"
    assert path.is_file(), f"missing quiz {path.relative_to(ROOT)}"
    questions = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(questions, list), f"{path.name}: the top level must be a list of questions"
    return questions


def _notebook(chapter: int) -> dict:
    path = NOTEBOOKS / f"ch{chapter}_concept_checks.ipynb"
    assert path.is_file(), f"missing notebook {path.relative_to(ROOT)}"
    return json.loads(path.read_text(encoding="utf-8"))


def _source(cell: dict) -> str:
    source = cell["source"]
    return source if isinstance(source, str) else "".join(source)


def _texts(question: dict) -> list[str]:
    """Every string of a question that the browser renders."""
    texts = [question["question"]]
    for answer in question["answers"]:
        texts += [answer.get("answer", ""), answer.get("feedback", "")]
    return [t for t in texts if t]


def _matches(answer: dict, x: float) -> bool:
    """jupyterquiz's test for a numeric answer (js/numeric.js): value, or range [lo, hi)."""
    if "value" in answer:
        return x == answer["value"]
    if "range" in answer:
        lo, hi = answer["range"]
        return lo <= x < hi
    return False


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_enough_questions_of_both_kinds(chapter: int) -> None:
    questions = _questions(chapter)
    assert len(questions) >= MIN_QUESTIONS, f"ch{chapter}: {len(questions)} questions"
    kinds = {q.get("type") for q in questions}
    assert kinds <= CHOICE_TYPES | {"numeric"}, f"ch{chapter}: unknown types {kinds}"
    assert kinds & CHOICE_TYPES and "numeric" in kinds, (
        f"ch{chapter}: mix choice and numeric ({kinds})"
    )
    stems = [q["question"] for q in questions]
    assert len(set(stems)) == len(stems), f"ch{chapter}: a question appears twice"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_choice_questions(chapter: int) -> None:
    for i, q in enumerate(_questions(chapter), 1):
        if q["type"] not in CHOICE_TYPES:
            continue
        where = f"ch{chapter} Q{i}"
        assert isinstance(q["question"], str) and q["question"].strip(), where
        answers = q["answers"]
        assert len(answers) >= 2, f"{where}: needs at least two answers"
        for a in answers:
            assert isinstance(a.get("answer"), str) and a["answer"].strip(), (
                f"{where}: empty answer"
            )
            assert isinstance(a.get("correct"), bool), f"{where}: 'correct' must be true or false"
            assert isinstance(a.get("feedback"), str) and a["feedback"].strip(), (
                f"{where}: answer {a['answer']!r} has no feedback"
            )
        n_correct = sum(a["correct"] for a in answers)
        assert n_correct >= 1, f"{where}: no answer is flagged correct"
        # jupyterquiz switches to its many-choice behaviour as soon as two answers are correct
        if q["type"] == "multiple_choice":
            assert n_correct == 1, f"{where}: multiple_choice needs exactly one correct answer"
        else:
            assert n_correct >= 2, f"{where}: many_choice needs two or more correct answers"
        options = [a["answer"] for a in answers]
        assert len(set(options)) == len(options), f"{where}: two answers are identical"
        if "answer_cols" in q:
            assert q["answer_cols"] in (1, 2, 3), f"{where}: answer_cols"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_numeric_questions(chapter: int) -> None:
    for i, q in enumerate(_questions(chapter), 1):
        if q["type"] != "numeric":
            continue
        where = f"ch{chapter} Q{i}"
        assert isinstance(q["question"], str) and q["question"].strip(), where
        if "precision" in q:
            assert isinstance(q["precision"], int) and q["precision"] > 0, f"{where}: precision"
        answers = q["answers"]
        graded = [a for a in answers if a.get("type") != "default"]
        for a in answers:
            assert isinstance(a.get("feedback"), str) and a["feedback"].strip(), (
                f"{where}: feedback"
            )
        for a in graded:
            assert isinstance(a.get("correct"), bool), f"{where}: 'correct' must be true or false"
            if "range" in a:
                lo, hi = a["range"]
                assert all(isinstance(v, (int, float)) for v in (lo, hi)) and lo < hi, (
                    f"{where}: range {a['range']} must be two numbers, low < high"
                )
            else:
                assert isinstance(a.get("value"), (int, float)), (
                    f"{where}: needs 'range' or 'value'"
                )
        correct = [a for a in graded if a["correct"]]
        assert correct, f"{where}: no correct answer"
        # the browser takes the first answer that matches; no wrong answer may come first
        for a in correct:
            x = a["value"] if "value" in a else sum(a["range"]) / 2
            first = next(b for b in graded if _matches(b, x))
            assert first["correct"], f"{where}: {x} is caught by a wrong answer first"
        assert sum(a.get("type") == "default" for a in answers) <= 1, f"{where}: two defaults"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_text_renders(chapter: int) -> None:
    """Text goes through jupyterquiz's jaxify ($ to MathJax, [a](b) to links) and innerHTML."""
    for i, q in enumerate(_questions(chapter), 1):
        for text in _texts(q):
            where = f"ch{chapter} Q{i}: {text[:60]!r}"
            assert len(UNESCAPED_DOLLAR.findall(text)) % 2 == 0, f"{where}: unbalanced $"
            assert "$$" not in text, f"{where}: use inline math only"
            assert "](" not in text, f"{where}: jaxify would turn '](' into a link"
            assert "http" not in text, f"{where}: the quiz must not link outside the book"
            for match in re.finditer(r"<", text):
                tail = text[match.start() :]
                assert tail.startswith("< ") or ALLOWED_TAGS.match(tail), (
                    f"{where}: '<' starts an HTML tag; write \\lt in math or use a space"
                )


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_questions_embed_without_fetching(chapter: int) -> None:
    """A list is embedded in the page: no URL, nothing fetched when the book is read."""
    loader = pytest.importorskip("jupyterquiz.dynamic.loader")
    questions = _questions(chapter)
    script, static, url = loader.load_questions_script(questions, "testquiz")
    assert static and url == ""
    assert json.dumps(questions) in script


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_notebook_shape(chapter: int) -> None:
    notebook = _notebook(chapter)
    # execute_notebooks: cache keys on the code, which does not change when the JSON does;
    # forcing execution for this notebook keeps `jupyter-book build --all` in step with it.
    assert notebook["metadata"].get("mystnb", {}).get("execution_mode") == "force", (
        "set the notebook metadata mystnb.execution_mode to 'force'"
    )
    cells = notebook["cells"]
    first = cells[0]
    assert first["cell_type"] == "markdown"
    assert _source(first).startswith("# Concept checks: "), "title: '# Concept checks: <topic>'"
    code = [c for c in cells if c["cell_type"] == "code"]
    assert len(code) == 1, "one code cell: load the questions, display the quiz"
    assert "remove-input" in code[0].get("metadata", {}).get("tags", []), (
        "the reader sees only the quiz"
    )
    index = cells.index(code[0])
    assert any(c["cell_type"] == "markdown" for c in cells[index + 1 :]), (
        "a markdown cell after the quiz says how to use it"
    )
    # Sphinx loads MathJax only on pages with math: the quiz's $...$ needs some in the prose.
    if any(UNESCAPED_DOLLAR.search(t) for q in _questions(chapter) for t in _texts(q)):
        prose = "".join(_source(c) for c in cells if c["cell_type"] == "markdown")
        assert UNESCAPED_DOLLAR.search(prose), (
            "the quiz uses math, so the page's text must contain math"
        )


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_notebook_loads_its_questions(chapter: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the notebook's cell from its own folder, as the book build does."""
    jupyterquiz = pytest.importorskip("jupyterquiz")
    (cell,) = [c for c in _notebook(chapter)["cells"] if c["cell_type"] == "code"]
    code = _source(cell)
    ast.parse(code)
    shown = []
    monkeypatch.setattr(jupyterquiz, "display_quiz", lambda ref, **kwargs: shown.append(ref))
    monkeypatch.chdir(NOTEBOOKS)
    exec(compile(code, f"ch{chapter}_concept_checks.ipynb", "exec"), {"__name__": "__main__"})
    assert len(shown) == 1, "the cell displays one quiz"
    assert isinstance(shown[0], list), "pass the list of questions, not a file name or URL"
    assert shown[0] == _questions(chapter)
