"""Build the embedded MNIST sample shipped in mnistlab/sample/ from the official files.

Usage: python scripts/build_sample.py [DIR]   (DIR holds MNIST/raw/*.gz; default: where mnistlab finds the
full set, ``mnistlab.data.find_full_root``: $MNISTLAB_DATA, the project's data/, then ../shared/data)

Takes training images 0-5999 and test images 0-999 plus 5000-5999 (the test set's first
5,000 are reportedly the harder half, written by other people than the second half), in
official order, and writes them as IDX files gzipped with a fixed timestamp, so the build
is byte-for-byte repeatable. The MD5s of the official inputs are checked first.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import struct
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from mnistlab.data import RESOURCES, MNISTDataError, find_full_root, md5sum  # noqa: E402

OUT = REPO / "mnistlab" / "sample"
#: Where the maintainers keep the full set, beside the project (tests/conftest.py looks there too).
SHARED_DATA = REPO.parent / "shared" / "data"
TRAIN = [(0, 6000)]
TEST = [(0, 1000), (5000, 6000)]


def read_idx(path: Path) -> tuple[tuple[int, ...], bytes]:
    raw = gzip.decompress(path.read_bytes())
    magic, = struct.unpack(">I", raw[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    return dims, raw[4 + 4 * ndim :]


def write_idx(path: Path, magic: int, dims: tuple[int, ...], payload: bytes) -> dict:
    raw = struct.pack(">I", magic) + struct.pack(">" + "I" * len(dims), *dims) + payload
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(raw)
    path.write_bytes(buf.getvalue())
    return {"md5": hashlib.md5(buf.getvalue()).hexdigest(), "uncompressed_bytes": len(raw), "count": dims[0]}


def subset(src: Path, ranges: list[tuple[int, int]], dst: Path) -> dict:
    dims, payload = read_idx(src)
    item = 1
    for d in dims[1:]:
        item *= d
    parts = b"".join(payload[a * item : b * item] for a, b in ranges)
    magic = 0x00000803 if len(dims) == 3 else 0x00000801
    return write_idx(dst, magic, (sum(b - a for a, b in ranges), *dims[1:]), parts)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        root = find_full_root(argv[0] if argv else None, also=[SHARED_DATA])
    except MNISTDataError as exc:
        print(exc)
        return 1
    if root is None:
        print(f"no full MNIST found: give DIR (holding MNIST/raw/*.gz), set MNISTLAB_DATA=DIR, or use {SHARED_DATA}")
        return 1
    src_root = root / "MNIST" / "raw"
    for name, (md5, _size) in RESOURCES.items():
        if not (src_root / name).is_file():
            print(f"{name} is missing in {src_root}: the sample is cut from the official .gz files")
            return 1
        found = md5sum(src_root / name)
        if found != md5:
            print(f"{name}: MD5 {found}, expected {md5}: not the official file")
            return 1
    OUT.mkdir(parents=True, exist_ok=True)
    files = {}
    for name in RESOURCES:
        ranges = TRAIN if name.startswith("train") else TEST
        files[name] = subset(src_root / name, ranges, OUT / name)
        files[name]["source_md5"] = RESOURCES[name][0]
        files[name]["index_ranges"] = [list(r) for r in ranges]
    manifest = {
        "name": "mnistlab MNIST sample",
        "provenance": "Subset of the original MNIST database (Y. LeCun, C. Cortes, C. J. C. Burges), "
        "cut from the four official .gz files whose MD5s match torchvision.datasets.MNIST.resources.",
        "train": "training images 0-5999 (6,000), official order",
        "test": "test images 0-999 and 5000-5999 (2,000), official order; both halves of the test set",
        "licence": "CC BY-SA 3.0 (as MNIST is distributed); https://creativecommons.org/licenses/by-sa/3.0/",
        "built_by": "scripts/build_sample.py",
        "files": files,
    }
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    for name, meta in files.items():
        print(f"{name}: {meta['count']} items, md5 {meta['md5']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
