"""MNIST, real and offline by default.

Taught in notebook 06 (手写数字识别实战). Three sources:

* ``"sample"`` (default): 6,000 training and 2,000 test images of the real MNIST,
  shipped inside this package (see ``sample/manifest.json``). Never touches the network.
* ``"full"``: the four official files from a folder (``root``, else ``$MNISTLAB_DATA``, else the
  ``data/`` folder of a source checkout, see ``find_full_root``) holding ``MNIST/raw/``: the ``.gz``
  files, whose MD5s are checked against torchvision's list, or copies someone gunzipped, checked against
  ``RAW_SHA256``. Without such a folder, torchvision's download is tried.
* ``$MNISTLAB_SOURCE=full`` switches every default to the full set.

Files are only ever written to the cache (``$MNISTLAB_CACHE``, else ``$XDG_CACHE_HOME/mnistlab``, else
``~/.cache/mnistlab``), atomically and with ordinary permissions (``mnistlab.files``), so several processes
may load at once; temporaries left by killed processes are removed on the next load. Source folders are
read, never written. Each cached file is checked against its SHA-256 in ``RAW_SHA256`` (once per process
and version of the file): a damaged one is rebuilt from its source, or, for a downloaded set, reported.

Problems raise ``MNISTDataError`` with a message that says what to do, naming the Python API's arguments
(``root=``, ``source=``), or the command line's ``--data`` inside ``command_line_wording()``.

Over 300 lines, one job: MNIST from its files into tensors, offline and intact. Most of the length is the
cache's integrity (checked, rebuilt, written atomically by several processes at once) and messages that
say what to do; ``normalize``, ``mnist_tensors`` and ``iterate_batches`` are the few lines that hand the
loaded images on to a training loop.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import glob
import gzip
import hashlib
import json
import math
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import torch
from torchvision import datasets
from torchvision.datasets.utils import calculate_md5

from . import files

__all__ = ["INK_LEVEL", "MIN_INK_SPAN", "MNIST", "MNIST_BOX", "MNIST_CENTRE", "MNIST_MEAN", "MNIST_STD", "PROJECT_DATA",
           "RAW_BYTES", "RAW_SHA256", "RESOURCES", "SAMPLE_DIR", "SOURCES", "MNISTDataError", "cache_dir",
           "command_line_wording", "default_source", "find_full_root", "iterate_batches", "load_mnist", "md5sum",
           "mnist_tensors", "normalize", "prepare", "sample_manifest", "sha256sum", "to_mnist_style", "ink_extent",
           "too_little_ink", "centre_of_mass"]

#: Mean and standard deviation of the 60,000 MNIST training images (pixels scaled to [0, 1]).
#: Notebook 06 recomputes them. Every helper, model and command normalises with these.
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081

SOURCES = ("sample", "full")
SAMPLE_DIR = Path(__file__).with_name("sample")
_CHECKOUT = Path(__file__).resolve().parent.parent
#: The ``data/`` folder of a source checkout (the folder holding pyproject.toml, where ``pip install -e .`` and
#: ``make`` run); None when mnistlab is installed into site-packages, which has no project folder.
PROJECT_DATA: Path | None = _CHECKOUT / "data" if (_CHECKOUT / "pyproject.toml").is_file() else None

#: Size of each official file once uncompressed: the IDX header, then one byte per label or pixel.
RAW_BYTES: dict[str, int] = {
    "train-images-idx3-ubyte": 16 + 60_000 * 28 * 28,
    "train-labels-idx1-ubyte": 8 + 60_000,
    "t10k-images-idx3-ubyte": 16 + 10_000 * 28 * 28,
    "t10k-labels-idx1-ubyte": 8 + 10_000,
}

#: The official .gz files: name -> (MD5, size uncompressed). Names and MD5s are torchvision's own list
#: (``datasets.MNIST.resources``, the one its download checks), so the two can never disagree.
RESOURCES: dict[str, tuple[str, int]] = {
    name: (md5, RAW_BYTES[name.removesuffix(".gz")])
    for name, md5 in ((url.rsplit("/", 1)[-1], md5) for url, md5 in datasets.MNIST.resources)
}

#: SHA-256 of each file once uncompressed, as the cache holds it: the four official files (what
#: ``gunzip`` makes of them; gunzipped copies in a source folder are checked against these too) and
#: the embedded sample's four. SHA-256 rather than MD5: it is the faster of the two on CPUs with
#: SHA instructions, and every load checks the cache with it.
RAW_SHA256: dict[str, dict[str, str]] = {
    "full": {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    "sample": {
        "train-images-idx3-ubyte": "2782ff6f3467f3487a520503c34fe99b761aa97623af029969e59716ac3585c3",
        "train-labels-idx1-ubyte": "0d830540a6191e75a9f5cd63cd5b4bde38960b893784bbf456d560179296d7cd",
        "t10k-images-idx3-ubyte": "18e1ce823c4e1e372d6f35658ff705ce87581e6381b406549e940fcd155e77c6",
        "t10k-labels-idx1-ubyte": "fbed25febca6518dc271be6577ac3f6dfd646dfed888bdb1dc330d6be964aa2c",
    },
}


class MNISTDataError(RuntimeError):
    """MNIST files are missing, corrupt or cannot be fetched; the message says what to do."""


class MNIST(datasets.MNIST):
    """torchvision's MNIST whose repr shows where the data came from, not a path of this machine."""

    display_root = "<mnistlab cache>"

    def __repr__(self) -> str:
        return super().__repr__().replace(f"Root location: {self.root}", f"Root location: {self.display_root}")


# ---------------------------------------------------------------- wording of messages

_COMMAND_LINE = contextvars.ContextVar("mnistlab_command_line_wording", default=False)
_API_WORDS = {"sample": "source='sample'", "folder": "root=DIR"}
_CLI_WORDS = {"sample": "--data sample", "folder": "--data DIR"}


@contextlib.contextmanager
def command_line_wording() -> Iterator[None]:
    """Inside this block, ``MNISTDataError`` messages name the command line's ``--data sample`` and
    ``--data DIR`` instead of the Python API's ``source='sample'`` and ``root=DIR``."""
    token = _COMMAND_LINE.set(True)
    try:
        yield
    finally:
        _COMMAND_LINE.reset(token)


def _words() -> dict[str, str]:
    """How messages name the choices of source: the command line's words or the Python API's."""
    return _CLI_WORDS if _COMMAND_LINE.get() else _API_WORDS


# ---------------------------------------------------------------- locations


def cache_dir() -> Path:
    """The folder mnistlab writes to: $MNISTLAB_CACHE, else $XDG_CACHE_HOME/mnistlab, else ~/.cache/mnistlab."""
    if os.environ.get("MNISTLAB_CACHE"):
        return Path(os.environ["MNISTLAB_CACHE"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "mnistlab"
    return Path.home() / ".cache" / "mnistlab"


def _cache_chosen_by() -> str:
    """Which setting chose ``cache_dir()``, in words for messages."""
    if os.environ.get("MNISTLAB_CACHE"):
        return "$MNISTLAB_CACHE"
    if os.environ.get("XDG_CACHE_HOME"):
        return "$XDG_CACHE_HOME (as $XDG_CACHE_HOME/mnistlab)"
    return "the default, ~/.cache/mnistlab in your home folder"


def _unwritable_cache(exc: OSError) -> MNISTDataError:
    return MNISTDataError(
        f"cannot write the MNIST cache {cache_dir()}: {files.describe_os_error(exc)}. That folder comes from "
        f"{_cache_chosen_by()}; set MNISTLAB_CACHE to a folder you can write to"
    )


def default_source() -> str:
    """The source used when none is given: $MNISTLAB_SOURCE, else ``"sample"``."""
    source = os.environ.get("MNISTLAB_SOURCE", "sample") or "sample"
    if source not in SOURCES:
        raise ValueError(f"$MNISTLAB_SOURCE is {source!r}; expected one of {SOURCES}")
    return source


def find_full_root(root: str | os.PathLike | None = None, also: Iterable[str | os.PathLike] = ()) -> Path | None:
    """The folder whose ``MNIST/raw/`` holds the official files, or None when there is none.

    ``root`` when given (an MNISTDataError if it has no ``MNIST/raw/``); else the first of $MNISTLAB_DATA,
    ``PROJECT_DATA`` (a source checkout's ``data/``) and the folders in ``also`` that has ``MNIST/raw/``.
    The one lookup of the full set: the package, the tests (``tests/conftest.py``) and
    ``scripts/build_sample.py`` call it, the last two with their own extra folder in ``also``.
    """
    if root is not None:
        root = Path(root).expanduser()
        if not (root / "MNIST" / "raw").is_dir():
            raise MNISTDataError(
                f"{root} has no MNIST/raw/ folder: expected {root}/MNIST/raw/ holding the four official "
                f"files ({', '.join(RESOURCES)}), gzipped or not; or use {_words()['sample']}"
            )
        return root
    for candidate in (os.environ.get("MNISTLAB_DATA"), PROJECT_DATA, *also):
        if candidate and (Path(candidate).expanduser() / "MNIST" / "raw").is_dir():
            return Path(candidate).expanduser()
    return None


# ---------------------------------------------------------------- checking files

#: SHA-256 of the files this process has already hashed, by (path, size, mtime_ns): a file is hashed
#: again only when it has changed, so repeated loads cost a ``stat`` per file. A dict rather than
#: ``functools.cache``: ``_store`` records the hash of the bytes it has just written, without reading them back.
_known_sha256: dict[tuple[str, int, int], str] = {}

#: Hex MD5 of a file: torchvision's helper, the one its MNIST download checks the same files with.
md5sum = calculate_md5


def sha256sum(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _version(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path), stat.st_size, stat.st_mtime_ns


def _has_content(path: Path, sha256: str) -> bool:
    """True when ``path`` is a file whose SHA-256 is ``sha256`` (hashed once per process and version)."""
    try:
        version = _version(path)
        if version not in _known_sha256:
            _known_sha256[version] = sha256sum(path)
    except OSError:  # missing, unreadable, or the path runs through a file
        return False
    return _known_sha256[version] == sha256


def _verify(path: Path, expected_md5: str, remedy: str) -> None:
    if not path.is_file():
        raise MNISTDataError(f"missing MNIST file {path.name} in {path.parent}: {remedy}")
    found = md5sum(path)
    if found != expected_md5:
        raise MNISTDataError(
            f"{path.name} in {path.parent} is corrupt, truncated or not the official file: "
            f"MD5 {found}, expected {expected_md5}. {remedy}"
        )


# ---------------------------------------------------------------- writing the cache


def _tidy(raw: Path, names: Iterable[str]) -> None:
    """Remove the temporaries that killed processes left beside the cached files (if the folder allows)."""
    for name in names:
        with contextlib.suppress(OSError):
            files.clean_stale_temporaries(raw / name, ".part")


def _store(src: Path, dst: Path, sha256: str, remedy: str) -> None:
    """Copy ``src`` (gunzipped when it ends in .gz) to the cache file ``dst``, all or nothing.

    The bytes are hashed on the way: ``dst`` is replaced only when their SHA-256 is ``sha256``,
    and this process then knows ``dst`` to be intact without reading it again.
    """
    digest = hashlib.sha256()
    opener = gzip.open if src.suffix == ".gz" else open
    with opener(src, "rb") as inp, files.atomic_file(dst, suffix=".part") as out:
        for chunk in iter(lambda: inp.read(1 << 20), b""):
            digest.update(chunk)
            out.write(chunk)
        if digest.hexdigest() != sha256:
            raise MNISTDataError(
                f"{src.name} in {src.parent} does not give the expected content: SHA-256 {digest.hexdigest()}, "
                f"expected {sha256}. {remedy}"
            )
    _known_sha256[_version(dst)] = sha256


def _fill(raw: Path, sources: dict[str, Path], expected: dict[str, str], remedy: str) -> None:
    """Copy ``sources`` (cached name -> source file) into the cache folder ``raw``, skipping those that another
    process has filled meanwhile. Replacing a damaged file gives a one-line warning.
    """
    sources = {name: src for name, src in sources.items() if not _has_content(raw / name, expected[name])}
    if not sources:
        return
    damaged = [name for name in sources if (raw / name).exists()]
    try:
        files.check_writable_folder(cache_dir())
        for name, src in sources.items():
            _store(src, raw / name, expected[name], remedy)
    except OSError as exc:
        raise _unwritable_cache(exc) from None
    for name in damaged:
        warnings.warn(f"mnistlab: the cached {raw / name} was damaged; rebuilt it from {sources[name]}", stacklevel=2)


def _missing_or_damaged(raw: Path, expected: dict[str, str]) -> list[str]:
    """The cached files that are missing or whose content is not the expected one."""
    _tidy(raw, expected)
    return [name for name, sha256 in expected.items() if not _has_content(raw / name, sha256)]


# ---------------------------------------------------------------- sources


@functools.cache
def sample_manifest() -> dict:
    """The embedded sample's manifest: provenance, index ranges, MD5s and licence."""
    return json.loads((SAMPLE_DIR / "manifest.json").read_text(encoding="utf-8"))


def _prepare_sample() -> Path:
    root = cache_dir() / "sample"
    raw = root / "MNIST" / "raw"
    expected = RAW_SHA256["sample"]
    todo = _missing_or_damaged(raw, expected)
    if todo:
        remedy = "the mnistlab installation is damaged; reinstall it (pip install -e .)"
        for name in todo:
            _verify(SAMPLE_DIR / f"{name}.gz", sample_manifest()["files"][f"{name}.gz"]["md5"], remedy)
        _fill(raw, {name: SAMPLE_DIR / f"{name}.gz" for name in todo}, expected, remedy)
    return root


def _official_file(src_raw: Path, name: str, remedy: str) -> Path:
    """The source of the cached file ``name``: ``name.gz``, else a copy of it that someone gunzipped; checked."""
    gz, plain = src_raw / f"{name}.gz", src_raw / name
    if gz.is_file():
        _verify(gz, RESOURCES[gz.name][0], remedy)
        return gz
    if not plain.is_file():
        raise MNISTDataError(f"missing MNIST file {gz.name} (or {name}, gunzipped) in {src_raw}: {remedy}")
    if not _has_content(plain, RAW_SHA256["full"][name]):
        raise MNISTDataError(
            f"{name} in {src_raw} is uncompressed (there is no {gz.name}) and not the official content: its "
            f"SHA-256 should be {RAW_SHA256['full'][name]}. {remedy}"
        )
    return plain


def _prepare_full(root: str | os.PathLike | None) -> Path:
    target = cache_dir() / "full"
    raw = target / "MNIST" / "raw"
    expected = RAW_SHA256["full"]
    source_root = find_full_root(root)
    todo = _missing_or_damaged(raw, expected)
    if source_root is None:
        damaged = [name for name in todo if (raw / name).exists()]
        if damaged:
            raise _damaged_download(raw / damaged[0], target)
        if todo:
            _download(target, todo)
        return target
    if todo or root is not None:  # a folder named by root= is checked even when the cache is complete
        words = _words()
        remedy = (
            "Copy the official file again (torchvision's mirrors list it), give a folder holding a good copy "
            f"({words['folder']} or MNISTLAB_DATA=DIR), or use {words['sample']}."
        )
        sources = {name: _official_file(source_root / "MNIST" / "raw", name, remedy) for name in expected}
        _fill(raw, {name: sources[name] for name in todo}, expected, remedy)
    return target


def _damaged_download(path: Path, target: Path) -> MNISTDataError:
    words = _words()
    return MNISTDataError(
        f"the cached MNIST file {path} is damaged (not the official content) and no folder with the official "
        f"files was found to rebuild it from. Delete the folder {target} and load again to download the files "
        f"anew (MNISTLAB_CACHE chooses the cache folder; this one comes from {_cache_chosen_by()}), give a folder "
        f"holding the official files ({words['folder']} or MNISTLAB_DATA=DIR), or use {words['sample']}"
    )


def _innermost_reason(exc: BaseException) -> str:
    """One line naming the deepest cause of ``exc`` (its ``__cause__``/``__context__`` chain followed to the end)."""
    seen = {id(exc)}
    while (inner := exc.__cause__ or exc.__context__) is not None and id(inner) not in seen:
        seen.add(id(inner))
        exc = inner
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[-1]}" if lines else type(exc).__name__


def _remove_stale_downloads(target: Path) -> None:
    """Remove the temporary download folders that killed processes left beside ``target``."""
    for folder in target.parent.glob(f"{glob.escape(f'.{target.name}.')}*.download"):
        if files.is_stale(folder, target, ".download"):
            shutil.rmtree(folder, ignore_errors=True)


def _download(target: Path, names: list[str]) -> None:
    """torchvision's download into a temporary folder beside ``target``, then cached like a source folder."""
    try:
        files.check_writable_folder(target.parent)
    except OSError as exc:
        raise _unwritable_cache(exc) from None
    _remove_stale_downloads(target)
    staging = Path(tempfile.mkdtemp(prefix=files.temp_prefix(target), suffix=".download", dir=target.parent))
    try:
        try:
            datasets.MNIST(str(staging), train=True, download=True)
        except Exception as exc:  # URLError, RuntimeError, socket errors, ...
            words = _words()
            raise MNISTDataError(
                "could not download MNIST (offline?). Either copy the four official files "
                f"({', '.join(RESOURCES)}) into a folder DIR/MNIST/raw/ and pass {words['folder']} or set "
                f"MNISTLAB_DATA=DIR, or use the embedded sample: {words['sample']}. "
                f"Download error: {_innermost_reason(exc)}"
            ) from None
        remedy = "The download was damaged; load again."
        staged = staging / "MNIST" / "raw"
        for name in names:
            _verify(staged / f"{name}.gz", RESOURCES[f"{name}.gz"][0], remedy)
        _fill(target / "MNIST" / "raw", {name: staged / f"{name}.gz" for name in names}, RAW_SHA256["full"], remedy)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def prepare(source: str | None = None, root: str | os.PathLike | None = None) -> Path:
    """Make sure the raw files of ``source`` are in the cache, intact; return the root to give torchvision."""
    source = source or default_source()
    if source == "sample":
        if root is not None:
            raise ValueError("root= is only used with source='full'; the sample ships inside mnistlab")
        return _prepare_sample()
    if source == "full":
        return _prepare_full(root)
    raise ValueError(f"unknown MNIST source {source!r}: expected 'sample' or 'full' (with root= for a folder)")


# ---------------------------------------------------------------- public API


def load_mnist(
    train: bool = True,
    transform: Callable | None = None,
    source: str | None = None,
    root: str | os.PathLike | None = None,
) -> MNIST:
    """MNIST as a ``torchvision.datasets.MNIST`` (``.data``, ``.targets``, ``.classes`` work as usual).

    ``source`` is ``"sample"`` (default, offline) or ``"full"`` (``root`` folder, $MNISTLAB_DATA,
    the project's data/, else a download). ``transform`` is applied to each PIL image.
    """
    _check_train(train)
    source = source or default_source()
    data_root = prepare(source, root)
    dataset = MNIST(str(data_root), train=train, transform=transform, download=False)
    dataset.display_root = f"<mnistlab cache>/{source}"
    return dataset


def _check_train(train: object) -> None:
    if not isinstance(train, bool):
        raise TypeError(f"train must be True or False, got {train!r}")


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 images ``(N, 28, 28)`` -> float ``(N, 1, 28, 28)`` in [0, 1], standardised with MNIST_MEAN/MNIST_STD.

    The same numbers as ``ToTensor()`` followed by ``Normalize((MNIST_MEAN,), (MNIST_STD,))``.
    """
    return images.unsqueeze(1).float().div_(255).sub_(MNIST_MEAN).div_(MNIST_STD)


# ---------------------------------------------------------------- MNIST's preprocessing, for digits drawn by hand

#: MNIST's digits were fitted into a box this many pixels wide and high (keeping their aspect ratio), then
#: placed in the 28x28 field with their centre of mass at its centre (LeCun et al.). ``to_mnist_style`` does the same.
MNIST_BOX = 20
#: Where MNIST's digits have their centre of mass: row 14, column 14, counting pixels from 0 (the sample's test
#: digits: 13.99 and 14.01 on average, spread 0.3), at the field's middle. ``to_mnist_style`` moves it there.
MNIST_CENTRE = 14
#: A pixel counts as ink from this brightness on (0-1 scale): the crop of ``to_mnist_style`` keeps these pixels.
INK_LEVEL = 0.1
#: The ink must span at least this share of the image's longer side, across or down: less is a dot, not a digit.
MIN_INK_SPAN = 0.1


def _ink_image(image: object) -> torch.Tensor:
    """``image`` as a float64 tensor ``(H, W)`` in [0, 1], ink bright on dark; a ValueError says what is wrong."""
    try:
        x = image.detach().cpu() if isinstance(image, torch.Tensor) else torch.tensor(image)  # a copy
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(
            f"expected a 2-D array or tensor of pixels, got {type(image).__name__}: {exc} "
            "(a PIL image: pass numpy.asarray(image))"
        ) from None
    if x.dim() != 2:
        hint = ""
        if x.dim() > 2 and sum(size != 1 for size in x.shape) == 2:
            hint = " (a batch or channel axis of size 1? pass image.squeeze())"
        elif x.dim() == 1 and x.numel() == 28 * 28:
            hint = " (a flattened 28x28 image? pass image.reshape(28, 28))"
        raise ValueError(f"expected one 2-D image (height, width), found shape {tuple(x.shape)}{hint}")
    if x.numel() == 0:
        raise ValueError(f"expected a 2-D image with pixels, found shape {tuple(x.shape)}")
    if x.is_complex():
        raise ValueError(f"expected real pixel values, got {x.dtype}")
    x = x.to(torch.float64)
    if not torch.isfinite(x).all():
        raise ValueError("the image holds NaN or infinite values: expected pixels 0-1 or 0-255")
    low, high = x.min().item(), x.max().item()
    if low < 0 or high > 255:
        raise ValueError(
            f"pixels range from {low:g} to {high:g}: expected 0-1 or 0-255 (raw pixels, not normalised ones; "
            "ink bright on a dark background)"
        )
    if high > 1:  # 0-255
        x = x / 255
    border = torch.cat([x[0], x[-1], x[:, 0], x[:, -1]])
    if border.median().item() > 0.5:
        raise ValueError(
            "the image's border is mostly bright: expected bright ink on a dark background, as MNIST has it; "
            "pass 1 - image (0-1) or 255 - image (0-255)"
        )
    return x


def ink_extent(x: torch.Tensor) -> tuple[int, int, int, int] | None:
    """``(top, bottom, left, right)`` of the pixels of at least ``INK_LEVEL`` in a 2-D image in [0, 1] (bottom and
    right exclusive, so ``x[top:bottom, left:right]`` is the crop); None when no pixel is ink."""
    ink = x >= INK_LEVEL
    if not ink.any():
        return None
    rows, cols = ink.any(dim=1).nonzero().flatten(), ink.any(dim=0).nonzero().flatten()
    return rows[0].item(), rows[-1].item() + 1, cols[0].item(), cols[-1].item() + 1


def too_little_ink(extent: tuple[int, int, int, int], shape: Sequence[int]) -> bool:
    """Whether ink of this ``ink_extent`` spans less than ``MIN_INK_SPAN`` of the image's longer side (a dot)."""
    top, bottom, left, right = extent
    return max(bottom - top, right - left) < MIN_INK_SPAN * max(shape)


def centre_of_mass(x: torch.Tensor) -> tuple[float, float]:
    """(row, column) of a 2-D image's centre of mass, pixel values as weights, in pixel indices."""
    total = x.sum()
    row = (x.sum(dim=1) * torch.arange(x.shape[0], dtype=x.dtype)).sum() / total
    col = (x.sum(dim=0) * torch.arange(x.shape[1], dtype=x.dtype)).sum() / total
    return row.item(), col.item()


def to_mnist_style(image: object, normalize: bool = True) -> torch.Tensor:
    """Preprocess one digit as MNIST's were: crop, fit into 20x20, centre by centre of mass in 28x28, normalise.

    ``image``: one 2-D array or tensor ``(height, width)`` of any size (a drawing pad's canvas, a photo cut to
    one digit), pixel values 0-1 or 0-255 (read as 0-255 when any value is above 1), **ink bright on a dark
    background** like MNIST's. Steps, as LeCun et al. describe MNIST's own:

    1. crop to the ink: the smallest rectangle holding every pixel of at least ``INK_LEVEL`` (0-1 scale);
    2. scale it, keeping its aspect ratio, so that its longer side is ``MNIST_BOX`` (20) pixels, anti-aliased;
    3. paste it into a black 28x28 field so that its centre of mass (pixel values as weights) lands on pixel
       (``MNIST_CENTRE``, ``MNIST_CENTRE``), to the nearest pixel (shifted less if the box would leave the field);
    4. with ``normalize`` (the default), standardise with ``MNIST_MEAN`` and ``MNIST_STD`` like ``normalize``.

    Returns a float32 CPU tensor ``(1, 1, 28, 28)``, a batch of one ready for the course's models; with
    ``normalize=False`` its pixels are in [0, 1], for showing. Raises ValueError, with a message that says what
    to do, for: not one 2-D image (wrong shape), values outside 0-255 or not finite, dark ink on a bright
    background, an empty image (no pixel reaches ``INK_LEVEL``), and too little ink (a dot: the ink spans less
    than ``MIN_INK_SPAN`` of the image's longer side).
    """
    x = _ink_image(image)
    extent = ink_extent(x)
    if extent is None:
        raise ValueError(
            f"the image is empty: no pixel reaches the ink level {INK_LEVEL} (0-1 scale); draw a digit first"
        )
    top, bottom, left, right = extent
    height, width = bottom - top, right - left
    if too_little_ink(extent, x.shape):
        raise ValueError(
            f"too little ink: it spans {height}x{width} of the image's {x.shape[0]}x{x.shape[1]} pixels (a dot?); "
            f"a digit should span at least {MIN_INK_SPAN:.0%} of the image's height or width"
        )
    crop = x[top:bottom, left:right]
    scale = MNIST_BOX / max(height, width)
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    box = torch.nn.functional.interpolate(
        crop[None, None], size=size, mode="bilinear", antialias=True, align_corners=False
    )[0, 0].clamp_(0, 1)
    com_row, com_col = centre_of_mass(box)  # moved to MNIST_CENTRE
    row = min(max(math.floor(MNIST_CENTRE - com_row + 0.5), 0), 28 - size[0])
    col = min(max(math.floor(MNIST_CENTRE - com_col + 0.5), 0), 28 - size[1])
    field = torch.zeros(28, 28, dtype=torch.float64)
    field[row : row + size[0], col : col + size[1]] = box
    if normalize:
        field = (field - MNIST_MEAN) / MNIST_STD
    return field.to(torch.float32).view(1, 1, 28, 28)


@functools.lru_cache(maxsize=4)
def _tensors(train: bool, source: str, root: str | None) -> tuple[torch.Tensor, torch.Tensor]:
    dataset = load_mnist(train=train, source=source, root=root)
    return normalize(dataset.data), dataset.targets.long()


def mnist_tensors(
    train: bool = True, source: str | None = None, root: str | os.PathLike | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """All of a split as normalised float images ``(N, 1, 28, 28)`` and int64 labels ``(N,)``.

    The tensors are cached per process and shared: do not modify them in place.
    """
    _check_train(train)  # before the cache below: it would take "test" for True
    return _tensors(train, source or default_source(), None if root is None else str(root))


def iterate_batches(
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    shuffle: bool = True,
    seed: int = 0,
    rank: int = 0,
    world_size: int = 1,
    generator: torch.Generator | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(x, y)`` mini-batches of in-memory tensors, shuffled by index with a seeded generator.

    Pass the same ``generator`` every epoch for a new order each epoch (its state is what a
    checkpoint saves); otherwise the order is fixed by ``seed``. With ``world_size > 1`` every
    rank shuffles identically and takes every ``world_size``-th index from ``rank`` on; the
    tail that does not divide evenly is dropped so all ranks take the same number of steps.
    """
    if len(x) != len(y):
        raise ValueError(f"x and y differ in length: {len(x)} images, {len(y)} labels")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if not (isinstance(world_size, int) and world_size >= 1 and isinstance(rank, int) and 0 <= rank < world_size):
        raise ValueError(f"need 0 <= rank < world_size, got rank={rank!r}, world_size={world_size!r}")
    n = len(x)
    if shuffle:
        if generator is None:
            generator = torch.Generator().manual_seed(seed)
        order = torch.randperm(n, generator=generator)
    else:
        order = torch.arange(n)
    if world_size > 1:
        order = order[: n - n % world_size][rank::world_size]
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        yield x[idx], y[idx]
