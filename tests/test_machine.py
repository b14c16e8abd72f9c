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


def test_other_processes_cpu_decides_not_this_runs_own_load():
    start = machine.Load(0.2, 0.2, 0.2, 2, busy=100.0, own=10.0, at=0.0)
    alone = machine.Load(1.9, 0.8, 0.4, 2, busy=119.5, own=29.0, at=10.0)  # we kept 2 cores busy
    assert abs(machine.others(start, alone) - 0.05) < 1e-9
    assert machine.is_measurement(start, alone)
    assert machine.verdict(start, alone).endswith("idle, a measurement")
    beside = machine.Load(1.9, 0.8, 0.4, 2, busy=124.0, own=29.0, at=10.0)  # others: 0.5 core
    assert not machine.is_measurement(start, beside)
    assert "other processes used 0.50 cores" in machine.verdict(start, beside)
    loaded = start._replace(one=1.5)
    assert not machine.is_measurement(loaded, alone)


def test_a_snapshot_counts_this_process_cpu():
    start = machine.snapshot()
    sum(i * i for i in range(2_000_000))
    end = machine.snapshot()
    assert end.own > start.own and end.at > start.at
    if start.busy is not None:
        assert end.busy >= start.busy and machine.others(start, end) >= 0
