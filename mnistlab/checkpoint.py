"""Saving and loading models and training checkpoints, safely.

Taught in notebook 08 (保存模型). Three rules:

* Writes are atomic: the file is written under a temporary name in the same folder, then renamed
  with ``os.replace``; a crash mid-write leaves the previous file intact, never half a file.
* Loads use ``torch.load(..., weights_only=True)``: only tensors and plain Python values are read,
  so a file cannot run code on your machine (pickle can). Use ``weights_only=False`` only for files
  you made yourself.
* A checkpoint holds everything a run needs to continue exactly: model and optimizer state, the
  number of finished epochs, the history, and the random number generator states (torch's global one,
  which drives dropout, and the generator that shuffles the batches).
"""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

#: Written into every checkpoint so a loader can tell a checkpoint from a bare state dict.
FORMAT = "mnistlab-checkpoint-1"


class CheckpointError(RuntimeError):
    """A file is not a checkpoint, does not match the model, or was refused as unsafe."""


def atomic_save(obj: object, path: str | os.PathLike) -> Path:
    """``torch.save(obj, path)`` through a temporary file in the same folder, then ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def safe_load(path: str | os.PathLike, map_location: str | torch.device = "cpu", weights_only: bool = True) -> object:
    """``torch.load`` with ``weights_only=True`` by default, and a clear error when a file is refused."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}: check the path, or train first to create it")
    try:
        return torch.load(path, map_location=map_location, weights_only=weights_only)
    except pickle.UnpicklingError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"{path.name} holds more than tensors and plain values (e.g. a whole pickled model), so "
            f"weights_only=True refused it ({first_line}). If you made this file yourself, load it with "
            "weights_only=False; never do that for a file from someone else: unpickling can run any code."
        ) from exc


def _first_five(items: list[str]) -> str:
    return f"{items[:5]}{' and more' if len(items) > 5 else ''}"


def check_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Raise CheckpointError naming missing, unexpected and wrongly shaped keys, if any."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong_shape = [
        f"{k}: checkpoint {tuple(state[k].shape)}, model {tuple(expected[k].shape)}"
        for k in expected
        if k in state and tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    if missing or unexpected or wrong_shape:
        problems = []
        if missing:
            problems.append(f"missing keys {_first_five(missing)}")
        if unexpected:
            problems.append(f"unexpected keys {_first_five(unexpected)}")
        if wrong_shape:
            problems.append(f"shape mismatch {_first_five(wrong_shape)}")
        raise CheckpointError(
            f"the saved weights do not fit {type(model).__name__}: " + "; ".join(problems)
            + ". Build the same architecture that was saved (e.g. --model seed vs compact)."
        )


def save_state_dict(model: nn.Module, path: str | os.PathLike) -> Path:
    """Save only the model's weights (its ``state_dict``), atomically."""
    return atomic_save(model.state_dict(), path)


def load_state_dict(model: nn.Module, path: str | os.PathLike, map_location: str | torch.device = "cpu") -> nn.Module:
    """Load weights saved by ``save_state_dict`` (or the ``model`` entry of a checkpoint) into ``model``."""
    state = safe_load(path, map_location=map_location)
    if isinstance(state, Mapping) and state.get("format") == FORMAT:
        state = state["model"]
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{Path(path).name} holds a {type(state).__name__}, not a state dict")
    check_state_dict(model, state)
    model.load_state_dict(state)
    return model


def rng_states(generator: torch.Generator | None = None) -> dict[str, object]:
    """The random states a resumed run needs: torch's global RNG (dropout), CUDA's, and the batch generator."""
    states: dict[str, object] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    if generator is not None:
        states["batches"] = generator.get_state()
    return states


def restore_rng_states(states: Mapping[str, object], generator: torch.Generator | None = None) -> None:
    """Put back what ``rng_states`` recorded."""
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    if generator is not None:
        if "batches" not in states:
            raise CheckpointError("this checkpoint has no batch-order generator state to restore")
        generator.set_state(states["batches"])


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    epoch: int = 0,
    history: Mapping[str, list[float]] | None = None,
    generator: torch.Generator | None = None,
    **extra: object,
) -> Path:
    """Save model + optimizer state, finished ``epoch``s, history and RNG states, atomically.

    ``extra`` values (plain numbers, strings, lists, dicts) are stored too, e.g. ``model_name="compact"``.
    """
    checkpoint = {
        "format": FORMAT,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "epoch": int(epoch),
        "history": {name: [float(v) for v in values] for name, values in (history or {}).items()},
        "rng": rng_states(generator),
        "extra": dict(extra),
    }
    return atomic_save(checkpoint, path)


def load_checkpoint(
    path: str | os.PathLike,
    model: nn.Module | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    generator: torch.Generator | None = None,
    restore_rng: bool = False,
    map_location: str | torch.device = "cpu",
) -> dict:
    """Read a checkpoint; load it into ``model`` / ``optimizer`` if given; with ``restore_rng`` put back the RNGs.

    Returns the checkpoint dict (``epoch``, ``history``, ``extra``, ...).
    """
    checkpoint = safe_load(path, map_location=map_location)
    if not isinstance(checkpoint, Mapping) or checkpoint.get("format") != FORMAT:
        raise CheckpointError(
            f"{Path(path).name} is not an mnistlab checkpoint (no format={FORMAT!r} entry); "
            "a bare state dict loads with load_state_dict(model, path)"
        )
    if model is not None:
        check_state_dict(model, checkpoint["model"])
        model.load_state_dict(checkpoint["model"])
    if optimizer is not None:
        if checkpoint["optimizer"] is None:
            raise CheckpointError(f"{Path(path).name} holds no optimizer state to resume from")
        optimizer.load_state_dict(checkpoint["optimizer"])
    if restore_rng:
        restore_rng_states(checkpoint["rng"], generator)
    return dict(checkpoint)
