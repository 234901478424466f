"""fit(fast=True) and ``train --fast``: channels_last and bf16 autocast are used, accuracy holds, fallback works."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass

import pytest
import torch

from mnistlab import device as devicelib
from mnistlab.baselines import majority_class_accuracy
from mnistlab.cli import main
from mnistlab.data import mnist_tensors
from mnistlab.fast import bf16_autocast_available, channels_last_pool_grads, fast_path
from mnistlab.models import CompactCNN
from mnistlab.train import evaluate, fit


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


@dataclass
class Fit128:
    """What one fit of CompactCNN on 128 training images (two steps of 64) recorded, one entry per step."""

    model: torch.nn.Module
    conv_dtypes: list[torch.dtype]  # the first convolution's output dtype
    reuse_active: list[bool]  # whether freed memory was being kept (memory_reuse_active) in the forward pass
    pool_grads_channels_last: list[bool]  # whether the last pooling layer's incoming gradient was channels_last


#: The 128-image fits of this file: fit(fast=...) and the CPU flags it sees.
FITS_128 = {"normal": (False, {"avx2"}), "fast, bf16 CPU": (True, {"amx_bf16"}), "fast, fp32 CPU": (True, {"avx2"})}


@pytest.fixture(scope="module")
def fit_128(small):
    """``fit_128(name)``: the recording of one of FITS_128, each fitted once and shared by the tests below."""
    done: dict[str, Fit128] = {}
    train, _ = small

    def get(name: str) -> Fit128:
        if name not in done:
            fast, flags = FITS_128[name]
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(devicelib, "cpu_flags", lambda: set(flags))
                torch.manual_seed(0)
                model = CompactCNN()
                dtypes, layouts, reuse = conv_output_dtypes(model), pool_grad_layouts(model), []
                model.features[0].register_forward_hook(lambda *_: reuse.append(devicelib.memory_reuse_active()))
                fit(model, (train[0][:128], train[1][:128]), epochs=1, batch_size=64, progress=False, fast=fast)
            done[name] = Fit128(model, dtypes, reuse, layouts)
        return done[name]

    return get


@pytest.mark.parametrize(
    "flags,expected",
    [({"amx_bf16", "avx512f"}, True), ({"avx512_bf16", "avx512f"}, True), ({"avx2", "avx512f"}, False), (set(), False)],
)
def test_bf16_autocast_only_on_cpus_with_native_bf16(monkeypatch, flags, expected):
    monkeypatch.setattr(devicelib, "cpu_flags", lambda: set(flags))
    assert bf16_autocast_available("cpu") is expected
    assert bf16_autocast_available(torch.device("meta")) is False  # not a device the fast path knows


# features[3] (16 -> 32 channels): a 1-channel weight has the same strides in both layouts

@pytest.mark.parametrize(
    "name,dtype",
    [("fast, bf16 CPU", torch.bfloat16), ("fast, fp32 CPU", torch.float32)],  # without bf16: the fp32 fallback
)
def test_fast_fit_uses_channels_last_and_bf16_only_on_a_bf16_cpu(fit_128, name, dtype):
    run = fit_128(name)
    assert run.model.features[3].weight.is_contiguous(memory_format=torch.channels_last)
    assert run.model.features[3].weight.dtype == torch.float32  # autocast computes in bf16, keeps fp32 weights
    assert run.conv_dtypes == [dtype, dtype]  # two training steps


def test_normal_fit_uses_neither(fit_128):
    run = fit_128("normal")
    assert not run.model.features[3].weight.is_contiguous(memory_format=torch.channels_last)
    assert run.conv_dtypes == [torch.float32, torch.float32]


@pytest.mark.slow
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


@pytest.mark.parametrize("name", ["fast, fp32 CPU", "normal"])
def test_only_fast_fit_keeps_freed_memory_and_only_while_it_trains(fit_128, name):
    run = fit_128(name)
    expected = FITS_128[name][0] and devicelib._glibc() is not None  # it acts on glibc (Linux) only
    assert run.reuse_active == [expected, expected]
    assert not devicelib.memory_reuse_active()  # glibc's defaults are back after fit


def pool_grad_layouts(model: torch.nn.Module) -> list[bool]:
    """Record, per backward pass, whether the last pooling layer's incoming gradient is channels_last.

    It is a pre-hook of the pooling's backward node: autograd runs those after the tensor hooks
    (which is how channels_last_pool_grads acts), so it sees what the pooling's backward gets.
    """
    seen = []

    def record(_module, _inputs, output):
        if output.requires_grad:
            output.grad_fn.register_prehook(
                lambda grads: seen.append(grads[0].is_contiguous(memory_format=torch.channels_last)))

    last_pool(model).register_forward_hook(record)
    return seen


def last_pool(model: torch.nn.Module) -> torch.nn.Module:
    """CompactCNN's second MaxPool2d: the one before the flatten."""
    return [m for m in model.modules() if isinstance(m, torch.nn.MaxPool2d)][-1]


def grads_after_one_step(hooks: bool) -> tuple[list[bool], list[torch.Tensor]]:
    torch.manual_seed(0)
    model = CompactCNN().to(memory_format=torch.channels_last)
    x = torch.randn(8, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    seen = pool_grad_layouts(model) if not hooks else None
    with channels_last_pool_grads(model) if hooks else contextlib.nullcontext():
        seen = pool_grad_layouts(model) if hooks else seen
        torch.nn.functional.cross_entropy(model(x), torch.arange(8)).backward()
    return seen, [p.grad for p in model.parameters()]


def test_channels_last_pool_grads_changes_the_layout_not_the_numbers():
    plain_layouts, plain_grads = grads_after_one_step(hooks=False)
    hooked_layouts, hooked_grads = grads_after_one_step(hooks=True)
    assert plain_layouts == [False]  # flatten hands the pooling layer an NCHW gradient
    assert hooked_layouts == [True]
    assert all(torch.equal(a, b) for a, b in zip(plain_grads, hooked_grads, strict=True))


def test_channels_last_pool_grads_removes_its_hooks():
    model = CompactCNN()
    with channels_last_pool_grads(model):
        assert len(last_pool(model)._forward_hooks) == 1
    assert all(not m._forward_hooks for m in model.modules())


@pytest.mark.parametrize("name", ["fast, fp32 CPU", "normal"])
def test_fit_hands_pooling_layers_channels_last_grads_only_when_fast(fit_128, name):
    run = fit_128(name)
    fast = FITS_128[name][0]
    assert run.pool_grads_channels_last == [fast, fast]  # two steps
    assert len(last_pool(run.model)._forward_hooks) == 1  # only the test's recorder is left


@pytest.mark.parametrize("device,enabled,reuse", [("cpu", True, True), ("cuda", True, False), ("cpu", False, False)])
def test_fast_path_sets_up_only_what_the_device_needs_and_undoes_it(device, enabled, reuse):
    model = CompactCNN()
    with fast_path(model, device, enabled=enabled):
        assert model.features[3].weight.is_contiguous(memory_format=torch.channels_last) is enabled
        assert devicelib.memory_reuse_active() is (reuse and devicelib._glibc() is not None)
        assert len(last_pool(model)._forward_hooks) == int(enabled)
    assert not devicelib.memory_reuse_active()
    assert all(not m._forward_hooks for m in model.modules())


def test_cli_fast_prints_json_with_fast_true(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    deterministic = torch.are_deterministic_algorithms_enabled()
    try:  # 3 epochs of one step each (256 images, --fast's batch of 256): enough to learn something
        assert main(["train", "--fast", "--limit", "256", "--epochs", "3", "--lr", "3e-3", "--no-progress"]) == 0
    finally:
        torch.use_deterministic_algorithms(deterministic)  # seed_everything switched it on for this process
    lines = capsys.readouterr().out.strip().splitlines()
    metrics = json.loads(lines[-1])
    assert metrics["fast"] is True and metrics["batch_size"] == 256  # --fast's default batch
    assert metrics["bf16_autocast"] is bf16_autocast_available("cpu")
    assert metrics["world_size"] == 1 and metrics["train_images"] == 256
    (_, y_train), (_, y_test) = mnist_tensors(train=True, source="sample"), mnist_tensors(train=False, source="sample")
    always_the_same = majority_class_accuracy(y_train[:256], y_test).accuracy  # 0.12 on the sample's test split
    assert metrics["test_acc"] > always_the_same + 0.15, metrics  # measured: 0.44


def test_on_cuda_only_native_bf16_counts(monkeypatch):
    asked = []

    def is_bf16_supported(including_emulation=True):
        asked.append(including_emulation)
        return including_emulation  # a GPU before Ampere: bf16 only emulated

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", is_bf16_supported)
    assert bf16_autocast_available("cuda") is False
    assert asked == [False]

    def old_torch():  # a PyTorch before 2.4: no including_emulation, native bf16 only
        return True

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", old_torch)
    assert bf16_autocast_available("cuda") is True
