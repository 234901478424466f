"""python -m mnistlab train: a short run prints JSON metrics; bad options exit 2 with one line.

Most tests call ``main()`` in this process (the same function ``python -m mnistlab`` runs, seconds quicker);
those that need a process of their own (the real entry point, environment variables, signals) are ``slow``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import free_port

from mnistlab import data
from mnistlab.baselines import majority_class_accuracy
from mnistlab.cli import main


def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mnistlab", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd)


def train_in_process(args: list[str], capsys) -> tuple[dict, str]:
    """Run ``main(args)`` in this process: (the JSON metrics of its last stdout line, its stderr)."""
    deterministic = torch.are_deterministic_algorithms_enabled()
    try:
        assert main(args) == 0
    finally:
        torch.use_deterministic_algorithms(deterministic)  # seed_everything switched it on for this process
    captured = capsys.readouterr()
    return json.loads(captured.out.strip().splitlines()[-1]), captured.err


@pytest.mark.slow
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


def test_progress_bars_go_to_stderr_not_stdout(capsys):
    deterministic = torch.are_deterministic_algorithms_enabled()
    try:
        assert main(["train", "--epochs", "1", "--limit", "128"]) == 0
    finally:
        torch.use_deterministic_algorithms(deterministic)
    captured = capsys.readouterr()
    assert "epoch 1/1" in captured.err
    assert len(captured.out.strip().splitlines()) == 1 and json.loads(captured.out)["train_images"] == 128


@pytest.mark.slow
def test_data_path_trains_on_the_full_set_in_that_folder(fresh_cache, full_root, monkeypatch, capsys):
    monkeypatch.delenv("MNISTLAB_DATA", raising=False)
    metrics, _ = train_in_process(train_args("--data", str(full_root), "--epochs", "2", "--lr", "3e-3"), capsys)
    assert metrics["data"] == "full" and metrics["train_images"] == 256 and metrics["test_images"] == 10_000
    _, y_train = data.mnist_tensors(train=True, source="full", root=full_root)
    _, y_test = data.mnist_tensors(train=False, source="full", root=full_root)
    always_the_same = majority_class_accuracy(y_train[:256], y_test).accuracy
    assert metrics["test_acc"] > always_the_same + 0.2, metrics
    assert metrics["test_correct"] == round(metrics["test_acc"] * 10_000)
    raw = fresh_cache / "full" / "MNIST" / "raw"  # the folder's files were checked and cached, not downloaded
    assert {path.name: data.sha256sum(path) for path in raw.iterdir()} == data.RAW_SHA256["full"]


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


def test_folder_without_mnist_exits_2_in_one_line_without_traceback(tmp_path, capsys):
    line = refused(["train", "--data", str(tmp_path)], capsys)
    assert line.startswith("mnistlab: error: ") and "has no MNIST/raw/ folder" in line


def refused(args: list[str], capsys) -> str:
    """Run ``main(args)`` in this process (quicker than a new interpreter); return its one error line."""
    with pytest.raises(SystemExit) as info:
        main(args)
    captured = capsys.readouterr()
    return one_line_error(subprocess.CompletedProcess(args, info.value.code, captured.out, captured.err))


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """The single stderr line of a refused command (exit status 2, nothing on stdout, no traceback)."""
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and result.stdout == "", result.stderr
    assert "\x1b[" not in result.stderr  # no terminal colour codes
    return lines[0]


@pytest.mark.parametrize(
    "args, expected",
    [
        (["train", "--epochs", "x"], "mnistlab train: error: argument --epochs: expected an integer >= 0, got 'x'"),
        (["train", "--seed", "18446744073709551616"], "argument --seed: expected an integer from 0 to 4294967295"),
        (["train", "--seed", "-3"], "argument --seed: expected an integer from 0 to 4294967295"),
        (["train", "--lr", "inf"], "argument --lr: expected a positive number, got 'inf'"),
        (["train", "--model", "resnet"], "argument --model: invalid choice: 'resnet'"),
        (["train", "--no-such-option"], "unrecognized arguments: --no-such-option"),
        (["fly"], "argument COMMAND: invalid choice: 'fly'"),
    ],
)
def test_bad_options_are_one_line_not_the_usage_block(args, expected, capsys):
    line = refused(args, capsys)
    assert expected in line and "usage:" not in line


def train_args(*extra: str) -> list[str]:
    return ["train", "--model", "compact", "--limit", "256", "--no-progress", *extra]


@pytest.mark.slow
def test_resume_takes_the_checkpoints_settings_and_refuses_others(tmp_path, capsys):
    ckpt = str(tmp_path / "c.pt")
    first, _ = train_in_process(train_args("--epochs", "1", "--lr", "3e-3", "--seed", "5", "--batch-size", "32",
                                           "--checkpoint", ckpt), capsys)
    assert first["epochs"] == 1
    for option, value in [("--lr", "0.5"), ("--seed", "6"), ("--batch-size", "64"), ("--model", "seed"),
                          ("--limit", "128"), ("--data", "full")]:
        line = refused(train_args("--epochs", "2", "--resume", ckpt, option, value), capsys)
        assert f"{option} {value} differs from the checkpoint's {option}" in line, line
    line = refused(train_args("--epochs", "2", "--resume", ckpt, "--fast"), capsys)
    assert "--fast differs from the checkpoint's --fast False" in line
    torch.manual_seed(123)  # disturb the global RNG: the resume restores the checkpoint's
    metrics, _ = train_in_process(train_args("--epochs", "2", "--resume", ckpt, "--lr", "3e-3"), capsys)  # same: fine
    assert (metrics["lr"], metrics["seed"], metrics["batch_size"]) == (3e-3, 5, 32)  # the run's own settings
    assert metrics["epochs"] == 2 and metrics["epochs_this_run"] == 1
    straight, _ = train_in_process(train_args("--epochs", "2", "--lr", "3e-3", "--seed", "5", "--batch-size", "32"),
                                   capsys)
    assert straight["train_loss"] == metrics["train_loss"] and straight["test_acc"] == metrics["test_acc"]
    assert straight["train_loss"] != first["train_loss"]  # the resumed run did train its second epoch


@pytest.mark.parametrize("content, expected", [
    (b"", "is an empty file"),
    (b"hello, I am a text file\n", "not a PyTorch file"),
])
def test_resume_of_a_file_that_is_no_checkpoint_says_what_it_is(tmp_path, content, expected, capsys):
    path = tmp_path / "text.pt"
    path.write_bytes(content)
    line = refused(train_args("--resume", str(path)), capsys)
    assert line.startswith(f"mnistlab: error: --resume {path}: ") and expected in line
    assert "an mnistlab checkpoint is a dict" in line


def test_resume_of_a_bare_state_dict_says_so(tmp_path, capsys):
    import torch

    from mnistlab.models import CompactCNN

    torch.save(CompactCNN().state_dict(), tmp_path / "weights.pt")
    line = refused(train_args("--resume", str(tmp_path / "weights.pt")), capsys)
    assert "bare state dict" in line and "epoch" in line


def test_checkpoint_that_cannot_be_written_is_refused_before_training(tmp_path, capsys):
    (tmp_path / "a_file").write_text("not a folder")
    line = refused(train_args("--epochs", "1", "--checkpoint", str(tmp_path / "a_file" / "c.pt")), capsys)
    assert "--checkpoint: cannot save a checkpoint" in line and "is a file, not a folder" in line


@pytest.mark.slow
def test_stray_torchrun_variables_give_up_in_one_line(tmp_path):
    env = {**os.environ, "RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": str(free_port()), "MNISTLAB_RENDEZVOUS_TIMEOUT": "2"}
    result = subprocess.run([sys.executable, "-m", "mnistlab", *train_args()], capture_output=True, text=True,
                            timeout=60, env=env)
    assert result.returncode == 2 and result.stdout == ""
    last = result.stderr.strip().splitlines()[-1]
    assert "no complete group of 2 processes formed within 2 s" in last
    assert "RANK=0 WORLD_SIZE=2 LOCAL_RANK=0 MASTER_ADDR=127.0.0.1" in last and "Traceback" not in result.stderr


def test_device_comes_from_the_environment_when_not_given(monkeypatch, capsys):
    monkeypatch.setenv("MNISTLAB_DEVICE", "potato")
    assert "unknown device 'potato' (from $MNISTLAB_DEVICE)" in refused(train_args(), capsys)
    line = refused(train_args("--device", "potato"), capsys)
    assert "unknown device 'potato'" in line and "MNISTLAB_DEVICE" not in line


@pytest.mark.slow
@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_stop_like_ctrl_c_and_keep_the_checkpoint(tmp_path, signame):
    import signal
    import time

    from mnistlab.checkpoint import load_checkpoint

    ckpt = tmp_path / "c.pt"
    proc = subprocess.Popen([sys.executable, "-m", "mnistlab", *train_args("--epochs", "500", "--checkpoint",
                                                                          str(ckpt))],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    while not ckpt.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else "slow"
        time.sleep(0.1)
    proc.send_signal(getattr(signal, signame))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + getattr(signal, signame)
    assert err.strip().splitlines() == [f"mnistlab: stopped by {signame}; {ckpt} holds the last finished epoch"]
    assert out == ""
    assert load_checkpoint(ckpt)["epoch"] >= 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt"]  # no temporary file left
