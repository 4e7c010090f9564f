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

import os
import pickle
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mxnet as mx
from mxnet import gluon

from ..atomic_files import TMP_MARK, atomic_write, read_json, write_json
from ..models.params import params_by_name
from .history import History

__all__ = ["CheckpointError", "CheckpointInfo", "META_FILE", "checkpoint_epoch",
           "checkpoint_paths", "load_checkpoint", "save_checkpoint"]

META_FILE = "checkpoint.json"
FORMAT_VERSION = 1
_EPOCH_FILE = re.compile(r"^epoch-(\d+)\.(params|states|history\.json)$")

PathLike = str | os.PathLike


class CheckpointError(ValueError):
    """A checkpoint directory holds files that cannot be loaded into this run.

    The message is one line: what is wrong and what to do (delete the directory, or
    start over with ``resume=False`` / ``--no-resume``).

    Attributes:
        directory: the checkpoint directory.
        problem: what is wrong with it, a short phrase without the advice.
    """

    def __init__(self, directory: PathLike, problem: str):
        """Build the one-line message.

        Args:
            directory: the checkpoint directory.
            problem: what is wrong, e.g. ``"epoch-0002.params is damaged"``.
        """
        self.directory = Path(directory)
        self.problem = _one_line(problem)
        super().__init__(
            f"cannot resume from the checkpoint in {self.directory}: {self.problem}; delete "
            f"{self.directory} or start over with resume=False (--no-resume on the command line)"
        )


def _one_line(text: str | BaseException, limit: int = 200) -> str:
    """The first informative line of a message, cut to ``limit`` characters.

    Args:
        text: a message or an exception (MXNet's messages carry a C++ traceback).
        limit: the longest result.

    Returns:
        One line (an exception without a message gives its class name).
    """
    if isinstance(text, BaseException) and not str(text).strip():
        return type(text).__name__
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    line = next((ln for ln in lines if not ln.startswith(("Traceback", "File "))), "")
    line = line or (lines[0] if lines else "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


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
    """The checked content of ``directory/checkpoint.json``.

    Args:
        directory: a checkpoint directory.

    Returns:
        The metadata dict, or ``None`` when there is no ``checkpoint.json``.

    Raises:
        CheckpointError: the file cannot be read, is not JSON, has another format
            version, or lacks a valid ``epoch`` or ``files`` entry.
    """
    meta_path = directory / META_FILE
    if not meta_path.is_file():
        return None
    try:
        meta = read_json(meta_path)
    except (OSError, ValueError) as err:        # JSONDecodeError and UnicodeDecodeError too
        raise CheckpointError(directory, f"{META_FILE} cannot be read ({_one_line(err)})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(directory, f"{META_FILE} does not hold a JSON object")
    if meta.get("format") != FORMAT_VERSION:
        raise CheckpointError(directory, f"{META_FILE} has format {meta.get('format')!r}, "
                                         f"this version reads format {FORMAT_VERSION}")
    epoch = meta.get("epoch")
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 1:
        raise CheckpointError(directory, f"{META_FILE} has no valid epoch (found {epoch!r})")
    files = meta.get("files")
    if (not isinstance(files, dict) or not isinstance(files.get("params"), str)
            or not all(isinstance(v, str) and v and Path(v).name == v for v in files.values())):
        raise CheckpointError(directory, f"{META_FILE} has no valid list of files")
    return meta


def checkpoint_epoch(directory: PathLike) -> int | None:
    """How many epochs the checkpoint in ``directory`` holds, reading only its metadata.

    Cheap enough to call before any work starts (the command line does, to say what a
    resumed run will do); :func:`load_checkpoint` checks the other files.

    Args:
        directory: a checkpoint directory (it need not exist).

    Returns:
        The number of completed epochs, or ``None`` when there is no checkpoint.

    Raises:
        CheckpointError: ``checkpoint.json`` is unreadable or garbled.
    """
    d = Path(directory)
    meta = _read_meta(d) if d.is_dir() else None
    return None if meta is None else int(meta["epoch"])


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
    """Restore the last complete checkpoint in ``directory`` into ``net`` (and ``trainer``,
    if given and its state was saved).

    Every file is read and checked before anything is changed: the metadata, the
    parameters (names and shapes against ``net``), the trainer state (that it unpickles
    and was saved by the same kind of optimizer) and the history. So a damaged checkpoint,
    or one of another network, leaves ``net`` and ``trainer`` as they were.

    Args:
        directory: the checkpoint directory.
        net: receives the saved parameters.
        trainer: receives the saved optimizer state (momentum, update counts), if any.
        ctx: where the parameters are placed: a Context or a list (default ``mx.cpu()``).

    Returns:
        What was restored, or ``None`` (changing nothing) when there is no checkpoint.

    Raises:
        CheckpointError: a file is missing, truncated or garbled, or the checkpoint does
            not fit ``net``/``trainer``; the message names the directory and the way out.
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

    params_path = d / files["params"]
    _check_params(d, params_path, net)
    states_path = None
    if trainer is not None and "states" in files:
        states_path = d / files["states"]
        _check_states(d, states_path, trainer)
    history = None
    if "history" in files:
        history = _read_history(d, d / files["history"])

    try:
        net.load_parameters(str(params_path), ctx=ctx)
    except (mx.base.MXNetError, AssertionError, ValueError, KeyError, OSError) as err:
        raise CheckpointError(d, f"{params_path.name} does not load ({_one_line(err)})") from None
    if states_path is not None:
        try:
            trainer.load_states(str(states_path))
        except (mx.base.MXNetError, AssertionError, ValueError, KeyError, OSError,
                pickle.UnpicklingError, EOFError) as err:
            raise CheckpointError(d, f"{states_path.name} does not load "
                                     f"({_one_line(err)})") from None
    return CheckpointInfo(epoch=int(meta["epoch"]), history=history, directory=d)


def _check_params(directory: Path, path: Path, net: gluon.Block) -> None:
    """Check that ``path`` is a parameter file whose names and shapes fit ``net``.

    Args:
        directory: the checkpoint directory (for the message).
        path: the ``.params`` file.
        net: the network it is to be loaded into.

    Raises:
        CheckpointError: the file is missing or damaged, or holds another network.
    """
    if not path.is_file():
        raise CheckpointError(directory, f"{path.name} is missing")
    try:
        saved = mx.nd.load(str(path))
    except (mx.base.MXNetError, OSError) as err:
        raise CheckpointError(directory, f"{path.name} is damaged: truncated or not an MXNet "
                                         f"parameter file ({_one_line(err)})") from None
    if not isinstance(saved, dict):
        raise CheckpointError(directory, f"{path.name} holds unnamed arrays, not the "
                                         "parameters of a network")
    # The structural names net.save_parameters writes (what net.load_parameters matches).
    expected = params_by_name(net)
    missing = sorted(set(expected) - set(saved))
    extra = sorted(set(saved) - set(expected))
    if missing or extra:
        which = (f"this network's parameter {missing[0]!r} is not in it" if missing
                 else f"it holds parameter {extra[0]!r}, which this network does not have")
        raise CheckpointError(directory, f"{path.name} holds another network: {which}")
    for name, param in expected.items():
        want, got = param.shape, saved[name].shape
        if want is not None and (len(want) != len(got)
                                 or any(w not in (0, g) for w, g in zip(want, got, strict=True))):
            raise CheckpointError(directory, f"{path.name} holds another network: parameter "
                                             f"{name!r} has shape {got} there but "
                                             f"{tuple(want)} here")


def _check_states(directory: Path, path: Path, trainer: gluon.Trainer) -> None:
    """Check that ``path`` holds a trainer state saved by this kind of optimizer.

    Args:
        directory: the checkpoint directory (for the message).
        path: the ``.states`` file (a pickle written by ``Trainer.save_states``).
        trainer: the trainer it is to be loaded into.

    Raises:
        CheckpointError: the file is missing or damaged, or comes from another optimizer.
    """
    if not path.is_file():
        raise CheckpointError(directory, f"{path.name} is missing")
    try:
        states = pickle.loads(path.read_bytes())     # our own file, written by save_states
    except Exception as err:                         # pickle raises many types on garbage
        raise CheckpointError(directory, f"{path.name} is damaged ({type(err).__name__}: "
                                         f"{_one_line(err)})") from None
    saved_opt = states[1] if isinstance(states, tuple) and len(states) == 2 else None
    current = trainer.optimizer
    if saved_opt is not None and current is not None and type(saved_opt) is not type(current):
        raise CheckpointError(directory, f"{path.name} was saved by optimizer "
                                         f"{type(saved_opt).__name__.lower()}, this run uses "
                                         f"{type(current).__name__.lower()}")


def _read_history(directory: Path, path: Path) -> dict[str, Any]:
    """The history dict in ``path``, checked to load as a :class:`History`.

    Args:
        directory: the checkpoint directory (for the message).
        path: the ``.history.json`` file.

    Returns:
        The dict, as saved.

    Raises:
        CheckpointError: the file is missing, not JSON, or not a history.
    """
    if not path.is_file():
        raise CheckpointError(directory, f"{path.name} is missing")
    try:
        history = read_json(path)
        History.from_dict(history)
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as err:
        raise CheckpointError(directory, f"{path.name} is damaged ({_one_line(err)})") from None
    return history
