"""mnistlab.bench's ceiling helpers: the round-robin sweep, FLOP counted per training image, shares, bf16 verdicts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mnistlab import bench
from mnistlab.models import SeedCNN


def test_the_sweep_keeps_each_pairs_best_over_the_rounds(monkeypatch):
    calls = []
    speeds = iter([1.0, 5.0, 2.0, 3.0, 4.0, 1.0, 6.0, 2.0])  # round 1: fp32 16, 32, bf16 16, 32; then round 2

    def fake(n, dtype, device, repeats):
        calls.append((n, bench.dtype_name(dtype)))
        return next(speeds)

    monkeypatch.setattr(bench, "matmul_gflops", fake)
    best = bench.sweep_gflops([16, 32], (torch.float32, torch.bfloat16), rounds=2, repeats=1)
    assert best == {"float32": {16: 4.0, 32: 5.0}, "bfloat16": {16: 6.0, 32: 3.0}}
    # round-robin: every pair once per round, so pairs measured in one round can be compared
    assert calls == [(16, "float32"), (32, "float32"), (16, "bfloat16"), (32, "bfloat16")] * 2


def test_the_sweep_refuses_a_size_over_the_budget_before_timing_anything(monkeypatch):
    monkeypatch.setattr(bench, "memory_budget", lambda device="cpu", fraction=0.5: bench.matmul_bytes(64))
    monkeypatch.setattr(bench, "matmul_gflops", lambda *a, **k: pytest.fail("timed before refusing"))
    with pytest.raises(ValueError, match="refusing size 65"):
        bench.sweep_gflops([32, 65])
    with pytest.raises(ValueError, match="rounds"):
        bench.sweep_gflops([32], rounds=0)


def test_a_real_sweep_gives_positive_figures():
    best = bench.sweep_gflops([16], (torch.float32,), rounds=1, repeats=1)
    assert set(best) == {"float32"} and best["float32"][16] > 0


def test_seed_cnn_costs_502_8_mflop_per_training_image():
    # forward: conv1 0.90, conv2 115.6, dense 51.4 MFLOP; backward twice that, less conv1's input gradient
    conv1, conv2, dense1, dense2 = 28 * 28 * 64 * 9 * 2, 28 * 28 * 128 * 64 * 9 * 2, 25088 * 1024 * 2, 1024 * 10 * 2
    expected = 3 * (conv1 + conv2 + dense1 + dense2) - conv1
    model = SeedCNN()
    assert bench.training_flops(model) == pytest.approx(expected)
    assert round(bench.training_flops(model) / 1e6, 1) == 502.8


def test_counting_flops_leaves_the_model_as_found():
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    model.eval()
    assert all(p.grad is None for p in model.parameters())
    assert bench.training_flops(model) == 3 * 784 * 10 * 2 - 784 * 10 * 2  # no input gradient for the images
    assert all(p.grad is None for p in model.parameters()) and not model.training


def test_share_of_ceiling():
    assert bench.share_of_ceiling(500, 502.8e6, 350) == pytest.approx(500 * 0.5028 / 350)
    with pytest.raises(ValueError, match="positive"):
        bench.share_of_ceiling(500, 502.8e6, 0)


@pytest.mark.parametrize(("fp32", "bf16", "native", "words"), [
    (172, 0.8, False, "emulates it"),          # AVX2 only: 215x slower
    (177, 30, False, "6x slower"),              # AVX-512 without AVX512-BF16
    (196, 424, True, "2.2x float32 here: this processor multiplies bf16 natively"),  # Zen 4
    (170, 160, True, "about as fast"),          # native, but a size too small to gain
])
def test_the_bf16_verdict_follows_the_measured_ratio(fp32, bf16, native, words):
    got_native, sentence = bench.bf16_verdict(fp32, bf16)
    assert got_native is native
    assert words in sentence
