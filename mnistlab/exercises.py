"""Exercises: one check per exercise (``check("08.2", answer)``), and the notebook cells that hold them.

A check never raises on the student's answer: it prints one line and returns True or False::

    ✓ 08.2: correct. 32 kernels of 3 x 3 weights, plus one bias each.
    ✗ 08.2: 288 is 32 short: did you forget the biases (one per output channel)?
    ○ 08.2: not done yet (replace the `...` with your answer)

Under ``MNISTLAB_GRADING=1`` (``python -m mnistlab grade`` sets it in the kernels it starts; set it for
``nbgrader autograde`` too) a check that does not pass raises ``NotDoneYet`` or ``WrongAnswer`` after its
line, so a grader gives a check cell its points exactly when it runs without an error, as nbgrader does.

Adding an exercise to a notebook
================================

1. Register its check here, at the end of this file (``register`` is ``EXERCISES.register``)::

       @register("08.2", notebook="08_mnist_cnn.ipynb", title="Parameters of the first convolution",
                 stars=2, points=2, kind=int, solution=320,
                 explanation="32 kernels of 3 x 3 weights, plus one bias each.",
                 wrong=[Wrong(288, "forget the biases"), Wrong(9, "one kernel")])
       def _(answer):
           if answer == 288:
               return "288 is 32 short: did you forget the biases (one per output channel)?"
           if answer == 9:
               return "9 is one kernel's weights: the layer has 32 of them, each with a bias"
           return None if answer == 320 else f"{answer} is not it: count weights (3 x 3 x 32) and biases (32)"

   The checker gets the answer (already known not to be None or ``...``, and of type ``kind`` when given)
   and returns None when it is right, else a one-line hint that names the likely mistake. It may raise
   ``NotDoneYet`` (a function whose body is still the stub returns None); any other exception it raises
   is caught and reported as "could not check this answer". ``wrong`` lists the typical wrong answers,
   each with a few words its hint must contain; the tests run every one, the stub and ``solution``.
   Answers that are costly to build (a model, a tensor) go in as ``Lazy(lambda: ...)``; import torch
   inside the checker, not at the top of this file, so that importing it stays quick.

2. Put three cells in the notebook, one after the other (``exercise_cells`` writes them): in its
   "Exercises (练习)" section at the end, or inside the lesson for a "predict, then run" question.

   a. markdown, locked: ``### Exercise 08.2 ★★ — Parameters of the first convolution`` and the task;
      nbgrader metadata ``{"grade": false, "solution": false, "locked": true, "task": false,
      "grade_id": "ex-08_2-question", "schema_version": 3}``.
   b. code, the answer: a line the student completes, then the solution between markers::

          answer = ...  # replace ... with your answer
          ### BEGIN SOLUTION
          answer = 32 * 3 * 3 + 32
          ### END SOLUTION

      metadata ``{"grade": false, "solution": true, "locked": false, "task": false,
      "grade_id": "ex-08_2-solution", "schema_version": 3}``. The student copy keeps the first line and
      puts ``# YOUR CODE HERE`` in place of the solution (``pass  # YOUR CODE HERE`` inside a block), so
      Run All of a fresh copy goes to the end: each check says "not done yet".
   c. code, the check, locked: ``check("08.2", answer)``, then optionally hidden tests, which run only
      when grading (the student copy drops them)::

          check("08.2", answer)
          ### BEGIN HIDDEN TESTS
          assert answer == 320
          ### END HIDDEN TESTS

      metadata ``{"grade": true, "solution": false, "locked": true, "task": false, "points": 2,
      "grade_id": "ex-08_2-check", "schema_version": 3}``; ``points`` equals the registered points.

   The notebook imports the check once, near its top: ``from mnistlab.exercises import check``.

``python -m mnistlab student`` writes the student copies (``mnistlab.student``); ``python -m mnistlab
grade`` grades a class (``mnistlab.grade``). The notebooks also work with nbgrader's own
``generate_assignment`` and ``autograde`` (run it with ``MNISTLAB_GRADING=1``); set
``c.ClearSolutions.code_stub = {"python": "pass  # YOUR CODE HERE"}`` so that its student copies run
to the end as ours do (its default stub raises ``NotImplementedError``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["EXERCISES", "GRADING_ENV", "Exercise", "ExerciseCells", "Lazy", "NotDoneYet", "Registry", "Wrong",
           "WrongAnswer", "check", "describe", "exercise_cells", "exercise_counts", "exercise_grade_id",
           "exercise_role", "find_exercises", "grade_id", "heading", "layout_problems", "register", "source_of",
           "value_of"]

#: Set to 1 in a kernel that grades: a check that does not pass raises after printing its line.
GRADING_ENV = "MNISTLAB_GRADING"

ID = re.compile(r"\d\d\.\d+")
#: The grade_id of an exercise's three cells: ex-08_2-question, ex-08_2-solution, ex-08_2-check (nbgrader
#: allows letters, digits, ``_`` and ``-`` in a grade_id, no dot).
GRADE_ID = re.compile(r"ex-(\d\d)_(\d+)-(question|solution|check)")
ROLES = ("question", "solution", "check")
HEADING = re.compile(r"### Exercise (\d\d\.\d+) (★{1,3}) — (\S.*)")
#: Marker lines, as nbgrader reads them: any number of ``#`` before the words, nothing after.
MARKER = re.compile(r"\s*#+\s*(BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*")


class NotDoneYet(AssertionError):
    """Raised by a check when grading and the answer is still the stub (a checker may raise it too)."""


class WrongAnswer(AssertionError):
    """Raised by a check when grading and the answer is wrong; the message is the hint."""


@dataclass(frozen=True)
class Lazy:
    """An answer built only when a test needs it: ``Lazy(lambda: torch.zeros(3))``."""

    make: Callable[[], Any]


def value_of(answer: Any) -> Any:
    """The answer itself: a ``Lazy`` is built, anything else is returned as it is."""
    return answer.make() if isinstance(answer, Lazy) else answer


@dataclass(frozen=True)
class Wrong:
    """A typical wrong answer and a few words that the hint for it must contain."""

    answer: Any
    hint: str


_NO_SOLUTION: Any = object()  # an exercise whose solution only the notebook can compute


@dataclass(frozen=True)
class Exercise:
    """One exercise: where it is, what it is worth, and how its answers are judged."""

    id: str
    notebook: str
    title: str
    stars: int
    points: float
    checker: Callable[[Any], str | None]
    wrong: tuple[Wrong, ...] = ()
    solution: Any = _NO_SOLUTION
    kind: type | tuple[type, ...] | None = None
    explanation: str = ""

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.id, str) or not ID.fullmatch(self.id):
            problems.append(f"id {self.id!r} is not NN.K (for example '08.2')")
        elif not str(self.notebook).startswith(self.id.split(".")[0] + "_") or not self.notebook.endswith(".ipynb"):
            problems.append(f"notebook {self.notebook!r} is not the file of exercise {self.id} (NN_name.ipynb)")
        if self.stars not in (1, 2, 3):
            problems.append(f"stars={self.stars!r}: give 1, 2 or 3")
        if not isinstance(self.points, (int, float)) or isinstance(self.points, bool) or not self.points > 0:
            problems.append(f"points={self.points!r}: give a positive number")
        if not self.title.strip() or "\n" in self.title:
            problems.append("the title must be one line")
        if problems:
            raise ValueError(f"exercise {self.id!r}: " + "; ".join(problems))
        object.__setattr__(self, "wrong", tuple(self.wrong))

    @property
    def has_solution(self) -> bool:
        return self.solution is not _NO_SOLUTION

    def judge(self, answer: Any) -> tuple[str, str]:
        """("correct" | "not done" | "wrong", the text of the line). Never raises (Exception, that is)."""
        if answer is ... or answer is None:
            return "not done", f"not done yet (replace the `{'...' if answer is ... else 'None'}` with your answer)"
        if self.kind is not None and not _is_kind(answer, self.kind):
            return "wrong", f"expected {_kind_names(self.kind)}, got {describe(answer)}"
        try:
            verdict = self.checker(answer)
        except NotDoneYet as exc:
            return "not done", f"not done yet ({_one_line(exc) or 'replace the stub with your answer'})"
        except Exception as exc:
            expected = f" (expected {_kind_names(self.kind)})" if self.kind is not None else ""
            return "wrong", f"could not check this answer{expected}: {type(exc).__name__}: {_one_line(exc)}"
        if verdict is None or verdict is True:
            return "correct", "correct." + (f" {self.explanation}" if self.explanation else "")
        if isinstance(verdict, str) and verdict.strip():
            return "wrong", _one_line(verdict)
        return "wrong", "not right yet"


def _is_kind(answer: Any, kind: type | tuple[type, ...]) -> bool:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(answer, bool) and bool not in kinds:  # True is an int to Python, never an answer of 1
        return False
    return isinstance(answer, kinds)


def _kind_names(kind: type | tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))


def _one_line(text: object, limit: int = 300) -> str:
    try:
        line = " ".join(str(text).split())
    except Exception:  # a student's object whose __str__ raises
        line = "(no message)"
    return line if len(line) <= limit else line[: limit - 3] + "..."


def describe(value: Any, limit: int = 60) -> str:
    """A short, safe description of any value: "str '302'", "Tensor of shape (3, 242, 242)"."""
    name = type(value).__name__
    shape = getattr(value, "shape", None)
    try:
        if shape is not None and not isinstance(value, type) and len(tuple(shape)) > 0:
            return f"{name} of shape {tuple(shape)}"
        text = repr(value)
    except Exception:
        return name
    text = " ".join(text.split())
    return f"{name} {text if len(text) <= limit else text[: limit - 3] + '...'}"


class Registry(Mapping[str, Exercise]):
    """Exercises by id. ``EXERCISES`` is the course's; the tests build their own."""

    def __init__(self) -> None:
        self._exercises: dict[str, Exercise] = {}

    def __getitem__(self, exercise_id: str) -> Exercise:
        return self._exercises[exercise_id]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._exercises, key=_id_key))

    def __len__(self) -> int:
        return len(self._exercises)

    def add(self, exercise: Exercise) -> Exercise:
        if exercise.id in self._exercises:
            raise ValueError(f"exercise {exercise.id} is registered twice")
        self._exercises[exercise.id] = exercise
        return exercise

    def register(self, exercise_id: str, *, notebook: str, title: str, stars: int, points: float,
                 wrong: Iterable[Wrong] = (), solution: Any = _NO_SOLUTION,
                 kind: type | tuple[type, ...] | None = None, explanation: str = ""):
        """Decorator: register the decorated function as the checker of exercise ``exercise_id``."""

        def decorate(checker: Callable[[Any], str | None]) -> Callable[[Any], str | None]:
            self.add(Exercise(exercise_id, notebook, title, stars, points, checker, tuple(wrong), solution,
                              kind, explanation))
            return checker

        return decorate

    def check(self, exercise_id: str, answer: Any) -> bool:
        """Print one line saying whether ``answer`` solves exercise ``exercise_id``; return True if it does.

        Raises only when grading (``MNISTLAB_GRADING=1``) and the answer does not pass.
        """
        exercise = self._exercises.get(exercise_id) if isinstance(exercise_id, str) else None
        if exercise is None:
            verdict, text = "unknown", f"no such exercise (known: {', '.join(self) or 'none'})"
        else:
            verdict, text = exercise.judge(answer)
        mark = {"correct": "✓", "not done": "○"}.get(verdict, "✗")
        _say(f"{mark} {exercise_id}: {text}")
        if verdict != "correct" and os.environ.get(GRADING_ENV) == "1":
            error = {"not done": NotDoneYet, "wrong": WrongAnswer}.get(verdict, LookupError)
            raise error(f"{exercise_id}: {text}")
        return verdict == "correct"


def _id_key(exercise_id: str) -> tuple[int, ...]:
    return tuple(int(part) for part in exercise_id.split("."))


def _say(line: str) -> None:
    try:
        print(line, flush=True)
    except UnicodeEncodeError:  # a console that cannot show ✓: say it in ASCII
        print(line.encode("ascii", "replace").decode("ascii"), flush=True)


#: The course's exercises; ``check`` and ``register`` act on them.
EXERCISES = Registry()
register = EXERCISES.register
check = EXERCISES.check


# --- The notebook cells of an exercise -------------------------------------------------------------------------


def heading(exercise: Exercise) -> str:
    """The first line of the exercise's question cell: ``### Exercise 08.2 ★★ — title``."""
    return f"### Exercise {exercise.id} {'★' * exercise.stars} — {exercise.title}"


def _nbgrader(role: str, exercise: Exercise) -> dict:
    return {"grade": role == "check", "solution": role == "solution", "locked": role != "solution",
            "task": False, "grade_id": exercise_grade_id(exercise.id, role), "schema_version": 3,
            **({"points": exercise.points} if role == "check" else {})}


def exercise_cells(exercise: Exercise, task: str, solution: str, stub: str = "answer = ...  # replace ... with "
                   "your answer", answer: str = "answer", hidden_tests: str = "") -> list:
    """The three cells of an exercise (nbformat cells), as the module docstring lays them out.

    ``stub`` is the code the student starts from (it stays in the student copy), ``solution`` the code
    between the solution markers, ``answer`` the expression the check cell passes to ``check``.
    Not needed when the notebooks run: a way to write the cells, and the layout in code.
    """
    import nbformat  # only needed to write notebooks, not to check answers

    def block(text: str) -> str:
        return text.strip("\n")

    body = block(solution)
    indent = body[: len(body) - len(body.lstrip())].rpartition("\n")[2]  # the solution's own indentation
    code = "\n".join(part for part in (block(stub), f"{indent}### BEGIN SOLUTION", body, f"{indent}### END SOLUTION")
                     if part)
    checking = f'check("{exercise.id}", {answer})'
    if hidden_tests.strip():
        checking += f"\n### BEGIN HIDDEN TESTS\n{block(hidden_tests)}\n### END HIDDEN TESTS"
    cells = [nbformat.v4.new_markdown_cell(f"{heading(exercise)}\n\n{block(task)}"),
             nbformat.v4.new_code_cell(code), nbformat.v4.new_code_cell(checking)]
    for cell, role in zip(cells, ROLES, strict=True):
        cell.metadata["nbgrader"] = _nbgrader(role, exercise)
    return cells


# --- Reading the exercises of a notebook --------------------------------------------------------------------------


def source_of(cell: Mapping) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def grade_id(cell: Mapping) -> str | None:
    """The cell's nbgrader grade_id, or None."""
    meta = cell.get("metadata", {}).get("nbgrader")
    value = meta.get("grade_id") if isinstance(meta, Mapping) else None
    return value if isinstance(value, str) else None


def exercise_grade_id(exercise_id: str, role: str) -> str:
    """The grade_id of an exercise's cell: ``exercise_grade_id("08.2", "check")`` is ``ex-08_2-check``."""
    return f"ex-{exercise_id.replace('.', '_')}-{role}"


def exercise_role(cell: Mapping) -> tuple[str, str] | None:
    """(exercise id, "question" | "solution" | "check") of an exercise's cell, else None."""
    match = GRADE_ID.fullmatch(grade_id(cell) or "")
    return (f"{match.group(1)}.{match.group(2)}", match.group(3)) if match else None


@dataclass
class ExerciseCells:
    """Where an exercise's cells are in a notebook (cell indices; None: missing) and what they say."""

    id: str
    question: int | None = None
    solution: int | None = None
    check: int | None = None
    points: float = 0
    stars: int = 0
    title: str = ""


def find_exercises(nb: Mapping) -> list[ExerciseCells]:
    """The exercises of a notebook (a dict or NotebookNode), found by grade_id, in the order they come."""
    found: dict[str, ExerciseCells] = {}
    for index, cell in enumerate(nb.get("cells", [])):
        found_role = exercise_role(cell)
        if found_role is None:
            continue
        exercise_id, role = found_role
        entry = found.setdefault(exercise_id, ExerciseCells(exercise_id))
        if getattr(entry, role) is None:
            setattr(entry, role, index)
        if role == "check":
            points = cell["metadata"]["nbgrader"].get("points", 0)
            entry.points = points if isinstance(points, (int, float)) and not isinstance(points, bool) else 0
        elif role == "question":
            first = source_of(cell).strip().split("\n", 1)[0].strip()
            heading_match = HEADING.fullmatch(first)
            if heading_match and heading_match.group(1) == exercise_id:
                entry.stars, entry.title = len(heading_match.group(2)), heading_match.group(3).strip()
    return list(found.values())


def marker_problems(source: str, where: str, allowed: Iterable[str] = ()) -> list[str]:
    """Unpaired, nested or misplaced ``### BEGIN/END SOLUTION`` and ``HIDDEN TESTS`` lines in one cell."""
    problems, open_kind = [], None
    for line in source.split("\n"):
        match = MARKER.fullmatch(line)
        if not match:
            continue
        edge, kind = match.groups()
        if kind not in allowed:
            problems.append(f"{where}: '{kind}' markers belong in {'a solution' if kind == 'SOLUTION' else 'a check'}"
                            " cell only")
            return problems
        if (edge == "BEGIN") == (open_kind is not None) or (edge == "END" and kind != open_kind):
            problems.append(f"{where}: '{line.strip()}' does not pair with a marker before it")
            return problems
        open_kind = kind if edge == "BEGIN" else None
    if open_kind is not None:
        problems.append(f"{where}: '### BEGIN {open_kind}' has no '### END {open_kind}'")
    return problems


def layout_problems(nb: Mapping) -> list[str]:
    """Every way the notebook's exercises break the layout of the module docstring (an empty list: none)."""
    cells = nb.get("cells", [])
    problems: list[str] = []
    seen: set[str] = set()
    for index, cell in enumerate(cells):
        gid, where, found_role = grade_id(cell), f"cell {index}", exercise_role(cell)
        role = found_role[1] if found_role else None
        if gid is not None:
            if gid in seen:
                problems.append(f"{where}: grade_id {gid} is used twice")
            seen.add(gid)
            if role is None:
                problems.append(f"{where}: grade_id {gid!r} is not ex-NN_K-question/solution/check")
            else:
                expected = _nbgrader(role, _Stand(found_role[0]))
                meta = cell["metadata"]["nbgrader"]
                keys = ("grade", "solution", "locked") + (("points",) if role == "check" else ())
                wrong_keys = [k for k in keys if k != "points" and meta.get(k) != expected[k]]
                if wrong_keys:
                    problems.append(f"{where} ({gid}): nbgrader metadata {', '.join(wrong_keys)} should be "
                                    + ", ".join(f"{k}={expected[k]}" for k in wrong_keys))
                if role == "check" and not (isinstance(meta.get("points"), (int, float)) and meta["points"] > 0):
                    problems.append(f"{where} ({gid}): a check cell needs points > 0")
                if cell.get("cell_type") != ("markdown" if role == "question" else "code"):
                    problems.append(f"{where} ({gid}): should be a {'markdown' if role == 'question' else 'code'}"
                                    " cell")
        allowed = {"solution": ("SOLUTION",), "check": ("HIDDEN TESTS",)}.get(role or "", ())
        problems += marker_problems(source_of(cell), f"{where}{f' ({gid})' if gid else ''}", allowed)
        if role == "solution" and "BEGIN SOLUTION" not in source_of(cell):
            problems.append(f"{where} ({gid}): no '### BEGIN SOLUTION' ... '### END SOLUTION' in it")
    for entry in find_exercises(nb):
        where = f"exercise {entry.id}"
        indices = [getattr(entry, role) for role in ROLES]
        if None in indices:
            missing = [role for role, index in zip(ROLES, indices, strict=True) if index is None]
            problems.append(f"{where}: no {', no '.join(missing)} cell")
            continue
        if indices != list(range(indices[0], indices[0] + 3)):
            problems.append(f"{where}: its question, solution and check cells should follow each other, in order")
        if not entry.title:
            problems.append(f"{where}: the question cell should start with '### Exercise {entry.id} ★ — title'")
        if f'check("{entry.id}",' not in source_of(cells[entry.check]):
            problems.append(f'{where}: its check cell should call check("{entry.id}", ...)')
    return problems


@dataclass(frozen=True)
class _Stand:  # stands in for an Exercise where only the id matters (the expected nbgrader flags)
    id: str
    points: float = 0


def exercise_counts(folder: str | os.PathLike = "notebooks") -> dict[str, int]:
    """The number of exercises in each notebook of ``folder`` (``NN_*.ipynb``), by file name."""
    import json

    counts = {}
    for path in sorted(Path(folder).glob("[0-9][0-9]_*.ipynb")):
        counts[path.name] = len(find_exercises(json.loads(path.read_text(encoding="utf-8"))))
    return counts


# --- The course's exercises (one block per notebook, in notebook order) --------------------------------------------


# --- 00_ml_workflow.ipynb: begin
# --- 00_ml_workflow.ipynb: end


# --- 01_cpu_vs_gpu.ipynb: begin
# --- 01_cpu_vs_gpu.ipynb: end


# --- 02_tensors_and_clamp.ipynb: begin
# --- 02_tensors_and_clamp.ipynb: end


# --- 03_manual_autograd.ipynb: begin
# --- 03_manual_autograd.ipynb: end


# --- 04_sequential_and_ordereddict.ipynb: begin
# --- 04_sequential_and_ordereddict.ipynb: end


# --- 05_optim_adam.ipynb: begin
# --- 05_optim_adam.ipynb: end


# --- 06_mnist_data.ipynb: begin
# --- 06_mnist_data.ipynb: end


# --- 07_convolution_and_pooling.ipynb: begin
# --- 07_convolution_and_pooling.ipynb: end


# --- 08_mnist_cnn.ipynb: begin
# --- 08_mnist_cnn.ipynb: end


# --- 09_save_and_load.ipynb: begin
# --- 09_save_and_load.ipynb: end


# --- 10_model_visualisation.ipynb: begin
# --- 10_model_visualisation.ipynb: end


# --- 11_overfit_then_regularise.ipynb: begin
# --- 11_overfit_then_regularise.ipynb: end


# --- 12_training_faster.ipynb: begin
# --- 12_training_faster.ipynb: end
