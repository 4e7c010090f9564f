"""``gluon-densenet info``: versions, devices, where the data is, the models."""
from __future__ import annotations

import argparse
import platform

import numpy as np

from .. import __version__
from ..data import DATA_ENV_VAR, FILES, SUBSET_DIR, default_data_dir, find_file
from ..models.registry import MODELS
from ..runtime.devices import describe_devices

__all__ = ["add_parser", "cmd_info"]


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``info`` command to ``sub``; returns its parser."""
    i = sub.add_parser("info", help="versions, devices and where the data is")
    i.add_argument("--data-dir")
    i.set_defaults(func=cmd_info)
    return i


def _data_status(data_dir: str | None) -> list[str]:
    where = default_data_dir(data_dir)
    lines = [f"data directory: {where}  (argument > ${DATA_ENV_VAR} > $MXNET_HOME/datasets)"]
    for spec in FILES.values():
        for f in (spec.images, spec.labels):
            path = find_file(where, f)
            lines.append(f"  {f.name}: {path if path else 'missing (downloaded on first use)'}")
    lines.append(f"shipped subset: {SUBSET_DIR}")
    return lines


def cmd_info(args: argparse.Namespace) -> int:
    """Print the versions, the devices, the data files found and the model names."""
    print(f"gluon-densenet {__version__}; Python {platform.python_version()}; "
          f"numpy {np.__version__}")
    print(describe_devices())
    print("\n".join(_data_status(args.data_dir)))
    print(f"models: {', '.join(MODELS)}")
    return 0
