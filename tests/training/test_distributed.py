"""Two processes on 127.0.0.1 train exactly what one process trains (jax.distributed, gloo).

Both processes of ``tests/training/distributed_worker.py`` run under a deadline; if either
fails or the deadline passes, both are killed and the test fails with their output.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxdl.cli import main as jaxdl_main
from jaxdl.training import Recipe, fit
from jaxdl.training.checkpoints import load_best_params
from jaxdl.training.distributed import COORDINATOR_ENV, initialize, requested
from jaxdl.training.metrics import read_metrics
from tests.children import NO_SHARED_CACHE
from tests.training import distributed_worker, tiny_model
from tests.trees import assert_trees_match

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_SECONDS = 420


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_two_processes(out: Path) -> list[dict]:
    """Start both workers, wait for both (or kill both), return their JSON results."""
    coordinator = f"127.0.0.1:{free_port()}"
    env = os.environ | {"JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)} | NO_SHARED_CACHE
    env.pop(COORDINATOR_ENV, None)
    env.pop("XLA_FLAGS", None)  # one CPU device per process
    logs = [out / f"process{i}.log" for i in range(2)]
    errs = [out / f"process{i}.err" for i in range(2)]
    processes = []
    try:
        for i, (log, err) in enumerate(zip(logs, errs, strict=True)):
            worker_env = env | ({COORDINATOR_ENV: coordinator} if i == 1 else {})
            command = [sys.executable, "-m", "tests.training.distributed_worker"]
            with log.open("w") as sink, err.open("w") as err_sink:
                processes.append(
                    subprocess.Popen(
                        [*command, coordinator, str(i), str(out)],
                        cwd=ROOT,
                        env=worker_env,
                        stdout=sink,
                        stderr=err_sink,
                    )  # fmt: skip
                )
        deadline = time.monotonic() + DEADLINE_SECONDS
        while any(p.poll() is None for p in processes):
            failed = [p for p in processes if p.poll() not in (None, 0)]
            if failed or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
            p.wait()
    output = "\n".join(
        f"--- process {i}:\n{log.read_text()[-2000:]}\n{err.read_text()[-3000:]}"
        for i, (log, err) in enumerate(zip(logs, errs, strict=True))
    )
    codes = [p.returncode for p in processes]
    assert codes == [0, 0], f"exit codes {codes} (negative: killed at the deadline)\n{output}"
    # stdout holds JSON alone: `jaxdl train --json`'s result, then the worker's (gloo's
    # "[Gloo] Rank 0 is connected..." goes to stderr)
    printed = [[json.loads(line) for line in log.read_text().splitlines()] for log in logs]
    assert "result" in printed[0][0], output
    return [lines[-1] for lines in printed]


def assert_trees_close(a, b):
    assert_trees_match(a, b, atol=1e-6)


def start_two_device_reference(out: Path) -> subprocess.Popen:
    """The same ``jaxdl train`` in one process over two CPU devices (the mesh of the two
    processes), started beside them."""
    env = os.environ | {"JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)} | NO_SHARED_CACHE
    env.pop(COORDINATOR_ENV, None)
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    argv = [*distributed_worker.MLP_ARGS, "--devices", "2", "--out", str(out)]
    return subprocess.Popen(
        [sys.executable, "-m", "jaxdl", *argv], cwd=ROOT, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def test_two_processes_train_the_parameters_of_one(tmp_path, capsys):
    two_devices = start_two_device_reference(tmp_path / "two-devices")
    results = run_two_processes(tmp_path)
    out, err = two_devices.communicate(timeout=DEADLINE_SECONDS)
    assert two_devices.returncode == 0, err[-3000:]
    json.loads(out)  # stdout holds the result alone

    # The same runs in this one process, with the workers' numerics (no x64, as `jaxdl train`).
    reference = tmp_path / "reference"
    with jax.enable_x64(False):
        assert jaxdl_main([*distributed_worker.MLP_ARGS, "--out", str(reference)]) == 0
        train, valid = distributed_worker.tiny_data()
        tiny = fit(tiny_model, train, valid, Recipe(**distributed_worker.TINY_RECIPE))
    one = json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    assert [r["process"] for r in results] == [0, 1]
    assert all(r["processes"] == 2 for r in results)
    # The MLP through `jaxdl train`: process 0 wrote the run directory, process 1 nothing.
    mlp = jax.tree.map(np.asarray, distributed_worker.mlp_like())
    assert_trees_close(load_best_params(tmp_path / "mlp", mlp), load_best_params(reference, mlp))
    # ... and bit for bit those of one process over as many devices (the README's claim).
    assert_trees_match(
        load_best_params(tmp_path / "mlp", mlp), load_best_params(tmp_path / "two-devices", mlp)
    )
    records = read_metrics(tmp_path / "mlp")
    assert [r["val_accuracy"] for r in records] == [one["result"]["epochs"][0]["val_accuracy"]]
    # The tiny model, interrupted and resumed across both processes.
    for result in results:
        params = {name: np.asarray(value) for name, value in result["tiny_params"].items()}
        assert_trees_close(params, tiny.params)
        assert [r["val_accuracy"] for r in result["tiny_history"]] == [
            r["val_accuracy"] for r in tiny.history
        ]
    assert [r["epoch"] for r in read_metrics(tmp_path / "tiny")] == [1, 2, 3]
    # Refusals reach both processes, so neither waits for the other.
    for result in results:
        assert "already holds a run; pass resume=True" in result["refused_run_dir"]
        assert "recipe of process(es) [1] differs from process 0's" in result["refused_recipe"]


def test_what_asks_for_several_processes(monkeypatch):
    monkeypatch.delenv(COORDINATOR_ENV, raising=False)
    assert not requested()
    assert requested(num_processes=2)
    monkeypatch.setenv(COORDINATOR_ENV, "10.0.0.1:1234")
    assert requested()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(coordinator="10.0.0.1"), "HOST:PORT"),
        (dict(coordinator="10.0.0.1:http"), "HOST:PORT"),
        (dict(coordinator="h:1", num_processes=0, process_id=0), "at least 1"),
        (dict(coordinator="h:1", num_processes=2, process_id=2), r"\[0, N\)"),
    ],
)
def test_bad_process_settings_are_refused_before_joining(kwargs, message):
    with pytest.raises(ValueError, match=message):
        initialize(**kwargs)
