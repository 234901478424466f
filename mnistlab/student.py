"""Student copies of the notebooks: ``python -m mnistlab student --out student`` (``make student``).

Each notebook of the source folder (``notebooks/``: the teacher's version, run with its solutions) is
written to the output folder with

* each solution region (``### BEGIN SOLUTION`` ... ``### END SOLUTION``) replaced by ``# YOUR CODE HERE``
  (``pass  # YOUR CODE HERE`` when the region is indented), the lines around it kept, so the
  ``answer = ...`` line above it is what the student starts from;
* the hidden tests (``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS``) removed;
* the outputs and execution counts of the exercise cells cleared, the lesson's outputs kept;
* the question and check cells read-only and undeletable in JupyterLab (``editable``, ``deletable``), the
  solution cells undeletable, as nbgrader marks locked cells.

So Run All of a fresh copy goes to the end: every unsolved exercise's check says it is not done yet.
A notebook whose exercises break the layout (``mnistlab.exercises.layout_problems``: a marker without
its pair could leak a solution) is not written. A copy already in the output folder that was changed
since it was written (a student's work) is kept unless ``--force``; an untouched one is rewritten.

Why not nbgrader's ``generate_assignment``: it adds nbgrader, notebook, SQLAlchemy and alembic to the
course's packages, a gradebook database and nbgrader's folder layout, and its default stub raises
``NotImplementedError``, which stops Run All at the first exercise. This module reads the same markers
and metadata with nothing but nbformat, offline; a teacher who runs nbgrader can still take the notebooks
as they are (see ``mnistlab.exercises`` for the one setting that keeps its copies running to the end).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import sys
from pathlib import Path

from .exercises import MARKER, exercise_role, layout_problems, source_of
from .files import atomic_file

__all__ = ["add_arguments", "command", "remove_hidden_tests", "remove_solutions", "student_notebook",
           "write_student_copies"]

STUB = "# YOUR CODE HERE"
BLOCK_STUB = "pass  # YOUR CODE HERE"  # inside a function or loop, a comment alone is not a body


def _replace_regions(source: str, kind: str, stub: bool) -> str:
    """``source`` with each ``kind`` region (markers included) removed, or replaced by the stub."""
    lines, kept, inside = source.split("\n"), [], False
    for line in lines:
        match = MARKER.fullmatch(line)
        if match and match.group(2) == kind:
            inside = match.group(1) == "BEGIN"
            if inside and stub:
                indent = line[: len(line) - len(line.lstrip())]
                kept.append(indent + (BLOCK_STUB if indent else STUB))
        elif not inside:
            kept.append(line)
    return "\n".join(kept)


def remove_solutions(source: str) -> str:
    """A solution cell's code as the student gets it: each solution region becomes the stub."""
    return _replace_regions(source, "SOLUTION", stub=True)


def remove_hidden_tests(source: str) -> str:
    """A check cell's code as the student gets it: the hidden tests are gone.

    When the cell then ends with the ``check(...)`` call, a ``;`` is added, so Jupyter shows the check's
    line and not also its return value (``True``/``False``) under it.
    """
    source = _replace_regions(source, "HIDDEN TESTS", stub=False).rstrip("\n")
    last = source.rsplit("\n", 1)[-1]
    if last.startswith("check(") and last.rstrip().endswith(")"):
        source = source.rstrip() + ";"
    return source


def student_notebook(nb):
    """The student copy of a notebook (a new NotebookNode; ``nb`` is left as it was)."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        found = exercise_role(cell)
        if found is None:
            continue
        role = found[1]
        if role == "solution":
            cell.source = remove_solutions(source_of(cell))
        elif role == "check":
            cell.source = remove_hidden_tests(source_of(cell))
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell.metadata.pop("execution", None)
        cell.metadata["deletable"] = False
        if role != "solution":
            cell.metadata["editable"] = False
    return nb


def _cells_digest(cells) -> str:
    return hashlib.sha256(json.dumps(cells, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def _untouched(path: Path) -> bool:
    """True when the copy at ``path`` is as this module wrote it (its cells match the digest it carries)."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
        stamp = nb["metadata"]["mnistlab"]["student_copy"]["cells_sha256"]
        return _cells_digest(nb["cells"]) == stamp
    except (OSError, ValueError, KeyError, TypeError):
        return False


def write_student_copies(source: Path, out: Path, force: bool = False) -> tuple[list[str], bool]:
    """Write the student copy of every notebook in ``source`` into ``out``.

    Returns (one report line per notebook, whether every notebook was fine); raises ValueError when
    ``out`` is the source folder.
    """
    import nbformat

    source, out = Path(source), Path(out)
    if out.resolve() == source.resolve():
        raise ValueError(f"--out {out} is the source folder: the student copies would replace the solutions")
    lines, ok = [], True
    paths = sorted(path for path in source.glob("*.ipynb") if not path.name.startswith("."))
    for path in paths:
        target = out / path.name
        nb = nbformat.read(path, as_version=4)
        problems = layout_problems(nb)
        if problems:
            ok = False
            lines.append(f"{path}: not written, its exercises break the layout: " + "; ".join(problems))
            continue
        copy_nb = student_notebook(nb)
        copy_nb.metadata.setdefault("mnistlab", {})["student_copy"] = {
            "source": path.name, "cells_sha256": _cells_digest(json.loads(nbformat.writes(copy_nb))["cells"])}
        text = nbformat.writes(copy_nb) + "\n"
        exercises = sum(1 for cell in nb.cells if (exercise_role(cell) or ("", ""))[1] == "solution")
        if target.exists() and target.read_text(encoding="utf-8") == text:
            lines.append(f"{target}: unchanged")
            continue
        if target.exists() and not force and not _untouched(target):
            lines.append(f"{target}: kept, it was changed after it was written (a student's work?); "
                         "delete it or use --force to replace it")
            continue
        with atomic_file(target) as fh:
            fh.write(text.encode("utf-8"))
        lines.append(f"{target}: written ({exercises} exercise{'' if exercises == 1 else 's'})")
    if not paths:
        ok = False
        lines.append(f"{source}: no notebooks here")
    return lines, ok


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", type=Path, default=Path("notebooks"),
                        help="the teacher's notebooks, with solutions (default: notebooks)")
    parser.add_argument("--out", type=Path, default=Path("student"), help="where to write the copies "
                        "(default: student)")
    parser.add_argument("--force", action="store_true", help="replace copies that were changed after they "
                        "were written")


def command(args: argparse.Namespace) -> int:
    """``python -m mnistlab student``: 0 when every notebook was written (or was up to date), else 1."""
    try:
        lines, ok = write_student_copies(args.source, args.out, force=args.force)
    except (ValueError, OSError) as exc:
        print(f"mnistlab student: error: {exc}", file=sys.stderr)
        return 2
    for line in lines:
        print(line)
    return 0 if ok else 1
