"""Training on several processes and machines with JAX's multi-controller runtime.

Every process runs the same program (``jaxdl train ... --process-id I``) and calls
:func:`initialize` before any JAX computation. :func:`jax.distributed.initialize` connects the
processes through a coordinator service that process 0 starts at ``--coordinator HOST:PORT``;
afterwards :func:`jax.devices` lists the devices of *every* process, and one
:class:`~jax.sharding.Mesh` over all of them carries the data parallelism of
:mod:`jaxdl.training.sharding` across processes: the parameters are replicated on every device,
each global batch is split along its first axis, and XLA's gradient all-reduce crosses process
boundaries through the CPU collectives (gloo) or NCCL on GPUs.

What each process does, so that the run equals a single-process one:

* **Same order everywhere.** Every process draws the same shuffled index table from the seed
  (:func:`jaxdl.training.step.epoch_order`), so all agree on which examples form batch ``s``.
* **Each reads its own shard.** :func:`global_batch` asks each process only for the rows of the
  global batch that its own devices hold (:func:`jax.make_array_from_callback`), gathered on
  the host from its copy of the data set.
* **One process writes.** Process 0 writes ``metrics.jsonl``, the event files and the
  checkpoints; the others never touch the run directory, so ``--out`` needs to exist only on
  process 0's machine. On ``--resume`` process 0 reads and verifies the checkpoint and
  :func:`broadcast` sends the state to the others.
* **Errors everywhere or nowhere.** A setting that process 0 refuses (a full run directory, a
  resumed recipe that differs) is sent to every process by :func:`raise_everywhere`, so all
  exit with the same message instead of the others blocking in the next collective;
  :func:`check_same_everywhere` refuses processes whose recipe or data differ.
"""

from __future__ import annotations

import json
import os
import zlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding

from jaxdl.data.batches import Batch, Feed
from jaxdl.training.step import next_fed

#: The environment variable :func:`jax.distributed.initialize` reads the coordinator from.
COORDINATOR_ENV = "JAX_COORDINATOR_ADDRESS"


def requested(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> bool:
    """Whether the options or the environment ask for a multi-process run.

    True when any of the three is given, or when ``JAX_COORDINATOR_ADDRESS`` is set.
    """
    given = (coordinator, num_processes, process_id)
    return any(value is not None for value in given) or bool(os.environ.get(COORDINATOR_ENV))


def initialize(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    initialization_timeout: int = 300,
) -> None:
    """Join the run of ``num_processes`` processes as ``process_id``; call before any JAX work.

    Values left ``None`` come from JAX's own sources: the coordinator from
    ``JAX_COORDINATOR_ADDRESS``, and all three from a Slurm, Open MPI or Kubernetes job's
    environment (JAX's cluster detection). On CPU the cross-process collectives are gloo's.

    Raises:
      ValueError: a malformed ``HOST:PORT``, a process count below 1, an id outside
        ``[0, num_processes)``, or values JAX can find neither here nor in the environment.
    """
    if coordinator is not None:
        host, _, port = coordinator.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(
                f"coordinator={coordinator!r} must be HOST:PORT (process 0's address and a "
                "free port)"
            )
    if num_processes is not None and (isinstance(num_processes, bool) or num_processes < 1):
        raise ValueError(f"num_processes={num_processes!r} must be at least 1")
    if process_id is not None and not 0 <= process_id < (num_processes or process_id + 1):
        raise ValueError(
            f"process_id={process_id!r} must be in [0, N) for N = num_processes={num_processes!r}"
        )
    if coordinator is not None and process_id == 0:
        _check_port_free(coordinator)
    # gloo is JAX's default CPU implementation; naming it keeps that choice explicit and stable.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        jax.distributed.initialize(
            coordinator, num_processes, process_id, initialization_timeout=initialization_timeout
        )
    except ValueError as error:
        raise ValueError(
            f"cannot start a multi-process run: {error} Give `coordinator` (HOST:PORT), "
            "`num_processes` and `process_id` (or set JAX_COORDINATOR_ADDRESS and run under Slurm "
            "or Open MPI, whose variables JAX reads)"
        ) from None
    jax.devices()  # meet the other processes now: the backends exchange their topologies


def _check_port_free(coordinator: str) -> None:
    """``ValueError`` when process 0 cannot listen at ``coordinator`` because the port is taken.

    JAX's coordinator service, given a port in use, logs "Failed to add port to server" and
    the process segfaults (and the others wait for it in silence); binding first says why.
    """
    import errno
    import socket

    port = int(coordinator.rpartition(":")[2])
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:  # where JAX listens: all
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("", port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise ValueError(
                    f"coordinator={coordinator!r}: port {port} is in use (by another program, "
                    "or by another process 0 of this run: each `process_id` once); choose a "
                    "free port, the same for every process"
                ) from None


def process_count() -> int:
    """How many processes take part in the run (1 without :func:`initialize`)."""
    return jax.process_count()


def is_multiprocess() -> bool:
    """True when this process is one of several (after :func:`initialize`)."""
    return jax.process_count() > 1


def is_primary() -> bool:
    """True on process 0, the one that writes metrics and checkpoints."""
    return jax.process_index() == 0


def global_batch(
    images: np.ndarray, labels: np.ndarray, rows: np.ndarray, sharding: NamedSharding
) -> tuple[jax.Array, jax.Array]:
    """The global batch ``(images[rows], labels[rows])`` as arrays laid out by ``sharding``.

    Args:
      images: this process's copy of the data set ``[N, ...]`` (host memory).
      labels: ``[N]``.
      rows: global example indices, ``[B]`` for one batch or ``[K, B]`` for ``K`` batches.
      sharding: splits the batch axis (the last axis of ``rows``) over the devices of every
        process.

    Returns:
      ``images [*rows.shape, ...]`` and ``labels [*rows.shape]``; this process gathers only
      the rows its own devices hold.
    """
    batch_axis = rows.ndim - 1

    def shard_rows(index: tuple[slice, ...]) -> np.ndarray:
        return rows[index[: batch_axis + 1]]

    image_shape = rows.shape + images.shape[1:]
    image_sharding = _extend(sharding, batch_axis, len(image_shape))
    label_sharding = _extend(sharding, batch_axis, rows.ndim)
    return (
        jax.make_array_from_callback(
            image_shape, image_sharding, lambda index: images[shard_rows(index)]
        ),
        jax.make_array_from_callback(
            rows.shape, label_sharding, lambda index: labels[shard_rows(index)]
        ),
    )


def _extend(sharding: NamedSharding, batch_axis: int, ndim: int) -> NamedSharding:
    """``sharding``'s batch split placed on ``batch_axis`` of an ``ndim``-dimensional array."""
    from jax.sharding import PartitionSpec

    (axis_name,) = sharding.spec
    spec = [None] * ndim
    spec[batch_axis] = axis_name
    return NamedSharding(sharding.mesh, PartitionSpec(*spec))


def broadcast(tree: Any) -> Any:
    """Process 0's value of ``tree`` (NumPy arrays of equal shapes everywhere), on every process.

    Returns host (NumPy) arrays.
    """
    from jax.experimental import multihost_utils

    return jax.tree.map(np.asarray, multihost_utils.broadcast_one_to_all(tree))


def broadcast_json(value: Any) -> Any:
    """Process 0's JSON-serialisable ``value``, on every process (others pass anything)."""
    data = json.dumps(value).encode() if is_primary() else b""
    size = int(broadcast(np.asarray(len(data), np.int32)))
    buffer = np.zeros(size, np.uint8)
    if is_primary():
        buffer[:] = np.frombuffer(data, np.uint8)
    return json.loads(broadcast(buffer).tobytes().decode())


def raise_everywhere(error: ValueError | None) -> None:
    """Raise on every process when process 0 refused something (``error``); else return.

    Every process must call this at the same point; ``error`` matters only on process 0,
    which raises it as it is, while the others raise a ``ValueError`` with its message.
    """
    message = None if error is None else str(error)
    if is_multiprocess():
        message = broadcast_json(message)
    if error is not None:
        raise error
    if message is not None:
        raise ValueError(message)


def fingerprint(*parts: Any) -> int:
    """A CRC-32 of JSON-serialisable ``parts``: equal settings, equal fingerprints."""
    return zlib.crc32(json.dumps(parts, sort_keys=True).encode())


def check_same_everywhere(what: str, value: int) -> None:
    """``ValueError`` on every process unless all processes pass the same ``value``.

    Args:
      what: names the compared thing in the message ("recipe", "training data").
      value: this process's fingerprint of it (:func:`fingerprint`).
    """
    from jax.experimental import multihost_utils

    values = np.asarray(multihost_utils.process_allgather(np.asarray(value, np.uint32)))
    differing = [i for i, v in enumerate(values.reshape(-1)) if v != values.reshape(-1)[0]]
    if differing:
        raise ValueError(
            f"the {what} of process(es) {differing} differs from process 0's; start every "
            "process with the same command and data (only `process_id` differs)"
        )


def fed_epoch(train: Batch, order: jax.Array, dropout_key: jax.Array, layout) -> Feed:
    """One epoch's :class:`~jaxdl.data.batches.Feed` for a run of several processes, where no
    device holds the whole training set: before each compiled chunk the host gathers this
    process's rows of the chunk's global batches (:func:`global_batch`) from ``train``, its
    host copy of the data; step ``s`` takes rows ``order[s]`` and the dropout key
    ``fold_in(dropout_key, s)``, as on one device (:func:`jaxdl.training.step.epoch_feed`)."""
    order = np.asarray(order)  # the epoch's table, read to the host once

    def data(first: int, n: int) -> tuple[Batch, np.int32]:
        rows = order[first : first + n]
        return Batch(*global_batch(*train, rows, layout.batch)), np.int32(first)

    return Feed((dropout_key, jnp.zeros([], jnp.int32)), next_fed, data)
