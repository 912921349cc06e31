"""Timing helpers shared by the benchmarks: seconds per call, and how many calls make a measurable loop."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def per_call(function: Callable[[], Any], number: int) -> float:
    """Seconds per call of `function`, over `number` calls in a loop."""
    start = time.perf_counter()
    for _ in range(number):
        function()
    return (time.perf_counter() - start) / number


def loop_size(function: Callable[[], Any], target: float) -> int:
    """How many calls take about `target` seconds (1 to 1,000,000), after one call to warm caches and lazy
    imports."""
    function()
    once = per_call(function, 1)
    return max(1, min(1_000_000, int(target / max(once, 1e-8))))


def fmt_time(seconds: float) -> str:
    """1.2 µs, 3.45 ms, 1.20 s."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"
