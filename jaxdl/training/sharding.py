"""Data parallelism with :mod:`jax.sharding`: one mesh axis over the batch, parameters replicated.

Every device holds the parameters and a copy of the data set; each step's gathered batch is
split along its first axis across the mesh (``PartitionSpec("batch")``), and XLA's SPMD
partitioner inserts the all-reduce of the gradients. The arithmetic is the single-device step's,
up to the order of floating-point sums.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxdl.validate import require_positive_int

BATCH_AXIS = "batch"


class DataParallel(NamedTuple):
    """The mesh and the two layouts a data-parallel run uses."""

    mesh: Mesh  # 1-D, axis "batch"
    batch: NamedSharding  # split the leading (batch) axis across devices
    replicated: NamedSharding  # a full copy on every device


#: ``devices=AUTO``: every device of this process when the model gains from it, else one.
AUTO = 0


def devices_for(devices: int, *, splits_batch: bool, batch_size: int) -> int:
    """The device count a run uses: ``devices`` as given, or for :data:`AUTO` every device this
    process sees (one per core after :func:`jaxdl.host_devices.arrange`) when the model's step
    gains from the split (``splits_batch``) and the batch divides evenly, else 1. A run of
    several processes always spans all their devices (:func:`data_parallel`): there ``AUTO``
    is 1, the count it asks for per process."""
    if devices != AUTO:
        return devices
    available = jax.local_device_count()
    if not splits_batch or jax.process_count() > 1 or batch_size % available:
        return 1
    return available


def data_parallel(devices: int, *, batch_size: int) -> DataParallel | None:
    """The layout for ``devices`` devices, or ``None`` for a plain single-device run.

    In a run of several processes the mesh always spans every device of every process
    (``devices`` must then be 1, the default, or that total).

    Raises:
      ValueError: if ``devices`` is not positive, exceeds the devices JAX can see, or does not
        divide ``batch_size`` (each device must get the same number of examples).
    """
    require_positive_int("devices", devices)
    available = jax.devices()  # every process's devices, in a multi-process run
    if jax.process_count() > 1:
        # Several processes (jaxdl.training.distributed): the mesh spans all their devices.
        if devices not in (1, len(available)):
            raise ValueError(
                f"devices={devices}: a run of {jax.process_count()} processes uses all "
                f"{len(available)} of their devices; leave devices unset"
            )
        devices = len(available)
    if devices > len(available):
        raise ValueError(
            f"devices={devices} asks for more devices than the {len(available)} JAX can see "
            f"({available[0].platform}); on CPU, set "
            f"XLA_FLAGS=--xla_force_host_platform_device_count={devices} before starting"
        )
    if batch_size % devices:
        raise ValueError(
            f"batch_size={batch_size} does not divide evenly across {devices} devices; "
            f"choose a batch size that is a multiple of {devices}"
        )
    if devices == 1:
        return None
    mesh = Mesh(np.asarray(available[:devices]), (BATCH_AXIS,))
    return DataParallel(
        mesh, NamedSharding(mesh, PartitionSpec(BATCH_AXIS)), NamedSharding(mesh, PartitionSpec())
    )


def replicate(tree: Any, layout: DataParallel | None) -> Any:
    """Place every array of ``tree`` on all devices of ``layout`` (unchanged when ``None``)."""
    if layout is None:
        return tree
    return jax.device_put(tree, layout.replicated)
