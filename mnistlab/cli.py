"""The command line: ``python -m mnistlab train ...`` trains a model and prints its metrics as JSON;
``python -m mnistlab doctor`` checks whether this machine is ready for the course (``mnistlab.doctor``).
``python -m mnistlab student`` writes the students' copies of the notebooks (``mnistlab.student``) and
``python -m mnistlab grade DIR`` grades a class's submissions (``mnistlab.grade``).

Progress bars go to stderr; the last line on stdout is one JSON object, so scripts can read it::

    python -m mnistlab train --model compact --epochs 2 --lr 3e-3
    python -m mnistlab train --model seed --data full --checkpoint runs/seed.pt
    python -m mnistlab train --model seed --data full --epochs 3 --resume runs/seed.pt
    python -m mnistlab train --model seed --data full --fast          # channels_last, bf16, memory reuse, batch 256
    torchrun --nproc-per-node 2 -m mnistlab train --model compact     # DistributedDataParallel, 2 processes

Bad options print one line (``mnistlab train: error: ...``) and exit with status 2, never a traceback.
``--resume`` continues the run with the settings stored in its checkpoint (model, data, limit, batch
size, lr, seed, fast): options left out take the checkpoint's values, and an option given with another
value is refused. SIGTERM and SIGHUP stop a run like Ctrl-C: one line, the last checkpoint intact.
Under torchrun, ``--batch-size`` is the global batch (split evenly over the processes); only rank 0
prints progress and the JSON line and writes the checkpoint.

Its length is one job: the options, how a resume settles them, and one-line errors for each way a
run can be refused or stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from . import distributed, grade, student
from .checkpoint import CheckpointError, check_can_save, peek_checkpoint
from .data import MNISTDataError, command_line_wording, mnist_tensors
from .device import get_device, seed_everything, synchronize
from .distributed import env_info
from .doctor import main as doctor_main
from .fast import bf16_autocast_available
from .models import MODEL_NAMES, build_model, count_parameters
from .train import evaluate, fit

__all__ = ["main", "build_parser", "add_train_arguments", "train", "doctor", "UsageError", "OneLineParser",
           "Stopped"]


class UsageError(Exception):
    """A problem with the command's options or inputs; reported in one line, exit status 2."""


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (``mnistlab train: error: ...``), not the usage block."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


#: The largest --seed: seeds go to torch (64 bits), NumPy (32 bits) and Python's random.
MAX_SEED = 2**32 - 1


def _number(convert: type, minimum: float, expected: str, strict: bool = False, maximum: float | None = None):
    """An argparse ``type=`` that converts with ``convert`` and refuses values outside [minimum, maximum]."""

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        too_big = maximum is not None and value > maximum
        if value < minimum or (strict and value == minimum) or value != value or too_big:  # NaN != NaN
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        if value in (float("inf"), float("-inf")):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


_positive_int = _number(int, 1, "a positive integer")
_non_negative_int = _number(int, 0, "an integer >= 0")
_seed = _number(int, 0, f"an integer from 0 to {MAX_SEED}", maximum=MAX_SEED)
_positive_float = _number(float, 0.0, "a positive number", strict=True)

#: Options a resumed run takes from its checkpoint: option name -> key in the checkpoint's settings.
#: Left out, they take the checkpoint's value; given with another value, the resume is refused.
RUN_SETTINGS = {"model": "model_name", "data": "data", "limit": "limit", "batch_size": "batch_size",
                "lr": "lr", "seed": "seed", "fast": "fast"}
DEFAULTS = {"model": "compact", "data": "sample", "limit": None, "batch_size": None, "lr": 1e-3, "seed": 0,
            "fast": False}


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``train`` (a separate function so other commands can share or extend them)."""
    parser.add_argument("--model", choices=MODEL_NAMES, default=None, help="architecture (default: compact)")
    parser.add_argument("--data", default=None, metavar="{sample,full,PATH}",
                        help="the embedded sample (default), the full MNIST ($MNISTLAB_DATA, or data/ in a "
                             "source checkout), or a folder holding MNIST/raw/*.gz")
    parser.add_argument("--epochs", type=_non_negative_int, default=1, help="epochs in total (default: 1)")
    parser.add_argument("--batch-size", type=_positive_int, default=None,
                        help="global batch, split over torchrun's processes (default: 64, or 256 with --fast)")
    parser.add_argument("--lr", type=_positive_float, default=None, help="Adam's learning rate (default: 1e-3)")
    parser.add_argument("--seed", type=_seed, default=None,
                        help=f"seeds weights, batch order, dropout: 0 to {MAX_SEED} (default: 0)")
    parser.add_argument("--device", default=None,
                        help="auto, cpu, cuda, cuda:N or mps (default: $MNISTLAB_DEVICE, else auto)")
    parser.add_argument("--limit", type=_positive_int, default=None,
                        help="train on the first N training images only (quick checks)")
    parser.add_argument("--checkpoint", type=Path, default=None, help="rewrite this checkpoint after each epoch")
    parser.add_argument("--resume", type=Path, default=None,
                        help="continue from this checkpoint, with the settings it was started with")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.add_argument("--fast", action=argparse.BooleanOptionalAction, default=None,
                        help="channels_last, bf16 autocast on native-bf16 CPUs (AMX or AVX512-BF16) and CUDA GPUs, "
                        "freed memory kept for reuse on the CPU, batch 256 by default")


def build_parser() -> argparse.ArgumentParser:
    """The ``mnistlab`` argument parser, one subparser per command."""
    parser = OneLineParser(prog="mnistlab", description="Train the mnistlab course's MNIST models.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    train_parser = commands.add_parser("train", help="train a model; print its metrics as JSON",
                                       description="Train a model; the last stdout line is JSON metrics.")
    add_train_arguments(train_parser)
    train_parser.set_defaults(func=train)
    doctor_parser = commands.add_parser("doctor", help="check whether this machine is ready for the course",
                                        description="Check Python, packages, device, data, cache, Graphviz and "
                                        "JupyterLab; exit status 1 if any line says FAIL.")
    doctor_parser.set_defaults(func=doctor)
    student_parser = commands.add_parser("student", help="write the students' notebooks (solutions removed)",
                                         description="Write the student copies of the notebooks: solutions "
                                         "replaced by stubs, hidden tests removed (see mnistlab.student).")
    student.add_arguments(student_parser)
    student_parser.set_defaults(func=student.command)
    grade_parser = commands.add_parser("grade", help="grade a class's notebooks into a CSV",
                                       description="Run every DIR/<student>/<notebook>.ipynb with the source's "
                                       "checks and write one CSV row per exercise (see mnistlab.grade).")
    grade.add_arguments(grade_parser)
    grade_parser.set_defaults(func=grade.command)
    return parser


def doctor(args: argparse.Namespace) -> int:
    """Run ``doctor``: print the report; return the exit status (an int, which ``main`` returns as is)."""
    return doctor_main()


def _load_data(spec: str) -> tuple[str, tuple, tuple]:
    """(source name for the report, train tensors, test tensors) for --data sample|full|PATH."""

    if spec in ("sample", "full"):
        source, root = spec, None
    else:
        if not Path(spec).is_dir():
            raise UsageError(f"--data {spec}: expected 'sample', 'full' or a folder holding MNIST/raw/*.gz")
        source, root = "full", spec
    with command_line_wording():  # data errors name --data, not the Python API's source=/root=
        train_xy = mnist_tensors(train=True, source=source, root=root)
        test_xy = mnist_tensors(train=False, source=source, root=root)
    return ("sample" if spec == "sample" else "full"), train_xy, test_xy


def train(args: argparse.Namespace) -> dict | None:
    """Run ``train`` for parsed ``args``; return the metrics to print as JSON (None on ranks other than 0)."""

    _check_files(args)
    _resolve_settings(args)
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


def _check_files(args: argparse.Namespace) -> None:
    """Refuse, before any work, a --resume that is missing and a --checkpoint that could not be written."""

    for name in ("checkpoint", "resume"):
        path = getattr(args, name)
        if path is not None and path.is_dir():
            raise UsageError(f"--{name} {path}: is a folder; give a file name such as {path / 'model.pt'}")
    if args.resume is not None and not args.resume.is_file():
        raise UsageError(f"--resume {args.resume}: no such file (train with --checkpoint first)")
    if args.checkpoint is not None:
        try:
            check_can_save(args.checkpoint)
        except CheckpointError as exc:
            raise UsageError(f"--checkpoint: {exc}") from None


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _resolve_settings(args: argparse.Namespace) -> None:
    """Fill the options left out: from the checkpoint when resuming, else the defaults.

    A resumed run continues exactly the run it was started as, so an option given with a value other
    than the checkpoint's is refused (the optimizer state, the batch order and the report would disagree).
    """
    args.start_epoch, saved = 0, {}
    if args.resume is not None:

        try:
            info = peek_checkpoint(args.resume)
        except CheckpointError as exc:
            raise UsageError(f"--resume {args.resume}: {exc}") from None
        args.start_epoch = int(info["epoch"])
        saved = {**info.get("extra", {}), **info.get("settings", {})}
    for name, key in RUN_SETTINGS.items():
        given = getattr(args, name)
        if key in saved:
            value = saved[key]
            if name == "data" and given is not None and given not in ("sample", "full"):
                given_as = "full"  # a folder of the full set
            else:
                given_as = given
            if given is not None and given_as != value:
                shown = "--fast" if name == "fast" and given else "--no-fast" if name == "fast" else \
                    f"{_option(name)} {given}"
                raise UsageError(
                    f"--resume {args.resume}: {shown} differs from the checkpoint's {_option(name)} {value}; "
                    f"a resumed run continues with the settings it started with: leave out {_option(name)}, "
                    "or start a new run without --resume"
                )
            if given is None:
                setattr(args, name, value)
        elif given is None:
            setattr(args, name, DEFAULTS[name])
    if args.batch_size is None:
        args.batch_size = 256 if args.fast else 64


def _device_for(name: str | None) -> torch.device:
    """The device to train on (``--device``, else $MNISTLAB_DEVICE, else auto); under torchrun with CUDA,
    the GPU numbered by LOCAL_RANK."""


    device = get_device(name)
    if device.type == "cuda" and device.index is None and env_info().world_size > 1:
        device = torch.device("cuda", env_info().local_rank)
    return device


def _train(args: argparse.Namespace, device: torch.device) -> dict:
    """Load the data, build the model, fit, test; return the metrics (every rank runs this)."""


    source, (x_train, y_train), (x_test, y_test) = _load_data(args.data)
    if args.limit is not None:
        x_train, y_train = x_train[: args.limit], y_train[: args.limit]

    seed_everything(args.seed)
    model = build_model(args.model)
    start = time.perf_counter()
    try:
        history = fit(model, (x_train, y_train), epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                      device=device, seed=args.seed, checkpoint=args.checkpoint, resume=args.resume,
                      progress=not args.no_progress, fast=args.fast,
                      extra={"model_name": args.model, "data": source, "limit": args.limit})
    except (CheckpointError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    synchronize(device)
    seconds = time.perf_counter() - start
    test = evaluate(model, (x_test, y_test), batch_size=1000, fast=args.fast)  # split over the ranks
    in_sync = distributed.ranks_in_sync(model)
    epochs_run = max(0, len(history) - args.start_epoch)
    metrics = {
        "model": args.model,
        "parameters": count_parameters(model),
        "data": source,
        "train_images": len(x_train),
        "test_images": test["total"],
        "epochs": len(history),
        "epochs_this_run": epochs_run,
        "batch_size": args.batch_size,
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


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived: stop like Ctrl-C (temporary files removed, the last checkpoint intact)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _stop(signum: int, _frame: object) -> None:
    raise Stopped(signum)


@contextlib.contextmanager
def _stop_on_signals():
    """Inside the block SIGTERM and SIGHUP raise ``Stopped``; the previous handlers come back after it.

    Main thread only (Python delivers signals there); SIGHUP does not exist on Windows.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signums = [getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]
    previous = {signum: signal.signal(signum, _stop) for signum in signums}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m mnistlab`` and the ``mnistlab`` script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)  # bad options: one line, exit status 2

    try:
        with _stop_on_signals():
            result = args.func(args)
    except (UsageError, MNISTDataError) as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    except KeyboardInterrupt as exc:
        signum = exc.signum if isinstance(exc, Stopped) else signal.SIGINT
        kept = getattr(args, "checkpoint", None)
        tail = f"; {kept} holds the last finished epoch" if kept is not None and kept.is_file() else ""
        parser.exit(128 + int(signum), f"{parser.prog}: stopped by {signal.Signals(signum).name}{tail}\n")
    if isinstance(result, int):  # doctor: its exit status (it printed its report)
        return result
    if result is not None:  # train's metrics; under torchrun only rank 0 reports
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
