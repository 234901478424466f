"""Shared test fixtures.

Tests that need the full MNIST files or a browser skip with a reason on a laptop,
but under CI=true they must run, so a missing dependency fails instead of hiding.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
REPO = Path(__file__).resolve().parent.parent


def require(condition: bool, reason: str) -> None:
    """Skip when ``condition`` is false, except under CI=true, where it fails."""
    if not condition:
        if IN_CI:
            pytest.fail(f"required in CI: {reason}")
        pytest.skip(reason)


def full_data_root() -> Path | None:
    """A folder holding MNIST/raw/ with the official .gz files: $MNISTLAB_DATA, else ../shared/data."""
    for candidate in (os.environ.get("MNISTLAB_DATA"), REPO.parent / "shared" / "data"):
        if candidate and (Path(candidate) / "MNIST" / "raw" / "train-images-idx3-ubyte.gz").is_file():
            return Path(candidate)
    return None


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
