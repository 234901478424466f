"""mnistlab.data: the embedded sample, the full set, integrity checks, caching and batching."""

from __future__ import annotations

import gzip
import importlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision import datasets
from torchvision.datasets import utils as tv_utils

from mnistlab import data

RAW_NAMES = [name[:-3] for name in data.RESOURCES]


def idx_labels(path: Path) -> np.ndarray:
    """Labels read straight from an IDX .gz file, independently of torchvision."""
    raw = gzip.decompress(path.read_bytes())
    assert int.from_bytes(raw[:4], "big") == 0x801
    return np.frombuffer(raw[8:], dtype=np.uint8)


def test_sample_loads_offline_into_fresh_cache(fresh_cache, no_network):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train = data.load_mnist(train=True)
        test = data.load_mnist(train=False)
    assert [str(w.message) for w in caught] == []  # a normal load says nothing
    assert (len(train), len(test)) == (6000, 2000)
    assert train.data.shape == (6000, 28, 28) and train.data.dtype == torch.uint8
    assert train.classes[3] == "3 - three"
    # files were extracted into the cache in torchvision's layout, uncompressed
    raw = fresh_cache / "sample" / "MNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(RAW_NAMES)


def test_sample_label_histograms_match_package_files(fresh_cache):
    for train, name in ((True, "train-labels-idx1-ubyte.gz"), (False, "t10k-labels-idx1-ubyte.gz")):
        expected = np.bincount(idx_labels(data.SAMPLE_DIR / name), minlength=10)
        found = data.load_mnist(train=train).targets.bincount(minlength=10).numpy()
        assert found.tolist() == expected.tolist()
        assert found.min() > 0.07 * found.sum()  # every digit well represented


def test_sample_is_the_documented_slice_of_the_full_set(fresh_cache, full_root):
    full_train = idx_labels(full_root / "MNIST/raw/train-labels-idx1-ubyte.gz")
    full_test = idx_labels(full_root / "MNIST/raw/t10k-labels-idx1-ubyte.gz")
    sample_test = data.load_mnist(train=False).targets.numpy()
    assert data.load_mnist(train=True).targets.numpy().tolist() == full_train[:6000].tolist()
    assert sample_test.tolist() == np.concatenate([full_test[:1000], full_test[5000:6000]]).tolist()
    manifest = data.sample_manifest()
    assert "CC BY-SA 3.0" in manifest["licence"]
    for name, meta in manifest["files"].items():
        assert data.md5sum(data.SAMPLE_DIR / name) == meta["md5"]


def test_repr_shows_no_machine_path(fresh_cache):
    text = repr(data.load_mnist(train=False))
    assert "Root location: <mnistlab cache>/sample" in text
    assert str(fresh_cache) not in text


def test_full_verifies_and_loads_without_writing_to_source(fresh_cache, full_root, monkeypatch):
    before = {p: p.stat().st_mtime_ns for p in full_root.rglob("*")}
    monkeypatch.setenv("MNISTLAB_DATA", str(full_root))
    train = data.load_mnist(train=True, source="full")
    test = data.load_mnist(train=False, source="full")
    assert (len(train), len(test)) == (60000, 10000)
    assert {p: p.stat().st_mtime_ns for p in full_root.rglob("*")} == before
    assert (fresh_cache / "full" / "MNIST" / "raw" / "t10k-images-idx3-ubyte").stat().st_size == 7_840_016
    assert repr(test).count("<mnistlab cache>/full") == 1


def test_source_env_switches_default(fresh_cache, full_root, monkeypatch):
    monkeypatch.setenv("MNISTLAB_DATA", str(full_root))
    monkeypatch.setenv("MNISTLAB_SOURCE", "full")
    assert len(data.load_mnist(train=False)) == 10000
    monkeypatch.setenv("MNISTLAB_SOURCE", "everything")
    with pytest.raises(ValueError, match="MNISTLAB_SOURCE"):
        data.load_mnist(train=False)


def test_truncated_file_gives_clear_error(fresh_cache, full_root, tmp_path):
    copy = tmp_path / "copy"
    (copy / "MNIST" / "raw").mkdir(parents=True)
    for name in data.RESOURCES:  # copyfile: plain writable copies of the read-only originals
        shutil.copyfile(full_root / "MNIST" / "raw" / name, copy / "MNIST" / "raw" / name)
    bad = copy / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:-100])
    with pytest.raises(data.MNISTDataError) as info:
        data.load_mnist(train=False, source="full", root=copy)
    message = str(info.value)
    assert "t10k-labels-idx1-ubyte.gz" in message
    assert data.RESOURCES["t10k-labels-idx1-ubyte.gz"][0] in message
    assert "source='sample'" in message
    assert not (fresh_cache / "full" / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").exists()


def test_folder_without_mnist_raw_is_refused(fresh_cache, tmp_path):
    with pytest.raises(data.MNISTDataError, match="MNIST/raw"):
        data.load_mnist(source="full", root=tmp_path)


def test_bad_arguments(fresh_cache, tmp_path):
    with pytest.raises(ValueError, match="unknown MNIST source"):
        data.load_mnist(source="kaggle")
    with pytest.raises(ValueError, match="root= is only used"):
        data.load_mnist(source="sample", root=tmp_path)
    with pytest.raises(TypeError, match="train must be True or False"):
        data.load_mnist(train="yes")


def test_offline_download_fails_fast_and_leaves_nothing(fresh_cache, no_network, monkeypatch, tmp_path):
    monkeypatch.delenv("MNISTLAB_DATA", raising=False)
    monkeypatch.setattr(data, "PROJECT_DATA", tmp_path / "no-data-here")
    start = time.monotonic()
    with pytest.raises(data.MNISTDataError) as info:
        data.load_mnist(source="full")
    assert time.monotonic() - start < 30  # a hang would be the bug; offline it takes well under a second
    assert "MNISTLAB_DATA" in str(info.value) and "source='sample'" in str(info.value)
    assert "network disabled in this test" in str(info.value)  # the cause, not only "Error downloading ..."
    assert "\n" not in str(info.value)
    leftovers = [p.name for p in fresh_cache.iterdir()] if fresh_cache.exists() else []
    assert leftovers == []


def official_download(full_root: Path, fetched: list[str], change_label: bool = False):
    """A stand-in for torchvision's ``download_url`` that "fetches" each official file from ``full_root``.

    torchvision's own download loop, mirrors, extraction and MNIST constructor run as usual around it.
    With ``change_label``, the test labels arrive with one label changed: a valid gzip of a valid IDX
    file, so only the MD5 can tell.
    """

    def download_url(url, root, filename=None, md5=None, **kwargs):
        fetched.append(url)
        name = filename or url.rsplit("/", 1)[-1]
        content = (full_root / "MNIST" / "raw" / name).read_bytes()
        if change_label and name == "t10k-labels-idx1-ubyte.gz":
            raw = bytearray(gzip.decompress(content))
            raw[8] = (raw[8] + 1) % 10
            content = gzip.compress(bytes(raw))
        (Path(root) / name).write_bytes(content)

    return download_url


def test_download_fills_the_cache_and_leaves_no_staging_folder(fresh_cache, full_root, no_network, monkeypatch):
    monkeypatch.delenv("MNISTLAB_DATA", raising=False)
    monkeypatch.setattr(data, "PROJECT_DATA", None)
    fetched = []
    monkeypatch.setattr(tv_utils, "download_url", official_download(full_root, fetched))
    test = data.load_mnist(train=False, source="full")
    assert len(test) == 10_000
    assert test.targets.tolist() == idx_labels(full_root / "MNIST/raw/t10k-labels-idx1-ubyte.gz").tolist()
    assert fetched == [datasets.MNIST.mirrors[0] + name for name in data.RESOURCES]  # each file once, first mirror
    raw = fresh_cache / "full" / "MNIST" / "raw"
    assert {path.name: data.sha256sum(path) for path in raw.iterdir()} == data.RAW_SHA256["full"]
    assert [path.name for path in fresh_cache.iterdir()] == ["full"]  # the temporary download folder is gone
    assert len(data.load_mnist(train=True, source="full")) == 60_000
    assert len(fetched) == 4  # the cache serves every later load


def test_a_download_that_is_not_the_official_file_is_refused(fresh_cache, full_root, no_network, monkeypatch):
    monkeypatch.delenv("MNISTLAB_DATA", raising=False)
    monkeypatch.setattr(data, "PROJECT_DATA", None)
    monkeypatch.setattr(tv_utils, "download_url", official_download(full_root, [], change_label=True))
    with pytest.raises(data.MNISTDataError) as info:
        data.load_mnist(train=False, source="full")
    message = str(info.value)
    assert message.startswith("t10k-labels-idx1-ubyte.gz in ") and "corrupt, truncated or not the official" in message
    assert message.endswith("The download was damaged; load again.")
    assert data.RESOURCES["t10k-labels-idx1-ubyte.gz"][0] in message
    assert list(fresh_cache.iterdir()) == []  # nothing cached, no staging folder left


def test_full_root_is_looked_up_in_one_order(monkeypatch, tmp_path):
    def folder(name: str) -> Path:
        (tmp_path / name / "MNIST" / "raw").mkdir(parents=True)
        return tmp_path / name

    given, env, project, extra = folder("given"), folder("env"), folder("project"), folder("extra")
    monkeypatch.setenv("MNISTLAB_DATA", str(env))
    monkeypatch.setattr(data, "PROJECT_DATA", project)
    assert data.find_full_root(given, also=[extra]) == given
    assert data.find_full_root(also=[extra]) == env
    monkeypatch.setenv("MNISTLAB_DATA", str(tmp_path / "no-such-folder"))
    assert data.find_full_root(also=[extra]) == project
    monkeypatch.setattr(data, "PROJECT_DATA", None)  # an installed mnistlab: no project folder
    assert data.find_full_root(also=[tmp_path / "given" / "MNIST", extra]) == extra  # the first with MNIST/raw/
    assert data.find_full_root() is None


@pytest.mark.parametrize("checkout", [True, False], ids=["source checkout", "installed into site-packages"])
def test_the_project_data_folder_exists_only_in_a_source_checkout(tmp_path, monkeypatch, checkout):
    """A copy of the package imported from another folder: PROJECT_DATA is that folder's data/ only when it
    holds a pyproject.toml (a checkout), and None in site-packages, where ../data is no project's folder."""
    site = tmp_path / "site-packages"
    shutil.copytree(Path(data.__file__).parent, site / "mnistlab_copy", ignore=shutil.ignore_patterns("sample"))
    if checkout:
        (site / "pyproject.toml").write_text("[project]\nname = 'mnistlab'\n")
    monkeypatch.syspath_prepend(str(site))
    try:
        copy = importlib.import_module("mnistlab_copy.data")
        assert copy.PROJECT_DATA == (site / "data" if checkout else None)
    finally:
        for name in [name for name in sys.modules if name.partition(".")[0] == "mnistlab_copy"]:
            del sys.modules[name]


@pytest.mark.slow
def test_two_processes_fill_an_empty_cache_at_once(tmp_path):
    env = dict(os.environ, MNISTLAB_CACHE=str(tmp_path / "cache"))
    env.pop("MNISTLAB_SOURCE", None)
    code = "from mnistlab.data import load_mnist; d = load_mnist(train=True); print(len(d), int(d.targets.sum()))"
    procs = [
        subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert [err for _out, err in outputs] == ["", ""]  # no warning: neither took the other's files for damaged
    assert outputs[0][0] == outputs[1][0] and outputs[0][0].startswith("6000 ")
    raw = tmp_path / "cache" / "sample" / "MNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(RAW_NAMES)  # no temporary files left


def test_download_error_names_the_innermost_cause(fresh_cache, monkeypatch, tmp_path):
    monkeypatch.delenv("MNISTLAB_DATA", raising=False)
    monkeypatch.setattr(data, "PROJECT_DATA", tmp_path / "no-data-here")

    def failing_download(self):  # as torchvision reports it: the real reason lies two causes down
        try:
            try:
                raise socket.gaierror(-3, "Temporary failure in name resolution")
            except OSError as exc:
                raise urllib.error.URLError(exc) from exc
        except urllib.error.URLError as exc:
            raise RuntimeError(f"Error downloading train-images-idx3-ubyte.gz:\nTried a mirror, got:\n{exc}") from exc

    monkeypatch.setattr(datasets.MNIST, "download", failing_download)
    with pytest.raises(data.MNISTDataError) as info:
        data.load_mnist(source="full")
    message = str(info.value)
    assert message.endswith("Download error: gaierror: [Errno -3] Temporary failure in name resolution")
    assert "\n" not in message


def test_messages_use_command_line_wording_inside_the_block(fresh_cache, no_network, monkeypatch, tmp_path):
    monkeypatch.delenv("MNISTLAB_DATA", raising=False)
    monkeypatch.setattr(data, "PROJECT_DATA", tmp_path / "no-data-here")
    (tmp_path / "empty" / "MNIST" / "raw").mkdir(parents=True)
    attempts = [
        lambda: data.load_mnist(source="full", root=tmp_path),  # no MNIST/raw/ there
        lambda: data.load_mnist(source="full", root=tmp_path / "empty"),  # MNIST/raw/ without the files
        lambda: data.load_mnist(source="full"),  # no folder at all, and the download fails
    ]

    def messages() -> list[str]:
        found = []
        for attempt in attempts:
            with pytest.raises(data.MNISTDataError) as info:
                attempt()
            found.append(str(info.value))
        return found

    api = messages()
    with data.command_line_wording():
        cli = messages()
    with pytest.raises(data.MNISTDataError), data.command_line_wording():
        attempts[0]()
    after = messages()  # the wording ends with the block, also when it ends with an error
    for text in api + after:
        assert "source='sample'" in text and "--data" not in text
    assert all("root=DIR" in text for text in api[1:] + after[1:])
    for text in cli:
        assert "--data sample" in text and "source=" not in text and "root=" not in text
    assert all("--data DIR" in text for text in cli[1:])


@pytest.mark.parametrize("train", ["test", "train", 1, 0, None])
def test_mnist_tensors_refuses_train_that_is_not_a_bool(fresh_cache, train):
    with pytest.raises(TypeError, match=f"train must be True or False, got {train!r}"):
        data.mnist_tensors(train=train)
    assert data._tensors.cache_info().currsize == 0  # refused before anything was loaded


def test_mnist_tensors_are_normalised(fresh_cache):
    x, y = data.mnist_tensors(train=True)
    assert x.shape == (6000, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    raw = data.load_mnist(train=True).data
    assert torch.allclose(x[5, 0], (raw[5].float() / 255 - data.MNIST_MEAN) / data.MNIST_STD)
    # the sample's statistics are close to the full set's, which the constants describe
    assert abs(x.mean().item()) < 0.05 and abs(x.std().item() - 1) < 0.05


def test_iterate_batches_covers_every_index_once():
    x = torch.arange(103).float().unsqueeze(1)
    y = torch.arange(103)
    batches = list(data.iterate_batches(x, y, batch_size=10, seed=3))
    assert [len(b[1]) for b in batches] == [10] * 10 + [3]
    seen = torch.cat([b[1] for b in batches])
    assert sorted(seen.tolist()) == list(range(103)) and seen.tolist() != list(range(103))
    assert all(torch.equal(bx[:, 0].long(), by) for bx, by in batches)  # x and y stay paired


def test_iterate_batches_is_deterministic_and_generator_advances():
    x, y = torch.zeros(50, 1), torch.arange(50)
    first = torch.cat([b for _, b in data.iterate_batches(x, y, 8, seed=1)])
    again = torch.cat([b for _, b in data.iterate_batches(x, y, 8, seed=1)])
    other = torch.cat([b for _, b in data.iterate_batches(x, y, 8, seed=2)])
    assert torch.equal(first, again) and not torch.equal(first, other)
    gen = torch.Generator().manual_seed(1)
    epoch1 = torch.cat([b for _, b in data.iterate_batches(x, y, 8, generator=gen)])
    epoch2 = torch.cat([b for _, b in data.iterate_batches(x, y, 8, generator=gen)])
    assert torch.equal(epoch1, first) and not torch.equal(epoch1, epoch2)
    ordered = torch.cat([b for _, b in data.iterate_batches(x, y, 8, shuffle=False)])
    assert ordered.tolist() == list(range(50))


def test_iterate_batches_ranks_split_without_overlap():
    x, y = torch.zeros(101, 1), torch.arange(101)
    shares = [torch.cat([b for _, b in data.iterate_batches(x, y, 7, seed=5, rank=r, world_size=4)])
              for r in range(4)]
    assert [len(s) for s in shares] == [25] * 4  # 101 // 4 each: equal step counts on every rank
    union = torch.cat(shares)
    assert len(set(union.tolist())) == 100


def test_iterate_batches_rejects_bad_input():
    x, y = torch.zeros(4, 1), torch.arange(4)
    with pytest.raises(ValueError, match="differ in length"):
        list(data.iterate_batches(x, y[:3], 2))
    with pytest.raises(ValueError, match="batch_size"):
        list(data.iterate_batches(x, y, 0))
    with pytest.raises(ValueError, match="rank"):
        list(data.iterate_batches(x, y, 2, rank=2, world_size=2))


def test_normalize_matches_totensor_then_normalize(fresh_cache):
    from torchvision import transforms

    dataset = data.load_mnist(train=False)
    pipeline = transforms.Compose([transforms.ToTensor(), transforms.Normalize((data.MNIST_MEAN,), (data.MNIST_STD,))])
    expected = torch.stack([pipeline(dataset[i][0]) for i in range(3)])
    found = data.normalize(dataset.data[:3])
    assert found.shape == (3, 1, 28, 28) and found.dtype == torch.float32
    assert torch.allclose(found, expected, atol=1e-6)
    assert dataset.data.dtype == torch.uint8  # the raw images are left as they were
