"""How the benchmarks time things: the median of several runs, wall clock and this process's CPU.

CPU seconds are printed beside wall seconds because a shared or busy machine inflates wall time
but not the work done; ratios against a reference run in the same process cancel the machine out.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def timed(function: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one call."""
    return timed_result(function)[1]


def timed_result(function: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[T, tuple[float, float]]:
    """(what ``function(*args, **kwargs)`` returned, (wall seconds, CPU seconds of this process))."""
    start, cpu = time.perf_counter(), time.process_time()
    result = function(*args, **kwargs)
    return result, (time.perf_counter() - start, time.process_time() - cpu)


def median_seconds(function: Callable[[], object], repeat: int) -> float:
    """The median wall time of ``repeat`` calls."""
    return statistics.median(timed(function)[0] for _ in range(repeat))
