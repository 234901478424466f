"""Writing files safely: all or nothing, with the permissions of an ordinary file, no litter left behind.

Used for checkpoints (``checkpoint``) and the MNIST cache (``data``). Three rules:

* **Atomic.** A file is written under a temporary name in its own folder, flushed to disk, then renamed
  over the target with ``os.replace``: a reader (or a crash) sees the old file or the new one, never half.
* **Permissions follow the umask**, as for a file made with ``open``: ``tempfile.mkstemp`` creates its file
  0600, so without a ``chmod`` a cache shared by a class (one folder, many users) could not be read.
* **No stale temporaries.** A process killed mid-write (SIGKILL, a power cut) leaves its temporary file.
  Temporary names carry the host and process id that wrote them; the next write or read of the same
  target removes those whose process no longer runs on this host, and those older than ``STALE_AFTER_S``
  (other hosts sharing the folder, files from before this naming). A live writer's file is never removed.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["STALE_AFTER_S", "atomic_file", "check_writable_folder", "clean_stale_temporaries", "current_umask",
           "describe_os_error", "is_stale", "temp_prefix"]

#: A temporary file whose writer cannot be checked (another host, an old name) is stale after this long.
STALE_AFTER_S = 6 * 3600

_umask_lock = threading.Lock()


def current_umask() -> int:
    """The process's umask (read from /proc on Linux, else set and restored under a lock)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _umask_lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _host() -> str:
    """This host's name, reduced to characters that are safe in a file name."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"


def _prefix(target: Path) -> str:
    return f".{target.name}."


def temp_prefix(target: str | os.PathLike) -> str:
    """The start of every temporary file name written for ``target`` (``.NAME.HOST.PID.``)."""
    target = Path(target)
    return f"{_prefix(target)}{_host()}.{os.getpid()}."


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):  # exists but belongs to someone else, or cannot tell: keep the file
        return True
    return True


def is_stale(temp: Path, target: Path, suffix: str, now: float | None = None) -> bool:
    """True when ``temp``, a temporary file of ``target``, was left by a writer that is gone."""
    name = temp.name
    if not (name.startswith(_prefix(target)) and name.endswith(suffix)):
        return False
    try:
        age = (now if now is not None else time.time()) - temp.stat().st_mtime
    except OSError:  # already gone
        return False
    middle = name[len(_prefix(target)) : len(name) - len(suffix)]
    parts = middle.split(".")
    if len(parts) >= 3 and parts[0] == _host() and parts[1].isdigit():
        pid = int(parts[1])
        return pid != os.getpid() and not _pid_alive(pid)
    return age > STALE_AFTER_S  # another host's, or a name without host and pid: judge by age alone


def clean_stale_temporaries(target: str | os.PathLike, suffix: str = ".tmp") -> list[Path]:
    """Remove the stale temporary files of ``target`` in its folder; return what was removed."""
    target = Path(target)
    removed = []
    try:
        candidates = list(target.parent.glob(f"{glob.escape(_prefix(target))}*{glob.escape(suffix)}"))
    except OSError:
        return removed
    for temp in candidates:
        if is_stale(temp, target, suffix):
            with contextlib.suppress(OSError):  # gone already, not ours, or a read-only file system
                temp.unlink()
                removed.append(temp)
    return removed


@contextlib.contextmanager
def atomic_file(target: str | os.PathLike, suffix: str = ".tmp", mode: int | None = None) -> Iterator[BinaryIO]:
    """Write ``target`` all or nothing: yields a binary file handle; on success it is flushed, synced,
    given ordinary permissions (``0o666 & ~umask`` unless ``mode``) and renamed over ``target``.

    On any error (or KeyboardInterrupt) the temporary file is removed and ``target`` is left as it was.
    Stale temporaries of ``target`` from killed writers are removed first.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(target, suffix)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(target), suffix=suffix, dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode if mode is not None else 0o666 & ~current_umask())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_writable_folder(folder: str | os.PathLike) -> Path:
    """Create ``folder`` if needed and prove that a file can be written there; raise OSError if not.

    The OSError's message says what is wrong (a file in the way, read-only, no permission).
    """
    folder = Path(folder)
    for parent in [folder, *folder.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(f"{parent} is a file, not a folder")
            break
    folder.mkdir(parents=True, exist_ok=True)
    fd, probe = tempfile.mkstemp(prefix=temp_prefix(folder / "write-check"), suffix=".tmp", dir=folder)
    os.close(fd)
    os.unlink(probe)
    return folder


def describe_os_error(exc: OSError) -> str:
    """A short reason for an OSError: 'read-only file system', 'no space left on device', ..."""
    if exc.errno is not None:
        return os.strerror(exc.errno).lower()
    return str(exc) or type(exc).__name__
