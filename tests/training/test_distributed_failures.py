"""A multi-process run that cannot start ends on every process within a stated time, with one
line naming the cause and status 2: a port in use, a process that never joins, settings that
differ between the processes. Real processes on 127.0.0.1, run side by side."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from jaxdl.training.distributed import COORDINATOR_ENV
from tests.children import NO_SHARED_CACHE

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(port: int, process_id: int, *extra: str, **popen) -> subprocess.Popen:
    env = os.environ | {"JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)} | NO_SHARED_CACHE
    env.pop(COORDINATOR_ENV, None)
    env.pop("XLA_FLAGS", None)
    argv = ["train", "mlp", "--epochs", "1", "--json", "--coordinator", f"127.0.0.1:{port}"]
    argv += ["--num-processes", "2", "--process-id", str(process_id), *extra]
    return subprocess.Popen(
        [sys.executable, "-m", "jaxdl", *argv], cwd=ROOT, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen,
    )  # fmt: skip


def outcome(process: subprocess.Popen) -> tuple[int, str, list[str]]:
    try:
        out, err = process.communicate(timeout=240)
    finally:
        process.kill()
    ours = [line for line in err.splitlines() if line.startswith("jaxdl")]
    assert "Traceback" not in err and "Check failure" not in err, err[-3000:]
    return process.returncode, out, ours


def test_each_failure_to_start_ends_in_one_line_and_status_2(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    started = time.monotonic()
    try:
        port_in_use = start(taken.getsockname()[1], 0)
        alone = start(free_port(), 0, "--join-timeout", "10")
        port = free_port()
        differ = [start(port, 0, "--join-timeout", "120"),
                  start(port, 1, "--join-timeout", "120", "--batch-size", "32")]  # fmt: skip

        status, out, lines = outcome(port_in_use)
        assert (status, out) == (2, "") and len(lines) == 1, lines
        assert f"port {taken.getsockname()[1]} is in use" in lines[0]

        status, out, lines = outcome(alone)
        assert (status, out) == (2, "") and len(lines) == 1, lines
        assert "did not all join" in lines[0] and "within 10 s" in lines[0]
        assert time.monotonic() - started < 200  # JAX alone: a C++ abort after 309 s

        for process in differ:
            status, out, lines = outcome(process)
            assert (status, out) == (2, "") and len(lines) == 1, lines
            assert "settings (model, data, recipe) of process(es) [1] differs" in lines[0]
    finally:
        taken.close()


def test_a_process_waiting_for_its_peers_ends_on_a_signal_within_a_second(tmp_path):
    # Before: SIGINT and SIGTERM were ignored while jax.distributed.initialize waited in C++
    # (--join-timeout 1e9 needed SIGKILL; with 50, Ctrl-C waited out the 44 s left, status 2).
    endless = start(free_port(), 0, "--join-timeout", "1e9")
    try:
        _, err = endless.communicate(timeout=60)
    finally:
        endless.kill()
    assert endless.returncode == 2 and "--join-timeout must be" in err, err
    for signum, status in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
        port = free_port()
        process = start(port, 0, "--join-timeout", "600")
        deadline = time.monotonic() + 120
        while not listening(port):  # process 0 serves the coordinator: it waits now
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.1)
        time.sleep(0.5)
        sent = time.monotonic()
        process.send_signal(signum)
        got, out, lines = outcome(process)
        took = time.monotonic() - sent
        assert (got, out) == (status, ""), lines
        assert len(lines) == 1 and "while waiting for the other processes to join" in lines[0]
        assert took < 1.5, took


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0
