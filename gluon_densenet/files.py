"""Writing files so that nothing is ever half-written: a temporary file beside the target,
flushed to disk, then renamed over it (``os.replace`` is atomic on POSIX and Windows)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

__all__ = ["atomic_write", "read_json", "write_json"]

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
