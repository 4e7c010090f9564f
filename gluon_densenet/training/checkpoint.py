"""Crash-safe training checkpoints: parameters, trainer state and history.

A checkpoint directory holds, per saved epoch ``N``::

    epoch-000N.params        net.save_parameters(...)
    epoch-000N.states        trainer.save_states(...)   (optimizer + momentum)
    epoch-000N.history.json  the training history so far
    checkpoint.json          {"epoch": N, ...} -- written LAST

Every file is written to a temporary name and moved into place with
``os.replace`` (atomic on POSIX and Windows). Because the per-epoch files carry
the epoch number and ``checkpoint.json`` is replaced only after they are all
complete, a crash at any moment during :func:`save_checkpoint` leaves the
previous checkpoint intact and loadable. Files of older epochs are deleted only
after the new ``checkpoint.json`` is in place.
"""
from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import mxnet as mx
from mxnet import gluon

from ..files import TMP_MARK, atomic_write, read_json, write_json

__all__ = ["CheckpointError", "CheckpointInfo", "META_FILE", "checkpoint_paths",
           "load_checkpoint", "save_checkpoint"]

META_FILE = "checkpoint.json"
FORMAT_VERSION = 1
_EPOCH_FILE = re.compile(r"^epoch-(\d+)\.(params|states|history\.json)$")

PathLike = str | os.PathLike


class CheckpointError(ValueError):
    """A checkpoint directory holds files that cannot be loaded into this run."""


@dataclass(frozen=True)
class CheckpointInfo:
    """What :func:`load_checkpoint` restored."""

    epoch: int
    """Number of completed epochs stored in the checkpoint (1-based)."""
    history: dict[str, Any] | None
    """The history dict saved with the checkpoint (``None`` if none was saved)."""
    directory: Path


def checkpoint_paths(directory: PathLike, epoch: int) -> dict[str, Path]:
    """Paths of the files belonging to the checkpoint of ``epoch``."""
    d = Path(directory)
    stem = f"epoch-{epoch:04d}"
    return {
        "params": d / f"{stem}.params",
        "states": d / f"{stem}.states",
        "history": d / f"{stem}.history.json",
    }


def _read_meta(directory: Path) -> dict[str, Any] | None:
    meta_path = directory / META_FILE
    if not meta_path.is_file():
        return None
    meta = read_json(meta_path)
    if meta.get("format") != FORMAT_VERSION:
        raise ValueError(
            f"{meta_path}: unsupported checkpoint format {meta.get('format')!r} "
            f"(expected {FORMAT_VERSION})"
        )
    return meta


def save_checkpoint(
    directory: PathLike,
    epoch: int,
    net: gluon.Block,
    trainer: gluon.Trainer | None = None,
    history: dict[str, Any] | None = None,
    *,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Atomically save the state after ``epoch`` completed epochs.

    Writes the parameters, the trainer state (if ``trainer`` is given) and
    the history dict (if given); ``checkpoint.json`` is replaced last, then the
    files of older epochs are removed. ``extra`` is stored in the metadata.
    Returns the path of ``checkpoint.json``.
    """
    if epoch < 1:
        raise ValueError(f"epoch must be >= 1, got {epoch}")
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    paths = checkpoint_paths(d, epoch)

    atomic_write(paths["params"], net.save_parameters)
    files = {"params": paths["params"].name}
    if trainer is not None:
        atomic_write(paths["states"], trainer.save_states)
        files["states"] = paths["states"].name
    if history is not None:
        write_json(paths["history"], history)
        files["history"] = paths["history"].name

    meta = {
        "format": FORMAT_VERSION,
        "epoch": int(epoch),
        "files": files,
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "extra": extra or {},
    }
    meta_path = d / META_FILE
    # The commit point: until this rename the previous checkpoint is the valid one.
    write_json(meta_path, meta)
    _remove_stale(d, keep=epoch)
    return meta_path


def _remove_stale(directory: Path, keep: int) -> None:
    """Delete the files of epochs other than ``keep`` and leftover temp files."""
    for p in directory.iterdir():
        m = _EPOCH_FILE.match(p.name)
        if (m and int(m.group(1)) != keep) or (
            TMP_MARK in p.name and p.name.split(TMP_MARK)[0].startswith(("epoch-", META_FILE))
        ):
            try:
                p.unlink()
            except FileNotFoundError:
                pass


def load_checkpoint(
    directory: PathLike,
    net: gluon.Block,
    trainer: gluon.Trainer | None = None,
    ctx: mx.Context | Sequence[mx.Context] | None = None,
) -> CheckpointInfo | None:
    """Restore the last complete checkpoint in ``directory`` into ``net``
    (and ``trainer``, if given and its state was saved).

    Parameters are placed on ``ctx`` (a Context or list; default cpu).
    Returns ``None`` (and changes nothing) when there is no checkpoint.
    """
    d = Path(directory)
    if not d.is_dir():
        return None
    meta = _read_meta(d)
    if meta is None:
        return None
    files = meta["files"]
    if ctx is None:
        ctx = mx.cpu()
    net.load_parameters(str(d / files["params"]), ctx=ctx)
    if trainer is not None and "states" in files:
        trainer.load_states(str(d / files["states"]))
    history = None
    if "history" in files:
        history = read_json(d / files["history"])
    return CheckpointInfo(epoch=int(meta["epoch"]), history=history, directory=d)
