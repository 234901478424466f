"""Output sizes of convolution and pooling layers: the seed's formulas, and a tracer that checks them.

Taught in notebook 08 (模型搭建和参数优化). For a square input of side ``h``::

    conv:  out = floor((h + 2*padding - dilation*(kernel - 1) - 1) / stride) + 1
    pool:  out = floor((h + 2*padding - dilation*(kernel - 1) - 1) / stride) + 1   (stride defaults to kernel)

With ``dilation=1`` the conv formula is the seed's ``floor((H + 2P - K) / S) + 1``.
For the seed's CNN: 28 -> 28 (conv 3x3, padding 1) -> 28 (conv) -> 14 (pool 2x2), so the dense layer
receives 14 * 14 * 128 = 25,088 numbers per image.
"""

from __future__ import annotations

import torch
from torch import nn

from .device import model_device

__all__ = ["conv2d_out", "pool2d_out", "print_shapes", "trace_shapes"]


def _positive_int(name: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def conv2d_out(h: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Height (or width) of a Conv2d's output for an input of height ``h``."""
    h = _positive_int("h", h)
    kernel = _positive_int("kernel", kernel)
    stride = _positive_int("stride", stride)
    padding = _positive_int("padding", padding, minimum=0)
    dilation = _positive_int("dilation", dilation)
    span = dilation * (kernel - 1) + 1  # how many input pixels one kernel covers
    if h + 2 * padding < span:
        raise ValueError(
            f"kernel covers {span} pixels but the padded input has only {h + 2 * padding} "
            f"(h={h}, padding={padding}): use a smaller kernel or more padding"
        )
    return (h + 2 * padding - span) // stride + 1


def pool2d_out(h: int, kernel: int, stride: int | None = None, padding: int = 0, dilation: int = 1) -> int:
    """Height (or width) of a MaxPool2d's output; ``stride`` defaults to ``kernel`` as in PyTorch."""
    kernel = _positive_int("kernel", kernel)
    stride = kernel if stride is None else stride
    padding = _positive_int("padding", padding, minimum=0)
    if padding > kernel // 2:
        raise ValueError(f"pool padding must be at most kernel // 2 = {kernel // 2}, got {padding}")
    return conv2d_out(h, kernel, stride=stride, padding=padding, dilation=dilation)


def trace_shapes(
    model: nn.Module, input_shape: tuple[int, ...] = (1, 1, 28, 28)
) -> list[tuple[str, str, tuple[int, ...]]]:
    """Run a zero input through ``model``; return ``(name, layer type, output shape)`` for each layer.

    Only layers without children (Conv2d, ReLU, ...) are listed, not containers such as Sequential.
    The model is put in eval mode for the trace and restored afterwards.
    """
    records: list[tuple[str, str, tuple[int, ...]]] = []
    hooks = []
    for name, module in model.named_modules():
        if module is model or any(True for _ in module.children()):  # containers: their layers are listed
            continue

        def hook(mod: nn.Module, args: tuple, output: torch.Tensor, name: str = name) -> None:
            records.append((name, type(mod).__name__, tuple(output.shape)))

        hooks.append(module.register_forward_hook(hook))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(input_shape, device=model_device(model)))
    finally:
        for handle in hooks:
            handle.remove()
        model.train(was_training)
    return records


def print_shapes(model: nn.Module, input_shape: tuple[int, ...] = (1, 1, 28, 28)) -> None:
    """Print each layer's output shape for a dummy input, one line per layer."""
    print(f"{'input':<14} {'':<10} {tuple(input_shape)}")
    for name, kind, shape in trace_shapes(model, input_shape):
        print(f"{name:<14} {kind:<10} {shape}")
