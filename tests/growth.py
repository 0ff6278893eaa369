"""Linear time, checked by growth rather than by a wall-clock limit: the suite runs in
parallel on a machine whose speed varies, so "under 1 s" fails on a busy machine while a
quadratic scan on a fast one passes. Ten times the input must take well under the hundred
times a quadratic algorithm would (25x allows for noise and for the cache misses of a
larger input). Time is this process's CPU time, which other processes of a parallel run do
not inflate as they do the wall clock."""

from __future__ import annotations

import time
from collections.abc import Callable

FACTOR = 10
MAX_GROWTH = 25.0


def _best(run: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        run()
        best = min(best, time.process_time() - started)
    return best


def assert_linear(run: Callable[[int], object], size: int) -> None:
    """`run(n)` handles an input of size n; compare n = size / 10 with n = size."""
    small = _best(lambda: run(size // FACTOR), repeats=3)
    large = _best(lambda: run(size), repeats=1)
    assert large < MAX_GROWTH * small + 0.05, (
        f"{FACTOR}x the input took {large / max(small, 1e-9):.1f}x the time "
        f"({small:.3f} s -> {large:.3f} s)")
