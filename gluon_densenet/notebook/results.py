"""Where the exercise chapters keep their numbers.

A full run writes ``notebooks/results/<name>`` (committed, what the prose refers to); a
smoke run writes ``notebooks/runs/<name>`` (git-ignored), so CI never overwrites the
committed figures. Paths are relative to the notebook's directory by default. Files are
written with :func:`gluon_densenet.files.write_json` (atomic).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..files import read_json, write_json
from .smoke import smoke_mode

__all__ = ["FULL_DIR", "SMOKE_DIR", "load_result", "output_path", "results_path", "write_json"]

FULL_DIR = "results"
SMOKE_DIR = "runs"


def output_path(name: str, root: str | Path = ".", smoke: bool | None = None) -> Path:
    """Where this run should write ``name``: ``runs/`` in smoke mode, else ``results/``."""
    smoke = smoke_mode() if smoke is None else smoke
    return Path(root) / (SMOKE_DIR if smoke else FULL_DIR) / name


def results_path(name: str, root: str | Path = ".") -> Path:
    """The committed full-run file ``results/<name>`` (which may not exist yet)."""
    return Path(root) / FULL_DIR / name


def load_result(path: str | Path) -> Any | None:
    """The JSON at ``path``, or ``None`` if there is no such file (no full run yet)."""
    return read_json(path) if Path(path).exists() else None
