"""Where tensors live, and how to make runs repeatable.

Taught in notebook 01 (GPU和CPU). ``get_device`` picks cuda, then mps, then cpu;
``synchronize`` waits for queued GPU work (timing without it measures nothing);
``seed_everything`` makes every random draw of a run repeatable.
"""

from __future__ import annotations

import os
import platform
import random

import torch

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
    name = name or os.environ.get(DEVICE_ENV) or None
    if name is None or name == "auto":
        for kind in ("cuda", "mps"):
            if _available(kind):
                return torch.device(kind)
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"unknown device {name!r}: expected 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'") from exc
    if not _available(device.type):
        raise RuntimeError(
            f"device {name!r} is not available on this machine "
            f"(torch {torch.__version__}, cuda available: {torch.cuda.is_available()}); "
            f"use 'cpu' or 'auto', or unset ${DEVICE_ENV}"
        )
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise RuntimeError(f"device {name!r} does not exist: this machine has {torch.cuda.device_count()} GPU(s)")
    return device


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


def seed_everything(seed: int = 0, deterministic: bool = True) -> None:
    """Seed Python, NumPy and PyTorch; ask for deterministic kernels where PyTorch has them."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:  # numpy is optional for torch
        pass
    torch.manual_seed(seed)  # seeds the CPU and every CUDA device
    if deterministic:
        # cuBLAS needs this for deterministic matmuls; harmless elsewhere.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
