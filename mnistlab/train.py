"""Training: ``fit`` trains a model for some epochs; ``train_one_epoch`` and ``evaluate`` are its halves.

Taught in notebook 08 and used by notebooks 09 and 11 and by the command line. It is the seed's training
loop, corrected: the running loss is averaged over batches (the seed divided the sum of per-batch means
by the number of samples, about batch_size times too small), accuracy is counted without ``.data``, and
the model is in train mode while it learns and in eval mode (dropout off) under ``torch.inference_mode()``
while it is tested. The same loop runs faster with ``fast=True`` (see ``mnistlab.fast``) and
data-parallel under ``torchrun`` (see ``mnistlab.distributed``); ``fit`` records a ``History``.
A little over 300 lines, all one job: the loop, the checks at its door and the data forms it accepts.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable

import torch
from tqdm.auto import tqdm

from . import distributed
from .checkpoint import check_can_save, load_checkpoint, peek_checkpoint, save_checkpoint
from .data import iterate_batches
from .device import check_seed, get_device, model_device
from .fast import bf16_autocast, bf16_autocast_available, fast_path, to_device
from .history import History

__all__ = ["PROGRESS_ENV", "RESUME_SETTINGS", "check_data", "evaluate", "fit", "make_adam", "progress_enabled",
           "train_one_epoch"]

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


def _batches(
    data: object, batch_size: int, shuffle: bool, generator: torch.Generator | None, rank: int = 0, world_size: int = 1
) -> Iterable:
    """Mini-batches of ``(x, y)`` tensors (via iterate_batches, this rank's share) or of a DataLoader, as given."""
    if _is_tensor_pair(data):
        x, y = data
        return iterate_batches(x, y, batch_size, shuffle=shuffle, generator=generator, rank=rank,
                               world_size=world_size)
    if isinstance(data, (tuple, list)):
        raise TypeError(_pair_problem(data))
    if world_size > 1:
        raise ValueError("distributed training needs (x, y) tensors, got a DataLoader: pass the tensors "
                         "(mnistlab.data.mnist_tensors) or give the loader a DistributedSampler and train without fit")
    if isinstance(data, Iterable):
        return data
    raise TypeError(f"data must be an (x, y) pair of tensors or a DataLoader, got {type(data).__name__}")


def _pair_problem(data: tuple | list) -> str:
    """Why a tuple or list is not the ``(x, y)`` pair of tensors that fit and evaluate take."""
    kinds = ", ".join(type(item).__name__ for item in data[:3]) + (", ..." if len(data) > 3 else "")
    return (f"data must be an (x, y) pair of tensors (images, labels) or a DataLoader, got a "
            f"{type(data).__name__} of {len(data)} item{'s' if len(data) != 1 else ''} ({kinds or 'empty'})")


def check_data(data: object, name: str = "data") -> None:
    """Raise a clear TypeError/ValueError unless ``data`` is an (x, y) tensor pair or an iterable of batches."""
    if isinstance(data, (tuple, list)):
        if not _is_tensor_pair(data):
            raise TypeError(f"{name}: " + _pair_problem(data))
        if len(data[0]) != len(data[1]):
            raise ValueError(f"{name}: x and y differ in length: {len(data[0])} images, {len(data[1])} labels")
    elif isinstance(data, torch.Tensor) or not isinstance(data, Iterable):
        raise TypeError(f"{name} must be an (x, y) pair of tensors or a DataLoader, got {type(data).__name__}")


def _check_fit_arguments(model: object, train_data: object, val_data: object, epochs: object,
                         batch_size: object, lr: object, seed: object) -> None:
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}: {model!r:.60}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be an int >= 0, got {epochs!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < math.inf:
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    check_seed(seed)
    check_data(train_data, "train_data")
    if val_data is not None:
        check_data(val_data, "val_data")
    world = distributed.world_size()
    if batch_size % world != 0:
        raise ValueError(f"batch_size {batch_size} must divide evenly over {world} processes "
                         f"(each takes batch_size // {world} images per step); use a multiple of {world}")


#: What fit records in a checkpoint's ``settings``; resuming with other values is refused.
RESUME_SETTINGS = ("lr", "seed", "batch_size", "fast")


def _check_resume_settings(resume: str | os.PathLike, current: dict, saved: dict) -> None:
    for name in RESUME_SETTINGS:
        if name in saved and name in current and saved[name] != current[name]:
            raise ValueError(
                f"{os.fspath(resume)} was trained with {name}={saved[name]!r}, not {name}={current[name]!r}; "
                f"a resume continues the run exactly as it started: pass {name}={saved[name]!r}"
            )


def _num_batches(data: object, batch_size: int, world_size: int = 1) -> int | None:
    if _is_tensor_pair(data):
        n = len(data[0])
        return math.ceil((n - n % world_size) // world_size / batch_size)
    return len(data) if hasattr(data, "__len__") else None


def evaluate(
    model: torch.nn.Module,
    data: Data | Iterable,
    batch_size: int = 1000,
    loss_fn: torch.nn.Module | None = None,
    return_predictions: bool = False,
    fast: bool = False,
) -> dict:
    """Test ``model`` on ``data`` in eval mode: ``{"loss", "accuracy", "correct", "total"}`` (+ ``"predictions"``).

    ``loss`` is the mean over samples; ``accuracy`` is ``correct / total`` in [0, 1]. ``fast``: channels_last
    inputs and bf16 autocast where available, as in ``fit(fast=True)``. Under torchrun, tensor data is split
    over the ranks (every rank must call it) and the counts are summed, so every rank gets the full result.
    """
    check_data(data)
    loss_fn = loss_fn or torch.nn.CrossEntropyLoss()
    device = model_device(model)
    model.eval()  # dropout off: every neuron takes part, as it should at test time
    shard = distributed.is_active() and _is_tensor_pair(data) and not return_predictions
    if shard:  # rank r tests images r, r + world, r + 2 world, ...: each image exactly once over the ranks
        data = (data[0][distributed.rank() :: distributed.world_size()],
                data[1][distributed.rank() :: distributed.world_size()])
    autocast = fast and bf16_autocast_available(device)
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    total = 0
    predictions = []
    with torch.inference_mode():
        for x, y in _batches(data, batch_size, shuffle=False, generator=None):
            x, y = to_device(x, y, device, channels_last=fast)
            with bf16_autocast(device, autocast):
                outputs = model(x).float()
            pred = outputs.argmax(dim=1)
            loss_sum += loss_fn(outputs, y).double() * len(y)  # the loss is a mean over the batch
            correct += (pred == y).sum()
            total += len(y)
            if return_predictions:
                predictions.append(pred.cpu())
    if shard:
        counts = torch.tensor([loss_sum.item(), correct.item(), total], dtype=torch.float64)
        loss_sum, correct, total = distributed.all_reduce_sum(counts).tolist()
        correct, total = round(correct), round(total)
    if total == 0:
        raise ValueError("evaluate() got no data: the dataset or loader is empty")
    result = {
        "loss": float(loss_sum) / total,
        "accuracy": int(correct) / total,
        "correct": int(correct),
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
    fast: bool = False,
) -> tuple[float, float]:
    """One pass over ``batches`` in train mode; return (loss averaged over batches, accuracy).

    ``fast``: channels_last inputs and, where the hardware has it, bf16 autocast (see ``fit``).
    Under torchrun the loss and accuracy are averaged over all ranks.
    """
    device = model_device(model)
    autocast = fast and bf16_autocast_available(device)
    model.train()  # dropout on while learning
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    seen = 0
    steps = 0
    for x, y in batches:
        x, y = to_device(x, y, device, channels_last=fast)
        optimizer.zero_grad()
        with bf16_autocast(device, autocast):  # bf16 matmuls and convolutions; the loss is computed in fp32
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
    if distributed.is_active():  # every rank reports the whole epoch, not its share
        counts = torch.tensor([loss_sum.item(), correct.item(), seen, steps], dtype=torch.float64)
        loss_sum, correct, seen, steps = distributed.all_reduce_sum(counts).tolist()
        return loss_sum / steps, correct / seen
    return loss_sum.item() / steps, correct.item() / seen


def fit(
    model: torch.nn.Module,
    train_data: Data | Iterable,
    epochs: int = 1,
    lr: float = 1e-3,
    batch_size: int = 64,
    device: torch.device | str | None = None,
    seed: int = 0,
    val_data: Data | Iterable | None = None,
    checkpoint: str | os.PathLike | None = None,
    resume: str | os.PathLike | None = None,
    progress: bool = True,
    optimizer: torch.optim.Optimizer | None = None,
    extra: dict | None = None,
    fast: bool = False,
) -> History:
    """Train ``model`` with Adam and cross-entropy until ``epochs`` epochs are done; return the History.

    ``train_data`` / ``val_data``: ``(x, y)`` tensors (shuffled by a generator seeded with ``seed``,
    carried over from epoch to epoch) or a DataLoader. ``seed`` also seeds torch's global RNG (dropout).
    History per epoch: ``train_loss``, ``train_acc`` and, with ``val_data``, ``val_loss``, ``val_acc``.
    ``checkpoint``: a file rewritten (atomically) after every epoch. ``resume``: a checkpoint file to
    continue from; ``epochs`` counts all epochs, so ``fit(..., epochs=2, resume=f)`` after one saved
    epoch trains one more, bit for bit as if the run had not stopped (with tensor data). The checkpoint
    records ``lr``, ``seed``, ``batch_size`` and ``fast``; a resume with other values is refused (ValueError),
    since the saved optimizer state and batch order would quietly overrule them. A ``checkpoint`` that could
    not be written is refused before training starts (CheckpointError), not after the first epoch.

    ``fast=True``: the same loop with channels_last, bf16 autocast on CPUs with AMX-bf16 or AVX512-BF16
    and on CUDA GPUs, and on the CPU freed memory kept for reuse (``mnistlab.fast`` says what and why);
    give it a larger ``batch_size`` too (256: ``python -m mnistlab train --fast`` does). Under ``torchrun``
    (``mnistlab.distributed.setup`` called first) the model is wrapped in DistributedDataParallel, each
    rank trains on ``batch_size // world_size`` images of every global batch of ``batch_size``, and only
    rank 0 shows progress and writes the checkpoint.
    """
    _check_fit_arguments(model, train_data, val_data, epochs, batch_size, lr, seed)
    settings = {"lr": lr, "seed": seed, "batch_size": batch_size, "fast": bool(fast)}
    if optimizer is not None:  # the caller's optimizer decides the learning rate
        del settings["lr"]
    if resume is not None:  # before anything is loaded into the model: a refused resume changes nothing
        _check_resume_settings(resume, settings, peek_checkpoint(resume).get("settings", {}))
    if checkpoint is not None and distributed.rank() == 0:
        check_can_save(checkpoint)
    device = get_device(str(device)) if device is not None else get_device()
    model.to(device)
    with fast_path(model, device, enabled=fast):
        train_model = distributed.wrap(model, device)  # DistributedDataParallel under torchrun, else the model
        optimizer = optimizer or make_adam(model, lr)
        loss_fn = torch.nn.CrossEntropyLoss()
        generator = torch.Generator().manual_seed(seed)  # the batch order, a new one each epoch
        torch.manual_seed(seed)  # dropout masks
        history, start = History(), 0
        if resume is not None:
            saved = load_checkpoint(resume, model, optimizer, generator=generator, restore_rng=True)
            history, start = History.from_dict(saved["history"]), saved["epoch"]
            if start > epochs:
                raise ValueError(f"{os.fspath(resume)} has {start} epochs done; asked for epochs={epochs} in total")
        world = distributed.world_size()
        rank_batch = batch_size // world  # the global batch is split over the ranks
        show = progress_enabled(progress) and distributed.rank() == 0  # one progress bar, not one per rank
        for epoch in range(start, epochs):
            # same generator (same seed) on every rank: identical shuffles, each rank takes its share
            batches = _batches(train_data, rank_batch, shuffle=True, generator=generator,
                               rank=distributed.rank(), world_size=world)
            with tqdm(total=_num_batches(train_data, rank_batch, world), desc=f"epoch {epoch + 1}/{epochs}",
                      unit="batch", disable=not show, leave=True) as bar:
                train_loss, train_acc = train_one_epoch(train_model, batches, optimizer, loss_fn,
                                                        bar if show else None, fast=fast)
                metrics = {"train_loss": train_loss, "train_acc": train_acc}
                if val_data is not None:
                    result = evaluate(model, val_data, loss_fn=loss_fn, fast=fast)
                    metrics.update(val_loss=result["loss"], val_acc=result["accuracy"])
                bar.set_postfix({k: f"{v:.4f}" for k, v in metrics.items()})
            history.log(**metrics)
            if checkpoint is not None and distributed.rank() == 0:  # the ranks hold the same weights: one file
                save_checkpoint(checkpoint, model, optimizer, epoch=epoch + 1, history=history.to_dict(),
                                generator=generator, settings=settings, **(extra or {}))
        return history
