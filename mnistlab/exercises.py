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
import statistics
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["EXERCISES", "GRADING_ENV", "Exercise", "ExerciseCells", "Lazy", "NotDoneYet", "Registry", "Wrong",
           "WrongAnswer", "check", "describe", "exercise_cells", "exercise_counts", "exercise_grade_id",
           "exercise_role", "find_exercises", "grade_id", "heading", "layout_problems", "register", "source_of",
           "study_minutes", "value_of", "READING_WORDS_PER_MINUTE", "MINUTES_PER_EXERCISE"]

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


#: Reading speed for the course's prose with its cells run and their outputs read: slower than plain English
#: prose (200-250 words a minute for most adults), as a technical text asks.
READING_WORDS_PER_MINUTE = 100

#: Minutes a student needs for an exercise, by its stars: a quick question, some thought, a short program.
MINUTES_PER_EXERCISE = {1: 3, 2: 8, 3: 15}


def study_minutes(folder: str | os.PathLike = "notebooks") -> dict[str, tuple[int, int]]:
    """(minutes of reading, minutes of exercises) for each notebook of ``folder``: estimates for planning a class.

    Reading: the words of the lesson's markdown (exercise questions not counted) at
    ``READING_WORDS_PER_MINUTE``, rounded up to 5 minutes. Exercises: ``MINUTES_PER_EXERCISE`` by stars.
    """
    import json
    import math

    minutes = {}
    for path in sorted(Path(folder).glob("[0-9][0-9]_*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        found = find_exercises(nb)
        questions = {e.question for e in found}
        words = sum(len(source_of(cell).split()) for index, cell in enumerate(nb["cells"])
                    if cell["cell_type"] == "markdown" and index not in questions)
        reading = 5 * math.ceil(words / READING_WORDS_PER_MINUTE / 5)
        minutes[path.name] = (reading, sum(MINUTES_PER_EXERCISE[e.stars] for e in found))
    return minutes


def _stub(*args):
    """A function as a student copy hands it out, its body still ``pass``: the typical "not done yet" answer."""


# --- The course's exercises (one block per notebook, in notebook order) --------------------------------------------


# --- 00_ml_workflow.ipynb: begin
_NB00 = "00_ml_workflow.ipynb"


def _nb00_close(value: Any, target: float) -> bool:
    return isinstance(value, float) and abs(value - target) < 1e-6


@register("00.1", notebook=_NB00, title="Predict the majority-class score on validation", stars=1, points=1,
          kind=(int, float), solution=116,
          explanation="116 of the 1,000 validation images are 1s, and \"always 1\" is right on exactly those.",
          wrong=[Wrong(120, "leak"), Wrong(105, "digit 0"), Wrong(671, "training images"),
                 Wrong(11.6, "percentage"), Wrong(241, "test set")])
def _(answer):
    if answer == 116:
        return None
    hints = {120: "120 is the number of 7s, the most frequent digit of the validation images: the baseline's digit "
                  "is chosen on the training split (1); choosing it on the images you score would leak their labels",
             105: "105 is the count of digit 0 (the first number of the list); the 1s are the second number",
             671: "671 is the number of 1s among the 6,000 training images: count the 1s among the 1,000 validation "
                  "images",
             11.6: "11.6 is the percentage: give the number of validation images it gets right",
             241: "241 is the number of 1s in the test set: the question is about the validation split"}
    return hints.get(answer, f"{answer} is not it: section 3 printed the validation images per digit; how many "
                             "of them are 1s?")


def _nb00_majority_accuracy(train_labels, test_labels):
    """The solution of 00.2, as the notebook writes it."""
    import torch

    majority = torch.bincount(train_labels).argmax()
    return (test_labels == majority).double().mean().item()


def _nb00_test_majority(train_labels, test_labels):  # 00.2 wrong: the digit chosen on the labels it is scored on
    import torch

    return (test_labels == torch.bincount(test_labels).argmax()).double().mean().item()


def _nb00_train_accuracy(train_labels, test_labels):  # 00.2 wrong: scored on the training labels
    return _nb00_majority_accuracy(train_labels, train_labels)


def _nb00_count(train_labels, test_labels):  # 00.2 wrong: the number right, not the fraction
    return _nb00_majority_accuracy(train_labels, test_labels) * len(test_labels)


#: 00.2's examples: (training labels, test labels, expected accuracy); no ties in the training labels
_NB00_CASES = (([3, 1, 3, 7, 3, 1, 0, 3], [1, 1, 3, 0, 7, 1, 1, 3, 2, 9], 2 / 10),
               ([2, 2, 2, 6, 6, 0], [6, 2, 2, 0, 6, 6], 2 / 6))


@register("00.2", notebook=_NB00, title="The majority-class baseline as a function", stars=2, points=2,
          solution=_nb00_majority_accuracy,
          explanation="Digit 3 is the most frequent training label, and 2 of the 10 test labels are 3s: 2/10 = 0.2.",
          wrong=[Wrong(_nb00_test_majority, "leaks"), Wrong(_nb00_train_accuracy, "train_labels"),
                 Wrong(_nb00_count, "divide by len(test_labels)"),
                 Wrong(lambda tr, te: 100 * _nb00_majority_accuracy(tr, te), "percentage"),
                 Wrong(lambda tr, te: 0.2, "hard-code"), Wrong(_stub, "not done yet"),
                 Wrong(0.2, "expected a function")])
def _(answer):
    import torch

    if not callable(answer):
        return f"expected a function majority_accuracy(train_labels, test_labels), got {describe(answer)}"
    results = []
    for train, test, _expected in _NB00_CASES:
        result = answer(torch.tensor(train), torch.tensor(test))
        if result is None:
            raise NotDoneYet("majority_accuracy(...) still returns None: replace the `pass` with your code")
        try:
            results.append(float(result))
        except (TypeError, ValueError):
            return f"majority_accuracy(...) returned {describe(result)}: return the accuracy, a number from 0 to 1"
    first, second = results
    if _nb00_close(first, _NB00_CASES[0][2]):
        if _nb00_close(second, _NB00_CASES[1][2]):
            return None
        return (f"right on the example, but on other labels it gave {second:.4g} instead of {_NB00_CASES[1][2]:.4g}: "
                "did you hard-code the answer?")
    hints = ((0.4, "0.4 scores the test labels' own most frequent digit (1): choose the digit on train_labels; "
                   "choosing it on the labels you score leaks them into the baseline"),
             (0.5, "0.5 is the score on train_labels: score the digit on test_labels"),
             (2.0, "2 is the number of right answers: divide by len(test_labels) for the accuracy"),
             (20.0, "20 is a percentage: return the fraction, from 0 to 1"),
             (3.0, "3 is the most frequent digit itself: return how often it is right on test_labels"))
    for value, hint in hints:
        if _nb00_close(first, value):
            return hint
    return (f"majority_accuracy gave {first:.4g} on the example: find the most frequent digit of train_labels, then "
            "the fraction of test_labels equal to it")


#: 00.3: for each mistake (a) to (d), the step it breaks and what to think of when the answer is another step
_NB00_STEPS = (("a", 7, "picking among 30 runs by their test scores makes the test set a tuning tool; which step "
                        "keeps it for the very end?"),
               ("b", 5, "a first model has to beat the common-sense baselines before it is worth tuning (the nearest "
                        "class mean is right about 8 times in 10); which step says so?"),
               ("c", 6, "a network that cannot even fit its training data needs capacity, not regularisation; which "
                        "step says to overfit first?"),
               ("d", 2, "with one fraud in 1,000, always answering 'no fraud' is right 999 times in 1,000 and "
                        "useless: the metric is the mistake; which step chooses it?"))


@register("00.3", notebook=_NB00, title="Which step does each mistake break?", stars=1, points=1,
          kind=(list, tuple), solution=[7, 5, 6, 2],
          explanation="(a) tuning on the test set: step 7; (b) no baseline beaten: step 5; (c) regularising before "
                      "overfitting: step 6; (d) accuracy on unbalanced classes: step 2.",
          wrong=[Wrong([3, 5, 6, 2], "(a)"), Wrong([7, 6, 6, 2], "(b)"), Wrong([7, 5, 5, 2], "(c)"),
                 Wrong([7, 5, 6, 3], "(d)"), Wrong([7, 5, 6], "four step numbers"), Wrong(["7", 5, 6, 2], "ints")])
def _(answer):
    if len(answer) != 4:
        return f"give four step numbers, one for each mistake (a) to (d); you gave {len(answer)}"
    for given, (label, step, reason) in zip(answer, _NB00_STEPS, strict=True):
        if isinstance(given, bool) or not isinstance(given, int):
            return f"give the steps as ints from 1 to 7 (7, not '7'); you gave {describe(given)}"
        if given != step:
            return f"({label}) is not step {given}: {reason}"
    return None


_NB00_LEAKS = {"B": "B leaks: the test images' pixels shape the statistics every training image is standardised with",
               "C": "C leaks: images in both training and validation are scored after being learned (the "
                    "1-nearest-neighbour got every such image right)",
               "D": "D leaks: with a random split the model learns from days after the ones it is validated on; in a "
                    "time series, validation comes after training"}
_NB00_SAFE = {"A": "A does not leak: statistics measured on training images only, then applied to every set, is "
                   "step 4's rule (MNIST_MEAN and MNIST_STD)",
              "E": "E does not leak: choosing with the validation set and reporting the test score once is the "
                   "protocol itself"}


@register("00.4", notebook=_NB00, title="Leak or not?", stars=2, points=2,
          kind=(str, set, frozenset, list, tuple), solution={"B", "C", "D"},
          explanation="B, C and D let the evaluation data reach the model; A and E are the course's protocol.",
          wrong=[Wrong({"B"}, "C leaks"), Wrong({"B", "C"}, "D leaks"), Wrong({"C", "D"}, "B leaks"),
                 Wrong({"A", "B", "C", "D"}, "A does not leak"), Wrong("BCDE", "E does not leak"),
                 Wrong({"B", "C", "F"}, "not one of")])
def _(answer):
    items = list(answer.replace(",", " ").split()) if isinstance(answer, str) else list(answer)
    if isinstance(answer, str) and len(items) == 1:
        items = list(items[0])  # "BCD"
    letters = set()
    for item in items:
        if not isinstance(item, str) or item.strip().upper() not in "ABCDE" or len(item.strip()) != 1:
            return f"{describe(item)} is not one of the letters A to E"
        letters.add(item.strip().upper())
    for letter, hint in _NB00_LEAKS.items():
        if letter not in letters:
            return hint
    for letter, hint in _NB00_SAFE.items():
        if letter in letters:
            return hint
    return None
# --- 00_ml_workflow.ipynb: end


# --- 01_cpu_vs_gpu.ipynb: begin
_NB01 = "01_cpu_vs_gpu.ipynb"


def _nb01_close(value: Any, target: float, rel: float = 1e-3) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value - target) <= rel * abs(target)


@register("01.1", notebook=_NB01, title="Predict, then run: the FLOP of the seed's third step", stars=1, points=1,
          kind=(int, float), solution=600_000_000_000,
          explanation="300 matrices, each 2 * 1000**3 = 2e9 FLOP: 6e11 FLOP, 600 GFLOP.",
          wrong=[Wrong(300_000_000_000, "two FLOP"), Wrong(2_000_000_000, "batch of 300"),
                 Wrong(600, "GFLOP"), Wrong(600_000_000, "n**3"), Wrong(6e9, "i * 100 matrices")])
def _(answer):
    if _nb01_close(answer, 6e11):
        return None
    hints = ((3e11, "3e11 counts multiply-adds: each multiply-add is two FLOP (a multiplication and an addition)"),
             (2e9, "2e9 is one 1000 x 1000 matmul: step i=3 multiplies a batch of 300 of them"),
             (600, "600 is the answer in GFLOP: give FLOP (600 GFLOP = 600 * 1e9 FLOP)"),
             (6e8, "6e8 is 300 * 2 * 1000**2: a matmul of n x n matrices costs 2 * n**3 FLOP, not 2 * n**2"),
             (6e9, "6e9 is 3 matmuls: at step i the seed's batch holds i * 100 matrices"))
    for value, hint in hints:
        if _nb01_close(answer, value):
            return hint
    return f"{answer:.4g} is not it: FLOP of one matmul (2 * n**3, n = 1000) times the matrices in the batch"


@register("01.2", notebook=_NB01, title="Predict the time of a matmul twice as large", stars=2, points=2,
          kind=(int, float), solution=16,
          explanation="Doubling n multiplies the work 2 * n**3 by 8; at the same GFLOP/s the time grows 8x: 2 ms * 8.",
          wrong=[Wrong(4, "n**3"), Wrong(8, "n**2"), Wrong(0.25, "more work"), Wrong(0.016, "milliseconds")])
def _(answer):
    if _nb01_close(answer, 16, rel=0.01):
        return None
    hints = ((4, "4 ms doubles the time, as if the work grew like n: it grows like n**3"),
             (8, "8 ms is 4x, as if the work grew like n**2 (the entries of the result): each entry is also a dot "
                 "product of n multiply-adds, so the work grows like n**3"),
             (0.25, "0.25 ms divides by 8: the larger matmul is more work, so it takes longer"),
             (0.016, "0.016 is in seconds: give the time in milliseconds"))
    for value, hint in hints:
        if _nb01_close(answer, value, rel=0.01):
            return hint
    return (f"{answer:.4g} ms is not it: how many times more FLOP does n = 1024 need than n = 512 (2 * n**3), "
            "and so how many times longer at the same GFLOP/s?")


@register("01.3", notebook=_NB01, title="The largest matmul that fits in 1 GB", stars=2, points=2,
          kind=int, solution=9128,
          explanation="a, b and the result: 3 * 4 * n**2 bytes <= 10**9, so n = floor(sqrt(10**9 / 12)) = 9128.",
          wrong=[Wrong(15811, "three n x n tensors"), Wrong(11180, "the result"), Wrong(6454, "4 bytes"),
                 Wrong(9129, "does not fit"), Wrong(83333333, "n x n")])
def _(answer):
    def fits(n: int) -> bool:
        return 3 * 4 * n * n <= 10**9

    if fits(answer) and not fits(answer + 1):
        return None
    hints = {15811: "15811 fits one tensor: a matmul holds a, b and the result, three n x n tensors",
             11180: "11180 fits a and b, but the result needs memory too: three n x n tensors",
             6454: "6454 counts 8 bytes a number (float64): float32 takes 4 bytes",
             83333333: "83333333 is the number of float32 elements per tensor: n is the side of an n x n matrix, "
                       "the square root of that"}
    if answer in hints:
        return hints[answer]
    if not fits(answer):
        return f"n = {answer} does not fit: 3 tensors * 4 bytes * {answer}**2 = {12 * answer * answer:,} bytes"
    return f"n = {answer} fits, but so does n = {answer + 1}: find the largest n with 3 * 4 * n**2 <= 10**9"


def _nb01_gflops(times, n):
    """The solution of 01.4, as the notebook writes it."""
    return 2 * n**3 / statistics.median(times) / 1e9


#: 01.4's examples: (repeat times in seconds, n, GFLOP/s from the median); one slow repeat in each
_NB01_CASES = (([0.10, 0.12, 0.11, 0.50], 1000, 2 * 1000**3 / 0.115 / 1e9),
               ([0.004, 0.2, 0.005], 256, 2 * 256**3 / 0.005 / 1e9))


@register("01.4", notebook=_NB01, title="GFLOP/s from repeat times", stars=3, points=3,
          solution=_nb01_gflops,
          explanation="The median ignores the slow repeat; 2 * n**3 FLOP divided by the median time, then by 1e9.",
          wrong=[Wrong(lambda t, n: 2 * n**3 / (sum(t) / len(t)) / 1e9, "mean"),
                 Wrong(lambda t, n: 2 * n**3 / min(t) / 1e9, "fastest"),
                 Wrong(lambda t, n: n**3 / statistics.median(t) / 1e9, "two FLOP"),
                 Wrong(lambda t, n: 2 * n**3 / statistics.median(t), "1e9"),
                 Wrong(lambda t, n: statistics.median(t), "GFLOP/s"),
                 Wrong(lambda t, n: 2 * n**3 / sorted(t)[len(t) // 2] / 1e9, "two middle times"),
                 Wrong(_stub, "not done yet"), Wrong(17.4, "expected a function")])
def _(answer):
    if not callable(answer):
        return f"expected a function gflops(times, n), got {describe(answer)}"
    results = []
    for times, n, _expected in _NB01_CASES:
        result = answer(list(times), n)
        if result is None:
            raise NotDoneYet("gflops(...) still returns None: replace the `pass` with your code")
        try:
            results.append(float(result))
        except (TypeError, ValueError):
            return f"gflops(...) returned {describe(result)}: return a number, the GFLOP/s"
    (times, n, expected), first = _NB01_CASES[0], results[0]
    if _nb01_close(first, expected) and _nb01_close(results[1], _NB01_CASES[1][2]):
        return None
    flop = 2 * n**3
    hints = ((flop / (sum(times) / len(times)) / 1e9, "that is the rate from the mean time: the one slow repeat "
              "(0.50 s) pulls the mean up; use statistics.median"),
             (flop / min(times) / 1e9, "that is the rate of the fastest repeat: the lesson's timing keeps the median"),
             (flop / 2 / 0.115 / 1e9, "half the answer: an n x n matmul costs 2 * n**3 FLOP (two FLOP a "
              "multiply-add)"),
             (flop / 0.115, "1e9 times too large: GFLOP/s is FLOP per second divided by 1e9"),
             (0.115, "that is the median time in seconds: turn it into GFLOP/s with 2 * n**3 / seconds / 1e9"),
             (flop / 0.12 / 1e9, "with four repeats the median is the mean of the two middle times "
              "(statistics.median does it): sorted(times)[len(times) // 2] is the upper one"))
    for value, hint in hints:
        if _nb01_close(first, value):
            return f"gflops({list(times)}, {n}) gave {first:.4g}: {hint}"
    if _nb01_close(first, expected):
        return (f"right on the first example, but gflops({list(_NB01_CASES[1][0])}, {_NB01_CASES[1][1]}) gave "
                f"{results[1]:.4g}: did you hard-code the answer?")
    return (f"gflops({list(times)}, {n}) gave {first:.4g}, expected {expected:.4g}: the median of the times, then "
            "2 * n**3 / median / 1e9")


# --- 01_cpu_vs_gpu.ipynb: end


# --- 02_tensors_and_clamp.ipynb: begin
_NB02 = "02_tensors_and_clamp.ipynb"


def _nb02_floats(value: Any, size: int, what: str) -> list[float] | str:
    """The numbers of a list, tuple or 1-D tensor of ``size`` numbers, else a hint about ``what`` it should be."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or not hasattr(value, "__iter__"):
        return f"{what}: give a list of {size} numbers, got {describe(value)}"
    if len(value) != size:
        return f"{what}: give {size} numbers (one per element), got {len(value)}"
    try:
        return [float(v) for v in value]
    except (TypeError, ValueError):
        return f"{what}: give numbers, got {describe(value)}"


#: 02.1: the constructors, what each returns, and the hints for the typical wrong dtypes and shapes
_NB02_MADE = (
    ("torch.tensor([[1, 2, 3]])", "int64", (1, 3),
     {"int32": "torch.tensor of Python ints gives int64 (torch.long), not IntTensor's int32",
      "float32": "1, 2, 3 are Python ints, and torch.tensor keeps them integers"},
     {(3,): "the double brackets [[...]] make a matrix with one row: two dimensions"}),
    ("torch.IntTensor(2, 5)", "int32", (2, 5),
     {"int64": "IntTensor is the legacy int32 type, whatever its arguments",
      "float32": "IntTensor is the legacy int32 type, whatever its arguments"},
     {(2,): "integers without a list are sizes: IntTensor(2, 5) is uninitialised memory of 2 rows and 5 columns, "
            "not the data [2, 5]"}),
    ("torch.arange(0, 1, 0.25)", "float32", (4,),
     {"int64": "a float step gives floats: arange's dtype follows its arguments",
      "float64": "floats come out as PyTorch's default float type, not NumPy's float64"},
     {(5,): "arange stops before the end: 1 itself is not in it"}),
    ("torch.tensor(5)", "int64", (),
     {"int32": "torch.tensor of a Python int gives int64", "float32": "5 is a Python int: it stays an integer"},
     {(1,): "no brackets, one number: torch.tensor(5) is a 0-dimensional tensor (a scalar), shape ()"}),
)


def _nb02_made(k: int, dtype: str, shape: tuple):  # a 02.1 answer with item k changed
    import torch

    answer = [(getattr(torch, d), s) for _, d, s, _, _ in _NB02_MADE]
    answer[k] = (getattr(torch, dtype), shape)
    return answer


@register("02.1", notebook=_NB02, title="Predict dtype and shape", stars=2, points=2,
          solution=Lazy(lambda: _nb02_made(0, "int64", (1, 3))),
          explanation="Python ints give int64, IntTensor is always int32 and takes bare integers as sizes, a float "
                      "step gives float32, and one number without brackets is a 0-d tensor.",
          wrong=[Wrong(Lazy(lambda: _nb02_made(0, "int64", (3,))), "double brackets"),
                 Wrong(Lazy(lambda: _nb02_made(0, "int32", (1, 3))), "int64 (torch.long)"),
                 Wrong(Lazy(lambda: _nb02_made(1, "int32", (2,))), "are sizes"),
                 Wrong(Lazy(lambda: _nb02_made(1, "int64", (2, 5))), "legacy int32"),
                 Wrong(Lazy(lambda: _nb02_made(2, "float32", (5,))), "stops before the end"),
                 Wrong(Lazy(lambda: _nb02_made(2, "int64", (4,))), "float step"),
                 Wrong(Lazy(lambda: _nb02_made(3, "int64", (1,))), "0-dimensional"),
                 Wrong(Lazy(lambda: _nb02_made(0, "int64", (1, 3))[:3]), "four pairs"),
                 Wrong([("int64", (1, 3))] * 4, "not the string")])
def _(answer):
    import torch

    if not isinstance(answer, (list, tuple)) or len(answer) != 4:
        return f"give a list of four pairs (dtype, shape), one per constructor; got {describe(answer)}"
    for k, (item, (made, dtype, shape, dtype_hints, shape_hints)) in enumerate(zip(answer, _NB02_MADE, strict=True)):
        where = f"item {k + 1}, {made}"
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            return f"{where}: give a pair (dtype, shape), got {describe(item)}"
        given_dtype, given_shape = item
        if isinstance(given_dtype, str):
            return f"{where}: give the dtype as a torch dtype (torch.float32 style), not the string {given_dtype!r}"
        if not isinstance(given_dtype, torch.dtype):
            return f"{where}: give a torch dtype (torch.float32 style), got {describe(given_dtype)}"
        if not isinstance(given_shape, (tuple, list)) or not all(
                isinstance(n, int) and not isinstance(n, bool) for n in given_shape):
            return f"{where}: give the shape as a tuple of ints ((3,) for 3 elements), got {describe(given_shape)}"
        name = str(given_dtype).removeprefix("torch.")
        if name != dtype:
            return f"{where}: not {name}: " + dtype_hints.get(name, "reread section 2's table and its defaults")
        if tuple(given_shape) != shape:
            return f"{where}: not shape {tuple(given_shape)}: " + shape_hints.get(
                tuple(given_shape), "count the dimensions (brackets) and the elements in each")
    return None


_NB02_X = "[-2.0, -0.5, 0.0, 0.5, 2.0]"
_NB02_CLAMPED = (("clamp(x, -1, 1)", [-1.0, -0.5, 0.0, 0.5, 1.0],
                  {(-1.0, -1.0, 0.0, 1.0, 1.0): "values between the bounds stay as they are: only the ones below -1 "
                                                "or above 1 move"}),
                 ("clamp(x, min=0)", [0.0, 0.0, 0.0, 0.5, 2.0],
                  {(-2.0, -0.5, 0.0, 0.0, 0.0): "min=0 is a lower bound: the values below 0 come up to 0, the others "
                                                "stay"}),
                 ("clamp(x, max=0.5)", [-2.0, -0.5, 0.0, 0.5, 0.5],
                  {(0.5, 0.5, 0.5, 0.5, 2.0): "max=0.5 is an upper bound: the values above it come down to it, the "
                                              "others stay"}))


@register("02.2", notebook=_NB02, title="Predict, then run: clamp", stars=1, points=1,
          kind=(list, tuple), solution=[c for _, c, _ in _NB02_CLAMPED],
          explanation="A lower bound raises what is below it, an upper bound lowers what is above it, and what lies "
                      "between the bounds is unchanged.",
          wrong=[Wrong([[-1.0, -1.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.5, 2.0], [-2.0, -0.5, 0.0, 0.5, 0.5]],
                       "between the bounds"),
                 Wrong([[-1.0, -0.5, 0.0, 0.5, 1.0], [-2.0, -0.5, 0.0, 0.0, 0.0], [-2.0, -0.5, 0.0, 0.5, 0.5]],
                       "lower bound"),
                 Wrong([[-1.0, -0.5, 0.0, 0.5, 1.0], [0.0, 0.0, 0.0, 0.5, 2.0], [0.5, 0.5, 0.5, 0.5, 2.0]],
                       "upper bound"),
                 Wrong([[-1.0, -0.5, 0.0, 0.5, 1.0]], "three results")])
def _(answer):
    if len(answer) != 3:
        return f"give three results, one per clamp call; got {len(answer)}"
    for given, (call, expected, hints) in zip(answer, _NB02_CLAMPED, strict=True):
        values = _nb02_floats(given, 5, call)
        if isinstance(values, str):
            return values
        if values != expected:
            return f"{call} is not {values}: " + hints.get(
                tuple(values), f"go through x = {_NB02_X} element by element")
    return None


_NB02_SHARES = {"a": "torch.from_numpy(arr) shares the array's memory (section 3: it saw arr[0] = 100)",
                "c": "t.numpy() shares the tensor's memory (section 3: t.add_(1) showed in it)"}
_NB02_COPIES = {"b": "torch.tensor(arr) always copies",
                "d": "from_numpy shares, but .float() turns the float64 tensor into a new float32 tensor, with its "
                     "own memory: a copy"}


@register("02.3", notebook=_NB02, title="Which conversions share memory?", stars=2, points=2,
          kind=(str, set, frozenset, list, tuple), solution={"a", "c"},
          explanation="from_numpy and .numpy() share memory; torch.tensor copies, and so does a change of dtype.",
          wrong=[Wrong({"a"}, "t.numpy() shares"), Wrong({"c"}, "from_numpy(arr) shares"),
                 Wrong({"a", "c", "d"}, "a copy"), Wrong("abc", "always copies"), Wrong({"a", "e"}, "not one of")])
def _(answer):
    items = list(answer.replace(",", " ").split()) if isinstance(answer, str) else list(answer)
    if isinstance(answer, str) and len(items) == 1:
        items = list(items[0])  # "ac"
    letters = set()
    for item in items:
        if not isinstance(item, str) or len(item.strip()) != 1 or item.strip().lower() not in "abcd":
            return f"{describe(item)} is not one of the letters a to d"
        letters.add(item.strip().lower())
    for letter, hint in _NB02_SHARES.items():
        if letter not in letters:
            return hint
    for letter, hint in _NB02_COPIES.items():
        if letter in letters:
            return hint
    return None


@register("02.4", notebook=_NB02, title="clamp or clamp_?", stars=2, points=2,
          kind=(list, tuple), solution=[[0.0, 0.5, 2.0], [0.0, 0.5, 1.0], True],
          explanation="clamp made y from the original x; clamp_ then overwrote x and returned x itself.",
          wrong=[Wrong([[-1.0, 0.5, 3.0], [0.0, 0.5, 1.0], False], "in place"),
                 Wrong([[0.0, 0.5, 1.0], [0.0, 0.5, 1.0], True], "left x alone"),
                 Wrong([[0.0, 0.5, 2.0], [0.0, 0.5, 2.0], True], "new tensor"),
                 Wrong([[0.0, 0.5, 2.0], [0.0, 0.5, 1.0], False], "z is x"),
                 Wrong([[0.0, 0.5, 2.0], [0.0, 0.5, 1.0], "True"], "True or False")])
def _(answer):
    if len(answer) != 3:
        return f"give three things: x's values, y's values, and whether z is x; got {len(answer)}"
    x_after, y_after, same = answer
    x_values = _nb02_floats(x_after, 3, "x")
    if isinstance(x_values, str):
        return x_values
    y_values = _nb02_floats(y_after, 3, "y")
    if isinstance(y_values, str):
        return y_values
    if x_values != [0.0, 0.5, 2.0]:
        if x_values == [-1.0, 0.5, 3.0]:
            return "x has changed: clamp_ (with the underscore) works in place, it overwrote x"
        if x_values == [0.0, 0.5, 1.0]:
            return "x is not clamped to 1: clamp (no underscore) made y and left x alone; then clamp_(0, 2) changed x"
        return f"x is not {x_values}: clamp_(0, 2) overwrote x with its values clamped to [0, 2]"
    if y_values != [0.0, 0.5, 1.0]:
        if y_values == [0.0, 0.5, 2.0]:
            return ("y is a new tensor, made by clamp before clamp_ ran: changing x afterwards does not touch it, "
                    "so it keeps the bounds [0, 1]")
        return f"y is not {y_values}: y = x.clamp(0, 1) was computed from the original x"
    if not isinstance(same, bool):
        return f"give True or False for `z is x`, got {describe(same)}"
    if not same:
        return "clamp_ returns the very tensor it changed, not a new one: z is x"
    return None
# --- 02_tensors_and_clamp.ipynb: end


# --- 03_manual_autograd.ipynb: begin
_NB03 = "03_manual_autograd.ipynb"


@register("03.1", notebook=_NB03, title="Predict, then run: the shape of w1.grad", stars=1, points=1,
          kind=(tuple, list), solution=(1000, 100),
          explanation="One gradient entry per weight: w1.grad has w1's shape, input_data x hidden_layer.",
          wrong=[Wrong((100, 1000), "transposed"), Wrong((100, 100), "hidden activations"),
                 Wrong((100, 10), "y_pred"), Wrong((), "one entry per weight"), Wrong([1000, "100"], "ints")])
def _(answer):
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in answer):
        return f"give the shape as a tuple of ints, got {describe(answer)}"
    shape = tuple(answer)
    hints = {(100, 1000): "(100, 1000) is w1 transposed: a gradient has exactly the shape of its weight",
             (100, 100): "(100, 100) is the shape of the hidden activations x.mm(w1) (batch x hidden): a gradient "
                         "has the shape of the weight, not of an activation",
             (100, 10): "(100, 10) is the shape of y_pred and y; w1.grad belongs to w1",
             (10, 100): "that is w2 transposed; w1.grad belongs to w1",
             (100, 1000, 100): "one gradient per weight, not one per sample and weight: backward sums over the batch"}
    if shape == (1000, 100):
        return None
    if len(shape) < 2:
        return (f"{shape} is too small: the loss is one number, but its gradient has one entry per weight of w1, "
                "in w1's shape")
    return hints.get(shape, f"{shape} is not it: what shape does w1 itself have?")


@register("03.2", notebook=_NB03, title="The forgotten zero_(), by hand", stars=2, points=2,
          kind=(int, float), solution=10.8,
          explanation="6 from the first backward, then w = 3 - 0.1 x 6 = 2.4 and the second backward adds "
                      "2 x 2.4 = 4.8: 6 + 4.8 = 10.8.",
          wrong=[Wrong(4.8, "backward() adds"), Wrong(12.0, "the update changed"), Wrong(6.0, "adds its own"),
                 Wrong(1.32, "w itself")])
def _(answer):
    import math

    if not math.isfinite(answer):
        return f"{answer} is not a gradient: work it out step by step"
    for value, hint in ((10.8, None),
                        (4.8, "4.8 is the second gradient alone, what w.grad would hold with zero_(): backward() "
                              "adds to .grad"),
                        (12.0, "12 = 6 + 6 takes w = 3 twice, but the update changed w to 2.4 before the second "
                               "backward()"),
                        (6.0, "6 is the first gradient; the second backward() adds its own to it"),
                        (1.32, "1.32 is w itself after the two updates: the question asks for w.grad")):
        if abs(answer - value) < 1e-4:
            return hint
    return f"{answer} is not it: write down w and w.grad after each of the two steps"


#: 03.3: the hand-worked gradient, and the typical slips
_NB03_GRAD = [2.0, 0.0, 12.0]
_NB03_SLIPS = (([2.0, 4.0, 12.0], "the clamp's gradient is 0 where inputs * w was negative (the middle "
                                  "element): nothing flows back through it"),
               ([2.0, 0.0, 4.0], "you stopped at the product: d(inputs * w)/dw = inputs, so multiply by inputs"),
               ([1.0, 0.0, 6.0], "the derivative of (h - 1)^2 is 2 (h - 1): you lost the 2"),
               ([2.0, -2.0, 4.0], "that is the gradient with respect to h, 2 (h - 1): continue through the clamp "
                                  "and the product"))


@register("03.3", notebook=_NB03, title="A gradient by hand, then by autograd", stars=2, points=2,
          kind=(list, tuple), solution=_NB03_GRAD,
          explanation="h = [2, 0, 3]; 2 (h - 1) = [2, -2, 4]; the clamp stops the middle one; times inputs "
                      "= [1, -2, 3] gives [2, 0, 12].",
          wrong=[Wrong([2.0, 4.0, 12.0], "clamp's gradient is 0"), Wrong([2.0, 0.0, 4.0], "multiply by inputs"),
                 Wrong([1, 0, 6], "lost the 2"), Wrong([2.0, -2.0, 4.0], "with respect to h"),
                 Wrong([2.0, 0.0], "three numbers")])
def _(answer):
    if len(answer) != 3:
        return f"give three numbers, one per element of w; got {len(answer)}"
    try:
        values = [float(v) for v in answer]
    except (TypeError, ValueError):
        return f"give three numbers, got {describe(answer)}"
    if all(abs(v - e) < 1e-6 for v, e in zip(values, _NB03_GRAD, strict=True)):
        return None
    for slip, hint in _NB03_SLIPS:
        if all(abs(v - e) < 1e-6 for v, e in zip(values, slip, strict=True)):
            return hint
    return f"{values} is not it: go backwards one operation at a time, sum, pow, the clamp, then the product"


def _nb03_data(seed: int = 0):
    """03.4's test batch: x (12, 5), y (12, 3), and the starting w1 (5, 4) and w2 (4, 3), in float64."""
    import torch

    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*size, generator=g, dtype=torch.float64) for size in ((12, 5), (12, 3), (5, 4), (4, 3))]


def _nb03_loss(x, y, w1, w2):
    return (x.mm(w1).clamp(min=0).mm(w2) - y).pow(2).sum()


def _nb03_accumulate(x, y, w1, w2, chunks):
    """The solution of 03.4."""
    for x_part, y_part in zip(x.chunk(chunks), y.chunk(chunks), strict=True):
        _nb03_loss(x_part, y_part, w1, w2).backward()
    return w1.grad


def _nb03_whole_batch(x, y, w1, w2, chunks):  # 03.4 wrong: one backward() over the whole batch
    _nb03_loss(x, y, w1, w2).backward()
    return w1.grad


def _nb03_zeroing(x, y, w1, w2, chunks):  # 03.4 wrong: zeroed between the chunks
    for x_part, y_part in zip(x.chunk(chunks), y.chunk(chunks), strict=True):
        if w1.grad is not None:
            w1.grad.zero_()
        _nb03_loss(x_part, y_part, w1, w2).backward()
    return w1.grad


def _nb03_mean_loss(x, y, w1, w2, chunks):  # 03.4 wrong: a mean loss per chunk
    for x_part, y_part in zip(x.chunk(chunks), y.chunk(chunks), strict=True):
        (x_part.mm(w1).clamp(min=0).mm(w2) - y_part).pow(2).mean().backward()
    return w1.grad


def _nb03_averaged(x, y, w1, w2, chunks):  # 03.4 wrong: each chunk's loss divided by the number of chunks
    for x_part, y_part in zip(x.chunk(chunks), y.chunk(chunks), strict=True):
        (_nb03_loss(x_part, y_part, w1, w2) / chunks).backward()
    return w1.grad


def _nb03_w2_grad(x, y, w1, w2, chunks):  # 03.4 wrong: the other weight's gradient
    _nb03_accumulate(x, y, w1, w2, chunks)
    return w2.grad


@register("03.4", notebook=_NB03, title="Accumulate gradients on purpose", stars=3, points=3,
          solution=_nb03_accumulate,
          explanation="The sum of the chunks' summed losses is the whole batch's loss, so the gradients that "
                      "backward() adds up are the whole batch's gradient.",
          wrong=[Wrong(_nb03_whole_batch, "one backward()"), Wrong(_nb03_zeroing, "last chunk"),
                 Wrong(_nb03_mean_loss, "12x too small"), Wrong(_nb03_averaged, "3x too small"),
                 Wrong(_nb03_w2_grad, "shape"),
                 Wrong(_stub, "not done yet"), Wrong(3, "expected a function")])
def _(answer):
    import torch

    if not callable(answer):
        return f"expected a function accumulated_grad(x, y, w1, w2, chunks), got {describe(answer)}"
    x, y, w1_start, w2_start = _nb03_data()
    w1, w2 = w1_start.clone().requires_grad_(True), w2_start.clone().requires_grad_(True)
    _nb03_loss(x, y, w1, w2).backward()
    whole = w1.grad
    w1, w2 = w1_start.clone().requires_grad_(True), w2_start.clone().requires_grad_(True)
    _nb03_loss(x[8:], y[8:], w1, w2).backward()
    last = w1.grad
    w1, w2 = w1_start.clone().requires_grad_(True), w2_start.clone().requires_grad_(True)
    backward_calls = []
    w1.register_hook(lambda grad: backward_calls.append(1))
    result = answer(x.clone(), y.clone(), w1, w2, 3)
    if result is None:
        raise NotDoneYet("accumulated_grad(...) still returns None: replace the `pass` with your code")
    if not isinstance(result, torch.Tensor):
        return f"accumulated_grad(...) returned {describe(result)}: return w1.grad, a tensor"
    if tuple(result.shape) != tuple(w1.shape):
        return (f"accumulated_grad(...) returned a tensor of shape {tuple(result.shape)}: return w1.grad, which has "
                f"w1's shape ({', '.join(map(str, w1.shape))} in this test)")
    result = result.detach().to(torch.float64)
    if torch.allclose(result, whole):
        if len(backward_calls) < 2:
            return ("right values, but from one backward() over the whole batch: call backward() once per chunk and "
                    "let .grad add up")
        return None
    if torch.allclose(result, last):
        return ("that is the last chunk's gradient alone: did you zero w1.grad between the chunks? Here backward() "
                "should add up")
    if not result.any():
        return "all zeros: did you zero w1.grad after the last backward()?"
    for factor, hint in ((12, "your gradient is 12x too small: the loss here is the sum of squared errors, as in the "
                              "lesson, not .mean()"),
                         (3, "your gradient is 3x too small: did you divide by the number of chunks? Sums over "
                             "the chunks add up to the whole batch's sum")):
        if torch.allclose(result * factor, whole):
            return hint
    return "that is not the whole batch's gradient: split x and y the same way, and let .grad add up over the chunks"
# --- 03_manual_autograd.ipynb: end


# --- 04_sequential_and_ordereddict.ipynb: begin
_NB04 = "04_sequential_and_ordereddict.ipynb"


def _body_is_stub(function: Any) -> bool:
    """True for a function whose body is still the stub (a docstring and ``pass``): it only returns None."""
    import dis

    code = getattr(function, "__code__", None)
    if code is None:
        return False
    for instruction in dis.get_instructions(code):
        if instruction.opname in ("RESUME", "NOP", "RETURN_VALUE"):
            continue
        if instruction.opname in ("LOAD_CONST", "RETURN_CONST") and instruction.argval is None:
            continue
        return False
    return True


@register("04.1", notebook=_NB04, title="The index of a named layer", stars=1, points=1, kind=int, solution=3,
          explanation="Sequential numbers every layer from 0, named or not, with parameters or not: flatten 0, "
                      "hidden 1, act 2, out 3.",
          wrong=[Wrong(4, "counts from 1"), Wrong(2, "without parameters"), Wrong(1, "without parameters"),
                 Wrong(7, "from 0")])
def _(answer):
    if answer == 3:
        return None
    if answer == 4:
        return "4 counts from 1: Sequential numbers its layers from 0, as a list does"
    if answer in (1, 2):
        return (f"{answer} skips a layer without parameters: Flatten and ReLU have no weights, but each is a layer "
                "of the Sequential and takes an index")
    return f"{answer} is not it: number the four layers from 0, in the order the OrderedDict lists them"


def _mlp_count(bias_per: str) -> int:
    sizes = [(784, 128), (128, 64), (64, 10)]
    biases = {"out": sum(o for _, o in sizes), "in": sum(i for i, _ in sizes), "layer": len(sizes), "none": 0}
    return sum(i * o for i, o in sizes) + biases[bias_per]


@register("04.2", notebook=_NB04, title="Parameters of a three-layer network", stars=2, points=2, kind=int,
          solution=109_386,
          explanation="(784 x 128 + 128) + (128 x 64 + 64) + (64 x 10 + 10): each Linear(in, out) holds out x in "
                      "weights and out biases; ReLU holds none.",
          wrong=[Wrong(_mlp_count("none"), "forgot the biases"), Wrong(_mlp_count("in"), "per output unit"),
                 Wrong(_mlp_count("layer"), "one bias per output unit"), Wrong(100_480, "first layer alone"),
                 Wrong(101_110, "notebook's own network")])
def _(answer):
    if answer == 109_386:
        return None
    if answer == _mlp_count("none"):
        return f"{answer:,} counts the weights only: you forgot the biases (one per output unit of each Linear)"
    if answer == _mlp_count("in"):
        return (f"{answer:,} gives each Linear in_features biases: a Linear(in, out) has one bias per output unit, "
                "out of them")
    if answer == _mlp_count("layer"):
        return f"{answer:,} gives each Linear a single bias: it has one bias per output unit (128, 64 and 10)"
    if answer == 100_480:
        return f"{answer:,} is the first layer alone: add Linear(128, 64) and Linear(64, 10)"
    if answer == 101_110:
        return f"{answer:,} is the notebook's own network (1000-100-10): count the one in this exercise, 784-128-64-10"
    return f"{answer:,} is not it: add out x in + out for each of the three Linear layers (ReLU has no parameters)"


def _sgd_step_model():
    """A tiny model with gradients, built without touching the notebook's random state."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
        x = torch.randn(5, 3)
    model(x).pow(2).mean().backward()
    return model


def _sgd_step_solution(model, lr):
    import torch

    with torch.no_grad():
        for param in model.parameters():
            param -= lr * param.grad


def _sgd_step_rebinds(model, lr):
    import torch

    with torch.no_grad():
        for param in model.parameters():
            param = param - lr * param.grad  # the mistake: rebinds the name only


def _sgd_step_without_no_grad(model, lr):
    for param in model.parameters():
        param -= lr * param.grad


def _sgd_step_through_data(model, lr):
    for param in model.parameters():
        param.data -= lr * param.grad.data


def _sgd_step_uphill(model, lr):
    import torch

    with torch.no_grad():
        for param in model.parameters():
            param += lr * param.grad


def _sgd_step_first_layer(model, lr):
    import torch

    with torch.no_grad():
        for param in model[0].parameters():
            param -= lr * param.grad


@register("04.3", notebook=_NB04, title="A gradient-descent step without .data", stars=2, points=2,
          solution=_sgd_step_solution,
          explanation="Inside torch.no_grad() the in-place update is allowed and not recorded, and autograd still "
                      "sees the change (unlike .data).",
          wrong=[Wrong(_sgd_step_rebinds, "rebinds the name"), Wrong(_sgd_step_without_no_grad, "torch.no_grad()"),
                 Wrong(_sgd_step_through_data, "`.data`"), Wrong(_sgd_step_uphill, "uphill"),
                 Wrong(_sgd_step_first_layer, "only some"), Wrong(_stub, "not done yet"),
                 Wrong(0.1, "expected a function")])
def _(answer):
    if not callable(answer):
        return f"expected a function sgd_step(model, lr), got {describe(answer)}"
    if _body_is_stub(answer):
        raise NotDoneYet("sgd_step(...) does nothing yet: replace the `pass` with your update")
    import torch

    model, lr = _sgd_step_model(), 0.1
    before = [p.detach().clone() for p in model.parameters()]
    grads = [p.grad.clone() for p in model.parameters()]
    try:
        answer(model, lr)
    except RuntimeError as exc:
        if "in-place operation" in str(exc):
            return ("PyTorch refused to change a parameter in place while recording the graph (a leaf that requires "
                    "grad): put the update loop inside `with torch.no_grad():`")
        raise
    after = [p.detach() for p in model.parameters()]
    moved = [not torch.equal(a, b) for a, b in zip(after, before, strict=True)]
    if not any(moved):
        return ("no parameter changed: `param = param - lr * param.grad` makes a new tensor and rebinds the name "
                "`param`; update the parameter in place with `param -= lr * param.grad`")
    if all(torch.allclose(a, b + lr * g) for a, b, g in zip(after, before, grads, strict=True)):
        return "every parameter went uphill: gradient descent subtracts lr x gradient (`param -= ...`)"
    if not all(moved):
        return (f"only some parameters moved ({sum(moved)} of {len(moved)} tensors): loop over every one of "
                "model.parameters()")
    if not all(torch.allclose(a, b - lr * g) for a, b, g in zip(after, before, grads, strict=True)):
        return "the parameters moved, but not by -lr x gradient: each one should become param - lr * param.grad"
    if "data" in getattr(getattr(answer, "__code__", None), "co_names", ()):
        return ("right numbers, but through `.data`, which hides the change from autograd (section 6): write "
                "`param -= lr * param.grad` inside `with torch.no_grad():` instead")
    return None
# --- 04_sequential_and_ordereddict.ipynb: end


# --- 05_optim_adam.ipynb: begin
_NB05 = "05_optim_adam.ipynb"


def _close(answer: Any, target: float, tolerance: float) -> bool:
    return abs(answer - target) <= tolerance  # False for nan


@register("05.1", notebook=_NB05, title="Adam's first step for a large gradient", stars=1, points=1,
          kind=(int, float), solution=-0.1,
          explanation="Adam's first step is lr x g / (|g| + eps): 0.1 x 1000 / 1000 = 0.1, against the gradient's "
                      "sign, whatever the gradient's size.",
          wrong=[Wrong(-100.0, "plain gradient descent"), Wrong(0.1, "against the gradient"),
                 Wrong(-0.001, "default"), Wrong(100, "plain gradient descent")])
def _(answer):
    if _close(answer, -0.1, 1e-6):
        return None
    if _close(abs(answer), 100, 1e-3):
        return (f"{answer:g} is lr x gradient, the step of plain gradient descent (SGD): Adam divides by "
                "sqrt(v) = |g|, so the gradient's size cancels")
    if _close(answer, 0.1, 1e-6):
        return ("the right size, the wrong way: every optimizer moves against the gradient, and this gradient is "
                "positive")
    if _close(abs(answer), 0.001, 1e-6):
        return "0.001 is Adam's default lr, but this optimizer was given lr=0.1"
    return f"{answer:g} is not it: Adam's first step moves w by lr x g / (|g| + eps), from 0"


def _sgd_without_zero_grad(steps: int, zero_grad: bool) -> float:
    w, grad = 2.0, 0.0
    for _ in range(steps):
        grad = 2 * w + (0.0 if zero_grad else grad)  # d(w*w)/dw, added to the old .grad unless cleared
        w -= 0.1 * grad
    return w


@register("05.2", notebook=_NB05, title="Forgetting zero_grad()", stars=2, points=2, kind=(int, float),
          solution=-0.016,
          explanation="The gradients pile up in .grad: the steps use 4, then 4 + 3.2 = 7.2, then 7.2 + 1.76 = "
                      "8.96, and w overshoots 0 (with zero_grad() it would be 1.024).",
          wrong=[Wrong(1.024, "with zero_grad()"), Wrong(0.8, "changes as w moves"), Wrong(8.96, "w.grad"),
                 Wrong(-0.4, "2w, recomputed")])
def _(answer):
    if _close(answer, _sgd_without_zero_grad(3, zero_grad=False), 1e-4):
        return None
    if _close(answer, _sgd_without_zero_grad(3, zero_grad=True), 1e-4):
        return ("1.024 is what the loop gives with zero_grad(): without it, backward() adds each new gradient to "
                "the old .grad, so the steps grow")
    if _close(answer, 0.8, 1e-4):
        return ("0.8 = 2 - 3 x 0.4 keeps the first gradient for every step: the gradient 2w changes as w moves, and "
                "without zero_grad() each new one is added to .grad")
    if _close(answer, 8.96, 1e-4):
        return "8.96 is w.grad after the third backward(): the question asks for w"
    if _close(answer, -0.4, 1e-4):
        return ("-0.4 piles up 4, 8 and 12: right idea, but each backward() adds 2w, recomputed at the new w "
                "(4, then 3.2, then 1.76)")
    return (f"{answer:g} is not it: follow w and w.grad through the three steps; backward() adds 2w to .grad, "
            "step() subtracts 0.1 x .grad from w")


def _order_setup():
    """A tiny regression problem and its model, built without touching the notebook's random state."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = torch.nn.Linear(3, 2)
        x, y = torch.randn(8, 3), torch.randn(8, 2)
    return model, x, y


def _train_steps(step, steps: int):
    """The model's parameters after ``steps`` calls of ``step(model, optimizer, loss_fn, x, y)`` with SGD(lr=0.1)."""
    import torch

    model, x, y = _order_setup()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(steps):
        step(model, optimizer, torch.nn.MSELoss(), x, y)
    return [p.detach().clone() for p in model.parameters()]


def _step_solution(model, optimizer, loss_fn, x, y):
    loss = loss_fn(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def _step_no_zero_grad(model, optimizer, loss_fn, x, y):
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()


def _step_zero_grad_before_step(model, optimizer, loss_fn, x, y):
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.zero_grad()
    optimizer.step()


def _step_step_first(model, optimizer, loss_fn, x, y):
    optimizer.step()
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()


def _step_no_step(model, optimizer, loss_fn, x, y):
    optimizer.zero_grad()
    loss_fn(model(x), y).backward()


@register("05.3", notebook=_NB05, title="zero_grad, backward, step: in order", stars=2, points=2,
          solution=_step_solution,
          explanation="zero_grad() clears the old gradients, backward() computes this batch's, step() uses them.",
          wrong=[Wrong(_step_no_zero_grad, "pile up"), Wrong(_step_zero_grad_before_step, "no parameter moved"),
                 Wrong(_step_step_first, "previous call"), Wrong(_step_no_step, "no parameter moved"),
                 Wrong(_stub, "not done yet"), Wrong("zero_grad, backward, step", "expected a function")])
def _(answer):
    if not callable(answer):
        return f"expected a function train_step(model, optimizer, loss_fn, x, y), got {describe(answer)}"
    if _body_is_stub(answer):
        raise NotDoneYet("train_step(...) does nothing yet: replace the `pass` with your code")
    import torch

    def same(a, b):
        return all(torch.allclose(p, q, atol=1e-6) for p, q in zip(a, b, strict=True))

    theirs = _train_steps(answer, 3)
    if same(theirs, _train_steps(_step_solution, 3)):
        return None
    if same(theirs, _train_steps(_step_solution, 0)):
        return ("no parameter moved in 3 calls: step() needs the gradients that backward() just computed, so call "
                "zero_grad() before backward(), not between backward() and step(); and use the model and optimizer "
                "passed as arguments")
    if same(theirs, _train_steps(_step_solution, 2)):
        return ("one step behind: step() came before backward(), so each call moves the parameters with the "
                "gradient of the previous call")
    if same(theirs, _train_steps(_step_no_zero_grad, 3)):
        return ("without zero_grad() the gradients pile up: each backward() adds to .grad, and step() uses the sum "
                "of every call so far")
    return "the parameters after 3 calls are not those of zero_grad(), backward(), step(): check the order"


@register("05.4", notebook=_NB05, title="Adam's first step for a gradient as small as eps", stars=2, points=2,
          kind=(int, float), solution=-0.05,
          explanation="lr x g / (|g| + eps) = 0.1 x 1e-8 / (2e-8): half of lr, since eps doubles the denominator.",
          wrong=[Wrong(-0.1, "eps"), Wrong(-1e-9, "plain gradient descent"), Wrong(0.0, "exactly 0"),
                 Wrong(0.05, "against the gradient")])
def _(answer):
    if _close(answer, -0.05, 1e-5):
        return None
    if _close(answer, -0.1, 1e-5):
        return ("-0.1 leaves out eps: at g = eps = 1e-8 the denominator |g| + eps is twice |g|, so the step is half "
                "of lr")
    if _close(abs(answer), 1e-9, 1e-12):
        return "1e-9 is lr x g, the step of plain gradient descent: Adam divides by |g| + eps"
    if answer == 0:
        return "only a gradient of exactly 0 leaves w where it is: 1e-8 is tiny, but Adam divides by |g| + eps"
    if _close(answer, 0.05, 1e-5):
        return "the right size, the wrong way: the step goes against the gradient, and this gradient is positive"
    return f"{answer:g} is not it: Adam's first step is lr x g / (|g| + eps), with lr = 0.1, g = 1e-8, eps = 1e-8"
# --- 05_optim_adam.ipynb: end


# --- 06_mnist_data.ipynb: begin
_NB06 = "06_mnist_data.ipynb"


def _whole_numbers(answer: Any, count: int) -> tuple[int, ...] | str:
    """The answer as a tuple of ``count`` ints, or a hint saying why it is not one."""
    if len(answer) != count:
        return f"give {count} numbers, got {len(answer)}"
    import math
    from numbers import Real

    whole = []
    for value in answer:
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
            return f"give {count} numbers, got {describe(value)} among them"
        if value != int(value):
            return f"{value:g} is not a whole number: images and batches come whole"
        whole.append(int(value))
    return tuple(whole)


@register("06.1", notebook=_NB06, title="The make_grid shape for nrow=10", stars=1, points=1, kind=(tuple, list),
          solution=(3, 212, 302),
          explanation="10 digits per row: 2 + 10 x (28 + 2) = 302 wide; 64 digits fill 7 rows: 2 + 7 x 30 = 212 high; "
                      "1 channel repeated as 3.",
          wrong=[Wrong((3, 242, 242), "nrow=8"), Wrong((3, 302, 302), "7 rows"), Wrong((3, 182, 302), "7th row"),
                 Wrong((3, 210, 300), "far edge"), Wrong((3, 196, 280), "forgot the padding"),
                 Wrong((1, 212, 302), "3 channels"), Wrong((212, 302, 3), "permute"),
                 Wrong((3, 302, 212), "swapped"), Wrong([3, 212], "give 3 numbers")])
def _(answer):
    shape = _whole_numbers(answer, 3)
    if isinstance(shape, str):
        return f"{shape}: make_grid returns (channels, height, width)"
    hints = {
        (3, 242, 242): "(3, 242, 242) is the default nrow=8 of the lesson: with nrow=10 a row holds 10 digits",
        (3, 302, 302): "64 digits at 10 per row fill 7 rows, not 10: the height is 2 + 7 x (28 + 2)",
        (3, 182, 302): "6 rows hold only 60 digits: the last 4 need a 7th row (rows = ceil(64 / 10))",
        (3, 210, 300): "you forgot the padding at the far edge: one more 2-pixel strip after the last row and column",
        (3, 196, 280): "you forgot the padding: 2 pixels before each digit, and 2 more at the far edge",
        (1, 212, 302): "make_grid repeats a 1-channel batch into 3 channels (RGB), so grey and colour grids look alike",
        (212, 302, 3): "(212, 302, 3) is the shape after permute(1, 2, 0), for plt.imshow: make_grid itself returns "
                       "(channels, height, width)",
        (3, 302, 212): "height and width swapped: nrow is the number of digits per row, so it sets the width",
    }
    if shape == (3, 212, 302):
        return None
    return hints.get(shape, f"{shape} is not it: width 2 + nrow x (28 + 2), height 2 + rows x (28 + 2), "
                            "with rows = ceil(64 / nrow)")


def _two_pixel_image():
    """A 28 x 28 MNIST-like PIL image: black on the left half (0), white on the right half (255)."""
    import numpy as np
    from PIL import Image

    pixels = np.zeros((28, 28), dtype=np.uint8)
    pixels[:, 14:] = 255
    return Image.fromarray(pixels)


def _normalize(mean, std, to_tensor: bool = True):
    from torchvision import transforms

    normalize = transforms.Normalize(mean, std)
    return transforms.Compose([transforms.ToTensor(), normalize]) if to_tensor else normalize


@register("06.2", notebook=_NB06, title="Fix the seed's Normalize for MNIST", stars=2, points=2,
          solution=Lazy(lambda: _normalize((0.1307,), (0.3081,))),
          explanation="ToTensor() first (PIL image to a (1, 28, 28) tensor in [0, 1]), then one mean and one std for "
                      "MNIST's one channel: its own, so the pixels come out with mean 0 and std 1.",
          wrong=[Wrong(Lazy(lambda: _normalize([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])), "one-channel image"),
                 Wrong(Lazy(lambda: _normalize((0.1307,), (0.3081,), to_tensor=False)), "ToTensor() first"),
                 Wrong(Lazy(lambda: _normalize((0.5,), (0.5,))), "[-1, 1]"),
                 Wrong(Lazy(lambda: _normalize((0.3081,), (0.1307,))), "swapped"),
                 Wrong(Lazy(lambda: _normalize((0.1307 * 255,), (0.3081 * 255,))), "255"),
                 Wrong(Lazy(lambda: _normalize((0.0,), (1.0,))), "no Normalize"),
                 Wrong("Normalize((0.1307,), (0.3081,))", "expected a transform")])
def _(answer):
    if not callable(answer):
        return f"expected a transform (for example transforms.Compose([...])), got {describe(answer)}"
    import math

    import torch

    from .data import MNIST_MEAN, MNIST_STD

    try:
        out = answer(_two_pixel_image())
    except TypeError as exc:
        if "Tensor" in str(exc):
            return "Normalize needs a tensor, not a PIL image: put transforms.ToTensor() first, then Normalize"
        raise
    except RuntimeError as exc:
        if "shape" in str(exc):
            return ("three means and stds for a one-channel image: MNIST has 1 channel, so give one value each, "
                    "Normalize((MNIST_MEAN,), (MNIST_STD,))")
        raise
    if not isinstance(out, torch.Tensor):
        return f"the transform returned {describe(out)}, not a tensor: start with transforms.ToTensor()"
    if tuple(out.shape) != (1, 28, 28):
        return f"the transform returned shape {tuple(out.shape)}, expected (1, 28, 28): one channel, 28 x 28"
    black, white = float(out[0, 0, 0]), float(out[0, 0, 27])
    if not (math.isfinite(black) and math.isfinite(white)) or white <= black:
        return "a white pixel should come out larger than a black one: normalise with a positive std"
    std = 1 / (white - black)  # out = (x - mean) / std, with x = 0 for black and 1 for white
    mean = -black * std
    if abs(mean - MNIST_MEAN) < 2e-3 and abs(std - MNIST_STD) < 2e-3:
        return None
    if abs(mean) < 1e-6 and abs(std - 1) < 1e-6:
        return "the pixels are still in [0, 1], as ToTensor() leaves them: no Normalize has changed them"
    if abs(mean - 0.5) < 1e-3 and abs(std - 0.5) < 1e-3:
        return ("(0.5,) and (0.5,) run and map [0, 1] to [-1, 1], but this exercise asks for MNIST's own mean and "
                "std (MNIST_MEAN, MNIST_STD), so the pixels come out with mean 0 and std 1")
    if abs(mean - MNIST_STD) < 2e-3 and abs(std - MNIST_MEAN) < 2e-3:
        return "mean and std are swapped: Normalize(mean, std) takes the mean first"
    if mean > 2:
        return (f"you normalised with mean {mean:.1f} and std {std:.1f}, on the 0-255 scale: ToTensor() already "
                "divided by 255, so use MNIST_MEAN and MNIST_STD as they are")
    return (f"your transform normalises with mean {mean:.4f} and std {std:.4f}: use MNIST's, {MNIST_MEAN} and "
            f"{MNIST_STD} (MNIST_MEAN, MNIST_STD)")


_BREAKS_LABEL = {
    "b": "b (RandomHorizontalFlip) mirrors the digit left to right: a mirrored 3 or 7 is no digit anyone writes",
    "d": "d (RandomVerticalFlip) turns the digit upside down: a 6 then reads as a 9, and keeps the label 6",
    "e": "e (RandomRotation(180)) turns digits by up to 180 degrees: a 6 turned far enough reads as a 9",
}
_KEPT_BECAUSE = {
    "a": "a (RandomRotation(10)) tilts by at most 10 degrees, as handwriting does: the label stays true",
    "c": "c shifts the digit by up to 10% of the image: still the same digit, only elsewhere in the frame",
    "f": "f scales the digit by 90% to 110%: people write bigger and smaller, and the label stays true",
}


@register("06.3", notebook=_NB06, title="Augmentations that keep the label", stars=1, points=1,
          kind=(set, frozenset, list, tuple, str), solution={"a", "c", "f"},
          explanation="Small rotations, shifts and scalings are how people write; flips and large rotations make "
                      "another digit, or none.",
          wrong=[Wrong({"a", "b", "c", "f"}, "mirrors"), Wrong({"a", "c", "d", "f"}, "upside down"),
                 Wrong({"a", "c", "e", "f"}, "180 degrees"), Wrong({"a", "c"}, "bigger and smaller"),
                 Wrong(set(), "tilts"), Wrong({"a", "c", "f", "g"}, "a to f"), Wrong([1, 3, 6], "letters")])
def _(answer):
    items = list(answer.replace(",", " ").split()) if isinstance(answer, str) else list(answer)
    if isinstance(answer, str) and all(len(item) > 1 for item in items) and items:
        items = list("".join(items))  # "acf" is a, c and f
    if not all(isinstance(item, str) for item in items):
        return f"give the letters of the transforms, as strings (for example {{'a', 'b'}}), got {describe(answer)}"
    chosen = {item.strip().lower() for item in items}
    unknown = sorted(chosen - set("abcdef"))
    if unknown:
        return f"{', '.join(map(repr, unknown))}: the transforms are labelled a to f"
    breaking = sorted(chosen & set(_BREAKS_LABEL))
    if breaking:
        return _BREAKS_LABEL[breaking[0]]
    missing = sorted(set(_KEPT_BECAUSE) - chosen)
    return _KEPT_BECAUSE[missing[0]] if missing else None


@register("06.4", notebook=_NB06, title="Batches per epoch, with and without drop_last", stars=2, points=2,
          kind=(tuple, list), solution=(469, 468, 96),
          explanation="60,000 / 128 = 468.75: 468 full batches and a last one of 60,000 - 468 x 128 = 96 images, "
                      "which drop_last=True leaves out.",
          wrong=[Wrong((468, 468, 96), "partial batch still comes"), Wrong((469, 469, 96), "drops the partial"),
                 Wrong((468, 469, 96), "swapped"), Wrong((469, 468, 128), "holds what is left"),
                 Wrong((468.75, 468, 96), "whole number"), Wrong((469, 468), "give 3 numbers")])
def _(answer):
    numbers = _whole_numbers(answer, 3)
    if isinstance(numbers, str):
        return f"{numbers}: (batches without drop_last, batches with drop_last=True, images in the last batch)"
    batches, dropped, last = numbers
    if (batches, dropped) == (468, 469):
        return "swapped: drop_last=True gives the smaller count (it leaves out the partial batch)"
    if batches == 468:
        return "468 batches without drop_last: 60,000 / 128 = 468.75, and the partial batch still comes, so round up"
    if batches != 469:
        return f"{batches} batches without drop_last is not it: 60,000 / 128, rounded up"
    if dropped == 469:
        return "drop_last=True drops the partial last batch: count the full batches only"
    if dropped != 468:
        return f"{dropped} batches with drop_last=True is not it: 60,000 / 128, rounded down"
    if last != 96:
        return f"the last batch holds what is left after 468 full ones: 60,000 - 468 x 128, not {last}"
    return None
# --- 06_mnist_data.ipynb: end


# --- 07_convolution_and_pooling.ipynb: begin
_EX07_NB = "07_convolution_and_pooling.ipynb"

#: The 4x4 feature map of exercise 07.1, and what each typical mistake makes of it.
_EX07_POOL_INPUT = [[1, 3, 2, 0],
                   [4, 2, 1, 5],
                   [-9, 6, 7, 1],
                   [2, -1, 3, 8]]
_EX07_POOL_MISTAKES = {
    "avg": ([[2.5, 2.0], [-0.5, 4.75]], "these are the windows' averages (AvgPool2d): max-pooling keeps each "
                                        "window's largest value"),
    "abs": ([[4, 5], [-9, 8]], "-9 is the largest in size, not in value: max-pooling keeps the largest value, "
                               "and 6 > -9"),
    "transposed": ([[4, 6], [5, 8]], "rows and columns are swapped: the first row of the output comes from the "
                                     "two top windows (rows 0-1)"),
    "min": ([[1, 0], [-9, 1]], "these are the windows' smallest values: max-pooling keeps the largest"),
    "stride1": ([[4, 3, 5], [6, 7, 7], [6, 7, 8]], "that is a 2x2 window moved 1 pixel at a time (stride 1): "
                                                   "MaxPool2d(2) moves it 2 pixels, so the windows do not overlap"),
}


def _ex07_list(value: Any) -> Any:
    """A tensor or array as nested lists; anything else as it is."""
    tolist = getattr(value, "tolist", None)
    return tolist() if callable(tolist) and not isinstance(value, type) else value


def _ex07_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _ex07_vector(value: Any) -> list[float] | None:
    value = _ex07_list(value)
    if isinstance(value, (list, tuple)) and all(_ex07_number(v) for v in value):
        return [float(v) for v in value]
    return None


def _ex07_grid(value: Any) -> list[list[float]] | None:
    """A rectangular grid of numbers as lists of floats, else None."""
    value = _ex07_list(value)
    if not isinstance(value, (list, tuple)) or not value:
        return None
    rows = [_ex07_vector(row) for row in value]
    if any(row is None for row in rows) or len({len(row) for row in rows}) != 1:
        return None
    return rows


def _ex07_same(a: list, b: list, tol: float = 1e-6) -> bool:
    flat_a = [v for row in a for v in (row if isinstance(row, list) else [row])]
    flat_b = [v for row in b for v in (row if isinstance(row, list) else [row])]
    return len(a) == len(b) and len(flat_a) == len(flat_b) and all(
        abs(x - y) <= tol for x, y in zip(flat_a, flat_b, strict=True))


def _ex07_pooled() -> list[list[float]]:
    import torch
    import torch.nn.functional as F

    grid = torch.tensor(_EX07_POOL_INPUT, dtype=torch.float32).view(1, 1, 4, 4)
    return F.max_pool2d(grid, kernel_size=2, stride=2)[0, 0].tolist()


@register("07.1", notebook=_EX07_NB, title="Max-pool a 4x4 map by hand", stars=1, points=1,
          solution=[[4, 5], [6, 8]],
          explanation="F.max_pool2d(kernel_size=2, stride=2) gives [[4, 5], [6, 8]] too: the largest value of each "
                      "of the four 2x2 windows.",
          wrong=[Wrong(_EX07_POOL_MISTAKES["avg"][0], "averages"), Wrong(_EX07_POOL_MISTAKES["abs"][0], "in size"),
                 Wrong(_EX07_POOL_MISTAKES["transposed"][0], "swapped"),
                 Wrong(_EX07_POOL_MISTAKES["min"][0], "smallest"),
                 Wrong(_EX07_POOL_MISTAKES["stride1"][0], "stride 1"), Wrong(8, "whole array"),
                 Wrong([4, 5, 6, 8], "2 rows of 2"), Wrong([[4, 5], [6, 7]], "rows 2-3, columns 2-3")])
def _ex07_max_pool(answer):
    if _ex07_number(answer):
        if answer == 8:
            return "8 is the maximum of the whole array: pool each 2x2 window separately, which gives 2 x 2 values"
        return f"{answer} is one number: 2x2 windows moved 2 pixels over a 4x4 map give 2 rows of 2 values"
    grid = _ex07_grid(answer)
    if grid is None:
        if _ex07_vector(answer) is not None:
            return "give the result as a grid, 2 rows of 2 values: [[top-left, top-right], [bottom-left, bottom-right]]"
        return f"expected a grid of numbers such as [[1, 2], [3, 4]], got {describe(answer)}"
    expected = _ex07_pooled()
    if _ex07_same(grid, expected):
        return None
    for mistake, hint in _EX07_POOL_MISTAKES.values():
        if _ex07_same(grid, [[float(v) for v in row] for row in mistake]):
            return hint
    if len(grid) != 2 or len(grid[0]) != 2:
        return (f"your grid is {len(grid)} x {len(grid[0])}: a 2x2 window moved 2 pixels over 4 pixels fits "
                "(4 - 2) // 2 + 1 = 2 times along each side")
    names = ("rows 0-1, columns 0-1", "rows 0-1, columns 2-3", "rows 2-3, columns 0-1", "rows 2-3, columns 2-3")
    for (r, c), name in zip(((0, 0), (0, 1), (1, 0), (1, 1)), names, strict=True):
        if abs(grid[r][c] - expected[r][c]) > 1e-6:
            return f"the window at {name} holds {grid[r][c]:g} in your answer: its largest value is {expected[r][c]:g}"
    return "not it: keep the largest value of each 2x2 window"


@register("07.2", notebook=_EX07_NB, title="The output size of a strided convolution", stars=1, points=1,
          kind=(int, float), solution=13,
          explanation="(28 + 2*2 - 7) // 2 + 1 = 25 // 2 + 1 = 13: the kernel starts at columns -2, 0, ..., 22.",
          wrong=[Wrong(11, "padding"), Wrong(12, "+ 1"), Wrong(14, "rounds down"), Wrong(13.5, "//"),
                 Wrong(26, "stride"), Wrong(22, "h + 2*p - k")])
def _ex07_out_size(answer):
    if answer == 13:
        return None
    if answer == 11:
        return "11 is the size without padding: (28 - 7) // 2 + 1; padding=2 adds 2 pixels on every side (2*p)"
    if answer == 12:
        return ("12: did you forget the + 1 at the end of the formula, or pad only one side (p instead of 2*p)? "
                "(28 + 2*2 - 7) // 2 + 1")
    if answer == 14:
        return "14 is 28 / 2, or the division rounded up: the formula rounds down, (28 + 4 - 7) // 2 + 1"
    if answer == 13.5:
        return "13.5 came from `/`: a size is a whole number, the formula rounds down with `//`"
    if answer == 26:
        return "26 is the size with stride 1: with stride=2 the kernel moves 2 pixels at a time, divide by s"
    return f"{answer} is not it: use (h + 2*p - k) // s + 1 with h=28, k=7, p=2, s=2"


_EX07_CONVS = ("Conv2d(64, 128, kernel_size=5)", "Conv2d(64, 128, kernel_size=3, bias=False)",
               "Conv2d(128, 64, kernel_size=3)")


@register("07.3", notebook=_EX07_NB, title="Parameters of three convolutions", stars=2, points=2,
          solution=(204928, 73728, 73792),
          explanation="128*64*5*5 + 128 = 204,928; 128*64*3*3 = 73,728 with no bias; 64*128*3*3 + 64 = 73,792.",
          wrong=[Wrong((204800, 73728, 73792), "leaves out the 128 biases"),
                 Wrong((41088, 73728, 73792), "k*k"),
                 Wrong((204928, 73856, 73792), "bias=False"),
                 Wrong((204928, 73728, 73856), "one bias per output channel"),
                 Wrong((204928, 73728, 73728), "leaves out the 64 biases"),
                 Wrong(204928, "three numbers"), Wrong((204928, 73728), "three numbers")])
def _ex07_conv_params(answer):
    counts = _ex07_vector(answer)
    if counts is None or len(counts) != 3:
        return f"give three numbers, one per layer, as a tuple (a, b, c); got {describe(answer)}"
    a, b, c = counts
    if a != 204928:
        if a == 204800:
            return "204,800 for Conv2d(64, 128, 5) leaves out the 128 biases (one per output channel)"
        if a == 41088:
            return ("41,088 for Conv2d(64, 128, 5) counts a 5-wide kernel as 5 weights: a kernel has k*k = 25 per "
                    "input channel")
        if a == 73856:
            return "73,856 is Conv2d(64, 128, 3), the seed's layer: this one has 5x5 kernels (k = 5)"
        return f"{a:g} is not the count of Conv2d(64, 128, 5): out*in*k*k + out"
    if b != 73728:
        if b == 73856:
            return "73,856 for the layer with bias=False counts biases it does not have: only out*in*k*k weights"
        return f"{b:g} is not the count of Conv2d(64, 128, 3, bias=False): out*in*k*k, and no bias"
    if c != 73792:
        if c == 73856:
            return ("73,856 for Conv2d(128, 64, 3) adds 128 biases: there is one bias per output channel, "
                    "and this layer has 64 of them")
        if c == 73728:
            return "73,728 for Conv2d(128, 64, 3) leaves out the 64 biases (one per output channel)"
        return f"{c:g} is not the count of Conv2d(128, 64, 3): out*in*k*k + out, with out = 64"
    return None


_EX07_ACTIVATIONS = [1.0, 2.0, 0.0, 4.0, 3.0]
_EX07_KEEP = [1, 0, 1, 1, 0]


@register("07.4", notebook=_EX07_NB, title="Dropout in train() and eval() mode", stars=2, points=2,
          solution=([2.0, 0.0, 0.0, 8.0, 0.0], [1.0, 2.0, 0.0, 4.0, 3.0]),
          explanation="train(): the kept values times 1/(1-p) = 2, the dropped ones 0; eval(): the input unchanged.",
          wrong=[Wrong(([1.0, 0.0, 0.0, 4.0, 0.0], _EX07_ACTIVATIONS), "forgot the scaling"),
                 Wrong(([0.5, 0.0, 0.0, 2.0, 0.0], _EX07_ACTIVATIONS), "divides them by 1-p"),
                 Wrong(([0.0, 4.0, 0.0, 0.0, 6.0], _EX07_ACTIVATIONS), "1 means kept"),
                 Wrong(([2.0, 4.0, 0.0, 8.0, 6.0], _EX07_ACTIVATIONS), "dropped none"),
                 Wrong(([2.0, 0.0, 0.0, 8.0, 0.0], [2.0, 0.0, 0.0, 8.0, 0.0]), "drops nothing"),
                 Wrong(([2.0, 0.0, 0.0, 8.0, 0.0], [0.5, 1.0, 0.0, 2.0, 1.5]), "no scaling"),
                 Wrong([2.0, 0.0, 0.0, 8.0, 0.0], "a pair")])
def _ex07_dropout(answer):
    pair = _ex07_list(answer)
    if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
        return "give a pair (output in train() mode, output in eval() mode), each a list of 5 numbers"
    train, evaluated = _ex07_vector(pair[0]), _ex07_vector(pair[1])
    if train is None or evaluated is None or len(train) != 5 or len(evaluated) != 5:
        return "each output is a list of 5 numbers, one per activation"
    h, keep = _EX07_ACTIVATIONS, _EX07_KEEP
    expected_train = [v * k / (1 - 0.5) for v, k in zip(h, keep, strict=True)]
    if not _ex07_same(train, expected_train):
        if _ex07_same(train, [v * k for v, k in zip(h, keep, strict=True)]):
            return ("train(): you dropped the right values but forgot the scaling: kept values are multiplied by "
                    "1/(1-p) = 2")
        if _ex07_same(train, [v * k * 0.5 for v, k in zip(h, keep, strict=True)]):
            return "train(): you multiplied the kept values by p; dropout divides them by 1-p (here: times 2)"
        if _ex07_same(train, [v * (1 - k) * 2 for v, k in zip(h, keep, strict=True)]):
            return "train(): the mask is the other way round: 1 means kept, 0 means dropped"
        if _ex07_same(train, [v * 2 for v in h]):
            return "train(): you scaled every value but dropped none: the positions where keep is 0 become 0"
        return "train(): zero the dropped positions and multiply the kept ones by 1/(1-p)"
    if not _ex07_same(evaluated, h):
        masked = [v * k for v, k in zip(h, keep, strict=True)]
        if _ex07_same(evaluated, expected_train) or _ex07_same(evaluated, masked):
            return "eval(): dropout drops nothing in eval() mode: the output is the input, unchanged"
        if _ex07_same(evaluated, [v * 0.5 for v in h]) or _ex07_same(evaluated, [v * 2 for v in h]):
            return ("eval(): no scaling at test time: PyTorch already scaled the kept values by 1/(1-p) in training, "
                    "so eval() returns the input unchanged")
        return "eval(): in eval() mode dropout returns its input unchanged"
    return None


def _ex07_ce_naive(logits, label):
    return -(logits.exp()[label] / logits.exp().sum()).log()


def _ex07_ce_no_minus(logits, label):
    z = logits - logits.max()
    return z[label] - z.exp().sum().log()


def _ex07_ce_probability(logits, label):
    z = logits - logits.max()
    return z.exp()[label] / z.exp().sum()


def _ex07_ce_twice(logits, label):
    import torch
    import torch.nn.functional as F

    return F.cross_entropy(F.softmax(logits, dim=0).view(1, -1), torch.tensor([label]))


def _ex07_ce_solution(logits, label):
    z = logits - logits.max()
    return -(z[label] - z.exp().sum().log())


@register("07.5", notebook=_EX07_NB, title="Cross-entropy from logits, without overflow", stars=3, points=3,
          solution=_ex07_ce_solution,
          explanation="Equal to F.cross_entropy on small logits and on [1000, 0, -1000] (loss 1000 for label 1).",
          wrong=[Wrong(_ex07_ce_naive, "overflows"), Wrong(_ex07_ce_no_minus, "the minus"),
                 Wrong(_ex07_ce_probability, "probability"), Wrong(_ex07_ce_twice, "softmax twice"),
                 Wrong(_stub, "not done yet"), Wrong(2.3026, "expected a function")])
def _ex07_cross_entropy(answer):
    import math

    if not callable(answer):
        return f"expected a function cross_entropy(logits, label), got {describe(answer)}"
    import torch
    import torch.nn.functional as F

    cases = [([2.0, 1.0, 0.1], 0), ([-0.5, 0.3, 2.2, 0.0, 1.1], 3), ([1000.0, 0.0, -1000.0], 1)]
    for values, label in cases:
        logits = torch.tensor(values)
        got = answer(logits.clone(), label)
        if got is None:
            raise NotDoneYet("cross_entropy(...) still returns None: replace the `pass` with your code")
        if isinstance(got, bool) or (hasattr(got, "numel") and got.numel() != 1):
            return f"cross_entropy({values}, {label}) returned {describe(got)}: return one number, the loss"
        try:
            value = float(got)
        except (TypeError, ValueError):
            return f"cross_entropy({values}, {label}) returned {describe(got)}: return one number, the loss"
        want = F.cross_entropy(logits.view(1, -1), torch.tensor([label])).item()
        if math.isclose(value, want, rel_tol=1e-5, abs_tol=1e-4):
            continue
        call = f"cross_entropy({values}, {label})"
        if not math.isfinite(value):
            return (f"{call} gave {value}: exp(1000) overflows float32; subtract the largest logit first "
                    "(the factor e^-max cancels in the softmax)")
        p = F.softmax(logits, dim=0)[label].item()
        if math.isclose(value, -want, rel_tol=1e-5, abs_tol=1e-4):
            return f"{call} gave {value:.4f}, a negative loss: you forgot the minus, the loss is -log p"
        if math.isclose(value, p, rel_tol=1e-5, abs_tol=1e-6):
            return f"{call} gave {value:.4f}, the probability p of the label: the loss is -log p"
        if math.isclose(value, _ex07_ce_twice(logits, label).item(), rel_tol=1e-5, abs_tol=1e-4):
            return (f"{call} gave {value:.4f}: softmax twice (F.cross_entropy applies its own); "
                    "compute -log of the softmax of the logits themselves")
        return (f"{call} gave {value:.4f}, expected {want:.4f}: softmax of the logits, then -log of the label's "
                "probability")
    return None
# --- 07_convolution_and_pooling.ipynb: end


# --- 08_mnist_cnn.ipynb: begin
_NB08 = "08_mnist_cnn.ipynb"


@register("08.1", notebook=_NB08, title="The flattened size for 32×32 images", stars=1, points=1, kind=int,
          solution=16 * 16 * 128,
          explanation="32 -> conv 32 -> conv 32 -> pool 16 (padding=1 keeps the side, the pool halves it): "
                      "16 x 16 x 128 = 32768 numbers per image.",
          wrong=[Wrong(14 * 14 * 128, "28 x 28"), Wrong(32 * 32 * 128, "pool"), Wrong(16 * 16, "channels"),
                 Wrong(16 * 16 * 64, "first convolution"), Wrong(15 * 15 * 128, "padding=1"),
                 Wrong(8 * 8 * 128, "pools once")])
def _(answer):
    hints = {
        14 * 14 * 128: "25088 is the size for 28 x 28 images, the seed's own: start from 32 this time",
        32 * 32 * 128: "32 x 32 x 128 leaves out the pool: MaxPool2d(2, stride=2) halves the side, 32 -> 16",
        16 * 16: "16 x 16 is one channel's map: the last convolution has 128 channels, and flattening keeps them all",
        16 * 16 * 64: "64 is the first convolution's channels: the map that reaches the Linear comes from the second, "
                      "with 128",
        15 * 15 * 128: "with padding=1 a 3x3 convolution keeps the side (32 + 2 - 3 + 1 = 32): only the pool shrinks "
                       "it",
        8 * 8 * 128: "the seed's model pools once, not twice: 32 -> 16",
    }
    if answer == 16 * 16 * 128:
        return None
    return hints.get(answer, f"{answer} is not it: work out the side after conv, conv, pool, then side x side x "
                             "channels")


_HEAD32 = 16 * 16 * 128 * 1024 + 1024 + 1024 * 10 + 10  # 33,565,706


@register("08.2", notebook=_NB08, title="The dense head's parameters for 32×32 images", stars=2, points=2, kind=int,
          solution=_HEAD32,
          explanation="Linear(32768, 1024): 32768 x 1024 weights + 1024 biases; Linear(1024, 10): 10240 + 10; "
                      "ReLU and Dropout have none: 33,565,706.",
          wrong=[Wrong(25_701_386, "28 x 28"), Wrong(16 * 16 * 128 * 1024, "biases"),
                 Wrong(16 * 16 * 128 * 1024 + 1024, "first Linear only"), Wrong(_HEAD32 - 1034, "biases"),
                 Wrong(_HEAD32 + 74_496, "convolutions"), Wrong(32 * 32 * 128 * 1024 + 1024 + 10250, "pool"),
                 Wrong(1024 * 10 + 10, "last Linear only")])
def _(answer):
    first_weights = 16 * 16 * 128 * 1024
    hints = {
        25_701_386: "25,701,386 is the head for 28 x 28 images (the lesson's table): with 32 x 32 the first Linear "
                    "takes 16 x 16 x 128 inputs",
        first_weights: "that is dense.0's weights only: add its 1024 biases and the second Linear (1024 x 10 + 10)",
        first_weights + 1024: "that is the first Linear only: the head has a second one, Linear(1024, 10), with "
                              "10,250 parameters",
        _HEAD32 - 1034: "you counted the weights but forgot the biases: one per output neuron, 1024 + 10",
        _HEAD32 + 74_496: "that is the whole model: the question asks for the dense head only, without the "
                          "convolutions' 74,496",
        32 * 32 * 128 * 1024 + 1024 + 10250: "you flattened 32 x 32 x 128: the pool halves the side before the "
                                             "Linear, so it sees 16 x 16 x 128",
        1024 * 10 + 10: "10,250 is the last Linear only: the first one, Linear(32768, 1024), holds nearly all of them",
    }
    if answer == _HEAD32:
        return None
    return hints.get(answer, f"{answer:,} is not it: a Linear(in, out) has in x out weights and out biases; the head "
                             "is Linear(16*16*128, 1024), ReLU, Dropout, Linear(1024, 10)")


def _loss_setup():
    """A tiny model, data and loader: 256 samples of 4 features, 3 classes, 4 batches of 64 (not shuffled)."""
    import torch

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(256, 4, generator=gen)
    y = torch.randint(0, 3, (256,), generator=gen)
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=64, shuffle=False)
    return model, loader, torch.nn.CrossEntropyLoss()


def _loss_batch_losses() -> list[float]:
    import torch

    model, loader, cost = _loss_setup()
    with torch.no_grad():
        return [cost(model(x), y).item() for x, y in loader]


def _loss_solution(model, loader, cost):
    import torch

    running_loss = 0.0
    with torch.no_grad():
        for x, y in loader:
            running_loss += cost(model(x), y).item()
    return running_loss / len(loader)


def _loss_seed(model, loader, cost):
    return _loss_solution(model, loader, cost) * len(loader) / len(loader.dataset)


def _loss_sum(model, loader, cost):
    return _loss_solution(model, loader, cost) * len(loader)


def _loss_last(model, loader, cost):
    *_, (x, y) = loader
    return cost(model(x), y).item()


@register("08.3", notebook=_NB08, title="Fix the seed's running loss", stars=2, points=2,
          solution=_loss_solution,
          explanation="The sum of the batch means divided by the number of batches, len(loader), is the epoch's "
                      "average loss.",
          wrong=[Wrong(_loss_seed, "64x too small"), Wrong(_loss_sum, "number of batches"),
                 Wrong(_loss_last, "last batch"), Wrong(_stub, "not done yet"),
                 Wrong("running_loss / len(data_loader_train)", "expected a function")])
def _(answer):
    if not callable(answer):
        return f"expected a function epoch_loss(model, loader, cost), got {describe(answer)}"
    if _body_is_stub(answer):
        raise NotDoneYet("epoch_loss(...) does nothing yet: replace the `pass` with your code")
    import math

    import torch

    model, loader, cost = _loss_setup()
    result = answer(model, loader, cost)
    if isinstance(result, torch.Tensor) and result.numel() == 1:
        result = result.item()
    if isinstance(result, bool) or not isinstance(result, (int, float)) or not math.isfinite(result):
        return f"epoch_loss should return one number (a float), got {describe(result)}"
    losses = _loss_batch_losses()
    mean = sum(losses) / len(losses)
    if abs(result - mean) <= 1e-5 * mean:
        return None
    if abs(result * 64 - mean) <= 1e-5 * mean:
        return ("your loss is 64x too small: did you divide by the number of images (len(loader.dataset)) instead "
                "of the number of batches (len(loader))? Each batch's loss is already a mean over its 64 images")
    if abs(result - sum(losses)) <= 1e-5 * mean:
        return "that is the sum of the 4 batch losses: divide it by the number of batches, len(loader)"
    if abs(result - losses[-1]) <= 1e-5 * mean:
        return "that is the last batch's loss alone: add every batch's loss (+=), then divide by len(loader)"
    return (f"{result:.4f} is not it: the epoch's average is the sum of the batch losses (loss.item()) divided by "
            "the number of batches")


def _eval_setup():
    """A tiny classifier with dropout, in training mode (as after a training pass), and 200 inputs."""
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Dropout(p=0.5),
                                torch.nn.Linear(32, 10))
    x = torch.randn(200, 8, generator=torch.Generator().manual_seed(1))
    return model.train(), x


def _predict_solution(model, X):
    import torch

    model.eval()
    with torch.no_grad():
        return model(X).argmax(dim=1)


def _predict_seed(model, X):
    import torch

    with torch.no_grad():
        return model(X).argmax(dim=1)


def _predict_no_brackets(model, X):
    import torch

    model.eval  # noqa: B018  (the attribute, not the call: a typical slip)
    with torch.no_grad():
        return model(X).argmax(dim=1)


def _predict_logits(model, X):
    import torch

    model.eval()
    with torch.no_grad():
        return model(X)


def _predict_with_grad(model, X):
    model.eval()
    return model(X).argmax(dim=1)


@register("08.4", notebook=_NB08, title="Add the missing model.eval()", stars=2, points=2,
          solution=_predict_solution,
          explanation="model.eval() switches dropout off, so every pass gives the same, full-strength predictions; "
                      "torch.no_grad() records nothing for backward().",
          wrong=[Wrong(_predict_seed, "model.eval()"), Wrong(_predict_no_brackets, "brackets"),
                 Wrong(_predict_logits, "argmax"), Wrong(_predict_with_grad, "no_grad"),
                 Wrong(_stub, "not done yet"), Wrong(42, "expected a function")])
def _(answer):
    if not callable(answer):
        return f"expected a function predict(model, X), got {describe(answer)}"
    if _body_is_stub(answer):
        raise NotDoneYet("predict(...) does nothing yet: replace the `pass` with your code")
    import torch

    model, x = _eval_setup()
    grad_on = []
    model.register_forward_hook(lambda module, inputs, output: grad_on.append(torch.is_grad_enabled()))
    torch.manual_seed(2)
    first = answer(model, x)
    if not isinstance(first, torch.Tensor):
        return f"predict should return a tensor of predicted digits, got {describe(first)}"
    if tuple(first.shape) == (200, 10):
        return ("you returned the 10 logits of each image: the predicted digit is the index of the largest, "
                "argmax(dim=1)")
    if tuple(first.shape) != (200,):
        return f"expected one predicted digit per image, shape (200,), got shape {tuple(first.shape)}"
    model.train()  # as the next training pass would leave it
    torch.manual_seed(3)
    second = answer(model, x)
    with torch.no_grad():
        expected = model.eval()(x).argmax(dim=1)
    if not (torch.equal(first.long(), expected) and torch.equal(second.long(), expected)):
        return ("dropout is still on: two calls give different predictions. Call model.eval() (with the brackets) "
                "before the forward pass")
    if any(grad_on):
        return ("the predictions are right, but the forward pass recorded gradients: run it under torch.no_grad(), "
                "as a test pass should")
    return None


_CONFUSION = (  # rows: true digit 0-9; columns: predicted digit 0-9 (a made-up test run)
    (190, 0, 1, 0, 0, 1, 3, 0, 1, 0),
    (0, 226, 1, 0, 0, 0, 0, 1, 0, 0),
    (2, 1, 196, 2, 1, 0, 0, 3, 2, 0),
    (0, 0, 2, 191, 0, 4, 0, 2, 3, 1),
    (0, 0, 1, 0, 196, 0, 2, 0, 0, 11),
    (1, 0, 0, 5, 0, 170, 2, 0, 1, 1),
    (2, 1, 0, 0, 1, 2, 188, 0, 1, 0),
    (0, 2, 7, 1, 1, 0, 0, 198, 0, 3),
    (2, 1, 3, 4, 1, 3, 1, 2, 167, 2),
    (1, 0, 0, 2, 4, 1, 0, 3, 1, 196),
)


@register("08.5", notebook=_NB08, title="Read a confusion matrix", stars=1, points=1, kind=(tuple, list),
          solution=(4, 9),
          explanation="The largest number off the diagonal, 11, is in row 4, column 9: 11 images of a 4 were "
                      "taken for a 9 (and only 4 of the 9s for a 4).",
          wrong=[Wrong((9, 4), "swapped"), Wrong((1, 1), "diagonal"), Wrong((7, 2), "second"),
                 Wrong((8, 8), "diagonal"), Wrong([4], "give 2 numbers")])
def _(answer):
    pair = _whole_numbers(answer, 2)
    if isinstance(pair, str):
        return f"{pair}: answer (true digit, predicted digit)"
    if pair == (4, 9):
        return None
    if pair == (9, 4):
        return ("row and column swapped: rows are the true digit, columns the prediction; (9, 4) holds 4, while 11 "
                "images of a 4 were predicted as 9")
    if pair[0] == pair[1]:
        return (f"({pair[0]}, {pair[1]}) is on the diagonal: those are right answers. A mistake is a number off the "
                "diagonal")
    if pair == (7, 2):
        return "7 -> 2 happens 7 times, the second most: look for a larger number off the diagonal"
    if not all(0 <= digit <= 9 for digit in pair):
        return "digits go from 0 to 9: answer (true digit, predicted digit)"
    return (f"({pair[0]}, {pair[1]}) holds {_CONFUSION[pair[0]][pair[1]]}: find the largest number off the diagonal, "
            "then read its row (true digit) and column (predicted digit)")
# --- 08_mnist_cnn.ipynb: end


# --- 09_save_and_load.ipynb: begin
def _letter_set(answer: Any, upper: bool = False) -> set[str] | str:
    """The answer as a set of letters, or a hint when it holds something other than strings."""
    if not all(isinstance(item, str) for item in answer):
        return f"give the letters as strings, e.g. {{'{'A' if upper else 'a'}', '{'C' if upper else 'c'}'}}: got " \
            f"{describe(answer)}"
    return {item.strip().upper() if upper else item.strip().lower() for item in answer}


_CKPT_KEYS = ["0.weight", "0.bias", "5.weight", "5.bias"]


@register("09.1", notebook="09_save_and_load.ipynb", title="The keys of a state_dict", stars=1, points=1,
          kind=(list, tuple, set), solution=list(_CKPT_KEYS),
          explanation="Only the Conv2d (layer 0) and the Linear (layer 5) have weights; a Sequential names each "
                      "by its index among all its layers.",
          wrong=[Wrong(["0.weight", "0.bias", "1.weight", "1.bias"], "counts every layer"),
                 Wrong(["0.weight", "0.bias", "1.weight", "1.bias", "2.weight", "2.bias", "3.weight", "3.bias",
                        "4.weight", "4.bias", "5.weight", "5.bias"], "no weights"),
                 Wrong(["weight", "bias", "weight", "bias"], "index"),
                 Wrong(["0.weight", "5.weight"], "bias"),
                 Wrong([0, 5], "as strings")])
def _state_dict_keys(answer):
    if not all(isinstance(key, str) for key in answer):
        return f"give the keys as strings, e.g. ['0.weight']: got {describe(answer)}"
    keys = [key.strip() for key in answer]
    if sorted(keys) == sorted(_CKPT_KEYS) and len(keys) == len(_CKPT_KEYS):
        return None
    if sorted(keys) == sorted(["0.weight", "0.bias", "1.weight", "1.bias"]):
        return ("the Linear is layer 5, not 1: a Sequential's index counts every layer in it, those without "
                "weights too (ReLU, MaxPool2d, Flatten, Dropout)")
    if any(key.split(".")[0] in {"1", "2", "3", "4"} for key in keys):
        return ("ReLU, MaxPool2d, Flatten and Dropout have no weights, so no entries: only layers 0 (Conv2d) and "
                "5 (Linear) do")
    if any("." not in key for key in keys):
        return "each key starts with the layer's index in the Sequential, then the tensor's name: '0.weight'"
    if set(keys) == {"0.weight", "5.weight"}:
        return "Conv2d and Linear each have a bias too, saved beside the weight: '0.bias', '5.bias'"
    return f"{describe(answer)} is not it: one weight and one bias for each layer that has them, named INDEX.weight"


_LOAD_REFUSED = {"b", "e", "g"}


@register("09.2", notebook="09_save_and_load.ipynb", title="What weights_only=True refuses", stars=1, points=1,
          kind=(set, frozenset, list, tuple), solution={"b", "e", "g"},
          explanation="The model, the History and the optimizer are objects of their own classes; tensors, "
                      "numbers, strings, lists and dicts of them (state_dicts, the RNG state) load.",
          wrong=[Wrong({"b"}, "History"), Wrong({"b", "e"}, "optimizer"), Wrong({"b", "g"}, "History"),
                 Wrong({"b", "d", "e", "g"}, "uint8 tensor"), Wrong({"b", "c", "e", "g"}, "state_dicts"),
                 Wrong(set(), "refuses"), Wrong([1, 2], "as strings")])
def _weights_only(answer):
    letters = _letter_set(answer)
    if isinstance(letters, str):
        return letters
    if letters == _LOAD_REFUSED:
        return None
    if not letters:
        return "weights_only=True refuses some of them: which ones are not tensors or plain values?"
    if letters - set("abcdefg"):
        return f"{sorted(letters - set('abcdefg'))} is not one of the letters a to g"
    if "d" in letters:
        return "d loads: torch.get_rng_state() is a uint8 tensor, and tensors are what weights_only allows"
    if letters & {"a", "c", "f"}:
        return ("a, c and f load: state_dicts, the seed's checkpoint dict and the settings hold only tensors, "
                "numbers, strings, lists and dicts")
    if "e" not in letters:
        return "e is refused too: history is a mnistlab.history.History, a class of its own like the model"
    if "g" not in letters:
        return "g is refused too: the optimizer itself is an Adam object (its state_dict() would load)"
    return "b is refused: the whole model is an object of class CompactCNN (section 2)"


_RESUME_ENTRIES = {"model", "optimizer", "epoch", "rng"}


@register("09.3", notebook="09_save_and_load.ipynb", title="What an exact resume needs", stars=2, points=2,
          kind=(set, frozenset, list, tuple), solution={"model", "optimizer", "epoch", "rng"},
          explanation="Weights, Adam's running averages, where the loop stopped, and the random states that "
                      "decide the next batch order and dropout masks.",
          wrong=[Wrong({"model", "optimizer", "epoch"}, "random states"),
                 Wrong({"model", "epoch", "rng"}, "running averages"),
                 Wrong({"model", "optimizer", "rng"}, "epoch"),
                 Wrong({"model", "optimizer", "epoch", "rng", "history"}, "history"),
                 Wrong({"model", "optimizer", "epoch", "rng", "data"}, "disk"),
                 Wrong({"model", "optimizer", "epoch", "rng", "code"}, "class"),
                 Wrong({"optimizer", "epoch", "rng"}, "weights")])
def _resume_entries(answer):
    if not all(isinstance(item, str) for item in answer):
        return f"give the entries' names as strings, e.g. {{'model'}}: got {describe(answer)}"
    names = {item.strip().lower() for item in answer}
    menu = {"model", "optimizer", "epoch", "rng", "history", "data", "code"}
    if names - menu:
        return f"{sorted(names - menu)} is not on the menu: choose among {sorted(menu)}"
    if names == _RESUME_ENTRIES:
        return None
    if "model" not in names:
        return "without 'model' the resumed run starts from fresh random weights"
    if "optimizer" not in names:
        return ("without 'optimizer' Adam starts again with empty running averages and step count: the next "
                "steps differ")
    if "epoch" not in names:
        return "without 'epoch' the loop does not know how many epochs are done: it would run them all again"
    if "rng" not in names:
        return ("that is the seed's dict: it resumes, but not exactly; without the random states the next epoch "
                "draws another batch order and other dropout masks (section 4)")
    if "history" in names:
        return ("'history' is a record for plots: nothing the next epoch computes depends on it (mnistlab saves it "
                "so the resumed history is complete, but the weights would be the same without it)")
    if "data" in names:
        return "'data' is on disk, unchanged: the resumed run loads it again, so the checkpoint need not carry it"
    return ("'code' is not needed: a state_dict checkpoint loads into a model built from the class, which lives in "
            "your files (saving the class with the weights is the whole-model pickle of section 2)")


def _ckpt_tiny_training():
    """A model with dropout, 24 random points and one epoch of 3 batches, all drawn from torch's global generator."""
    import torch
    from torch import nn

    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(24, 5, generator=generator), torch.randint(0, 3, (24,), generator=generator)

    def build():
        return nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))

    def one_epoch(model, optimizer):
        model.train()
        for idx in torch.randperm(len(x)).split(8):  # batch order and dropout masks: the global generator
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            optimizer.step()

    return build, one_epoch


def _ckpt_same_tensors(a: Any, b: Any) -> bool:
    import torch

    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_ckpt_same_tensors(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_ckpt_same_tensors(p, q) for p, q in zip(a, b, strict=True))
    return a == b


def _resume_problem(save: Callable, resume: Callable, path: Path) -> str | None:
    import copy
    import pickle

    import torch

    build, one_epoch = _ckpt_tiny_training()
    torch.manual_seed(0)
    straight = build()
    optimizer = torch.optim.Adam(straight.parameters(), lr=0.01)
    one_epoch(straight, optimizer)
    one_epoch(straight, optimizer)

    torch.manual_seed(0)
    first = build()
    first_optimizer = torch.optim.Adam(first.parameters(), lr=0.01)
    one_epoch(first, first_optimizer)
    rng_after_first = torch.get_rng_state()
    optimizer_after_first = copy.deepcopy(first_optimizer.state_dict())
    save(path, first, first_optimizer, 1)
    if not path.exists():
        raise NotDoneYet("save_checkpoint(...) wrote no file: replace the `pass` with your code")

    torch.manual_seed(12345)  # a new process starts from another random state
    resumed = build()
    resumed_optimizer = torch.optim.Adam(resumed.parameters(), lr=0.01)
    try:
        epoch = resume(path, resumed, resumed_optimizer)
    except pickle.UnpicklingError:
        return ("torch.load refused the file (weights_only=True): save state_dicts, tensors and plain values, "
                "not the model or optimizer objects")
    same_model = _ckpt_same_tensors(first.state_dict(), resumed.state_dict())
    if epoch is None and not same_model:
        raise NotDoneYet("resume(...) returns None and loads nothing: replace its `pass` with your code")
    if not same_model:
        return "the model's weights were not restored: model.load_state_dict(checkpoint['model'])"
    if not _ckpt_same_tensors(optimizer_after_first["state"], resumed_optimizer.state_dict()["state"]):
        return ("the optimizer was not restored: Adam's running averages and step count must come from the file "
                "too (optimizer.load_state_dict)")
    if not (isinstance(epoch, int) and not isinstance(epoch, bool) and epoch == 1):
        return f"resume(...) returned {describe(epoch)}: return the saved epoch (1 here: the epochs already done)"
    if not torch.equal(torch.get_rng_state(), rng_after_first):
        return ("the random state was not restored: the next epoch draws another batch order and other dropout "
                "masks; save torch.get_rng_state() and restore it with torch.set_rng_state(...)")
    one_epoch(resumed, resumed_optimizer)
    if not _ckpt_same_tensors(straight.state_dict(), resumed.state_dict()):
        return "everything was restored, yet the resumed run differs from the straight one: look for a side effect"
    return None


def _save_exactly(path, model, optimizer, epoch):
    import torch

    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
                "rng": torch.get_rng_state()}, path)


def _resume_exactly(path, model, optimizer):
    import torch

    checkpoint = torch.load(path)
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    torch.set_rng_state(checkpoint["rng"])
    return checkpoint["epoch"]


def _save_as_the_seed(path, model, optimizer, epoch):
    import torch

    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch}, path)


def _resume_as_the_seed(path, model, optimizer):
    import torch

    checkpoint = torch.load(path)
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    return checkpoint["epoch"]


def _resume_without_optimizer(path, model, optimizer):
    import torch

    checkpoint = torch.load(path)
    model.load_state_dict(checkpoint["model"])
    torch.set_rng_state(checkpoint["rng"])
    return checkpoint["epoch"]


def _save_objects(path, model, optimizer, epoch):
    import torch

    torch.save({"model": model, "optimizer": optimizer, "epoch": epoch, "rng": torch.get_rng_state()}, path)


def _resume_next_epoch(path, model, optimizer):
    return _resume_exactly(path, model, optimizer) + 1


@register("09.4", notebook="09_save_and_load.ipynb", title="Save and resume exactly", stars=3, points=3,
          kind=tuple, solution=(_save_exactly, _resume_exactly),
          explanation="1 epoch, save, load into a fresh model and optimizer, 1 epoch: the same weights as 2 "
                      "epochs straight, bit for bit.",
          wrong=[Wrong((_save_as_the_seed, _resume_as_the_seed), "random state"),
                 Wrong((_save_exactly, _resume_without_optimizer), "optimizer was not restored"),
                 Wrong((_save_objects, _resume_exactly), "refused"),
                 Wrong((_save_exactly, _resume_next_epoch), "saved epoch"),
                 Wrong((_save_exactly, _stub), "not done yet"),
                 Wrong((_stub, _stub), "not done yet"),
                 Wrong((_save_exactly,), "the two functions")])
def _save_and_resume(answer):
    import tempfile

    import torch

    if len(answer) != 2 or not all(callable(f) for f in answer):
        return f"expected (save_checkpoint, resume), the two functions: got {describe(answer)}"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is fastest, and on a busy machine by far
    try:
        with torch.random.fork_rng(devices=[]), tempfile.TemporaryDirectory() as folder:
            return _resume_problem(answer[0], answer[1], Path(folder) / "run.pth")
    finally:
        torch.set_num_threads(threads)
# --- 09_save_and_load.ipynb: end


# --- 10_model_visualisation.ipynb: begin
@register("10.1", notebook="10_model_visualisation.ipynb", title="Parameters of the first dense layer", stars=1,
          points=1, kind=int, solution=25_691_136,
          explanation="25,088 x 1,024 weights, one per input and unit, plus 1,024 biases, one per unit.",
          wrong=[Wrong(25_690_112, "biases"), Wrong(26_112, "added"), Wrong(25_088 * 1_024 + 25_088, "bias per input"),
                 Wrong(1_024, "one per unit"), Wrong("25691136", "expected int")])
def _dense_parameters(answer):
    if answer == 25_691_136:
        return None
    if answer == 25_088 * 1_024:
        return f"{answer:,} is 1,024 short: did you forget the biases (one per output unit)?"
    if answer == 25_088 + 1_024:
        return f"{answer:,} added the sizes: every one of the 1,024 units has a weight for each of the 25,088 inputs"
    if answer == 25_088 * 1_024 + 25_088:
        return "one bias per output unit (1,024), not one bias per input"
    if answer in (1_024, 25_088):
        return f"{answer:,} counts one per unit or per input: a Linear has one weight per (input, unit) pair"
    return f"{answer:,} is not it: in_features x out_features weights, plus out_features biases"


@register("10.2", notebook="10_model_visualisation.ipynb", title="An output shape in the summary table", stars=1,
          points=1, kind=(tuple, list), solution=(1, 32, 12, 12),
          explanation="Kernel 5 without padding: 28 - 5 + 1 = 24; the pool halves it to 12; one image, 32 channels.",
          wrong=[Wrong((1, 32, 14, 14), "padding"), Wrong((1, 32, 24, 24), "MaxPool2d(2)"),
                 Wrong((32, 12, 12), "batch axis"), Wrong((-1, 32, 12, 12), "torchsummary"),
                 Wrong((1, 1, 12, 12), "channels"), Wrong((1, 32, 11, 11), "28 - 5 + 1"),
                 Wrong(("1", "32"), "numbers")])
def _pool_shape(answer):
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in answer):
        return f"give the shape as numbers, e.g. (1, 16, 7, 7): got {describe(answer)}"
    shape = tuple(answer)
    if shape == (1, 32, 12, 12):
        return None
    if len(shape) == 3:
        return "torchinfo's input_size (1, 1, 28, 28) includes the batch axis, and so does every output shape"
    if len(shape) != 4:
        return f"{shape} has {len(shape)} axes: an image batch has 4 (batch, channels, height, width)"
    if shape[0] == -1:
        return "-1 for the batch axis is torchsummary's; torchinfo prints the batch size you gave, 1"
    if shape[1] != 32:
        return f"channels: got {shape[1]}; a Conv2d with 32 kernels gives 32 channels, and pooling keeps them"
    if shape[2:] == (14, 14):
        return "no padding here: a 5 x 5 kernel shrinks 28 to 28 - 5 + 1 = 24 before the pool halves it"
    if shape[2:] == (24, 24):
        return "that is the Conv2d's output: MaxPool2d(2) then halves height and width"
    if shape[2:] == (11, 11) or shape[2:] == (23, 23):
        return "a 5 x 5 kernel fits 28 - 5 + 1 = 24 times along 28 pixels (count the first position too)"
    return f"{shape} is not it: the conv output is 28 - 5 + 1 on each side, then MaxPool2d(2) halves it"


_CONV_MULT_ADDS = (32 * 64 * 3 * 3 + 64) * 14 * 14


@register("10.3", notebook="10_model_visualisation.ipynb", title="Multiply-adds of a convolution", stars=2,
          points=2, kind=int, solution=_CONV_MULT_ADDS,
          explanation="18,496 weights and biases, each used once at each of the 14 x 14 = 196 output positions.",
          wrong=[Wrong(32 * 64 * 9 * 196, "biases"), Wrong(18_496 * 28 * 28, "14 x 14"),
                 Wrong(18_496, "output position"), Wrong(18_496 * 12 * 12, "padding=1"),
                 Wrong(18_496 * 196 * 64, "already"), Wrong((32 * 9 + 1) * 196, "64 kernels")])
def _conv_mult_adds(answer):
    if answer == _CONV_MULT_ADDS:
        return None
    params, weights = 32 * 64 * 9 + 64, 32 * 64 * 9
    if answer == weights * 196:
        return f"{answer:,} leaves out the biases: count them as torchinfo and section 2 do (64 x 196 more)"
    if answer == params * 28 * 28:
        return "the input here is 14 x 14 (after a pool), not 28 x 28: 196 output positions"
    if answer == params:
        return f"{answer:,} is the parameter count: each is used once per output position (14 x 14 of them)"
    if answer == params * 12 * 12:
        return "padding=1 keeps the 14 x 14 size: 196 output positions, not 144"
    if answer in (params * 196 * 64, params * 196 * 32):
        return "the channels are already in the parameter count (32 x 64 x 3 x 3): multiply only by the positions"
    if answer == (32 * 9 + 1) * 196:
        return "that is one output channel: the layer has 64 kernels of 32 x 3 x 3, each with a bias"
    return f"{answer:,} is not it: (weights + biases) x output positions, with padding=1 on a 14 x 14 input"


_DENSE_AFTER_TWO_POOLS = 128 * 7 * 7 * 1024 + 1024


@register("10.4", notebook="10_model_visualisation.ipynb", title="A second pool, a smaller dense layer", stars=2,
          points=2, kind=int, solution=_DENSE_AFTER_TWO_POOLS,
          explanation="128 x 7 x 7 = 6,272 inputs now: 6,272 x 1,024 weights + 1,024 biases, about a quarter of "
                      "before.",
          wrong=[Wrong(25_691_136, "in_features"), Wrong(128 * 7 * 7 * 1024, "biases"),
                 Wrong(12_544 * 1024 + 1024, "both"), Wrong(64 * 7 * 7 * 1024 + 1024, "128 channels"),
                 Wrong(128 * 3 * 3 * 1024 + 1024, "one extra pool")])
def _two_pools(answer):
    if answer == _DENSE_AFTER_TWO_POOLS:
        return None
    if answer == 25_691_136:
        return "that is today's dense.0: with a second pool, in_features shrinks and so does the layer"
    if answer == 128 * 7 * 7 * 1024:
        return f"{answer:,} is 1,024 short: did you forget the biases (one per output unit)?"
    if answer == 12_544 * 1024 + 1024:
        return "pooling halves both height and width: 14 x 14 becomes 7 x 7, a quarter of the inputs, not half"
    if answer == 64 * 7 * 7 * 1024 + 1024:
        return "the second convolution gives 128 channels, and the pools keep all 128"
    if answer == 128 * 3 * 3 * 1024 + 1024:
        return "one extra pool: 28 -> 14 (the first) -> 7 (the second), so 128 x 7 x 7 inputs"
    return f"{answer:,} is not it: work out the new in_features (128 channels x 7 x 7), then weights + biases"
# --- 10_model_visualisation.ipynb: end


# --- 11_overfit_then_regularise.ipynb: begin
@register("11.1", notebook="11_overfit_then_regularise.ipynb", title="One step of weight decay", stars=1,
          points=1, kind=(int, float), solution=0.5 * (1 - 3e-3 * 1.0),
          explanation="AdamW multiplies each weight by (1 - lr x weight_decay) = 0.997 at every step, before "
                      "Adam's own move (zero here).",
          wrong=[Wrong(0.5, "shrinks"), Wrong(0.0, "learning rate"), Wrong(0.497, "in proportion"),
                 Wrong(0.5 * (1 - 3e-3 * 0.01), "0.01"), Wrong(0.5 * 0.9, "0.9")])
def _decay_step(answer):
    if abs(answer - 0.4985) < 1e-6:
        return None
    if abs(answer - 0.5) < 1e-9:
        return "the gradient is zero, so Adam's own move is zero; but the decay still shrinks the weight"
    if abs(answer) < 1e-9:
        return "the decay is scaled by the learning rate: w x (1 - lr x weight_decay), not w x (1 - weight_decay)"
    if abs(answer - 0.497) < 1e-6:
        return ("0.497 subtracts lr x weight_decay, or is Adam(weight_decay=1.0)'s step; AdamW's decay shrinks "
                "the weight in proportion to it: w x (1 - lr x weight_decay)")
    if abs(answer - 0.5 * (1 - 3e-3 * 0.01)) < 1e-9:
        return "0.01 is AdamW's default weight_decay; this optimizer was given weight_decay=1.0"
    if abs(answer - 0.45) < 1e-9:
        return "0.9 is Adam's beta1, the momentum of the running average: it plays no part in the decay"
    return f"{answer!r} is not it: AdamW first multiplies w by (1 - lr x weight_decay)"


_SELECTED = ("B", 4)


@register("11.2", notebook="11_overfit_then_regularise.ipynb", title="Choose the run and the epoch", stars=1,
          points=1, kind=(tuple, list), solution=("B", 4),
          explanation="B reaches the best validation accuracy, at epoch 4; the test column plays no part.",
          wrong=[Wrong(("C", 4), "test"), Wrong(("A", 5), "training"), Wrong(("B", 5), "last epoch"),
                 Wrong(("B", 3), "count from 1"), Wrong(("B",), "(run, epoch)"), Wrong((4, "B"), "run first")])
def _choose_on_validation(answer):
    if len(answer) != 2:
        return f"expected a pair (run, epoch), such as ('A', 2): got {describe(answer)}"
    run, epoch = answer
    if isinstance(run, int) and isinstance(epoch, str):
        return "give the run first, then the epoch: ('A', 2)"
    if not isinstance(run, str) or not isinstance(epoch, int) or isinstance(epoch, bool):
        return f"expected ('A', 2): a run's letter as a string, then an epoch number: got {describe(answer)}"
    run = run.strip().upper()
    if (run, epoch) == _SELECTED:
        return None
    if run == "C":
        return "C has the best test accuracy: choosing on the test score turns the test set into a validation set"
    if run == "A":
        return "A has the best training accuracy, which rewards memorising: choose on validation accuracy"
    if run == "B" and epoch == 5:
        return "the last epoch is not the best one: keep the epoch with the best validation accuracy (early stopping)"
    if run == "B" and epoch == 3:
        return "epochs count from 1: the list's index 3 is epoch 4"
    return f"{describe(answer)} is not it: the highest number in val_acc, and the epoch where it was reached"


_OVERFITTING = {"P", "S"}


@register("11.3", notebook="11_overfit_then_regularise.ipynb", title="Which runs overfit?", stars=2, points=2,
          kind=(set, frozenset, list, tuple), solution={"P", "S"},
          explanation="In P and S the validation loss turns up while the training loss keeps falling; Q is "
                      "still learning, R underfits.",
          wrong=[Wrong({"P"}, "S"), Wrong({"S"}, "P:"), Wrong({"P", "Q", "S"}, "still learning"),
                 Wrong({"P", "R", "S"}, "underfit"), Wrong({"R"}, "underfit"), Wrong(set(), "overfit"),
                 Wrong(["p", 1], "as strings")])
def _which_overfit(answer):
    letters = _letter_set(answer, upper=True)
    if isinstance(letters, str):
        return letters
    if letters - set("PQRS"):
        return f"{sorted(letters - set('PQRS'))} is not one of the runs P, Q, R, S"
    if letters == _OVERFITTING:
        return None
    if "R" in letters:
        return ("R does not even fit its training data (both losses stay high and flat): that is underfitting, "
                "the opposite problem (it needs a bigger model or more training)")
    if "Q" in letters:
        return "Q is still learning: both losses fall together with a small gap; train it longer"
    if not letters:
        return "two of the runs overfit: look for a validation loss that turns up while the training loss falls"
    if "S" not in letters:
        return ("S overfits too: its validation loss is lowest at epoch 3 and climbs after it while the training "
                "loss keeps falling, even though the training loss never reaches zero")
    return "P: validation loss lowest at epoch 5, then climbing while the training loss falls towards zero"


_DECAY_FACTOR = (1 - 3e-3 * 1.0) ** (15 * 13)


@register("11.4", notebook="11_overfit_then_regularise.ipynb", title="Weight decay over a whole run", stars=3,
          points=3, kind=(int, float), solution=_DECAY_FACTOR,
          explanation="15 epochs x 13 batches (the last one of 16 images) = 195 steps, each multiplying by 0.997.",
          wrong=[Wrong((1 - 3e-3) ** 15, "per batch"), Wrong((1 - 3e-3) ** 180, "last, smaller batch"),
                 Wrong(1 - 3e-3 * 195, "compounds"), Wrong((1 - 3e-3 * 0.01) ** 195, "0.01"),
                 Wrong(0.0, "learning rate"), Wrong(0.997, "one step"), Wrong(1 / _DECAY_FACTOR, "below 1"),
                 Wrong(1 - _DECAY_FACTOR, "fraction lost")])
def _decay_over_run(answer):
    def near(value):
        return abs(answer - value) <= 1e-4 * abs(value) + 1e-12

    if near(_DECAY_FACTOR):
        return None
    if near(1 / _DECAY_FACTOR):
        return "that is how many times smaller the weight gets: give what it is multiplied by (below 1)"
    if near(1 - _DECAY_FACTOR):
        return "that is the fraction lost: give the fraction kept, what the weight is multiplied by"
    if near((1 - 3e-3) ** 15):
        return "that is one step per epoch: the optimizer steps once per batch, 13 batches an epoch"
    if near((1 - 3e-3) ** 180):
        return ("180 steps drops the last, smaller batch: 400 images in batches of 32 make 13 batches "
                "(12 of 32, 1 of 16)")
    if near(1 - 3e-3 * 195):
        return "the decay compounds: each step multiplies by 0.997, so 195 steps multiply by 0.997 ** 195"
    if near((1 - 3e-3 * 0.01) ** 195):
        return "0.01 is AdamW's default; the run used WEIGHT_DECAY = 1.0"
    if abs(answer) < 1e-12:
        return "the decay is scaled by the learning rate: each step multiplies by 1 - lr x weight_decay, not 1 - 1.0"
    if near(0.997):
        return "0.997 is one step: the run makes 15 epochs x 13 batches of steps"
    return f"{answer!r} is not it: (1 - LR x WEIGHT_DECAY) to the power of the number of optimizer steps"
# --- 11_overfit_then_regularise.ipynb: end


# --- 12_training_faster.ipynb: begin
_EX12_NB = "12_training_faster.ipynb"


def _ex12_ints(value: Any) -> list[int] | None:
    if isinstance(value, (list, tuple)) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return list(value)  # a torch.Size is a tuple
    return None


@register("12.1", notebook=_EX12_NB, title="The strides of a channels_last batch", stars=1, points=1,
          solution=(60, 1, 15, 3),
          explanation="(C*H*W, 1, W*C, C) = (60, 1, 15, 3): one pixel's 3 channels lie side by side, a row of "
                      "5 pixels takes 15 numbers.",
          wrong=[Wrong((60, 20, 5, 1), "NCHW"), Wrong((60, 15, 3, 1), "order (N, C, H, W)"),
                 Wrong((60, 1, 3, 15), "height and width"), Wrong((60, 1, 12, 3), "a row"),
                 Wrong((1, 15, 3), "four strides"), Wrong("60, 1, 15, 3", "four strides")])
def _ex12_strides(answer):
    strides = _ex12_ints(answer)
    if strides is None or len(strides) != 4:
        return f"give four strides, one per dimension (N, C, H, W), as a tuple of ints; got {describe(answer)}"
    import torch

    expected = list(torch.empty(2, 3, 4, 5).contiguous(memory_format=torch.channels_last).stride())
    if strides == expected:
        return None
    if strides == [60, 20, 5, 1]:
        return ("(60, 20, 5, 1) are the NCHW strides, the default layout: in channels_last the channels come last "
                "in memory")
    if strides == [60, 15, 3, 1]:
        return ("(60, 15, 3, 1) lists the strides in memory order (N, H, W, C); the tensor keeps its shape, so "
                "give them in the order (N, C, H, W)")
    if strides == [60, 1, 3, 15]:
        return "height and width are swapped: one step down a row skips a whole row of W=5 pixels of C=3 channels"
    if strides[2] == 12:
        return "the step to the next row skips a row of W=5 pixels, each with C=3 channels: W*C, not H*C"
    return f"{tuple(strides)} is not it: in memory the channels of a pixel lie side by side, then the pixels of a row"


_EX12_CHANGES = ("fused Adam", "channels_last", "bf16 autocast", "in-memory batches", "freed memory kept",
                 "pooling gradients in channels_last")
_EX12_EXACT = {"in-memory batches", "freed memory kept", "pooling gradients in channels_last"}
_EX12_WHY = {
    "fused Adam": "fused Adam does Adam's arithmetic in another order: section 1 found the weights equal within "
                  "1e-6, not bit for bit",
    "channels_last": "channels_last keeps every value of the tensors, but the convolution routine then adds its "
                     "products in another order: section 2 compared the logits within 1e-4",
    "bf16 autocast": "bf16 autocast rounds inputs to bf16 (2-3 digits): section 3 found logits that move, by "
                     "under 2% of the largest",
    "in-memory batches": "in-memory batches give the very batches of the DataLoader: section 4 found them equal "
                         "bit for bit",
    "freed memory kept": "keeping freed memory changes where the memory comes from, never a number computed in it",
    "pooling gradients in channels_last": "the pooling hook changes only the layout of a gradient, not its values",
}


@register("12.2", notebook=_EX12_NB, title="Exact, or within a tolerance?", stars=2, points=2,
          solution=set(_EX12_EXACT),
          explanation="The other three change the order or the precision of the arithmetic, so they agree only "
                      "within a tolerance.",
          wrong=[Wrong(set(_EX12_EXACT) | {"fused Adam"}, "another order"),
                 Wrong(set(_EX12_EXACT) | {"channels_last"}, "within 1e-4"),
                 Wrong(set(_EX12_EXACT) | {"bf16 autocast"}, "rounds inputs"),
                 Wrong({"freed memory kept", "pooling gradients in channels_last"}, "bit for bit"),
                 Wrong({"in-memory batches", "pooling gradients in channels_last"}, "where the memory comes from"),
                 Wrong({"in-memory batches", "freed memory kept"}, "only the layout"),
                 Wrong({"in-memory batches", "freed memory", "pooling"}, "not one of the names"),
                 Wrong("in-memory batches", "a set of names")])
def _ex12_exact(answer):
    if not isinstance(answer, (set, frozenset, list, tuple)) or not all(isinstance(v, str) for v in answer):
        return f"give a set of names from `changes`, such as {{'fused Adam'}}; got {describe(answer)}"
    known = {name.lower(): name for name in _EX12_CHANGES}
    chosen = set()
    for name in answer:
        if " ".join(name.split()).lower() not in known:
            return f"{name!r} is not one of the names in `changes`: copy them as they are written there"
        chosen.add(known[" ".join(name.split()).lower()])
    for name in _EX12_CHANGES:
        if name in chosen and name not in _EX12_EXACT:
            return f"not {name!r}: {_EX12_WHY[name]}"
    for name in _EX12_CHANGES:
        if name in _EX12_EXACT and name not in chosen:
            return f"{name!r} is missing: {_EX12_WHY[name]}"
    return None


_EX12_MACHINES = ("Intel Xeon, Sapphire Rapids", "AMD EPYC, Zen 4", "Intel Xeon, Skylake", "a laptop, AVX2 only",
                  "made up: AMX for int8 only")
_EX12_BF16 = {"Intel Xeon, Sapphire Rapids": (True, "amx_bf16 (and avx512_bf16) multiply bf16 natively"),
              "AMD EPYC, Zen 4": (True, "avx512_bf16 multiplies bf16 natively: the CPU of benchmarks/README.md"),
              "Intel Xeon, Skylake": (False, "avx512f is AVX-512 for float32: without avx512_bf16 or amx_bf16 the "
                                             "CPU emulates bf16, slower than float32"),
              "a laptop, AVX2 only": (False, "no bf16 flag at all: bf16 would be emulated"),
              "made up: AMX for int8 only": (False, "amx_int8 multiplies int8, not bf16: the fast path looks for "
                                                    "amx_bf16")}


@register("12.3", notebook=_EX12_NB, title="Which CPUs get bf16 autocast?", stars=1, points=1,
          solution={name: value for name, (value, _) in _EX12_BF16.items()},
          explanation="bf16 autocast only where amx_bf16 or avx512_bf16 is among the flags "
                      "(mnistlab.fast.BF16_CPU_FLAGS).",
          wrong=[Wrong({name: True for name in _EX12_MACHINES}, "Skylake"),
                 Wrong({**{name: False for name in _EX12_MACHINES}, "Intel Xeon, Sapphire Rapids": True},
                       "Zen 4"),
                 Wrong({name: value for name, (value, _) in _EX12_BF16.items()} | {"made up: AMX for int8 only": True},
                       "int8"),
                 Wrong({name: not value for name, (value, _) in _EX12_BF16.items()}, "Sapphire Rapids"),
                 Wrong({"AMD EPYC, Zen 4": True}, "missing"), Wrong([True, True, False, False, False], "a dict"),
                 Wrong({name: 1 for name in _EX12_MACHINES}, "True or False")])
def _ex12_bf16(answer):
    if not isinstance(answer, dict):
        return (f"give a dict {{machine name: True or False}}, one entry per machine in `machines`; "
                f"got {describe(answer)}")
    missing = [name for name in _EX12_MACHINES if name not in answer]
    if missing:
        return f"{missing[0]!r} is missing: give True or False for each of the {len(_EX12_MACHINES)} machines"
    extra = [name for name in answer if name not in _EX12_BF16]
    if extra:
        return f"{extra[0]!r} is not a machine of `machines`: use their names as keys"
    from mnistlab.fast import BF16_CPU_FLAGS  # what the course's fast path goes by

    assert set(BF16_CPU_FLAGS) == {"amx_bf16", "avx512_bf16"}, "the exercise's machines need updating"
    for name in _EX12_MACHINES:
        value = answer[name]
        if not isinstance(value, bool):
            return f"{name}: give True or False, got {describe(value)}"
        expected, why = _EX12_BF16[name]
        if value != expected:
            return f"{name}: {'on' if expected else 'off'}, since {why}"
    return None


def _ex12_split(batch_size, world_size):
    return batch_size // world_size


def _ex12_true_division(batch_size, world_size):
    return batch_size / world_size


def _ex12_whole_batch(batch_size, world_size):
    return batch_size


def _ex12_times(batch_size, world_size):
    return batch_size * world_size


def _ex12_wrong_error(batch_size, world_size):
    assert batch_size % world_size == 0, "does not divide"
    return batch_size // world_size


def _ex12_solution(batch_size, world_size):
    if batch_size % world_size != 0:
        raise ValueError(f"batch_size {batch_size} does not divide evenly over {world_size} processes")
    return batch_size // world_size


@register("12.4", notebook=_EX12_NB, title="Split the global batch over torchrun's ranks", stars=2, points=2,
          solution=_ex12_solution,
          explanation="250 = 3 x 83 + 1: 83 images per rank would train on 249 per step and 84 on 252, never "
                      "the 250 asked for, so fit refuses it.",
          wrong=[Wrong(_ex12_split, "249"), Wrong(_ex12_true_division, "whole number"),
                 Wrong(_ex12_whole_batch, "whole global batch"), Wrong(_ex12_times, "split"),
                 Wrong(_ex12_wrong_error, "ValueError"), Wrong(_stub, "not done yet"),
                 Wrong(32, "expected a function")])
def _ex12_rank_batch(answer):
    if not callable(answer):
        return f"expected a function per_rank_batch(batch_size, world_size), got {describe(answer)}"
    for batch_size, world_size, expected in ((64, 2, 32), (256, 4, 64), (64, 1, 64), (250, 2, 125)):
        call = f"per_rank_batch({batch_size}, {world_size})"
        got = answer(batch_size, world_size)
        if got is None:
            raise NotDoneYet(f"{call} returned None: replace the `pass` with your code")
        if isinstance(got, float) and not isinstance(got, bool):
            return f"{call} returned {got!r}, a float: a batch is a whole number of images, use // (or raise)"
        if got == expected:
            continue
        if got == batch_size:
            return (f"{call} returned {got}: every rank would take the whole global batch, {world_size} times as "
                    "many images per step; each rank takes its share")
        if got == batch_size * world_size:
            return f"{call} returned {got}: the global batch is split over the ranks, not multiplied"
        return f"{call} returned {got!r}, expected {expected}: each rank takes batch_size // world_size images"
    for batch_size, world_size in ((250, 3), (64, 3)):
        call = f"per_rank_batch({batch_size}, {world_size})"
        try:
            got = answer(batch_size, world_size)
        except ValueError:
            continue
        except Exception as exc:
            return f"{call} raised {type(exc).__name__}: raise ValueError, as fit does"
        share = batch_size // world_size
        return (f"{call} returned {got!r}: {world_size} ranks x {share} = {world_size * share} images per step, "
                f"not {batch_size}; a batch that does not divide evenly must be refused (raise ValueError)")
    return None
# --- 12_training_faster.ipynb: end
