"""The course's matmul benchmark (``mnistlab.bench.matmul_gflops``) against this machine's ceiling, per dtype.

Usage: python benchmarks/matmul.py [--size 512] [--sweep 256 512 1024 2048 4096] [--repeats 5] [--rounds 3]

``--size`` is what notebook 01 measures (``matmul_gflops(512, dtype, 'cpu')``). The ceiling is the
best GFLOP/s over a sweep of square sizes in the same run (large squares are where a CPU's BLAS gets
closest to its peak). Sizes are measured round-robin, ``--rounds`` times, and each keeps its best
median, so a burst of load from other programs does not decide the result. The last line is the
benchmark's GFLOP/s as a fraction of the ceiling, for fp32 and bf16.
"""

from __future__ import annotations

import argparse
import os

import torch

from mnistlab.bench import matmul_gflops
from mnistlab.device import describe


def main() -> None:
    """Measure the benchmark size and the sweep for fp32 and bf16; print the ratios last."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512, help="the benchmark's size (notebook 01: 512)")
    parser.add_argument("--sweep", type=int, nargs="+", default=[256, 512, 1024, 2048, 4096])
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per measurement (median)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over all sizes (best kept)")
    args = parser.parse_args()

    print(" | ".join(f"{k}: {v}" for k, v in describe("cpu").items()))
    print(f"load average at start: {os.getloadavg()}", flush=True)
    ratios = {}
    for dtype in (torch.float32, torch.bfloat16):
        sizes = sorted(set(args.sweep) | {args.size})
        best = dict.fromkeys(sizes, 0.0)
        for _ in range(args.rounds):
            for n in sizes:
                best[n] = max(best[n], matmul_gflops(n, dtype=dtype, device="cpu", repeats=args.repeats))
        ceiling_size = max(best, key=best.get)
        name = str(dtype).replace("torch.", "")
        print(f"{name}: " + ", ".join(f"{n}: {g:.0f}" for n, g in best.items()) + " GFLOP/s", flush=True)
        ratios[name] = (best[args.size], best[ceiling_size], ceiling_size)
    print(f"load average at end: {os.getloadavg()}")
    print(" | ".join(f"{name} benchmark ({args.size}) {got:.0f} / ceiling ({size}) {top:.0f} GFLOP/s = {got / top:.2f}"
                     for name, (got, top, size) in ratios.items()))


if __name__ == "__main__":
    main()
