"""The seed's output-size formulas agree with real PyTorch layers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mnistlab.models import CompactCNN, SeedCNN
from mnistlab.shapes import conv2d_out, pool2d_out, trace_shapes


def test_seed_arithmetic_28_28_28_14():
    h1 = conv2d_out(28, kernel=3, stride=1, padding=1)
    h2 = conv2d_out(h1, kernel=3, stride=1, padding=1)
    h3 = pool2d_out(h2, kernel=2, stride=2)
    assert (h1, h2, h3) == (28, 28, 14)
    assert h3 * h3 * 128 == 14 * 14 * 128 == 25088


@pytest.mark.parametrize("h", [5, 7, 28, 31])
@pytest.mark.parametrize("kernel,stride,padding,dilation", [(3, 1, 1, 1), (3, 2, 0, 1), (5, 2, 2, 1), (3, 1, 2, 2)])
def test_conv_formula_matches_conv2d(h, kernel, stride, padding, dilation):
    layer = nn.Conv2d(1, 1, kernel, stride=stride, padding=padding, dilation=dilation)
    real = layer(torch.zeros(1, 1, h, h)).shape[-1]
    assert conv2d_out(h, kernel, stride, padding, dilation) == real


@pytest.mark.parametrize("h", [5, 7, 28, 31])
@pytest.mark.parametrize("kernel,stride,padding", [(2, None, 0), (3, 2, 1), (3, 1, 0), (2, 1, 1)])
def test_pool_formula_matches_maxpool2d(h, kernel, stride, padding):
    layer = nn.MaxPool2d(kernel, stride=stride, padding=padding)
    real = layer(torch.zeros(1, 1, h, h)).shape[-1]
    assert pool2d_out(h, kernel, stride, padding) == real


@pytest.mark.parametrize("bad", [dict(h=0, kernel=3), dict(h=28, kernel=0), dict(h=28, kernel=3, stride=0),
                                 dict(h=28, kernel=3, padding=-1), dict(h=2.5, kernel=1), dict(h=2, kernel=5)])
def test_bad_inputs_are_refused(bad):
    with pytest.raises(ValueError):
        conv2d_out(**bad)


def test_trace_shapes_of_seed_cnn():
    shapes = {name: shape for name, _kind, shape in trace_shapes(SeedCNN(), (2, 1, 28, 28))}
    assert shapes["conv1.0"] == (2, 64, 28, 28)
    assert shapes["conv1.4"] == (2, 128, 14, 14)
    assert shapes["dense.0"] == (2, 1024)
    assert shapes["dense.3"] == (2, 10)


def test_trace_shapes_restores_training_mode_and_removes_hooks():
    model = CompactCNN().train()
    first = trace_shapes(model)
    assert model.training
    assert trace_shapes(model) == first  # hooks were removed, so records are not doubled
    assert first[-1] == ("classifier.3", "Linear", (1, 10))
