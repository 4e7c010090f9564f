"""Where the exercise notebooks keep their numbers.

A full run writes ``notebooks/results/<name>`` (committed, what the prose refers to);
a smoke run writes ``notebooks/runs/<name>`` (git-ignored), so CI never overwrites
the committed figures. Paths are relative to the notebook's directory by default.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .runmode import smoke_mode

__all__ = ["FULL_DIR", "SMOKE_DIR", "load_json", "output_path", "results_path", "save_json"]

FULL_DIR = "results"
SMOKE_DIR = "runs"


def output_path(name: str, root: str | Path = ".", smoke: bool | None = None) -> Path:
    """Where this run should write ``name``: ``runs/`` in smoke mode, else ``results/``."""
    smoke = smoke_mode() if smoke is None else smoke
    return Path(root) / (SMOKE_DIR if smoke else FULL_DIR) / name


def results_path(name: str, root: str | Path = ".") -> Path:
    """The committed full-run file ``results/<name>`` (which may not exist yet)."""
    return Path(root) / FULL_DIR / name


def save_json(obj: Any, path: str | Path) -> Path:
    """Write ``obj`` as indented JSON, creating parent directories."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(obj, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    return p


def load_json(path: str | Path) -> Any | None:
    """The JSON at ``path``, or ``None`` if there is no such file."""
    p = Path(path)
    return json.loads(p.read_text(encoding="utf-8")) if p.exists() else None
