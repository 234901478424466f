"""mnistlab.viz.plot_losses: one call draws one or several labelled loss curves."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

from mnistlab.history import History
from mnistlab.viz import plot_losses


def history_of(values, metric="loss"):
    h = History()
    for v in values:
        h.log(**{metric: v})
    return h


def legend_texts(ax):
    legend = ax.get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend is not None else []


def test_one_history_gives_one_curve_with_its_values():
    ax = plot_losses(history_of([3.0, 2.0, 1.5]))
    lines = ax.get_lines()
    assert len(lines) == 1
    assert list(lines[0].get_ydata()) == [3.0, 2.0, 1.5]
    assert list(lines[0].get_xdata()) == [0, 1, 2]
    assert ax.get_legend() is None  # a single curve needs no legend
    assert ax.get_xlabel() == "epoch"
    assert ax.get_ylabel() == "loss"


def test_a_plain_list_is_one_curve():
    ax = plot_losses([0.9, 0.8, 0.7], title="manual loop")
    assert [list(line.get_ydata()) for line in ax.get_lines()] == [[0.9, 0.8, 0.7]]
    assert ax.get_title() == "manual loop"


def test_several_curves_are_labelled_in_the_legend():
    curves = {"SGD": history_of([1.0, 0.9]), "Adam": [1.0, 0.5], "manual": history_of([1.0, 0.95])}
    ax = plot_losses(curves)
    assert len(ax.get_lines()) == 3
    assert [line.get_label() for line in ax.get_lines()] == ["SGD", "Adam", "manual"]
    assert legend_texts(ax) == ["SGD", "Adam", "manual"]


def test_another_metric_is_read_from_the_histories():
    h = History()
    h.log(loss=1.0, acc=0.2)
    h.log(loss=0.5, acc=0.6)
    ax = plot_losses({"run": h}, metric="acc")
    assert list(ax.get_lines()[0].get_ydata()) == [0.2, 0.6]
    assert ax.get_ylabel() == "acc"


def test_log_scale_when_values_span_more_than_100x():
    ax = plot_losses([5e7, 1e6, 2e5])  # 250x
    assert ax.get_yscale() == "log"
    assert "log" in ax.get_ylabel()


def test_linear_scale_when_values_span_less_than_100x():
    ax = plot_losses([1.1, 0.9, 0.6])
    assert ax.get_yscale() == "linear"
    assert ax.get_ylabel() == "loss"


def test_the_range_is_taken_over_all_curves_together():
    ax = plot_losses({"a": [1.0, 0.5], "b": [1.0, 0.005]})  # only b spans >100x: 200x overall
    assert ax.get_yscale() == "log"


def test_linear_scale_when_a_value_is_not_positive():
    ax = plot_losses([1000.0, 1.0, 0.0])
    assert ax.get_yscale() == "linear"


@pytest.mark.parametrize(("logy", "scale"), [(True, "log"), (False, "linear")])
def test_logy_overrides_the_automatic_choice(logy, scale):
    values = [1.0, 0.5] if logy else [1e6, 1.0]
    assert plot_losses(values, logy=logy).get_yscale() == scale


def test_draws_on_a_given_axes():
    fig, ax = plt.subplots()
    assert plot_losses([1.0, 0.5], ax=ax) is ax
    assert len(fig.axes) == 1 and len(ax.get_lines()) == 1


def test_empty_dict_is_refused():
    with pytest.raises(ValueError, match="empty dict"):
        plot_losses({})


@pytest.mark.parametrize("empty", [[], History({"loss": []}), {"Adam": []}])
def test_a_curve_without_values_is_refused(empty):
    with pytest.raises(ValueError, match="has no values to plot"):
        plot_losses(empty)


def test_a_history_without_the_metric_is_refused():
    with pytest.raises(KeyError, match="no metric 'loss'"):
        plot_losses(History())


@pytest.mark.parametrize("bad", ["loss", 3.0, None])
def test_wrong_types_are_refused(bad):
    with pytest.raises(TypeError, match="histories must be"):
        plot_losses(bad)
