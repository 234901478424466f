"""mnistlab.device: device choice, overrides, seeding."""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import fake_file

from mnistlab import device as dev


def pretend_available(monkeypatch, cuda: bool, mps: bool, gpus: int = 1) -> None:
    """Make torch report CUDA (with ``gpus`` GPUs) and MPS as available or not, whatever this machine has."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus if cuda else 0)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)


@pytest.mark.parametrize(("cuda", "mps", "expected"), [
    (True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"), (False, False, "cpu"),
])
def test_auto_picks_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected):
    monkeypatch.delenv(dev.DEVICE_ENV, raising=False)
    pretend_available(monkeypatch, cuda, mps)
    assert dev.get_device() == torch.device(expected)
    assert dev.get_device("auto") == torch.device(expected)


def test_a_named_device_is_checked_against_what_this_machine_has(monkeypatch):
    monkeypatch.delenv(dev.DEVICE_ENV, raising=False)
    pretend_available(monkeypatch, cuda=True, mps=False, gpus=2)
    assert dev.get_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(RuntimeError, match=r"device 'cuda:2' does not exist: this machine has 2 GPU\(s\)"):
        dev.get_device("cuda:2")
    with pytest.raises(RuntimeError, match="device 'mps' is not available on this machine"):
        dev.get_device("mps")
    pretend_available(monkeypatch, cuda=False, mps=True)
    assert dev.get_device("mps") == torch.device("mps")
    with pytest.raises(RuntimeError, match="device 'cuda' is not available on this machine"):
        dev.get_device("cuda")


def test_the_device_chosen_here_holds_tensors(monkeypatch):
    monkeypatch.delenv(dev.DEVICE_ENV, raising=False)
    chosen = dev.get_device()
    if torch.cuda.is_available():
        assert chosen.type == "cuda"
    assert torch.zeros(1, device=chosen).device.type == chosen.type


def test_environment_override(monkeypatch):
    monkeypatch.setenv(dev.DEVICE_ENV, "cpu")
    assert dev.get_device() == torch.device("cpu")
    assert dev.get_device("cpu") == torch.device("cpu")


def test_unavailable_device_is_a_clear_error(monkeypatch):
    pretend_available(monkeypatch, cuda=False, mps=False)
    monkeypatch.setenv(dev.DEVICE_ENV, "cuda")
    with pytest.raises(RuntimeError, match="not available on this machine"):
        dev.get_device()


def test_unknown_device_name():
    with pytest.raises(ValueError, match="unknown device 'gpu0'"):
        dev.get_device("gpu0")


def test_model_device_is_where_the_weights_are():
    assert dev.model_device(torch.nn.Linear(2, 2)) == torch.device("cpu")
    assert dev.model_device(torch.nn.Linear(2, 2, device="meta")) == torch.device("meta")
    assert dev.model_device(torch.nn.ReLU()) == torch.device("cpu")  # no parameters at all


def test_synchronize_waits_for_the_device_it_is_given(monkeypatch):
    waited = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: waited.append(("cuda", str(device))))
    monkeypatch.setattr(torch.mps, "synchronize", lambda: waited.append(("mps", None)))
    dev.synchronize("cpu")
    assert waited == []  # nothing is queued on the CPU: nothing to wait for
    dev.synchronize("cuda:1")
    dev.synchronize(torch.device("mps"))
    assert waited == [("cuda", "cuda:1"), ("mps", None)]
    monkeypatch.delenv(dev.DEVICE_ENV, raising=False)
    pretend_available(monkeypatch, cuda=False, mps=True)
    dev.synchronize()  # no device given: the one get_device() picks
    assert waited[-1] == ("mps", None)


def test_cpu_flags_are_the_wanted_ones_from_the_first_flags_line(monkeypatch):
    fake_file(monkeypatch, "/proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f amx_bf16 amx_tile "
                                            "avx512_vnni\nprocessor\t: 1\nflags\t\t: fpu sse2\n")
    assert dev.cpu_flags() == {"avx2", "avx512f", "amx_bf16", "amx_tile"}
    assert dev.describe("cpu")["cpu features"] == "amx_bf16, amx_tile, avx2, avx512f"
    fake_file(monkeypatch, "/proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu sse2\n")
    assert dev.cpu_flags() == set()
    assert dev.describe("cpu")["cpu features"] == "none reported"
    fake_file(monkeypatch, "/proc/cpuinfo", FileNotFoundError("/proc/cpuinfo"))  # macOS, Windows
    assert dev.cpu_flags() == set()


def test_describe_reports_version_device_and_threads():
    info = dev.describe("cpu")
    assert info["torch"] == torch.__version__
    assert info["device"] == "cpu"
    assert int(info["cpu threads"]) == torch.get_num_threads()
    assert info["cuda available"] == str(torch.cuda.is_available()) and "gpu" not in info


def test_same_seed_same_draws():
    def draws():
        return random.random(), float(np.random.rand()), torch.randn(5)

    dev.seed_everything(7)
    a = draws()
    dev.seed_everything(7)
    b = draws()
    dev.seed_everything(8)
    c = draws()
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])
    assert not torch.equal(a[2], c[2])
    assert torch.are_deterministic_algorithms_enabled()


@pytest.mark.parametrize("seed", [-1, 2**64, 1.5, "3", True, None])
def test_seed_must_be_an_int_torch_accepts(seed):
    with pytest.raises(ValueError, match=r"seed must be an int from 0 to 18446744073709551615"):
        dev.seed_everything(seed)


def test_largest_seed_is_accepted():
    dev.seed_everything(2**64 - 1)  # torch takes seeds up to 2**64 - 1
    assert torch.initial_seed() == 2**64 - 1
    assert np.random.get_state()[1][0] == np.random.RandomState((2**64 - 1) % 2**32).get_state()[1][0]
    dev.seed_everything(0)
    assert torch.initial_seed() == 0


def test_device_errors_name_the_variable_only_when_it_was_used(monkeypatch):
    monkeypatch.delenv("MNISTLAB_DEVICE", raising=False)
    with pytest.raises(ValueError) as given:
        dev.get_device("potato")
    assert "MNISTLAB_DEVICE" not in str(given.value)
    monkeypatch.setenv("MNISTLAB_DEVICE", "potato")
    with pytest.raises(ValueError, match=r"'potato' \(from \$MNISTLAB_DEVICE\)"):
        dev.get_device()
    pretend_available(monkeypatch, cuda=False, mps=False)
    monkeypatch.setenv("MNISTLAB_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match=r"or unset \$MNISTLAB_DEVICE"):
        dev.get_device()
    monkeypatch.delenv("MNISTLAB_DEVICE")
    with pytest.raises(RuntimeError) as given:
        dev.get_device("cuda")
    assert "MNISTLAB_DEVICE" not in str(given.value)


# Run in a fresh interpreter: glibc's heap state depends on everything a process allocated before,
# so inside a test worker that has trained models, the default behaviour is not predictable.
PAGE_FAULT_PROBE = """
import json, resource, torch
from mnistlab import device as dev

def faults(mib, cycles=4, warmup=12):
    # minor page faults per allocate-touch-free cycle of a mib MiB tensor, after warm-up cycles (with
    # reuse on, glibc's heap grows for the first few cycles until freed blocks merge, then stays)
    for _ in range(warmup):
        torch.empty(mib * 2**20, dtype=torch.uint8).fill_(1)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(cycles):
        torch.empty(mib * 2**20, dtype=torch.uint8).fill_(1)
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / cycles

def rss_mib():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20

out = {"default": faults(64, warmup=2)}
with dev.reuse_freed_memory() as acting:
    out["acting"], out["active"] = acting, dev.memory_reuse_active()
    out["inside"] = faults(64)
    with dev.reuse_freed_memory():
        pass
    out["active_after_inner"] = dev.memory_reuse_active()
    blocks = [torch.empty(64 * 2**20, dtype=torch.uint8).fill_(1) for _ in range(4)]
    del blocks
    out["rss_held"] = rss_mib()
out["rss_after"] = rss_mib()
out["active_after"] = dev.memory_reuse_active()
out["after_big"] = faults(768, cycles=2, warmup=1)  # larger than any free block the heap kept
print(json.dumps(out))
"""


@pytest.mark.slow
@pytest.mark.skipif(dev._glibc() is None, reason="reuse_freed_memory acts on glibc (Linux) only")
def test_reuse_freed_memory_stops_page_faults_gives_memory_back_and_restores_the_defaults():
    result = subprocess.run([sys.executable, "-c", PAGE_FAULT_PROBE], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.splitlines()[-1])
    pages_64 = 64 * 2**20 // resource.getpagesize()
    assert out["default"] > pages_64 / 2  # glibc's default: 64 MiB goes back to the system at every free
    assert out["acting"] and out["active"]
    assert out["inside"] < pages_64 / 20  # the same memory is reused: (almost) no page faults
    assert out["active_after_inner"]  # a nested block does not end the outer one
    assert out["rss_held"] - out["rss_after"] > 128  # the 256 MiB kept inside are given back at the end
    assert not out["active_after"]
    assert out["after_big"] > (768 * 2**20 // resource.getpagesize()) / 2  # defaults back: faults again


def test_reuse_freed_memory_disabled_changes_nothing():
    with dev.reuse_freed_memory(enabled=False) as acting:
        assert acting is False
        assert not dev.memory_reuse_active()


def test_reuse_freed_memory_restores_after_an_error():
    with pytest.raises(KeyError):
        with dev.reuse_freed_memory():
            raise KeyError("boom")
    assert not dev.memory_reuse_active()


def test_idle_cores_reads_the_share_of_idle_time():
    from mnistlab.device import idle_cores

    readings = iter([(1000, 4000), (1100, 4200)])  # 100 idle jiffies of 200: half the time idle
    assert idle_cores(0, cores=2, read=lambda: next(readings)) == 1.0
    readings = iter([(1000, 4000), (1190, 4200)])
    assert idle_cores(0, cores=2, read=lambda: next(readings)) == pytest.approx(1.9)
    assert idle_cores(0, cores=2, read=lambda: None) is None  # no /proc/stat (macOS, Windows)
    readings = iter([(1000, 4000), (1000, 4000)])
    assert idle_cores(0, cores=2, read=lambda: next(readings)) is None  # no time passed: nothing to say


def test_idle_cores_on_this_machine_is_a_share_of_its_cores():
    import os

    from mnistlab.device import idle_cores

    idle = idle_cores(0.05)
    if os.path.exists("/proc/stat"):
        assert idle is not None and 0 <= idle <= (os.cpu_count() or 1) + 1e-9


def test_use_idle_cores_gives_one_thread_per_idle_core(monkeypatch):
    from mnistlab import device

    monkeypatch.setattr(device, "_DEFAULT_THREADS", 4)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    try:
        assert device.use_idle_cores(idle=3.9) == 4 and torch.get_num_threads() == 4
        assert device.use_idle_cores(idle=1.2) == 1 and torch.get_num_threads() == 1  # one program holds 3 cores
        assert device.use_idle_cores(idle=0.0) == 1  # at least one
        assert device.use_idle_cores(idle=9.0) == 4  # never more than one per core
        monkeypatch.setattr(device, "idle_cores", lambda: None)
        assert device.use_idle_cores() == 4  # unknown: PyTorch's default
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        torch.set_num_threads(2)
        assert device.use_idle_cores(idle=0.0) == 2  # an explicit choice is kept
    finally:
        torch.set_num_threads(before)
