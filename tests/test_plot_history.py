"""mnistlab.viz.plot_history and plot_confusion_matrix: the figures hold the numbers they were given.

nbval compares only a notebook's text output, not its pictures, so these tests read the figures' data:
line coordinates and labels, the heat map's array and the counts written in its cells.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from mnistlab.history import History
from mnistlab.viz import plot_confusion_matrix, plot_history

METRICS = {
    "train_loss": [2.0, 1.0, 0.5],
    "train_acc": [0.4, 0.7, 0.9],
    "val_loss": [2.2, 1.4, 1.1],
    "val_acc": [0.3, 0.6, 0.75],
}


def curves(ax: plt.Axes) -> dict[str, tuple[list[float], list[float]]]:
    """{label: (x values, y values)} of every line on ``ax``."""
    return {line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in ax.get_lines()}


@pytest.mark.parametrize("make", [dict, History.from_dict], ids=["dict", "History"])
def test_plot_history_draws_each_metric_per_epoch_for_both_splits(make):
    fig = plot_history(make(METRICS), title="run 1")
    ax_loss, ax_acc = fig.axes
    epochs = [1, 2, 3]  # counted from 1, as fit's progress bars count them
    assert curves(ax_loss) == {"train": (epochs, METRICS["train_loss"]), "val": (epochs, METRICS["val_loss"])}
    assert curves(ax_acc) == {"train": (epochs, METRICS["train_acc"]), "val": (epochs, METRICS["val_acc"])}
    assert (ax_loss.get_ylabel(), ax_acc.get_ylabel()) == ("loss", "accuracy")
    assert ax_loss.get_xlabel() == ax_acc.get_xlabel() == "epoch"
    assert [t.get_text() for t in ax_acc.get_legend().get_texts()] == ["train", "val"]
    assert fig.get_suptitle() == "run 1"


def test_plot_history_without_validation_draws_the_training_curves_only():
    fig = plot_history({"train_loss": [1.0, 0.5], "train_acc": [0.5, 0.8], "val_loss": []})
    ax_loss, ax_acc = fig.axes
    assert curves(ax_loss) == {"train": ([1, 2], [1.0, 0.5])}
    assert curves(ax_acc) == {"train": ([1, 2], [0.5, 0.8])}
    assert fig.get_suptitle() == ""


def test_plot_history_refuses_what_is_not_a_history():
    with pytest.raises(TypeError, match="history must be a History or a dict of metric lists, got list"):
        plot_history([1.0, 0.5])


def test_confusion_matrix_counts_each_true_and_predicted_pair():
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2, 2])
    preds = torch.tensor([0, 0, 1, 1, 1, 2, 2, 2, 2, 0])
    ax = plot_confusion_matrix(preds, labels, num_classes=3)
    expected = np.array([[2, 1, 0],  # rows: true label; columns: predicted label
                         [0, 2, 0],
                         [1, 0, 4]])
    assert np.array_equal(np.asarray(ax.images[0].get_array()), expected)
    written = {(text.get_position(), text.get_text(), text.get_color()) for text in ax.texts}
    assert written == {  # every non-zero count in its cell (x = predicted, y = true); white on the dark cells
        ((0, 0), "2", "black"), ((1, 0), "1", "black"), ((1, 1), "2", "black"),
        ((0, 2), "1", "black"), ((2, 2), "4", "white"),
    }
    assert ax.get_title() == "confusion matrix (8/10 right)"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted label", "true label")
    assert list(ax.get_xticks()) == list(ax.get_yticks()) == [0, 1, 2]


def test_confusion_matrix_takes_lists_draws_into_a_given_axes_and_refuses_unequal_lengths():
    _, ax = plt.subplots()
    assert plot_confusion_matrix([3, 3], [3, 5], ax=ax) is ax
    matrix = np.asarray(ax.images[0].get_array())
    assert matrix.shape == (10, 10) and matrix.sum() == 2 and matrix[3, 3] == 1 and matrix[5, 3] == 1
    with pytest.raises(ValueError, match="preds and labels differ in length: 2 vs 3"):
        plot_confusion_matrix([1, 2], [1, 2, 3])
