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
    env = os.environ | {"JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)}
    env.pop(COORDINATOR_ENV, None)
    env.pop("XLA_FLAGS", None)  # one CPU device per process
    logs = [out / f"process{i}.log" for i in range(2)]
    processes = []
    try:
        for i, log in enumerate(logs):
            worker_env = env | ({COORDINATOR_ENV: coordinator} if i == 1 else {})
            command = [sys.executable, "-m", "tests.training.distributed_worker"]
            with log.open("w") as sink:
                processes.append(
                    subprocess.Popen(
                        [*command, coordinator, str(i), str(out)],
                        cwd=ROOT,
                        env=worker_env,
                        stdout=sink,
                        stderr=subprocess.STDOUT,
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
    output = "\n".join(f"--- process {i}:\n{log.read_text()[-4000:]}" for i, log in enumerate(logs))
    codes = [p.returncode for p in processes]
    assert codes == [0, 0], f"exit codes {codes} (negative: killed at the deadline)\n{output}"
    return [json.loads(log.read_text().strip().splitlines()[-1]) for log in logs]


def assert_trees_close(a, b):
    assert_trees_match(a, b, atol=1e-6)


def test_two_processes_train_the_parameters_of_one(tmp_path, capsys):
    results = run_two_processes(tmp_path)

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
        assert "already holds a run; pass --resume" in result["refused_run_dir"]
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
