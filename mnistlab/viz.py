"""Pictures that answer a student's question in one call.

``plot_losses`` (notebooks 03-05, 08, 11): how did the loss move? ``plot_history`` (notebooks 08, 11):
how did training and validation go, epoch by epoch? ``show_grid`` (notebooks 06-08): what do these
digits look like, and which did the model get wrong? ``plot_confusion_matrix`` (notebook 08): which
digits are mistaken for which? ``model_graph`` / ``show_graph`` (notebook 10): which operations does
autograd record?

A history here is anything shaped like one: a ``mnistlab.history.History`` (read through its
``.metrics``) or any mapping of metric names to lists of numbers, such as a plain dict. Nothing here
imports the training side. Over 300 lines, one job: the pictures the notebooks draw with mnistlab.
"""

from __future__ import annotations

import re
import shutil
import warnings
from collections.abc import Mapping, Sequence
from typing import Protocol

import matplotlib.pyplot as plt
import torch

from .data import MNIST_MEAN, MNIST_STD

__all__ = ["GRAPHVIZ_MISSING", "GraphView", "HasMetrics", "HistoryLike", "denormalize", "find_dot", "model_graph",
           "plot_confusion_matrix", "plot_history", "plot_losses", "show_graph", "show_grid"]

class HasMetrics(Protocol):
    """What viz reads from a ``History``: its ``{metric: values}`` mapping."""

    metrics: Mapping[str, Sequence[float]]


HistoryLike = HasMetrics | Mapping[str, Sequence[float]]


def _metrics(history: object) -> Mapping[str, Sequence[float]] | None:
    """The ``{metric: values}`` mapping of a history-shaped object, or None when it is not one."""
    metrics = getattr(history, "metrics", history)
    return metrics if isinstance(metrics, Mapping) else None


def _metric(metrics: Mapping[str, Sequence[float]], name: str) -> list[float]:
    """The values of one metric, as floats; a KeyError naming the recorded ones when it is missing."""
    if name not in metrics:
        raise KeyError(f"no metric {name!r}; recorded: {sorted(metrics) or 'none yet'}")
    return [float(v) for v in metrics[name]]


def plot_losses(
    histories: HistoryLike | Mapping[str, HistoryLike | Sequence[float]] | Sequence[float],
    metric: str = "loss",
    ax: plt.Axes | None = None,
    logy: bool | None = None,
    title: str | None = None,
) -> plt.Axes:
    """Plot one or several loss curves against the epoch, labelled; log scale when the values span over 100x.

    ``histories`` is a ``History``, a list of floats, or a dict ``{label: History, metric dict or list}``.
    """
    if hasattr(histories, "metrics") or (
        isinstance(histories, Sequence) and not isinstance(histories, (str, bytes))
    ):
        histories = {metric: histories}
    if not isinstance(histories, Mapping):
        raise TypeError(
            f"histories must be a History, a list of floats, or a {{label: History/list}} dict, "
            f"got {type(histories).__name__}"
        )
    if not histories:
        raise ValueError("histories is an empty dict: pass at least one {label: History/list} curve")
    curves = {}
    for label, h in histories.items():
        metrics = _metrics(h)
        values = _metric(metrics, metric) if metrics is not None else [float(v) for v in h]
        if not values:
            raise ValueError(f"curve {label!r} has no values to plot")
        curves[label] = values
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for label, values in curves.items():
        ax.plot(range(len(values)), values, label=str(label))
    everything = [v for values in curves.values() for v in values]
    if logy is None:
        positive = [v for v in everything if v > 0]
        logy = len(positive) == len(everything) and max(positive) / min(positive) > 100
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric + (" (log scale)" if logy else ""))
    if title:
        ax.set_title(title)
    if len(curves) > 1:
        ax.legend()
    ax.grid(True, alpha=0.3)
    return ax


def denormalize(images: torch.Tensor, mean: float = MNIST_MEAN, std: float = MNIST_STD) -> torch.Tensor:
    """Undo ``Normalize(mean, std)`` and clip to [0, 1] for display."""
    return (images * std + mean).clamp(0, 1)


def show_grid(
    images: torch.Tensor,
    labels: Sequence[int] | torch.Tensor | None = None,
    preds: Sequence[int] | torch.Tensor | None = None,
    ncols: int = 8,
    normalized: bool = True,
    title: str | None = None,
    scale: float = 1.0,
) -> plt.Figure:
    """Show a batch of digits ``(N, 1, 28, 28)`` in a grid, each titled with its label.

    With ``preds`` the title reads ``pred/label`` and wrong predictions are drawn in red.
    ``normalized`` images are de-normalised with MNIST's mean and std first.
    """
    if not isinstance(images, torch.Tensor) or images.dim() not in (3, 4):
        raise ValueError(
            f"images must be a tensor of shape (N, 1, 28, 28) or (N, 28, 28), got "
            f"{tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__}"
        )
    images = images.detach().cpu().float()
    if images.dim() == 4:
        if images.shape[1] != 1:
            raise ValueError(f"expected 1 channel, got shape {tuple(images.shape)}")
        images = images[:, 0]
    if normalized:
        images = denormalize(images)
    n = len(images)
    if n == 0:
        raise ValueError("no images to show")
    for name, seq in (("labels", labels), ("preds", preds)):
        if seq is not None and len(seq) != n:
            raise ValueError(f"{name} has {len(seq)} entries for {n} images")
    ncols = max(1, min(ncols, n))
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * 0.9 * scale, nrows * 1.05 * scale), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(images[i].numpy(), cmap="gray", vmin=0, vmax=1)
        if preds is not None:
            p = int(preds[i])
            wrong = labels is not None and p != int(labels[i])
            text = f"{p}/{int(labels[i])}" if labels is not None else str(p)
            ax.set_title(text, fontsize=9, color="red" if wrong else "black")
            if wrong:
                ax.add_patch(plt.Rectangle((0, 0), 27, 27, fill=False, edgecolor="red", linewidth=2))
        elif labels is not None:
            ax.set_title(str(int(labels[i])), fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- computation graphs (notebook 10)

#: Shown instead of the picture when Graphviz's ``dot`` program is missing.
GRAPHVIZ_MISSING = (
    "Graphviz's `dot` program was not found, so here is the graph's DOT source instead of a picture; "
    "install Graphviz (apt install graphviz, brew install graphviz or conda install -c conda-forge graphviz) "
    "and restart the kernel to see it drawn."
)

_NODE_OR_EDGE = re.compile(r"^\t(\d+)(?: -> (\d+))?")  # torchviz's lines, before renumbering
_NODE = re.compile(r"^\tn\d+ \[")  # after renumbering
_EDGE = re.compile(r"^\tn\d+ -> ")


def find_dot() -> str | None:
    """Where Graphviz's ``dot`` program is, or None when it is not installed."""
    return shutil.which("dot")


class GraphView:
    """A torchviz graph: drawn as SVG in Jupyter when ``dot`` is installed, else shown as DOT text.

    ``.source`` is the DOT text, ``.digraph`` the ``graphviz.Digraph`` (for ``.render(...)``).
    Node ids are numbered n0, n1, ... in drawing order, so the same model gives the same text every run
    (torchviz names nodes by memory address).
    """

    def __init__(self, digraph, max_chars: int = 2000) -> None:
        self.digraph = digraph
        self.max_chars = max_chars

    @property
    def source(self) -> str:
        """The graph in the DOT language."""
        return self.digraph.source

    @property
    def num_nodes(self) -> int:
        """Number of boxes: tensors (coloured) and backward functions (grey)."""
        return sum(1 for line in self.digraph.body if _NODE.match(line))

    @property
    def num_edges(self) -> int:
        """Number of arrows."""
        return sum(1 for line in self.digraph.body if _EDGE.match(line))

    def summary(self) -> str:
        """One line: how many nodes and edges."""
        return f"computation graph: {self.num_nodes} nodes, {self.num_edges} edges"

    def text(self) -> str:
        """What is shown without Graphviz: a one-line hint, then the DOT source (whole lines, ``max_chars``)."""
        source = self.source
        if len(source) > self.max_chars:
            cut = source.rfind("\n", 0, self.max_chars + 1)  # end on a whole line when there is one
            if cut <= 0:
                cut = self.max_chars
            rest = len(source) - cut
            source = source[:cut] + f"\n... ({rest} more characters; .source holds all of it)"
        return GRAPHVIZ_MISSING + "\n" + source

    def svg(self) -> str:
        """The picture as SVG text (needs Graphviz's ``dot``)."""
        if find_dot() is None:
            raise RuntimeError(GRAPHVIZ_MISSING)
        return self.digraph.pipe(format="svg", encoding="utf-8")

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        if find_dot() is None:
            return {"text/plain": self.text()}
        return {"image/svg+xml": self.svg(), "text/plain": self.summary()}

    def __repr__(self) -> str:
        return f"<GraphView: {self.summary()}>"


def _renumber(digraph) -> None:
    """Replace torchviz's memory-address node ids by n0, n1, ... in order of first appearance."""
    new_ids: dict[str, str] = {}
    for i, line in enumerate(digraph.body):
        match = _NODE_OR_EDGE.match(line)
        if match is None:
            continue
        for old in match.groups():
            if old is not None and old not in new_ids:
                new_ids[old] = f"n{len(new_ids)}"
        head = "\t" + new_ids[match.group(1)]
        if match.group(2) is not None:
            head += " -> " + new_ids[match.group(2)]
        digraph.body[i] = head + line[match.end() :]


def show_graph(output: torch.Tensor, params: Mapping[str, torch.Tensor] | None = None,
               max_chars: int = 2000) -> GraphView:
    """The autograd graph that produced ``output`` (torchviz's ``make_dot``), ready to display.

    ``params`` (e.g. ``dict(model.named_parameters())``) puts names on the parameter boxes.
    """
    if not isinstance(output, torch.Tensor):
        raise TypeError(
            f"show_graph needs the tensor a model returned (y = model(x)), got {type(output).__name__}; "
            "for a model and an input, use model_graph(model, x)"
        )
    if output.grad_fn is None:
        raise ValueError(
            "this tensor has no grad_fn, so autograd recorded no graph: it was computed under torch.no_grad() "
            "or from tensors that do not require grad. Call the model outside torch.no_grad()."
        )
    try:
        from torchviz import make_dot
    except ImportError as exc:
        raise ImportError("show_graph needs torchviz: pip install torchviz (and Graphviz for pictures)") from exc
    with warnings.catch_warnings():  # torchviz 0.0.3 compares versions with the deprecated distutils
        warnings.filterwarnings("ignore", message="distutils Version classes", category=DeprecationWarning)
        digraph = make_dot(output, params=dict(params) if params is not None else None)
    _renumber(digraph)
    return GraphView(digraph, max_chars=max_chars)


def model_graph(model: torch.nn.Module, example_input: torch.Tensor, max_chars: int = 2000) -> GraphView:
    """Run ``model`` on ``example_input`` and return its autograd graph, parameter boxes named."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model_graph needs an nn.Module, got {type(model).__name__}")
    if not isinstance(example_input, torch.Tensor):
        raise TypeError(f"example_input must be a tensor such as torch.randn(1, 1, 28, 28), "
                        f"got {type(example_input).__name__}")
    with torch.enable_grad():
        output = model(example_input)
    return show_graph(output, params=dict(model.named_parameters()), max_chars=max_chars)


def plot_history(history: HistoryLike, title: str | None = None) -> plt.Figure:
    """Loss and accuracy per epoch side by side: training curves, and validation ones when recorded.

    ``history``: a ``History`` or a dict of metric lists with ``train_loss``/``train_acc`` and, optionally,
    ``val_loss``/``val_acc`` (what ``fit`` records).
    """
    metrics = _metrics(history)
    if metrics is None:
        raise TypeError(f"history must be a History or a dict of metric lists, got {type(history).__name__}")
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.2))
    for ax, metric in ((ax_loss, "loss"), (ax_acc, "acc")):
        for split in ("train", "val"):
            name = f"{split}_{metric}"
            if metrics.get(name):
                values = _metric(metrics, name)
                ax.plot(range(1, len(values) + 1), values, marker="o", label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy" if metric == "acc" else "loss")
        ax.grid(True, alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_confusion_matrix(
    preds: Sequence[int] | torch.Tensor, labels: Sequence[int] | torch.Tensor, num_classes: int = 10,
    ax: plt.Axes | None = None,
) -> plt.Axes:
    """Counts of (true label, predicted label) as a heat map, each count written in its cell."""
    preds = torch.as_tensor(preds).long().flatten().cpu()
    labels = torch.as_tensor(labels).long().flatten().cpu()
    if preds.shape != labels.shape:
        raise ValueError(f"preds and labels differ in length: {len(preds)} vs {len(labels)}")
    matrix = torch.bincount(labels * num_classes + preds, minlength=num_classes**2).view(num_classes, num_classes)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4.5))
    ax.imshow(matrix.numpy(), cmap="Blues")
    half = matrix.max() / 2  # darker cells get white text
    for i in range(num_classes):
        for j in range(num_classes):
            count = int(matrix[i, j])
            if count:
                color = "white" if count > half else "black"
                ax.text(j, i, str(count), ha="center", va="center", fontsize=7, color=color)
    ax.set_xticks(range(num_classes))
    ax.set_yticks(range(num_classes))
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    ax.set_title(f"confusion matrix ({int(matrix.trace())}/{len(labels)} right)")
    return ax
