"""Saving and loading models and training checkpoints, safely.

Taught in notebook 09 (保存模型). Four rules:

* Writes are atomic (``mnistlab.files.atomic_file``): the file is written under a temporary name in the
  same folder, then renamed with ``os.replace``; a crash mid-write leaves the previous file intact, never
  half a file. The new file gets the permissions of any file you create (from the umask), and temporaries
  left by a killed save are removed by the next save or load of the same file.
* A save that fails (read-only folder, disk full, a file where a folder should be) raises one
  ``CheckpointError`` naming the file and the reason; the previous file stays as it was.
  ``check_can_save`` finds most of these problems before training starts.
* Loads use ``torch.load(..., weights_only=True)``: only tensors and plain Python values are read,
  so a file cannot run code on your machine (pickle can). Use ``weights_only=False`` only for files
  you made yourself. A file that is not what was asked for (empty, text, a bare state dict, a pickled
  model) is refused with a one-line ``CheckpointError`` that says what the file is.
* A checkpoint holds everything a run needs to continue exactly: model and optimizer state, the
  number of finished epochs, the history, and the random number generator states (torch's global one,
  which drives dropout, and the generator that shuffles the batches); also the run's ``settings``
  (lr, seed, ...) and ``extra`` values. ``peek_checkpoint`` reads those small entries without the tensors.

Over 300 lines, one job: a model's or a run's state to a file and back. Half of it is telling a user, in one
line, why a save failed or what a file is instead of a checkpoint; the writing itself is ``mnistlab.files``'s.
"""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from . import files

__all__ = ["CHECKPOINT_IS", "ENTRIES", "FORMAT", "CheckpointError", "atomic_save", "check_can_save", "check_state_dict",
           "load_checkpoint", "load_state_dict", "peek_checkpoint", "restore_rng_states", "rng_states", "safe_load",
           "save_checkpoint", "save_state_dict"]

#: Written into every checkpoint so a loader can tell a checkpoint from a bare state dict.
FORMAT = "mnistlab-checkpoint-1"

#: The entries every checkpoint has (``extra`` and ``settings`` too, except in older files).
ENTRIES = ("model", "optimizer", "epoch", "history", "rng")

#: What load_checkpoint expected, added to its errors.
CHECKPOINT_IS = (f"an mnistlab checkpoint is a dict saved by save_checkpoint / train --checkpoint, "
                 f"with format={FORMAT!r}, {', '.join(ENTRIES)}")

_TEMP_SUFFIX = ".tmp"  # temporary files of a save: .NAME.HOST.PID.XXXXXX.tmp (see mnistlab.files)
_ZIP_MAGIC = b"PK\x03\x04"  # how a torch.save file starts (a zip archive)...
_PICKLE_MAGIC = b"\x80"  # ...or one saved with _use_new_zipfile_serialization=False (a pickle stream)
_PLAIN = (str, int, float, bool, type(None))  # what, with lists and dicts of them, settings may hold


class CheckpointError(RuntimeError):
    """A file could not be saved, is not a checkpoint, does not match the model, or was refused as unsafe.

    The message is one line, ready to show to the user.
    """


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message, without terminal colour codes, at most 200 characters."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if len(line) <= 200 else line[:199] + "…"


def _os_error_in(exc: BaseException | None) -> OSError | None:
    """``exc`` if it is an OSError, else the OSError it was raised from or during (torch hides a full disk
    behind ``RuntimeError: ... unexpected pos``, with the OSError as its context)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, OSError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def _not_a_place_for_a_file(path: Path) -> str | None:
    """Why no file can be written at ``path`` whatever the disk: it is a folder, or a file blocks the way."""
    if path.is_dir():
        return f"it is a folder; give a file name such as {path / 'model.pt'}"
    blocker = next((parent for parent in path.parents if parent.exists() and not parent.is_dir()), None)
    return f"{blocker} is a file, not a folder" if blocker is not None else None


def check_can_save(path: str | os.PathLike) -> Path:
    """Raise CheckpointError (one line) if a file could not be saved at ``path``; call it before training.

    Creates the folder if needed, and writes and removes a small probe file there.
    """
    path = Path(path)
    problem = _not_a_place_for_a_file(path)
    if problem is not None:
        raise CheckpointError(f"cannot save a checkpoint at {path}: {problem}")
    try:
        files.check_writable_folder(path.parent)
    except OSError as exc:
        raise CheckpointError(f"cannot save a checkpoint at {path}: {files.describe_os_error(exc)}") from exc
    return path


def atomic_save(obj: object, path: str | os.PathLike) -> Path:
    """``torch.save(obj, path)`` all or nothing (``files.atomic_file``); CheckpointError if it fails."""
    path = Path(path)
    try:
        with files.atomic_file(path, suffix=_TEMP_SUFFIX) as fh:
            torch.save(obj, fh)
    except (OSError, RuntimeError) as exc:  # RuntimeError: torch's report of a failed write
        os_error = _os_error_in(exc)
        reason = _not_a_place_for_a_file(path) or (
            files.describe_os_error(os_error) if os_error is not None else _first_line(exc))
        kept = f"the previous {path.name} is intact" if path.is_file() else "no file was written"
        raise CheckpointError(f"could not save {path}: {reason}; {kept}") from exc
    return path


def _not_a_torch_file(path: Path) -> str | None:
    """What ``path`` is, judged by its first bytes, when it cannot be a file written by torch.save."""
    with open(path, "rb") as fh:
        head = fh.read(64)
    if not head:
        return "an empty file"
    if head.startswith(_ZIP_MAGIC):
        return None if zipfile.is_zipfile(path) else "a cut-short or damaged PyTorch file (its zip archive has no end)"
    if head.startswith(_PICKLE_MAGIC):
        return None
    text = head.decode("utf-8", errors="replace").rstrip("\ufffd")  # a character cut at byte 64 is not binary
    if all(char.isprintable() or char in "\t\r\n" for char in text):
        return f"not a PyTorch file (starts with text: {text[:24]!r})"
    return f"not a PyTorch file (starts with the bytes {head[:8]!r})"


def _load(path: Path, map_location: str | torch.device = "cpu", weights_only: bool = True,
          mmap: bool = False, expected: str = "") -> object:
    """torch.load behind the checks that make its errors one clear line; ``expected`` ends every message."""
    files.clean_stale_temporaries(path, _TEMP_SUFFIX)  # left by a save that was killed
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}: check the path, or train first to create it")
    try:
        what = _not_a_torch_file(path)
    except OSError as exc:
        raise CheckpointError(f"{path.name} cannot be read: {files.describe_os_error(exc)}") from exc
    if what is not None:
        raise CheckpointError(f"{path.name} is {what}{expected}")
    try:  # only a zip archive can be mapped; mmap reads a tensor's bytes only when it is used
        return torch.load(path, map_location=map_location, weights_only=weights_only,
                          mmap=mmap and zipfile.is_zipfile(path))
    except pickle.UnpicklingError as exc:  # weights_only=True met a class or function
        found = re.search(r"GLOBAL (\S+)", str(exc))
        raise CheckpointError(
            f"{path.name} holds more than tensors and plain values (a pickled whole model / Python objects, "
            f"which weights_only=True refuses{'; it found ' + found.group(1) if found else ''}){expected}. "
            "Load it with weights_only=False only if you made the file yourself: unpickling can run any code."
        ) from exc
    except Exception as exc:  # a damaged file: torch raises RuntimeError, EOFError, KeyError, ValueError...
        raise CheckpointError(f"{path.name} is not a file torch.load can read ({_first_line(exc)}){expected}") from exc


def safe_load(path: str | os.PathLike, map_location: str | torch.device = "cpu", weights_only: bool = True) -> object:
    """``torch.load`` with ``weights_only=True`` by default, and a one-line CheckpointError when a file is
    refused or is no PyTorch file. Also removes temporaries that killed saves left beside ``path``."""
    return _load(Path(path), map_location, weights_only)


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


def _check_plain(value: object, name: str) -> None:
    """Raise TypeError unless ``value`` is a str, number, bool, None, or a list / tuple / dict of those:
    ``weights_only=True`` refuses anything else, so the checkpoint could not be loaded."""
    if type(value) is dict:
        for key, item in value.items():
            _check_plain(key, f"a key of {name}")
            _check_plain(item, f"{name}[{key!r}]")
    elif type(value) in (list, tuple):
        for index, item in enumerate(value):
            _check_plain(item, f"{name}[{index}]")
    elif type(value) not in _PLAIN:
        raise TypeError(f"{name} is a {type(value).__name__}; a checkpoint stores only str, int, float, bool, "
                        "None and lists / dicts of them (convert it, e.g. str(path))")


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    epoch: int = 0,
    history: Mapping[str, list[float]] | None = None,
    generator: torch.Generator | None = None,
    settings: Mapping[str, object] | None = None,
    **extra: object,
) -> Path:
    """Save model + optimizer state, finished ``epoch``s, history and RNG states, atomically.

    ``settings``: what the run was started with (lr, seed, batch_size, ...), for a resume to compare.
    ``extra`` values are stored too, e.g. ``model_name="compact"``. Both hold plain values only (str,
    numbers, bool, None, lists, dicts): TypeError otherwise. A failed write raises CheckpointError.
    """
    settings, extra = dict(settings or {}), dict(extra)
    _check_plain(settings, "settings")
    _check_plain(extra, "extra")
    checkpoint = {
        "format": FORMAT,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "epoch": int(epoch),
        "history": {name: [float(v) for v in values] for name, values in (history or {}).items()},
        "rng": rng_states(generator),
        "extra": extra,
        "settings": settings,
    }
    return atomic_save(checkpoint, path)


def _as_checkpoint(loaded: object, path: Path) -> Mapping:
    """``loaded`` if it is an mnistlab checkpoint, else a CheckpointError that says what it is instead."""
    hint = ""
    if isinstance(loaded, Mapping) and loaded.get("format") == FORMAT:
        missing = [key for key in ENTRIES if key not in loaded]
        if not missing:
            return loaded
        what = f"a damaged checkpoint (no {', '.join(missing)})"
    elif isinstance(loaded, Mapping) and loaded and all(isinstance(v, torch.Tensor) for v in loaded.values()):
        what = f"a bare state dict of {len(loaded)} tensors (weights only, no epoch/optimizer)"
        hint = "; load weights alone with load_state_dict(model, path)"
    elif isinstance(loaded, Mapping):
        fmt = f"format {loaded['format']!r}" if "format" in loaded else "no format entry"
        what = f"a dict with keys {_first_five([str(key) for key in loaded])} ({fmt})"
    else:
        kind = type(loaded).__name__
        what = f"a PyTorch file holding a{'n' if kind[0] in 'aeiouAEIOU' else ''} {kind}"
    raise CheckpointError(f"{path.name} is {what}, not an mnistlab checkpoint; {CHECKPOINT_IS}{hint}")


def load_checkpoint(
    path: str | os.PathLike,
    model: nn.Module | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    generator: torch.Generator | None = None,
    restore_rng: bool = False,
    map_location: str | torch.device = "cpu",
) -> dict:
    """Read a checkpoint; load it into ``model`` / ``optimizer`` if given; with ``restore_rng`` put back the RNGs.

    Returns the checkpoint dict (``epoch``, ``history``, ``extra``, ``settings``, ...). A file that is not a
    checkpoint raises CheckpointError, one line saying what the file is.
    """
    path = Path(path)
    checkpoint = _as_checkpoint(_load(path, map_location, expected=f"; {CHECKPOINT_IS}"), path)
    if model is not None:
        check_state_dict(model, checkpoint["model"])
        model.load_state_dict(checkpoint["model"])
    if optimizer is not None:
        if checkpoint["optimizer"] is None:
            raise CheckpointError(f"{path.name} holds no optimizer state to resume from")
        optimizer.load_state_dict(checkpoint["optimizer"])
    if restore_rng:
        restore_rng_states(checkpoint["rng"], generator)
    return {"extra": {}, "settings": {}, **checkpoint}  # older checkpoints have no settings


def peek_checkpoint(path: str | os.PathLike) -> dict:
    """A checkpoint's small entries: ``format``, ``epoch``, ``history``, ``extra``, ``settings``.

    Cheap: the file is mapped (``torch.load(mmap=True)``), so the tensors are not read. Checks the file
    like ``load_checkpoint`` and raises the same one-line CheckpointError.
    """
    path = Path(path)
    checkpoint = _as_checkpoint(_load(path, "cpu", mmap=True, expected=f"; {CHECKPOINT_IS}"), path)
    return {
        "format": checkpoint["format"],
        "epoch": checkpoint["epoch"],
        "history": checkpoint["history"],
        "extra": dict(checkpoint.get("extra", {})),
        "settings": dict(checkpoint.get("settings", {})),
    }
