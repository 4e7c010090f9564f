"""Small checks and the wording of errors, shared by every part of the package.

Standard library and NumPy only, so that any module may use it.
"""
from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = ["did_you_mean", "first_line", "is_finite_real", "is_int", "is_real"]


def is_int(x: Any) -> bool:
    """An integer (a NumPy one too) that is not a bool: ``True`` is an ``int`` in Python."""
    return isinstance(x, numbers.Integral) and not isinstance(x, (bool, np.bool_))


def is_real(x: Any) -> bool:
    """A real number (a NumPy scalar too) that is not a bool."""
    return isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_))


def is_finite_real(x: Any) -> bool:
    """A real number that is neither infinite nor NaN (and not a bool)."""
    return is_real(x) and math.isfinite(x)


def did_you_mean(word: Any, choices: Iterable[str]) -> str:
    """``"did you mean 'x'? "`` for the choice closest to ``word``, or ``""`` if none is close.

    Meant to stand inside a message: ``f"unknown model {name!r}; {did_you_mean(name, names)}..."``.
    """
    close = difflib.get_close_matches(str(word), list(choices), n=1)
    return f"did you mean {close[0]!r}? " if close else ""


def first_line(text: Any, limit: int = 200, default: str = "") -> str:
    """The first non-blank line of ``text`` (an exception's message, a program's output),
    stripped and cut to ``limit`` characters: long library messages made one line."""
    line = next((ln.strip() for ln in str(text).splitlines() if ln.strip()), default)
    return line if len(line) <= limit else line[:limit - 1] + "…"
