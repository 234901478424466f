"""mnistlab.exercises: checks that never crash and name the mistake, the cells' layout, and the course's notebooks.

Every exercise (the demo set here, and every one the course registers) passes on its solution and fails,
with its hint, on the stub and on each listed wrong answer. The course's notebooks and the course's
registry agree: every exercise found in ``notebooks/`` is registered with the same title, stars and
points, every registered one is in its notebook, and each check cell's committed output is a pass
(strict nbval re-runs the notebooks, so that output stays true).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap

import nbformat
import pytest
from conftest import REPO
from exercise_demo import DEMO, source_notebook

from mnistlab import exercises
from mnistlab.exercises import (
    EXERCISES,
    Exercise,
    Lazy,
    NotDoneYet,
    Registry,
    Wrong,
    WrongAnswer,
    describe,
    exercise_counts,
    find_exercises,
    layout_problems,
    value_of,
)

NOTEBOOKS = REPO / "notebooks"
#: Answers of every kind a student might pass by mistake: a check gives each a line, never a traceback.
ODD_ANSWERS = [0, -1, 2.5, math.nan, math.inf, True, "302", "", b"x", [], [1, 2], (), {}, {"a": 1}, set(),
               object(), print, lambda *a: None, lambda *a: 1 / 0, type, 10**100, 1j]


def _notebooks() -> dict[str, dict]:
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))}


def _lines(capsys) -> list[str]:
    return capsys.readouterr().out.splitlines()


def assert_exercise_behaves(registry: Registry, exercise: Exercise, capsys) -> None:
    """The solution passes, the stubs and each wrong answer fail with their hint, odd answers never raise."""
    check = registry.check
    if exercise.has_solution:
        assert check(exercise.id, value_of(exercise.solution)) is True
        assert _lines(capsys) == [f"✓ {exercise.id}: correct." + (f" {exercise.explanation}"
                                                                   if exercise.explanation else "")]
    for stub, shown in ((..., "`...`"), (None, "`None`")):
        assert check(exercise.id, stub) is False
        assert _lines(capsys) == [f"○ {exercise.id}: not done yet (replace the {shown} with your answer)"]
    assert exercise.wrong, f"exercise {exercise.id} lists no typical wrong answer"
    for wrong in exercise.wrong:
        assert check(exercise.id, value_of(wrong.answer)) is False, f"{exercise.id} passed {wrong.answer!r}"
        lines = _lines(capsys)
        assert len(lines) == 1 and wrong.hint in lines[0], f"{exercise.id}: {wrong.hint!r} not in {lines}"
    for odd in ODD_ANSWERS:
        assert check(exercise.id, odd) in (True, False)
        said = [line for line in _lines(capsys) if line[:2] in ("✓ ", "✗ ", "○ ")]  # a student's function may print
        assert len(said) == 1 and said[0][2:].startswith(exercise.id), f"{exercise.id}: not one line for {odd!r}"


@pytest.mark.parametrize("exercise_id", list(DEMO))
def test_each_demo_exercise_passes_its_solution_and_names_each_mistake(exercise_id, capsys):
    assert_exercise_behaves(DEMO, DEMO[exercise_id], capsys)


@pytest.mark.parametrize("exercise_id", list(EXERCISES))
def test_each_course_exercise_passes_its_solution_and_names_each_mistake(exercise_id, capsys):
    assert_exercise_behaves(EXERCISES, EXERCISES[exercise_id], capsys)


def test_the_demo_lines_read_as_a_student_sees_them(capsys):
    assert DEMO.check("90.1", 280) is False
    assert DEMO.check("90.2", lambda losses: sum(losses) / (len(losses) * 64)) is False
    assert DEMO.check("90.2", lambda losses: None) is False
    assert DEMO.check("90.1", 302) is True
    assert DEMO.check("90.9", 302) is False
    assert _lines(capsys) == [
        "✗ 90.1: 280 = 10 x 28: you forgot the padding (2 pixels around each digit)",
        "✗ 90.2: your loss is 64x too small: did you divide by the number of images instead of the number of "
        "batches?",
        "○ 90.2: not done yet (average(...) still returns None: replace the `pass` with your code)",
        "✓ 90.1: correct. 302 = 2 + 10 x (28 + 2): a 2-pixel border, then each digit and its border.",
        "✗ 90.9: no such exercise (known: 90.1, 90.2)",
    ]


def test_when_grading_a_check_that_does_not_pass_raises_after_its_line(monkeypatch, capsys):
    monkeypatch.setenv(exercises.GRADING_ENV, "1")
    assert DEMO.check("90.1", 302) is True
    with pytest.raises(NotDoneYet, match=r"^90\.1: not done yet"):
        DEMO.check("90.1", ...)
    with pytest.raises(WrongAnswer, match="forgot the padding"):
        DEMO.check("90.1", 280)
    with pytest.raises(LookupError):
        DEMO.check("90.9", 302)
    assert len(_lines(capsys)) == 4  # each printed its line first


def test_a_checker_that_raises_or_returns_oddly_is_reported_not_raised(capsys):
    registry = Registry()

    def broken(answer):
        raise KeyError("oops")

    registry.register("00.1", notebook="00_x.ipynb", title="t", stars=1, points=1)(broken)
    registry.register("00.2", notebook="00_x.ipynb", title="t", stars=1, points=1)(lambda answer: False)
    registry.register("00.3", notebook="00_x.ipynb", title="t", stars=1, points=1)(lambda answer: "two\nlines")
    assert not registry.check("00.1", 1) and not registry.check("00.2", 1) and not registry.check("00.3", 1)
    assert _lines(capsys) == ["✗ 00.1: could not check this answer: KeyError: 'oops'", "✗ 00.2: not right yet",
                              "✗ 00.3: two lines"]


class _Unprintable:
    def __repr__(self):
        raise RuntimeError("no repr")

    def __str__(self):
        raise RuntimeError("no str")


def test_describe_is_short_and_safe():
    class Shaped:
        shape = (3, 242, 242)

    assert describe("302") == "str '302'"
    assert describe(Shaped()) == "Shaped of shape (3, 242, 242)"
    assert describe(_Unprintable()) == "_Unprintable"
    assert describe("x" * 500).endswith("...") and len(describe("x" * 500)) < 80


def test_an_answer_that_cannot_even_be_printed_gets_a_line(capsys):
    assert DEMO.check("90.1", _Unprintable()) is False
    assert _lines(capsys) == ["✗ 90.1: expected int, got _Unprintable"]


@pytest.mark.parametrize("changes, words", [
    ({"id": "8.2"}, "is not NN.K"),
    ({"notebook": "09_save.ipynb"}, "is not the file of exercise 08.2"),
    ({"stars": 4}, "give 1, 2 or 3"),
    ({"points": 0}, "give a positive number"),
    ({"title": "two\nlines"}, "one line"),
])
def test_a_badly_registered_exercise_is_refused(changes, words):
    fields = {"id": "08.2", "notebook": "08_mnist_cnn.ipynb", "title": "t", "stars": 2, "points": 2,
              "checker": lambda answer: None, **changes}
    with pytest.raises(ValueError, match=words):
        Exercise(**fields)


def test_an_id_registered_twice_is_refused_and_ids_sort_as_numbers():
    registry = Registry()
    for exercise_id in ("08.10", "08.2", "06.1"):
        registry.register(exercise_id, notebook=f"{exercise_id[:2]}_x.ipynb", title="t", stars=1, points=1)(len)
    assert list(registry) == ["06.1", "08.2", "08.10"]
    with pytest.raises(ValueError, match="registered twice"):
        registry.register("08.2", notebook="08_x.ipynb", title="t", stars=1, points=1)(len)


def test_lazy_answers_are_built_only_when_asked():
    built = []
    lazy = Lazy(lambda: built.append(1) or 5)
    wrong = Wrong(lazy, "hint")
    assert built == [] and value_of(wrong.answer) == 5 and built == [1] and value_of(7) == 7


# --- The cells' layout ----------------------------------------------------------------------------------------------


def test_exercise_cells_follow_the_layout_and_are_found():
    nb = source_notebook()
    assert layout_problems(nb) == []
    found = find_exercises(nb)
    assert [(e.id, e.question, e.solution, e.check, e.points, e.stars, e.title) for e in found] == [
        ("90.1", 4, 5, 6, 1, 1, "The width of a digit grid"),
        ("90.2", 7, 8, 9, 2, 2, "Average the loss over batches"),
    ]
    meta = nb.cells[6].metadata["nbgrader"]
    assert meta == {"grade": True, "solution": False, "locked": True, "task": False, "points": 1,
                    "grade_id": "ex-90_1-check", "schema_version": 3}
    assert nb.cells[8].source.split("\n")[2:] == ["    ### BEGIN SOLUTION", "    return sum(losses) / len(losses)",
                                                  "    ### END SOLUTION"]


def _planted(edit) -> list[str]:
    nb = source_notebook()
    edit(nb.cells)
    return layout_problems(nb)


@pytest.mark.parametrize("edit, problem", [
    (lambda c: c[5].__setitem__("source", "answer = 1\n### BEGIN SOLUTION\nanswer = 302"),
     "cell 5 (ex-90_1-solution): '### BEGIN SOLUTION' has no '### END SOLUTION'"),
    (lambda c: c[5].__setitem__("source", "answer = 302\n### END SOLUTION"),
     "cell 5 (ex-90_1-solution): '### END SOLUTION' does not pair with a marker before it"),
    (lambda c: c[5].__setitem__("source", "answer = 302"),
     "cell 5 (ex-90_1-solution): no '### BEGIN SOLUTION' ... '### END SOLUTION' in it"),
    (lambda c: c[2].__setitem__("source", "### BEGIN SOLUTION\nx = 1\n### END SOLUTION"),
     "cell 2: 'SOLUTION' markers belong in a solution cell only"),
    (lambda c: c[5].__setitem__("source", "### BEGIN HIDDEN TESTS\n### END HIDDEN TESTS"),
     "cell 5 (ex-90_1-solution): 'HIDDEN TESTS' markers belong in a check cell only"),
    (lambda c: c.pop(6), "exercise 90.1: no check cell"),
    (lambda c: c.insert(5, c.pop(6)),
     "exercise 90.1: its question, solution and check cells should follow each other, in order"),
    (lambda c: c[6].metadata["nbgrader"].__setitem__("locked", False),
     "cell 6 (ex-90_1-check): nbgrader metadata locked should be locked=True"),
    (lambda c: c[6].metadata["nbgrader"].pop("points"), "cell 6 (ex-90_1-check): a check cell needs points > 0"),
    (lambda c: c[4].__setitem__("source", "### Exercise 90.1 — no stars"),
     "exercise 90.1: the question cell should start with '### Exercise 90.1 ★ — title'"),
    (lambda c: c[6].__setitem__("source", 'check("90.2", answer)'),
     'exercise 90.1: its check cell should call check("90.1", ...)'),
    (lambda c: c[9].metadata["nbgrader"].__setitem__("grade_id", "ex-90_1-check"),
     "cell 9: grade_id ex-90_1-check is used twice"),
    (lambda c: c[2].metadata.__setitem__("nbgrader", {"grade_id": "q1"}),
     "cell 2: grade_id 'q1' is not ex-NN_K-question/solution/check"),
])
def test_a_planted_layout_problem_is_named(edit, problem):
    assert problem in _planted(edit)


# --- The course: the notebooks and the registry agree ---------------------------------------------------------------


def course_problems(notebooks: dict[str, dict], registry: Registry) -> list[str]:
    """Every disagreement between the notebooks' exercises ({name: notebook}) and ``registry``."""
    problems, found = [], {}
    for name, nb in notebooks.items():
        problems += [f"{name}: {p}" for p in layout_problems(nb)]
        for cells in find_exercises(nb):
            found[cells.id] = name
            where = f"{name}: exercise {cells.id}"
            if cells.id not in registry:
                problems.append(f"{where} is not registered in mnistlab.exercises")
                continue
            ex = registry[cells.id]
            for what, in_notebook, registered in (("notebook", name, ex.notebook), ("title", cells.title, ex.title),
                                                  ("stars", cells.stars, ex.stars), ("points", cells.points,
                                                                                     ex.points)):
                if in_notebook != registered:
                    problems.append(f"{where}: {what} is {in_notebook!r} in the notebook, {registered!r} registered")
            outputs = nb["cells"][cells.check].get("outputs", [])
            text = "".join("".join(o.get("text", "")) for o in outputs if o.get("output_type") == "stream")
            if not text.startswith(f"✓ {cells.id}: correct"):
                problems.append(f"{where}: the committed output of its check is not a pass: {text[:80]!r}")
    problems += [f"exercise {i} is registered for {registry[i].notebook}, which does not hold it"
                 for i in registry if i not in found]
    return problems


def test_the_course_notebooks_and_the_registry_agree():
    assert course_problems(_notebooks(), EXERCISES) == []


def test_course_problems_names_each_disagreement():
    nb = json.loads(nbformat.writes(source_notebook()))
    assert course_problems({"90_demo.ipynb": nb}, DEMO) == []
    nb["cells"][9]["outputs"][0]["text"] = ["○ 90.2: not done yet"]
    nb["cells"][7]["source"] = ["### Exercise 90.2 ★ — Another title\n"]
    assert course_problems({"90_demo.ipynb": nb, "91_other.ipynb": {"cells": []}}, DEMO) == [
        "90_demo.ipynb: exercise 90.2: title is 'Another title' in the notebook, 'Average the loss over batches' "
        "registered",
        "90_demo.ipynb: exercise 90.2: stars is 1 in the notebook, 2 registered",
        "90_demo.ipynb: exercise 90.2: the committed output of its check is not a pass: '○ 90.2: not done yet'",
    ]
    assert course_problems({"91_other.ipynb": {"cells": []}}, DEMO) == [
        "exercise 90.1 is registered for 90_demo.ipynb, which does not hold it",
        "exercise 90.2 is registered for 90_demo.ipynb, which does not hold it",
    ]
    del nb["cells"][4:7]
    registry = Registry()
    registry.add(DEMO["90.1"])
    assert "90_demo.ipynb: exercise 90.2 is not registered in mnistlab.exercises" in \
        course_problems({"90_demo.ipynb": nb}, registry)


def test_exercise_counts_lists_every_notebook(tmp_path):
    counts = exercise_counts(NOTEBOOKS)
    assert sorted(counts) == sorted(_notebooks()) and all(n >= 0 for n in counts.values())
    nbformat.write(source_notebook(), tmp_path / "90_demo.ipynb")
    assert exercise_counts(tmp_path) == {"90_demo.ipynb": 2}


def test_importing_the_checks_stays_quick():
    # a student's kernel imports mnistlab.exercises for check(): neither torch nor nbformat comes with it
    code = "import sys, mnistlab.exercises; print(sorted({'torch', 'nbformat'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_registration_example_in_the_module_docstring_works(capsys):
    doc = exercises.__doc__
    start = doc.index("::\n\n", doc.index("1. Register its check")) + 4
    block = []
    for line in doc[start:].split("\n"):
        if line.strip() and not line.startswith("       "):
            break
        block.append(line)
    registry = Registry()
    exec(textwrap.dedent("\n".join(block)), {"register": registry.register, "Wrong": Wrong})
    assert list(registry) == ["08.2"]
    assert_exercise_behaves(registry, registry["08.2"], capsys)


def test_the_readme_gives_reading_and_exercise_minutes_per_notebook():
    import re

    from mnistlab.exercises import study_minutes

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = re.search(r"<!-- study minutes: generated.*?-->\n(.*?)<!-- study minutes: end -->", readme, re.S)
    assert table, "README.md lacks its table of minutes per notebook"
    rows = {m.group(1): (int(m.group(2)), int(m.group(3)))
            for m in re.finditer(r"^\| `(\S+\.ipynb)` \| (\d+) \| (\d+) \|", table.group(1), re.M)}
    assert rows == study_minutes(REPO / "notebooks"), (
        "README.md's minutes per notebook are out of date: rerun the table from mnistlab.exercises.study_minutes")


def test_study_minutes_count_stars_and_words(tmp_path):
    from mnistlab.exercises import MINUTES_PER_EXERCISE, study_minutes

    cells = [{"cell_type": "markdown", "metadata": {}, "source": "word " * 250}]
    cells += exercises.exercise_cells(exercises.EXERCISES["01.3"], task="question " * 1000,  # ★★; not reading
                                      solution="answer = 9128")
    (tmp_path / "01_demo.ipynb").write_text(json.dumps({"cells": cells}), encoding="utf-8")
    assert study_minutes(tmp_path) == {"01_demo.ipynb": (5, MINUTES_PER_EXERCISE[2])}
