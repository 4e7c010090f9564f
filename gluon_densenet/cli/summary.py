"""``gluon-densenet summary``: output shapes and parameter counts, layer by layer."""
from __future__ import annotations

import argparse

from ..models import count_parameters, count_weighted_layers, format_summary, summary
from ..models.registry import MODELS
from .common import CLIError, at_least, model

__all__ = ["add_parser", "cmd_summary"]


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``summary`` command to ``sub``; returns its parser."""
    s = sub.add_parser("summary", help="layer-by-layer output shapes and parameter counts")
    s.add_argument("--model", default="densenet121", help=f"one of: {', '.join(MODELS)}")
    s.add_argument("--size", type=int, default=224)
    s.add_argument("--classes", type=int, default=1000)
    s.add_argument("--in-channels", type=int, default=3)
    s.add_argument("--depth", type=int, default=2,
                   help="how deep to list blocks (2: stages; 0 for every layer)")
    s.set_defaults(func=cmd_summary)
    return s


def cmd_summary(args: argparse.Namespace) -> int:
    """Print the table and a line with the weighted layers and the parameters."""
    at_least(args.classes, 1, "--classes", "--classes 10")
    at_least(args.in_channels, 1, "--in-channels", "--in-channels 3")
    at_least(args.depth, 0, "--depth", "--depth 2 (0 lists every layer)")
    at_least(args.size, 1, "--size", "--size 224")
    net = model(args.model, classes=args.classes, in_channels=args.in_channels)
    shape = (1, args.in_channels, args.size, args.size)
    minimum = net.min_input_size() if hasattr(net, "min_input_size") else None
    if minimum is not None and args.size < minimum:
        raise CLIError(f"--size {args.size} is too small for {args.model}: it needs at least "
                       f"{minimum}×{minimum} px; pass --size {max(minimum, 32)} or more")
    net.initialize()
    print(format_summary(summary(net, shape, max_depth=args.depth or None), shape))
    minimum_note = f", minimum input {minimum} px" if minimum is not None else ""
    print(f"{args.model}: {count_weighted_layers(net)} weighted layers (conv + dense), "
          f"{count_parameters(net):,} learnable parameters{minimum_note}")
    return 0
