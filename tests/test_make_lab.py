"""`make lab` as a student runs it: the server starts, writes nothing into the home folder, and asks no
"Jupyter news?" question (the course's JupyterLab settings turn news and update checks off)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import REPO, free_port

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("target", ["lab", "lab-zh"])
def test_make_lab_writes_nothing_to_home_and_turns_news_off(tmp_path, target):
    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    log = tmp_path / "lab.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER_", "MNISTLAB_", "npm_config"))}
    env.update(HOME=str(home), XDG_CACHE_HOME="", XDG_CONFIG_HOME="", XDG_DATA_HOME="")
    # the set-up first, as a student's first `make lab` does it: this test is about the server, and an
    # install (when requirements.txt changed) may write tools' own caches into the home folder
    subprocess.run(["make", "-s", "setup"], cwd=REPO, check=True, capture_output=True, timeout=600)
    with open(log, "wb") as out:
        server = subprocess.Popen(["make", "-s", target, f"PORT={port}"], cwd=REPO, env=env, stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    try:
        token = None
        deadline = time.monotonic() + 90
        while token is None:
            assert server.poll() is None, f"make {target} exited with {server.returncode}:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no server URL within 90 s:\n{log.read_text()[-3000:]}"
            match = re.search(rf"http://127\.0\.0\.1:{port}/lab\?token=(\w+)", log.read_text(errors="replace"))
            token = match.group(1) if match else None
            time.sleep(0.5)
        url = f"http://127.0.0.1:{port}/lab/api/settings/@jupyterlab/apputils-extension:notification?token={token}"
        with urllib.request.urlopen(url, timeout=30) as response:
            settings = json.loads(response.read())
        defaults = settings["schema"]["properties"]  # the schema's defaults, with the overrides applied
        assert defaults["fetchNews"]["default"] == "false" and defaults["checkForUpdates"]["default"] is False
        if target == "lab-zh":  # the Chinese course, in the Chinese interface
            url = f"http://127.0.0.1:{port}/lab/api/settings/@jupyterlab/translation-extension:plugin?token={token}"
            with urllib.request.urlopen(url, timeout=30) as response:
                assert json.loads(response.read())["settings"]["locale"] == "zh_CN"
            url = f"http://127.0.0.1:{port}/lab/api/translations/zh_CN?token={token}"
            with urllib.request.urlopen(url, timeout=30) as response:
                assert json.loads(response.read())["data"], "the Chinese language pack is not installed"
            url = f"http://127.0.0.1:{port}/api/contents?token={token}"
            with urllib.request.urlopen(url, timeout=30) as response:
                names = {item["name"] for item in json.loads(response.read())["content"]}
            assert "08_mnist_cnn.ipynb" in names and "translations" in names  # notebooks/zh/ is the root
        time.sleep(2)  # the language-server scan (which runs npm) happens just after start-up
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
    written = sorted(str(p.relative_to(home)) for p in Path(home).rglob("*"))
    assert written == [], f"make {target} wrote into the home folder: {written[:10]}"
