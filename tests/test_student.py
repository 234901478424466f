"""python -m mnistlab student (make student): the students' notebooks hold no solution and no hidden test,
keep the lesson's outputs, and Run All of a fresh copy goes to the end with each check saying "not done yet".
"""

from __future__ import annotations

import json

import nbformat
import pytest
from conftest import REPO
from exercise_demo import NOTEBOOK, OTHER, SOLUTION_1, SOLUTION_2, source_notebook, write_sources

from mnistlab.cli import main
from mnistlab.exercises import find_exercises
from mnistlab.student import remove_hidden_tests, remove_solutions, student_notebook

NOTEBOOKS = REPO / "notebooks"


def run_all(nb: nbformat.NotebookNode, folder) -> nbformat.NotebookNode:
    """Run every cell in a fresh kernel, as the grader does (errors recorded, not raised)."""
    from nbclient import NotebookClient

    NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(folder)}}).execute()
    return nb


def errors(nb) -> list[str]:
    return [f"cell {i}: {o.ename}: {o.evalue}" for i, c in enumerate(nb.cells) for o in c.get("outputs", [])
            if o.output_type == "error"]


def test_solutions_become_stubs_at_their_indentation():
    code = "answer = ...\n### BEGIN SOLUTION\nanswer = 302\n### END SOLUTION"
    assert remove_solutions(code) == "answer = ...\n# YOUR CODE HERE"
    code = "def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n\nprint(f)"
    assert remove_solutions(code) == "def f(x):\n    pass  # YOUR CODE HERE\n\nprint(f)"
    code = 'check("08.2", answer)\n#### BEGIN HIDDEN TESTS\nassert answer == 1\n### END HIDDEN TESTS\n'
    assert remove_hidden_tests(code) == 'check("08.2", answer);'  # ";": Jupyter shows the line, not also True/False
    assert remove_hidden_tests('print(check("08.2", answer))') == 'print(check("08.2", answer))'


def test_the_student_copy_holds_no_solution_and_no_hidden_test_and_keeps_the_lesson():
    source = source_notebook()
    copy = student_notebook(source)
    assert source.cells[5].source.endswith("### END SOLUTION")  # the source is left as it was
    text = nbformat.writes(copy)
    for gone in ("BEGIN SOLUTION", SOLUTION_1, SOLUTION_2.strip(), "HIDDEN TESTS", "assert"):
        assert gone not in text
    assert [copy.cells[i].source for i in (5, 6, 8)] == [
        "answer = ...  # replace ... with your answer\n# YOUR CODE HERE",
        'check("90.1", answer);',
        'def average(losses):\n    """The mean of the batch losses."""\n    pass  # YOUR CODE HERE',
    ]
    assert copy.cells[2].outputs[0].text == "lesson output\n" and copy.cells[2].execution_count == 1
    exercise_cells = [copy.cells[i] for i in range(4, 10)]
    assert all(c.get("outputs", []) == [] and c.get("execution_count") is None for c in exercise_cells)
    assert [(c.metadata.get("editable", True), c.metadata["deletable"]) for c in exercise_cells] == \
        [(False, False), (True, False), (False, False)] * 2
    assert [(e.id, e.points) for e in find_exercises(copy)] == [("90.1", 1), ("90.2", 2)]  # nbgrader metadata kept


def test_the_command_writes_the_copies_and_keeps_a_students_work(tmp_path, capsys):
    source, out = write_sources(tmp_path / "notebooks"), tmp_path / "student"
    assert main(["student", "--source", str(source), "--out", str(out)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{out / NOTEBOOK}: written (2 exercises)",
                                                    f"{out / OTHER}: written (0 exercises)"]
    written = nbformat.read(out / NOTEBOOK, as_version=4)
    assert "BEGIN SOLUTION" not in nbformat.writes(written)
    assert main(["student", "--source", str(source), "--out", str(out)]) == 0
    assert capsys.readouterr().out.count(": unchanged") == 2

    written.cells[5].source = "answer = 302"  # a student's work
    nbformat.write(written, out / NOTEBOOK)
    changed_source = source_notebook()
    changed_source.cells[2].source = 'print("a new lesson output")'  # the teacher changed the lesson
    nbformat.write(changed_source, source / NOTEBOOK)
    assert main(["student", "--source", str(source), "--out", str(out)]) == 0
    assert "kept, it was changed after it was written" in capsys.readouterr().out
    assert nbformat.read(out / NOTEBOOK, as_version=4).cells[5].source == "answer = 302"
    assert main(["student", "--source", str(source), "--out", str(out), "--force"]) == 0
    assert nbformat.read(out / NOTEBOOK, as_version=4).cells[2].source == 'print("a new lesson output")'



def test_an_untouched_copy_is_rewritten_when_the_source_changes(tmp_path, capsys):
    source, out = write_sources(tmp_path / "notebooks"), tmp_path / "student"
    main(["student", "--source", str(source), "--out", str(out)])
    changed = source_notebook()
    changed.cells[2].source = 'print("changed")'
    nbformat.write(changed, source / NOTEBOOK)
    capsys.readouterr()
    assert main(["student", "--source", str(source), "--out", str(out)]) == 0
    assert f"{out / NOTEBOOK}: written (2 exercises)" in capsys.readouterr().out


def test_a_source_that_breaks_the_layout_is_not_written_and_out_cannot_be_the_source(tmp_path, capsys):
    source, out = write_sources(tmp_path / "notebooks"), tmp_path / "student"
    broken = source_notebook()
    broken.cells[5].source = "### BEGIN SOLUTION\nanswer = 302\n"  # its END marker lost: the rest would leak
    nbformat.write(broken, source / NOTEBOOK)
    assert main(["student", "--source", str(source), "--out", str(out)]) == 1
    assert "not written, its exercises break the layout" in capsys.readouterr().out
    assert not (out / NOTEBOOK).exists() and (out / OTHER).exists()
    assert main(["student", "--source", str(source), "--out", str(source)]) == 2
    assert "is the source folder" in capsys.readouterr().err


@pytest.mark.slow
def test_run_all_of_a_fresh_student_copy_ends_without_an_error(tmp_path):
    nb = run_all(student_notebook(source_notebook()), tmp_path)
    assert errors(nb) == []
    said = [o.text.strip() for c in nb.cells for o in c.get("outputs", []) if o.output_type == "stream"]
    assert said == ["lesson output", "○ 90.1: not done yet (replace the `...` with your answer)",
                    "○ 90.2: not done yet (average(...) still returns None: replace the `pass` with your code)"]


def _notebooks_with_exercises() -> list:
    return [p for p in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
            if find_exercises(json.loads(p.read_text(encoding="utf-8")))]


@pytest.mark.slow
@pytest.mark.student_copies  # as long as the notebooks themselves: make test-students, not make test
@pytest.mark.parametrize("path", _notebooks_with_exercises(), ids=lambda p: p.name)
def test_run_all_of_each_course_student_copy_ends_without_an_error(path, tmp_path):
    """As long as no notebook has exercises, this has no cases; then it runs each student copy once."""
    nb = run_all(student_notebook(nbformat.read(path, as_version=4)), tmp_path)
    assert errors(nb) == []
