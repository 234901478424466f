"""mnistlab.device: device choice, overrides, seeding."""

from __future__ import annotations

import random

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
