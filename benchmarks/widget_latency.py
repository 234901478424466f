"""How long does DigitGridBrowser take to redraw after a page or label-filter change?

Usage: python benchmarks/widget_latency.py [--repeats 30] [--split test] [--source sample]

Times what happens in the kernel when a student moves the page slider or picks a label: the
control's observer, the state's setter, the drawing (PIL) and the PNG encoding, for 64 digits per
page, without a model and with a small CNN (mnistlab.models.CompactCNN, untrained: its speed is
what matters here). The browser's own display time is not included. Goal: under 100 ms.
The last line printed is the median latency in ms over page and filter changes, without / with a model
(a page with an augmentation is timed too: each digit is then transformed, and predicted, anew).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from mnistlab.device import describe
from mnistlab.models import CompactCNN
from mnistlab.widgets import DigitGridBrowser


def time_changes(browser: DigitGridBrowser, repeats: int) -> dict[str, list[float]]:
    """Milliseconds per page change and per label-filter change, each repeated ``repeats`` times."""
    times: dict[str, list[float]] = {"page": [], "label": [], "augmented page": []}
    for i in range(repeats):
        pages = browser.page_slider.max
        start = time.perf_counter()
        browser.page_slider.value = 1 + (browser.page_slider.value % pages)  # next page, wrapping around
        times["page"].append((time.perf_counter() - start) * 1000)

        start = time.perf_counter()
        browser.label_control.value = "all" if browser.state.label != "all" else i % 10
        times["label"].append((time.perf_counter() - start) * 1000)
    browser.label_control.value = "all"
    browser.augment_control.value = "RandomAffine(10, translate=0.1)"  # every digit drawn anew (and predicted)
    for _ in range(repeats):
        start = time.perf_counter()
        browser.page_slider.value = 1 + (browser.page_slider.value % browser.page_slider.max)
        times["augmented page"].append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    """Print per-change medians with and without a model, the median over all changes last."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=30, help="changes of each kind to time (default 30)")
    parser.add_argument("--split", choices=("train", "test"), default="test")
    parser.add_argument("--source", choices=("sample", "full"), default="sample")
    args = parser.parse_args()

    info = describe("cpu")
    print(f"torch {info['torch']} | {torch.get_num_threads()} threads | 64 digits per page | "
          f"{args.source} {args.split} split | {args.repeats} changes of each kind")
    medians = {}
    for name, model in (("no model", None), ("CompactCNN", CompactCNN())):
        start = time.perf_counter()
        browser = DigitGridBrowser(source=args.source, split=args.split, model=model, batch_size=64)
        first = (time.perf_counter() - start) * 1000
        times = time_changes(browser, args.repeats)
        medians[name] = statistics.median(times["page"] + times["label"])
        print(f"{name}: first display {first:.1f} ms (loads the split{', predicts all of it' if model else ''})")
        for kind, values in times.items():
            print(f"    {kind + ' change':22s} median {statistics.median(values):5.1f} ms, max {max(values):5.1f} ms")
    print(f"median latency: {medians['no model']:.1f} ms without a model, {medians['CompactCNN']:.1f} ms with "
          "CompactCNN")


if __name__ == "__main__":
    main()
