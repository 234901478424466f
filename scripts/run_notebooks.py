"""Re-execute notebooks in place, each in a fresh kernel, as `make notebooks` does.

Usage: python scripts/run_notebooks.py notebooks/01_cpu_vs_gpu.ipynb [...]

Cells run with the notebook's folder as working directory, so outputs match what
nbval sees. Execution counts come out as 1, 2, 3, ... The run time of each notebook
is printed (the README's course map quotes these figures).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def run(path: Path, timeout: int = 900) -> float:
    """Execute one notebook in place; return its wall time in seconds."""
    nb = nbformat.read(path, as_version=4)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
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
        seconds = run(path)
        print(f"{path.name}: {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
