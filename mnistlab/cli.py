"""The command line: ``python -m mnistlab train ...`` trains a model and prints its metrics as JSON.

Progress bars go to stderr; the last line on stdout is one JSON object, so scripts can read it::

    python -m mnistlab train --model compact --epochs 2 --lr 3e-3
    python -m mnistlab train --model seed --data full --checkpoint runs/seed.pt
    python -m mnistlab train --model seed --data full --epochs 3 --resume runs/seed.pt
    python -m mnistlab train --model seed --data full --fast          # channels_last, bf16, memory reuse, batch 256
    torchrun --nproc-per-node 2 -m mnistlab train --model compact     # DistributedDataParallel, 2 processes

Bad options print one line (``mnistlab: error: ...``) and exit with status 2, never a traceback.
Under torchrun, ``--batch-size`` is the global batch (split evenly over the processes); only rank 0
prints progress and the JSON line and writes the checkpoint.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .models import MODEL_NAMES

if TYPE_CHECKING:
    import torch


class UsageError(Exception):
    """A problem with the command's options or inputs; reported in one line, exit status 2."""


def _number(convert: type, minimum: float, expected: str, strict: bool = False):
    """An argparse ``type=`` that converts with ``convert`` and refuses values below ``minimum``."""

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if value < minimum or (strict and value == minimum) or value != value:  # value != value: NaN
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


_positive_int = _number(int, 1, "a positive integer")
_non_negative_int = _number(int, 0, "an integer >= 0")
_positive_float = _number(float, 0.0, "a positive number", strict=True)


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``train`` (a separate function so other commands can share or extend them)."""
    parser.add_argument("--model", choices=MODEL_NAMES, default="compact", help="architecture (default: compact)")
    parser.add_argument("--data", default="sample", metavar="{sample,full,PATH}",
                        help="the embedded sample (default), the full MNIST ($MNISTLAB_DATA or data/), "
                             "or a folder holding MNIST/raw/*.gz")
    parser.add_argument("--epochs", type=_non_negative_int, default=1, help="epochs in total (default: 1)")
    parser.add_argument("--batch-size", type=_positive_int, default=None,
                        help="global batch, split over torchrun's processes (default: 64, or 256 with --fast)")
    parser.add_argument("--lr", type=_positive_float, default=1e-3, help="Adam's learning rate (default: 1e-3)")
    parser.add_argument("--seed", type=_non_negative_int, default=0, help="seeds weights, batch order, dropout")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    parser.add_argument("--limit", type=_positive_int, default=None,
                        help="train on the first N training images only (quick checks)")
    parser.add_argument("--checkpoint", type=Path, default=None, help="rewrite this checkpoint after each epoch")
    parser.add_argument("--resume", type=Path, default=None, help="continue from this checkpoint")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.add_argument("--fast", action="store_true",
                        help="channels_last, bf16 autocast on native-bf16 CPUs (AMX or AVX512-BF16) and CUDA GPUs, "
                        "freed memory kept for reuse on the CPU, batch 256 by default")


def build_parser() -> argparse.ArgumentParser:
    """The ``mnistlab`` argument parser, one subparser per command."""
    parser = argparse.ArgumentParser(prog="mnistlab", description="Train the mnistlab course's MNIST models.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    train_parser = commands.add_parser("train", help="train a model; print its metrics as JSON",
                                       description="Train a model; the last stdout line is JSON metrics.")
    add_train_arguments(train_parser)
    train_parser.set_defaults(func=train)
    return parser


def _load_data(spec: str) -> tuple[str, tuple, tuple]:
    """(source name for the report, train tensors, test tensors) for --data sample|full|PATH."""
    from .data import mnist_tensors

    if spec in ("sample", "full"):
        source, root = spec, None
    else:
        if not Path(spec).is_dir():
            raise UsageError(f"--data {spec}: expected 'sample', 'full' or a folder holding MNIST/raw/*.gz")
        source, root = "full", spec
    train_xy = mnist_tensors(train=True, source=source, root=root)
    test_xy = mnist_tensors(train=False, source=source, root=root)
    return ("sample" if spec == "sample" else "full"), train_xy, test_xy


def train(args: argparse.Namespace) -> dict | None:
    """Run ``train`` for parsed ``args``; return the metrics to print as JSON (None on ranks other than 0)."""
    from . import distributed

    try:
        device = _device_for(args.device)
    except (ValueError, RuntimeError) as exc:
        raise UsageError(f"--device: {exc}") from None
    try:
        info = distributed.setup(device)  # joins torchrun's process group; a no-op without torchrun
    except (ValueError, RuntimeError) as exc:
        raise UsageError(f"distributed training (torchrun) could not start: {exc}") from None
    try:
        metrics = _train(args, device)
    finally:
        distributed.cleanup()
    return metrics if info.is_main else None


def _device_for(name: str) -> torch.device:
    """The device to train on; under torchrun with CUDA, the GPU numbered by LOCAL_RANK."""
    import torch

    from .device import get_device
    from .distributed import env_info

    device = get_device(name)
    if device.type == "cuda" and device.index is None and env_info().world_size > 1:
        device = torch.device("cuda", env_info().local_rank)
    return device


def _train(args: argparse.Namespace, device: torch.device) -> dict:
    """Load the data, build the model, fit, test; return the metrics (every rank runs this)."""
    import torch

    from . import distributed
    from .checkpoint import CheckpointError
    from .device import seed_everything, synchronize
    from .models import build_model, count_parameters
    from .train import bf16_autocast_available, evaluate, fit

    batch_size = args.batch_size or (256 if args.fast else 64)
    for name in ("checkpoint", "resume"):
        path = getattr(args, name)
        if path is not None and path.is_dir():
            raise UsageError(f"--{name} {path}: is a folder; give a file name such as {path / 'model.pt'}")
    if args.resume is not None and not args.resume.is_file():
        raise UsageError(f"--resume {args.resume}: no such file (train with --checkpoint first)")
    source, (x_train, y_train), (x_test, y_test) = _load_data(args.data)
    if args.limit is not None:
        x_train, y_train = x_train[: args.limit], y_train[: args.limit]

    start_epoch = 0
    if args.resume is not None:
        try:  # mmap: reads the epoch count without loading every tensor
            start_epoch = int(torch.load(args.resume, mmap=True, weights_only=True, map_location="cpu")["epoch"])
        except Exception as exc:
            raise UsageError(f"--resume {args.resume}: not a readable mnistlab checkpoint ({exc})") from None

    seed_everything(args.seed)
    model = build_model(args.model)
    start = time.perf_counter()
    try:
        history = fit(model, (x_train, y_train), epochs=args.epochs, lr=args.lr, batch_size=batch_size,
                      device=device, seed=args.seed, checkpoint=args.checkpoint, resume=args.resume,
                      progress=not args.no_progress, extra={"model_name": args.model}, fast=args.fast)
    except (CheckpointError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    synchronize(device)
    seconds = time.perf_counter() - start
    test = evaluate(model, (x_test, y_test), batch_size=1000, fast=args.fast)  # split over the ranks
    in_sync = distributed.ranks_in_sync(model)
    epochs_run = len(history) - start_epoch
    metrics = {
        "model": args.model,
        "parameters": count_parameters(model),
        "data": source,
        "train_images": len(x_train),
        "test_images": test["total"],
        "epochs": len(history),
        "batch_size": batch_size,
        "lr": args.lr,
        "seed": args.seed,
        "device": str(device),
        "fast": bool(args.fast),
        "bf16_autocast": bool(args.fast and bf16_autocast_available(device)),
        "world_size": distributed.world_size(),
        "ranks_in_sync": in_sync,
        "torch": torch.__version__,
        "train_loss": history.last("train_loss") if len(history) else None,
        "train_acc": history.last("train_acc") if len(history) else None,
        "test_loss": round(test["loss"], 6),
        "test_acc": test["accuracy"],
        "test_correct": test["correct"],
        "train_seconds": round(seconds, 2),
        "train_images_per_s": round(epochs_run * len(x_train) / seconds, 1) if epochs_run else None,
    }
    return metrics


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m mnistlab`` and the ``mnistlab`` script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)  # argparse prints usage and exits with 2 on bad options
    from .data import MNISTDataError

    try:
        metrics = args.func(args)
    except (UsageError, MNISTDataError) as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    except KeyboardInterrupt:
        parser.exit(130, f"{parser.prog}: interrupted\n")
    if metrics is not None:  # under torchrun only rank 0 reports
        print(json.dumps(metrics), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
