"""Common-sense baselines: the scores a first model has to beat.

Taught in notebook 00 (机器学习工作流, step 5), which computes them by hand; notebooks 08 and 11
reuse these functions to print "the bar to beat" beside a trained model.

* ``majority_class_accuracy``: always answer the most frequent training label.
* ``nearest_class_mean``: average the training images of each class, then give each new
  image the label of the closest average (Euclidean distance on the pixels).

Scores are ``Score(correct, total)``: exact integer counts, printed as ``812/1000 = 81.2%``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

__all__ = ["Score", "class_means", "majority_class", "majority_class_accuracy", "nearest_class_mean",
           "nearest_class_mean_accuracy", "score"]


class Score(NamedTuple):
    """How many of ``total`` predictions were right; prints as ``812/1000 = 81.2%``."""

    correct: int
    total: int

    @property
    def accuracy(self) -> float:
        """``correct / total`` as a float in [0, 1]."""
        return self.correct / self.total

    def __str__(self) -> str:
        return f"{self.correct}/{self.total} = {100 * self.accuracy:.1f}%"  # one rounding everywhere: 100 * fraction


def _check_labels(name: str, y: torch.Tensor) -> None:
    if not isinstance(y, torch.Tensor) or y.dim() != 1 or y.dtype.is_floating_point or y.dtype == torch.bool:
        found = f"{y.dtype} tensor of shape {tuple(y.shape)}" if isinstance(y, torch.Tensor) else type(y).__name__
        raise TypeError(f"{name} must be a 1-D integer tensor of class labels, got {found}; use dataset.targets")
    if len(y) == 0:
        raise ValueError(f"{name} is empty: a baseline needs at least one label")


def _flatten(name: str, x: torch.Tensor) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.dim() < 2:
        found = f"shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise TypeError(f"{name} must be a tensor of images (N, 1, 28, 28), (N, 28, 28) or (N, 784), got {found}")
    return x.reshape(len(x), -1).float()


def score(predictions: torch.Tensor, labels: torch.Tensor) -> Score:
    """Count the predictions equal to their label."""
    _check_labels("labels", labels)
    if predictions.shape != labels.shape:
        raise ValueError(
            f"predictions {tuple(predictions.shape)} and labels {tuple(labels.shape)} must have the same shape"
        )
    return Score(int((predictions == labels).sum()), len(labels))


def majority_class(train_y: torch.Tensor) -> int:
    """The most frequent label of the training set (the smallest one on a tie)."""
    _check_labels("train_y", train_y)
    return int(torch.bincount(train_y).argmax())


def majority_class_accuracy(train_y: torch.Tensor, test_y: torch.Tensor) -> Score:
    """Score of always answering the training set's most frequent label on ``test_y``."""
    _check_labels("test_y", test_y)
    guess = majority_class(train_y)
    return score(torch.full_like(test_y, guess), test_y)


def class_means(train_x: torch.Tensor, train_y: torch.Tensor, num_classes: int = 10) -> torch.Tensor:
    """The average flattened training image of each class, shape ``(num_classes, pixels)``."""
    flat = _flatten("train_x", train_x)
    _check_labels("train_y", train_y)
    if len(flat) != len(train_y):
        raise ValueError(f"train_x has {len(flat)} images but train_y has {len(train_y)} labels")
    counts = torch.bincount(train_y, minlength=num_classes)
    if len(counts) > num_classes or (counts == 0).any():
        raise ValueError(
            f"every class 0..{num_classes - 1} needs at least one training image; counts per label: "
            f"{counts.tolist()}. Use a larger training set or the right num_classes."
        )
    means = torch.zeros(num_classes, flat.shape[1])
    means.index_add_(0, train_y, flat)
    return means / counts[:, None]


def nearest_class_mean(
    train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, num_classes: int = 10
) -> torch.Tensor:
    """Predict, for each image of ``test_x``, the class whose mean training image is closest."""
    means = class_means(train_x, train_y, num_classes)
    flat = _flatten("test_x", test_x)
    if flat.shape[1] != means.shape[1]:
        raise ValueError(f"test_x has {flat.shape[1]} pixels per image, train_x has {means.shape[1]}")
    distances = torch.cdist(flat, means)  # (N, num_classes)
    return distances.argmin(dim=1)


def nearest_class_mean_accuracy(
    train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor
) -> Score:
    """Score of the nearest-class-mean classifier fitted on the training split, on ``(test_x, test_y)``."""
    return score(nearest_class_mean(train_x, train_y, test_x), test_y)
