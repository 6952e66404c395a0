"""Timing shared by the benchmarks: medians of warm runs, wall and CPU time.

On a shared machine the wall time follows the load; the CPU time of the process is steadier,
so both are printed (with ``os.getloadavg()``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def timed(fn: Callable[[], T], repeat: int) -> tuple[float, float, T]:
    """Median wall and CPU seconds of ``repeat`` calls after a warm-up, and the last result."""
    result = fn()
    wall, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return float(np.median(wall)), float(np.median(cpu)), result
