"""``gluon-densenet launch``: a distributed job of ``train`` on this machine (127.0.0.1)."""
from __future__ import annotations

import argparse
import sys

from ..distributed import is_distributed
from ..distributed.launcher import LaunchError, launch, worker_command
from . import train
from .common import CLIError, fail

__all__ = ["add_parser", "cmd_launch"]

EXAMPLE = "gluon-densenet launch --workers 2 --servers 1 -- train --kvstore dist_sync --smoke"


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``launch`` command to ``sub``; returns its parser."""
    la = sub.add_parser("launch", help="run train as a distributed job on this machine: "
                                       "MXNet's scheduler, servers and workers on 127.0.0.1",
                        usage="%(prog)s [--workers N] [--servers N] [--port P] -- train ...")
    la.add_argument("--workers", type=int, default=2)
    la.add_argument("--servers", type=int, default=1)
    la.add_argument("--port", type=int, help="the scheduler's port (default: a free one)")
    la.add_argument("--timeout", type=float, metavar="S",
                    help="stop the whole job if it runs longer than S seconds (status 124), "
                         "after printing what each process was doing")
    la.add_argument("command_args", nargs=argparse.REMAINDER,
                    help="'--' then the train command every worker runs")
    la.set_defaults(func=cmd_launch)
    return la


def cmd_launch(args: argparse.Namespace) -> int:
    """Check the workers' ``train`` options first (one error before any process starts),
    then run the job; a failed job's status and message are this command's."""
    command = args.command_args[1:] if args.command_args[:1] == ["--"] else args.command_args
    if not command or command[0] != "train":
        raise CLIError(f"launch runs 'train' on every worker; pass it after '--', e.g. {EXAMPLE}")
    worker_args = train.parse_options(command[1:])
    if not is_distributed(worker_args.kvstore):
        raise CLIError("the workers need a distributed kvstore to work together; add "
                       "--kvstore dist_sync (or dist_device_sync, dist_async) after 'train'")
    train.smoke_settings(worker_args)
    train.check_options(worker_args)
    try:
        result = launch(worker_command(command), args.workers, args.servers, port=args.port,
                        timeout=args.timeout)
    except LaunchError as err:
        raise CLIError(str(err)) from None
    if result.returncode:
        fail(result.message, result.returncode)
    if result.message:
        print(f"warning: {result.message}", file=sys.stderr, flush=True)
    return 0
