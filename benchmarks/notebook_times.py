"""Each notebook's run time as a student gets it: a fresh kernel with its default threads, beside busy processes.

``make test`` pins one compute thread per worker, so it never sees what a student sees: JupyterLab starts
kernels with every core, and a laptop is rarely idle. This script executes the notebooks (copies, in a
temporary folder; the committed ones are not touched) in fresh kernels whose environment sets no
OMP_NUM_THREADS, while ``--busy`` other processes spin on the CPU, and prints one row per notebook.
A notebook that runs past ``--limit`` seconds is stopped and shown as ``>LIMIT``.

    .venv/bin/python benchmarks/notebook_times.py                         # every notebook, 1 busy process
    .venv/bin/python benchmarks/notebook_times.py --busy 0 notebooks/04*  # one notebook, quiet machine
    .venv/bin/python benchmarks/notebook_times.py --threads 2 --busy 1    # force 2 threads in the kernel

The last line sums the run times (notebooks stopped at the limit count as the limit).
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUNNER = """
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, timeout=None, kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}}).execute()
"""


def _spin(stop: multiprocessing.Event) -> None:
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x += 1


@contextlib.contextmanager
def busy_processes(count: int):
    """``count`` processes that each keep one core busy until the block ends."""
    stop = multiprocessing.Event()
    procs = [multiprocessing.Process(target=_spin, args=(stop,), daemon=True) for _ in range(count)]
    for proc in procs:
        proc.start()
    try:
        yield
    finally:
        stop.set()
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()


def run_notebook(path: Path, workdir: Path, limit: float, threads: int | None) -> float | None:
    """Seconds to execute a copy of ``path`` in a fresh kernel, or None when it ran past ``limit``."""
    copy = workdir / path.name
    shutil.copy(path, copy)
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", RUNNER, str(copy), str(workdir)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        _, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the runner and its kernel
        proc.wait()
        return None
    if proc.returncode != 0:
        raise RuntimeError(f"{path.name} failed:\n{err.decode(errors='replace')[-2000:]}")
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook in notebooks/")
    parser.add_argument("--busy", type=int, default=1, help="processes spinning on the CPU meanwhile (default 1)")
    parser.add_argument("--threads", type=int, default=None,
                        help="OMP_NUM_THREADS for the kernel (default: unset, the kernel's default)")
    parser.add_argument("--limit", type=float, default=300, help="seconds before a notebook is stopped")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    from mnistlab.device import describe

    facts = describe("cpu")
    print(f"cpu {facts['cpu']} ({facts['cpu features']}), {os.cpu_count()} cores, kernel threads "
          f"{args.threads or 'default'}, {args.busy} busy process(es), load {os.getloadavg()[0]:.1f}")
    total = 0.0
    with tempfile.TemporaryDirectory() as tmp, busy_processes(args.busy):
        workdir = Path(tmp)
        for src in (REPO / "notebooks").iterdir():  # data and helper files the notebooks read
            if src.is_file() and src.suffix != ".ipynb":
                shutil.copy(src, workdir / src.name)
        for path in notebooks:
            seconds = run_notebook(path.resolve(), workdir, args.limit, args.threads)
            total += args.limit if seconds is None else seconds
            shown = f">{args.limit:.0f}" if seconds is None else f"{seconds:.1f}"
            print(f"{path.name:42s} {shown:>7} s", flush=True)
    print(f"total: {total:.1f} s for {len(notebooks)} notebooks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
