"""``python -m mtl_tutorial classroom``: the labs for students, their grader, the student book.

* :mod:`.labs`: Otter Assign turns each lab source in ``notebooks/labs/`` into a student
  notebook and an autograder, after checking that the solutions pass every check;
* :mod:`.edition`: the student edition of the book, built without the solutions.

See ``dev-notes/classroom.md`` for why Otter and how a teacher grades.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from .edition import EDITIONS, build_edition
from .labs import Lab, assign_lab, find_labs, solution_lines, task_messages, try_student_notebook

__all__ = ["add_parser", "build_classroom", "build_edition", "leaked_solutions", "verify_student"]

README = """# Classroom kit

* `student/`: the lab notebooks to hand out (solutions removed; the checks are built in:
  each `grader.check("task")` cell reports whether that task is right, and why not).
* `grader/<lab>/`: for the teacher. `<lab>.ipynb` is the solution notebook;
  `<lab>-autograder_*.zip` grades a submission:

      mkdir -p results && otter run -a grader/<lab>/<lab>-autograder_*.zip -o results submission.ipynb

  (writes `results/results.json` with the score of every task), or upload the zip to Gradescope.

Built by `python -m mtl_tutorial classroom` from the lab sources in `notebooks/labs/`.
"""


def build_classroom(
    labs_dir: Path, out: Path, only: list[str] | None = None, run_tests: bool = True
) -> list[Lab]:
    """Assign every lab into ``out/grader/<lab>`` and copy the student notebooks to ``out/student``."""
    sources = find_labs(labs_dir, only)
    (out / "student").mkdir(parents=True, exist_ok=True)
    labs = []
    for source in sources:
        start = time.perf_counter()
        print(f"{source.name}: otter assign{' (running the solutions)' if run_tests else ''} ...", flush=True)
        lab = assign_lab(source, out / "grader" / source.stem, run_tests=run_tests)
        shutil.copy2(lab.student, out / "student" / source.name)
        for extra in lab.student.parent.iterdir():  # data files the lab ships with, if any
            if extra.name != source.name and extra.is_file():
                shutil.copy2(extra, out / "student" / extra.name)
        print(f"{source.name}: done in {time.perf_counter() - start:.0f} s", flush=True)
        labs.append(lab)
    (out / "README.md").write_text(README, encoding="utf-8")
    return labs


def leaked_solutions(lab: Lab) -> list[str]:
    """Solution lines of ``lab``'s source that its student notebook's answer cells still hold."""
    cells = json.loads(lab.student.read_text(encoding="utf-8"))["cells"]
    answers = "\n".join(  # the cells the student fills in: only the skeleton may be there
        "".join(c["source"])
        for c in cells
        if "otter_answer_cell" in c.get("metadata", {}).get("tags", [])
    )
    answer_lines = {line.strip() for line in answers.splitlines()}
    return [line for line in solution_lines(lab.source) if line in answer_lines]


def verify_student(lab: Lab) -> list[str]:
    """Run the student notebook of ``lab`` as handed out; return every problem found.

    Its answer cells must hold none of the solution lines of the source; its setup cells must run
    without error and every check must fail, printing its task's failure message (so the
    checks can fail, and a student sees why).
    """
    problems = []
    leaked = leaked_solutions(lab)
    problems += [f"{lab.name}: solution line left in the student notebook: {line!r}" for line in leaked]
    run = try_student_notebook(lab.student)
    problems += [f"{lab.name}: setup cell failed: {e}" for e in run.setup_errors]
    for task, messages in task_messages(lab.student).items():
        output = run.check_outputs.get(task)
        if output is None:
            problems.append(f"{lab.name}: no grader.check({task!r}) cell ran")
        elif "❌" not in output:
            problems.append(f"{lab.name}: check {task} passes on the blank notebook")
        elif not all(messages) or not any(m in output for m in messages):
            problems.append(f"{lab.name}: check {task} failed without its message {messages}")
    return problems


def _cmd_classroom(args: argparse.Namespace) -> int:
    if args.book:
        html = build_edition(Path(args.root), args.book, strict=not args.no_strict)
        print(f"{args.book} edition: {html / 'index.html'}")
        return 0
    out = Path(args.out)
    labs = build_classroom(Path(args.labs), out, args.only, run_tests=not args.no_run_tests)
    problems: list[str] = []
    if args.try_student:
        for lab in labs:
            print(f"{lab.name}: running the student notebook as handed out ...", flush=True)
            problems += verify_student(lab)
    for p in problems:
        print(f"PROBLEM {p}")
    print(f"{len(labs)} lab(s) in {out}: student notebooks in {out / 'student'}, graders in {out / 'grader'}")
    return 1 if problems else 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``classroom`` to the command line's subcommands."""
    p = sub.add_parser(
        "classroom",
        help="build the lab notebooks for students and their grader, or the student book",
        description="Build the student lab notebooks and the grading material from the lab "
        "sources (otter assign; the solutions must pass every check), or with --book the "
        "student edition of the book (no solutions).",
    )
    p.add_argument("--labs", default="notebooks/labs", help="folder of the lab sources")
    p.add_argument("--out", default="_build/classroom", help="folder to write into")
    p.add_argument("--only", nargs="+", metavar="LAB", help="only these labs (lab3 or lab3_weighting)")
    p.add_argument("--no-run-tests", action="store_true", help="do not run the solutions' checks")
    p.add_argument(
        "--try-student",
        action="store_true",
        help="also run each student notebook as handed out: setup must work, every check must fail",
    )
    p.add_argument("--book", choices=EDITIONS, help="build this edition of the book instead of the labs")
    p.add_argument("--root", default=".", help="the book's root folder (with _config.yml)")
    p.add_argument("--no-strict", action="store_true", help="with --book: do not turn warnings into errors")
    p.set_defaults(func=_cmd_classroom)
