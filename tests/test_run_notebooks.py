"""scripts/run_notebooks.py (make notebooks): a run that found the machine busy is not saved."""

from __future__ import annotations

import importlib.util

import nbformat
import pytest
from conftest import REPO

pytestmark = pytest.mark.slow

spec = importlib.util.spec_from_file_location("run_notebooks", REPO / "scripts" / "run_notebooks.py")
run_notebooks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run_notebooks)


def notebook(path, verdict: str) -> bytes:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(f"# NBVAL_IGNORE_OUTPUT\nprint({verdict!r})")]
    nbformat.write(nb, path)
    return path.read_bytes()


def test_a_busy_run_is_refused_and_a_quiet_one_saved(tmp_path):
    busy = tmp_path / "busy.ipynb"
    before = notebook(busy, "BUSY MACHINE: GFLOP/s fell from 120 to 40 at the larger sizes.")
    assert run_notebooks.main([str(busy)]) == 1
    assert busy.read_bytes() == before  # the committed outputs are kept
    quiet = tmp_path / "quiet.ipynb"
    notebook(quiet, "timings look steady")
    assert run_notebooks.main([str(quiet)]) == 0
    saved = nbformat.read(quiet, as_version=4)
    assert saved.cells[0].outputs[0].text == "timings look steady\n"
