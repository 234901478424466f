"""The course's matmul benchmark (``mnistlab.bench.matmul_gflops``) against this machine's ceiling, per dtype.

Usage: python benchmarks/matmul.py [--size 512] [--sweep 256 512 1024 2048 4096] [--repeats 5] [--rounds 3]
       [--device cpu]

``--size`` is what notebook 01 measures (``matmul_gflops(512, dtype, 'cpu')``). The ceiling is the
best GFLOP/s over a sweep of square sizes in the same run (large squares are where a BLAS gets
closest to its peak). Sizes are measured round-robin, ``--rounds`` times, and each keeps its best
median (``mnistlab.bench.sweep_gflops``), so a burst of load from other programs does not decide the
result. The last line is the benchmark's GFLOP/s as a fraction of the ceiling, per dtype.

bf16 is swept like fp32 only where the hardware multiplies it natively (``mnistlab.fast.
bf16_autocast_available``: a CUDA GPU with bf16, a CPU with AMX-BF16 or AVX512-BF16). Elsewhere it is
emulated, from 6x (AVX-512 CPUs) to 200x (AVX2-only CPUs) slower than fp32: a 1024x1024 bf16 matmul
takes about 17 s on an AVX2 CPU, a sweep to 4096 would take hours. There it is measured at one small
size (``EMULATED_BF16_SIZE``), side by side with fp32 on one thread (a ratio that other programs on
the machine cannot distort), and the output says so.

``ceiling()`` is what ``benchmarks/throughput.py`` and ``benchmarks/gpu_check.py`` use for the same sweep.
"""

from __future__ import annotations

import argparse
import os

import torch

from mnistlab.bench import dtype_name, sweep_gflops
from mnistlab.device import describe
from mnistlab.fast import BF16_CPU_FLAGS, bf16_autocast_available

SWEEP = (256, 512, 1024, 2048, 4096)
GPU_SWEEP = (1024, 2048, 4096, 8192)  # a GPU needs larger squares than a CPU to come near its peak
EMULATED_BF16_SIZE = 256


def default_sweep(device: torch.device | str) -> tuple[int, ...]:
    """The sizes whose best is taken for the ceiling: ``SWEEP`` on a CPU, ``GPU_SWEEP`` on a GPU."""
    return GPU_SWEEP if torch.device(device).type == "cuda" else SWEEP


def fast_dtype(device: torch.device | str) -> torch.dtype:
    """The precision ``--fast`` multiplies in on ``device``: bf16 where it is native there, else fp32."""
    return torch.bfloat16 if bf16_autocast_available(device) else torch.float32


def ceiling(
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
    sizes: tuple[int, ...] | None = None,
    rounds: int = 3,
    repeats: int = 5,
) -> tuple[float, int, dict[int, float]]:
    """(best GFLOP/s, the size it was reached at, every size's best) for ``dtype`` on ``device``."""
    sizes = sizes or default_sweep(device)
    best = sweep_gflops(sizes, (dtype,), device, rounds, repeats)[dtype_name(dtype)]
    size = max(best, key=best.get)
    return best[size], size, best


def main() -> None:
    """Measure the benchmark size and the sweep per dtype; print the ratios last."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512, help="the benchmark's size (notebook 01: 512)")
    parser.add_argument("--sweep", type=int, nargs="+", default=None, help="default: 256-4096 (CPU), 1024-8192 (GPU)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per measurement (median)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over all sizes (best kept)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    args = parser.parse_args()

    device = torch.device(args.device)
    print(" | ".join(f"{k}: {v}" for k, v in describe(device).items()))
    print(f"load average at start: {os.getloadavg()}", flush=True)
    sizes = tuple(sorted(set(args.sweep or default_sweep(device)) | {args.size}))
    native = bf16_autocast_available(device)
    ratios = {}
    fp32_top, fp32_size, fp32_best = ceiling(torch.float32, device, sizes, args.rounds, args.repeats)
    print("float32: " + ", ".join(f"{n}: {g:.0f}" for n, g in fp32_best.items()) + " GFLOP/s", flush=True)
    ratios["float32"] = (args.size, fp32_best[args.size], fp32_top, fp32_size)
    if native:
        top, size, best = ceiling(torch.bfloat16, device, sizes, args.rounds, args.repeats)
        print("bfloat16: " + ", ".join(f"{n}: {g:.0f}" for n, g in best.items()) + " GFLOP/s (native)")
        ratios["bfloat16"] = (args.size, best[args.size], top, size)
    else:
        n, threads = EMULATED_BF16_SIZE, torch.get_num_threads()
        torch.set_num_threads(1)  # the ratio of one core, which a busy neighbour cannot distort (it can with 2+)
        try:
            side = sweep_gflops((n,), (torch.float32, torch.bfloat16), device, args.rounds, args.repeats)
        finally:
            torch.set_num_threads(threads)
        fp32, bf16 = side["float32"][n], side["bfloat16"][n]
        print(f"bfloat16: {n}: {bf16:.1f} GFLOP/s, side by side with float32 {fp32:.0f} on one thread: "
              f"{bf16 / fp32:.3f}x. "
              f"Not swept: this {device.type} has no native bf16 arithmetic "
              f"(no {' or '.join(BF16_CPU_FLAGS) if device.type == 'cpu' else 'bf16 support'} flag), "
              "so bf16 is emulated and larger sizes would take minutes to hours; --fast trains in float32 here")
    print(f"load average at end: {os.getloadavg()}")
    print(" | ".join(f"{name} benchmark ({n}) {got:.0f} / ceiling ({size}) {top:.0f} GFLOP/s = {got / top:.2f}"
                     for name, (n, got, top, size) in ratios.items())
          + f" | --fast multiplies in {dtype_name(fast_dtype(device))} here")


if __name__ == "__main__":
    main()
