"""What every command shares: its one-line errors, exit statuses and the option checks."""
from __future__ import annotations

import argparse
import sys
from typing import NoReturn

import mxnet as mx

from ..models.registry import REFERENCE_MODELS, get_model
from ..runtime import devices
from ..training.checks import check_contexts

__all__ = ["EXIT_INTERRUPTED", "EXIT_USAGE", "CLIError", "Parser", "at_least",
           "checkpoint_message", "contexts", "fail", "model", "one_line_warning"]

EXIT_USAGE = 2                  # bad input, as argparse's own errors
EXIT_INTERRUPTED = 130          # 128 + SIGINT, as a shell reports Ctrl-C


class CLIError(Exception):
    """A problem the user can fix (a bad argument, missing data, a damaged checkpoint).

    :func:`gluon_densenet.cli.main` prints its message as one line, ``error: <message>``, on
    stderr and exits with status 2; the message names the problem and the fix.
    """


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one ``error:`` line (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        """Print ``error: <message>`` and a pointer to ``--help``, then exit with status 2."""
        fail(f"{message} (see '{self.prog} --help')")


def fail(message: str, status: int = EXIT_USAGE) -> NoReturn:
    """Print ``error: <message>`` as one line on stderr (line breaks joined) and exit with
    ``status`` (2 for bad input, 130 for an interrupt)."""
    line = " ".join(part.strip() for part in str(message).splitlines() if part.strip())
    print(f"error: {line}", file=sys.stderr, flush=True)
    raise SystemExit(status)


def one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Show a warning (a skipped GPU, say) as one ``warning:`` line, without source lines."""
    print(f"warning: {message}", file=sys.stderr, flush=True)


def at_least(value: int | None, minimum: int, flag: str, example: str) -> None:
    """Raise :class:`CLIError` when the integer option ``flag`` is below ``minimum``
    (``None``: not given, nothing to check); ``example`` is a sound value to suggest."""
    if value is not None and value < minimum:
        raise CLIError(f"{flag} must be at least {minimum}, got {value}; pass e.g. {example}")


def contexts(spec: str | None) -> list[mx.Context]:
    """The devices of ``--devices``: ``None`` (every GPU, else the CPU), ``"cpu"``, ``"gpu"``,
    or a comma-separated list such as ``"cpu:0,cpu:1"`` or ``"gpu:0,gpu:1"``.

    Raises:
        CLIError: bad syntax, a device listed twice, or a GPU that is missing or that this
            MXNet build cannot run on (checked as ``train(ctx=...)`` checks them).
    """
    if spec is None:
        return devices.try_all_gpus()
    ctxs: list[mx.Context] = []
    for part in spec.split(","):
        kind, colon, index = part.strip().partition(":")
        if kind not in ("cpu", "gpu") or (colon and not index.isdigit()):
            raise CLIError(f"--devices {spec!r}: cannot read {part.strip()!r}; "
                           "pass cpu, gpu, or a list such as cpu:0,cpu:1 or gpu:0,gpu:1")
        ctxs.append(getattr(mx, kind)(int(index or 0)))
    try:
        check_contexts(ctxs, "pass --devices cpu" + (" or other GPUs" if devices.num_gpus()
                                                     else ""))
    except ValueError as err:
        raise CLIError(f"--devices {spec}: {err}") from None
    return ctxs


def model(name: str, **kw) -> mx.gluon.HybridBlock:
    """``get_model(name, **kw)``, its ``ValueError`` (with the closest name) a :class:`CLIError`."""
    try:
        return get_model(name, **kw)
    except ValueError as err:
        fix = "; pass --in-channels 3" if name in REFERENCE_MODELS else ""
        raise CLIError(f"{err}{fix}") from None


def checkpoint_message(err: Exception) -> str:
    """One line for a ``CheckpointError``: the directory, the problem, the fix."""
    directory = getattr(err, "directory", None)
    problem = getattr(err, "problem", str(err))
    return (f"cannot resume from the checkpoint in {directory}: {problem}; delete that "
            "directory or pass --no-resume to start over")
