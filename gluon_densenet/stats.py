"""Small-sample statistics for comparing runs: mean ± standard deviation and Welch's t."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

__all__ = ["Welch", "mean_std", "welch"]


def mean_std(xs: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (``ddof=1``; ``nan`` for a single value)."""
    n = len(xs)
    if n == 0:
        raise ValueError("mean_std needs at least one value")
    m = sum(xs) / n
    if n == 1:
        return m, math.nan
    return m, math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1))


@dataclass(frozen=True)
class Welch:
    """Welch's unequal-variance comparison of two groups, ``a − b``."""
    diff: float
    """Difference of the means."""
    se: float
    """Standard error of the difference."""
    t: float
    df: float
    """Welch–Satterthwaite degrees of freedom."""
    p: float | None
    """Two-sided p-value (``None`` without SciPy)."""


def welch(a: Sequence[float], b: Sequence[float]) -> Welch:
    """Welch's t test of ``mean(a) − mean(b)``; needs two or more values per group."""
    if len(a) < 2 or len(b) < 2:
        raise ValueError("welch needs at least two values per group")
    (ma, sa), (mb, sb) = mean_std(a), mean_std(b)
    va, vb = sa ** 2 / len(a), sb ** 2 / len(b)
    se = math.sqrt(va + vb)
    diff = ma - mb
    if se == 0:
        return Welch(diff, 0.0, math.copysign(math.inf, diff) if diff else math.nan, math.nan,
                     None)
    t = diff / se
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    try:
        from scipy import stats
        p: float | None = float(2 * stats.t.sf(abs(t), df))
    except ImportError:
        p = None
    return Welch(diff, se, t, df, p)
