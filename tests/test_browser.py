"""The widgets in a real JupyterLab, driven by headless Chromium.

Notebook 06: starts JupyterLab on 127.0.0.1 with a token, on a copy of the notebook in a temporary folder
(the committed notebook is never touched), runs all cells from the Run menu, checks that no cell shows an
error and that DigitGridBrowser renders and redraws when its page slider moves.
DigitPad: a small notebook written into the temporary folder makes a pad on a CompactCNN; the mouse draws
strokes on its canvas, and the previews and the probabilities must change, with no error shown.
The Chinese edition: notebooks/zh/06 in JupyterLab's Chinese interface (the language pack's words drive the
menus), with no error shown, the interface in Chinese and the digit browser's caption in Chinese.
Screenshots go to test-output/. Needs Debian's `chromium` and the `playwright` package (never
`playwright install`); skipped without them, except under CI=true, where it fails.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, free_port, jupyter_folders, require

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOK = "06_mnist_data.ipynb"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# JupyterLab settings for a quiet, predictable run: every cell in the DOM, no news or update checks.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False,
    },
}


# JavaScript conditions on the code cells' input prompts: "[ ]" before a run, "[*]" while queued, "[7]" when done.
NO_COUNT_LEFT = """n => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
    .filter(p => /\\[\\d+\\]/.test(p.textContent)).length === 0"""
ALL_COUNTED = """n => {
    const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
    return prompts.length === n && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
}"""


def wait_for_server(url: str, server: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"JupyterLab exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"JupyterLab did not answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def stop(server: subprocess.Popen) -> None:
    """Terminate the server by its PID (it shuts its kernels down), then kill it if it hangs."""
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


def accept_kernel_dialog(page) -> None:
    """Click "Select" on the "Select Kernel" dialog if JupyterLab shows one (it blocks Run All)."""
    button = page.locator(".jp-Dialog-button.jp-mod-accept")
    if button.count() and button.first.is_visible():
        button.first.click()


def require_browser() -> str:
    """The path of Debian's chromium, after checking that Playwright is there too (skip or fail if not)."""
    chromium = shutil.which("chromium")
    require(chromium is not None, "chromium not found on PATH (Debian: apt-get install chromium)")
    require(importlib.util.find_spec("playwright") is not None, "the playwright package is not installed")
    return chromium


@contextlib.contextmanager
def jupyterlab(tmp_path: Path, root: Path, settings: dict | None = None) -> Iterator[tuple[str, str, Path]]:
    """JupyterLab serving ``root`` on 127.0.0.1, with its own Jupyter folders and quiet settings, in ``tmp_path``.

    ``settings`` adds user settings to LAB_SETTINGS (file name -> content). Yields its base URL, its token and
    its log file; stops it (by its PID) afterwards.
    """
    folders = jupyter_folders(tmp_path / "jupyter")  # the Makefile's list of Jupyter folders, in tmp_path
    assert "JUPYTER_CONFIG_DIR" in folders, f"the Makefile exports no JUPYTER_CONFIG_DIR under .jupyter/: {folders}"
    env = {**os.environ, **folders, "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    env.setdefault("MNISTLAB_CACHE", str(tmp_path / "cache"))
    env.setdefault("MPLCONFIGDIR", str(tmp_path / "matplotlib"))
    for name, content in {**LAB_SETTINGS, **(settings or {})}.items():
        path = Path(folders["JUPYTER_CONFIG_DIR"]) / "lab" / "user-settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content))
    port, token = free_port(), secrets.token_hex(16)
    log = tmp_path / "jupyterlab.log"
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip", "127.0.0.1",
        "--port", str(port), "--ServerApp.port_retries=0", f"--ServerApp.token={token}",
        f"--ServerApp.root_dir={root}", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    with open(log, "wb") as log_file:
        server = subprocess.Popen(command, env=env, stdout=log_file, stderr=subprocess.STDOUT, cwd=root)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_server(f"{base}/api/status?token={token}", server, log)
        yield base, token, log
    finally:
        stop(server)


@contextlib.contextmanager
def chromium_page(tmp_path: Path, chromium: str) -> Iterator[object]:
    """A page of headless Chromium (Debian's, through Playwright) with a profile in ``tmp_path``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=chromium, headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 1200},
        )
        page = context.pages[0] if context.pages else context.new_page()
        page.set_default_timeout(60_000)
        try:
            yield page
        finally:
            context.close()


def english(text: str) -> str:
    return text


def run_all_cells(page, base: str, token: str, notebook: str, n_code: int, say=english) -> None:
    """Open ``notebook``, wait for an idle kernel, clear the saved outputs, run all cells, wait for the last.

    ``say`` gives the interface's words for JupyterLab's English ones (menus, the status bar).
    """
    page.goto(f"{base}/lab/tree/{notebook}?token={token}")
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-CodeCell")
    # wait until the kernel is connected and idle ("Python 3 (ipykernel) | Idle" in the status
    # bar), answering the "Select Kernel" dialog if it comes: Run All before that runs nothing
    kernel_idle = page.locator(".jp-StatusBar-TextItem", has_text=f"| {say('Idle')}")
    deadline = time.monotonic() + 60
    while not kernel_idle.count():
        assert time.monotonic() < deadline, "the kernel did not become idle within 60 s"
        accept_kernel_dialog(page)
        page.wait_for_timeout(250)
    # clear the committed outputs (and execution counts), so what we check below is fresh
    page.locator(".lm-MenuBar-itemLabel", has_text=say("Edit")).first.click()
    page.locator(".lm-Menu-itemLabel", has_text=say("Clear Outputs of All Cells")).first.click()
    page.wait_for_function(NO_COUNT_LEFT, arg=n_code)
    page.locator(".lm-MenuBar-itemLabel", has_text=say("Run")).first.click()
    page.locator(".lm-Menu-itemLabel", has_text=say("Run All Cells")).first.click()
    accept_kernel_dialog(page)
    page.wait_for_function(ALL_COUNTED, arg=n_code, timeout=90_000)


def assert_no_error_shown(page) -> None:
    """No cell wrote to stderr, and every widget displayed."""
    errors = page.locator(
        ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
    ).all_inner_texts()
    assert errors == [], "cells wrote errors or warnings:\n" + "\n---\n".join(errors)[:3000]
    assert "Error displaying widget" not in page.inner_text(".jp-NotebookPanel")


def report_failure(page, log: Path, screenshot: Path) -> None:
    """A screenshot, the input prompts and the end of the server's log, for a test that failed."""
    page.screenshot(path=str(screenshot))
    prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
    status = page.evaluate(
        "[...document.querySelectorAll('[class*=ExecutionIndicator]')].map(e => e.outerHTML.slice(0, 200))"
    )
    print("input prompts at failure:", prompts, "\nexecution indicator:", status)
    print("server log:\n", log.read_text()[-2000:])


def test_notebook_06_runs_in_jupyterlab_and_its_widget_redraws(tmp_path):
    chromium = require_browser()
    committed = REPO / "notebooks" / NOTEBOOK
    committed_sha256 = hashlib.sha256(committed.read_bytes()).hexdigest()
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(committed, root / NOTEBOOK)
    cells = json.loads((root / NOTEBOOK).read_text(encoding="utf-8"))["cells"]
    n_code = sum(cell["cell_type"] == "code" for cell in cells)
    output_dir = REPO / "test-output"
    output_dir.mkdir(exist_ok=True)
    started = time.monotonic()
    with jupyterlab(tmp_path, root) as (base, token, log), chromium_page(tmp_path, chromium) as page:
        try:
            run_all_cells(page, base, token, NOTEBOOK, n_code)
            assert_no_error_shown(page)

            image = page.locator(".jp-OutputArea-output .widget-image").last
            image.scroll_into_view_if_needed()
            assert image.is_visible()
            caption = page.locator(".jp-OutputArea-output .widget-html").last
            assert "page 1/" in caption.inner_text()
            src_before = image.get_attribute("src")
            assert src_before

            handle = page.locator(".jp-OutputArea-output .widget-slider .noUi-handle").last
            handle.focus()
            page.keyboard.press("ArrowRight")
            page.wait_for_function(
                "([el, before]) => el.getAttribute('src') !== before",
                arg=[image.element_handle(), src_before], timeout=15_000,
            )
            page.wait_for_function(
                "el => el.textContent.includes('page 2/')", arg=caption.element_handle(), timeout=15_000
            )
            # the whole widget in view: controls at the top, caption at the bottom
            image.evaluate("el => el.closest('.jp-OutputArea-output').scrollIntoView({block: 'start'})")
            page.wait_for_timeout(300)  # let the new picture paint before the screenshot
            page.screenshot(path=str(output_dir / "browser_06_mnist_data.png"))
        except Exception:
            report_failure(page, log, output_dir / "browser_06_mnist_data_failure.png")
            raise
    # JupyterLab ran (and saved nothing) in the copy: the committed notebook is byte for byte what it was
    assert hashlib.sha256(committed.read_bytes()).hexdigest() == committed_sha256
    print(f"JupyterLab run of {NOTEBOOK}: {time.monotonic() - started:.1f} s")


# ---------------------------------------------------------------- DigitPad

PAD_NOTEBOOK = "pad.ipynb"
#: The notebook the pad test opens: a DigitPad on an untrained CompactCNN (its answers change with the drawing,
#: which is all this test needs), in English whatever the machine's MNISTLAB_LANG says.
PAD_CELLS = [
    "import torch\n\nfrom mnistlab.models import CompactCNN\nfrom mnistlab.pad import DigitPad\n\n"
    "torch.manual_seed(0)\npad = DigitPad(CompactCNN(), lang='en')\npad",
]
#: Strokes in canvas pixels (the canvas is 280 x 280): a "7" in the top left corner, then a bar across it.
STROKES = [[(30, 30), (110, 30), (60, 140)], [(40, 85), (95, 85)]]
#: JavaScript: the ten probabilities the pad shows, as a string ("" while it shows none).
PAD_PROBABILITIES = """() => [...document.querySelectorAll('.mnistlab-pad-bar')]
    .map(bar => bar.dataset.p).join(' ')"""
#: JavaScript: the previews' PNGs (their src), the plain resize's and the MNIST-style one's, joined.
PAD_PREVIEWS = """() => [...document.querySelectorAll('.jp-OutputArea-output .widget-image')]
    .map(img => img.getAttribute('src')).join('|')"""
#: JavaScript: true once both the previews and the probabilities differ from the ones given.
PAD_CHANGED = f"""([previews, probabilities]) => ({PAD_PREVIEWS})() !== previews
    && ({PAD_PROBABILITIES})() !== probabilities && ({PAD_PROBABILITIES})() !== ''"""


def write_pad_notebook(path: Path) -> None:
    """A one-cell notebook that shows a DigitPad."""
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in PAD_CELLS]
    nbformat.write(notebook, path)


def wait_for_text(page, locator, text: str, timeout: float = 15_000) -> None:
    """Wait until ``locator``'s element shows ``text`` (a widget's new value arrives in its own message)."""
    page.wait_for_function("([el, text]) => el.textContent.includes(text)",
                           arg=[locator.element_handle(), text], timeout=timeout)


def draw(page, canvas, points: list[tuple[float, float]], steps: int = 8) -> None:
    """One stroke with the mouse through ``points`` (canvas pixels): press, move in steps, release."""
    box = canvas.bounding_box()
    scale = box["width"] / 280
    x, y = box["x"] + points[0][0] * scale, box["y"] + points[0][1] * scale
    page.mouse.move(x, y)
    page.mouse.down()
    for px, py in points[1:]:
        page.mouse.move(box["x"] + px * scale, box["y"] + py * scale, steps=steps)
    page.mouse.up()


def test_digit_pad_draws_with_the_mouse_and_the_model_answers(tmp_path):
    chromium = require_browser()
    root = tmp_path / "root"
    root.mkdir()
    write_pad_notebook(root / PAD_NOTEBOOK)
    output_dir = REPO / "test-output"
    output_dir.mkdir(exist_ok=True)
    started = time.monotonic()
    with jupyterlab(tmp_path, root) as (base, token, log), chromium_page(tmp_path, chromium) as page:
        try:
            run_all_cells(page, base, token, PAD_NOTEBOOK, len(PAD_CELLS))
            canvas = page.locator(".mnistlab-pad-canvas")
            canvas.wait_for(state="visible", timeout=30_000)
            canvas.scroll_into_view_if_needed()
            assert_no_error_shown(page)
            message = page.locator(".mnistlab-pad-message")
            assert "Draw a digit" in message.inner_text()
            assert page.evaluate(PAD_PROBABILITIES) == ""  # nothing drawn, nothing predicted

            round_trips = []
            for stroke in STROKES:
                previews, probabilities = page.evaluate(PAD_PREVIEWS), page.evaluate(PAD_PROBABILITIES)
                draw(page, canvas, stroke)
                released = time.perf_counter()
                page.wait_for_function(PAD_CHANGED, arg=[previews, probabilities], timeout=15_000)
                round_trips.append(1000 * (time.perf_counter() - released))
                # the message is a widget of its own: its update may arrive just after the pictures'
                wait_for_text(page, message, "The model reads a")
                assert message.get_attribute("data-kind") == "ok", message.inner_text()
            shown = [float(p) for p in page.evaluate(PAD_PROBABILITIES).split()]
            assert len(shown) == 10 and sum(shown) == pytest.approx(1, abs=0.01)

            # the checkbox feeds the plain resize instead: other probabilities, the marker moves
            previews, probabilities = page.evaluate(PAD_PREVIEWS), page.evaluate(PAD_PROBABILITIES)
            page.locator(".widget-checkbox input").click()
            page.wait_for_function(f"p => ({PAD_PROBABILITIES})() !== p", arg=probabilities, timeout=15_000)
            wait_for_text(page, message, "With MNIST's preprocessing")
            page.locator(".widget-checkbox input").click()
            page.wait_for_function(f"p => ({PAD_PROBABILITIES})() === p", arg=probabilities, timeout=15_000)
            canvas.evaluate("el => el.closest('.jp-OutputArea-output').scrollIntoView({block: 'start'})")
            page.wait_for_timeout(300)  # let the pictures paint before the screenshot
            page.screenshot(path=str(output_dir / "browser_digit_pad.png"))

            # Clear: the canvas in the browser goes black again, and the pad forgets the drawing
            page.locator(".jp-OutputArea-output button", has_text="Clear").click()
            page.wait_for_function(f"() => ({PAD_PROBABILITIES})() === ''", timeout=15_000)
            red = "el => el.getContext('2d').getImageData(0, 0, el.width, el.height).data.filter((v, i) => i % 4 === 0)"
            ink_left = canvas.evaluate(f"el => ({red})(el).some(v => v > 0)")
            assert not ink_left
            wait_for_text(page, message, "Draw a digit")
            assert page.evaluate(PAD_PREVIEWS) != previews
            assert_no_error_shown(page)
        except Exception:
            report_failure(page, log, output_dir / "browser_digit_pad_failure.png")
            raise
    print(f"DigitPad in JupyterLab: {time.monotonic() - started:.1f} s; stroke end to new previews and "
          f"probabilities: {', '.join(f'{ms:.0f}' for ms in round_trips)} ms")


# ---------------------------------------------------------------- the Chinese edition

ZH_LOCALE = {"@jupyterlab/translation-extension/plugin.jupyterlab-settings": {"locale": "zh_CN"}}


def test_a_chinese_notebook_runs_in_the_chinese_interface(tmp_path):
    chromium = require_browser()
    fonts = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True) if shutil.which("fc-list") else None
    require(fonts is not None and fonts.stdout.strip() != "",
            "no font with Chinese glyphs (scripts/setup.sh installs fonts-wqy-microhei as root on Debian)")
    committed = REPO / "notebooks" / "zh" / NOTEBOOK
    root = tmp_path / "zh"  # a kernel started in a folder named zh: the widgets speak Chinese (as in notebooks/zh)
    root.mkdir()
    shutil.copy(committed, root / NOTEBOOK)
    n_code = sum(cell["cell_type"] == "code" for cell in json.loads(committed.read_text(encoding="utf-8"))["cells"])
    output_dir = REPO / "test-output"
    output_dir.mkdir(exist_ok=True)
    with jupyterlab(tmp_path, root, settings=ZH_LOCALE) as (base, token, log), \
            chromium_page(tmp_path, chromium) as page:
        with urllib.request.urlopen(f"{base}/lab/api/translations/zh_CN?token={token}", timeout=30) as response:
            words = json.loads(response.read())["data"]["jupyterlab"]
        assert words, "JupyterLab has no Chinese words: the language pack is not installed"

        def say(text: str) -> str:
            return words[text][0]

        try:
            run_all_cells(page, base, token, NOTEBOOK, n_code, say=say)
            assert_no_error_shown(page)
            menus = page.locator(".lm-MenuBar-itemLabel").all_inner_texts()
            assert say("Edit") == "编辑" and say("Edit") in menus and "Edit" not in menus, menus
            assert "学完本节" in page.inner_text(".jp-NotebookPanel")  # the notebook's own text is Chinese
            caption = page.locator(".jp-OutputArea-output .widget-html").last
            assert caption.inner_text().startswith("测试集"), caption.inner_text()
            page.screenshot(path=str(output_dir / "browser_zh_06_mnist_data.png"))
        except Exception:
            report_failure(page, log, output_dir / "browser_zh_failure.png")
            raise
