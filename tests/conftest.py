"""Shared test fixtures and helpers.

Tests that need the full MNIST files or a browser skip with a reason on a laptop,
but under CI=true they must run, so a missing dependency fails instead of hiding.
Tests over about 3 s carry the ``slow`` marker: ``pytest -m "not slow" tests`` is the quick loop.
"""

from __future__ import annotations

import builtins
import io
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")  # the tests' pictures are checked, never shown: no display needed

IN_CI = os.environ.get("CI", "").lower() == "true"
REPO = Path(__file__).resolve().parent.parent
#: Where CI and the maintainers keep the full MNIST, beside the project (scripts/build_sample.py reads it too).
SHARED_DATA = REPO.parent / "shared" / "data"


def require(condition: bool, reason: str) -> None:
    """Skip when ``condition`` is false, except under CI=true, where it fails."""
    if not condition:
        if IN_CI:
            pytest.fail(f"required in CI: {reason}")
        pytest.skip(reason)


def full_data_root() -> Path | None:
    """A folder holding MNIST/raw/ with the official .gz files, looked up as mnistlab looks for it
    (``find_full_root``: $MNISTLAB_DATA, a checkout's data/), then in ../shared/data."""
    from mnistlab.data import find_full_root

    root = find_full_root(also=[SHARED_DATA])
    return root if root is not None and (root / "MNIST" / "raw" / "train-images-idx3-ubyte.gz").is_file() else None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that use the full MNIST carry the ``full_data`` marker: ``-m "not full_data"`` leaves them out."""
    for item in items:
        if "full_root" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.full_data)


@pytest.fixture
def full_root() -> Path:
    root = full_data_root()
    require(root is not None, "full MNIST not found: set MNISTLAB_DATA to a folder holding MNIST/raw/*.gz")
    return root


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch) -> Path:
    """An empty mnistlab cache for this test only."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("MNISTLAB_CACHE", str(cache))
    monkeypatch.delenv("MNISTLAB_SOURCE", raising=False)
    from mnistlab import data

    data._tensors.cache_clear()
    yield cache
    data._tensors.cache_clear()


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a network connection fails at once."""

    def refuse(*args, **kwargs):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(autouse=True)
def close_figures():
    """Close the matplotlib figures a test opened: pyplot keeps every figure (and its memory) until then."""
    yield
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close("all")


def fake_file(monkeypatch: pytest.MonkeyPatch, path: str | os.PathLike, content: str | OSError) -> None:
    """``open(path)`` reads ``content`` (a text), or raises it (an OSError); every other file opens as usual."""
    real_open = builtins.open

    def fake_open(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and os.fspath(file) == os.fspath(path):
            if isinstance(content, OSError):
                raise content
            return io.StringIO(content)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", fake_open)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dead_pid() -> int:
    """The id of a process that has just ended (and was reaped: no process has it now)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def jupyter_folders(home: Path) -> dict[str, str]:
    """The Makefile's Jupyter and IPython folders (``export NAME := $(CURDIR)/.jupyter/SUB``), moved under ``home``.

    The Makefile is the one place that says which folders Jupyter writes to; a test that starts its own
    JupyterLab takes the same list, in a folder of its own.
    """
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    found = re.findall(r"^export\s+(\w+)\s*:?=\s*\$\(CURDIR\)/\.jupyter/(\S+)\s*$", makefile, flags=re.MULTILINE)
    return {name: str(home / sub) for name, sub in found}
