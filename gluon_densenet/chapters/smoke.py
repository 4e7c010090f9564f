"""Smoke mode: the same chapters, small and fast, for CI and quick checks.

Set ``GLUON_DENSENET_SMOKE=1`` to run every notebook on the shipped subset with few
steps; leave it unset for the real run on the full data."""
from __future__ import annotations

import os
from typing import TypeVar

T = TypeVar("T")
ENV = "GLUON_DENSENET_SMOKE"


def env_flag(name: str) -> bool:
    """Whether the environment variable ``name`` is set to anything but ``""``, ``0``,
    ``false`` or ``no``."""
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def smoke_mode() -> bool:
    """Whether smoke mode is on (:func:`env_flag` of ``GLUON_DENSENET_SMOKE``)."""
    return env_flag(ENV)


def choose(smoke: T, full: T) -> T:
    """Pick the smoke-mode value or the full-run one.

    Example: ``epochs = choose(1, 10)`` is 1 in smoke mode and 10 in a full run.
    """
    return smoke if smoke_mode() else full
