"""The ``gluon-densenet`` command, one module per subcommand: :mod:`.train`, :mod:`.launch`,
:mod:`.summary` and :mod:`.info`; :mod:`.common` has the one-line errors they share.

gluon-densenet train                       # the default run: a few minutes on 2 CPU cores
gluon-densenet train --model densenet121 --resize 32 --epochs 10
gluon-densenet launch --workers 2 --servers 1 -- train --kvstore dist_sync --smoke
gluon-densenet summary --model densenet121 --size 224
gluon-densenet info

The commands parse and report; what they check and run is the library's (``train``'s
devices and optimizer are checked by :mod:`gluon_densenet.training.checks`, as ``train()``
checks them).
"""
from __future__ import annotations

import argparse
import sys
import warnings

from .. import __version__
from ..data import CorruptDataError, DatasetNotFoundError
from ..distributed import leave_without_barrier
from ..training import TrainingDivergedError
from ..training.checkpoint import CheckpointError
from . import info, launch, summary, train
from .common import EXIT_INTERRUPTED, CLIError, Parser, checkpoint_message, fail, one_line_warning

__all__ = ["CLIError", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The ``gluon-densenet`` parser with the ``train``, ``launch``, ``summary`` and ``info``
    commands (its errors are one ``error:`` line, status 2)."""
    parser = Parser(prog="gluon-densenet",
                    description="DenseNet in MXNet Gluon on Fashion-MNIST.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in (train, launch, summary, info):
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``gluon-densenet`` command on ``argv`` (default ``sys.argv[1:]``); returns 0.

    A problem the user can fix (a bad option, missing or damaged data, a damaged
    checkpoint, a diverged run) ends with one line ``error: <problem>; <fix>`` on stderr
    and exit status 2, without a traceback; Ctrl-C ends with one line and status 130.

    Raises:
        SystemExit: status 2 on bad input (argparse's errors included), 130 when interrupted.
    """
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except BaseException:
        leave_without_barrier(getattr(args, "joined_kvstore", None))
        raise


def _run(args: argparse.Namespace) -> int:
    """Run the parsed command, the errors a user can fix made one line (see :func:`main`)."""
    try:
        with warnings.catch_warnings():
            warnings.showwarning = one_line_warning
            return args.func(args)
    except CLIError as err:
        fail(str(err))
    except CheckpointError as err:
        fail(checkpoint_message(err))
    except DatasetNotFoundError as err:
        fail(train.not_found_message(err, args) if args.command == "train" else str(err))
    except (CorruptDataError, TrainingDivergedError) as err:
        fail(str(err))
    except KeyboardInterrupt:
        hint = ("; run the same command again to resume from the last saved epoch"
                if args.command == "train" else "")
        fail(f"interrupted{hint}", EXIT_INTERRUPTED)


if __name__ == "__main__":
    sys.exit(main())
