"""python -m mnistlab grade (make grade): a planted class is graded to the expected points.

The class hands in the synthetic 90_demo.ipynb (tests/exercise_demo.py): full marks, blank, half done,
one that edits its checks to pass, an infinite loop, one whose cells raise, one that moves and deletes
check cells, one that deletes an answer cell, invalid JSON and the wrong notebook, plus a file under a
name the course does not have. The class is graded once (two kernels at a time, a 5 s limit) and the
tests read its CSV.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import hashlib
import io

import nbformat
import pytest
from exercise_demo import NOTEBOOK, OTHER, other_notebook, source_notebook, write_sources

from mnistlab.cli import main
from mnistlab.grade import Row, load_sources, prepare, summary
from mnistlab.student import student_notebook

ANSWER_1 = "answer = 2 + 10 * (pixels + 2)"
ANSWER_2 = 'def average(losses):\n    """The mean of the batch losses."""\n    return sum(losses) / len(losses)'


def blank() -> nbformat.NotebookNode:
    return student_notebook(source_notebook())


def answered(one: str | None = ANSWER_1, two: str | None = ANSWER_2) -> nbformat.NotebookNode:
    """A student copy with the answer cells (5 and 8) filled in."""
    nb = blank()
    if one is not None:
        nb.cells[5].source = one
    if two is not None:
        nb.cells[8].source = two
    return nb


def _class() -> dict[str, object]:
    cheat = blank()
    cheat.cells[6].source = 'print("✓ 90.1: correct.")'
    cheat.cells[9].source = "True"
    raises = answered(one='answer = int("three hundred and two")')
    raises.cells[2].source = "1 / 0  # a lesson cell the student broke"
    moved = answered()
    moved.cells.insert(5, moved.cells.pop(6))  # 90.1's check above its answer
    del moved.cells[9]  # 90.2's check deleted
    deleted = answered()
    del deleted.cells[5]  # 90.1's answer cell deleted
    loop = answered(two="def average(losses):\n    while True:\n        pass")
    return {"full": answered(), "blank": blank(), "half": answered(two=None), "cheat": cheat, "raises": raises,
            "moved": moved, "deleted": deleted, "loop": loop, "invalid": '{"cells": [', "wrong": other_notebook()}


def _write_class(folder):
    for student, nb in _class().items():
        (folder / student).mkdir(parents=True)
        path = folder / student / NOTEBOOK
        if isinstance(nb, str):
            path.write_text(nb, encoding="utf-8")
        else:
            nbformat.write(nb, path)
    nbformat.write(answered(), folder / "full" / "90_demo (1).ipynb")  # a browser's second download
    (folder / "absent").mkdir()
    return folder


def _digests(folder) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The planted class graded once: (rows by (student, exercise), the printed summary, the exit status)."""
    root = tmp_path_factory.mktemp("grade")
    source, submissions = write_sources(root / "notebooks"), _write_class(root / "class")
    before = _digests(submissions)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(["grade", str(submissions), "--out", str(root / "grades.csv"), "--source", str(source),
                       "--timeout", "5", "--jobs", "2", "--no-progress"])
    assert _digests(submissions) == before  # nothing in DIR was modified
    with open(root / "grades.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return rows, out.getvalue(), status


def _table(rows) -> dict[tuple[str, str], tuple[str, str, str]]:
    return {(r["student"], r["exercise"]): (r["points"], r["max_points"], r["status"]) for r in rows}


@pytest.mark.slow
def test_the_planted_class_gets_the_expected_points(graded):
    rows, _, status = graded
    assert status == 0
    assert list(rows[0]) == ["student", "notebook", "exercise", "points", "max_points", "status", "message"]
    assert _table(rows) == {
        ("absent", "90.1"): ("0", "1", "not submitted"), ("absent", "90.2"): ("0", "2", "not submitted"),
        ("blank", "90.1"): ("0", "1", "not done"), ("blank", "90.2"): ("0", "2", "not done"),
        ("cheat", "90.1"): ("0", "1", "not done; check edited"),
        ("cheat", "90.2"): ("0", "2", "not done; check edited"),
        ("deleted", "90.1"): ("0", "1", "solution deleted"), ("deleted", "90.2"): ("2", "2", "passed"),
        ("full", "90.1"): ("1", "1", "passed"), ("full", "90.2"): ("2", "2", "passed"),
        ("full", ""): ("0", "0", "unknown notebook"),
        ("half", "90.1"): ("1", "1", "passed"), ("half", "90.2"): ("0", "2", "not done"),
        ("invalid", "90.1"): ("0", "1", "invalid notebook"), ("invalid", "90.2"): ("0", "2", "invalid notebook"),
        ("loop", "90.1"): ("1", "1", "passed"), ("loop", "90.2"): ("0", "2", "timeout"),
        ("moved", "90.1"): ("1", "1", "passed; cells reordered"),
        ("moved", "90.2"): ("2", "2", "passed; check deleted"),
        ("raises", "90.1"): ("0", "1", "error"), ("raises", "90.2"): ("2", "2", "passed"),
        ("wrong", "90.1"): ("0", "1", "wrong notebook"), ("wrong", "90.2"): ("0", "2", "wrong notebook"),
    }
    assert len(rows) == 23 and {r["notebook"] for r in rows} == {NOTEBOOK, "90_demo (1).ipynb"}


@pytest.mark.slow
def test_each_row_says_why(graded):
    rows, _, _ = graded
    message = {(r["student"], r["exercise"]): r["message"] for r in rows}
    assert message["full", "90.1"].startswith("✓ 90.1: correct. 302 = 2 + 10 x (28 + 2)")
    assert message["blank", "90.1"] == "90.1: not done yet (replace the `...` with your answer)"
    assert message["cheat", "90.2"].endswith("(the check cell was restored from the source)")
    assert message["loop", "90.2"] == "the notebook ran past the 5 s limit in cell 10 ('check(\"90.2\", average)')"
    assert message["raises", "90.1"] == "the answer cell raised ValueError: invalid literal for int() with base 10: " \
                                        "'three hundred and two'"
    assert message["invalid", "90.1"].startswith("not valid JSON: ")
    assert message["wrong", "90.1"] == f"this is not {NOTEBOOK}: it is {OTHER}"
    assert "hand it in under the course's name" in message["full", ""]


@pytest.mark.slow
def test_the_summary_adds_up_each_students_points(graded):
    _, printed, _ = graded
    lines = printed.splitlines()
    assert lines[0].split() == ["student", "90_demo", "total"]
    totals = {line.split()[0]: line.split()[-1] for line in lines[1:12]}
    assert totals == {"absent": "0/3", "blank": "0/3", "cheat": "0/3", "deleted": "2/3", "full": "3/3",
                      "half": "1/3", "invalid": "0/3", "loop": "1/3", "moved": "3/3", "raises": "2/3",
                      "wrong": "0/3"}
    assert lines[12] == ("exercises: 8 passed, 5 not done, 2 not submitted, 2 invalid notebook, 2 wrong notebook, "
                         "1 solution deleted, 1 unknown notebook, 1 timeout, 1 error")
    assert "23 rows written to" in lines[13]


# --- Without a kernel: reading and restoring submissions -------------------------------------------------------------


def _prepare(tmp_path, nb, name=NOTEBOOK):
    sources = load_sources(write_sources(tmp_path / "notebooks"))
    path = tmp_path / "sub.ipynb"
    path.write_text(nb if isinstance(nb, str) else nbformat.writes(nb), encoding="utf-8")
    return prepare("ann", path, sources[name], sources)


def test_a_submission_gets_the_sources_checks_and_hidden_tests_where_the_student_had_them(tmp_path):
    nb = answered()
    nb.cells.insert(6, nbformat.v4.new_code_cell("answer = answer + 0  # the student's own cell"))
    nb.cells[7].source = "print('edited')"
    job = _prepare(tmp_path, nb)
    sources = [c.source for c in job.nb.cells]
    assert sources[5:8] == [ANSWER_1, "answer = answer + 0  # the student's own cell",
                            'check("90.1", answer)\n### BEGIN HIDDEN TESTS\nassert answer == 302\n### END HIDDEN TESTS']
    assert job.checks == {"90.1": 7, "90.2": 10} and job.answers == {"90.1": 5, "90.2": 9}
    assert job.notes == {"90.1": ["check edited"], "90.2": []}
    assert all(c.get("outputs", []) == [] for c in job.nb.cells)


def test_a_copied_answer_cell_runs_as_the_students_code_and_only_the_first_is_graded(tmp_path):
    nb = answered()
    nb.cells.insert(6, copy.deepcopy(nb.cells[5]))
    nb.cells[6].id = "copied"  # JupyterLab gives a pasted cell a new id, and keeps its metadata
    job = _prepare(tmp_path, nb)
    assert job.answers["90.1"] == 5 and "nbgrader" not in job.nb.cells[6].metadata


@pytest.mark.parametrize("text, reason", [
    ("", "not valid JSON"), ("[1, 2]", "not a notebook"), ('{"cells": [{"cell_type": "picture"}]}', "not a notebook"),
    ('{"cells": [], "nbformat": 99}', "not a notebook nbformat can read"),
])
def test_what_is_not_a_notebook_gets_invalid_notebook_rows(tmp_path, text, reason):
    rows = _prepare(tmp_path, text)
    assert [(r.exercise, r.status) for r in rows] == [("90.1", "invalid notebook"), ("90.2", "invalid notebook")]
    assert reason in rows[0].message


def test_the_wrong_notebook_is_told_by_its_exercises_or_its_title(tmp_path):
    foreign = answered()
    for cell in foreign.cells:
        if "nbgrader" in cell.metadata:
            cell.metadata["nbgrader"]["grade_id"] = cell.metadata["nbgrader"]["grade_id"].replace("90_", "92_")
    assert _prepare(tmp_path / "a", foreign)[0].message == \
        f"this is not {NOTEBOOK}: its exercises are 92.1, 92.2, not 90.1, 90.2"
    untitled = _prepare(tmp_path / "b", nbformat.v4.new_notebook())
    assert [(r.status, r.message) for r in untitled] == \
        [("wrong notebook", f"this is not {NOTEBOOK}: it has no title and none of its exercises")] * 2
    stripped = answered()  # the same lesson with every exercise cell's metadata lost: nothing to grade
    for cell in stripped.cells:
        cell.metadata.pop("nbgrader", None)
    assert [r.status for r in _prepare(tmp_path / "c", stripped).rows] == ["solution deleted"] * 2


def test_the_summary_table():
    rows = [Row("ann", "08_x.ipynb", "08.1", 1, 1, "passed"), Row("ann", "08_x.ipynb", "08.2", 0, 2.5, "wrong"),
            Row("bo", "08_x.ipynb", "08.1", 0, 1, "timeout"), Row("bo", "08_x.ipynb", "08.2", 0, 2.5, "timeout")]
    assert summary(rows).splitlines() == ["student  08_x   total", "ann      1/3.5  1/3.5", "bo       0/3.5  0/3.5",
                                          "exercises: 2 timeout, 1 passed, 1 wrong"]


def test_bad_options_and_an_empty_class_are_one_line_errors(tmp_path, capsys):
    source = write_sources(tmp_path / "notebooks")
    assert main(["grade", str(tmp_path / "nowhere"), "--source", str(source)]) == 2
    assert "no such folder" in capsys.readouterr().err
    (tmp_path / "class" / "ann").mkdir(parents=True)
    assert main(["grade", str(tmp_path / "class"), "--source", str(source), "--out", str(tmp_path / "g.csv")]) == 2
    assert "nothing to grade" in capsys.readouterr().err and not (tmp_path / "g.csv").exists()
    with pytest.raises(SystemExit) as exit_info:
        main(["grade", str(tmp_path / "class"), "--timeout", "0"])
    assert exit_info.value.code == 2 and "expected a positive number of seconds" in capsys.readouterr().err
