"""The seed's training recipe against ``--fast``: images per second, interleaved, and test accuracy after one epoch.

Usage: python benchmarks/throughput.py DATA_ROOT [--train-images 60000] [--window-images 1280] [--seed 0]

DATA_ROOT holds MNIST/raw/ with the four official .gz files (e.g. ../shared/data).

* seed recipe: torchvision MNIST with ToTensor + Normalize through a DataLoader (batch 64, shuffled),
  ``torch.optim.Adam`` as the seed builds it (not fused), SeedCNN in fp32.
* fast recipe (``python -m mnistlab train --fast``): the same SeedCNN with the same initial weights,
  pre-tensorised images through ``iterate_batches`` (batch 256), fused Adam, channels_last, bf16 autocast
  where the CPU has native bf16 (``mnistlab.train.bf16_autocast_available``).

Both train one epoch on the same images, in alternating windows of ``--window-images`` images (the
seed recipe's window, then the fast one's, and so on), so a burst of load from other programs hits
both. Data loading is inside the timed windows. Afterwards both are tested in fp32 on the official
10,000 test images. The last line is the images/s ratio (fast / seed) and both test accuracies.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import time

import torch
from torchvision import transforms

from mnistlab.data import MNIST_MEAN, MNIST_STD, iterate_batches, load_mnist, mnist_tensors
from mnistlab.device import describe
from mnistlab.models import SeedCNN
from mnistlab.train import bf16_autocast_available, evaluate, make_adam, train_one_epoch


def timed_window(model, batches, steps, optimizer, fast) -> float:
    """Seconds to train ``steps`` batches taken from the iterator ``batches`` (data loading included)."""
    loss_fn = torch.nn.CrossEntropyLoss()
    start = time.perf_counter()
    train_one_epoch(model, itertools.islice(batches, steps), optimizer, loss_fn, fast=fast)
    return time.perf_counter() - start


def main() -> None:
    """Train both recipes for one epoch in interleaved windows; print throughputs, accuracies, ratio last."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", help="folder holding MNIST/raw/*.gz (the full MNIST)")
    parser.add_argument("--train-images", type=int, default=60_000, help="first N training images (default all)")
    parser.add_argument("--window-images", type=int, default=1280, help="images per timed window (default 1280)")
    parser.add_argument("--fast-batch", type=int, default=256, help="the fast recipe's batch (default 256)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()

    print(" | ".join(f"{k}: {v}" for k, v in describe("cpu").items()))
    print(f"load average at start: {os.getloadavg()}", flush=True)
    n = args.train_images
    seed_batch, fast_batch = 64, args.fast_batch

    # the seed's data pipeline: PIL images -> ToTensor -> Normalize, one image at a time, in a DataLoader
    to_tensor = transforms.Compose([transforms.ToTensor(), transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))])
    dataset = load_mnist(train=True, transform=to_tensor, source="full", root=args.root)
    if n < len(dataset):
        dataset = torch.utils.data.Subset(dataset, range(n))
    loader = torch.utils.data.DataLoader(dataset, batch_size=seed_batch, shuffle=True,
                                         generator=torch.Generator().manual_seed(args.seed))
    # the fast path's data: the same images as one normalised tensor, batched by index
    x, y = mnist_tensors(train=True, source="full", root=args.root)
    x, y = x[:n], y[:n]
    fast_batches = iterate_batches(x, y, fast_batch, generator=torch.Generator().manual_seed(args.seed))
    seed_batches = iter(loader)

    torch.manual_seed(args.seed)
    seed_model = SeedCNN()
    fast_model = SeedCNN()
    fast_model.load_state_dict(seed_model.state_dict())  # the same starting weights
    fast_model.to(memory_format=torch.channels_last)  # what fit(fast=True) does
    seed_optimizer = torch.optim.Adam(seed_model.parameters(), lr=1e-3)  # the seed's: not fused
    fast_optimizer = make_adam(fast_model, lr=1e-3)  # fused
    print(f"fast recipe: batch {fast_batch}, fused Adam, channels_last, "
          f"bf16 autocast: {bf16_autocast_available('cpu')}", flush=True)

    seed_left, fast_left = n, n  # images each recipe still has to train on this epoch
    seed_window, fast_window = args.window_images // seed_batch, args.window_images // fast_batch
    windows = []  # (seed images, seed seconds, fast images, fast seconds)
    started = time.perf_counter()
    while seed_left or fast_left:
        row = [0, 0.0, 0, 0.0]
        if seed_left:
            row[1] = timed_window(seed_model, seed_batches, seed_window, seed_optimizer, fast=False)
            row[0] = min(seed_window * seed_batch, seed_left)
            seed_left -= row[0]
        if fast_left:
            row[3] = timed_window(fast_model, fast_batches, fast_window, fast_optimizer, fast=True)
            row[2] = min(fast_window * fast_batch, fast_left)
            fast_left -= row[2]
        windows.append(row)
        if len(windows) % 5 == 1:
            print(f"window {len(windows)}: seed {row[0] / max(row[1], 1e-9):6.1f} img/s, "
                  f"fast {row[2] / max(row[3], 1e-9):6.1f} img/s, load {os.getloadavg()[0]:.2f}, "
                  f"{time.perf_counter() - started:.0f} s so far", flush=True)

    # the first pair includes one-off set-up (kernel selection, memory): left out of the rates
    paired = [w for w in windows[1:] if w[0] and w[2]]
    seed_rate = sum(w[0] for w in windows[1:]) / sum(w[1] for w in windows[1:])
    fast_rate = sum(w[2] for w in windows[1:]) / sum(w[3] for w in windows[1:])
    pair_ratio = statistics.median((w[2] / w[3]) / (w[0] / w[1]) for w in paired)
    x_test, y_test = mnist_tensors(train=False, source="full", root=args.root)
    seed_test = evaluate(seed_model, (x_test, y_test))
    fast_test = evaluate(fast_model, (x_test, y_test))  # fp32, like the seed's
    fast_test_bf16 = evaluate(fast_model, (x_test, y_test), fast=True)
    figures = {
        "train_images": n,
        "windows": len(windows),
        "seed_images_per_s": round(seed_rate, 1),
        "fast_images_per_s": round(fast_rate, 1),
        "ratio": round(fast_rate / seed_rate, 2),
        "median_window_ratio": round(pair_ratio, 2),
        "seed_seconds": round(sum(w[1] for w in windows), 1),
        "fast_seconds": round(sum(w[3] for w in windows), 1),
        "seed_test_acc": seed_test["accuracy"],
        "fast_test_acc": fast_test["accuracy"],
        "fast_test_acc_bf16_eval": fast_test_bf16["accuracy"],
        "load_average_end": os.getloadavg(),
    }
    print(json.dumps(figures))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(figures, fh, indent=1)
    print(f"seed {seed_rate:.1f} img/s, fast {fast_rate:.1f} img/s; test accuracy after one epoch of {n} images: "
          f"seed {100 * seed_test['accuracy']:.2f}%, fast {100 * fast_test['accuracy']:.2f}% | "
          f"images/s ratio fast/seed: {fast_rate / seed_rate:.2f}x (median of window pairs "
          f"{pair_ratio:.2f}x)")


if __name__ == "__main__":
    main()
