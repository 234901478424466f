"""Wall-clock time to train an MNIST CNN from scratch to at least 99.0% on the official 10,000 test images.

Usage: python benchmarks/time_to_accuracy.py DATA_ROOT [--runs 3] [--epochs 2] [--batch-size 512] [--width 16]

DATA_ROOT holds MNIST/raw/ with the four official .gz files (e.g. ../shared/data). Each run is a fresh
Python process (seeds 0, 1, 2, ...); its clock starts before the data is read (the IDX files, already
uncompressed in the mnistlab cache, to normalised tensors) and stops after the test accuracy is known:
data loading, model building, training on all 60,000 training images and testing are all inside.
Importing torch (about 5 s) happens before the clock starts and is reported separately.

The recipe, chosen by measuring on a 2-core CPU (see benchmarks/README.md):

* ``TinyBNNet``: three conv layers (16, 32, 64 channels; 5x5 then 3x3), each followed by BatchNorm,
  ReLU and 2x2 max-pooling, then one linear layer: 29k parameters, about 4 MFLOP per image forward.
  BatchNorm lets a high learning rate train in few steps; the small width keeps a CPU step cheap.
* two epochs, batch 512, Adam (fused) with a one-cycle learning rate (warm up to 1e-2 over the first
  quarter, then anneal), cross-entropy with label smoothing 0.1, no augmentation (it pays off only
  over more epochs). One epoch of a 32-wide net reached 99.07% in 17.5 s, too close to the line;
  one epoch of the 16-wide one 98.8-99.0%;
* pre-tensorised data through ``iterate_batches``, channels_last, bf16 autocast where the CPU has
  native bf16 (``mnistlab.train.bf16_autocast_available``), testing in batches of 2,000 under
  ``inference_mode`` (``mnistlab.train.evaluate(..., fast=True)``).

The last line is the median time over the runs and each run's accuracy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

IMPORT_START = time.perf_counter()
import torch  # noqa: E402  (timed: reported separately from the run)
from torch import nn  # noqa: E402

from mnistlab.data import iterate_batches, mnist_tensors  # noqa: E402
from mnistlab.device import describe  # noqa: E402
from mnistlab.train import _autocast, bf16_autocast_available, evaluate, make_adam  # noqa: E402

IMPORT_SECONDS = time.perf_counter() - IMPORT_START
TARGET = 0.99


def conv_block(c_in: int, c_out: int, kernel: int) -> nn.Sequential:
    """Conv (no bias: BatchNorm has one) -> BatchNorm -> ReLU -> 2x2 max-pool (halves height and width)."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(), nn.MaxPool2d(2))


class TinyBNNet(nn.Module):
    """28x28 -> 14x14x16 -> 7x7x32 -> 3x3x64 -> 10 logits (width 16)."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(conv_block(1, width, 5), conv_block(width, 2 * width, 3),
                                      conv_block(2 * width, 4 * width, 3))
        self.classifier = nn.Linear(4 * width * 3 * 3, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


def one_run(root: str, seed: int, epochs: int, batch_size: int, max_lr: float, width: int) -> dict:
    """Train and test once; return the timings and the test accuracy."""
    device = torch.device("cpu")
    start = time.perf_counter()
    x, y = mnist_tensors(train=True, source="full", root=root)
    x_test, y_test = mnist_tensors(train=False, source="full", root=root)
    loaded = time.perf_counter()

    torch.manual_seed(seed)
    model = TinyBNNet(width).to(memory_format=torch.channels_last)
    optimizer = make_adam(model, lr=max_lr)
    steps = epochs * -(-len(x) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, total_steps=steps, pct_start=0.25)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    autocast = bf16_autocast_available(device)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        for xb, yb in iterate_batches(x, y, batch_size, generator=generator):
            xb = xb.contiguous(memory_format=torch.channels_last)
            optimizer.zero_grad()
            with _autocast(device, autocast):
                loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            schedule.step()
    trained = time.perf_counter()
    test = evaluate(model, (x_test, y_test), batch_size=2000, fast=True)
    end = time.perf_counter()
    return {"seed": seed, "seconds": round(end - start, 2), "load_s": round(loaded - start, 2),
            "train_s": round(trained - loaded, 2), "test_s": round(end - trained, 2),
            "accuracy": test["accuracy"], "bf16_autocast": autocast, "import_s": round(IMPORT_SECONDS, 2),
            "threads": torch.get_num_threads(), "load_average": os.getloadavg()[0]}


def main() -> None:
    """Run the recipe ``--runs`` times in fresh processes; print each run, then the median time last."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", help="folder holding MNIST/raw/*.gz (the full MNIST)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--max-lr", type=float, default=1e-2)
    parser.add_argument("--width", type=int, default=16, help="channels of the first conv (default 16)")
    parser.add_argument("--seed", type=int, default=0, help="first run's seed (run i uses seed + i)")
    parser.add_argument("--single", action="store_true", help=argparse.SUPPRESS)  # one run, JSON out
    args = parser.parse_args()
    if args.single:
        print(json.dumps(one_run(args.root, args.seed, args.epochs, args.batch_size, args.max_lr, args.width)))
        return

    mnist_tensors(train=True, source="full", root=args.root)  # fills the cache (uncompressed files) once
    print(" | ".join(f"{k}: {v}" for k, v in describe("cpu").items()))
    print(f"recipe: TinyBNNet(width={args.width}), {args.epochs} epoch(s), batch {args.batch_size}, "
          f"one-cycle Adam max lr {args.max_lr}, label smoothing 0.1", flush=True)
    results = []
    for i in range(args.runs):
        command = [sys.executable, __file__, args.root, "--single", "--seed", str(args.seed + i),
                   "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
                   "--max-lr", str(args.max_lr), "--width", str(args.width)]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        result = json.loads(output.strip().splitlines()[-1])
        results.append(result)
        print(json.dumps(result), flush=True)
    median = statistics.median(r["seconds"] for r in results)
    accuracies = ", ".join(f"{100 * r['accuracy']:.2f}%" for r in results)
    reached = sum(r["accuracy"] >= TARGET for r in results)
    print(f"median time to train and test: {median:.1f} s over {len(results)} runs; test accuracy {accuracies} "
          f"({reached}/{len(results)} runs >= {100 * TARGET:.1f}%)")


if __name__ == "__main__":
    main()
