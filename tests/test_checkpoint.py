"""Checkpoints: atomic writes, exact resume, clear mismatch errors, refusal of pickled objects."""

from __future__ import annotations

import collections

import pytest
import torch

from mnistlab import checkpoint as ckpt
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
    with pytest.raises(OSError, match="disk full"):
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
    with pytest.raises(ckpt.CheckpointError, match="weights_only=True refused"):
        ckpt.safe_load(path)
    assert isinstance(ckpt.safe_load(path, weights_only=False)["obj"], Payload)  # only for files you made


def test_not_a_checkpoint_and_missing_file(tmp_path):
    path = ckpt.atomic_save(collections.OrderedDict(w=torch.ones(1)), tmp_path / "plain.pth")
    with pytest.raises(ckpt.CheckpointError, match="not an mnistlab checkpoint"):
        ckpt.load_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        ckpt.load_checkpoint(tmp_path / "nope.pt")
