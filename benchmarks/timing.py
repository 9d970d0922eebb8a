"""Timing shared by the benchmarks: the first call (compiles) and the median of warm repeats."""

from __future__ import annotations

import statistics
import time


def timed(fn, repeats: int = 3) -> tuple[float, float, object]:
    """(first call's seconds, median of ``repeats`` warm calls' seconds, the last result)."""
    t = time.perf_counter()
    out = fn()
    first = time.perf_counter() - t
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return first, statistics.median(times), out
