"""benchmarks/gpu_check.py, the parts that run without a GPU: verdict lines, the peak table, the no-GPU exit."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time

import nbformat
import pytest
from conftest import REPO
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

SCRIPT = REPO / "benchmarks" / "gpu_check.py"
spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
gpu_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gpu_check)


def cell(source: str, *lines: str, stream: str = "stdout", result: str | None = None):
    """A code cell that printed ``lines`` on ``stream`` (and returned ``result`` as text/plain)."""
    outputs = [new_output("stream", name=stream, text="".join(line + "\n" for line in lines))] if lines else []
    if result is not None:
        outputs.append(new_output("execute_result", data={"text/plain": result}, execution_count=1))
    return new_code_cell(source, outputs=outputs)


def notebook(*cells):
    return new_notebook(cells=[new_markdown_cell("# a lesson"), *cells])


COMMITTED = notebook(
    cell("print(...)", "resumed equals straight, tensor by tensor: True", "loss: 0.1234"),
    cell("# NBVAL_IGNORE_OUTPUT\nprint(...)", "cuda available: False"),
    cell("print(...)", "accuracy 97.10% over 90%: True", "the gap shrinks: False"),
    cell("x == y", result="True"),
)


def test_verdict_lines_are_the_compared_lines_ending_in_true_or_false():
    assert gpu_check.verdict_lines(COMMITTED) == {
        1: [("resumed equals straight, tensor by tensor", "True")],
        3: [("accuracy 97.10% over 90%", "True"), ("the gap shrinks", "False")],
    }


def test_a_cell_tagged_to_be_ignored_states_no_verdict():
    tagged = cell("print(...)", "on the GPU: True")
    tagged.metadata["tags"] = ["nbval-ignore-output"]
    assert gpu_check.verdict_lines(notebook(tagged)) == {}


def test_the_same_verdicts_hold_even_when_other_figures_differ():
    run = notebook(
        cell("print(...)", "resumed equals straight, tensor by tensor: True", "loss: 0.1240"),
        cell("# NBVAL_IGNORE_OUTPUT\nprint(...)", "cuda available: True"),
        cell("print(...)", "accuracy 97.35% over 90%: True", "the gap shrinks: False"),
        cell("x == y", result="True"),
    )
    assert gpu_check.compare_verdicts(COMMITTED, run) == (3, [])
    assert gpu_check.check_notebook(COMMITTED, run) == (3, [])


def test_a_flipped_or_missing_verdict_is_reported():
    run = notebook(
        cell("print(...)", "resumed equals straight, tensor by tensor: False"),
        cell("print(...)"),
        cell("print(...)", "the gap shrinks: False"),
    )
    held, problems = gpu_check.compare_verdicts(COMMITTED, run)
    assert held == 1
    assert len(problems) == 2
    assert "tensor by tensor" in problems[0] and "False (committed: True)" in problems[0]
    assert "no longer prints" in problems[1] and "97.10%" in problems[1]


def test_errors_and_stderr_are_problems():
    run = notebook(
        cell("print(...)", "resumed equals straight, tensor by tensor: True"),
        cell("warn()", "UserWarning: this op is not deterministic on CUDA", stream="stderr"),
        cell("print(...)", "accuracy 97.10% over 90%: True", "the gap shrinks: False"),
        cell("model(x)"),
    )
    run.cells[4].outputs = [new_output("error", ename="RuntimeError", evalue="Expected all tensors on the same "
                                                                            "device", traceback=[])]
    held, problems = gpu_check.check_notebook(COMMITTED, run)
    assert held == 3
    assert problems == ["cell 2: stderr: UserWarning: this op is not deterministic on CUDA",
                        "cell 4: RuntimeError: Expected all tensors on the same device"]


def test_the_committed_notebooks_state_verdicts():
    paths = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    counts = {p.name: sum(map(len, gpu_check.verdict_lines(nbformat.read(p, as_version=4)).values()))
              for p in paths}
    assert sum(counts.values()) >= 50, counts
    # a committed notebook checked against itself: every verdict holds, nothing else is reported
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        assert gpu_check.check_notebook(nb, nb) == (counts[path.name], []), path.name


@pytest.mark.parametrize(("name", "expected"), [
    ("NVIDIA H100 80GB HBM3", ("H100", 67.0, 989.0)),
    ("NVIDIA H100 PCIe", ("H100 PCIe", 51.0, 756.0)),
    ("NVIDIA H200", ("H200", 67.0, 989.0)),
    ("NVIDIA H200 NVL", ("H200 NVL", 60.0, 835.0)),
    ("NVIDIA A100-SXM4-80GB", ("A100", 19.5, 312.0)),
    ("NVIDIA L4", ("L4", 30.3, 121.0)),
    ("NVIDIA L40S", ("L40S", 91.6, 362.0)),
    ("Tesla T4", ("T4", 8.1, None)),
    ("NVIDIA GeForce RTX 4090", ("RTX 4090", 82.6, 165.2)),
    ("NVIDIA GeForce RTX 3060", None),
    ("NVIDIA A10", None),
])
def test_the_peak_table_finds_common_gpus_by_their_reported_name(name, expected):
    assert gpu_check.gpu_peak(name) == expected


def test_without_a_gpu_it_says_so_in_one_line_and_exits_2_at_once():
    env = {"PATH": "/usr/bin:/bin", "CUDA_VISIBLE_DEVICES": ""}
    start = time.monotonic()
    done = subprocess.run([sys.executable, str(SCRIPT)], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=60)
    seconds = time.monotonic() - start
    assert done.returncode == 2
    assert done.stdout.splitlines() == [done.stdout.strip()]
    assert done.stdout.startswith("gpu_check needs a CUDA GPU: CUDA_VISIBLE_DEVICES")
    assert done.stderr == ""
    assert seconds < 10


def test_the_no_gpu_reasons():
    assert "hides every GPU" in gpu_check.no_gpu_reason({"CUDA_VISIBLE_DEVICES": "-1"})
    if not gpu_check.Path("/dev/nvidia0").exists() and not gpu_check.shutil.which("nvidia-smi") \
            and not gpu_check.Path("/proc/driver/nvidia").exists():
        assert "no NVIDIA driver" in gpu_check.no_gpu_reason({})


def test_a_dry_run_on_the_cpu_executes_a_notebook_and_checks_its_verdicts(tmp_path):
    committed = notebook(
        cell('print("two and two make four:", 2 + 2 == 4)', "two and two make four: True"),
        cell('import os\nprint("device:", os.environ["MNISTLAB_DEVICE"])', "device: cpu"),
        cell('print("two and two make five:", 2 + 2 == 5)', "two and two make five: True"),  # no longer holds
    )
    committed.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(committed, tmp_path / "lesson.ipynb")
    done = subprocess.run([sys.executable, str(SCRIPT), "--dry-run-on-cpu", str(tmp_path / "lesson.ipynb")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    lines = done.stdout.splitlines()
    assert done.returncode == 1, done.stdout + done.stderr
    assert any(line.startswith("lesson.ipynb") and "1/2   verdict lines held  1 problem(s)" in line
               for line in lines), lines
    assert "cell 3: 'two and two make five': False (committed: True)" in done.stdout
    assert lines[-1].startswith("gpu_check (dry run on the CPU): 1 problem(s)")
