"""Timing and peak memory of the running process, shared by the chapters and ``benchmarks/``.

Standard library only: a benchmark's torch worker imports this without loading MXNet into
the process whose memory it measures.
"""
from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["MIB", "peak_rss_mib", "timings"]

MIB = 2 ** 20


def timings(fn: Callable[[], object], warmup: int = 1, repeats: int = 5,
            sync: Callable[[], object] | None = None) -> list[float]:
    """Seconds of each of ``repeats`` calls of ``fn()``, after ``warmup`` untimed calls.

    ``sync`` (e.g. ``mx.nd.waitall``) is called after every call, inside the timing, so that
    asynchronous engines are timed to completion.
    """
    if warmup < 0 or repeats < 1:
        raise ValueError(f"need warmup >= 0 and repeats >= 1, got {warmup} and {repeats}")
    for _ in range(warmup):
        fn()
        if sync is not None:
            sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if sync is not None:
            sync()
        times.append(time.perf_counter() - start)
    return times


def peak_rss_mib() -> float:
    """This process's peak resident set size in MiB (``VmHWM``; ``ru_maxrss`` where
    ``/proc`` is missing)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
