"""mnistlab.history.History: the loss (and other metrics) a training loop records."""

from __future__ import annotations

import math

import pytest
import torch

from mnistlab.history import History


def test_log_appends_one_value_per_metric_per_call():
    h = History()
    h.log(loss=2.0, acc=0.5)
    h.log(loss=1.0, acc=0.75)
    assert h["loss"] == [2.0, 1.0]
    assert h["acc"] == [0.5, 0.75]
    assert len(h) == 2


def test_names_may_differ_between_calls_and_len_is_the_longest():
    h = History()
    h.log(loss=3.0)
    h.log(loss=2.0, val_loss=2.5)
    h.log(loss=1.0)
    assert h["loss"] == [3.0, 2.0, 1.0]
    assert h["val_loss"] == [2.5]
    assert "val_loss" in h and "acc" not in h
    assert len(h) == 3


def test_an_empty_history_has_length_zero():
    assert len(History()) == 0


def test_values_are_stored_as_python_floats_even_from_tensors():
    h = History()
    h.log(loss=torch.tensor(0.25), step=3)
    assert h["loss"] == [0.25] and type(h["loss"][0]) is float
    assert h["step"] == [3.0] and type(h["step"][0]) is float


def test_log_without_metrics_is_refused():
    with pytest.raises(ValueError, match="at least one metric"):
        History().log()


@pytest.mark.parametrize("bad", [float("nan"), torch.tensor(float("nan"))])
def test_nan_is_refused_with_a_hint(bad):
    h = History()
    h.log(loss=1.0)
    with pytest.raises(ValueError, match="NaN"):
        h.log(loss=bad)
    assert h["loss"] == [1.0]  # the refused value was not stored


def test_nan_is_refused_when_building_from_a_dict():
    with pytest.raises(ValueError, match="'loss' is NaN"):
        History({"loss": [1.0, math.nan]})


@pytest.mark.parametrize("bad", ["0.5x", None, [1.0, 2.0], torch.tensor([1.0, 2.0])])
def test_non_numbers_are_refused_and_named(bad):
    with pytest.raises(TypeError, match="metric 'acc' must be a number"):
        History().log(acc=bad)


def test_unknown_metric_names_what_was_recorded():
    h = History()
    h.log(loss=1.0)
    with pytest.raises(KeyError, match=r"no metric 'acc'.*\['loss'\]"):
        h["acc"]


def test_last_and_best():
    h = History()
    for value in [0.5, 0.9, 0.7, 0.9]:
        h.log(acc=value)
    assert h.last("acc") == 0.9
    assert h.best("acc") == (1, 0.9)  # first of the tied maxima
    assert h.best("acc", mode="min") == (0, 0.5)


def test_best_refuses_an_unknown_mode():
    h = History({"loss": [1.0]})
    with pytest.raises(ValueError, match="mode must be 'max' or 'min'"):
        h.best("loss", mode="lowest")


def test_last_and_best_of_an_empty_metric_raise():
    h = History({"loss": []})
    with pytest.raises(KeyError, match="no values yet"):
        h.last("loss")
    with pytest.raises(KeyError, match="no values yet"):
        h.best("loss", mode="min")


def test_to_dict_from_dict_round_trip():
    h = History()
    h.log(loss=2.0, acc=0.1)
    h.log(loss=1.5)
    data = h.to_dict()
    assert data == {"loss": [2.0, 1.5], "acc": [0.1]}
    again = History.from_dict(data)
    assert again.to_dict() == data
    assert len(again) == len(h) == 2
    assert again.best("loss", mode="min") == (1, 1.5)


def test_to_dict_is_a_copy():
    h = History({"loss": [1.0]})
    data = h.to_dict()
    data["loss"].append(99.0)
    h.log(loss=0.5)
    assert h["loss"] == [1.0, 0.5]
    assert data["loss"] == [1.0, 99.0]


def test_repr_counts_values_per_metric():
    h = History()
    h.log(loss=1.0, acc=0.5)
    h.log(loss=0.5)
    assert repr(h) == "History(loss: 2, acc: 1)"
