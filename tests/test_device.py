"""mnistlab.device: device choice, overrides, seeding."""

from __future__ import annotations

import random
import resource

import numpy as np
import pytest
import torch

from mnistlab import device as dev


def test_get_device_picks_an_available_device(monkeypatch):
    monkeypatch.delenv(dev.DEVICE_ENV, raising=False)
    expected = "cuda" if torch.cuda.is_available() else None
    chosen = dev.get_device()
    assert chosen.type in ("cuda", "mps", "cpu")
    if expected:
        assert chosen.type == expected
    assert torch.zeros(1, device=chosen).device.type == chosen.type


def test_environment_override(monkeypatch):
    monkeypatch.setenv(dev.DEVICE_ENV, "cpu")
    assert dev.get_device() == torch.device("cpu")
    assert dev.get_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_unavailable_device_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(dev.DEVICE_ENV, "cuda")
    with pytest.raises(RuntimeError, match="not available on this machine"):
        dev.get_device()


def test_unknown_device_name():
    with pytest.raises(ValueError, match="unknown device 'gpu0'"):
        dev.get_device("gpu0")


def test_synchronize_on_cpu_is_harmless():
    dev.synchronize("cpu")


def test_describe_reports_version_device_and_threads():
    info = dev.describe("cpu")
    assert info["torch"] == torch.__version__
    assert info["device"] == "cpu"
    assert int(info["cpu threads"]) == torch.get_num_threads()
    assert isinstance(dev.cpu_flags(), set)


def test_same_seed_same_draws():
    def draws():
        return random.random(), float(np.random.rand()), torch.randn(5)

    dev.seed_everything(7)
    a = draws()
    dev.seed_everything(7)
    b = draws()
    dev.seed_everything(8)
    c = draws()
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])
    assert not torch.equal(a[2], c[2])
    assert torch.are_deterministic_algorithms_enabled()


def test_seed_must_be_non_negative_int():
    with pytest.raises(ValueError, match="non-negative int"):
        dev.seed_everything(-1)


def page_faults_per_allocation(repeats: int = 4, mib: int = 64) -> float:
    """Minor page faults per allocate-touch-free cycle of a ``mib`` MiB tensor, after warm-up cycles.

    Warm-up: with reuse on, glibc's heap grows for the first few cycles (a freed block is a few bytes
    short of the next aligned request until freed blocks merge), then stays; a training loop sees the same.
    """
    for _ in range(12):
        torch.empty(mib * 2**20, dtype=torch.uint8).fill_(1)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(repeats):
        torch.empty(mib * 2**20, dtype=torch.uint8).fill_(1)  # freed at the end of the statement
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / repeats


needs_glibc = pytest.mark.skipif(dev._glibc() is None, reason="reuse_freed_memory acts on glibc (Linux) only")


@needs_glibc
def test_reuse_freed_memory_stops_page_faults_and_restores_the_defaults():
    pages = 64 * 2**20 // resource.getpagesize()
    assert page_faults_per_allocation() > pages / 2  # glibc's default: 64 MiB goes back to the system each time
    with dev.reuse_freed_memory() as acting:
        assert acting and dev.memory_reuse_active()
        assert page_faults_per_allocation() < pages / 20  # the same memory is reused
    assert not dev.memory_reuse_active()
    assert page_faults_per_allocation() > pages / 2  # defaults restored: faults again


@needs_glibc
def test_reuse_freed_memory_nests_and_restores_only_at_the_outermost_exit():
    pages = 64 * 2**20 // resource.getpagesize()
    with dev.reuse_freed_memory():
        with dev.reuse_freed_memory():
            pass
        assert dev.memory_reuse_active()
        assert page_faults_per_allocation() < pages / 20  # still reusing after the inner block ended
    assert not dev.memory_reuse_active()


def test_reuse_freed_memory_disabled_changes_nothing():
    with dev.reuse_freed_memory(enabled=False) as acting:
        assert acting is False
        assert not dev.memory_reuse_active()


def test_reuse_freed_memory_restores_after_an_error():
    with pytest.raises(KeyError):
        with dev.reuse_freed_memory():
            raise KeyError("boom")
    assert not dev.memory_reuse_active()
