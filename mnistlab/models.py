"""The course's CNNs: the seed's model as written (``SeedCNN``) and a fast one for demos (``CompactCNN``).

Taught in notebook 08 (模型搭建和参数优化). Both take normalised MNIST images of shape
``(N, 1, 28, 28)`` and return ``(N, 10)`` logits (no softmax: ``CrossEntropyLoss`` wants logits).
A wrong input shape is refused with a message naming the expected and the found shape, instead of
the seed's ``x.view(-1, 14*14*128)``, which silently regroups the numbers of a wrong input into a
different number of "samples" (notebook 08 shows how).

``SeedCNN`` vs ``CompactCNN`` on the course's 2-core CPU (AMD EPYC Zen 4, torch 2.14, idle machine,
2026-11-27), 1 epoch on the 6,000-image sample with fused Adam and batch 64, then its 2,000 test images,
measured with ``python -m mnistlab train --model NAME [--lr LR] [--epochs N] --no-progress``:

* ``SeedCNN``: 25,775,882 parameters; 194 training images/s (31 s); test accuracy 96.6% at lr 1e-3.
* ``CompactCNN``: 105,866 parameters; about 7,500 training images/s (0.8 s); test accuracy 91.9% at
  lr 1e-3, 95.8% at lr 3e-3, and 96.4% after 2 epochs at lr 3e-3 (2.1 s).
* Full MNIST, ``python -m mnistlab train --model compact --data full --epochs 2 --lr 3e-3``:
  98.66% on the 10,000 official test images.

So ``CompactCNN`` trains about 40x faster per image; give it lr 3e-3 and two epochs to match the
seed's one. (Under heavy load from other jobs the ratio shrank to 5-15x: small models suffer most.)
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["MODEL_NAMES", "CompactCNN", "SeedCNN", "build_model", "check_input", "count_parameters"]

#: Names ``build_model`` (and ``python -m mnistlab train --model``) accept.
MODEL_NAMES = ("seed", "compact")


def check_input(x: torch.Tensor) -> None:
    """Raise a clear error unless ``x`` is a batch of normalised float MNIST images ``(N, 1, 28, 28)``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"expected a tensor of shape (N, 1, 28, 28), got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(
            f"expected float images, got {x.dtype} {tuple(x.shape)}: the models take normalised pixels; "
            "mnistlab.data.normalize(images) turns uint8 (N, 28, 28) into float (N, 1, 28, 28), the same "
            "numbers as ToTensor() + Normalize((MNIST_MEAN,), (MNIST_STD,))"
        )
    if x.dim() != 4 or tuple(x.shape[1:]) != (1, 28, 28):
        hint = ""
        if x.dim() == 3 and tuple(x.shape[-2:]) == (28, 28):
            hint = " (one image or a batch without its channel axis? use x.unsqueeze(0) or x.unsqueeze(1))"
        elif x.dim() == 2 and x.shape[-1] == 784:
            hint = " (flattened images? use x.view(-1, 1, 28, 28))"
        raise ValueError(f"expected input of shape (N, 1, 28, 28), found {tuple(x.shape)}{hint}")


class SeedCNN(nn.Module):
    """The seed's CNN exactly (two 3x3 convs, one 2x2 max-pool, a 25,088 -> 1,024 -> 10 dense head).

    25,775,882 parameters, 99.7% of them in ``dense[0]``. Same attribute names as the seed's ``Model``,
    so its state dicts load into this class and back.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv2d(1, 64, kernel_size=3, stride=1, padding=1),
            nn.ReLU(),
            nn.Conv2d(64, 128, kernel_size=3, stride=1, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(stride=2, kernel_size=2),
        )
        self.dense = nn.Sequential(
            nn.Linear(14 * 14 * 128, 1024),
            nn.ReLU(),
            nn.Dropout(p=0.5),
            nn.Linear(1024, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x)
        x = self.conv1(x)  # (N, 128, 14, 14)
        x = x.flatten(1)  # (N, 25088): keeps the batch axis, unlike view(-1, 25088)
        return self.dense(x)


class CompactCNN(nn.Module):
    """A small, fast CNN for demos and tests: conv 1->16, pool, conv 16->32, pool, 1,568 -> 64 -> 10.

    105,866 parameters (about 1/240 of ``SeedCNN``); several times faster to train on a CPU.
    """

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, kernel_size=3, padding=1),  # (N, 16, 28, 28)
            nn.ReLU(),
            nn.MaxPool2d(2),  # (N, 16, 14, 14)
            nn.Conv2d(16, 32, kernel_size=3, padding=1),  # (N, 32, 14, 14)
            nn.ReLU(),
            nn.MaxPool2d(2),  # (N, 32, 7, 7)
        )
        self.classifier = nn.Sequential(
            nn.Linear(7 * 7 * 32, 64),
            nn.ReLU(),
            nn.Dropout(p=0.25),
            nn.Linear(64, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x)
        x = self.features(x)
        x = x.flatten(1)  # (N, 1568)
        return self.classifier(x)


def count_parameters(model: nn.Module) -> int:
    """How many numbers the model learns: the sizes of all its parameters, added up."""
    return sum(p.numel() for p in model.parameters())


def build_model(name: str) -> nn.Module:
    """A new, randomly initialised model by name: ``"seed"`` (SeedCNN) or ``"compact"`` (CompactCNN)."""
    if name == "seed":
        return SeedCNN()
    if name == "compact":
        return CompactCNN()
    raise ValueError(f"unknown model {name!r}: expected one of {', '.join(MODEL_NAMES)}")
