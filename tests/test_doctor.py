"""python -m mnistlab doctor: each check's OK line and its WARN/FAIL line, the report, the exit status."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from conftest import REPO

from mnistlab import cli, data, doctor
from mnistlab.doctor import FAIL, INFO, OK, WARN, Check


def statuses(checks: list[Check]) -> dict[str, str]:
    return {check.name: check.status for check in checks}


# ---------------------------------------------------------------- versions


@pytest.mark.parametrize(
    "line,expected",
    [
        ("torch==2.14.1", ("torch", [("==", "2.14.1")], "")),
        ("setuptools==84.2.1  # a comment", ("setuptools", [("==", "84.2.1")], "")),
        ('jupyterlab>=4; extra == "course"', ("jupyterlab", [(">=", "4")], 'extra == "course"')),
        ("Pytest_Xdist[psutil] >=3, <4", ("pytest-xdist", [(">=", "3"), ("<", "4")], "")),
        ("# only a comment", None),
        ("-r other.txt", None),
        ("", None),
    ],
)
def test_parse_requirement(line, expected):
    assert doctor.parse_requirement(line) == expected


@pytest.mark.parametrize(
    "version,specs,expected",
    [
        ("2.14.1", [("==", "2.14.1")], True),
        ("2.14.1+cpu", [("==", "2.14.1")], True),  # a local build tag matches the pin, as in pip
        ("2.0", [("==", "2.0.0")], True),
        ("2.13.0", [("==", "2.14.1")], False),
        ("2.14.1", [(">=", "2.6")], True),
        ("2.5.1", [(">=", "2.6")], False),
        ("1.10", [(">=", "1.9"), ("<", "2")], True),  # numeric, not alphabetical: 10 > 9
        ("4.6.6", [("~=", "4.6")], True),
        ("5.0", [("~=", "4.6")], False),
        ("1.0", [], True),
    ],
)
def test_satisfies(version, specs, expected):
    assert doctor.satisfies(version, specs) is expected


@pytest.fixture
def requirements(tmp_path):
    path = tmp_path / "requirements.txt"
    path.write_text("# pins\ntorch==2.14.1\nnumpy==2.4.6  # arrays\npytest==9.2.0\n", encoding="utf-8")
    return path


RANGES = {"torch": [(">=", "2.6")], "numpy": [(">=", "1.24")], "pytest": [(">=", "7")]}


def test_packages_matching_the_pins_are_ok(requirements):
    installed = {"torch": "2.14.1", "numpy": "2.4.6", "pytest": "9.2.0"}
    checks = doctor.check_packages(requirements, RANGES, installed.get)
    assert statuses(checks) == {"torch": OK, "numpy": OK, "pytest": OK}
    assert "requirements.txt: ==2.14.1" in checks[0].detail


def test_a_version_other_than_the_pin_warns_and_one_outside_the_range_fails(requirements):
    installed = {"torch": "2.5.1", "numpy": "2.3.0", "pytest": "9.2.0"}
    checks = {c.name: c for c in doctor.check_packages(requirements, RANGES, installed.get)}
    assert checks["numpy"].status == WARN and "requirements.txt pins ==2.4.6" in checks["numpy"].detail
    assert checks["torch"].status == FAIL and "mnistlab needs >=2.6" in checks["torch"].detail
    assert "make setup" in checks["numpy"].fix


def test_a_missing_package_fails_and_a_missing_test_tool_warns(requirements):
    checks = doctor.check_packages(requirements, RANGES, {"numpy": "2.4.6"}.get)
    assert statuses(checks) == {"torch": FAIL, "numpy": OK, "pytest": WARN}
    assert "not installed" in checks[0].detail and "only `make test` needs it" in checks[2].detail


def test_without_requirements_txt_the_declared_ranges_are_used(tmp_path):
    checks = doctor.check_packages(tmp_path / "none.txt", RANGES, {"torch": "2.7.0", "numpy": "1.2"}.get)
    assert statuses(checks) == {"torch": OK, "numpy": FAIL, "pytest": WARN}
    assert "mnistlab's declared range: >=2.6" in checks[0].detail


def test_this_checkout_compares_every_pin():
    checks = doctor.check_packages()
    assert {c.name for c in checks} >= {"torch", "torchvision", "numpy", "matplotlib", "jupyterlab", "ipywidgets",
                                        "nbval", "torchviz", "torchinfo"}


def test_python_version():
    assert doctor.check_python().status == OK
    old = doctor.check_python((3, 9, 18))
    assert old.status == FAIL and "needs 3.10 or newer" in old.detail


# ---------------------------------------------------------------- the machine


def test_cpu_with_native_bf16():
    check = doctor.check_cpu({"avx2", "avx512f", "avx512_bf16", "amx_bf16"}, "Intel Xeon", "x86_64")
    assert check.status == OK
    assert "bf16 native (AMX and AVX512-BF16)" in check.detail and "`--fast` trains in bf16" in check.detail


@pytest.mark.parametrize("flags,says", [({"avx2", "avx512f"}, "AVX-512 without BF16"),
                                        ({"avx2"}, "no AVX-512: up to 200x slower")])
def test_cpu_without_native_bf16_says_it_is_emulated(flags, says):
    check = doctor.check_cpu(flags, "AMD EPYC", "x86_64")
    assert check.status == OK
    assert "bf16 emulated" in check.detail and says in check.detail and "stays in fp32" in check.detail


def test_cpu_without_avx2_warns():
    check = doctor.check_cpu(set(), "Old CPU", "x86_64")
    assert check.status == WARN and "no AVX2" in check.detail and check.fix


def test_cpu_flags_unknown_or_not_x86(monkeypatch):
    monkeypatch.setattr(doctor, "machine_flags", lambda: None)
    assert "not readable" in doctor.check_cpu(None, "CPU", "x86_64").detail
    arm = doctor.check_cpu(None, "Apple M2", "arm64")
    assert arm.status == OK and "(arm64)" in arm.detail


def test_cpu_on_this_machine_names_its_flags():
    check = doctor.check_cpu()
    assert check.status in (OK, WARN) and "bf16" in check.detail


def test_device_on_the_cpu(monkeypatch):
    monkeypatch.delenv("MNISTLAB_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    check = doctor.check_device()
    assert check.status == OK and check.detail.startswith("cpu;") and "runs on the CPU" in check.detail


def test_device_with_cuda_gpus(monkeypatch):
    monkeypatch.delenv("MNISTLAB_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=None: "Test GPU")
    check = doctor.check_device()
    assert check.status == OK and check.detail.startswith("cuda;") and "2 x Test GPU" in check.detail


def test_device_unavailable_from_the_environment_fails(monkeypatch):
    monkeypatch.setenv("MNISTLAB_DEVICE", "potato")
    check = doctor.check_device()
    assert check.status == FAIL and "potato" in check.detail and "MNISTLAB_DEVICE" in check.fix


def test_threads():
    assert doctor.check_threads(2, 2).status == OK
    over = doctor.check_threads(8, 2)
    assert over.status == WARN and "OMP_NUM_THREADS=2" in over.fix
    assert doctor.check_threads().status in (OK, WARN)


# ---------------------------------------------------------------- data and folders


def test_the_embedded_sample_is_verified():
    check = doctor.check_sample()
    assert check.status == OK and "MD5s match" in check.detail and "8,000 images" in check.detail


@pytest.fixture
def sample_copy(tmp_path, monkeypatch):
    copy = tmp_path / "sample"
    shutil.copytree(data.SAMPLE_DIR, copy)
    monkeypatch.setattr(data, "SAMPLE_DIR", copy)
    return copy


def test_a_damaged_sample_fails(sample_copy):
    with open(sample_copy / "train-labels-idx1-ubyte.gz", "r+b") as fh:
        fh.seek(100)
        fh.write(b"\x00\xff")
    check = doctor.check_sample()
    assert check.status == FAIL and "train-labels-idx1-ubyte.gz damaged" in check.detail and "reinstall" in check.fix


def test_a_missing_sample_file_fails(sample_copy):
    (sample_copy / "t10k-images-idx3-ubyte.gz").unlink()
    check = doctor.check_sample()
    assert check.status == FAIL and "t10k-images-idx3-ubyte.gz missing" in check.detail


def test_a_writable_cache_names_the_variable_that_chose_it(tmp_path, monkeypatch):
    monkeypatch.setenv("MNISTLAB_CACHE", str(tmp_path / "cache"))
    check = doctor.check_cache()
    assert check.status == OK and str(tmp_path / "cache") in check.detail and "$MNISTLAB_CACHE" in check.detail
    assert list((tmp_path / "cache").iterdir()) == []  # the probe file is gone


def test_an_unwritable_cache_fails(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("MNISTLAB_CACHE", str(blocker / "cache"))  # root may write anywhere, but not under a file
    check = doctor.check_cache()
    assert check.status == FAIL and "not writable" in check.detail and "$MNISTLAB_CACHE" in check.detail
    assert "set MNISTLAB_CACHE" in check.fix


@pytest.fixture
def fake_full(tmp_path, monkeypatch):
    """A folder DIR/MNIST/raw/ of four small .gz files that RESOURCES lists as the official ones."""
    raw = tmp_path / "mnist" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    resources = {}
    for name in data.RESOURCES:
        (raw / name).write_bytes(name.encode())
        resources[name] = (data.md5sum(raw / name), 10)
    monkeypatch.setattr(data, "RESOURCES", resources)
    monkeypatch.setattr(data, "PROJECT_DATA", tmp_path / "no-data")
    monkeypatch.setenv("MNISTLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MNISTLAB_DATA", raising=False)
    return raw


def test_full_mnist_not_found_is_info_with_how_to_add_it(fake_full):
    check = doctor.check_full_mnist()
    assert check.status == INFO and "embedded sample" in check.detail
    assert "data/MNIST/raw/" in check.fix and "MNISTLAB_DATA" in check.fix


def test_full_mnist_found_through_the_environment(fake_full, monkeypatch):
    monkeypatch.setenv("MNISTLAB_DATA", str(fake_full.parent.parent))
    check = doctor.check_full_mnist()
    assert check.status == OK and "$MNISTLAB_DATA" in check.detail


def test_a_damaged_full_mnist_warns(fake_full, monkeypatch):
    monkeypatch.setenv("MNISTLAB_DATA", str(fake_full.parent.parent))
    (fake_full / "t10k-labels-idx1-ubyte.gz").write_bytes(b"truncated")
    check = doctor.check_full_mnist()
    assert check.status == WARN and "t10k-labels-idx1-ubyte.gz damaged" in check.detail


def test_full_mnist_downloaded_into_the_cache(fake_full, tmp_path):
    cached = tmp_path / "cache" / "full" / "MNIST" / "raw"
    cached.mkdir(parents=True)
    for name in data.RESOURCES:
        (cached / name[: -len(".gz")]).write_bytes(b"x" * 10)
    check = doctor.check_full_mnist()
    assert check.status == OK and "in the cache" in check.detail


def test_graphviz_found_or_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    missing = doctor.check_graphviz()
    assert missing.status == WARN and "apt install graphviz" in missing.fix
    dot = tmp_path / "dot"
    dot.write_text("#!/bin/sh\n")
    dot.chmod(0o755)
    found = doctor.check_graphviz()
    assert found.status == OK and str(dot) in found.detail


def test_widget_extension(tmp_path, monkeypatch):
    assert doctor.check_widgets().status == OK  # this environment's
    missing = doctor.check_widgets(tmp_path)
    assert missing.status == FAIL and "no extension" in missing.detail and "make lab" in missing.fix
    extension = tmp_path / "share" / "jupyter" / "labextensions" / "@jupyter-widgets" / "jupyterlab-manager"
    extension.mkdir(parents=True)
    (extension / "package.json").write_text("{}")
    assert doctor.check_widgets(tmp_path).status == OK
    monkeypatch.setattr(doctor, "installed_version", lambda name: None)
    assert "not installed" in doctor.check_widgets(tmp_path).detail


def test_lab_settings(tmp_path):
    source = REPO / "scripts" / "jupyterlab-overrides.json"
    missing = doctor.check_lab_settings(tmp_path, source)
    assert missing.status == WARN and "missing" in missing.detail and "make setup" in missing.fix
    written = tmp_path / "share" / "jupyter" / "lab" / "settings" / "overrides.d" / "mnistlab.json"
    written.parent.mkdir(parents=True)
    shutil.copy(source, written)
    assert doctor.check_lab_settings(tmp_path, source).status == OK
    written.write_text(json.dumps({"other": {}}))
    assert "differs" in doctor.check_lab_settings(tmp_path, source).detail


def test_install_source(tmp_path):
    assert doctor.check_wheelhouse(tmp_path / "wheelhouse").status == INFO
    (tmp_path / "wheelhouse").mkdir()
    (tmp_path / "wheelhouse" / "demo-1.0-py3-none-any.whl").write_bytes(b"x" * 1000)
    check = doctor.check_wheelhouse(tmp_path / "wheelhouse")
    assert check.status == OK and "1 wheels" in check.detail


# ---------------------------------------------------------------- the report and the command


def test_check_refuses_an_unknown_status():
    with pytest.raises(ValueError):
        Check("MAYBE", "x", "y")


def test_a_check_that_crashes_becomes_a_fail_line():
    def broken():
        raise ImportError("no module named torch")

    [line] = doctor._guarded("device", broken)
    assert line.status == FAIL and "ImportError: no module named torch" in line.detail


def test_render_aligns_columns_and_shows_fixes():
    checks = [Check(OK, "python", "3.11"), Check(WARN, "graphviz", "`dot` not found", "install it"),
              Check(OK, "a long name", "fine", "not shown: it is OK")]
    text = doctor.render(checks)
    lines = text.splitlines()
    assert "OK    python       3.11" in lines
    assert "WARN  graphviz     `dot` not found" in lines
    assert "                   -> install it" in lines
    assert "not shown" not in text and "\x1b[" not in text
    assert lines[-1] == "ready (2 OK, 0 INFO, 1 WARN, 0 FAIL)"
    failed = doctor.render([Check(FAIL, "sample", "damaged", "reinstall")])
    assert failed.splitlines()[-1].startswith("NOT READY")


@pytest.mark.parametrize("worst,code", [(OK, 0), (INFO, 0), (WARN, 0), (FAIL, 1)])
def test_the_command_exits_1_only_on_a_fail(worst, code, monkeypatch, capsys):
    monkeypatch.setattr(doctor, "run_checks", lambda: [Check(OK, "python", "3.11"), Check(worst, "x", "y", "z")])
    assert cli.main(["doctor"]) == code
    out = capsys.readouterr().out
    assert out.startswith("mnistlab ") and "python" in out


@pytest.mark.slow
def test_doctor_on_this_machine_does_not_fail(tmp_path):
    env = {**os.environ, "MNISTLAB_CACHE": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "-m", "mnistlab", "doctor"], capture_output=True, text=True,
                            timeout=120, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[-1].startswith("ready (") and not any(line.startswith("FAIL") for line in lines)
    for name in ("python", "torch", "cpu", "device", "threads", "sample", "cache", "full MNIST", "graphviz",
                 "lab widgets", "lab settings"):
        assert any(line[6:].startswith(name) for line in lines), name


def test_without_torch_the_report_still_comes_with_fail_lines(tmp_path):
    """``python -m mnistlab.doctor`` imports torch only inside the checks that need it."""
    hide_torch = ("import runpy, sys; sys.modules['torch'] = None; "
                  "runpy.run_module('mnistlab.doctor', run_name='__main__')")
    env = {**os.environ, "MNISTLAB_CACHE": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "-c", hide_torch], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "FAIL  device" in result.stdout and "ModuleNotFoundError" in result.stdout
    assert result.stdout.splitlines()[-1].startswith("NOT READY")


def test_drawing_pad_extension(tmp_path, monkeypatch):
    assert doctor.check_drawing_pad().status == OK  # this environment's
    missing = doctor.check_drawing_pad(tmp_path)
    assert missing.status == WARN and "no extension" in missing.detail and "DigitPad" not in missing.detail
    extension = tmp_path / "share" / "jupyter" / "labextensions" / "anywidget"
    extension.mkdir(parents=True)
    (extension / "package.json").write_text("{}")
    assert doctor.check_drawing_pad(tmp_path).status == OK
    monkeypatch.setattr(doctor, "installed_version", lambda name: None)
    assert "DigitPad" in doctor.check_drawing_pad(tmp_path).detail


def test_chinese_edition_needs_the_language_pack_and_a_font(monkeypatch):
    wqy = "/usr/share/fonts/wqy-microhei.ttc: WenQuanYi Micro Hei,文泉驿微米黑:style=Regular\n"
    found = doctor.check_chinese(fonts=wqy)
    assert found.status == OK and "WenQuanYi Micro Hei" in found.detail
    boxes = doctor.check_chinese(fonts="")
    assert boxes.status == WARN and "boxes" in boxes.detail and "fonts-wqy-microhei" in boxes.fix
    monkeypatch.setattr(doctor, "installed_version", lambda name: None)
    no_pack = doctor.check_chinese(fonts=wqy)
    assert no_pack.status == WARN and "language pack" in no_pack.detail
