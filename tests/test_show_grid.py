"""mnistlab.viz.show_grid and denormalize: the grid, its titles, and clear refusals."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.colors import to_rgba

from mnistlab.data import MNIST_MEAN, MNIST_STD
from mnistlab.viz import denormalize, show_grid


def image_axes(fig: plt.Figure) -> list[plt.Axes]:
    return [ax for ax in fig.axes if ax.images]


def test_grid_has_one_image_axis_per_digit():
    images = torch.rand(10, 1, 28, 28)
    fig = show_grid(images, ncols=4, normalized=False)
    assert len(fig.axes) == 12  # 3 rows of 4
    assert len(image_axes(fig)) == 10
    assert torch.allclose(torch.as_tensor(image_axes(fig)[3].images[0].get_array()), images[3, 0])


def test_three_dimensional_batches_work_too():
    fig = show_grid(torch.rand(5, 28, 28), labels=[1, 2, 3, 4, 5])
    assert [ax.get_title() for ax in image_axes(fig)] == ["1", "2", "3", "4", "5"]


def test_titles_read_pred_over_label_and_wrong_ones_are_red():
    labels = torch.tensor([3, 1, 4, 1, 5])
    preds = torch.tensor([3, 7, 4, 1, 6])
    fig = show_grid(torch.zeros(5, 1, 28, 28), labels=labels, preds=preds)
    axes = image_axes(fig)
    assert [ax.get_title() for ax in axes] == ["3/3", "7/1", "4/4", "1/1", "6/5"]
    red = [to_rgba(ax.title.get_color()) == to_rgba("red") for ax in axes]
    assert red == [False, True, False, False, True]
    framed = [any(p.get_edgecolor() == to_rgba("red") for p in ax.patches) for ax in axes]
    assert framed == red


def test_normalized_images_are_shown_as_pixels_in_0_1():
    pixels = torch.rand(2, 1, 28, 28)
    fig = show_grid((pixels - MNIST_MEAN) / MNIST_STD)
    shown = torch.as_tensor(image_axes(fig)[1].images[0].get_array())
    assert torch.allclose(shown, pixels[1, 0], atol=1e-5)


def test_denormalize_undoes_normalize_and_clips():
    pixels = torch.rand(4, 1, 28, 28)
    assert torch.allclose(denormalize((pixels - MNIST_MEAN) / MNIST_STD), pixels, atol=1e-6)
    assert denormalize(torch.tensor([-10.0, 10.0])).tolist() == [0.0, 1.0]


@pytest.mark.parametrize(
    "images, kwargs, message",
    [
        (torch.zeros(2, 3, 28, 28), {}, "expected 1 channel, got shape (2, 3, 28, 28)"),
        (torch.zeros(28, 28), {}, "got (28, 28)"),
        ([[0.0]], {}, "got list"),
        (torch.zeros(0, 1, 28, 28), {}, "no images to show"),
        (torch.zeros(3, 1, 28, 28), {"labels": [1, 2]}, "labels has 2 entries for 3 images"),
        (torch.zeros(3, 1, 28, 28), {"labels": [1, 2, 3], "preds": [1]}, "preds has 1 entries for 3 images"),
    ],
)
def test_bad_input_is_refused_clearly(images, kwargs, message):
    with pytest.raises(ValueError) as info:
        show_grid(images, **kwargs)
    assert message in str(info.value)
