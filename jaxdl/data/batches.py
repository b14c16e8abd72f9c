"""Batches for training: float images, a seeded validation split, shuffled fixed-shape epochs.

Arrays go to the device once; each epoch is one jitted gather of a permutation, reshaped into
``[num_batches, batch_size, ...]``, so a training loop can ``lax.scan`` over it or iterate
batch by batch without host round-trips. Every batch has the same shape, so a jitted step
compiles once:

* ``drop_remainder=True`` (training): the last ``N % batch_size`` examples of the shuffled
  order are left out of this epoch; a different key shuffles different ones out next epoch.
* ``drop_remainder=False`` (evaluation): the last batch is padded to ``batch_size`` with zero
  rows and every batch carries a final ``mask`` array ``bool [batch_size]`` that is ``False``
  on padding, so each example counts exactly once (weight losses and accuracies by it).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxdl.validate import require_positive_int


class Feed(NamedTuple):
    """Where each training step's batch comes from, inside the compiled loop
    (:func:`jaxdl.training.trainer.train` runs it).

    ``next(state) -> (state, batch)`` must be a pure, jittable function; ``state`` (any
    pytree of arrays: a PRNG key, a position, the data itself) is carried from step to step.

    With ``data``, ``next(state, data)`` reads it without carrying it: arrays that stay on the
    device unchanged for the whole run (a training set), or a function ``data(first, n)`` the
    host calls before each compiled chunk of ``n`` steps, from step ``first`` of the run, for
    the arrays those steps read (batches gathered on the host, one process's rows of each).
    """

    state: Any
    next: Callable[..., tuple[Any, Any]]
    data: Any = None


class Batch(NamedTuple):
    """Labelled images: a split, a part of one, or one training batch.

    As :func:`jaxdl.data.mnist` returns them, host uint8 arrays ``[N, 28, 28]`` and labels 0-9;
    as models take them (:func:`to_float_images`), float32 ``[N, 28, 28, 1]`` in [0, 1] with
    int32 labels.
    """

    images: ArrayLike  # [N, ...]
    labels: ArrayLike  # [N] class indices


def to_float_images(images: ArrayLike) -> jax.Array:
    """uint8 images ``[N, H, W]`` -> float32 ``[N, H, W, 1]`` in [0, 1] (``x / 255``).

    Raises:
      ValueError: the images are not a uint8 array of rank 3.
    """
    dtype = getattr(images, "dtype", None)
    shape = tuple(getattr(images, "shape", ()))
    if dtype != np.uint8 or len(shape) != 3:
        raise ValueError(
            f"expected uint8 images of shape [N, H, W] (as mnist() returns), got "
            f"{dtype} {list(shape)}"
        )
    return (jnp.asarray(images, dtype=jnp.float32) / jnp.float32(255.0))[..., None]


def _check_same_length(arrays: tuple) -> int:
    if not arrays:
        raise ValueError("expected at least one array")
    lengths = [np.shape(a)[0] if np.ndim(a) else None for a in arrays]
    if None in lengths or len(set(lengths)) != 1:
        shapes = ", ".join(str(list(np.shape(a))) for a in arrays)
        raise ValueError(f"expected arrays with equal leading dimensions, got shapes {shapes}")
    return int(lengths[0])


def train_validation_split(
    images: ArrayLike,
    labels: ArrayLike,
    *,
    validation_fraction: float | None = None,
    validation_size: int | None = None,
    key: jax.Array,
) -> tuple[Batch, Batch]:
    """Split off a random validation part (seeded by ``key``), keeping array types.

    Give exactly one of ``validation_fraction`` (in (0, 1); the size is rounded) or
    ``validation_size``; both parts are left non-empty.

    Returns:
      ``(train, validation)``, each a :class:`Batch` ``(images [n, ...], labels [n])``.

    Raises:
      ValueError: neither or both sizes given, a size leaving a part empty, or arrays of
        unequal length.
    """
    n = _check_same_length((images, labels))
    if (validation_fraction is None) == (validation_size is None):
        raise ValueError("give exactly one of validation_fraction and validation_size")
    if validation_fraction is not None:
        if not 0.0 < float(validation_fraction) < 1.0:
            raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction!r}")
        validation_size = round(float(validation_fraction) * n)
    require_positive_int("validation_size", validation_size)
    if not 1 <= validation_size < n:
        raise ValueError(
            f"validation_size must leave both parts non-empty: got {validation_size} "
            f"of {n} examples"
        )
    order = np.asarray(jax.random.permutation(key, n))
    valid, train = np.sort(order[:validation_size]), np.sort(order[validation_size:])

    def take(array, index):
        return array[index] if isinstance(array, np.ndarray) else jnp.asarray(array)[index]

    return (
        Batch(take(images, train), take(labels, train)),
        Batch(take(images, valid), take(labels, valid)),
    )


def shuffled_batch_indices(key: jax.Array, num_examples: int, batch_size: int) -> jax.Array:
    """One epoch's order as full batches: ``[num_examples // batch_size, batch_size]`` int32.

    A permutation of ``range(num_examples)`` drawn with ``key``, cut into full batches; the last
    partial batch is dropped so that every batch has the same shape (traceable under ``jit``).
    """
    steps = num_examples // batch_size
    order = jax.random.permutation(key, num_examples)[: steps * batch_size]
    return order.astype(jnp.int32).reshape(steps, batch_size)


@functools.partial(jax.jit, static_argnames=("batch_size", "drop_remainder"))
def _epoch(arrays: tuple, key: jax.Array, *, batch_size: int, drop_remainder: bool):
    n = arrays[0].shape[0]
    if drop_remainder:
        index = shuffled_batch_indices(key, n, batch_size)
        return tuple(jnp.take(a, index, axis=0) for a in arrays)
    order = jax.random.permutation(key, n)
    steps = -(-n // batch_size)
    padded = steps * batch_size
    mask = (jnp.arange(padded) < n).reshape(steps, batch_size)
    index = jnp.concatenate([order, jnp.zeros(padded - n, order.dtype)]).reshape(steps, -1)
    batches = []
    for a in arrays:
        gathered = jnp.take(a, index, axis=0)
        keep = mask.reshape(mask.shape + (1,) * (a.ndim - 1))
        batches.append(jnp.where(keep, gathered, jnp.zeros((), a.dtype)))
    return (*batches, mask)


def epoch_arrays(
    *arrays: ArrayLike, batch_size: int, key: jax.Array, drop_remainder: bool = True
) -> tuple[jax.Array, ...]:
    """One shuffled epoch as stacked batches ``[num_batches, batch_size, ...]`` (for ``lax.scan``).

    Args:
      *arrays: arrays with equal leading dimension ``N`` (images, labels, ...).
      batch_size: examples per batch.
      key: PRNG key of this epoch's shuffle; the same key gives the same order.
      drop_remainder: drop the last partial batch (``N // batch_size`` batches, needs
        ``N >= batch_size``) or pad it with zero rows and append ``mask bool [S, batch_size]``
        (``ceil(N / batch_size)`` batches); see the module docstring.

    Returns:
      One array per input, ``[num_batches, batch_size, *input.shape[1:]]``, plus the mask when
      ``drop_remainder`` is false.

    Raises:
      ValueError: unequal lengths, no data, non-positive batch size, or fewer examples than
        one batch when dropping the remainder.
    """
    n = _check_same_length(arrays)
    require_positive_int("batch_size", batch_size)
    if n == 0:
        raise ValueError("expected at least one example, got arrays of length 0")
    if drop_remainder and n < batch_size:
        raise ValueError(
            f"batch_size {batch_size} exceeds the {n} examples, so dropping the remainder "
            "leaves no batch; use a smaller batch_size or drop_remainder=False"
        )
    device_arrays = tuple(jnp.asarray(a) for a in arrays)
    return _epoch(device_arrays, key, batch_size=batch_size, drop_remainder=drop_remainder)


def epoch_batches(
    *arrays: ArrayLike, batch_size: int, key: jax.Array, drop_remainder: bool = True
) -> Iterator[tuple[jax.Array, ...]]:
    """Iterate over one shuffled epoch, batch by batch, every batch of the same shape.

    Same arguments as :func:`epoch_arrays`; yields tuples ``(a [batch_size, ...], ...)``
    with a trailing ``mask bool [batch_size]`` when ``drop_remainder`` is false.

    Example::

        for epoch_key in jax.random.split(key, epochs):
            for images, labels in epoch_batches(x, y, batch_size=128, key=epoch_key):
                state = update(state, images, labels)
    """
    stacked = epoch_arrays(*arrays, batch_size=batch_size, key=key, drop_remainder=drop_remainder)
    for step in range(stacked[0].shape[0]):
        yield tuple(a[step] for a in stacked)
