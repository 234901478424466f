"""Timing matrix multiplication the right way, and the seed's way for comparison.

Taught in notebook 01 (GPU和CPU). A fair timing of ``a @ b``:

* fills the inputs with ``torch.randn`` (uninitialised memory can hold denormals or NaNs,
  which change how fast some CPUs compute, and whatever is there differs run to run);
* runs a few untimed warm-up calls first (the first call loads libraries, picks kernels,
  touches fresh memory);
* calls ``mnistlab.device.synchronize`` before reading the clock: a GPU runs kernels
  asynchronously, so without it the clock stops when the work is *queued*, not done;
* reads ``time.perf_counter`` (a monotonic, high-resolution clock) and reports the
  median of several repeats (one slow repeat, when another program grabs the CPU, does
  not move the median);
* reports GFLOP/s: an ``n x n`` matmul costs ``2 * n**3`` floating-point operations
  (``2 * b * n**3`` for a batch of ``b``), so sizes can be compared.

Memory policy: every allocation is checked against a budget first (by default half of
the memory available on that device). A size over the budget is *refused* with a
``ValueError`` before anything is allocated; nothing is skipped silently. To keep only
the sizes that fit, filter them yourself with ``sizes_that_fit``. The budget's default is
resolved in one place, ``resolve_budget``.

Over 300 lines, one job: fair matmul timings, the memory checks they need and their plots.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import matplotlib.pyplot as plt
import torch

from .device import get_device, synchronize

__all__ = ["BUDGET_FRACTION", "FALLBACK_AVAILABLE_BYTES", "BenchResult", "available_memory", "benchmark_matmul",
           "check_size", "compare_devices", "dtype_name", "matmul_bytes", "matmul_flops", "matmul_gflops",
           "max_matmul_size", "memory_budget", "naive_seed_loop", "plot_benchmark", "resolve_budget", "results_table",
           "sizes_that_fit", "time_call", "time_matmul", "sweep_gflops", "training_flops", "share_of_ceiling",
           "BF16_EMULATED_BELOW", "bf16_verdict", "BUSY_MARK", "BUSY_BELOW", "busy_check"]

FALLBACK_AVAILABLE_BYTES = 2 * 1024**3
"""Memory assumed available when it cannot be measured (2 GiB: small on purpose)."""

BUDGET_FRACTION = 0.5
"""Share of the available memory a benchmark may use by default."""


@dataclass
class BenchResult:
    """One timed matmul size: ``batch`` products of ``size x size`` matrices on ``device``."""

    size: int
    seconds: float
    gflops: float
    device: str
    dtype: str
    batch: int = 1
    repeats: int = 1

    def to_dict(self) -> dict:
        """The result as a plain dict (for printing, JSON or a table)."""
        return asdict(self)


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.float32`` -> ``'float32'``."""
    return str(dtype).replace("torch.", "")


def matmul_flops(n: int, batch: int = 1) -> int:
    """Floating-point operations of ``batch`` products of two ``n x n`` matrices: ``2 * batch * n**3``."""
    return 2 * batch * n**3


def matmul_bytes(n: int, batch: int = 1, dtype: torch.dtype = torch.float32, tensors: int = 3) -> int:
    """Bytes held by ``tensors`` tensors of shape ``(batch, n, n)`` (a, b and the result: 3)."""
    return tensors * batch * n * n * dtype.itemsize


def available_memory(device: torch.device | str = "cpu") -> int:
    """Free memory on ``device`` in bytes: cuda's ``mem_get_info``, Linux's MemAvailable, else a fallback."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type == "cpu":
        try:
            with open("/proc/meminfo", encoding="utf-8") as fh:
                for line in fh:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024  # the file counts in kB
        except (OSError, ValueError, IndexError):
            pass
    return FALLBACK_AVAILABLE_BYTES


def memory_budget(device: torch.device | str = "cpu", fraction: float = BUDGET_FRACTION) -> int:
    """Bytes a benchmark may allocate on ``device``: ``fraction`` of the available memory."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    return int(available_memory(device) * fraction)


def resolve_budget(max_bytes: int | None, device: torch.device | str = "cpu") -> int:
    """``max_bytes`` as given, or ``memory_budget(device)`` when it is None: every function here resolves it so."""
    return memory_budget(device) if max_bytes is None else max_bytes


def max_matmul_size(
    max_bytes: int | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    batch: int = 1,
    tensors: int = 3,
) -> int:
    """Largest ``n`` whose ``tensors`` tensors of shape ``(batch, n, n)`` fit in ``max_bytes``."""
    max_bytes = resolve_budget(max_bytes, device)
    return math.isqrt(max(max_bytes, 0) // matmul_bytes(1, batch, dtype, tensors))


def check_size(
    n: int,
    max_bytes: int | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    batch: int = 1,
    tensors: int = 3,
) -> None:
    """Raise ``ValueError`` if a ``(batch, n, n)`` matmul would need more than ``max_bytes``."""
    if not isinstance(n, int) or n < 1 or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"size and batch must be positive ints, got size={n!r}, batch={batch!r}")
    max_bytes = resolve_budget(max_bytes, device)
    need = matmul_bytes(n, batch, dtype, tensors)
    if need > max_bytes:
        largest = max_matmul_size(max_bytes, device, dtype, batch, tensors)
        raise ValueError(
            f"refusing size {n} (batch {batch}, {dtype_name(dtype)}): it needs {need / 1e9:.2f} GB "
            f"but the budget is {max_bytes / 1e9:.2f} GB; use a size of at most {largest}, "
            f"or pass a larger max_bytes if you know the memory is there"
        )


def sizes_that_fit(
    sizes: Sequence[int],
    max_bytes: int | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    batch: int = 1,
) -> list[int]:
    """The sizes from ``sizes`` whose matmul fits in ``max_bytes`` (the others dropped)."""
    max_bytes = resolve_budget(max_bytes, device)
    largest = max_matmul_size(max_bytes, device, dtype, batch)
    return [n for n in sizes if n <= largest]


def time_call(
    fn: Callable[[], object],
    repeats: int = 5,
    warmup: int = 2,
    device: torch.device | str = "cpu",
    timer: Callable[[], float] = time.perf_counter,
) -> list[float]:
    """Call ``fn`` ``warmup`` times untimed, then ``repeats`` times timed; return each repeat's seconds.

    ``synchronize(device)`` runs before each start and stop, so queued GPU work is counted.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}")
    for _ in range(warmup):
        fn()
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = timer()
        fn()
        synchronize(device)
        times.append(timer() - start)
    return times


def time_matmul(
    n: int,
    batch: int = 1,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
    repeats: int = 5,
    warmup: int = 2,
    max_bytes: int | None = None,
    timer: Callable[[], float] = time.perf_counter,
) -> BenchResult:
    """Median time and GFLOP/s of ``a @ b`` for random ``(batch, n, n)`` inputs (batch 1: plain matrices)."""
    device = torch.device(device)
    check_size(n, max_bytes, device, dtype, batch)
    shape = (n, n) if batch == 1 else (batch, n, n)
    generator = torch.Generator().manual_seed(0)  # inputs made on the CPU, the same on every device
    a = torch.randn(shape, generator=generator).to(device=device, dtype=dtype)
    b = torch.randn(shape, generator=generator).to(device=device, dtype=dtype)
    out = torch.empty_like(a)
    times = time_call(lambda: torch.matmul(a, b, out=out), repeats, warmup, device, timer)
    seconds = statistics.median(times)
    gflops = matmul_flops(n, batch) / seconds / 1e9 if seconds > 0 else float("inf")
    return BenchResult(n, seconds, gflops, str(device), dtype_name(dtype), batch, repeats)


def matmul_gflops(
    n: int, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu", repeats: int = 5
) -> float:
    """Measured GFLOP/s of one ``n x n`` matmul in ``dtype`` on ``device`` (median of ``repeats``)."""
    return time_matmul(n, dtype=dtype, device=device, repeats=repeats).gflops


def benchmark_matmul(
    sizes: Sequence[int],
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    batch: int = 1,
    repeats: int = 5,
    warmup: int = 2,
    max_bytes: int | None = None,
) -> list[BenchResult]:
    """Time ``a @ b`` at each size on one device; refuses (ValueError) before running if any size is too big."""
    device = torch.device(device)
    max_bytes = resolve_budget(max_bytes, device)
    for n in sizes:
        check_size(n, max_bytes, device, dtype, batch)
    return [time_matmul(n, batch, dtype, device, repeats, warmup, max_bytes) for n in sizes]


def compare_devices(
    sizes: Sequence[int],
    devices: Sequence[torch.device | str] | None = None,
    dtype: torch.dtype = torch.float32,
    batch: int = 1,
    repeats: int = 5,
    warmup: int = 2,
    max_bytes: int | None = None,
) -> list[BenchResult]:
    """Benchmark the CPU and, when there is one, the accelerator ``get_device()`` picks, side by side."""
    if devices is None:
        devices = [torch.device("cpu")]
        best = get_device()
        if best.type != "cpu":
            devices.append(best)
    results = []
    for device in devices:
        results += benchmark_matmul(sizes, device, dtype, batch, repeats, warmup, max_bytes)
    return results


def naive_seed_loop(
    batches: Sequence[int],
    n: int = 1000,
    device: torch.device | str = "cpu",
    sync: bool = False,
    max_bytes: int | None = None,
    from_host: bool = False,
) -> list[float]:
    """The seed's loop at caller-given batch counts: one ``time.time()`` reading per batch, no warm-up.

    Each step allocates an UNINITIALISED ``(batch, n, n)`` float32 tensor (like ``torch.FloatTensor``)
    and multiplies it by itself, timing allocation and matmul together. On a GPU the clock stops
    when the kernel is queued, so the times stay flat; ``sync=True`` adds the missing
    ``synchronize`` to show the real cost. The seed used batches 100..900 with ``n=1000`` (up to
    7.2 GB): pick small ones.

    ``from_host=True`` is the seed's GPU version as its text describes it (``a = a.cuda()`` added to the
    loop): the tensor is made in the CPU's memory and copied to ``device`` inside the timed region, so the
    clock also measures that copy (which grows with the batch), but still not the queued matmul.
    """
    device = torch.device(device)
    max_bytes = resolve_budget(max_bytes, device)
    for batch in batches:
        check_size(n, max_bytes, device, torch.float32, batch, tensors=2)
    times = []
    for batch in batches:
        start = time.time()
        if from_host:
            a = torch.empty(batch, n, n).to(device)  # torch.FloatTensor(batch, n, n), then a = a.cuda()
        else:
            a = torch.empty(batch, n, n, device=device)  # what torch.FloatTensor(batch, n, n) does
        a = torch.matmul(a, a)
        if sync:
            synchronize(device)
        times.append(time.time() - start)
    return times


def results_table(results: Sequence[BenchResult]) -> str:
    """The results as an aligned text table (device, dtype, size, batch, ms, GFLOP/s)."""
    lines = [f"{'device':<8} {'dtype':<9} {'size':>6} {'batch':>5} {'ms':>10} {'GFLOP/s':>9}"]
    for r in results:
        lines.append(
            f"{r.device:<8} {r.dtype:<9} {r.size:>6} {r.batch:>5} {r.seconds * 1e3:>10.3f} {r.gflops:>9.1f}"
        )
    return "\n".join(lines)


def plot_benchmark(
    results: Sequence[BenchResult], axes: Sequence[plt.Axes] | None = None
) -> tuple[plt.Axes, plt.Axes]:
    """Plot time (left) and GFLOP/s (right) against matrix size, one line per device (and dtype)."""
    if not results:
        raise ValueError("no results to plot: run benchmark_matmul or compare_devices first")
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    ax_time, ax_gflops = axes
    dtypes = {r.dtype for r in results}
    lines: dict[str, list[BenchResult]] = {}
    for r in results:
        label = r.device if len(dtypes) == 1 else f"{r.device} {r.dtype}"
        lines.setdefault(label, []).append(r)
    for label, rows in lines.items():
        rows = sorted(rows, key=lambda r: r.size)
        sizes = [r.size for r in rows]
        ax_time.plot(sizes, [r.seconds * 1e3 for r in rows], marker="o", label=label)
        ax_gflops.plot(sizes, [r.gflops for r in rows], marker="o", label=label)
    for ax in (ax_time, ax_gflops):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("matrix size n (n x n)")
        ax.grid(True, alpha=0.3)
        ax.legend()
    ax_time.set_yscale("log")
    ax_time.set_ylabel("median time (ms, log scale)")
    ax_time.set_title("time per matmul")
    ax_gflops.set_ylabel("GFLOP/s")
    ax_gflops.set_title("throughput (2 n^3 FLOP / time)")
    return ax_time, ax_gflops


# --- ceilings and shares: how close a workload comes to the machine's matmul speed -------------------------


def sweep_gflops(
    sizes: Sequence[int],
    dtypes: Sequence[torch.dtype] = (torch.float32,),
    device: torch.device | str = "cpu",
    rounds: int = 3,
    repeats: int = 5,
) -> dict[str, dict[int, float]]:
    """Best GFLOP/s of each dtype at each size: ``{"float32": {256: ..., 512: ...}, ...}``.

    Every (dtype, size) pair is measured once per round, round-robin, and keeps its best median over
    ``rounds``: a burst of load from another program slows one round of one pair, not the result, and
    dtypes measured in the same round can be compared side by side. Sizes over the memory budget are
    refused (ValueError) before anything runs.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds!r}")
    device = torch.device(device)
    for dtype in dtypes:
        for n in sizes:
            check_size(n, None, device, dtype)
    best = {dtype_name(dtype): dict.fromkeys(sizes, 0.0) for dtype in dtypes}
    for _ in range(rounds):
        for dtype in dtypes:
            for n in sizes:
                gflops = matmul_gflops(n, dtype=dtype, device=device, repeats=repeats)
                best[dtype_name(dtype)][n] = max(best[dtype_name(dtype)][n], gflops)
    return best


def training_flops(model: torch.nn.Module, input_shape: Sequence[int] = (1, 28, 28), batch: int = 2) -> float:
    """FLOP per image of one training step of ``model`` (forward, then backward of a cross-entropy loss).

    Counted, not timed, by ``torch.utils.flop_counter.FlopCounterMode`` on a random batch: matmuls and
    convolutions, forward and backward, which is where the arithmetic is (elementwise work such as ReLU,
    pooling and the optimizer is not counted). The first layer's input gradient is not computed (the
    images need none), so it is not counted either. The model's weights and gradients are left as found.
    """
    from torch.utils.flop_counter import FlopCounterMode

    device = next(model.parameters()).device
    saved = [p.grad for p in model.parameters()]
    was_training = model.training
    x = torch.randn(batch, *input_shape, device=device)
    y = torch.zeros(batch, dtype=torch.long, device=device)
    model.train()
    try:
        with FlopCounterMode(display=False) as counter:
            torch.nn.functional.cross_entropy(model(x), y).backward()
    finally:
        for p, grad in zip(model.parameters(), saved, strict=True):
            p.grad = grad
        model.train(was_training)
    return counter.get_total_flops() / batch


def share_of_ceiling(images_per_s: float, flops_per_image: float, ceiling_gflops: float) -> float:
    """The share of a matmul ceiling a training run achieves: images/s x FLOP per image / ceiling."""
    if ceiling_gflops <= 0:
        raise ValueError(f"the ceiling must be positive, got {ceiling_gflops!r} GFLOP/s")
    return images_per_s * flops_per_image / 1e9 / ceiling_gflops


#: A bf16 matmul at under this share of fp32's speed is taken for emulated (converted to fp32 and back):
#: measured 0.005x on an AVX2 CPU and about 0.15x on an AVX-512 CPU without AVX512-BF16, against 2.2x
#: (AVX512-BF16) and 3.7x (AMX) where the CPU multiplies bf16 natively.
BF16_EMULATED_BELOW = 0.5


#: The start of the line a timing notebook prints when its own figures say the machine was busy;
#: ``scripts/run_notebooks.py`` refuses to save such a run (the same text is defined there).
BUSY_MARK = "BUSY MACHINE:"

BUSY_BELOW = 0.6
"""A larger size under this share of a smaller size's GFLOP/s means the machine was busy (see ``busy_check``)."""


def busy_check(results: Sequence[BenchResult], smallest: int = 256) -> str | None:
    """A ``BUSY MACHINE: ...`` line when the GFLOP/s fall at the larger sizes, else None.

    On a quiet machine, float32 matmul speed rises with the size and then stays near the ceiling: once
    ``n`` is at least ``smallest`` (the cores are kept busy from there), a larger size is not much slower
    per FLOP. When other programs hold the cores, the larger sizes, which take longer and so meet more of
    the other work, fall far below the best smaller one. Only results of one device and dtype compare.
    """
    groups: dict[tuple[str, str], list[BenchResult]] = {}
    for r in results:
        if r.size >= smallest:
            groups.setdefault((r.device, r.dtype), []).append(r)
    for (device, dtype), rows in groups.items():
        rows = sorted(rows, key=lambda r: r.size)
        for k, r in enumerate(rows[1:], start=1):
            best = max(rows[:k], key=lambda q: q.gflops)
            if r.gflops < BUSY_BELOW * best.gflops:
                return (f"{BUSY_MARK} {device} {dtype} n={r.size} ran at {r.gflops:.1f} GFLOP/s, under "
                        f"{BUSY_BELOW:.0%} of n={best.size}'s {best.gflops:.1f}: other programs held the cores; "
                        "run again when the machine is quiet")
    return None


def bf16_verdict(fp32_gflops: float, bf16_gflops: float) -> tuple[bool, str]:
    """(bf16 runs natively here, one sentence saying so) from two measured GFLOP/s figures on one device."""
    ratio = bf16_gflops / fp32_gflops
    if ratio < BF16_EMULATED_BELOW:
        return False, (f"bf16 matmul runs at {ratio:.2f}x float32 here ({1 / ratio:.0f}x slower): this processor does "
                       "not multiply bf16 natively, so PyTorch emulates it; keep float32 for speed")
    if ratio < 1.2:
        return True, (f"bf16 matmul runs at {ratio:.1f}x float32 here: about as fast, native but no faster at "
                      "this size; bf16 helps with larger matrices or to save memory")
    return True, f"bf16 matmul runs at {ratio:.1f}x float32 here: this processor multiplies bf16 natively"
