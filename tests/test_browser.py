"""Notebook 06 in a real JupyterLab, driven by headless Chromium: it runs, and its widget works.

Starts JupyterLab on 127.0.0.1 with a token, on a copy of the notebook in a temporary folder (the
committed notebook is never touched), runs all cells from the Run menu, checks that no cell shows an
error and that DigitGridBrowser renders and redraws when its page slider moves. A screenshot goes to
test-output/. Needs Debian's `chromium` and the `playwright` package (never `playwright install`);
skipped without them, except under CI=true, where it fails.
"""

from __future__ import annotations

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


def test_notebook_06_runs_in_jupyterlab_and_its_widget_redraws(tmp_path):
    chromium = shutil.which("chromium")
    require(chromium is not None, "chromium not found on PATH (Debian: apt-get install chromium)")
    require(importlib.util.find_spec("playwright") is not None, "the playwright package is not installed")
    from playwright.sync_api import sync_playwright

    committed = REPO / "notebooks" / NOTEBOOK
    committed_sha256 = hashlib.sha256(committed.read_bytes()).hexdigest()
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(committed, root / NOTEBOOK)
    folders = jupyter_folders(tmp_path / "jupyter")  # the Makefile's list of Jupyter folders, in tmp_path
    assert "JUPYTER_CONFIG_DIR" in folders, f"the Makefile exports no JUPYTER_CONFIG_DIR under .jupyter/: {folders}"
    env = {**os.environ, **folders, "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    env.setdefault("MNISTLAB_CACHE", str(tmp_path / "cache"))
    env.setdefault("MPLCONFIGDIR", str(tmp_path / "matplotlib"))
    for name, settings in LAB_SETTINGS.items():
        path = Path(folders["JUPYTER_CONFIG_DIR"]) / "lab" / "user-settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings))

    cells = json.loads((root / NOTEBOOK).read_text(encoding="utf-8"))["cells"]
    n_code = sum(cell["cell_type"] == "code" for cell in cells)
    port, token = free_port(), secrets.token_hex(16)
    log = tmp_path / "jupyterlab.log"
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip", "127.0.0.1",
        "--port", str(port), "--ServerApp.port_retries=0", f"--ServerApp.token={token}",
        f"--ServerApp.root_dir={root}", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    output_dir = REPO / "test-output"
    output_dir.mkdir(exist_ok=True)
    started = time.monotonic()
    with open(log, "wb") as log_file:
        server = subprocess.Popen(command, env=env, stdout=log_file, stderr=subprocess.STDOUT, cwd=root)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_server(f"{base}/api/status?token={token}", server, log)
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                str(tmp_path / "chromium-profile"), executable_path=chromium, headless=True,
                args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 1200},
            )
            page = context.pages[0] if context.pages else context.new_page()
            try:
                page.set_default_timeout(60_000)
                page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={token}")
                page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-CodeCell")
                # wait until the kernel is connected and idle ("Python 3 (ipykernel) | Idle" in the status
                # bar), answering the "Select Kernel" dialog if it comes: Run All before that runs nothing
                kernel_idle = page.locator(".jp-StatusBar-TextItem", has_text="| Idle")
                deadline = time.monotonic() + 60
                while not kernel_idle.count():
                    assert time.monotonic() < deadline, "the kernel did not become idle within 60 s"
                    accept_kernel_dialog(page)
                    page.wait_for_timeout(250)
                # clear the committed outputs (and execution counts), so what we check below is fresh
                page.locator(".lm-MenuBar-itemLabel", has_text="Edit").first.click()
                page.locator(".lm-Menu-itemLabel", has_text="Clear Outputs of All Cells").first.click()
                page.wait_for_function(NO_COUNT_LEFT, arg=n_code)
                page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
                page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
                accept_kernel_dialog(page)
                page.wait_for_function(ALL_COUNTED, arg=n_code, timeout=90_000)

                errors = page.locator(
                    ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
                ).all_inner_texts()
                assert errors == [], "cells wrote errors or warnings:\n" + "\n---\n".join(errors)[:3000]
                assert "Error displaying widget" not in page.inner_text(".jp-NotebookPanel")

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
                page.screenshot(path=str(output_dir / "browser_06_mnist_data_failure.png"))
                prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
                status = page.evaluate(
                    "[...document.querySelectorAll('[class*=ExecutionIndicator]')].map(e => e.outerHTML.slice(0, 200))"
                )
                print("input prompts at failure:", prompts, "\nexecution indicator:", status)
                print("server log:\n", log.read_text()[-2000:])
                raise
            finally:
                context.close()
    finally:
        stop(server)
    # JupyterLab ran (and saved nothing) in the copy: the committed notebook is byte for byte what it was
    assert hashlib.sha256(committed.read_bytes()).hexdigest() == committed_sha256
    print(f"JupyterLab run of {NOTEBOOK}: {time.monotonic() - started:.1f} s")
