"""The per-epoch progress bar: live in a terminal or Jupyter, a few lines per epoch in a log."""
from __future__ import annotations

import sys
from typing import Any

__all__ = ["LOG_NCOLS", "LOG_REFRESH_S", "bar_options", "epoch_bar", "isatty"]

#: Seconds between progress-bar refreshes when stderr is not a terminal (CI logs, ``| tee``):
#: a few lines per epoch instead of one per refresh.
LOG_REFRESH_S = 30.0
#: Width of the progress bar when stderr is not a terminal (no terminal to measure).
LOG_NCOLS = 100


def isatty(stream: Any) -> bool:
    """Whether ``stream`` is a terminal (``False`` for anything without a working ``isatty``)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def bar_options(bar_class: type) -> dict[str, Any]:
    """Options for a tqdm progress bar.

    Args:
        bar_class: the tqdm class in use (``tqdm.auto.tqdm``).

    Returns:
        A live, terminal-wide bar in a terminal or Jupyter; otherwise (stderr is a log
        file, a pipe, CI) a fixed-width bar refreshed at most every :data:`LOG_REFRESH_S`
        seconds.
    """
    in_notebook = any(c.__module__.startswith("tqdm.notebook") for c in bar_class.__mro__)
    if in_notebook or isatty(sys.stderr):
        return {"dynamic_ncols": True}
    return {"mininterval": LOG_REFRESH_S, "maxinterval": 2 * LOG_REFRESH_S, "ncols": LOG_NCOLS}


def epoch_bar(epoch: int, epochs: int, steps: int, show: bool) -> Any:
    """The bar of one epoch, ``epoch N/M`` over ``steps`` batches (disabled unless ``show``).

    Returns:
        A ``tqdm.auto.tqdm``; the caller updates and closes it.
    """
    from tqdm.auto import tqdm

    return tqdm(total=steps, desc=f"epoch {epoch}/{epochs}", disable=not show, leave=True,
                unit="batch", **bar_options(tqdm))
