"""Whether a timing taken on this machine is a measurement: was anything else running?

A ratio of two timings means little when other work shares the cores. The project publishes a
figure only when the machine was idle when the run started (a load average of at most half a
job per core) and nothing else used the CPU while it ran. The second cannot be read from the
load average at the end: a benchmark that keeps two cores busy for a minute lifts it to about
2 by itself. So a :func:`snapshot` also records the CPU time every process has spent
(``/proc/stat``) and the CPU time of this process and its finished children; between two
snapshots, their difference is what *other* processes used. The benchmarks and
``scripts/measure_laptop.py`` take a snapshot before timing and print :func:`verdict` after it::

    before = machine.snapshot()
    ...  # time things
    print(machine.verdict(before))
"""

from __future__ import annotations

import os
import resource
import time
from typing import NamedTuple

#: The most load average per core at the start at which a timing still counts as idle.
IDLE_PER_CORE = 0.5
#: The most CPU other processes may use during the run, in cores on average.
OTHERS_LIMIT = 0.1


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _busy_seconds() -> float | None:
    """CPU seconds every process has spent since boot, or ``None`` without ``/proc/stat``."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [int(v) for v in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    """CPU seconds of this process and of its children that have ended."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class Load(NamedTuple):
    """The 1-, 5- and 15-minute load averages and the cores at one moment, with the CPU time
    spent by every process (``busy``, ``None`` where unknown) and by this one (``own``)."""

    one: float
    five: float
    fifteen: float
    cores: int
    busy: float | None = None
    own: float = 0.0
    at: float = 0.0  # time.monotonic()

    def idle(self) -> bool:
        """The 1-minute load is at most :data:`IDLE_PER_CORE` per core."""
        return self.one <= IDLE_PER_CORE * self.cores

    def __str__(self) -> str:
        return f"{self.one:.2f} {self.five:.2f} {self.fifteen:.2f} ({self.cores} cores)"


def snapshot() -> Load:
    """The load average and the CPU times now."""
    return Load(*os.getloadavg(), cores(), _busy_seconds(), _own_seconds(), time.monotonic())


def others(start: Load, end: Load) -> float | None:
    """The cores other processes kept busy between two snapshots, on average (``None`` where
    ``/proc/stat`` is missing or no time passed)."""
    if start.busy is None or end.busy is None or end.at <= start.at:
        return None
    used = (end.busy - start.busy) - (end.own - start.own)
    return max(used, 0.0) / (end.at - start.at)


def is_measurement(start: Load, end: Load) -> bool:
    """Idle at the start, and other processes below :data:`OTHERS_LIMIT` in between (without
    CPU accounting: the load average low at both ends)."""
    other = others(start, end)
    quiet = end.idle() if other is None else other <= OTHERS_LIMIT
    return start.idle() and quiet


def verdict(start: Load, end: Load | None = None) -> str:
    """One line: the load average at the start and the end, what other processes used in
    between, and whether the timings between the two snapshots are a measurement."""
    end = end or snapshot()
    line = f"load average at start {start}, at end {end} (this run's own work included)"
    other = others(start, end)
    if other is not None:
        line += f"; other processes used {other:.2f} cores on average"
    if is_measurement(start, end):
        return line + ": idle, a measurement"
    limit = IDLE_PER_CORE * start.cores
    return (
        line + f": the load at the start above {limit:g} or other processes above "
        f"{OTHERS_LIMIT:g} cores, so these timings are NOT a measurement; rerun with nothing "
        "else running"
    )


__all__ = [
    "IDLE_PER_CORE", "OTHERS_LIMIT", "Load", "cores", "is_measurement", "others", "snapshot",
    "verdict",
]  # fmt: skip
