"""Grading a class, offline: ``python -m mnistlab grade DIR --out grades.csv`` (``make grade SUBMISSIONS=DIR``).

``DIR`` holds one folder per student, with the notebooks handed in under their course names:
``DIR/alice/08_mnist_cnn.ipynb``. Every notebook name that some student handed in, and that has
exercises in the source folder (``notebooks/``, the teacher's versions), is graded for every student.

A submission is graded as its student left it, with the exercise cells that are not the student's to
change taken from the source, matched by nbgrader grade_id: each question cell, and each check cell with
its hidden tests (put where the student's check cell was, or right after the answer cell when it was
deleted or moved above it). Then it runs in a fresh kernel, in a temporary folder (nothing in ``DIR`` is
written), under a time limit for the whole notebook (``--timeout``), ``--jobs`` at a time, with
``MNISTLAB_GRADING=1`` so that a check that does not pass raises. An exercise gets its points when its
check cell runs without an error, as in nbgrader.

One CSV row per student, notebook and exercise: ``student, notebook, exercise, points, max_points,
status, message``. The status is one of

* ``passed``, ``wrong`` (the check or a hidden test failed), ``not done`` (still the stub), ``error``
  (the answer cell or the check raised something else; the kernel died), ``timeout`` (the run reached
  the limit before this check finished), each followed by notes when the student changed what was
  restored: ``; check edited``, ``; check deleted``, ``; cells reordered``;
* ``solution deleted`` (no answer cell with its grade_id: nothing to grade), ``invalid notebook`` (not
  JSON, not a notebook), ``wrong notebook`` (another notebook under this name), ``not submitted``;
* ``unknown notebook``: one row (no exercise, 0 of 0 points) for a file whose name is no source notebook's
  (``08_mnist_cnn (1).ipynb``): rename it and grade again.

The command always finishes: whatever one submission does, the others are graded, and the CSV and a
summary table (points per student and notebook) are written at the end. It is not a sandbox: students'
code runs with your rights, so grade in an account or container that holds nothing else of value.
"""

from __future__ import annotations

import argparse
import copy
import csv
import io
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from .exercises import (
    GRADING_ENV,
    ExerciseCells,
    exercise_grade_id,
    exercise_role,
    find_exercises,
    grade_id,
    layout_problems,
    source_of,
)
from .files import atomic_file
from .student import remove_hidden_tests

__all__ = ["COLUMNS", "Row", "add_arguments", "command", "grade", "summary", "write_csv"]

COLUMNS = ("student", "notebook", "exercise", "points", "max_points", "status", "message")
DEFAULT_TIMEOUT_S = 600  # per notebook: about ten times the slowest notebook's run on a 2-core laptop


@dataclass
class Row:
    student: str
    notebook: str
    exercise: str
    points: float
    max_points: float
    status: str
    message: str = ""


@dataclass
class Source:
    """A teacher's notebook: the cells to restore from, its exercises and its title line."""

    name: str
    nb: object
    exercises: list[ExerciseCells]
    title: str


@dataclass
class Job:
    """A submission ready to run: the notebook to execute and where its exercises' cells are in it."""

    student: str
    source: Source
    nb: object
    checks: dict[str, int] = field(default_factory=dict)
    answers: dict[str, int] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)  # exercises decided without running


def _title(nb) -> str:
    """The first markdown heading line of a notebook ("" if none)."""
    for cell in nb.get("cells", []):
        if isinstance(cell, dict) and cell.get("cell_type") == "markdown":
            for line in source_of(cell).split("\n"):
                if line.startswith("#"):
                    return line.strip()
    return ""


def load_sources(folder: Path) -> dict[str, Source]:
    """The teacher's notebooks in ``folder``, by file name; ValueError if one breaks the exercise layout."""
    import nbformat

    sources = {}
    for path in sorted(Path(folder).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        problems = layout_problems(nb)
        if problems:
            raise ValueError(f"{path}: its exercises break the layout: " + "; ".join(problems))
        sources[path.name] = Source(path.name, nb, find_exercises(nb), _title(nb))
    return sources


def find_submissions(folder: Path) -> dict[str, dict[str, Path]]:
    """{student: {notebook name: path}} for ``folder/<student>/<notebook>.ipynb``."""
    found = {}
    for student in sorted(p for p in Path(folder).iterdir() if p.is_dir() and not p.name.startswith(".")):
        found[student.name] = {p.name: p for p in sorted(student.glob("*.ipynb")) if not p.name.startswith(".")}
    return found


def _rows(student: str, source: Source, status: str, message: str) -> list[Row]:
    return [Row(student, source.name, e.id, 0, e.points, status, message) for e in source.exercises]


def _read(path: Path):
    """The submission as a NotebookNode, or the reason it is not a notebook (a str)."""
    import nbformat

    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return f"not valid JSON: {exc}"
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list) or not all(
            isinstance(c, dict) and c.get("cell_type") in ("code", "markdown", "raw") for c in data["cells"]):
        return "valid JSON, but not a notebook (no list of cells)"
    try:
        return nbformat.reads(text, as_version=4)
    except Exception as exc:  # nbformat's many reasons a notebook cannot be read
        return f"not a notebook nbformat can read: {type(exc).__name__}: {exc}"


def _ids(nb) -> set[str]:
    return {found[0] for found in map(exercise_role, nb.cells) if found}


def prepare(student: str, path: Path, source: Source, sources: dict[str, Source]) -> Job | list[Row]:
    """The notebook to run for one submission, or its rows when it cannot run (not a notebook, another one)."""
    nb = _read(path)
    if isinstance(nb, str):
        return _rows(student, source, "invalid notebook", nb)
    here, own, title = _ids(nb), {e.id for e in source.exercises}, _title(nb)
    if not here & own and (here or title != source.title):
        others = [s.name for s in sources.values() if here & {e.id for e in s.exercises}] or \
                 [s.name for s in sources.values() if title and s.title == title and s.name != source.name]
        if others:
            what = f"it is {others[0]}"
        elif here:
            what = f"its exercises are {', '.join(sorted(here))}, not {', '.join(sorted(own))}"
        else:
            what = f"its title is {title[:80]!r}" if title else "it has no title and none of its exercises"
        return _rows(student, source, "wrong notebook", f"this is not {source.name}: {what}")
    return _restore(student, nb, source)


def _restore(student: str, nb, source: Source) -> Job:
    """Put the source's question and check cells in place of the student's; note what the student changed.

    ``nb`` (read for this job alone) is changed in place and becomes the job's notebook.
    """
    first: dict[str, int] = {}
    for index, cell in enumerate(nb.cells):
        first.setdefault(grade_id(cell) or "", index)
    job = Job(student, source, None)
    check_at: dict[int, str] = {}  # student's cell index -> exercise whose check goes right there
    after: dict[int, str] = {}  # student's answer cell index -> exercise whose check follows it
    for e in source.exercises:
        answer, check = first.get(exercise_grade_id(e.id, "solution")), first.get(exercise_grade_id(e.id, "check"))
        notes = job.notes.setdefault(e.id, [])
        if answer is None:
            job.rows.append(Row(student, source.name, e.id, 0, e.points, "solution deleted",
                                "no answer cell with this exercise's grade_id: nothing to grade"))
            continue
        original = remove_hidden_tests(source_of(source.nb.cells[e.check])).strip()
        if check is None:
            notes.append("check deleted")
        elif source_of(nb.cells[check]).strip() != original:
            notes.append("check edited")
        if check is not None and check < answer:
            notes.append("cells reordered")
        if check is not None and check > answer:
            check_at[check] = e.id
        else:
            after[answer] = e.id
    restored = {exercise_grade_id(e.id, role): source.nb.cells[getattr(e, role)]
                for e in source.exercises for role in ("question", "check")}
    answers = {exercise_grade_id(e.id, "solution"): e for e in source.exercises}
    cells = []
    for index, cell in enumerate(nb.cells):
        gid = grade_id(cell) or ""
        if index in check_at:
            job.checks[check_at[index]] = len(cells)
            cells.append(copy.deepcopy(restored[gid]))
        elif gid in restored:
            if gid.endswith("-question") and first[gid] == index:
                cells.append(copy.deepcopy(restored[gid]))
            continue  # the student's check cells (and copies of restored cells) are replaced
        elif gid in answers and first[gid] == index:
            e = answers[gid]
            cell.metadata["nbgrader"] = copy.deepcopy(source.nb.cells[e.solution].metadata["nbgrader"])
            job.answers[e.id] = len(cells)
            cells.append(cell)
        else:
            cell.metadata.pop("nbgrader", None)  # a copy of an answer cell, or a lesson cell: the student's
            cells.append(cell)
        if index in after:
            job.checks[after[index]] = len(cells)
            cells.append(copy.deepcopy(restored[exercise_grade_id(after[index], "check")]))
    for cell in cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.cells = cells  # nb was read for this job alone: it becomes the notebook to run
    job.nb = nb
    job.nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    return job


def _first_line(text: str, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _stdout(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def _error(cell):
    return next((o for o in cell.get("outputs", []) if o.get("output_type") == "error"), None)


def _verdict(job: Job, exercise_id: str) -> tuple[str, str]:
    """(status, message) of an exercise whose check cell ran."""
    answer_error = _error(job.nb.cells[job.answers[exercise_id]])
    error = _error(job.nb.cells[job.checks[exercise_id]])
    if error is None:
        lines = [line for line in _stdout(job.nb.cells[job.checks[exercise_id]]).split("\n") if line.strip()]
        return "passed", _first_line(next((line for line in lines if line.startswith("✓")), "ran without an error"))
    name, value = error.get("ename", "Error"), error.get("evalue", "")
    if answer_error is not None and answer_error.get("ename") not in ("NotDoneYet", "WrongAnswer"):
        return "error", _first_line(f"the answer cell raised {answer_error.get('ename')}: "
                                    f"{answer_error.get('evalue', '')}")
    if name == "NotDoneYet":
        return "not done", _first_line(value)
    if name == "WrongAnswer":
        return "wrong", _first_line(value)
    if name == "AssertionError":
        return "wrong", _first_line(f"a hidden test failed{': ' + value if value else ''}")
    return "error", _first_line(f"the check raised {name}: {value}")


class _CutRunNoise(logging.Filter):
    """nbclient leaves an output-reading task pending when it stops a run at its limit; asyncio's complaint
    about it, at exit, says nothing the CSV does not."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Task was destroyed but it is pending")


def run(job: Job, timeout: float, threads: int = 1) -> list[Row]:
    """Execute a prepared submission in a fresh kernel in a temporary folder; its rows."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    asyncio_log = logging.getLogger("asyncio")
    if not any(isinstance(f, _CutRunNoise) for f in asyncio_log.filters):
        asyncio_log.addFilter(_CutRunNoise())

    state = {"deadline": None, "current": None}
    finished: set[int] = set()

    def on_start(cell, cell_index, **_):
        if state["deadline"] is None:
            state["deadline"] = time.monotonic() + timeout
        state["current"] = cell_index

    def on_executed(cell, cell_index, **_):
        finished.add(cell_index)

    def time_left(cell) -> float:
        return max(0.05, state["deadline"] - time.monotonic())

    env = dict(os.environ)
    env[GRADING_ENV] = "1"
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(name, str(threads))
    stopped = ""
    with tempfile.TemporaryDirectory(prefix="mnistlab-grade-", ignore_cleanup_errors=True) as folder:
        client = NotebookClient(job.nb, timeout=timeout, timeout_func=time_left, kernel_name="python3",
                                allow_errors=True, shutdown_kernel="immediate", record_timing=False,
                                shell_timeout_interval=1, on_cell_start=on_start, on_cell_executed=on_executed,
                                resources={"metadata": {"path": folder}})
        try:
            # the kernel's own stdout and stderr (its start-up warnings, C libraries) would cut into the bar
            client.execute(env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except CellTimeoutError:
            stopped = "timeout"
        except DeadKernelError:
            stopped = "kernel died"
        except Exception as exc:  # a kernel that would not start, a broken message: these rows say so
            stopped = f"{type(exc).__name__}: {_first_line(exc)}"
    where = ""
    if state["current"] is not None and stopped:
        code = source_of(job.nb.cells[state["current"]]).strip().split("\n", 1)[0]
        where = f" in cell {state['current'] + 1} ({_first_line(code, 60)!r})"
    rows = list(job.rows)
    for e in job.source.exercises:
        if e.id not in job.checks:
            continue
        if job.checks[e.id] in finished:
            status, message = _verdict(job, e.id)
        elif stopped == "timeout":
            status, message = "timeout", f"the notebook ran past the {timeout:g} s limit{where}"
        elif stopped:
            status, message = "error", f"the run stopped{where}: {stopped}"
        else:
            status, message = "error", "the check cell did not run"
        notes = job.notes.get(e.id, [])
        if notes:
            status = "; ".join([status, *notes])
            message += " (the check cell was restored from the source)"
        rows.append(Row(job.student, job.source.name, e.id, e.points if status.startswith("passed") else 0,
                        e.points, status, message))
    return rows


def grade(submissions: Path, source: Path = Path("notebooks"), timeout: float = DEFAULT_TIMEOUT_S, jobs: int = 2,
          progress: bool = True) -> list[Row]:
    """Grade every submission in ``submissions``; the rows, sorted by student, notebook and exercise."""
    from tqdm.auto import tqdm

    sources = load_sources(source)
    handed_in = find_submissions(submissions)
    names = sorted({name for files in handed_in.values() for name in files})
    graded = [name for name in names if name in sources and sources[name].exercises]
    rows: list[Row] = []
    todo: list[Job] = []
    for student, files in handed_in.items():
        rows += [Row(student, name, "", 0, 0, "unknown notebook", f"no {name} in {source}: hand it in under "
                     "the course's name to have it graded") for name in files if name not in sources]
        for name in graded:
            if name not in files:
                rows += _rows(student, sources[name], "not submitted", "")
                continue
            prepared = prepare(student, files[name], sources[name], sources)
            if isinstance(prepared, Job):
                todo.append(prepared)
            else:
                rows += prepared
    threads = max(1, (os.cpu_count() or 1) // max(1, jobs))
    with tqdm(total=len(todo), desc="grading", unit="notebook", file=sys.stderr, disable=not progress) as bar, \
            ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(run, job, timeout, threads): job for job in todo}
        for future in as_completed(futures):
            job = futures[future]
            try:
                rows += future.result()
            except Exception as exc:  # a fault of the grader itself: this submission's rows say so
                rows += _rows(job.student, job.source, "error", f"grading failed: {type(exc).__name__}: {exc}")
            bar.set_postfix_str(f"{job.student}/{job.source.name}", refresh=False)
            bar.update()
    order = {name: i for i, name in enumerate(sources)}
    return sorted(rows, key=lambda r: (r.student, order.get(r.notebook, len(order)), r.notebook,
                                       tuple(int(p) for p in r.exercise.split(".") if p.isdigit())))


def _number(value: float) -> str:
    return f"{value:g}"


def write_csv(rows: list[Row], path: Path) -> None:
    """The rows as CSV (UTF-8, a header line), written all or nothing."""
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(COLUMNS)
    for r in rows:
        writer.writerow([r.student, r.notebook, r.exercise, _number(r.points), _number(r.max_points), r.status,
                         r.message])
    with atomic_file(path) as fh:
        fh.write(text.getvalue().encode("utf-8"))


def summary(rows: list[Row]) -> str:
    """Points per student and notebook (``got/max``), a total column, and how many rows had each status."""
    notebooks = list(dict.fromkeys(r.notebook for r in rows if r.max_points > 0))  # not the unknown ones
    students = sorted({r.student for r in rows})
    got: Counter = Counter()
    most: Counter = Counter()
    for r in rows:
        got[r.student, r.notebook] += r.points
        most[r.student, r.notebook] += r.max_points
    table = [["student", *(name.removesuffix(".ipynb") for name in notebooks), "total"]]
    for student in students:
        cells = [f"{_number(got[student, n])}/{_number(most[student, n])}" for n in notebooks]
        total = sum(got[student, n] for n in notebooks), sum(most[student, n] for n in notebooks)
        table.append([student, *cells, f"{_number(total[0])}/{_number(total[1])}"])
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in table]
    statuses = Counter(r.status.split(";")[0] for r in rows)
    lines.append("exercises: " + ", ".join(f"{count} {status}" for status, count in statuses.most_common()))
    return "\n".join(lines)


def _positive(convert, what: str):
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not value > 0 or value == float("inf"):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("submissions", type=Path, metavar="DIR", help="one folder per student: "
                        "DIR/<student>/<notebook>.ipynb")
    parser.add_argument("--out", type=Path, default=Path("grades.csv"), help="the CSV to write (default: "
                        "grades.csv)")
    parser.add_argument("--source", type=Path, default=Path("notebooks"),
                        help="the teacher's notebooks, with the checks and hidden tests (default: notebooks)")
    parser.add_argument("--timeout", type=_positive(float, "a positive number of seconds"),
                        default=DEFAULT_TIMEOUT_S, help=f"seconds one notebook may run (default: "
                        f"{DEFAULT_TIMEOUT_S})")
    parser.add_argument("--jobs", type=_positive(int, "a positive integer"), default=2,
                        help="notebooks run at the same time (default: 2)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def command(args: argparse.Namespace) -> int:
    """``python -m mnistlab grade``: 0 once the CSV is written, 2 when there is nothing to grade."""
    problem = None
    if not args.submissions.is_dir():
        problem = f"{args.submissions}: no such folder (expected DIR/<student>/<notebook>.ipynb)"
    elif not args.source.is_dir():
        problem = f"--source {args.source}: no such folder"
    if problem is None:
        try:
            start = time.perf_counter()
            rows = grade(args.submissions, args.source, args.timeout, args.jobs, progress=not args.no_progress)
        except ValueError as exc:  # a source notebook that breaks the exercise layout
            problem = str(exc)
    if problem is None and not rows:
        problem = (f"{args.submissions}: nothing to grade (no DIR/<student>/<notebook>.ipynb whose notebook has "
                   f"exercises in {args.source})")
    if problem is not None:
        print(f"mnistlab grade: error: {problem}", file=sys.stderr)
        return 2
    write_csv(rows, args.out)
    print(summary(rows))
    print(f"{len(rows)} rows written to {args.out} in {time.perf_counter() - start:.0f} s")
    return 0
