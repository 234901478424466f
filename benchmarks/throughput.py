"""The seed's training recipe against ``--fast``: images per second, interleaved, and test accuracy after one epoch.

Usage: python benchmarks/throughput.py DATA_ROOT [--train-images 60000] [--window-images 1280] [--seed 0]
       [--seed-reuses-memory] [--device cpu] [--json FILE]

DATA_ROOT holds MNIST/raw/ with the four official .gz files (e.g. ../shared/data).

* seed recipe: torchvision MNIST with ToTensor + Normalize through a DataLoader (batch 64, shuffled),
  ``torch.optim.Adam`` as the seed builds it (not fused), SeedCNN in fp32.
* fast recipe (``python -m mnistlab train --fast``): the same SeedCNN with the same initial weights,
  pre-tensorised images through ``iterate_batches`` (batch 256), fused Adam, channels_last, bf16 autocast
  where the CPU has native bf16 (``mnistlab.train.bf16_autocast_available``), pooling gradients in
  the pooling input's layout (``mnistlab.train.channels_last_pool_grads``) and freed memory kept for
  reuse (``mnistlab.device.reuse_freed_memory``). ``--seed-reuses-memory`` gives the seed's recipe
  that last part too, to show how much of the ratio it is.

Each recipe runs in its own process (the memory setting is process-wide); the two take turns
training one epoch on the same images, in alternating windows of ``--window-images`` images (the
seed recipe's window, then the fast one's, and so on), so a burst of load from other programs hits
both. Data loading is inside the timed windows. Afterwards both are tested in fp32 on the official
10,000 test images. The last line is the images/s ratio (fast / seed) and both test accuracies.

Against the machine's ceiling: in the same run, before the first window and after the last, the
main process measures the matmul ceiling (``benchmarks/matmul.py``'s sweep, best of both) in the
precision ``--fast`` multiplies in on this device (bf16 where it is native, else fp32) and in fp32
(the seed's). SeedCNN's FLOP per training image are counted (``mnistlab.bench.training_flops``), so
each recipe's images/s becomes a share of its ceiling: images/s x FLOP per image / ceiling. The
second-to-last line prints the fast recipe's share beside the ratio to the seed's.

``--device cuda`` runs both recipes on the GPU (the models there, the batches moved per step, as
``fit`` does); the seed's data pipeline stays the same.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import multiprocessing
import os
import resource
import statistics
import time

import torch
from matmul import ceiling, fast_dtype  # benchmarks/matmul.py, beside this script
from torchvision import transforms

from mnistlab.bench import dtype_name, share_of_ceiling, training_flops
from mnistlab.data import MNIST_MEAN, MNIST_STD, iterate_batches, load_mnist, mnist_tensors
from mnistlab.device import describe, memory_reuse_active, reuse_freed_memory
from mnistlab.fast import bf16_autocast_available, fast_path
from mnistlab.models import SeedCNN
from mnistlab.train import evaluate, make_adam, train_one_epoch


class Recipe:
    """One recipe's data, model and optimizer, trained window by window (it lives in its own process)."""

    def __init__(self, name: str, args: argparse.Namespace, reuse_memory: bool) -> None:
        self.name, self.fast, self.root = name, name == "fast", args.root
        n = args.train_images
        self.device = torch.device(args.device)
        torch.manual_seed(args.seed)
        self.model = SeedCNN().to(self.device)  # the same seed in both processes: the same starting weights
        # fast: what fit(fast=True) sets up (channels_last, freed memory kept for reuse, pooling
        # gradients' layout). The seed's recipe keeps glibc's defaults unless --seed-reuses-memory
        # gives it the memory reuse too (to show how much of the ratio that part is).
        self.setup = contextlib.ExitStack()
        if self.fast:
            self.setup.enter_context(fast_path(self.model, self.device))
        else:
            self.setup.enter_context(reuse_freed_memory(enabled=reuse_memory and self.device.type == "cpu"))
        self.reusing = memory_reuse_active()
        if self.fast:
            # the fast path's data: the images as one normalised tensor, batched by index (what fit does)
            x, y = mnist_tensors(train=True, source="full", root=args.root)
            self.batch = args.fast_batch
            self.batches = iterate_batches(x[:n], y[:n], self.batch,
                                           generator=torch.Generator().manual_seed(args.seed))
            self.optimizer = make_adam(self.model, lr=1e-3)  # fused
        else:
            # the seed's data pipeline: PIL images -> ToTensor -> Normalize, one image at a time, in a DataLoader
            to_tensor = transforms.Compose([transforms.ToTensor(), transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))])
            dataset = load_mnist(train=True, transform=to_tensor, source="full", root=args.root)
            if n < len(dataset):
                dataset = torch.utils.data.Subset(dataset, range(n))
            self.batch = 64
            self.batches = iter(torch.utils.data.DataLoader(dataset, batch_size=self.batch, shuffle=True,
                                                            generator=torch.Generator().manual_seed(args.seed)))
            self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)  # the seed's: not fused

    def train(self, steps: int) -> float:
        """Seconds to train the next ``steps`` batches (data loading included)."""
        start = time.perf_counter()
        train_one_epoch(self.model, itertools.islice(self.batches, steps), self.optimizer,
                        torch.nn.CrossEntropyLoss(), fast=self.fast)  # ends with .item(): the GPU is done
        return time.perf_counter() - start

    def test(self) -> dict:
        """Test accuracy in fp32 (like the seed's) and, for the fast recipe, in bf16 too."""
        self.setup.close()
        x_test, y_test = mnist_tensors(train=False, source="full", root=self.root)
        result = {"acc": evaluate(self.model, (x_test, y_test))["accuracy"]}
        if self.fast:
            result["acc_bf16_eval"] = evaluate(self.model, (x_test, y_test), fast=True)["accuracy"]
        result["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        return result


def worker(conn, name: str, args: argparse.Namespace, reuse_memory: bool) -> None:
    """Serve one recipe: ('train', steps) -> seconds, ('test',) -> accuracies, ('stop',) -> exit."""
    recipe = Recipe(name, args, reuse_memory)
    conn.send({"batch": recipe.batch, "reusing_memory": recipe.reusing,
               "bf16_autocast": recipe.fast and bf16_autocast_available(recipe.device)})
    while True:
        command = conn.recv()
        if command[0] == "train":
            conn.send(recipe.train(command[1]))
        elif command[0] == "test":
            conn.send(recipe.test())
        else:
            return


def main() -> None:
    """Train both recipes for one epoch in interleaved windows; print throughputs, accuracies, ratio last."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", help="folder holding MNIST/raw/*.gz (the full MNIST)")
    parser.add_argument("--train-images", type=int, default=60_000, help="first N training images (default all)")
    parser.add_argument("--window-images", type=int, default=1280, help="images per timed window (default 1280)")
    parser.add_argument("--fast-batch", type=int, default=256, help="the fast recipe's batch (default 256)")
    parser.add_argument("--seed-reuses-memory", action="store_true",
                        help="give the seed's recipe the fast path's reuse_freed_memory too")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--ceiling-rounds", type=int, default=2,
                        help="rounds of the matmul sweep before and after training (default 2 + 2)")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()

    device = torch.device(args.device)
    print(" | ".join(f"{k}: {v}" for k, v in describe(device).items()))
    print(f"load average at start: {os.getloadavg()}", flush=True)
    n = args.train_images
    flops = training_flops(SeedCNN())
    precisions = list(dict.fromkeys((fast_dtype(device), torch.float32)))  # --fast's first, then the seed's
    ceilings = {}

    def measure_ceilings(when: str) -> None:
        for dtype in precisions:
            top, size, _ = ceiling(dtype, device, rounds=args.ceiling_rounds)
            name = dtype_name(dtype)
            if top > ceilings.get(name, (0.0, 0))[0]:
                ceilings[name] = (top, size)
            print(f"{name} matmul ceiling {when}: {top:.0f} GFLOP/s (n={size}), load {os.getloadavg()[0]:.2f}",
                  flush=True)

    print(f"SeedCNN: {flops / 1e6:.1f} MFLOP per training image (counted: forward and backward)")
    measure_ceilings("before training")
    # Each recipe runs in a process of its own (fresh interpreters: "spawn"), so that what one changes
    # process-wide (the fast path's memory setting) cannot touch the other; they take turns, never overlap.
    context = multiprocessing.get_context("spawn")
    conns, processes, info = {}, {}, {}
    for name, reuse in (("seed", args.seed_reuses_memory), ("fast", True)):
        conns[name], child = context.Pipe()
        processes[name] = context.Process(target=worker, args=(child, name, args, reuse), daemon=True)
        processes[name].start()
    for name in conns:
        info[name] = conns[name].recv()  # set-up done (data read, model built)
    print(f"seed recipe: batch 64, Adam, fp32, memory reuse: {info['seed']['reusing_memory']}")
    print(f"fast recipe: batch {info['fast']['batch']}, fused Adam, channels_last, "
          f"bf16 autocast: {info['fast']['bf16_autocast']}, memory reuse: {info['fast']['reusing_memory']}",
          flush=True)

    def window(name: str, images_left: int) -> tuple[int, float]:
        batch = info[name]["batch"]
        conns[name].send(("train", args.window_images // batch))
        return min(args.window_images // batch * batch, images_left), conns[name].recv()

    seed_left, fast_left = n, n  # images each recipe still has to train on this epoch
    windows = []  # (seed images, seed seconds, fast images, fast seconds)
    started = time.perf_counter()
    while seed_left or fast_left:
        row = [0, 0.0, 0, 0.0]
        if seed_left:
            row[0], row[1] = window("seed", seed_left)
            seed_left -= row[0]
        if fast_left:
            row[2], row[3] = window("fast", fast_left)
            fast_left -= row[2]
        windows.append(row)
        if len(windows) % 5 == 1:
            print(f"window {len(windows)}: seed {row[0] / max(row[1], 1e-9):6.1f} img/s, "
                  f"fast {row[2] / max(row[3], 1e-9):6.1f} img/s, load {os.getloadavg()[0]:.2f}, "
                  f"{time.perf_counter() - started:.0f} s so far", flush=True)

    measure_ceilings("after training")
    # the first pair includes one-off set-up (kernel selection, memory): left out of the rates
    paired = [w for w in windows[1:] if w[0] and w[2]]
    seed_rate = sum(w[0] for w in windows[1:]) / sum(w[1] for w in windows[1:])
    fast_rate = sum(w[2] for w in windows[1:]) / sum(w[3] for w in windows[1:])
    pair_ratio = statistics.median((w[2] / w[3]) / (w[0] / w[1]) for w in paired)
    tests = {}
    for name in conns:
        conns[name].send(("test",))
        tests[name] = conns[name].recv()
        conns[name].send(("stop",))
        processes[name].join()
    fast_name, seed_name = dtype_name(precisions[0]), "float32"
    fast_share = share_of_ceiling(fast_rate, flops, ceilings[fast_name][0])
    seed_share = share_of_ceiling(seed_rate, flops, ceilings[seed_name][0])
    figures = {
        "device": str(device),
        "train_images": n,
        "windows": len(windows),
        "seed_reuses_memory": info["seed"]["reusing_memory"],
        "seed_images_per_s": round(seed_rate, 1),
        "fast_images_per_s": round(fast_rate, 1),
        "ratio": round(fast_rate / seed_rate, 2),
        "median_window_ratio": round(pair_ratio, 2),
        "seed_seconds": round(sum(w[1] for w in windows), 1),
        "fast_seconds": round(sum(w[3] for w in windows), 1),
        "seed_test_acc": tests["seed"]["acc"],
        "fast_test_acc": tests["fast"]["acc"],
        "fast_test_acc_bf16_eval": tests["fast"]["acc_bf16_eval"],
        "seed_max_rss_mb": tests["seed"]["max_rss_mb"],
        "fast_max_rss_mb": tests["fast"]["max_rss_mb"],
        "flops_per_image": flops,
        "ceiling_gflops": {name: round(top, 1) for name, (top, _) in ceilings.items()},
        "ceiling_size": {name: size for name, (_, size) in ceilings.items()},
        "fast_precision": fast_name,
        "fast_share_of_ceiling": round(fast_share, 3),
        "seed_share_of_fp32_ceiling": round(seed_share, 3),
        "load_average_end": os.getloadavg(),
    }
    print(json.dumps(figures))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(figures, fh, indent=1)
    print(f"--fast: {fast_rate:.1f} images/s x {flops / 1e6:.1f} MFLOP = {fast_rate * flops / 1e9:.0f} GFLOP/s, "
          f"{100 * fast_share:.0f}% of the {fast_name} matmul ceiling ({ceilings[fast_name][0]:.0f} GFLOP/s); "
          f"seed's recipe {100 * seed_share:.0f}% of the float32 ceiling; "
          f"{fast_rate / seed_rate:.2f}x the seed's recipe")
    print(f"seed {seed_rate:.1f} img/s, fast {fast_rate:.1f} img/s; test accuracy after one epoch of {n} images: "
          f"seed {100 * tests['seed']['acc']:.2f}%, fast {100 * tests['fast']['acc']:.2f}% | "
          f"images/s ratio fast/seed: {fast_rate / seed_rate:.2f}x (median of window pairs "
          f"{pair_ratio:.2f}x)")


if __name__ == "__main__":
    main()
