"""Where tensors live, and how to make runs repeatable.

Taught in notebook 01 (GPU和CPU). ``get_device`` picks cuda, then mps, then cpu;
``synchronize`` waits for queued GPU work (timing without it measures nothing);
``seed_everything`` makes every random draw of a run repeatable; ``reuse_freed_memory`` keeps a CPU
training loop from asking the operating system for fresh memory at every step (``fit(fast=True)``);
``use_idle_cores`` gives PyTorch as many compute threads as the CPU has idle cores (notebooks 06-12).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator

import torch

__all__ = ["DEVICE_ENV", "MAX_SEED", "check_seed", "cpu_flags", "describe", "get_device", "memory_reuse_active",
           "model_device", "reuse_freed_memory", "seed_everything", "synchronize", "idle_cores", "use_idle_cores"]

DEVICE_ENV = "MNISTLAB_DEVICE"


def _available(kind: str) -> bool:
    if kind == "cpu":
        return True
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        return hasattr(torch.backends, "mps") and torch.backends.mps.is_available()
    return False


def get_device(name: str | None = None) -> torch.device:
    """Return the best device (cuda, then mps, then cpu); ``name`` or $MNISTLAB_DEVICE overrides."""
    from_env = not name and bool(os.environ.get(DEVICE_ENV))
    name = name or os.environ.get(DEVICE_ENV) or None
    where = f" (from ${DEVICE_ENV})" if from_env else ""
    if name is None or name == "auto":
        for kind in ("cuda", "mps"):
            if _available(kind):
                return torch.device(kind)
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ValueError(
            f"unknown device {name!r}{where}: expected 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"
        ) from exc
    fix = f"; use 'cpu' or 'auto'{f', or unset ${DEVICE_ENV}' if from_env else ''}"
    if not _available(device.type):
        raise RuntimeError(
            f"device {name!r}{where} is not available on this machine "
            f"(torch {torch.__version__}, cuda available: {torch.cuda.is_available()}){fix}"
        )
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise RuntimeError(
            f"device {name!r}{where} does not exist: this machine has {torch.cuda.device_count()} GPU(s){fix}"
        )
    return device


def model_device(model: torch.nn.Module) -> torch.device:
    """The device a model's weights are on (its first parameter's; the CPU for a model without any)."""
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def synchronize(device: torch.device | str | None = None) -> None:
    """Wait until all queued work on ``device`` has finished (a no-op on the CPU)."""
    device = torch.device(device) if device is not None else get_device()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def cpu_flags() -> set[str]:
    """CPU feature flags relevant to PyTorch speed (avx2, avx512f, amx_bf16, ...) from /proc/cpuinfo."""
    wanted = {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "amx_int8"}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return wanted & set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def describe(device: torch.device | str | None = None) -> dict[str, str]:
    """Facts about this machine that explain a timing: torch version, device, threads, CPU features."""
    device = torch.device(device) if device is not None else get_device()
    info = {
        "torch": torch.__version__,
        "device": str(device),
        "cpu": platform.processor() or platform.machine(),
        "cpu threads": str(torch.get_num_threads()),
        "cpu features": ", ".join(sorted(cpu_flags())) or "none reported",
        "cuda available": str(torch.cuda.is_available()),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


#: Seeds go to torch's generators, which take 64-bit unsigned integers.
MAX_SEED = 2**64 - 1


def check_seed(seed: object, maximum: int = MAX_SEED) -> int:
    """``seed`` if it is an int from 0 to ``maximum``; else a ValueError that names it."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= maximum:
        raise ValueError(f"seed must be an int from 0 to {maximum}, got {seed!r}")
    return seed


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and PyTorch; ask for deterministic kernels where PyTorch has them."""
    check_seed(seed)
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:  # numpy is optional for torch
        pass
    torch.manual_seed(seed)  # seeds the CPU and every CUDA device
    # cuBLAS needs this for deterministic matmuls; harmless elsewhere.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False


# glibc's mallopt parameters (malloc.h) and their documented defaults on 64-bit Linux.
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_DEFAULT_TRIM_THRESHOLD, _DEFAULT_MMAP_MAX = 128 * 1024, 65536
_reuse_lock = threading.Lock()
_reuse_depth = 0


def _glibc() -> ctypes.CDLL | None:
    """The process's C library if it is glibc (the only one whose mallopt knobs are used here), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)  # the C library already loaded into this process
        libc.gnu_get_libc_version  # noqa: B018 -- present in glibc only (not in musl)
        return libc
    except (OSError, AttributeError):
        return None


def memory_reuse_active() -> bool:
    """True while a ``reuse_freed_memory()`` block is running in this process."""
    return _reuse_depth > 0


@contextlib.contextmanager
def reuse_freed_memory(enabled: bool = True) -> Iterator[bool]:
    """Inside the block, memory freed by PyTorch stays in the process for the next allocation.

    Why: glibc hands every block of more than 128 KiB-32 MiB (its mmap threshold) straight back to the
    operating system when it is freed. A CPU training step of the seed's CNN allocates and frees
    hundreds of MB of activations and gradients, so every step gets them again as fresh pages that the
    kernel must zero and map one 4 KiB page at a time. Measured on the course's 2-core CPU with
    ``SeedCNN``: 440 -> 655 training images/s in ``fit(fast=True)`` at batch 256 (and 179 -> 249 for the
    seed's fp32 recipe at batch 64), for about 16% more peak memory (1.39 -> 1.62 GB).

    How: ``mallopt(M_MMAP_MAX, 0)`` (large blocks come from the heap, which is reused) and a trim
    threshold of 2 GiB (freed heap memory is not given back). On leaving the outermost block glibc's
    defaults are restored and ``malloc_trim(0)`` returns the kept memory. Nested blocks are fine.
    Yields True where it acts; elsewhere (macOS, Windows, musl, or ``enabled=False``) it changes nothing
    and yields False.
    """
    global _reuse_depth
    libc = _glibc() if enabled else None
    if libc is None:
        yield False
        return
    with _reuse_lock:
        if _reuse_depth == 0:
            libc.mallopt(_M_MMAP_MAX, 0)
            libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)
        _reuse_depth += 1
    try:
        yield True
    finally:
        with _reuse_lock:
            _reuse_depth -= 1
            if _reuse_depth == 0:
                libc.mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX)
                libc.mallopt(_M_TRIM_THRESHOLD, _DEFAULT_TRIM_THRESHOLD)
                libc.malloc_trim(0)


def _cpu_times(path: str = "/proc/stat") -> tuple[int, int] | None:
    """(idle, total) jiffies of all CPUs since boot, from Linux's /proc/stat; None where there is none."""
    try:
        with open(path, encoding="ascii") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    values = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
    return values[3] + values[4], sum(values)


def idle_cores(seconds: float = 0.25, cores: int | None = None,
               read: Callable[[], tuple[int, int] | None] = _cpu_times) -> float | None:
    """How many of this machine's cores sat idle over the next ``seconds`` (Linux); None where unknown."""
    cores = cores or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    before = read()
    time.sleep(seconds)
    after = read()
    if before is None or after is None or after[1] <= before[1]:
        return None
    return cores * (after[0] - before[0]) / (after[1] - before[1])


def use_idle_cores(idle: float | None = None) -> int:
    """Give PyTorch one compute thread per idle core (at least 1, at most its default); return the count.

    PyTorch splits each operation over its threads and waits for the last one to finish. When another
    program keeps a core busy, the thread on that core runs only in the time slices the system gives it,
    and every operation waits for it: beside one busy program, a 2-thread notebook ran several times
    slower than with 1 thread (``benchmarks/notebook_times.py``). So a notebook asks, when it starts, how
    many cores are idle (``idle_cores``) and uses that many. An explicit ``OMP_NUM_THREADS`` (``make test``
    sets 1) is a choice already made: it is kept. ``idle``: the idle cores, measured when not given.
    """
    if os.environ.get("OMP_NUM_THREADS"):
        return torch.get_num_threads()
    default = _DEFAULT_THREADS
    if idle is None:
        idle = idle_cores()
    threads = default if idle is None else max(1, min(default, round(idle)))
    torch.set_num_threads(threads)
    return threads


_DEFAULT_THREADS = torch.get_num_threads()  # what PyTorch chose at import: one per core
