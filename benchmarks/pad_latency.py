"""How long after a stroke ends does DigitPad show its new answer?

Usage: python benchmarks/pad_latency.py [--repeats 200] [--strokes 10] [--model compact|seed] [--no-browser]

1. Kernel side, many repeats: ``DigitPad.handle_stroke`` on a 280x280 canvas, the message the browser sends at
   a stroke's end: the plain resize, ``to_mnist_style``, one forward pass over both images, the two preview
   PNGs and the HTML bar chart, the widgets' values set. Also each part alone, to show where the time goes.
   The models are untrained (their speed is what matters); CompactCNN is the one notebook 08's pad uses.
2. Full round trip, a few strokes (skipped with --no-browser or without chromium and playwright): JupyterLab
   and headless Chromium as in tests/test_browser.py, the mouse draws on the pad; in the page, the time from
   the canvas's ``pointerup`` to the last change of the pad's widgets (previews, bars, message) for that stroke.
Goal: at most 100 ms from stroke end to updated prediction. The last line printed gives the medians.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from mnistlab.data import to_mnist_style
from mnistlab.device import describe
from mnistlab.models import CompactCNN, SeedCNN
from mnistlab.pad import DigitPad, plain_resize

REPO = Path(__file__).resolve().parent.parent
SIZE = 280


def drawings(count: int, seed: int = 0) -> list[np.ndarray]:
    """``count`` canvases, each a "7" of random size and place, drawn as the pad draws (white, 22 px wide)."""
    rng = np.random.default_rng(seed)
    canvases = []
    for _ in range(count):
        scale = rng.uniform(0.3, 0.9)
        x0, y0 = rng.uniform(10, SIZE - 10 - 200 * scale, size=2)
        points = [(x0, y0), (x0 + 140 * scale, y0), (x0 + 60 * scale, y0 + 200 * scale)]
        picture = Image.new("L", (SIZE, SIZE))
        ImageDraw.Draw(picture).line(points, fill=255, width=22)
        canvases.append(np.asarray(picture).copy())
    return canvases


def ms(start: float) -> float:
    return 1000 * (time.perf_counter() - start)


def kernel_side(model: torch.nn.Module, repeats: int) -> dict[str, list[float]]:
    """Milliseconds per stroke for the whole handler and for its parts, ``repeats`` strokes each."""
    pad = DigitPad(model, lang="en")
    canvases = drawings(repeats)
    times: dict[str, list[float]] = {name: [] for name in ("handler", "plain resize", "to_mnist_style", "model",
                                                          "previews, bars and widgets")}
    pad.handle_stroke({"type": "ink", "height": SIZE, "width": SIZE}, [canvases[0].tobytes()])  # warm-up
    for canvas in canvases:
        start = time.perf_counter()
        pad.handle_stroke({"type": "ink", "height": SIZE, "width": SIZE}, [canvas.tobytes()])
        times["handler"].append(ms(start))
        assert pad.state.guess() is not None, pad.message.value

        start = time.perf_counter()
        plain = plain_resize(canvas)
        times["plain resize"].append(ms(start))
        start = time.perf_counter()
        mnist = to_mnist_style(canvas, normalize=False)[0, 0]
        times["to_mnist_style"].append(ms(start))
        start = time.perf_counter()
        pad.state.predict(torch.stack([plain, mnist]))
        times["model"].append(ms(start))
        start = time.perf_counter()
        pad.refresh()
        times["previews, bars and widgets"].append(ms(start))
    return times


# In the page: the time of each pointerup on the canvas, and of each change to the pad's output (previews, bars,
# message), so that a stroke's latency is measured by the browser's own clock, not by Playwright's polling.
WATCH = """canvas => {
    const area = canvas.closest('.jp-OutputArea-output');
    window.padTimes = {ups: [], changes: []};
    canvas.addEventListener('pointerup', () => window.padTimes.ups.push(performance.now()), {capture: true});
    new MutationObserver(() => window.padTimes.changes.push(performance.now())).observe(
        area, {subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ['src']});
}"""


def browser_round_trips(strokes: int) -> list[float] | str:
    """Milliseconds from pointerup to the pad's last change, per stroke; or why it could not be measured."""
    chromium = shutil.which("chromium")
    if chromium is None or importlib.util.find_spec("playwright") is None:
        return "skipped: needs Debian's chromium and the playwright package"
    sys.path.insert(0, str(REPO / "tests"))
    from test_browser import (  # the browser test's own helpers: the same JupyterLab, the same page
        PAD_CELLS,
        PAD_CHANGED,
        PAD_NOTEBOOK,
        PAD_PREVIEWS,
        PAD_PROBABILITIES,
        STROKES,
        chromium_page,
        draw,
        jupyterlab,
        run_all_cells,
        write_pad_notebook,
    )

    latencies = []
    with tempfile.TemporaryDirectory(prefix="mnistlab-pad-") as folder:
        tmp_path = Path(folder)
        root = tmp_path / "root"
        root.mkdir()
        write_pad_notebook(root / PAD_NOTEBOOK)
        with jupyterlab(tmp_path, root) as (base, token, _log), chromium_page(tmp_path, chromium) as page:
            run_all_cells(page, base, token, PAD_NOTEBOOK, len(PAD_CELLS))
            canvas = page.locator(".mnistlab-pad-canvas")
            canvas.wait_for(state="visible", timeout=30_000)
            canvas.scroll_into_view_if_needed()
            canvas.evaluate(WATCH)
            clear = page.locator(".jp-OutputArea-output button", has_text="Clear")
            for i in range(strokes):
                if i % len(STROKES) == 0 and i:
                    clear.click()
                    page.wait_for_function(f"() => ({PAD_PROBABILITIES})() === ''", timeout=15_000)
                    page.wait_for_timeout(300)
                previews, probabilities = page.evaluate(PAD_PREVIEWS), page.evaluate(PAD_PROBABILITIES)
                draw(page, canvas, STROKES[i % len(STROKES)])
                page.wait_for_function(PAD_CHANGED, arg=[previews, probabilities], timeout=15_000)
                page.wait_for_timeout(300)  # every widget of this stroke has changed by now
                times = page.evaluate("window.padTimes")
                up = times["ups"][-1]
                latencies.append(max(t for t in times["changes"] if t > up) - up)
    return latencies


def main() -> None:
    """Print the machine, the kernel side's medians, the browser's round trips; the medians last."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=200, help="strokes timed in the kernel (default 200)")
    parser.add_argument("--strokes", type=int, default=10, help="strokes drawn in the browser (default 10)")
    parser.add_argument("--model", choices=("compact", "seed"), default="compact",
                        help="the model behind the pad in the kernel-side timing (default compact)")
    parser.add_argument("--no-browser", action="store_true", help="time the kernel side only")
    args = parser.parse_args()

    print("describe():", describe("cpu"))
    torch.manual_seed(0)
    model = CompactCNN() if args.model == "compact" else SeedCNN()
    times = kernel_side(model, args.repeats)
    print(f"kernel side, {type(model).__name__}, {args.repeats} strokes on a {SIZE}x{SIZE} canvas "
          f"({torch.get_num_threads()} threads):")
    for name, values in times.items():
        print(f"    {name:28s} median {statistics.median(values):6.2f} ms, "
              f"90th percentile {np.percentile(values, 90):6.2f} ms, max {max(values):6.2f} ms")
    kernel = statistics.median(times["handler"])
    round_trips = "skipped (--no-browser)" if args.no_browser else browser_round_trips(args.strokes)
    if isinstance(round_trips, str):
        print("browser round trip:", round_trips)
        print(f"median latency: {kernel:.1f} ms in the kernel (goal <= 100 ms)")
        return
    print(f"browser round trip (pointerup to the pad's last change, CompactCNN, JupyterLab + headless Chromium), "
          f"{len(round_trips)} strokes: {', '.join(f'{t:.0f}' for t in round_trips)} ms")
    print(f"median latency: {kernel:.1f} ms in the kernel, {statistics.median(round_trips):.1f} ms stroke end to "
          f"updated prediction in the browser (max {max(round_trips):.1f} ms; goal <= 100 ms)")


if __name__ == "__main__":
    main()
