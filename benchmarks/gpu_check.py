"""The course on a CUDA GPU: every notebook runs there and keeps its verdicts, then the GPU's figures.

Usage: python benchmarks/gpu_check.py [--data DATA_ROOT] [--skip-notebooks] [--skip-figures] [NOTEBOOK ...]

Needs a CUDA GPU: without one it prints one line saying so and exits with status 2 at once.
``--dry-run-on-cpu`` tries the notebook part on the CPU instead (``MNISTLAB_DEVICE=cpu``, no figures):
a check of the check, for a machine without a GPU.

1. **Notebooks.** Each notebook (a copy, in a temporary folder; the committed ones are not touched) runs in
   a fresh kernel (nbclient) with ``MNISTLAB_DEVICE=cuda``, one after the other. A notebook passes when
   its run has no error output, writes nothing to stderr, and every *verdict line* of the committed
   notebook holds: an output line of a compared cell (not ``# NBVAL_IGNORE_OUTPUT``) that ends in
   ``: True`` or ``: False``, such as ``... tensor by tensor: True``. The GPU run must print the same line
   in the same cell with the same verdict. Other outputs are not compared: ``make test`` compares them
   on the CPU (it sets ``MNISTLAB_DEVICE=cpu``), and GPU numbers differ from CPU numbers in the last digits.
2. **Figures** (need the full MNIST: ``--data``, else ``$MNISTLAB_DATA``, the project's ``data/`` or
   ``../shared/data``): matmul GFLOP/s in fp32 and bf16 at a few sizes against the GPU's peak
   (``GPU_PEAKS``; an unknown GPU gets its figures without a share); the seed's recipe against ``--fast``
   for one full-MNIST epoch (``benchmarks/throughput.py --device cuda``); time to 99% on the GPU
   (``benchmarks/time_to_accuracy.py --device cuda``).

Every part runs under a time limit (``LIMITS``: 230 s for the notebooks, 110 s for the epochs, 80 s for
time to 99%; the matmul sweep takes seconds), so the whole check ends within 8 minutes; a part stopped at
its limit counts as failed. The last line says whether everything held; the exit status is 0 when it
did, 1 when anything failed or was left out.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mnistlab.exercises import source_of

REPO = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent

#: Seconds each part may take. Notebooks: each at most ``notebook``, all together at most ``notebooks``.
LIMITS = {"notebook": 120, "notebooks": 230, "throughput": 110, "time_to_accuracy": 80}

NEEDS_GPU = "gpu_check needs a CUDA GPU"

#: Peak dense throughput in TFLOP/s, (fp32 on CUDA cores, bf16 on tensor cores with fp32 accumulation),
#: for the name ``torch.cuda.get_device_name()`` reports. Vendors often headline tensor figures "with
#: sparsity": those are halved here. fp32 matmuls in PyTorch use CUDA cores unless TF32 is switched on
#: (``torch.backends.cuda.matmul.allow_tf32``, off by default), so fp32 is compared with the fp32 peak.
#: None: the GPU has no bf16 tensor cores. Sources: the NVIDIA datasheets of H100 (SXM, PCIe, NVL), H200
#: (SXM, NVL), A100, L40S, L4 and T4, and the NVIDIA Ada Lovelace architecture whitepaper (RTX 4090).
#: The first entry whose every word is in the reported name wins, so the specific names come first.
GPU_PEAKS: tuple[tuple[str, float, float | None], ...] = (
    ("H200 NVL", 60.0, 835.0),
    ("H200", 67.0, 989.0),  # H200 SXM
    ("H100 PCIe", 51.0, 756.0),
    ("H100 NVL", 60.0, 835.0),
    ("H100", 67.0, 989.0),  # H100 SXM ("NVIDIA H100 80GB HBM3")
    ("A100", 19.5, 312.0),
    ("L40S", 91.6, 362.0),
    ("L4", 30.3, 121.0),
    ("T4", 8.1, None),
    ("RTX 4090", 82.6, 165.2),
)

#: An output line of a compared cell that states a verdict: "...: True" or "...: False".
VERDICT = re.compile(r"^(?P<claim>.*\S):\s+(?P<verdict>True|False)\s*$")
IGNORE_MARKS = ("NBVAL_IGNORE_OUTPUT", "NBVAL_SKIP")
IGNORE_TAGS = {"nbval-ignore-output", "nbval-skip"}

RUNNER = """
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
client = NotebookClient(nb, timeout=None, kernel_name="python3", allow_errors=True,
                        resources={"metadata": {"path": sys.argv[2]}})
try:
    client.execute()
finally:
    nbformat.write(nb, sys.argv[3])
"""


# ------------------------------------------------------------------ is there a GPU?


def no_gpu_reason(environ: dict | None = None) -> str | None:
    """Why this machine cannot run the check (one line), or None when torch sees a CUDA GPU.

    Cheap signs first, before importing torch (seconds): CUDA_VISIBLE_DEVICES hiding every GPU, or no
    NVIDIA driver (no ``/proc/driver/nvidia``, no ``/dev/nvidia0``, no ``nvidia-smi``).
    """
    environ = os.environ if environ is None else environ
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return f"{NEEDS_GPU}: CUDA_VISIBLE_DEVICES={visible!r} hides every GPU from this process"
    if not (Path("/proc/driver/nvidia").exists() or Path("/dev/nvidia0").exists() or shutil.which("nvidia-smi")):
        return f"{NEEDS_GPU}: this machine has no NVIDIA driver (no /proc/driver/nvidia, /dev/nvidia0 or nvidia-smi)"
    import torch

    if not torch.cuda.is_available():
        return (f"{NEEDS_GPU}: torch {torch.__version__} sees none (torch.cuda.is_available() is False; "
                f"a CPU-only build of torch, or a driver too old for its CUDA {torch.version.cuda})")
    return None


# ------------------------------------------------------------------ peaks


def gpu_peak(name: str) -> tuple[str, float, float | None] | None:
    """(table name, fp32 peak, bf16 peak) in TFLOP/s for a GPU name such as "NVIDIA H100 80GB HBM3", or None."""
    words_in = set(re.split(r"[\s\-_]+", name.upper()))
    for table_name, fp32, bf16 in GPU_PEAKS:
        if all(word in words_in for word in table_name.upper().split()):
            return table_name, fp32, bf16
    return None


# ------------------------------------------------------------------ verdict lines


def is_compared(cell) -> bool:
    """True for a code cell whose outputs nbval compares (no ignore/skip marker or tag)."""
    if cell.get("cell_type") != "code":
        return False
    source = source_of(cell)
    tags = set(cell.get("metadata", {}).get("tags", []))
    return not any(mark in source for mark in IGNORE_MARKS) and not tags & IGNORE_TAGS


def output_lines(cell) -> list[str]:
    """The text lines a code cell printed: stdout streams and the plain-text form of results and displays."""
    lines = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            if output.get("name") != "stdout":
                continue
            text = output.get("text", "")
        elif output.get("output_type") in ("execute_result", "display_data"):
            text = output.get("data", {}).get("text/plain", "")
        else:
            continue
        lines += ("".join(text) if isinstance(text, list) else text).splitlines()
    return lines


def verdict_lines(nb) -> dict[int, list[tuple[str, str]]]:
    """{cell index: [(claim, "True" or "False"), ...]} for the compared cells that state verdicts."""
    found = {}
    for index, cell in enumerate(nb.get("cells", [])):
        if not is_compared(cell):
            continue
        verdicts = [(m["claim"], m["verdict"]) for m in map(VERDICT.match, output_lines(cell)) if m]
        if verdicts:
            found[index] = verdicts
    return found


def _shape(claim: str) -> str:
    """A claim with its numbers masked, to pair lines whose figures differ on another device."""
    return re.sub(r"\d+(?:\.\d+)?(?:e[-+]?\d+)?", "#", claim)


def compare_verdicts(committed, executed) -> tuple[int, list[str]]:
    """(verdict lines that held, problems) for the executed notebook against the committed one.

    Lines are paired within the same cell: the same claim, else the same claim with its numbers masked,
    in order. A claim the run no longer prints, or prints with the other verdict, is a problem.
    """
    ran = executed.get("cells", [])
    held, problems = 0, []
    for index, expected in verdict_lines(committed).items():
        got = [(m["claim"], m["verdict"]) for m in map(VERDICT.match, output_lines(ran[index])) if m] \
            if index < len(ran) else []
        for claim, verdict in expected:
            match = next((i for i, (c, _) in enumerate(got) if c == claim), None)
            if match is None:
                match = next((i for i, (c, _) in enumerate(got) if _shape(c) == _shape(claim)), None)
            if match is None:
                problems.append(f"cell {index}: no longer prints {claim!r}: {verdict}")
                continue
            got_claim, got_verdict = got.pop(match)
            if got_verdict != verdict:
                problems.append(f"cell {index}: {got_claim!r}: {got_verdict} (committed: {verdict})")
            else:
                held += 1
    return held, problems


def output_problems(executed) -> list[str]:
    """Error outputs and anything written to stderr, one line each."""
    problems = []
    for index, cell in enumerate(executed.get("cells", [])):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                problems.append(f"cell {index}: {output.get('ename')}: {str(output.get('evalue'))[:300]}")
            elif output.get("output_type") == "stream" and output.get("name") == "stderr":
                text = output.get("text", "")
                text = "".join(text) if isinstance(text, list) else text
                problems.append(f"cell {index}: stderr: {text.strip()[:300]}")
    return problems


def check_notebook(committed, executed) -> tuple[int, list[str]]:
    """(verdict lines that held, every problem of one GPU run: errors, stderr, verdicts that no longer hold)."""
    held, problems = compare_verdicts(committed, executed)
    return held, output_problems(executed) + problems


# ------------------------------------------------------------------ running things


def _run(command: list[str], limit: float, env: dict | None = None) -> tuple[int | None, str]:
    """(exit status or None when stopped at ``limit``, stdout and stderr) of a command in its own session."""
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=max(limit, 1))
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the command and whatever it started (a kernel, workers)
        out, _ = proc.communicate()
        return None, out


def run_notebooks(paths: list[Path], deadline: float, device: str = "cuda") -> list[str]:
    """Run each notebook on ``device`` and check it; return the failures (one line each)."""
    import nbformat

    failures = []
    env = {**os.environ, "MNISTLAB_DEVICE": device}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for src in (REPO / "notebooks").iterdir():  # data and helper files the notebooks read
            if src.is_file() and src.suffix != ".ipynb":
                shutil.copy(src, workdir / src.name)
        for path in paths:
            left = min(LIMITS["notebook"], deadline - time.monotonic())
            if left < 5:
                failures.append(f"{path.name}: not run, the notebooks' {LIMITS['notebooks']} s were used up")
                print(f"{path.name:42s} not run (time limit)", flush=True)
                continue
            copy, done = workdir / path.name, workdir / f"executed_{path.name}"
            shutil.copy(path, copy)
            start = time.monotonic()
            status, log = _run([sys.executable, "-c", RUNNER, str(copy), str(workdir), str(done)], left, env)
            seconds = time.monotonic() - start
            committed = nbformat.read(path, as_version=4)
            held = 0
            if status is None:
                problems = [f"stopped after {left:.0f} s"]
            elif not done.exists():
                problems = [f"the runner failed: {log.strip()[-500:]}"]
            else:
                held, problems = check_notebook(committed, nbformat.read(done, as_version=4))
            expected = sum(len(v) for v in verdict_lines(committed).values())
            state = "ok" if not problems else f"{len(problems)} problem(s)"
            print(f"{path.name:42s} {seconds:6.1f} s  {held:3d}/{expected:<3d} verdict lines held  {state}", flush=True)
            for problem in problems:
                print(f"    {problem}", flush=True)
            failures += [f"{path.name}: {p}" for p in problems]
    return failures


def matmul_figures() -> list[str]:
    """Print matmul GFLOP/s in fp32 and bf16 at a few sizes against the GPU's peaks; return failures."""
    import torch

    from mnistlab.bench import sweep_gflops

    name = torch.cuda.get_device_name(0)
    peak = gpu_peak(name)
    sizes = (1024, 2048, 4096, 8192)
    best = sweep_gflops(sizes, (torch.float32, torch.bfloat16), "cuda", rounds=2, repeats=10)
    print(f"GPU: {name}; peak (dense TFLOP/s): "
          + (f"fp32 {peak[1]}, bf16 {peak[2]} ({peak[0]} in GPU_PEAKS)" if peak else "unknown (not in GPU_PEAKS)"))
    for dtype, column in (("float32", 1), ("bfloat16", 2)):
        top = peak[column] if peak else None
        cells = []
        for n, gflops in best[dtype].items():
            share = f" ({100 * gflops / 1e3 / top:.0f}% of peak)" if top else ""
            cells.append(f"{n}: {gflops / 1e3:.1f} TFLOP/s{share}")
        print(f"  matmul {dtype:<9} " + ", ".join(cells), flush=True)
    return []


def figure_script(label: str, command: list[str], limit: float) -> list[str]:
    """Run a benchmark script, echo its last lines, return failures."""
    print(f"$ {' '.join(command[1:])}", flush=True)
    status, out = _run(command, limit)
    for line in out.strip().splitlines()[-4:]:
        print(f"  {line}", flush=True)
    if status is None:
        return [f"{label}: stopped at its limit of {limit:.0f} s"]
    if status != 0:
        return [f"{label}: exit status {status}"]
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook in notebooks/")
    parser.add_argument("--data", default=None, help="folder holding MNIST/raw/ (the full MNIST)")
    parser.add_argument("--skip-notebooks", action="store_true")
    parser.add_argument("--skip-figures", action="store_true")
    parser.add_argument("--dry-run-on-cpu", action="store_true",
                        help="run the notebook check with MNISTLAB_DEVICE=cpu, without a GPU and without figures")
    args = parser.parse_args(argv)

    device = "cpu" if args.dry_run_on_cpu else "cuda"
    reason = None if args.dry_run_on_cpu else no_gpu_reason()
    if reason:
        print(reason, flush=True)
        return 2
    started = time.monotonic()
    from mnistlab.data import find_full_root
    from mnistlab.device import describe

    print(" | ".join(f"{k}: {v}" for k, v in describe(device).items()), flush=True)
    failures = []
    if not args.skip_notebooks:
        paths = [p.resolve() for p in args.notebooks] or sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
        print(f"-- notebooks with MNISTLAB_DEVICE={device}, {len(paths)} of them", flush=True)
        failures += run_notebooks(paths, time.monotonic() + LIMITS["notebooks"], device)
    if not (args.skip_figures or args.dry_run_on_cpu):
        print("-- matmul", flush=True)
        failures += matmul_figures()
        root = find_full_root(args.data, also=[REPO.parent / "shared" / "data"])
        if root is None:
            failures.append("figures: no full MNIST found (give --data DIR or set MNISTLAB_DATA): "
                            "throughput and time to 99% left out")
            print(failures[-1], flush=True)
        else:
            py = sys.executable
            with tempfile.TemporaryDirectory() as tmp:
                figures = Path(tmp) / "throughput.json"
                print("-- the seed's recipe against --fast, one full-MNIST epoch each", flush=True)
                failures += figure_script("throughput", [py, str(HERE / "throughput.py"), str(root), "--device",
                                                         "cuda", "--ceiling-rounds", "1", "--json", str(figures)],
                                          LIMITS["throughput"])
                if figures.exists():
                    print("  " + json.dumps(json.loads(figures.read_text(encoding="utf-8"))), flush=True)
            print("-- time to 99% on the GPU", flush=True)
            failures += figure_script("time to 99%", [py, str(HERE / "time_to_accuracy.py"), str(root), "--device",
                                                      "cuda", "--runs", "3"], LIMITS["time_to_accuracy"])
    minutes = (time.monotonic() - started) / 60
    if args.dry_run_on_cpu:
        print(f"gpu_check (dry run on the CPU): {len(failures)} problem(s) in {minutes:.1f} min"
              + (": " + "; ".join(failures[:5]) if failures else ""))
        return 1 if failures else 0
    if failures:
        print(f"gpu_check: {len(failures)} problem(s) in {minutes:.1f} min: " + "; ".join(failures[:5]))
        return 1
    print(f"gpu_check: every notebook ran on the GPU and kept its verdicts; figures above ({minutes:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
