"""Data parallelism on 8 forced CPU devices, in a subprocess (the flag must precede JAX's start):
fit's, and the shared trainer's that any chapter gets with ``devices=``."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

SCRIPT = textwrap.dedent(
    """
    import json
    import jax
    import numpy as np
    from jaxdl.data import Batch
    from jaxdl.training import Recipe, fit
    from jaxdl.training.sharding import data_parallel
    from tests.training import tiny_model

    train = Batch(*tiny_model.make_data(512))
    valid = Batch(*tiny_model.make_data(100, seed=1))
    out = {"devices": jax.device_count()}
    recipe = dict(epochs=2, batch_size=32, learning_rate=0.05)
    single = fit(tiny_model, train, valid, Recipe(**recipe))
    sharded = fit(tiny_model, train, valid, Recipe(**recipe, devices=8))
    out["single"] = jax.tree.map(lambda a: np.asarray(a).tolist(), single.params)
    out["sharded"] = jax.tree.map(lambda a: np.asarray(a).tolist(), sharded.params)
    out["sharded_on"] = len(sharded.params["w"].sharding.device_set)
    out["val"] = [[r["val_accuracy"] for r in run.history] for run in (single, sharded)]
    for name, kwargs in [("indivisible", dict(devices=8, batch_size=36)),
                         ("too_many", dict(devices=9))]:
        try:
            data_parallel(kwargs["devices"], batch_size=kwargs.get("batch_size", 32))
        except ValueError as error:
            out[name] = str(error)
    out["trainer"] = trainer_runs()
    print(json.dumps(out))
    """
)

#: Any chapter's loop: trainer.train with devices=2 and 8 against one device, and a batch
#: that does not split.
TRAINER_SCRIPT = textwrap.dedent(
    """
    import jax.numpy as jnp
    import optax
    from jaxdl.training import trainer

    def squared_error(w, batch):
        x, y = batch
        return jnp.mean((x @ w - y) ** 2)

    def trainer_runs():
        x = jax.random.normal(jax.random.key(3), (64, 8))
        data = (x, x @ jnp.arange(8.0))
        runs = {}
        for devices in (None, 2, 8):
            feed = trainer.sampled(data, batch_size=16, key=jax.random.key(4))
            run = trainer.train(squared_error, jnp.zeros(8), optax.sgd(0.05), feed, steps=30,
                                chunk_steps=7, devices=devices, read_every=10)
            runs[str(devices)] = {"w": np.asarray(run.state.params).tolist(),
                                  "on": len(run.state.params.sharding.device_set),
                                  "losses": len(run.losses)}
        try:
            trainer.train(squared_error, jnp.zeros(8), optax.sgd(0.05),
                          trainer.sampled(data, batch_size=12, key=jax.random.key(4)),
                          steps=2, devices=8)
        except ValueError as error:
            runs["indivisible"] = str(error)
        return runs
    """
)


def test_eight_devices_give_the_single_device_parameters():
    root = Path(__file__).resolve().parents[2]
    env = os.environ | {
        "XLA_FLAGS": "--xla_force_host_platform_device_count=8",
        "JAX_PLATFORMS": "cpu",
        "PYTHONPATH": str(root),
    }
    done = subprocess.run(
        [sys.executable, "-c", TRAINER_SCRIPT + SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["devices"] == 8 and out["sharded_on"] == 8
    for name in ("w", "b"):
        np.testing.assert_allclose(out["sharded"][name], out["single"][name], rtol=1e-5, atol=1e-6)
    assert out["val"][0] == out["val"][1]
    assert "batch_size=36 does not divide evenly across 8 devices" in out["indivisible"]
    assert "more devices than the 8" in out["too_many"]
    runs = out["trainer"]
    assert [runs[d]["on"] for d in ("None", "2", "8")] == [1, 2, 8]
    assert all(runs[d]["losses"] == 30 for d in ("None", "2", "8"))
    for devices in ("2", "8"):
        np.testing.assert_allclose(runs[devices]["w"], runs["None"]["w"], rtol=1e-5, atol=1e-6)
    assert "batch_size=12 does not divide evenly across 8 devices" in runs["indivisible"]
