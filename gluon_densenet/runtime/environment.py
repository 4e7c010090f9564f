"""Checks run at import time, so a broken environment says how to fix it instead of
failing deep inside MXNet. MXNet itself is only located here, not imported."""
from __future__ import annotations

import importlib.util
import sys

FIX = "Run scripts/install.sh (or `make install`) to build a working .venv."


def check_environment() -> None:
    """Raise ImportError with a remedy on a wrong Python, numpy or missing MXNet."""
    if sys.version_info[:2] != (3, 11):
        raise ImportError(
            f"gluon-densenet needs Python 3.11 (this is {sys.version.split()[0]}): MXNet 1.9.1 "
            f"publishes no wheels for newer Pythons. {FIX}")
    import numpy
    major, minor = (int(p) for p in numpy.__version__.split(".")[:2])
    if (major, minor) >= (1, 24):
        raise ImportError(
            f"numpy {numpy.__version__} is installed, but MXNet 1.9.1 uses `np.bool`, which "
            f"numpy 1.24 removed. Install numpy==1.23.5 (pip install numpy==1.23.5). {FIX}")
    if importlib.util.find_spec("mxnet") is None:
        raise ImportError(
            "MXNet is not installed. Install mxnet==1.9.1 (CPU) or mxnet-cu112==1.9.1 "
            "(NVIDIA GPU), e.g. pip install -e '.[cpu]'. " + FIX)
