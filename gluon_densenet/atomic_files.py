"""Writing files so that nothing is ever half-written: a temporary file beside the target,
flushed to disk, then renamed over it (``os.replace`` is atomic on POSIX and Windows)."""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["atomic_write", "read_json", "unwritable_reason", "write_json"]

TMP_MARK = ".tmp-"


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)``, flush the file to disk, then rename it to ``path``.

    Parent directories are created. If ``write`` fails, the temporary file is removed and
    ``path`` keeps its previous content (or stays absent). Returns ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}{TMP_MARK}{os.getpid()}")
    try:
        write(str(tmp))
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_json(path: str | os.PathLike, obj: Any, indent: int = 1) -> Path:
    """Write ``obj`` as indented JSON (with a final newline) atomically; returns the path."""
    text = json.dumps(obj, indent=indent) + "\n"
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def read_json(path: str | os.PathLike) -> Any:
    """The JSON content of ``path``."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def unwritable_reason(directory: str | os.PathLike) -> str | None:
    """Why files could not be written into ``directory`` (created if need be), or ``None``.

    Nothing is left behind: the nearest existing ancestor of ``directory`` (or the
    directory itself) must be a directory that accepts a temporary test file, which is
    deleted at once. This catches a path under a regular file, a read-only directory and
    a read-only file system before any work starts.

    Args:
        directory: the directory that a run will create (if missing) and write into.

    Returns:
        ``None`` if ``directory`` can be created and written, else a short phrase naming
        the obstacle, e.g. ``"/data/x is not writable (Permission denied)"``.
    """
    target = Path(directory).expanduser().absolute()
    existing = target
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        if existing == target:
            return f"{existing} exists and is not a directory"
        return f"{existing} is a file, so no directory can be made under it"
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as err:
        return f"{existing} is not writable ({err.strerror or err})"
    return None
