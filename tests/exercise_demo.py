"""A demo exercise set for the tests only (never the course's): two exercises of a synthetic notebook
``90_demo.ipynb``, and the notebooks built from them.

Notebook kernels find this module through the first cell of the synthetic notebook, which puts tests/
on ``sys.path`` and takes ``check`` from here (the course's notebooks take it from ``mnistlab.exercises``).
"""

from __future__ import annotations

from pathlib import Path

from mnistlab.exercises import Registry, Wrong, exercise_cells

TESTS = Path(__file__).resolve().parent
NOTEBOOK = "90_demo.ipynb"
OTHER = "91_other.ipynb"

DEMO = Registry()
check = DEMO.check


@DEMO.register("90.1", notebook=NOTEBOOK, title="The width of a digit grid", stars=1, points=1, kind=int,
               solution=302, explanation="302 = 2 + 10 x (28 + 2): a 2-pixel border, then each digit and its border.",
               wrong=[Wrong(280, "forgot the padding"), Wrong(300, "left border"), Wrong(3020, "one row"),
                      Wrong("302", "expected int, got str")])
def _grid_width(answer):
    if answer == 302:
        return None
    if answer == 280:
        return "280 = 10 x 28: you forgot the padding (2 pixels around each digit)"
    if answer == 300:
        return "300 = 10 x (28 + 2): make_grid also pads the left border once more"
    if answer == 3020:
        return "3020 is ten rows' width: nrow=10 puts 10 digits in one row"
    return f"{answer} is not it: count pixels along one row (10 digits, 28 pixels, padding 2)"


def _mean_loss(answer):
    if not callable(answer):
        return f"expected a function average(losses), got {type(answer).__name__}"
    result = answer([2.0, 4.0])
    if result is None:
        from mnistlab.exercises import NotDoneYet

        raise NotDoneYet("average(...) still returns None: replace the `pass` with your code")
    if result == 3.0:
        return None
    if result == 3.0 / 64:
        return "your loss is 64x too small: did you divide by the number of images instead of the number of batches?"
    return f"average([2.0, 4.0]) gave {result!r}, expected 3.0: the mean of the batch losses"


def _wrong_average(losses):
    return sum(losses) / (len(losses) * 64)


def _stub_average(losses):
    pass


DEMO.register("90.2", notebook=NOTEBOOK, title="Average the loss over batches", stars=2, points=2,
              solution=lambda losses: sum(losses) / len(losses),
              wrong=[Wrong(_wrong_average, "64x too small"), Wrong(_stub_average, "not done yet"),
                     Wrong(3.0, "expected a function"), Wrong(lambda losses: 1 / 0, "ZeroDivisionError")])(_mean_loss)

SETUP = f"""import sys

sys.path.insert(0, {str(TESTS)!r})
from exercise_demo import check

pixels = 28"""

SOLUTION_1 = "answer = 2 + 10 * (pixels + 2)"
SOLUTION_2 = "    return sum(losses) / len(losses)"


def _with_output(cell, text: str):
    import nbformat

    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
    cell.execution_count = 1
    return cell


def source_notebook():
    """The teacher's 90_demo.ipynb: a lesson with an output, then exercises 90.1 and 90.2 (with outputs)."""
    import nbformat  # here, not at the top: the notebooks' kernels import this module for check()

    nb = nbformat.v4.new_notebook()
    one = exercise_cells(DEMO["90.1"], "How wide is `make_grid(batch, nrow=10)` for 28-pixel digits?",
                         SOLUTION_1, hidden_tests="assert answer == 302")
    two = exercise_cells(DEMO["90.2"], "Write `average(losses)`: the epoch's loss from the batch losses.",
                         SOLUTION_2, stub='def average(losses):\n    """The mean of the batch losses."""',
                         answer="average", hidden_tests="assert average([1.0]) == 1.0")
    _with_output(one[2], "✓ 90.1: correct.\n")
    _with_output(two[2], "✓ 90.2: correct.\n")
    nb.cells = [nbformat.v4.new_markdown_cell("# 90 · A demo lesson"), nbformat.v4.new_code_cell(SETUP),
                _with_output(nbformat.v4.new_code_cell('print("lesson output")'), "lesson output\n"),
                nbformat.v4.new_markdown_cell("## Exercises (练习)"), *one, *two]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    return nb


def other_notebook():
    """91_other.ipynb: a lesson without exercises."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 91 · Another lesson"), nbformat.v4.new_code_cell("x = 1")]
    return nb


def write_sources(folder: Path) -> Path:
    """A source folder holding 90_demo.ipynb and 91_other.ipynb; returns it."""
    import nbformat

    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(source_notebook(), folder / NOTEBOOK)
    nbformat.write(other_notebook(), folder / OTHER)
    return folder
