"""fit(fast=True) and ``train --fast``: channels_last and bf16 autocast are used, accuracy holds, fallback works."""

from __future__ import annotations

import json

import pytest
import torch

from mnistlab import device as devicelib
from mnistlab.cli import main
from mnistlab.data import mnist_tensors
from mnistlab.models import CompactCNN
from mnistlab.train import bf16_autocast_available, evaluate, fit


@pytest.fixture(scope="module")
def small():
    x, y = mnist_tensors(train=True, source="sample")
    x_test, y_test = mnist_tensors(train=False, source="sample")
    return (x[:1000], y[:1000]), (x_test[:1000], y_test[:1000])


def conv_output_dtypes(model: torch.nn.Module) -> list[torch.dtype]:
    """Record the dtype of every output of the first convolution (a forward hook)."""
    seen = []
    model.features[0].register_forward_hook(lambda _module, _inputs, output: seen.append(output.dtype))
    return seen


@pytest.mark.parametrize(
    "flags,expected",
    [({"amx_bf16", "avx512f"}, True), ({"avx512_bf16", "avx512f"}, True), ({"avx2", "avx512f"}, False), (set(), False)],
)
def test_bf16_autocast_only_on_cpus_with_native_bf16(monkeypatch, flags, expected):
    monkeypatch.setattr(devicelib, "cpu_flags", lambda: set(flags))
    assert bf16_autocast_available("cpu") is expected
    assert bf16_autocast_available(torch.device("meta")) is False  # not a device the fast path knows


# features[3] (16 -> 32 channels): a 1-channel weight has the same strides in both layouts

def test_fast_fit_uses_channels_last_and_bf16_on_a_bf16_cpu(small, monkeypatch):
    monkeypatch.setattr(devicelib, "cpu_flags", lambda: {"amx_bf16"})
    train, _ = small
    torch.manual_seed(0)
    model = CompactCNN()
    dtypes = conv_output_dtypes(model)
    fit(model, (train[0][:128], train[1][:128]), epochs=1, batch_size=64, progress=False, fast=True)
    assert model.features[3].weight.is_contiguous(memory_format=torch.channels_last)
    assert model.features[3].weight.dtype == torch.float32  # autocast computes in bf16, keeps fp32 weights
    assert dtypes == [torch.bfloat16, torch.bfloat16]  # two training steps, both under autocast


def test_fast_fit_falls_back_to_fp32_on_a_cpu_without_bf16(small, monkeypatch):
    monkeypatch.setattr(devicelib, "cpu_flags", lambda: {"avx2"})
    train, _ = small
    torch.manual_seed(0)
    model = CompactCNN()
    dtypes = conv_output_dtypes(model)
    fit(model, (train[0][:128], train[1][:128]), epochs=1, batch_size=64, progress=False, fast=True)
    assert model.features[3].weight.is_contiguous(memory_format=torch.channels_last)
    assert dtypes == [torch.float32, torch.float32]


def test_normal_fit_uses_neither(small):
    train, _ = small
    torch.manual_seed(0)
    model = CompactCNN()
    dtypes = conv_output_dtypes(model)
    fit(model, (train[0][:128], train[1][:128]), epochs=1, batch_size=64, progress=False)
    assert not model.features[3].weight.is_contiguous(memory_format=torch.channels_last)
    assert dtypes == [torch.float32, torch.float32]


def test_fast_fit_learns_as_well_as_the_normal_path(small, monkeypatch):
    monkeypatch.setattr(devicelib, "cpu_flags", lambda: {"amx_bf16"})  # bf16 even on a CPU without it
    train, test = small
    train, test = (train[0][:600], train[1][:600]), (test[0][:500], test[1][:500])
    accuracies = {}
    for fast in (False, True):
        torch.manual_seed(0)
        model = CompactCNN()
        history = fit(model, train, epochs=2, lr=3e-3, batch_size=30, seed=1, progress=False, fast=fast,
                      val_data=test)
        accuracies[fast] = history.last("val_acc")
        assert evaluate(model, test, fast=fast)["accuracy"] == pytest.approx(accuracies[fast])
    assert accuracies[False] > 0.7 and accuracies[True] > 0.7, accuracies  # chance is 0.1
    assert abs(accuracies[True] - accuracies[False]) < 0.05, accuracies


def test_cli_fast_prints_json_with_fast_true(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    deterministic = torch.are_deterministic_algorithms_enabled()
    try:
        assert main(["train", "--fast", "--limit", "256", "--no-progress"]) == 0
    finally:
        torch.use_deterministic_algorithms(deterministic)  # seed_everything switched it on for this process
    lines = capsys.readouterr().out.strip().splitlines()
    metrics = json.loads(lines[-1])
    assert metrics["fast"] is True and metrics["batch_size"] == 256  # --fast's default batch
    assert metrics["bf16_autocast"] is bf16_autocast_available("cpu")
    assert metrics["world_size"] == 1 and metrics["train_images"] == 256
    assert 0.0 <= metrics["test_acc"] <= 1.0
