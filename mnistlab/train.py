"""Training plumbing: a metric recorder (``History``) for the course's training loops.

Introduced in notebook 03-05 (the loss printed every epoch becomes a curve) and
used by ``fit`` in notebook 07.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping

import torch
from tqdm.auto import tqdm

from .data import iterate_batches


class History:
    """Named metrics recorded per step or per epoch, as plain lists of floats.

    >>> h = History(); h.log(loss=2.0, acc=0.5); h.log(loss=1.0); h["loss"]
    [2.0, 1.0]
    """

    def __init__(self, metrics: Mapping[str, Iterable[float]] | None = None) -> None:
        self.metrics: dict[str, list[float]] = {}
        for name, values in (metrics or {}).items():
            self.metrics[str(name)] = [self._check(name, v) for v in values]

    @staticmethod
    def _check(name: str, value: object) -> float:
        try:
            number = float(value)  # accepts Python numbers and one-element tensors
        except (TypeError, ValueError, RuntimeError) as exc:
            raise TypeError(f"metric {name!r} must be a number, got {type(value).__name__}: {value!r}") from exc
        if math.isnan(number):
            raise ValueError(f"metric {name!r} is NaN: training has diverged (lower the learning rate?)")
        return number

    def log(self, **values: float) -> None:
        """Append one value to each named metric (names may differ from call to call)."""
        if not values:
            raise ValueError("log() needs at least one metric, e.g. log(loss=0.3)")
        for name, value in values.items():
            self.metrics.setdefault(name, []).append(self._check(name, value))

    def __getitem__(self, name: str) -> list[float]:
        if name not in self.metrics:
            raise KeyError(f"no metric {name!r}; recorded: {sorted(self.metrics) or 'none yet'}")
        return self.metrics[name]

    def __contains__(self, name: object) -> bool:
        return name in self.metrics

    def __len__(self) -> int:
        return max((len(v) for v in self.metrics.values()), default=0)

    def last(self, name: str) -> float:
        """The latest value of ``name``."""
        values = self[name]
        if not values:
            raise KeyError(f"metric {name!r} has no values yet")
        return values[-1]

    def best(self, name: str, mode: str = "max") -> tuple[int, float]:
        """``(index, value)`` of the best value of ``name``: ``mode`` is ``"max"`` or ``"min"``."""
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        values = self[name]
        if not values:
            raise KeyError(f"metric {name!r} has no values yet")
        pick = max if mode == "max" else min
        index = pick(range(len(values)), key=values.__getitem__)
        return index, values[index]

    def to_dict(self) -> dict[str, list[float]]:
        """A copy as a dict of float lists (what a checkpoint stores)."""
        return {name: list(values) for name, values in self.metrics.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Iterable[float]]) -> History:
        """Rebuild from ``to_dict()``'s output."""
        return cls(data)

    def __repr__(self) -> str:
        parts = ", ".join(f"{name}: {len(values)}" for name, values in self.metrics.items())
        return f"History({parts})"


# ---------------------------------------------------------------- fit and evaluate (notebook 07)
#
# The seed's training loop, corrected: the running loss is averaged over batches (the seed divided the
# sum of per-batch means by the number of samples, about batch_size times too small), accuracy is counted
# without ``.data``, the model is in train mode while it learns and in eval mode (dropout off) under
# ``torch.inference_mode()`` while it is tested.

PROGRESS_ENV = "MNISTLAB_PROGRESS"  # set to 0 to hide every progress bar

Data = tuple  # (x, y) tensors; a DataLoader (any iterable of (x, y) batches) also works


def progress_enabled(progress: bool = True) -> bool:
    """False when ``progress`` is False or $MNISTLAB_PROGRESS is 0/false/no/off."""
    return bool(progress) and os.environ.get(PROGRESS_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def make_adam(model: torch.nn.Module, lr: float = 1e-3) -> torch.optim.Adam:
    """Adam with ``fused=True`` (one kernel for all weights) where the device supports it, else the default."""
    try:
        return torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    except (RuntimeError, ValueError, TypeError):  # older torch, or a device without a fused kernel
        return torch.optim.Adam(model.parameters(), lr=lr)


def _is_tensor_pair(data: object) -> bool:
    return (
        isinstance(data, (tuple, list))
        and len(data) == 2
        and all(isinstance(t, torch.Tensor) for t in data)
    )


def _batches(data: object, batch_size: int, shuffle: bool, generator: torch.Generator | None) -> Iterable:
    """Mini-batches of ``(x, y)`` tensors (via iterate_batches) or of a DataLoader, as given."""
    if _is_tensor_pair(data):
        x, y = data
        return iterate_batches(x, y, batch_size, shuffle=shuffle, generator=generator)
    if isinstance(data, Iterable):
        return data
    raise TypeError(f"data must be an (x, y) pair of tensors or a DataLoader, got {type(data).__name__}")


def _num_batches(data: object, batch_size: int) -> int | None:
    if _is_tensor_pair(data):
        return math.ceil(len(data[0]) / batch_size)
    return len(data) if hasattr(data, "__len__") else None


def _model_device(model: torch.nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def evaluate(
    model: torch.nn.Module,
    data: Data | Iterable,
    batch_size: int = 1000,
    loss_fn: torch.nn.Module | None = None,
    return_predictions: bool = False,
) -> dict:
    """Test ``model`` on ``data`` in eval mode: ``{"loss", "accuracy", "correct", "total"}`` (+ ``"predictions"``).

    ``loss`` is the mean over samples; ``accuracy`` is ``correct / total`` in [0, 1].
    """
    loss_fn = loss_fn or torch.nn.CrossEntropyLoss()
    device = _model_device(model)
    model.eval()  # dropout off: every neuron takes part, as it should at test time
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    total = 0
    predictions = []
    with torch.inference_mode():
        for x, y in _batches(data, batch_size, shuffle=False, generator=None):
            x, y = x.to(device), y.to(device)
            outputs = model(x)
            pred = outputs.argmax(dim=1)
            loss_sum += loss_fn(outputs, y).double() * len(y)  # the loss is a mean over the batch
            correct += (pred == y).sum()
            total += len(y)
            if return_predictions:
                predictions.append(pred.cpu())
    if total == 0:
        raise ValueError("evaluate() got no data: the dataset or loader is empty")
    result = {
        "loss": loss_sum.item() / total,
        "accuracy": correct.item() / total,
        "correct": int(correct.item()),
        "total": total,
    }
    if return_predictions:
        result["predictions"] = torch.cat(predictions)
    return result


def train_one_epoch(
    model: torch.nn.Module,
    batches: Iterable,
    optimizer: torch.optim.Optimizer,
    loss_fn: torch.nn.Module,
    bar: object | None = None,
) -> tuple[float, float]:
    """One pass over ``batches`` in train mode; return (loss averaged over batches, accuracy)."""
    device = _model_device(model)
    model.train()  # dropout on while learning
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    seen = 0
    steps = 0
    for x, y in batches:
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        outputs = model(x)
        loss = loss_fn(outputs, y)
        loss.backward()
        optimizer.step()
        loss_sum += loss.detach().double()  # stays on the device: no wait for the GPU each step
        correct += (outputs.argmax(dim=1) == y).sum()
        seen += len(y)
        steps += 1
        if bar is not None:
            bar.update(1)
            if steps % 20 == 0:
                bar.set_postfix(loss=f"{loss_sum.item() / steps:.4f}")
    if steps == 0:
        raise ValueError("no training batches: the training data is empty")
    return loss_sum.item() / steps, correct.item() / seen


def fit(
    model: torch.nn.Module,
    train_data: Data | Iterable,
    epochs: int = 1,
    lr: float = 1e-3,
    batch_size: int = 64,
    device: torch.device | str | None = None,
    seed: int = 0,
    history: History | None = None,
    val_data: Data | Iterable | None = None,
    checkpoint: str | os.PathLike | None = None,
    resume: str | os.PathLike | None = None,
    progress: bool = True,
    optimizer: torch.optim.Optimizer | None = None,
    extra: dict | None = None,
) -> History:
    """Train ``model`` with Adam and cross-entropy until ``epochs`` epochs are done; return the History.

    ``train_data`` / ``val_data``: ``(x, y)`` tensors (shuffled by a generator seeded with ``seed``,
    carried over from epoch to epoch) or a DataLoader. ``seed`` also seeds torch's global RNG (dropout).
    History per epoch: ``train_loss``, ``train_acc`` and, with ``val_data``, ``val_loss``, ``val_acc``.
    ``checkpoint``: a file rewritten (atomically) after every epoch. ``resume``: a checkpoint file to
    continue from; ``epochs`` counts all epochs, so ``fit(..., epochs=2, resume=f)`` after one saved
    epoch trains one more, bit for bit as if the run had not stopped (with tensor data).
    """
    from .checkpoint import load_checkpoint, save_checkpoint
    from .device import get_device

    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be an int >= 0, got {epochs!r}")
    device = get_device(str(device)) if device is not None else get_device()
    model.to(device)
    optimizer = optimizer or make_adam(model, lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    history = history if history is not None else History()
    generator = torch.Generator().manual_seed(seed)  # the batch order, a new one each epoch
    torch.manual_seed(seed)  # dropout masks
    start = 0
    if resume is not None:
        saved = load_checkpoint(resume, model, optimizer, generator=generator, restore_rng=True)
        start = saved["epoch"]
        history.metrics = History.from_dict(saved["history"]).metrics
        if start > epochs:
            raise ValueError(f"{os.fspath(resume)} has {start} epochs done; asked for epochs={epochs} in total")
    show = progress_enabled(progress)
    for epoch in range(start, epochs):
        batches = _batches(train_data, batch_size, shuffle=True, generator=generator)
        bar = tqdm(total=_num_batches(train_data, batch_size), desc=f"epoch {epoch + 1}/{epochs}",
                   unit="batch", disable=not show, leave=True)
        try:
            train_loss, train_acc = train_one_epoch(model, batches, optimizer, loss_fn, bar if show else None)
            metrics = {"train_loss": train_loss, "train_acc": train_acc}
            if val_data is not None:
                result = evaluate(model, val_data, loss_fn=loss_fn)
                metrics.update(val_loss=result["loss"], val_acc=result["accuracy"])
            bar.set_postfix({k: f"{v:.4f}" for k, v in metrics.items()})
        finally:
            bar.close()
        history.log(**metrics)
        if checkpoint is not None:
            save_checkpoint(checkpoint, model, optimizer, epoch=epoch + 1, history=history.to_dict(),
                            generator=generator, **(extra or {}))
    return history
