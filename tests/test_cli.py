"""python -m mnistlab train: a short run prints JSON metrics; bad options exit 2 with one line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mnistlab.cli import main


def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mnistlab", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd)


def test_short_training_run_prints_json_metrics(tmp_path):
    result = run("train", "--model", "compact", "--epochs", "1", "--limit", "512", "--lr", "3e-3",
                 "--checkpoint", str(tmp_path / "run.pt"), "--no-progress")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert metrics["model"] == "compact" and metrics["train_images"] == 512 and metrics["epochs"] == 1
    assert metrics["test_images"] == 2000
    assert 0.2 < metrics["test_acc"] <= 1.0  # chance is 0.1
    assert (tmp_path / "run.pt").is_file()
    assert "Traceback" not in result.stderr


def test_progress_bars_go_to_stderr_not_stdout(tmp_path):
    result = run("train", "--epochs", "1", "--limit", "128")
    assert result.returncode == 0, result.stderr
    assert "epoch 1/1" in result.stderr
    assert len(result.stdout.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "args,expected",
    [
        (["train", "--model", "resnet"], "invalid choice"),
        (["train", "--epochs", "x"], "--epochs"),
        (["train", "--lr", "-1"], "--lr"),
        (["train", "--data", "no/such/folder"], "--data no/such/folder"),
        (["train", "--device", "potato"], "unknown device"),
        (["train", "--resume", "missing.pt"], "--resume missing.pt: no such file"),
        ([], "required"),
    ],
)
def test_bad_options_exit_2_with_a_message(args, expected, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:  # in-process: the same main() that python -m mnistlab runs
        main(args)
    captured = capsys.readouterr()
    assert info.value.code == 2
    assert expected in captured.err
    assert captured.out == ""


def test_folder_without_mnist_exits_2_in_one_line_without_traceback(tmp_path):
    result = run("train", "--data", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.startswith("mnistlab: error: ") and "has no MNIST/raw/ folder" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""
