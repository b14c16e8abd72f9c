"""jaxdl.machine: a timing counts as a measurement only when the machine stayed idle."""

from jaxdl import machine


def test_idle_means_at_most_half_a_job_per_core():
    assert machine.Load(1.0, 0, 0, cores=2).idle()
    assert not machine.Load(1.01, 0, 0, cores=2).idle()


def test_the_verdict_says_plainly_when_a_timing_is_not_a_measurement():
    idle, busy = machine.Load(0.1, 0.2, 0.3, 2), machine.Load(3.5, 2.0, 1.0, 2)
    assert machine.verdict(idle, idle).endswith("idle, a measurement")
    line = machine.verdict(idle, busy)
    assert "at start 0.10 0.20 0.30 (2 cores), at end 3.50 2.00 1.00 (2 cores)" in line
    assert "NOT a measurement" in line
    assert "NOT a measurement" in machine.verdict(busy, idle)


def test_a_snapshot_reads_this_machine():
    now = machine.snapshot()
    assert now.cores >= 1 and now.one >= 0
