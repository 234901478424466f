"""mnistlab.data's cache: damaged files are found and rebuilt or reported, the cache folder's problems are
named, gunzipped sources are accepted, and what killed processes leave behind is cleaned up."""

from __future__ import annotations

import errno
import gzip
import hashlib
import os
import stat
import tempfile
import time
from pathlib import Path

import pytest
from conftest import dead_pid

from mnistlab import data, files

LABELS, IMAGES = "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte"

#: (file, offset, bytes written there): one damage each, all of the same size as what they replace.
DAMAGES = {
    "label byte": (LABELS, 8 + 100, bytes([200])),  # label 200: "Target 200 is out of bounds" in training
    "header byte": (IMAGES, 3, bytes([0x04])),  # magic 0x803 -> 0x804: torchvision's bare AssertionError
    "500 images": (IMAGES, 16, bytes(500 * 28 * 28)),  # 500 test images blanked: only the accuracy shows it
}


@pytest.fixture
def no_full_source(monkeypatch, tmp_path, no_network):
    """No folder with the full set anywhere, and no network to download it."""
    monkeypatch.delenv("MNISTLAB_DATA", raising=False)
    monkeypatch.setattr(data, "PROJECT_DATA", tmp_path / "no-data-here")


def gunzip_all(src_raw: Path, dst_raw: Path) -> None:
    """What an older mnistlab, or a user, leaves: every .gz of ``src_raw`` uncompressed into ``dst_raw``."""
    dst_raw.mkdir(parents=True, exist_ok=True)
    for gz in sorted(src_raw.glob("*.gz")):
        (dst_raw / gz.stem).write_bytes(gzip.decompress(gz.read_bytes()))


def damage(path: Path, offset: int, payload: bytes) -> None:
    """Overwrite bytes of ``path`` in place, keeping its size; the file then looks an hour old, as a file
    damaged in an earlier session would (and unlike the version this process may have seen already)."""
    mtime = path.stat().st_mtime_ns
    with open(path, "r+b") as fh:
        fh.seek(offset)
        assert fh.read(len(payload)) != payload  # a real change
        fh.seek(offset)
        fh.write(payload)
    os.utime(path, ns=(mtime, mtime - 3600 * 10**9))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_raw_sha256_are_those_of_the_embedded_sample():
    for gz in data.SAMPLE_DIR.glob("*.gz"):
        assert hashlib.sha256(gzip.decompress(gz.read_bytes())).hexdigest() == data.RAW_SHA256["sample"][gz.stem]


@pytest.mark.parametrize("kind", DAMAGES)
def test_damaged_sample_cache_is_rebuilt(fresh_cache, kind):
    raw = fresh_cache / "sample" / "MNIST" / "raw"
    gunzip_all(data.SAMPLE_DIR, raw)  # a cache as an older mnistlab wrote it: no record of what it holds
    name, offset, payload = DAMAGES[kind]
    damage(raw / name, offset, payload)
    with pytest.warns(UserWarning, match=f"cached {raw / name} was damaged; rebuilt it"):
        train, test = data.load_mnist(train=True), data.load_mnist(train=False)
    assert sha256(raw / name) == data.RAW_SHA256["sample"][name]
    assert int(train.targets.max()) == 9 and len(test) == 2000
    assert (test.data.flatten(1).amax(dim=1) > 0).all()  # no blank image left


def test_damaged_full_cache_is_rebuilt_from_its_source_or_refused(fresh_cache, full_root, no_full_source):
    raw = fresh_cache / "full" / "MNIST" / "raw"
    gunzip_all(full_root / "MNIST" / "raw", raw)
    assert {path.name: sha256(path) for path in raw.iterdir()} == data.RAW_SHA256["full"]
    for kind, (name, offset, payload) in DAMAGES.items():
        damage(raw / name, offset, payload)
        with pytest.raises(data.MNISTDataError) as info:  # downloaded set: nothing to rebuild it from
            data.load_mnist(train=False, source="full")
        message = str(info.value)
        assert str(raw / name) in message, kind
        assert f"Delete the folder {fresh_cache / 'full'} " in message and "MNISTLAB_CACHE" in message
        assert "source='sample'" in message
        with data.command_line_wording(), pytest.raises(data.MNISTDataError, match="--data DIR"):
            data.load_mnist(train=False, source="full")
        with pytest.warns(UserWarning, match=f"cached {raw / name} was damaged"):
            test = data.load_mnist(train=False, source="full", root=full_root)
        assert sha256(raw / name) == data.RAW_SHA256["full"][name], kind
    assert len(test) == 10_000 and int(data.load_mnist(train=True, source="full").targets.max()) == 9


def test_cache_is_hashed_once_per_process_until_a_file_changes(fresh_cache, monkeypatch):
    data.load_mnist(train=False)  # fills the cache, hashing on the way
    hashed = []
    real = data.sha256sum
    monkeypatch.setattr(data, "sha256sum", lambda path: hashed.append(path.name) or real(path))
    data.load_mnist(train=False)
    data.load_mnist(train=True)
    assert hashed == []
    labels = fresh_cache / "sample" / "MNIST" / "raw" / LABELS
    os.utime(labels, ns=(labels.stat().st_atime_ns, labels.stat().st_mtime_ns + 10**9))
    data.load_mnist(train=True)
    assert hashed == [LABELS]


def test_cache_folder_is_mnistlab_cache_else_xdg_cache_home_else_the_home_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("MNISTLAB_CACHE", "~/class-cache")
    assert data.cache_dir() == tmp_path / "home" / "class-cache"  # ~ is the home folder
    assert data._cache_chosen_by() == "$MNISTLAB_CACHE"
    monkeypatch.setenv("MNISTLAB_CACHE", "")  # set but empty: as if unset
    assert data.cache_dir() == tmp_path / "xdg" / "mnistlab"
    assert data._cache_chosen_by().startswith("$XDG_CACHE_HOME")
    monkeypatch.delenv("MNISTLAB_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", "")
    assert data.cache_dir() == tmp_path / "home" / ".cache" / "mnistlab"
    assert "~/.cache/mnistlab" in data._cache_chosen_by()


@pytest.mark.parametrize(
    "variable,value,named",
    [
        ("MNISTLAB_CACHE", "{file}", "from $MNISTLAB_CACHE"),
        ("XDG_CACHE_HOME", "{file}", "from $XDG_CACHE_HOME"),
        ("HOME", "{file}", "~/.cache/mnistlab in your home folder"),
    ],
)
def test_cache_path_through_a_file_is_named(tmp_path, monkeypatch, variable, value, named):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for name in ("MNISTLAB_CACHE", "XDG_CACHE_HOME", "MNISTLAB_SOURCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, value.format(file=blocker))
    with pytest.raises(data.MNISTDataError) as info:
        data.load_mnist()
    message = str(info.value)
    assert f"cannot write the MNIST cache {data.cache_dir()}: {blocker} is a file, not a folder" in message
    assert named in message and "set MNISTLAB_CACHE to a folder you can write to" in message


def test_read_only_cache_is_named_and_a_complete_one_still_loads(fresh_cache, monkeypatch):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    fresh_cache.mkdir()
    with monkeypatch.context() as patch:  # every file mnistlab creates starts with mkstemp
        patch.setattr(tempfile, "mkstemp", read_only)
        with pytest.raises(data.MNISTDataError) as info:
            data.load_mnist()
        message = str(info.value)
        assert f"cannot write the MNIST cache {fresh_cache}: read-only file system" in message
        assert "from $MNISTLAB_CACHE" in message
    data.load_mnist(train=False)
    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    assert len(data.load_mnist(train=False)) == 2000  # a complete cache is only read


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a 0o555 folder anyway")
def test_cache_folder_without_write_permission_is_named(fresh_cache):
    fresh_cache.mkdir(mode=0o555)
    try:
        with pytest.raises(data.MNISTDataError, match="permission denied.*MNISTLAB_CACHE"):
            data.load_mnist()
    finally:
        fresh_cache.chmod(0o755)


def test_gunzipped_official_files_are_accepted(fresh_cache, full_root, tmp_path):
    copy = tmp_path / "gunzipped"
    gunzip_all(full_root / "MNIST" / "raw", copy / "MNIST" / "raw")
    test = data.load_mnist(train=False, source="full", root=copy)
    assert len(test) == 10_000 and int(test.targets.bincount().min()) > 800
    raw = fresh_cache / "full" / "MNIST" / "raw"
    assert {path.name: sha256(path) for path in raw.iterdir()} == data.RAW_SHA256["full"]
    damage(copy / "MNIST" / "raw" / IMAGES, *DAMAGES["header byte"][1:])
    with pytest.raises(data.MNISTDataError) as info:
        data.load_mnist(train=False, source="full", root=copy)
    message = str(info.value)
    assert f"{IMAGES} in {copy / 'MNIST' / 'raw'} is uncompressed" in message
    assert "not the official content" in message and data.RAW_SHA256["full"][IMAGES] in message


@pytest.mark.parametrize("cached", ["complete", "missing"])
def test_temporaries_of_dead_writers_are_removed_on_the_next_load(fresh_cache, cached):
    data.load_mnist(train=False)
    raw = fresh_cache / "sample" / "MNIST" / "raw"
    target = raw / IMAGES
    if cached == "missing":  # the writer was killed before its rename
        target.unlink()
    ours = files.temp_prefix(target)  # .NAME.HOST.PID.
    this_host = ours[: -len(f"{os.getpid()}.")]
    dead = raw / f"{this_host}{dead_pid()}.k2j4h5ab.part"
    live = raw / f"{this_host}{os.getppid()}.a8d7f6cd.part"
    old_style = raw / f".{target.name}.x7y8z9q1.part"  # mkstemp's name before files.temp_prefix: no host, no pid
    for path in (dead, live, old_style):
        path.write_bytes(b"half a file")
    long_ago = time.time() - files.STALE_AFTER_S - 60
    os.utime(old_style, (long_ago, long_ago))
    assert len(data.load_mnist(train=False)) == 2000
    assert not dead.exists() and not old_style.exists()
    assert live.exists()  # its writer may still be at work


def test_stale_download_folders_are_removed(fresh_cache, no_full_source):
    target = fresh_cache / "full"
    this_host = files.temp_prefix(target)[: -len(f"{os.getpid()}.")]
    dead = fresh_cache / f"{this_host}{dead_pid()}.q1w2e3r4.download"
    live = fresh_cache / f"{this_host}{os.getppid()}.t5y6u7i8.download"
    for folder in (dead, live):
        (folder / "MNIST" / "raw").mkdir(parents=True)
        (folder / "MNIST" / "raw" / "train-images-idx3-ubyte.gz").write_bytes(b"half a download")
    with pytest.raises(data.MNISTDataError, match="could not download"):
        data.load_mnist(source="full")
    assert not dead.exists() and live.exists()


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o007, 0o660)])
def test_cached_files_get_permissions_from_the_umask(fresh_cache, umask, mode):
    before = os.umask(umask)
    try:
        data.load_mnist(train=False)
    finally:
        os.umask(before)
    raw = fresh_cache / "sample" / "MNIST" / "raw"
    found = {path.name: oct(stat.S_IMODE(path.stat().st_mode)) for path in raw.iterdir()}
    assert found == {gz[: -len(".gz")]: oct(mode) for gz in data.RESOURCES}
