"""Small-sample statistics for comparing runs over seeds: mean ± standard deviation,
Welch's unequal-variance t test (SciPy's ``ttest_ind(..., equal_var=False)``) for
independent groups, and the paired t test (SciPy's ``ttest_rel``) when the same seed
gives both arms the same initialisation and data order."""
from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats

__all__ = ["Paired", "Welch", "mean_std", "paired", "welch"]


def mean_std(xs: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (``ddof=1``; ``nan`` for a single value)."""
    if len(xs) == 0:
        raise ValueError("mean_std needs at least one value")
    return statistics.fmean(xs), statistics.stdev(xs) if len(xs) > 1 else math.nan


@dataclass(frozen=True)
class Welch:
    """Welch's comparison of two groups, ``a − b``."""

    diff: float
    """Difference of the means."""
    se: float
    """Standard error of the difference."""
    t: float
    df: float
    """Welch–Satterthwaite degrees of freedom."""
    p: float
    """Two-sided p-value (``nan`` when both groups have no spread)."""


def welch(a: Sequence[float], b: Sequence[float]) -> Welch:
    """Welch's t test of ``mean(a) − mean(b)``; needs two or more values per group."""
    if len(a) < 2 or len(b) < 2:
        raise ValueError("welch needs at least two values per group")
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    diff = statistics.fmean(a) - statistics.fmean(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return Welch(diff, 0.0, math.copysign(math.inf, diff) if diff else math.nan, math.nan,
                     math.nan)
    result = stats.ttest_ind(a, b, equal_var=False)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    return Welch(diff, se, float(result.statistic), df, float(result.pvalue))


@dataclass(frozen=True)
class Paired:
    """The paired comparison ``a − b`` over matched runs (one difference per seed)."""

    diffs: tuple[float, ...]
    """``a[i] − b[i]`` for each pair."""
    diff: float
    """Mean difference."""
    se: float
    """Standard error of the mean difference (``nan`` for one pair)."""
    t: float
    df: int
    p: float
    """Two-sided p-value of the paired t test (``nan`` with fewer than two pairs or
    identical differences)."""

    @property
    def consistent(self) -> bool:
        """Every pair's difference has the same, nonzero sign."""
        return all(d > 0 for d in self.diffs) or all(d < 0 for d in self.diffs)

    def significant(self, alpha: float = 0.05) -> bool:
        """Consistent over every pair, and the paired two-sided p is below ``alpha``."""
        return self.consistent and self.p < alpha


def paired(a: Sequence[float], b: Sequence[float]) -> Paired:
    """Paired t test of ``a − b``; ``a[i]`` and ``b[i]`` must come from the same seed."""
    if len(a) != len(b) or not a:
        raise ValueError(f"paired needs two equally long, non-empty sequences, got {len(a)} "
                         f"and {len(b)} values")
    diffs = tuple(x - y for x, y in zip(a, b, strict=True))
    mean, sd = mean_std(diffs)
    if len(diffs) < 2 or sd == 0:
        return Paired(diffs, mean, math.nan if len(diffs) < 2 else 0.0, math.nan,
                      len(diffs) - 1, math.nan)
    result = stats.ttest_rel(a, b)
    return Paired(diffs, mean, sd / math.sqrt(len(diffs)), float(result.statistic),
                  len(diffs) - 1, float(result.pvalue))
