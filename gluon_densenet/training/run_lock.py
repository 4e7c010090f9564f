"""One run per directory: an OS file lock on ``DIR/.lock`` while a run writes into ``DIR``.

The lock is ``fcntl.flock`` on an open file, so the kernel drops it when the process ends,
by a crash or ``kill -9`` too: a lock file left behind by a dead run is no lock, and no
``--force`` is needed. The file names the process holding it, for the error of a second run.
"""
from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:                  # Windows: runs are not locked there
    fcntl = None

__all__ = ["LOCK_FILE", "RunDirectoryInUse", "lock_holder", "run_directory_lock"]

LOCK_FILE = ".lock"
_COMMAND_CHARS = 160


class RunDirectoryInUse(RuntimeError):
    """Another process holds the lock of a run directory.

    Attributes:
        directory: the run directory.
        holder: who holds it, e.g. ``"process 4242 (gluon-densenet train --out runs/x)"``.
    """

    def __init__(self, directory: str | os.PathLike, holder: str):
        """Build the one-line message.

        Args:
            directory: the run directory.
            holder: the holding process, as :func:`lock_holder` describes it.
        """
        self.directory = Path(directory)
        self.holder = holder
        super().__init__(f"the run directory {self.directory} is in use by {holder}; wait "
                         "for that run to end, or write this run into another directory")


def _this_command() -> str:
    argv = [os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python",
            *sys.argv[1:]]
    text = shlex.join(argv)
    return text if len(text) <= _COMMAND_CHARS else text[:_COMMAND_CHARS - 3] + "..."


def lock_holder(directory: str | os.PathLike) -> str:
    """Who the lock file of ``directory`` names: ``"process PID (COMMAND)"``.

    Args:
        directory: a run directory.

    Returns:
        The description; ``"another process"`` when the file is missing or not yet written.
    """
    try:
        info = json.loads((Path(directory) / LOCK_FILE).read_text(encoding="utf-8"))
        return f"process {int(info['pid'])} ({info['command']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def _try_lock(path: Path) -> int | None:
    """An open descriptor of ``path`` holding its exclusive lock, or ``None`` if held.

    A holder deletes the file when it lets go; a descriptor opened just before that holds a
    lock on a deleted file, so the lock counts only while ``path`` is still that file.
    """
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except OSError:
            os.close(fd)
            raise
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


@contextmanager
def run_directory_lock(directory: str | os.PathLike) -> Iterator[Path]:
    """Hold the lock of a run directory, creating the directory if need be.

    On exit the lock file is deleted, and so is the directory if this call created it and
    nothing else was written into it (a run refused after the lock leaves no trace).

    Args:
        directory: the run directory.

    Yields:
        The directory, as a ``Path``.

    Raises:
        RunDirectoryInUse: another process (or another lock in this one) holds it.
    """
    directory = Path(directory)
    created = not directory.exists()
    directory.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        yield directory
        return
    path = directory / LOCK_FILE
    fd = _try_lock(path)
    if fd is None:
        if created:
            _remove_if_empty(directory)
        raise RunDirectoryInUse(directory, lock_holder(directory))
    try:
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "command": _this_command()}).encode())
        yield directory
    finally:
        try:
            path.unlink()                 # while still locked: nobody can take a stale file
        except FileNotFoundError:
            pass
        os.close(fd)
        if created:
            _remove_if_empty(directory)


def _remove_if_empty(directory: Path) -> None:
    try:
        directory.rmdir()
    except OSError:
        pass
