"""Every core by default: the CPU presented as one device per core, and who splits across them.

The device count must be set before JAX's first computation, so each case runs in a fresh
interpreter.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from jaxdl import host_devices, machine

ROOT = Path(__file__).resolve().parents[1]

CHILD = textwrap.dedent(
    """
    import json, sys
    from jaxdl import host_devices
    asked = host_devices.arrange(multiprocess=sys.argv[1] == "several")
    import jax
    from jaxdl.training.sharding import AUTO, devices_for
    print(json.dumps({
        "asked": asked,
        "devices": jax.device_count(),
        "convnet": devices_for(AUTO, splits_batch=True, batch_size=64),
        "odd_batch": devices_for(AUTO, splits_batch=True, batch_size=63),
        "mlp": devices_for(AUTO, splits_batch=False, batch_size=64),
        "given": devices_for(1, splits_batch=True, batch_size=64),
    }))
    """
)


def _child(env: dict[str, str], mode: str = "one") -> dict:
    environ = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", host_devices.ENV_VAR)}
    environ |= {"JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)} | env
    done = subprocess.run(
        [sys.executable, "-c", CHILD, mode], capture_output=True, text=True, env=environ, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_one_device_per_core_and_only_a_gaining_model_splits_its_batch():
    out = _child({})
    cores = machine.cores()
    assert out["asked"] == cores and out["devices"] == cores
    split = cores if cores > 1 else 1
    assert out["convnet"] == split  # SPLITS_BATCH and 64 divides by the cores (1 or 2 here)
    assert out["mlp"] == 1 and out["given"] == 1
    assert out["odd_batch"] == 1  # 63 examples do not split evenly


def test_the_environment_sets_the_count():
    out = _child({host_devices.ENV_VAR: "3"})
    assert out["devices"] == 3 and out["convnet"] == 1  # 64 does not divide by 3
    assert _child({host_devices.ENV_VAR: "4"})["convnet"] == 4


def test_a_count_in_xla_flags_and_a_multiprocess_run_are_left_alone():
    flags = {"XLA_FLAGS": "--xla_force_host_platform_device_count=5"}
    out = _child(flags)
    assert out["devices"] == 5 and out["asked"] == 1
    several = _child({}, mode="several")
    assert several["asked"] == 1 and several["devices"] == 1


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_a_bad_count_is_refused_naming_the_variable(value):
    with pytest.raises(ValueError, match=host_devices.ENV_VAR):
        host_devices.requested({host_devices.ENV_VAR: value})


def test_requested_defaults_to_the_cores():
    assert host_devices.requested({}) == machine.cores()
    assert host_devices.requested({host_devices.ENV_VAR: " 2 "}) == 2


def test_the_command_splits_the_convnet_and_not_the_mlp(tmp_path):
    """``jaxdl train`` reports the devices in use (``--json``'s config)."""
    environ = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", host_devices.ENV_VAR)}
    environ |= {host_devices.ENV_VAR: "2", "JAX_PLATFORMS": "cpu"}
    devices = {}
    for model in ("mlp", "deep-cnn"):
        done = subprocess.run(
            [sys.executable, "-m", "jaxdl", "train", model, "--epochs", "1", "--json",
             "--out", str(tmp_path / model)],
            capture_output=True, text=True, env=environ, cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        devices[model] = json.loads(done.stdout.strip().splitlines()[-1])["config"]["devices"]
    assert devices == {"mlp": 1, "deep-cnn": 2}
