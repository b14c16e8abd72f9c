"""Whether a timing taken on this machine is a measurement: its load average, start and end.

A ratio of two timings means little when other work shares the cores: the project publishes a
figure only when the load average stayed at or below half a job per core from the start of the
run to its end. The benchmarks and ``scripts/measure_laptop.py`` take a :func:`snapshot` before
timing and print :func:`verdict` after it::

    before = machine.snapshot()
    ...  # time things
    print(machine.verdict(before))
"""

from __future__ import annotations

import os
from typing import NamedTuple

#: The most load average per core at which a timing still counts as taken on an idle machine.
IDLE_PER_CORE = 0.5


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class Load(NamedTuple):
    """The 1-, 5- and 15-minute load averages and the cores, at one moment."""

    one: float
    five: float
    fifteen: float
    cores: int

    def idle(self) -> bool:
        """The 1-minute load is at most :data:`IDLE_PER_CORE` per core."""
        return self.one <= IDLE_PER_CORE * self.cores

    def __str__(self) -> str:
        return f"{self.one:.2f} {self.five:.2f} {self.fifteen:.2f} ({self.cores} cores)"


def snapshot() -> Load:
    """The load average now."""
    return Load(*os.getloadavg(), cores())


def verdict(start: Load, end: Load | None = None) -> str:
    """One line: the load average at the start and the end, and whether the timings between
    them are a measurement (both idle) or not."""
    end = end or snapshot()
    line = f"load average at start {start}, at end {end}"
    if start.idle() and end.idle():
        return line + ": idle, a measurement"
    limit = IDLE_PER_CORE * start.cores
    return (
        line + f": above {limit:g} (half a job per core), so these timings are NOT a "
        "measurement; rerun with nothing else running"
    )


__all__ = ["IDLE_PER_CORE", "Load", "cores", "snapshot", "verdict"]
