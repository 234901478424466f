"""Computation-graph pictures (mnistlab.viz.show_graph / model_graph, notebook 10)."""

from __future__ import annotations

import re
import warnings

import pytest
import torch
from conftest import require
from torch import nn

from mnistlab import viz


def small_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 26 * 26, 3))


def example() -> torch.Tensor:
    return torch.randn(1, 1, 28, 28)


def test_svg_when_dot_exists():
    require(viz.find_dot() is not None, "Graphviz's dot is not installed (apt install graphviz)")
    view = viz.model_graph(small_model(), example())
    bundle = view._repr_mimebundle_()
    assert set(bundle) == {"image/svg+xml", "text/plain"}
    svg = bundle["image/svg+xml"]
    assert "<svg" in svg and svg.rstrip().endswith("</svg>")
    assert "AddmmBackward0" in svg and "ConvolutionBackward0" in svg
    assert bundle["text/plain"] == view.summary()


def test_dot_source_when_dot_is_missing(monkeypatch):
    monkeypatch.setattr(viz.shutil, "which", lambda name: None)
    assert viz.find_dot() is None
    view = viz.model_graph(small_model(), example(), max_chars=120)
    bundle = view._repr_mimebundle_()
    assert set(bundle) == {"text/plain"}
    text = bundle["text/plain"]
    assert text.startswith(viz.GRAPHVIZ_MISSING + "\n")
    assert "\n" not in viz.GRAPHVIZ_MISSING
    assert "digraph {" in text
    shown, note = text[len(viz.GRAPHVIZ_MISSING) + 1 :].rsplit("\n", 1)
    assert 0 < len(shown) <= 120
    assert view.source.startswith(shown + "\n")  # whole lines of the DOT source
    assert note == f"... ({len(view.source) - len(shown)} more characters; .source holds all of it)"
    with pytest.raises(RuntimeError, match="install Graphviz"):
        view.svg()


def test_short_graph_is_shown_whole(monkeypatch):
    monkeypatch.setattr(viz.shutil, "which", lambda name: None)
    view = viz.model_graph(small_model(), example(), max_chars=100_000)
    assert view.text() == viz.GRAPHVIZ_MISSING + "\n" + view.source


def test_graph_names_operations_and_parameters():
    model = small_model()
    view = viz.model_graph(model, example())
    for label in ("AddmmBackward0", "ReluBackward0", "ConvolutionBackward0", "AccumulateGrad"):
        assert label in view.source
    for name, p in model.named_parameters():
        assert f"{name}\n ({', '.join(str(n) for n in p.shape)})" in view.source
    # one blue box per parameter tensor
    assert view.source.count("fillcolor=lightblue") == len(list(model.parameters()))


def test_node_ids_are_renumbered_and_repeatable():
    from torchviz import make_dot

    model = small_model()
    x = example()
    with warnings.catch_warnings():  # torchviz 0.0.3 uses the deprecated distutils version classes
        warnings.simplefilter("ignore", DeprecationWarning)
        raw = make_dot(model(x), params=dict(model.named_parameters())).source
    first = viz.model_graph(model, x).source
    second = viz.model_graph(model, x).source
    assert first == second  # torchviz's own ids are memory addresses and change between calls
    assert not re.search(r"\d{8,}", first)
    view = viz.model_graph(model, x)
    assert view.num_nodes == len(re.findall(r"^\t\d+ \[", raw, flags=re.M))
    assert view.num_edges == raw.count(" -> ")
    assert view.summary() == f"computation graph: {view.num_nodes} nodes, {view.num_edges} edges"


def test_bad_inputs_say_what_to_do():
    model = small_model()
    with pytest.raises(TypeError, match=r"got list; for a model and an input, use model_graph"):
        viz.show_graph([1.0, 2.0])
    with torch.no_grad():
        y = model(example())
    with pytest.raises(ValueError, match="no grad_fn"):
        viz.show_graph(y)
    with pytest.raises(TypeError, match="example_input must be a tensor"):
        viz.model_graph(model, [[0.0]])
    with pytest.raises(TypeError, match="needs an nn.Module"):
        viz.model_graph(lambda x: x, example())
