"""mnistlab.bench: fields, FLOP counts, the memory cap, warm-up/repeat logic and the plot (no timed asserts:
where a figure comes from a time, the clock or the timing loop is replaced by one that gives known times)."""

from __future__ import annotations

import itertools

import pytest
import torch
from conftest import fake_file

from mnistlab import bench


def test_flops_and_bytes_follow_the_formulas():
    assert bench.matmul_flops(10) == 2_000
    assert bench.matmul_flops(10, batch=3) == 6_000
    assert bench.matmul_bytes(10) == 3 * 100 * 4
    assert bench.matmul_bytes(10, batch=2, dtype=torch.bfloat16, tensors=2) == 2 * 2 * 100 * 2
    # the seed's last step: two (900, 1000, 1000) float32 tensors
    assert bench.matmul_bytes(1000, batch=900, tensors=2) == 7_200_000_000


def fixed_times(monkeypatch, seconds: float) -> list[torch.Tensor]:
    """Make every timed call take ``seconds`` (bench.time_call replaced); returns the products computed.

    The timed function still runs once per repeat, so the test sees what was multiplied.
    """
    products = []

    def time_call(fn, repeats=5, warmup=2, device="cpu", timer=None):
        products.extend(fn().clone() for _ in range(repeats))
        return [seconds] * repeats

    monkeypatch.setattr(bench, "time_call", time_call)
    return products


def test_gflops_come_from_the_median_time_and_the_flop_count(monkeypatch):
    products = fixed_times(monkeypatch, 0.004)
    results = bench.benchmark_matmul([8, 32], repeats=2, warmup=1)
    assert [r.size for r in results] == [8, 32]
    assert [r.seconds for r in results] == [0.004, 0.004]
    assert [r.gflops for r in results] == [2 * 8**3 / 0.004 / 1e9, 2 * 32**3 / 0.004 / 1e9]
    assert results[1].gflops == pytest.approx(64 * results[0].gflops)  # 4x the size: 64x the work, same time
    for r in results:
        assert r.device == "cpu" and r.dtype == "float32" and r.batch == 1 and r.repeats == 2
        assert set(r.to_dict()) >= {"size", "seconds", "gflops", "device", "dtype"}
    assert [tuple(p.shape) for p in products] == [(8, 8), (8, 8), (32, 32), (32, 32)]  # a product per repeat


def test_small_sizes_run_for_real_and_report_consistent_fields():
    results = bench.benchmark_matmul([8, 32], repeats=2, warmup=1)
    for r in results:
        assert r.seconds > 0 and r.gflops == pytest.approx(bench.matmul_flops(r.size) / r.seconds / 1e9)


def test_batched_matmul_counts_every_product():
    r = bench.time_matmul(16, batch=4, repeats=1, warmup=0)
    assert r.batch == 4
    assert r.gflops == pytest.approx(bench.matmul_flops(16, 4) / r.seconds / 1e9)


def test_bf16_gflops_times_a_bf16_product(monkeypatch):
    products = fixed_times(monkeypatch, 0.5)
    value = bench.matmul_gflops(32, dtype=torch.bfloat16, repeats=3)
    assert value == 2 * 32**3 / 0.5 / 1e9
    assert [p.dtype for p in products] == [torch.bfloat16] * 3


def test_max_size_is_the_largest_that_fits():
    budget = 10 * 1024**2
    n = bench.max_matmul_size(budget)
    assert bench.matmul_bytes(n) <= budget < bench.matmul_bytes(n + 1)
    assert bench.max_matmul_size(budget, batch=4) < n
    assert bench.max_matmul_size(budget, dtype=torch.bfloat16) > n


def test_size_over_the_cap_is_refused_before_anything_runs(monkeypatch):
    budget = bench.matmul_bytes(64)  # 64 fits exactly, 65 does not
    bench.check_size(64, budget)
    with pytest.raises(ValueError, match="refusing size 65.*at most 64"):
        bench.check_size(65, budget)
    timed = []
    monkeypatch.setattr(bench, "time_matmul", lambda n, *args: timed.append(n))
    with pytest.raises(ValueError, match="refusing size 65"):
        bench.benchmark_matmul([8, 65], max_bytes=budget, repeats=1, warmup=0)
    assert timed == []  # size 8 was not run either: the whole sweep is refused up front
    empties = []
    monkeypatch.setattr(bench.torch, "empty", lambda *args, **kwargs: empties.append(args))
    with pytest.raises(ValueError, match="refusing size 1000 \\(batch 900"):
        bench.naive_seed_loop([1, 900], max_bytes=2**30)
    assert empties == []
    assert bench.sizes_that_fit([8, 64, 65, 4096], max_bytes=budget) == [8, 64]


def test_bad_sizes_are_rejected():
    for n, batch in [(0, 1), (8, 0), (-3, 1), (2.5, 1)]:
        with pytest.raises(ValueError, match="positive ints"):
            bench.check_size(n, 10**9, batch=batch)


def test_available_memory_and_budget(monkeypatch):
    meminfo = "MemTotal:       16384000 kB\nMemFree:         1000000 kB\nMemAvailable:    8000000 kB\n"
    fake_file(monkeypatch, "/proc/meminfo", meminfo)
    assert bench.available_memory("cpu") == 8_000_000 * 1024  # MemAvailable, in kB: not MemFree, not MemTotal
    assert bench.memory_budget("cpu", fraction=0.25) == 2_000_000 * 1024
    with pytest.raises(ValueError, match="fraction"):
        bench.memory_budget("cpu", fraction=0)
    fake_file(monkeypatch, "/proc/meminfo", OSError("not Linux"))  # the conservative constant is used
    assert bench.available_memory("cpu") == bench.FALLBACK_AVAILABLE_BYTES


def test_time_call_honours_warmup_and_repeats():
    calls = []
    ticks = itertools.count()
    times = bench.time_call(lambda: calls.append(1), repeats=4, warmup=3, timer=lambda: float(next(ticks)))
    assert len(calls) == 7  # 3 untimed warm-ups + 4 timed repeats
    assert times == [1.0, 1.0, 1.0, 1.0]  # the timer is read once before and once after each repeat
    assert next(ticks) == 8
    with pytest.raises(ValueError, match="repeats"):
        bench.time_call(lambda: None, repeats=0)


def test_time_matmul_reports_the_median_repeat():
    # each repeat reads the clock twice: durations 5, 1, 3, 100
    readings = iter([0, 5, 10, 11, 20, 23, 30, 130])
    r = bench.time_matmul(4, repeats=4, warmup=1, timer=lambda: float(next(readings)))
    assert r.seconds == 4.0  # median of [5, 1, 3, 100]; the mean would be 27.25
    assert r.repeats == 4


def test_naive_loop_reads_the_clock_around_each_batch_and_syncs_only_when_asked(monkeypatch):
    readings = iter([0.0, 2.0, 10.0, 13.0, 20.0, 20.5])
    monkeypatch.setattr(bench.time, "time", lambda: next(readings))
    synced = []
    monkeypatch.setattr(bench, "synchronize", lambda device: synced.append(str(device)))
    assert bench.naive_seed_loop([1, 2, 3], n=16) == [2.0, 3.0, 0.5]
    assert synced == []  # the seed's loop: the clock stops before queued GPU work is done
    readings = iter([0.0, 1.5])
    assert bench.naive_seed_loop([2], n=8, sync=True) == [1.5]
    assert synced == ["cpu"]


def test_compare_devices_on_this_machine():
    results = bench.compare_devices([8, 16], repeats=1, warmup=0)
    devices = [r.device for r in results]
    assert devices[:2] == ["cpu", "cpu"]
    if torch.cuda.is_available():
        assert len(results) == 4 and devices[2].startswith("cuda")
    else:
        assert len(results) == 2


def test_compare_devices_with_explicit_list(monkeypatch):
    monkeypatch.setenv("MNISTLAB_DEVICE", "cpu")
    results = bench.compare_devices([8], devices=["cpu", "cpu"], repeats=1, warmup=0)
    assert [r.device for r in results] == ["cpu", "cpu"]
    assert len(bench.compare_devices([8], repeats=1, warmup=0)) == 1  # override: CPU only


def test_plot_has_one_line_per_device_on_both_axes():
    results = [
        bench.BenchResult(size, 0.001 * size, 2.0 * size, device, "float32")
        for device in ("cpu", "cuda")
        for size in (64, 128, 256)
    ]
    ax_time, ax_gflops = bench.plot_benchmark(results)
    for ax in (ax_time, ax_gflops):
        labels = [line.get_label() for line in ax.get_lines()]
        assert labels == ["cpu", "cuda"]
        assert list(ax.get_lines()[0].get_xdata()) == [64, 128, 256]
    assert list(ax_gflops.get_lines()[1].get_ydata()) == [128.0, 256.0, 512.0]
    with pytest.raises(ValueError, match="no results"):
        bench.plot_benchmark([])


def test_plot_labels_dtype_when_several():
    results = [bench.BenchResult(64, 0.01, 5.0, "cpu", dtype) for dtype in ("float32", "bfloat16")]
    ax_time, _ = bench.plot_benchmark(results)
    assert [line.get_label() for line in ax_time.get_lines()] == ["cpu float32", "cpu bfloat16"]


def test_results_table_has_a_row_per_result():
    results = [bench.BenchResult(64, 0.002, 0.26, "cpu", "float32")]
    table = bench.results_table(results).splitlines()
    assert len(table) == 2 and table[1].split() == ["cpu", "float32", "64", "1", "2.000", "0.3"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_path():
    free = bench.available_memory("cuda")
    assert free > 0
    r = bench.time_matmul(256, device="cuda", repeats=2, warmup=1)
    assert r.device.startswith("cuda") and r.gflops > 0
    assert len(bench.naive_seed_loop([1, 2], n=256, device="cuda", sync=True)) == 2


def test_the_seeds_gpu_version_times_the_copy_from_host_memory(monkeypatch):
    made = []
    real_empty = torch.empty

    def empty(*size, device=None, **kwargs):
        made.append(torch.device(device) if device is not None else torch.device("cpu"))
        return real_empty(*size, device=device, **kwargs)

    moved = []
    real_to = torch.Tensor.to

    def to(self, *args, **kwargs):
        moved.append(args)
        return real_to(self, *args, **kwargs)

    monkeypatch.setattr(bench.torch, "empty", empty)
    monkeypatch.setattr(torch.Tensor, "to", to)
    readings = iter([0.0, 1.0])
    monkeypatch.setattr(bench.time, "time", lambda: next(readings))
    assert bench.naive_seed_loop([2], n=8, from_host=True) == [1.0]
    assert made == [torch.device("cpu")] and moved == [(torch.device("cpu"),)]  # made on the host, then copied
    made.clear(), moved.clear()
    readings = iter([0.0, 1.0])
    bench.naive_seed_loop([2], n=8)
    assert moved == []  # without from_host the tensor is made where it is used


def _rows(*pairs, device="cpu", dtype="float32"):
    return [bench.BenchResult(size=n, seconds=1.0, gflops=g, device=device, dtype=dtype) for n, g in pairs]


def test_busy_check_names_a_fall_at_the_larger_sizes():
    quiet = _rows((64, 51.4), (128, 131.4), (256, 175.9), (512, 170.4))
    assert bench.busy_check(quiet) is None
    busy = _rows((64, 40.0), (128, 90.0), (256, 120.0), (512, 14.1))
    line = bench.busy_check(busy)
    assert line.startswith(bench.BUSY_MARK) and "n=512" in line and "14.1" in line and "n=256" in line
    # small sizes rise on any machine and are not judged; another device is judged on its own
    assert bench.busy_check(_rows((64, 100.0), (256, 30.0), (512, 29.0))) is None
    mixed = _rows((256, 170.0), (512, 160.0)) + _rows((256, 9000.0), (512, 30.0), device="cuda")
    assert "cuda" in bench.busy_check(mixed)
    assert bench.busy_check([]) is None


def test_busy_check_speaks_the_mark_run_notebooks_looks_for():
    import importlib.util

    from conftest import REPO
    spec = importlib.util.spec_from_file_location("run_notebooks", REPO / "scripts" / "run_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.BUSY_MARK == bench.BUSY_MARK
