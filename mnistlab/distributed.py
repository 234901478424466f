"""Data-parallel training with ``torchrun``: one process per CPU share or per GPU, gradients averaged.

``torchrun --nproc-per-node 2 -m mnistlab train ...`` starts two copies of the same command. torchrun
tells each copy who it is through environment variables (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``, ``MASTER_PORT``); ``setup`` reads them and joins the process group (gloo on the CPU,
nccl on CUDA GPUs). ``fit`` then wraps the model in ``DistributedDataParallel``: every rank trains on
its own share of each global batch, and the backward pass averages the gradients over the ranks, so
every rank takes the same optimizer step and the weights stay identical. Only rank 0 prints and saves.

Without those variables (a plain ``python -m mnistlab train``) everything here is a no-op: ``rank()``
is 0 and ``world_size()`` is 1.
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

__all__ = ["RENDEZVOUS_ENV", "RENDEZVOUS_TIMEOUT_S", "DistInfo", "all_reduce_sum", "cleanup", "env_info", "is_active",
           "launched_by_torchrun", "rank", "ranks_in_sync", "rendezvous_timeout", "setup", "started_by",
           "weights_digest", "world_size", "wrap"]


@dataclass
class DistInfo:
    """Who this process is in a torchrun job (rank 0 of 1 when not launched by torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """True on the one process that prints, evaluates for the report and saves checkpoints."""
        return self.rank == 0


def launched_by_torchrun() -> bool:
    """True when torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK) are set."""
    return all(name in os.environ for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))


def env_info() -> DistInfo:
    """This process's rank, world size and local rank, read from torchrun's environment variables."""
    if not launched_by_torchrun():
        return DistInfo()
    try:
        info = DistInfo(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"]))
    except ValueError as exc:
        raise RuntimeError(f"torchrun's RANK/WORLD_SIZE/LOCAL_RANK must be integers: {exc}") from None
    if not 0 <= info.rank < info.world_size:
        raise RuntimeError(f"RANK={info.rank} is outside 0..WORLD_SIZE-1 (WORLD_SIZE={info.world_size})")
    return info


def is_active() -> bool:
    """True inside an initialised process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank in the active group (0 without one)."""
    return dist.get_rank() if is_active() else 0


def world_size() -> int:
    """How many processes train together (1 without a group)."""
    return dist.get_world_size() if is_active() else 1


#: Seconds to wait for every process of a run to join (``$MNISTLAB_RENDEZVOUS_TIMEOUT`` overrides).
RENDEZVOUS_TIMEOUT_S = 120
RENDEZVOUS_ENV = "MNISTLAB_RENDEZVOUS_TIMEOUT"
_DIST_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def started_by() -> str:
    """The environment variables that make this a distributed run, as ``NAME=value ...``."""
    return " ".join(f"{name}={os.environ[name]}" for name in _DIST_VARIABLES if name in os.environ)


def _under_torchrun_agent() -> bool:
    return "TORCHELASTIC_RUN_ID" in os.environ


def rendezvous_timeout() -> float:
    """How long ``setup`` waits for the other processes, in seconds."""
    text = os.environ.get(RENDEZVOUS_ENV, "").strip()
    if not text:
        return RENDEZVOUS_TIMEOUT_S
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise RuntimeError(f"${RENDEZVOUS_ENV} must be a positive number of seconds, got {text!r}")
    return seconds


def _rendezvous(info: DistInfo) -> torch.distributed.Store:
    """Meet the other processes through torch's env:// rendezvous, waiting at most ``rendezvous_timeout()``.

    Without it, a process whose environment merely *looks* like torchrun's (variables left over in a
    shell, no peers) would wait 30 minutes in silence for peers that never come.
    """
    for name in ("MASTER_ADDR", "MASTER_PORT"):
        if not os.environ.get(name):
            raise RuntimeError(f"{started_by()} ask for a distributed run but {name} is not set: "
                               "start it with torchrun, or unset these variables to train in one process")
    seconds = rendezvous_timeout()
    if not _under_torchrun_agent() and info.rank == 0:
        print(f"mnistlab: distributed run from the environment ({started_by()}): waiting up to "
              f"{seconds:g} s for {info.world_size} processes", file=sys.stderr, flush=True)
    try:
        store, _rank, _world = next(dist.rendezvous("env://", timeout=timedelta(seconds=seconds)))
    except (RuntimeError, ValueError, OSError) as exc:  # DistStoreError, timeouts and refused connections
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RuntimeError(
            f"no complete group of {info.world_size} processes formed within {seconds:g} s; this run was made "
            f"distributed by {started_by()}. Start it with torchrun, or unset these variables to train in "
            f"one process (${RENDEZVOUS_ENV} sets the wait). Cause: {reason}"
        ) from None
    store.set_timeout(timedelta(minutes=30))  # once everyone is here, the usual patience for collectives
    return store


def setup(device: torch.device) -> DistInfo:
    """Join torchrun's process group, if launched by torchrun; return who this process is.

    gloo on the CPU (each process gets ``cpu_count // world_size`` threads, so the ranks do not fight
    over the cores), nccl on CUDA (each process uses the GPU numbered by its LOCAL_RANK). Gives up with
    a RuntimeError naming the variables if the group does not form within ``rendezvous_timeout()``.
    """
    info = env_info()
    if info.world_size == 1 or is_active():
        return info
    if device.type == "cuda":
        gpus = torch.cuda.device_count()
        if info.local_rank >= gpus:  # nccl needs a GPU of its own for every process
            raise RuntimeError(
                f"process {info.local_rank} on this machine needs GPU {info.local_rank}, but there "
                f"{'is 1 GPU' if gpus == 1 else f'are {gpus} GPUs'}: start at most {gpus} process(es) per machine "
                f"(torchrun --nproc-per-node {gpus}), or train on the CPU (--device cpu), where any number works")
        torch.cuda.set_device(info.local_rank)
        backend = "nccl"
    elif device.type == "cpu":
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // info.world_size))
        backend = "gloo"
    else:
        raise RuntimeError(f"distributed training supports cpu (gloo) and cuda (nccl), not {device.type!r}")
    store = _rendezvous(info)
    dist.init_process_group(backend=backend, store=store, rank=info.rank, world_size=info.world_size)
    return info


def cleanup() -> None:
    """Leave the process group (every rank must call it; harmless without one)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def wrap(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``model`` inside DistributedDataParallel when a group is active, else ``model`` itself."""
    if not is_active():
        return model
    device_ids = [device] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` over the ranks in place (no-op without a group); returns it."""
    if is_active():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def weights_digest(model: torch.nn.Module) -> str:
    """SHA-256 of every parameter and buffer's bytes, in state-dict order (equal digests: equal weights)."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def ranks_in_sync(model: torch.nn.Module) -> bool:
    """True when every rank holds bit-identical weights (always True without a group)."""
    if not is_active():
        return True
    digests: list[str | None] = [None] * world_size()
    dist.all_gather_object(digests, weights_digest(model))
    return len(set(digests)) == 1
