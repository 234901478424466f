"""Re-execute notebooks in place, each in a fresh kernel, as `make notebooks` does.

Usage: python scripts/run_notebooks.py notebooks/01_cpu_vs_gpu.ipynb [...]

Cells run with the notebook's folder as working directory, so outputs match what
nbval sees. Execution counts come out as 1, 2, 3, ... The run time of each notebook
is printed (the README's course map quotes these figures). Notebooks run one at a time.

A notebook whose timings are committed checks its own run: a cell that finds the machine busy (say,
GFLOP/s falling at the larger sizes) prints a line starting with ``BUSY MACHINE:`` (in a cell marked
``# NBVAL_IGNORE_OUTPUT``, so a busy test machine does not fail nbval). Such a run is not saved: the
script says why and exits with status 1, and the committed outputs stay those of a quiet run.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

BUSY_MARK = "BUSY MACHINE:"


def busy_lines(nb: nbformat.NotebookNode) -> list[str]:
    """The lines of the notebook's outputs in which it found its own timings unreliable."""
    lines = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            text = output.get("text", "") if output.get("output_type") == "stream" else \
                output.get("data", {}).get("text/plain", "")
            lines += [line.strip() for line in str(text).splitlines() if line.strip().startswith(BUSY_MARK)]
    return lines


class BusyMachine(RuntimeError):
    """A notebook's own check found the machine too busy for its timings; the notebook was not saved."""


def run(path: Path, timeout: int = 900) -> float:
    """Execute one notebook in place; return its wall time in seconds (BusyMachine: not saved)."""
    nb = nbformat.read(path, as_version=4)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    busy = busy_lines(nb)
    if busy:
        raise BusyMachine(f"{path.name} was not saved, its timings were taken on a busy machine: {busy[0]} "
                          "Run it again when the machine is quiet.")
    for cell in nb.cells:  # execution timestamps only make diffs noisy
        cell.metadata.pop("execution", None)
    nbformat.write(nb, path)
    return seconds


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    for name in argv:
        path = Path(name)
        if not path.is_file():
            print(f"no such notebook: {name}")
            return 2
        try:
            seconds = run(path)
        except BusyMachine as exc:
            print(f"run_notebooks: {exc}")
            return 1
        print(f"{path.name}: {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
