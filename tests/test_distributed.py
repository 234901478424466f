"""torchrun / DistributedDataParallel on 2 CPU processes (gloo): ranks stay identical and match one process.

Two real launches, each a few seconds: ``python -m torch.distributed.run --nproc-per-node 2 -m mnistlab
train`` (the command students run), and ``torch.multiprocessing.spawn`` of ``fit`` itself, compared with
a single-process ``fit`` on the same global batches.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import free_port

from mnistlab import distributed
from mnistlab.data import mnist_tensors
from mnistlab.models import CompactCNN
from mnistlab.train import fit

pytestmark = pytest.mark.slow  # two real process groups, several seconds each

TRAIN_IMAGES = 512
GLOBAL_BATCH = 64
#: DDP averages two half-batch gradients, one process takes one full-batch mean: the same numbers, summed in
#: another order. After 8 Adam steps at lr 1e-3 (measured: at most 3e-6) the weights must agree this closely.
TOLERANCE = 1e-4


def no_dropout_model() -> torch.nn.Module:
    """CompactCNN with dropout off: dropout masks differ between 2 ranks and 1 process, the maths does not."""
    torch.manual_seed(0)
    model = CompactCNN()
    model.classifier[2].p = 0.0
    return model


def train_data() -> tuple[torch.Tensor, torch.Tensor]:
    x, y = mnist_tensors(train=True, source="sample")
    return x[:TRAIN_IMAGES], y[:TRAIN_IMAGES]


def _rank_worker(rank: int, port: int, out_dir: str) -> None:
    """One rank: join the group as torchrun would, train with fit, save the weights."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2",
                      LOCAL_RANK=str(rank))
    info = distributed.setup(torch.device("cpu"))
    try:
        assert info.world_size == 2 and distributed.world_size() == 2 and torch.get_num_threads() >= 1
        model = no_dropout_model()
        history = fit(model, train_data(), epochs=1, batch_size=GLOBAL_BATCH, seed=3, progress=False,
                      device="cpu")
        torch.save({"model": model.state_dict(), "train_loss": history.last("train_loss")},
                   os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        distributed.cleanup()


def test_two_ranks_end_identical_and_match_one_process_with_the_same_global_batch(tmp_path):
    torch.multiprocessing.spawn(_rank_worker, args=(free_port(), str(tmp_path)), nprocs=2, join=True)
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for name, tensor in rank0["model"].items():
        assert torch.equal(tensor, rank1["model"][name]), f"{name} differs between the ranks"
    assert rank0["train_loss"] == rank1["train_loss"]  # averaged over the ranks, so the same on both

    single = no_dropout_model()
    history = fit(single, train_data(), epochs=1, batch_size=GLOBAL_BATCH, seed=3, progress=False, device="cpu")
    start = no_dropout_model().state_dict()
    for name, tensor in single.state_dict().items():
        assert not torch.equal(tensor, start[name]), f"{name} did not train"  # the comparison means something
        diff = (tensor - rank0["model"][name]).abs().max().item()
        assert diff < TOLERANCE, f"{name}: DDP and one process differ by {diff:.2e}"
    assert abs(history.last("train_loss") - rank0["train_loss"]) < 1e-4


def test_torchrun_runs_the_train_command_on_two_processes(tmp_path):
    checkpoint = tmp_path / "ddp.pt"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port",
               str(free_port()), "-m", "mnistlab", "train", "--model", "compact", "--limit", str(TRAIN_IMAGES),
               "--batch-size", str(GLOBAL_BATCH), "--lr", "3e-3", "--checkpoint", str(checkpoint)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, f"expected one JSON line (rank 0 only), got {lines}"
    metrics = json.loads(lines[0])
    assert metrics["world_size"] == 2 and metrics["ranks_in_sync"] is True
    assert metrics["batch_size"] == GLOBAL_BATCH and metrics["train_images"] == TRAIN_IMAGES
    assert metrics["test_images"] == 2000  # the test set split over 2 ranks, counts summed
    assert 0.2 < metrics["test_acc"] <= 1.0  # chance is 0.1
    assert result.stderr.count(" 0/8 [") == 1  # one progress bar (rank 0's), 8 steps of 32 images per rank
    saved = torch.load(checkpoint, weights_only=True)
    assert saved["epoch"] == 1 and not any(key.startswith("module.") for key in saved["model"])


def test_batch_that_does_not_split_over_the_ranks_is_refused(monkeypatch):
    monkeypatch.setattr(distributed, "world_size", lambda: 2)
    try:
        fit(CompactCNN(), train_data(), epochs=1, batch_size=63, progress=False)
    except ValueError as exc:
        assert "63" in str(exc) and "2 processes" in str(exc)
    else:
        raise AssertionError("batch_size 63 over 2 processes was accepted")


@pytest.mark.parametrize("gpus", [0, 1])
def test_more_processes_than_gpus_is_refused_with_what_to_do(monkeypatch, gpus):
    monkeypatch.setenv("RANK", "1"), monkeypatch.setenv("WORLD_SIZE", "2"), monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    chosen = []
    monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
    with pytest.raises(RuntimeError, match="needs GPU 1") as caught:
        distributed.setup(torch.device("cuda"))
    assert f"--nproc-per-node {gpus}" in str(caught.value) and "--device cpu" in str(caught.value)
    assert chosen == []  # refused before touching the GPU or waiting for a group
