"""Pictures that answer a student's question in one call.

``plot_losses`` (notebooks 03-05, 07, 10): how did the loss move? ``show_grid``
(notebooks 06-07): what do these digits look like, and which did the model get wrong?
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import torch

from .data import MNIST_MEAN, MNIST_STD
from .train import History


def plot_losses(
    histories: History | Mapping[str, History | Sequence[float]] | Sequence[float],
    metric: str = "loss",
    ax: plt.Axes | None = None,
    logy: bool | None = None,
    xlabel: str = "epoch",
    title: str | None = None,
) -> plt.Axes:
    """Plot one or several loss curves, labelled; log scale when the values span over 100x.

    ``histories`` is a ``History``, a list of floats, or a dict ``{label: History or list}``.
    """
    if isinstance(histories, History) or (
        isinstance(histories, Sequence) and not isinstance(histories, (str, bytes))
    ):
        histories = {metric: histories}
    if not isinstance(histories, Mapping) or not histories:
        raise TypeError("histories must be a History, a list of floats, or a non-empty {label: History/list} dict")
    curves = {}
    for label, h in histories.items():
        values = h[metric] if isinstance(h, History) else [float(v) for v in h]
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
    ax.set_xlabel(xlabel)
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
