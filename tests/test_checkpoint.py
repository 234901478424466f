"""Checkpoints: atomic writes, exact resume, clear mismatch errors, refusal of pickled objects,
ordinary permissions, no litter after a killed save, one-line errors for failed saves and wrong files."""

from __future__ import annotations

import collections
import errno
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch
from conftest import dead_pid, fake_file

from mnistlab import checkpoint as ckpt
from mnistlab import files
from mnistlab.data import mnist_tensors
from mnistlab.models import CompactCNN, SeedCNN
from mnistlab.train import fit


@pytest.fixture(scope="module")
def few():
    x, y = mnist_tensors(train=True, source="sample")
    return x[:320].clone(), y[:320].clone()


def test_state_dict_round_trip_leaves_no_temporary_file(tmp_path):
    torch.manual_seed(0)
    model = CompactCNN()
    path = ckpt.save_state_dict(model, tmp_path / "sub" / "model.pth")
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.pth"]
    other = ckpt.load_state_dict(CompactCNN(), path)
    for a, b in zip(model.state_dict().values(), other.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_failure_mid_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "model.pth"
    ckpt.atomic_save({"w": torch.ones(3)}, path)

    def broken_save(obj, fh):
        fh.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(ckpt.torch, "save", broken_save)
    with pytest.raises(ckpt.CheckpointError, match="disk full; the previous model.pth is intact"):
        ckpt.atomic_save({"w": torch.zeros(3)}, path)
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["model.pth"]
    assert torch.equal(ckpt.safe_load(path)["w"], torch.ones(3))


def test_one_plus_one_epochs_equals_two_epochs_bitwise(tmp_path, few):
    torch.manual_seed(0)
    straight = CompactCNN()
    history = fit(straight, few, epochs=2, batch_size=32, seed=3, val_data=few, progress=False)

    torch.manual_seed(0)
    first = CompactCNN()
    fit(first, few, epochs=1, batch_size=32, seed=3, val_data=few, checkpoint=tmp_path / "run.pt", progress=False)
    torch.manual_seed(123)  # disturb the global RNG: resume must restore it
    resumed = CompactCNN()
    resumed_history = fit(resumed, few, epochs=2, batch_size=32, seed=3, val_data=few,
                          resume=tmp_path / "run.pt", progress=False)

    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert resumed_history.to_dict() == history.to_dict()


def test_checkpoint_holds_what_a_resume_needs(tmp_path, few):
    fit(CompactCNN(), few, epochs=1, checkpoint=tmp_path / "run.pt", progress=False, extra={"model_name": "compact"})
    saved = ckpt.load_checkpoint(tmp_path / "run.pt")
    assert saved["epoch"] == 1
    assert set(saved["history"]) == {"train_loss", "train_acc"}
    assert {"torch", "batches"} <= set(saved["rng"])
    assert saved["optimizer"]["state"]  # Adam's moments
    assert saved["extra"] == {"model_name": "compact"}


def test_mismatched_architecture_names_the_keys(tmp_path):
    path = ckpt.save_state_dict(CompactCNN(), tmp_path / "compact.pth")
    with pytest.raises(ckpt.CheckpointError) as info:
        ckpt.load_state_dict(SeedCNN(), path)
    message = str(info.value)
    assert "conv1.0.weight" in message and "features.0.weight" in message


def test_wrong_shape_is_named(tmp_path):
    state = CompactCNN().state_dict()
    state["classifier.3.weight"] = torch.zeros(5, 64)
    path = ckpt.atomic_save(state, tmp_path / "bad.pth")
    with pytest.raises(ckpt.CheckpointError, match=r"classifier\.3\.weight: checkpoint \(5, 64\), model \(10, 64\)"):
        ckpt.load_state_dict(CompactCNN(), path)


class Payload:
    """Stands for any pickled object (a whole model, or something malicious)."""


def test_pickled_objects_are_refused_by_default(tmp_path):
    path = tmp_path / "whole.pth"
    torch.save({"obj": Payload()}, path)
    with pytest.raises(ckpt.CheckpointError, match="weights_only=True refuses"):
        ckpt.safe_load(path)
    assert isinstance(ckpt.safe_load(path, weights_only=False)["obj"], Payload)  # only for files you made


def test_not_a_checkpoint_and_missing_file(tmp_path):
    path = ckpt.atomic_save(collections.OrderedDict(w=torch.ones(1)), tmp_path / "plain.pth")
    with pytest.raises(ckpt.CheckpointError, match="not an mnistlab checkpoint"):
        ckpt.load_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        ckpt.load_checkpoint(tmp_path / "nope.pt")


# --- permissions and temporaries left by killed saves -------------------------------------------------


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_saved_files_get_permissions_from_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        checkpoint = ckpt.save_checkpoint(tmp_path / "c.pt", CompactCNN())
        weights = ckpt.save_state_dict(CompactCNN(), tmp_path / "w.pth")
    finally:
        os.umask(old)
    assert checkpoint.stat().st_mode & 0o777 == mode  # 0o644 under 022: others can read it (mkstemp gave 0o600)
    assert weights.stat().st_mode & 0o777 == mode


def _temporary(target: Path, pid: int) -> Path:
    """A temporary file named as process ``pid`` on this host would name it (see files.temp_prefix)."""
    mine = files.temp_prefix(target)
    name = mine[: -len(f"{os.getpid()}.")] + f"{pid}.x1y2z3.tmp"
    (target.parent / name).write_bytes(b"PK\x03\x04 half a checkpoint")
    return target.parent / name


@pytest.mark.parametrize("action", ["save", "load", "peek"])
def test_stale_temporaries_are_removed_and_a_live_writers_kept(tmp_path, action):
    path = ckpt.save_checkpoint(tmp_path / "c.pt", CompactCNN(), epoch=1)
    dead = _temporary(path, dead_pid())
    live = _temporary(path, os.getppid())  # a process that runs: perhaps still writing
    old_style = tmp_path / ".c.pt.abc123.tmp"  # the name mkstemp gave before: no host, no pid
    old_style.write_bytes(b"old")
    long_ago = time.time() - files.STALE_AFTER_S - 3600
    os.utime(old_style, (long_ago, long_ago))
    young = tmp_path / ".c.pt.def456.tmp"  # no pid to check and not old: maybe another host's writer
    young.write_bytes(b"young")
    other = _temporary(tmp_path / "other.pt", dead_pid())  # another file's temporary: not ours to judge

    if action == "save":
        ckpt.save_checkpoint(path, CompactCNN(), epoch=2)
    elif action == "load":
        assert ckpt.load_checkpoint(path)["epoch"] == 1
    else:
        assert ckpt.peek_checkpoint(path)["epoch"] == 1

    assert not dead.exists() and not old_style.exists()
    assert live.exists() and young.exists() and other.exists()


CHILD = """
import sys, time
import torch
from mnistlab import checkpoint as ckpt

real_save = torch.save

class Stalling:  # a file that stops after a few writes, with part of the checkpoint on disk
    def __init__(self, fh):
        self.fh, self.writes = fh, 0
    def write(self, data):
        written = self.fh.write(data)
        self.writes += 1
        if self.writes == 5:
            self.fh.flush()
            print("writing", flush=True)
            time.sleep(120)
        return written
    def flush(self):
        self.fh.flush()

torch.save = lambda obj, fh: real_save(obj, Stalling(fh))
ckpt.atomic_save({"big": torch.ones(1_000_000)}, sys.argv[1])
"""


@pytest.mark.slow
def test_a_killed_save_keeps_the_previous_checkpoint_and_its_temporary_goes(tmp_path):
    path = ckpt.save_checkpoint(tmp_path / "c.pt", CompactCNN(), epoch=1)
    before = path.read_bytes()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True,
                             env=env, cwd=Path(__file__).resolve().parent.parent)
    try:
        assert child.stdout.readline().strip() == "writing"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()  # reaped, so its pid is free: its temporary is stale
        child.stdout.close()
    litter = [p for p in tmp_path.iterdir() if p != path]
    assert len(litter) == 1 and f".{child.pid}." in litter[0].name and litter[0].stat().st_size > 0
    assert path.read_bytes() == before

    assert ckpt.load_checkpoint(path)["epoch"] == 1
    assert sorted(tmp_path.iterdir()) == [path]
    ckpt.save_checkpoint(path, CompactCNN(), epoch=2)
    assert sorted(tmp_path.iterdir()) == [path]


# --- failed saves: one line, previous file intact ------------------------------------------------------


def _one_line(exc: BaseException) -> str:
    message = str(exc)
    assert "\n" not in message and "\x1b" not in message, message
    return message


def test_check_can_save_accepts_a_new_folder(tmp_path):
    assert ckpt.check_can_save(tmp_path / "runs" / "c.pt") == tmp_path / "runs" / "c.pt"
    assert (tmp_path / "runs").is_dir() and list((tmp_path / "runs").iterdir()) == []


@pytest.mark.parametrize("case", ["parent is a file", "ancestor is a file", "path is a folder"])
def test_saving_where_no_file_can_be(tmp_path, case):
    (tmp_path / "notes.txt").write_text("a file")
    path = {"parent is a file": tmp_path / "notes.txt" / "c.pt",
            "ancestor is a file": tmp_path / "notes.txt" / "runs" / "c.pt",
            "path is a folder": tmp_path}[case]
    reason = "is a folder; give a file name" if case == "path is a folder" else "notes.txt is a file, not a folder"

    with pytest.raises(ckpt.CheckpointError) as early:
        ckpt.check_can_save(path)
    assert f"cannot save a checkpoint at {path}: " in _one_line(early.value) and reason in str(early.value)

    with pytest.raises(ckpt.CheckpointError) as late:
        ckpt.save_checkpoint(path, CompactCNN())
    assert f"could not save {path}: " in _one_line(late.value) and reason in str(late.value)
    assert str(late.value).endswith("no file was written")
    assert isinstance(late.value.__cause__, OSError)
    assert (tmp_path / "notes.txt").read_text() == "a file"


def _refuse_new_files(monkeypatch, code):
    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))
    monkeypatch.setattr(files.tempfile, "mkstemp", refuse)  # where a read-only folder stops a save


@pytest.mark.parametrize(("code", "reason"), [(errno.EROFS, "read-only file system"),
                                              (errno.EACCES, "permission denied")])
def test_read_only_folder_is_one_clear_error(tmp_path, monkeypatch, code, reason):
    path = ckpt.save_checkpoint(tmp_path / "c.pt", CompactCNN(), epoch=1)
    _refuse_new_files(monkeypatch, code)  # as root, chmod would not stop the writes: simulate
    with pytest.raises(ckpt.CheckpointError) as early:
        ckpt.check_can_save(path)
    assert _one_line(early.value) == f"cannot save a checkpoint at {path}: {reason}"
    with pytest.raises(ckpt.CheckpointError) as late:
        ckpt.save_checkpoint(path, CompactCNN(), epoch=2)
    assert _one_line(late.value) == f"could not save {path}: {reason}; the previous c.pt is intact"
    assert late.value.__cause__.errno == code
    monkeypatch.undo()
    assert ckpt.load_checkpoint(path)["epoch"] == 1


class FullDisk:
    """A file on a disk that fills up after ``room`` bytes: write raises OSError(ENOSPC), as a real one does."""

    def __init__(self, fh, room):
        self.fh, self.room = fh, room

    def write(self, data):
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.fh.write(data)

    def flush(self):
        self.fh.flush()


@pytest.mark.parametrize("room", [0, 100, 50_000])
def test_full_disk_is_one_clear_error(tmp_path, monkeypatch, room):
    path = ckpt.save_checkpoint(tmp_path / "c.pt", CompactCNN(), epoch=1)
    before = path.read_bytes()
    real_save = torch.save
    monkeypatch.setattr(ckpt.torch, "save", lambda obj, fh: real_save(obj, FullDisk(fh, room)))
    with pytest.raises(ckpt.CheckpointError) as info:
        ckpt.save_checkpoint(path, CompactCNN(), epoch=2)
    assert _one_line(info.value) == f"could not save {path}: no space left on device; the previous c.pt is intact"
    if room:  # torch reports the failed write as RuntimeError('... unexpected pos ...'), the OSError its context
        assert isinstance(info.value.__cause__, RuntimeError) and "unexpected pos" in str(info.value.__cause__)
    monkeypatch.undo()
    assert path.read_bytes() == before and sorted(tmp_path.iterdir()) == [path]


# --- files that are not checkpoints: one line that says what the file is --------------------------------


def _zip_with(path: Path, name: str) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(name, "not written by torch.save")


def _saved_bytes(path: Path) -> bytes:
    return ckpt.save_state_dict(CompactCNN(), path).read_bytes()


class Net(torch.nn.Module):  # a whole model pickled: weights_only=True refuses its class
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(2, 1)


WRONG_FILES = {
    "empty.pt": (lambda p: p.write_bytes(b""), "is an empty file"),
    "text.pt": (lambda p: p.write_text("hello, world\n"),
                "is not a PyTorch file (starts with text: 'hello, world\\n')"),
    "epoch.txt": (lambda p: p.write_text("epoch 3\n"), "is not a PyTorch file (starts with text"),
    "bare.pth": (lambda p: torch.save(CompactCNN().state_dict(), p),
                 "is a bare state dict of 8 tensors (weights only, no epoch/optimizer)"),
    "whole.pth": (lambda p: torch.save(Net(), p),
                  "holds more than tensors and plain values (a pickled whole model / Python objects, "
                  "which weights_only=True refuses; it found "),
    "list.pt": (lambda p: torch.save([1, 2], p), "is a PyTorch file holding a list"),
    "tensor.pt": (lambda p: torch.save(torch.ones(3), p), "is a PyTorch file holding a Tensor"),
    "notebook.pth": (lambda p: torch.save({"model": {}, "optimizer": {}, "epoch": 1}, p),
                     "is a dict with keys ['model', 'optimizer', 'epoch'] (no format entry)"),
    "archive.zip": (lambda p: _zip_with(p, "notes.txt"),
                    "is not a file torch.load can read ("),
    "cut.pt": (lambda p: p.write_bytes(_saved_bytes(p.with_suffix(".full"))[:5000]),
               "is a cut-short or damaged PyTorch file (its zip archive has no end)"),
}


@pytest.mark.parametrize("name", list(WRONG_FILES))
@pytest.mark.parametrize("reader", ["load_checkpoint", "peek_checkpoint"])
def test_a_wrong_file_is_named_in_one_line(tmp_path, name, reader):
    make, what = WRONG_FILES[name]
    make(tmp_path / name)
    with pytest.raises(ckpt.CheckpointError) as info:
        getattr(ckpt, reader)(tmp_path / name)
    message = _one_line(info.value)
    assert message.startswith(f"{name} {what}"), message
    assert ckpt.CHECKPOINT_IS in message
    assert "mmap" not in message and "zipfile" not in message
    if name == "whole.pth":
        assert "test_checkpoint.Net)" in message  # the class it would have to import
        assert "weights_only=False only if you made the file yourself" in message


def test_text_file_is_not_a_key_error(tmp_path):
    (tmp_path / "text.pt").write_text("hello")  # torch.load's old-format reader raised KeyError: 101 ('e')
    with pytest.raises(ckpt.CheckpointError, match=r"^text\.pt is not a PyTorch file"):
        ckpt.load_checkpoint(str(tmp_path / "text.pt"))
    with pytest.raises(ckpt.CheckpointError, match=r"^text\.pt is not a PyTorch file"):
        ckpt.safe_load(tmp_path / "text.pt")


# --- settings and peek_checkpoint ------------------------------------------------------------------------


SETTINGS = {"lr": 0.003, "seed": 1, "batch_size": 64, "fast": False, "model_name": "compact",
            "data": "sample", "limit": None}


def test_settings_round_trip_and_peek_reads_the_small_entries(tmp_path, monkeypatch):
    path = ckpt.save_checkpoint(tmp_path / "c.pt", CompactCNN(), epoch=3, history={"train_loss": [1.0, 0.5, 0.25]},
                                settings=SETTINGS, model_name="compact")
    assert ckpt.load_checkpoint(path)["settings"] == SETTINGS

    calls = []
    real_load = torch.load
    monkeypatch.setattr(ckpt.torch, "load", lambda *args, **kwargs: calls.append(kwargs) or real_load(*args, **kwargs))
    peeked = ckpt.peek_checkpoint(path)
    assert peeked == {"format": ckpt.FORMAT, "epoch": 3, "history": {"train_loss": [1.0, 0.5, 0.25]},
                      "extra": {"model_name": "compact"}, "settings": SETTINGS}
    assert calls == [{"map_location": "cpu", "weights_only": True, "mmap": True}]  # tensors mapped, not read


def test_older_checkpoints_have_empty_settings(tmp_path):
    model = CompactCNN()
    old = {"format": ckpt.FORMAT, "model": model.state_dict(), "optimizer": None, "epoch": 2, "history": {},
           "rng": ckpt.rng_states(), "extra": {"model_name": "compact"}}
    path = ckpt.atomic_save(old, tmp_path / "old.pt")
    assert ckpt.load_checkpoint(path, model)["settings"] == {}
    assert ckpt.peek_checkpoint(path)["settings"] == {}
    torch.save(old, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)  # cannot be mapped: read
    assert ckpt.peek_checkpoint(tmp_path / "legacy.pt")["epoch"] == 2


def test_settings_must_be_plain_values(tmp_path):
    with pytest.raises(TypeError, match=r"settings\['data'\] is a PosixPath"):
        ckpt.save_checkpoint(tmp_path / "c.pt", CompactCNN(), settings={"data": tmp_path})
    with pytest.raises(TypeError, match=r"extra\['sizes'\]\[1\] is a Tensor"):
        ckpt.save_checkpoint(tmp_path / "c.pt", CompactCNN(), sizes=[1, torch.ones(1)])
    assert not (tmp_path / "c.pt").exists()


# --- the remaining refusals: each says what is wrong in one line ---------------------------------------------


def test_load_state_dict_takes_a_checkpoints_weights_and_refuses_what_holds_none(tmp_path):
    torch.manual_seed(0)
    model = CompactCNN()
    path = ckpt.save_checkpoint(tmp_path / "run.pt", model, epoch=1)
    loaded = ckpt.load_state_dict(CompactCNN(), path)  # the model entry of a whole checkpoint
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values(),
                                                    strict=True))
    ckpt.atomic_save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(ckpt.CheckpointError) as info:
        ckpt.load_state_dict(CompactCNN(), tmp_path / "list.pt")
    assert _one_line(info.value) == "list.pt holds a list, not a state dict"


def test_resuming_needs_the_optimizer_state_and_the_batch_generator_that_were_saved(tmp_path):
    model = CompactCNN()
    path = ckpt.save_checkpoint(tmp_path / "weights-only.pt", model, epoch=1)  # no optimizer, no generator
    optimizer = torch.optim.Adam(model.parameters())
    with pytest.raises(ckpt.CheckpointError) as info:
        ckpt.load_checkpoint(path, model, optimizer)
    assert _one_line(info.value) == "weights-only.pt holds no optimizer state to resume from"
    with pytest.raises(ckpt.CheckpointError, match="^this checkpoint has no batch-order generator state to restore$"):
        ckpt.load_checkpoint(path, model, generator=torch.Generator(), restore_rng=True)
    state = torch.get_rng_state()
    torch.manual_seed(99)
    ckpt.restore_rng_states({"torch": state})  # without a generator to restore: only torch's global one
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize(("content", "what"), [
    ({"format": ckpt.FORMAT, "model": {}, "epoch": 1}, "is a damaged checkpoint (no optimizer, history, rng)"),
    ({"format": "keras-1", "weights": []}, "is a dict with keys ['format', 'weights'] (format 'keras-1')"),
    ({"w": torch.ones(1), "note": "hi"}, "is a dict with keys ['w', 'note'] (no format entry)"),
])
def test_a_dict_that_is_no_complete_checkpoint_says_what_it_lacks(tmp_path, content, what):
    ckpt.atomic_save(content, tmp_path / "c.pt")
    with pytest.raises(ckpt.CheckpointError) as info:
        ckpt.load_checkpoint(tmp_path / "c.pt")
    assert _one_line(info.value).startswith(f"c.pt {what}, not an mnistlab checkpoint; ")


def test_binary_that_is_no_pytorch_file_shows_its_first_bytes(tmp_path):
    (tmp_path / "image.pt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(ckpt.CheckpointError) as info:
        ckpt.safe_load(tmp_path / "image.pt")
    assert _one_line(info.value) == "image.pt is not a PyTorch file (starts with the bytes b'\\x89PNG\\r\\n\\x1a\\n')"


def test_a_file_that_cannot_be_read_is_named_with_the_reason(tmp_path, monkeypatch):
    path = ckpt.save_checkpoint(tmp_path / "c.pt", CompactCNN(), epoch=1)
    # as root, chmod 000 would not stop the read: simulate
    fake_file(monkeypatch, path, PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path)))
    with pytest.raises(ckpt.CheckpointError) as info:
        ckpt.load_checkpoint(path)
    assert _one_line(info.value) == "c.pt cannot be read: permission denied"


@pytest.mark.parametrize(("message", "reason"), [
    ("\x1b[31mserialization failed\x1b[0m\n  at frame 3", "serialization failed"),  # colour codes and lines go
    ("x" * 300, "x" * 199 + "…"),  # at most 200 characters
    ("", "RuntimeError"),  # no message: the exception's kind
])
def test_a_save_that_fails_without_an_os_error_gives_the_first_line_of_its_reason(tmp_path, monkeypatch, message,
                                                                                 reason):
    def failing_save(obj, fh):
        raise RuntimeError(message)

    monkeypatch.setattr(ckpt.torch, "save", failing_save)
    with pytest.raises(ckpt.CheckpointError) as info:
        ckpt.save_checkpoint(tmp_path / "c.pt", CompactCNN())
    assert _one_line(info.value) == f"could not save {tmp_path / 'c.pt'}: {reason}; no file was written"
    assert list(tmp_path.iterdir()) == []
