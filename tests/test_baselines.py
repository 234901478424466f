"""Common-sense baselines (mnistlab.baselines), checked against slow obvious versions."""

from __future__ import annotations

import pytest
import torch

from mnistlab.baselines import (
    Score,
    class_means,
    majority_class,
    majority_class_accuracy,
    nearest_class_mean,
    nearest_class_mean_accuracy,
    score,
)
from mnistlab.data import MNIST_MEAN, MNIST_STD, load_mnist


def test_score_prints_counts_and_percent():
    s = score(torch.tensor([1, 2, 3, 4]), torch.tensor([1, 2, 0, 0]))
    assert s == Score(2, 4)
    assert s.accuracy == 0.5
    assert str(Score(812, 1000)) == "812/1000 = 81.2%"


def test_majority_class_counts_like_python():
    g = torch.Generator().manual_seed(1)
    train_y = torch.randint(0, 10, (500,), generator=g)
    test_y = torch.randint(0, 10, (300,), generator=g)
    labels = train_y.tolist()
    expected = max(range(10), key=lambda c: (labels.count(c), -c))
    assert majority_class(train_y) == expected
    assert majority_class_accuracy(train_y, test_y) == Score(test_y.tolist().count(expected), 300)


def test_majority_class_tie_takes_smallest_label():
    assert majority_class(torch.tensor([3, 3, 1, 1, 2])) == 1


def test_nearest_class_mean_matches_a_loop():
    g = torch.Generator().manual_seed(2)
    train_x = torch.rand(200, 1, 6, 6, generator=g)
    train_y = torch.arange(200) % 4
    test_x = torch.rand(50, 36, generator=g)
    means = [train_x.reshape(200, -1)[train_y == c].mean(0) for c in range(4)]
    expected = [min(range(4), key=lambda c: float(((x - means[c]) ** 2).sum())) for x in test_x]
    assert torch.allclose(class_means(train_x, train_y, num_classes=4), torch.stack(means), atol=1e-6)
    assert nearest_class_mean(train_x, train_y, test_x, num_classes=4).tolist() == expected


def test_nearest_class_mean_separates_clusters():
    g = torch.Generator().manual_seed(3)
    centres = torch.randn(10, 784, generator=g) * 5
    train_y = torch.arange(100) % 10
    test_y = torch.arange(40) % 10
    train_x = centres[train_y] + torch.randn(100, 784, generator=g)
    test_x = centres[test_y] + torch.randn(40, 784, generator=g)
    assert nearest_class_mean_accuracy(train_x, train_y, test_x, test_y) == Score(40, 40)


def test_standardising_does_not_change_nearest_class_mean():
    """Shifting and scaling every pixel alike keeps every distance in the same order (notebook 00)."""
    train, test = load_mnist(train=True), load_mnist(train=False)
    raw_train, raw_test = train.data[:2000].float() / 255, test.data[:500].float() / 255
    std_train, std_test = (raw_train - MNIST_MEAN) / MNIST_STD, (raw_test - MNIST_MEAN) / MNIST_STD
    on_raw = nearest_class_mean(raw_train, train.targets[:2000], raw_test)
    on_std = nearest_class_mean(std_train, train.targets[:2000], std_test)
    assert torch.equal(on_raw, on_std)
    # far better than guessing on real digits
    assert score(on_raw, test.targets[:500]).accuracy > 0.6


def test_bad_inputs_say_what_to_do():
    x, y = torch.rand(4, 784), torch.tensor([0, 1, 0, 1])
    with pytest.raises(TypeError, match="integer tensor of class labels"):
        majority_class(y.float())
    with pytest.raises(TypeError, match=r"\(N, 1, 28, 28\)"):
        nearest_class_mean([[0.0]], y, x, num_classes=2)
    with pytest.raises(ValueError, match="every class 0..2 needs at least one training image"):
        class_means(x, y, num_classes=3)
    with pytest.raises(ValueError, match="4 images but train_y has 3 labels"):
        class_means(x, y[:3], num_classes=2)
    with pytest.raises(ValueError, match="same shape"):
        score(torch.tensor([0, 1]), torch.tensor([0, 1, 1]))
