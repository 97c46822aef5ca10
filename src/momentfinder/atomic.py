"""Crash-safe file writes: a reader sees the old file or the new one, never half of one.

A bottom-layer utility (standard library only) that every stage may use: feature files,
manifests, checkpoints, calibrations, submissions, training logs. Every such file goes through :func:`write_atomic` (a uniquely named temporary file
in the same directory, written, fsynced, then renamed over the target, and the directory
fsynced), so parallel writers never share a temporary file and a process killed at any point
leaves the old file intact. Temporary files start with ``.`` and end in ``.tmp``; readers skip
such names, so a file left by ``kill -9`` is never trusted. :func:`locked` serialises
read-modify-write cycles (a manifest merge) between processes.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator

try:  # POSIX; elsewhere writers are not serialised (renames stay atomic)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

TEMP_SUFFIX = ".tmp"


def write_atomic(path: str | os.PathLike, data: bytes, suffix: str = TEMP_SUFFIX) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory, fsync and a rename."""
    with replacing(path, suffix) as tmp:
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_TRUNC), "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


@contextlib.contextmanager
def replacing(path: str | os.PathLike, suffix: str = TEMP_SUFFIX) -> Iterator[str]:
    """A uniquely named temporary path beside ``path`` for the caller to write (and fsync) the new
    file into: renamed over ``path`` when the block ends without error, removed when it fails; the
    directory is fsynced after the rename. For writers that stream a large file themselves."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".", suffix=suffix)
    os.close(fd)
    try:
        os.chmod(tmp, _mode_for(path))  # mkstemp's 0600 would hide a shared directory's files
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    fsync_dir(folder)


def _mode_for(path: str) -> int:
    """The permissions a replaced file keeps, else what ``open`` would give a new one (0666 & ~umask)."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


def _umask() -> int:
    global _UMASK
    if _UMASK is None:
        _UMASK = os.umask(0o022)  # reading the umask means setting it: put it straight back
        os.umask(_UMASK)
    return _UMASK


_UMASK: int | None = None


def write_durable(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to a private file (a staging area nobody reads) and fsync it."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def fsync_dir(folder: str | os.PathLike) -> None:
    """Make the renames in ``folder`` durable (best effort: not every platform can open a directory)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def is_temporary(name: str) -> bool:
    """Whether a file name is one of the store's temporary or private files (never data)."""
    return name.startswith(".")


def lock_fd(fd: int, blocking: bool = True) -> bool:
    """Take an exclusive ``flock`` on an open file; False when ``blocking=False`` and another holds it."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


@contextlib.contextmanager
def locked(lock_path: str | os.PathLike, blocking: bool = True) -> Iterator[bool]:
    """Hold an exclusive ``flock`` on ``lock_path`` (created when missing) for the block.

    Yields True when the lock is held; with ``blocking=False`` yields False instead of waiting
    when another process holds it. The kernel releases the lock when its holder dies (kill -9).
    """
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        yield lock_fd(fd, blocking)
    finally:
        os.close(fd)  # closing the last descriptor releases the lock
