"""The fast path of ``fit(fast=True)`` and ``python -m mnistlab train --fast``: the same loop, run faster.

What it changes (the numbers the model learns stay the same up to bf16 rounding):

1. channels_last: conv weights and the images stored as NHWC, the layout oneDNN (CPU) and cuDNN (GPU)
   convolutions run fastest in;
2. bf16 autocast where the hardware multiplies bf16 natively (``bf16_autocast_available``): matmuls and
   convolutions in bf16, while weights, optimizer and loss stay fp32 (so accuracy does not suffer);
3. on the CPU, freed memory kept for the next step (``device.reuse_freed_memory``) instead of being
   handed back to the operating system and faulted in again, page by page, at every step;
4. pooling layers handed their gradient in their input's layout (``channels_last_pool_grads``).

``fast_path`` sets up 1 (the weights), 3 and 4 around a whole training run; per batch, ``to_device``
puts the images in channels_last and ``bf16_autocast`` wraps the forward pass.
"""

from __future__ import annotations

import contextlib

import torch

from . import device as devicelib

__all__ = ["BF16_CPU_FLAGS", "POOL_TYPES", "bf16_autocast", "bf16_autocast_available", "channels_last_pool_grads",
           "fast_path", "to_device"]

#: CPU flags of native bf16 arithmetic: AMX tiles (Intel Sapphire Rapids and later) and AVX512-BF16 dot
#: products (Intel Cooper Lake, AMD Zen 4). The seed's CNN trained 1.9x faster under bf16 autocast on a
#: 2-core AMD EPYC with avx512_bf16 (no AMX); CPUs without either emulate bf16, slower than fp32.
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")

#: Pooling layers whose backward is slow when its gradient and its input are in different memory layouts.
POOL_TYPES = (torch.nn.MaxPool2d, torch.nn.AvgPool2d, torch.nn.AdaptiveMaxPool2d, torch.nn.AdaptiveAvgPool2d)


def bf16_autocast_available(device: torch.device | str) -> bool:
    """True where bf16 autocast pays off: CUDA GPUs with bf16, CPUs with AMX-bf16 or AVX512-BF16."""
    device = torch.device(device)
    if device.type == "cuda":
        # without including_emulation=False, GPUs older than Ampere (no bf16 tensor cores) answer True too,
        # and bf16 there is emulated: slower than fp32, the opposite of the fast path's point
        try:
            return torch.cuda.is_bf16_supported(including_emulation=False)
        except TypeError:  # a PyTorch before 2.4 has no such argument, and counts only native bf16
            return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return any(flag in devicelib.cpu_flags() for flag in BF16_CPU_FLAGS)
    return False


def bf16_autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on ``device`` when enabled, else a context that changes nothing."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def to_device(x: torch.Tensor, y: torch.Tensor, device: torch.device, channels_last: bool = False) -> tuple:
    """A batch on ``device``; with ``channels_last``, the images in NHWC, like the weights under ``fast_path``."""
    x, y = x.to(device), y.to(device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, y


def _to_channels_last(grad: torch.Tensor) -> torch.Tensor:
    return grad.contiguous(memory_format=torch.channels_last)


def _pool_output_hook(_module: torch.nn.Module, _inputs: tuple, output: object) -> None:
    if (isinstance(output, torch.Tensor) and output.requires_grad and output.dim() == 4
            and output.is_contiguous(memory_format=torch.channels_last)):
        output.register_hook(_to_channels_last)  # its gradient, before it reaches the pooling's backward


@contextlib.contextmanager
def channels_last_pool_grads(model: torch.nn.Module):
    """While the block runs, pooling layers with channels_last outputs get channels_last gradients.

    Why: a channels_last activation that is then flattened (``x.flatten(1)`` before a Linear) gets its
    gradient back in the default (NCHW) layout. The pooling layer's backward, handed an NCHW gradient
    and a channels_last input, converts both and converts its result back: three full copies of the
    largest activation per step. Converting the small pooled gradient once instead made SeedCNN's
    ``fit(fast=True)`` step about 6% faster on the course's CPU. The numbers are the same: only the
    layout changes. Hooks are removed when the block ends.
    """
    handles = [m.register_forward_hook(_pool_output_hook) for m in model.modules() if isinstance(m, POOL_TYPES)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def fast_path(model: torch.nn.Module, device: torch.device | str, enabled: bool = True):
    """What ``fit(fast=True)`` sets up around its training: channels_last weights, on the CPU freed memory
    kept for reuse (``device.reuse_freed_memory``), and ``channels_last_pool_grads``. Undone on exit, except
    the weights' layout. ``train_one_epoch(fast=True)`` / ``evaluate(fast=True)`` add the rest per batch.
    """
    if not enabled:
        yield
        return
    model.to(memory_format=torch.channels_last)
    with (devicelib.reuse_freed_memory(enabled=torch.device(device).type == "cpu"),
          channels_last_pool_grads(model)):
        yield
