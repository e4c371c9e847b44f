"""The classroom kit: difficulty labels, the instructor guide, the lab sources, the editions."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from mtl_tutorial.classroom.edition import INSTRUCTOR_ONLY, edition_config, edition_toc
from mtl_tutorial.classroom.labs import LAB_PATTERN, find_labs, task_messages
from mtl_tutorial.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book").glob("0*.md"))
LABS = ROOT / "notebooks" / "labs"
LABEL = re.compile(r"^\*\*(★☆☆ easy|★★☆ medium|★★★ hard) · (\d+) min\*\*$")


def exercises(path: Path) -> list[dict[str, str]]:
    """Every ``{exercise}`` of a chapter: label, title, difficulty and minutes (or None)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out = []
    for i, line in enumerate(lines):
        m = re.match(r"^:::+\{exercise\}\s*(.*)$", line)
        if not m:
            continue
        j, label = i + 1, ""
        while lines[j].startswith(":"):
            if lines[j].startswith(":label:"):
                label = lines[j].split(":label:")[1].strip()
            j += 1
        while not lines[j].strip():
            j += 1
        tag = LABEL.match(lines[j].strip())
        out.append({
            "chapter": path.stem, "label": label, "title": m.group(1).strip(),
            "difficulty": tag.group(1) if tag else None, "minutes": tag.group(2) if tag else None,
        })
    return out


ALL_EXERCISES = [e for path in CHAPTERS for e in exercises(path)]


def test_every_exercise_has_a_difficulty_and_a_time():
    assert len(ALL_EXERCISES) >= 40
    unlabelled = [e["label"] for e in ALL_EXERCISES if e["difficulty"] is None]
    assert unlabelled == [], f"exercises without a '**★☆☆ easy · N min**' first line: {unlabelled}"


def test_the_instructor_guide_lists_every_exercise_as_labelled():
    guide = (ROOT / "book" / "instructor_guide.md").read_text(encoding="utf-8")
    rows = {
        m.group(1): (m.group(2), m.group(3))
        for m in re.finditer(r"^\| \d \| \{ref\}`([^`]+)` \| .* \| (★.. \w+) \| (\d+) min \|$", guide, re.M)
    }
    want = {e["label"]: (e["difficulty"], e["minutes"]) for e in ALL_EXERCISES}
    assert rows == want


def test_the_instructor_guide_is_in_the_instructor_edition_only():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = json.dumps(toc)
    assert all(f'"{page}"' in files for page in INSTRUCTOR_ONLY)
    student = json.dumps(edition_toc(toc, "student"))
    assert not any(f'"{page}"' in student for page in INSTRUCTOR_ONLY)
    assert '"book/02_sharing"' in student and '"book/labs"' in student


def test_student_config_hides_solutions_and_shares_the_cache(tmp_path):
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    student = edition_config(config, "student", tmp_path)
    assert student["sphinx"]["config"]["hide_solutions"] is True
    assert student["execute"]["cache"] == str(tmp_path)
    assert "student edition" in student["title"]
    assert "hide_solutions" not in config["sphinx"].get("config", {})  # the input is not changed
    with pytest.raises(UsageError, match="unknown edition"):
        edition_config(config, "teacher", tmp_path)


def test_lab_sources_are_found_in_order_and_named_clearly(tmp_path):
    labs = find_labs(LABS)
    assert len(labs) >= 5
    numbers = [int(LAB_PATTERN.match(p.name).group(1)) for p in labs]
    assert numbers == sorted(numbers)
    assert find_labs(LABS, ["lab3"])[0].name == "lab3_weighting.ipynb"
    with pytest.raises(UsageError, match="unknown lab"):
        find_labs(LABS, ["lab99"])
    with pytest.raises(UsageError, match="no labs folder"):
        find_labs(tmp_path / "nowhere")


@pytest.mark.parametrize("lab", sorted(LABS.glob("lab*.ipynb")), ids=lambda p: p.stem)
def test_lab_source_structure(lab):
    """Otter config first; every task labelled, checked with its own message; setup and training cells tagged."""
    nb = json.loads(lab.read_text(encoding="utf-8"))
    cells = nb["cells"]
    assert cells[0]["cell_type"] == "raw" and "".join(cells[0]["source"]).startswith("# ASSIGNMENT CONFIG")
    assert f"name: {lab.stem}" in "".join(cells[0]["source"])
    tags = [t for c in cells for t in c.get("metadata", {}).get("tags", [])]
    assert "setup" in tags and "train" in tags
    text = ["".join(c["source"]) for c in cells]
    questions = [i for i, s in enumerate(text) if s.startswith("# BEGIN QUESTION")]
    assert len(questions) >= 2
    messages = []
    for i in questions:
        prompt = text[i + 1]
        assert any(LABEL.match(line.strip()) for line in prompt.splitlines()), f"{lab.name}: a task without a difficulty/time line: {prompt[:80]!r}"
        end = text.index("# END QUESTION", i)
        tests = [s for s in text[i:end] if "# BEGIN TEST CONFIG" in s]
        assert tests, f"{lab.name}: a task without a check"
        for s in tests:
            m = re.search(r"failure_message: (.+)", s)
            assert m, f"{lab.name}: a check without a failure_message"
            messages.append(m.group(1))
            assert "assert checks.check_" in s
    assert len(set(messages)) == len(messages), f"{lab.name}: two tasks share a failure message"
    roles = [s[:60] for s in text if re.search(r"\{(doc|ref|term|cite:p)\}`", s)]
    assert roles == [], f"{lab.name}: MyST roles do not render in Jupyter: {roles}"


def test_task_messages_reads_otter_metadata(tmp_path):
    nb = {"metadata": {"otter": {"tests": {"task1": {"suites": [{"cases": [{"failure_message": "m1"}]}]}}}}}
    path = tmp_path / "lab.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    assert task_messages(path) == {"task1": ["m1"]}


def _notebook(path, cells):
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}), encoding="utf-8")


def test_leaked_solutions_finds_a_solution_left_in_an_answer_cell(tmp_path):
    from mtl_tutorial.classroom import Lab, leaked_solutions

    source = tmp_path / "lab9_demo.ipynb"
    body = "def f(x):\n    # BEGIN SOLUTION\n    return torch.softmax(x, dim=0)\n    # END SOLUTION\n"
    _notebook(source, [{"cell_type": "code", "source": body, "metadata": {}}])
    lab = Lab(source, tmp_path / "out")
    lab.student.parent.mkdir(parents=True)
    answer = {"cell_type": "code", "metadata": {"tags": ["otter_answer_cell"]}}
    _notebook(lab.student, [dict(answer, source="def f(x):\n    ...\n")])
    assert leaked_solutions(lab) == []
    _notebook(lab.student, [dict(answer, source="def f(x):\n    return torch.softmax(x, dim=0)\n")])
    assert leaked_solutions(lab) == ["return torch.softmax(x, dim=0)"]
