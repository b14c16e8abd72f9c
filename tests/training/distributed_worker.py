"""One process of the two-process training test (``tests/training/test_distributed.py``).

``python -m tests.training.distributed_worker COORDINATOR PROCESS_ID OUT`` runs, in this order
and in step with the other process:

1. ``jaxdl train mlp`` for one epoch on the MNIST sample, through the command line; process 0
   takes the coordinator from ``--coordinator``, process 1 from ``JAX_COORDINATOR_ADDRESS``.
2. The tiny model for three epochs, interrupted after epoch 2 and resumed from the checkpoint
   process 0 wrote.
3. Two settings that must be refused by both processes: a run directory that already holds a
   run (only process 0 looks at it) and recipes that differ between the processes.

The last line of stdout is one JSON object with what the test compares.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.training import tiny_model

#: Shared with the test, which runs the same things in one process. SGD, not Adam, for the MLP:
#: Adam divides each step by the root of the gradient's second moment, so on the weights of
#: border pixels (gradients of almost nothing) the all-reduce's other order of summation, a
#: rounding difference, grows to about 1e-5 in one epoch; SGD keeps it at rounding size.
MLP_ARGS = ["train", "mlp", "--epochs", "1", "--batch-size", "64", "--json"]
MLP_ARGS += ["--optimizer", "sgd", "--lr", "0.05"]
TINY_RECIPE = dict(epochs=3, batch_size=32, learning_rate=0.05, chunk_steps=3)
TINY_SIZES = (640, 160)


def tiny_data():
    from jaxdl.data import Batch

    train, valid = TINY_SIZES
    return Batch(*tiny_model.make_data(train)), Batch(*tiny_model.make_data(valid, seed=1))


def mlp_like():
    """Parameters shaped like the MLP's, to restore its checkpoints into."""
    import jax

    from jaxdl import models

    return models.get("mlp").init_params(jax.random.key(0))


def main(coordinator: str, process_id: int, out: Path) -> dict:
    from jaxdl.cli import main as jaxdl_main

    distributed_args = ["--num-processes", "2", "--process-id", str(process_id)]
    if process_id == 0:
        distributed_args += ["--coordinator", coordinator]  # process 1: JAX_COORDINATOR_ADDRESS
    status = jaxdl_main([*MLP_ARGS, "--out", str(out / "mlp"), *distributed_args])
    if status != 0:
        raise SystemExit(f"jaxdl train exited with status {status}")

    import jax
    import numpy as np

    from jaxdl.training import Recipe, fit

    result = {"process": jax.process_index(), "processes": jax.process_count()}
    train, valid = tiny_data()
    recipe = Recipe(**TINY_RECIPE)

    def interrupt(record):
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    try:
        fit(tiny_model, train, valid, recipe, run_dir=out / "tiny", on_epoch_end=interrupt)
    except KeyboardInterrupt:
        pass
    resumed = fit(tiny_model, train, valid, recipe, run_dir=out / "tiny", resume=True)
    result["tiny_params"] = jax.tree.map(lambda a: np.asarray(a).tolist(), resumed.params)
    result["tiny_history"] = resumed.history

    for name, kwargs in [
        ("refused_run_dir", dict(recipe=recipe, run_dir=out / "tiny")),
        ("refused_recipe", dict(recipe=Recipe(**TINY_RECIPE | {"seed": process_id}))),
    ]:
        try:
            fit(tiny_model, train, valid, **kwargs)
        except ValueError as error:
            result[name] = str(error)
    return result


if __name__ == "__main__":
    coordinator, process_id, out = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    print(json.dumps(main(coordinator, process_id, out)), flush=True)
