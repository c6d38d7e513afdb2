"""How the benchmarks time a piece of work, so that every table is taken the same way."""

from __future__ import annotations

import time
from collections.abc import Callable


def run_times(function: Callable[[], object], repeats: int, warm_up: bool = True) -> list[float]:
    """Wall seconds of each of ``repeats`` calls of ``function``.

    The warm-up call (untimed) pays for lazy initialisation, allocator growth and caches, which
    would otherwise land in the first timed run.
    """
    if warm_up:
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times
