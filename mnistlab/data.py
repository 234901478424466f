"""MNIST, real and offline by default.

Taught in notebook 06 (手写数字识别实战). Three sources:

* ``"sample"`` (default): 6,000 training and 2,000 test images of the real MNIST,
  shipped inside this package (see ``sample/manifest.json``). Never touches the network.
* ``"full"``: the four official ``.gz`` files from a folder (``root``, else
  ``$MNISTLAB_DATA``, else the project's ``data/``), each holding ``MNIST/raw/``.
  Their MD5s are checked against torchvision's list. Without such a folder,
  torchvision's download is tried.
* ``$MNISTLAB_SOURCE=full`` switches every default to the full set.

Files are only ever written to the cache (``$MNISTLAB_CACHE``, else
``$XDG_CACHE_HOME/mnistlab``, else ``~/.cache/mnistlab``), atomically, so several
processes may load at once. Source folders are read, never written.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torchvision import datasets

#: Mean and standard deviation of the 60,000 MNIST training images (pixels scaled to [0, 1]).
#: Notebook 06 recomputes them. Every helper, model and command normalises with these.
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081

SOURCES = ("sample", "full")
SAMPLE_DIR = Path(__file__).with_name("sample")
PROJECT_DATA = Path(__file__).resolve().parent.parent / "data"

#: The official files, their MD5s (torchvision's list) and the size of each once uncompressed.
RESOURCES: dict[str, tuple[str, int]] = {
    "train-images-idx3-ubyte.gz": ("f68b3c2dcbeaaa9fbdd348bbdeb94873", 47_040_016),
    "train-labels-idx1-ubyte.gz": ("d53e105ee54ea40749a09fcbcd1e9432", 60_008),
    "t10k-images-idx3-ubyte.gz": ("9fb629c4189551a2d022fa330f9573f3", 7_840_016),
    "t10k-labels-idx1-ubyte.gz": ("ec29112dd5afa0611ce80d1b7f02629c", 10_008),
}


class MNISTDataError(RuntimeError):
    """MNIST files are missing, corrupt or cannot be fetched; the message says what to do."""


class MNIST(datasets.MNIST):
    """torchvision's MNIST whose repr shows where the data came from, not a path of this machine."""

    display_root = "<mnistlab cache>"

    def __repr__(self) -> str:
        return super().__repr__().replace(f"Root location: {self.root}", f"Root location: {self.display_root}")


# ---------------------------------------------------------------- locations


def cache_dir() -> Path:
    """The folder mnistlab writes to: $MNISTLAB_CACHE, else $XDG_CACHE_HOME/mnistlab, else ~/.cache/mnistlab."""
    if os.environ.get("MNISTLAB_CACHE"):
        return Path(os.environ["MNISTLAB_CACHE"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "mnistlab"
    return Path.home() / ".cache" / "mnistlab"


def default_source() -> str:
    """The source used when none is given: $MNISTLAB_SOURCE, else ``"sample"``."""
    source = os.environ.get("MNISTLAB_SOURCE", "sample") or "sample"
    if source not in SOURCES:
        raise ValueError(f"$MNISTLAB_SOURCE is {source!r}; expected one of {SOURCES}")
    return source


def find_full_root(root: str | os.PathLike | None = None) -> Path | None:
    """The folder holding ``MNIST/raw/*.gz``: ``root``, else $MNISTLAB_DATA, else the project's data/."""
    if root is not None:
        root = Path(root).expanduser()
        if not (root / "MNIST" / "raw").is_dir():
            raise MNISTDataError(
                f"{root} has no MNIST/raw/ folder: expected {root}/MNIST/raw/ holding the four official "
                f"files ({', '.join(RESOURCES)}); or use source='sample'"
            )
        return root
    for candidate in (os.environ.get("MNISTLAB_DATA"), PROJECT_DATA):
        if candidate and (Path(candidate).expanduser() / "MNIST" / "raw").is_dir():
            return Path(candidate).expanduser()
    return None


# ---------------------------------------------------------------- file helpers


def md5sum(path: Path) -> str:
    """Hex MD5 of a file, read in 1 MiB chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _atomic_gunzip(src: Path, dst: Path) -> None:
    """Uncompress ``src`` to ``dst`` through a temporary file in the same folder, then rename."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".part", dir=dst.parent)
    try:
        with os.fdopen(fd, "wb") as out, gzip.open(src, "rb") as inp:
            shutil.copyfileobj(inp, out, 1 << 20)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _verify(path: Path, expected_md5: str, remedy: str) -> None:
    if not path.is_file():
        raise MNISTDataError(f"missing MNIST file {path.name} in {path.parent}: {remedy}")
    found = md5sum(path)
    if found != expected_md5:
        raise MNISTDataError(
            f"{path.name} in {path.parent} is corrupt, truncated or not the official file: "
            f"MD5 {found}, expected {expected_md5}. {remedy}"
        )


def _raw_ready(raw: Path, sizes: dict[str, int]) -> bool:
    """True when every uncompressed file is present with its expected size."""
    return all((raw / name).is_file() and (raw / name).stat().st_size == size for name, size in sizes.items())


def _extract(files: dict[str, Path], raw: Path) -> None:
    for gz_name, src in files.items():
        dst = raw / gz_name[:-3]
        _atomic_gunzip(src, dst)


# ---------------------------------------------------------------- sources


@functools.lru_cache(maxsize=1)
def sample_manifest() -> dict:
    """The embedded sample's manifest: provenance, index ranges, MD5s and licence."""
    return json.loads((SAMPLE_DIR / "manifest.json").read_text(encoding="utf-8"))


def _prepare_sample() -> Path:
    manifest = sample_manifest()
    root = cache_dir() / "sample"
    raw = root / "MNIST" / "raw"
    sizes = {name[:-3]: meta["uncompressed_bytes"] for name, meta in manifest["files"].items()}
    if not _raw_ready(raw, sizes):
        remedy = "the mnistlab installation is damaged; reinstall it (pip install -e .)"
        for name, meta in manifest["files"].items():
            _verify(SAMPLE_DIR / name, meta["md5"], remedy)
        _extract({name: SAMPLE_DIR / name for name in manifest["files"]}, raw)
    return root


def _prepare_full(root: str | os.PathLike | None) -> Path:
    target = cache_dir() / "full"
    raw = target / "MNIST" / "raw"
    sizes = {name[:-3]: size for name, (_md5, size) in RESOURCES.items()}
    source_root = find_full_root(root)
    if source_root is None:
        if _raw_ready(raw, sizes):
            return target
        _download(target)
        return target
    src_raw = source_root / "MNIST" / "raw"
    if _raw_ready(raw, sizes) and root is None:
        return target
    remedy = (
        "Copy the official file again (torchvision's mirrors list it), point root= or $MNISTLAB_DATA at a good "
        "copy, or use source='sample'."
    )
    for name, (md5, _size) in RESOURCES.items():
        _verify(src_raw / name, md5, remedy)
    if not _raw_ready(raw, sizes):
        _extract({name: src_raw / name for name in RESOURCES}, raw)
    return target


def _download(target: Path) -> None:
    """torchvision's download into a temporary folder of the cache, renamed into place when complete."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=target.parent))
    try:
        try:
            datasets.MNIST(str(staging), train=True, download=True)
        except Exception as exc:  # URLError, RuntimeError, socket errors, ...
            raise MNISTDataError(
                "could not download MNIST (offline?). Either copy the four official files "
                f"({', '.join(RESOURCES)}) into a folder DIR/MNIST/raw/ and pass root=DIR or set "
                "MNISTLAB_DATA=DIR, or use the embedded sample: source='sample'. "
                f"Download error: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}"
            ) from None
        target.mkdir(parents=True, exist_ok=True)
        (target / "MNIST").mkdir(exist_ok=True)
        raw = target / "MNIST" / "raw"
        for path in (staging / "MNIST" / "raw").iterdir():
            if path.suffix != ".gz":
                raw.mkdir(exist_ok=True)
                os.replace(path, raw / path.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def prepare(source: str | None = None, root: str | os.PathLike | None = None) -> Path:
    """Make sure the raw files of ``source`` are in the cache; return the root to give torchvision."""
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
    if not isinstance(train, bool):
        raise TypeError(f"train must be True or False, got {train!r}")
    source = source or default_source()
    data_root = prepare(source, root)
    dataset = MNIST(str(data_root), train=train, transform=transform, download=False)
    dataset.display_root = f"<mnistlab cache>/{source}"
    return dataset


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 images ``(N, 28, 28)`` -> float ``(N, 1, 28, 28)`` in [0, 1], standardised with MNIST_MEAN/MNIST_STD.

    The same numbers as ``ToTensor()`` followed by ``Normalize((MNIST_MEAN,), (MNIST_STD,))``.
    """
    return images.unsqueeze(1).float().div_(255).sub_(MNIST_MEAN).div_(MNIST_STD)


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
    return _tensors(bool(train), source or default_source(), None if root is None else str(root))


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
