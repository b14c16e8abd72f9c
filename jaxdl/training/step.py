"""The jitted train step, and the device-side loops that run it many times without a host sync.

A model is any :class:`jaxdl.models.Model` (usually a module such as
:mod:`jaxdl.models.deep_cnn`): ``init_params``, ``apply`` and ``l2_penalty``, which the
objective adds to the cross-entropy.

:func:`make_train_step` builds one pure update ``(state, batch, key) -> (state, metrics)``.
:func:`make_train_chunk` wraps it in a :func:`jax.lax.scan` over ``K`` consecutive batches of an
epoch, gathered on the device from a shuffled index table, so the host dispatches one call per
``K`` steps; the loop reads the per-step metrics every few dozen steps (while later steps
already run). :func:`make_evaluate` runs a whole evaluation set in fixed-size, masked batches.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import NamedSharding

from jaxdl.data.batches import Batch, shuffled_batch_indices
from jaxdl.losses import softmax_cross_entropy
from jaxdl.models import Model
from jaxdl.models import objective as models_objective
from jaxdl.optim import TrainState, apply_gradients, init_train_state

PyTree = Any


class RunKeys(NamedTuple):
    """The three independent keys of a run, all from ``key(seed)``."""

    init: jax.Array  # the model's initial parameters
    train: jax.Array  # folded with the epoch number: shuffles and dropout
    split: jax.Array  # the train/validation split of the data


def keys(seed: int) -> RunKeys:
    """``RunKeys`` of a run: ``split(key(seed), 3)``."""
    init, train, split = jax.random.split(jax.random.key(seed), 3)
    return RunKeys(init, train, split)


def epoch_keys(train_key: jax.Array, epoch: int) -> tuple[jax.Array, jax.Array]:
    """``(shuffle_key, dropout_key)`` of 1-based ``epoch``: ``split(fold_in(train_key, epoch))``."""
    shuffle_key, dropout_key = jax.random.split(jax.random.fold_in(train_key, epoch))
    return shuffle_key, dropout_key


class StepMetrics(NamedTuple):
    """What one step reports (per-step values, stacked to ``[K]`` by a chunk)."""

    loss: jax.Array  # [] float32, the objective: mean cross-entropy + penalty
    correct: jax.Array  # [] int32, right predictions in the batch (training mode)


def make_optimizer(
    name: str,
    learning_rate: float,
    *,
    momentum: float = 0.9,
    schedule: str = "constant",
    total_steps: int | None = None,
) -> optax.GradientTransformation:
    """``"adam"`` (optax.adam) or ``"sgd"`` (optax.sgd with heavy-ball ``momentum``).

    ``schedule="cosine"`` decays the learning rate from ``learning_rate`` to zero over
    ``total_steps`` along half a cosine (``optax.cosine_decay_schedule``); ``"constant"`` keeps it.
    """
    if schedule == "cosine":
        if total_steps is None or total_steps < 1:
            raise ValueError(f"a cosine schedule needs total_steps >= 1, got {total_steps!r}")
        rate = optax.cosine_decay_schedule(learning_rate, decay_steps=total_steps)
    elif schedule == "constant":
        rate = learning_rate
    else:
        raise ValueError(f"unknown schedule {schedule!r}; choose 'constant' or 'cosine'")
    if name == "adam":
        return optax.adam(rate)
    if name == "sgd":
        return optax.sgd(rate, momentum=momentum)
    raise ValueError(f"unknown optimizer {name!r}; choose 'adam' or 'sgd'")


def init_state(
    model: Model, optimizer: optax.GradientTransformation, *, key: jax.Array
) -> TrainState:
    """Fresh float32 parameters from ``model.init_params`` and the optimizer state for them."""
    return init_train_state(model.init_params(key, dtype=jnp.float32), optimizer)


def objective(
    model: Model,
    params: PyTree,
    batch: Batch,
    key: jax.Array | None,
    train: bool,
    backward: str = "auto",
):
    """``(cross-entropy + l2_penalty, logits)`` for one batch (:func:`jaxdl.models.objective`).

    ``backward`` (``"auto"``, ``"hand"`` or ``"autodiff"``) goes to the model and the loss.
    """
    logits = model.apply(params, batch.images, key=key, train=train, backward=backward)
    penalty = model.l2_penalty(params, backward=backward)
    return models_objective(logits, batch.labels, penalty, backward=backward), logits


def check_backward(model: Model, backward: str) -> None:
    """``ValueError`` unless ``model`` offers ``backward`` (its ``BACKWARDS``)."""
    if backward not in model.BACKWARDS:
        name = getattr(model, "__name__", type(model).__name__)
        raise ValueError(
            f"model {name} has one backward pass: backward={backward!r} needs a model with a "
            "backward switch (deep-cnn, mlp); use backward='auto'"
        )


def _correct(logits: jax.Array, labels: jax.Array) -> jax.Array:
    return jnp.sum(jnp.argmax(logits, axis=-1) == labels, dtype=jnp.int32)


def make_train_step(
    model: Model, optimizer: optax.GradientTransformation, *, backward: str = "auto"
) -> Callable[[TrainState, Batch, jax.Array], tuple[TrainState, StepMetrics]]:
    """One optimizer update: ``(state, batch, key) -> (new_state, metrics)``.

    ``key`` drives the model's dropout; ``backward`` as in :func:`objective`. Pure; ``jax.jit``
    it, or run it inside a scan (:func:`make_train_chunk`).
    """

    def train_step(state: TrainState, batch: Batch, key: jax.Array):
        grad_fn = jax.value_and_grad(
            lambda p: objective(model, p, batch, key, train=True, backward=backward),
            has_aux=True,
        )
        (loss, logits), grads = grad_fn(state.params)
        new_state = apply_gradients(state, grads, optimizer)
        return new_state, StepMetrics(loss, _correct(logits, batch.labels))

    return train_step


def step_key(epoch_key: jax.Array, step_in_epoch: jax.Array | int) -> jax.Array:
    """The dropout key of one step: ``fold_in(epoch_key, step_in_epoch)``."""
    return jax.random.fold_in(epoch_key, step_in_epoch)


def make_train_chunk(
    train_step: Callable, *, chunk_steps: int, batch_sharding: NamedSharding | None = None
) -> Callable:
    """Jitted ``K = chunk_steps`` consecutive steps of an epoch, gathered on the device.

    Choose ``K`` by measurement (``benchmarks/deep_cnn_speed.py``). On XLA:CPU convolutions
    inside a ``while`` loop (which ``scan`` lowers to) run much slower than at the top level of
    a computation, so for convnets on CPU ``K = 1`` (one jitted step per call, dispatched
    asynchronously, no scan) is the default; where dispatch dominates (tiny models, GPUs),
    larger ``K`` wins.

    The returned function has signature
    ``(state, images [N, ...], labels [N], order [S_pad, B] int, num_steps [], first [],
    epoch_key) -> (state, StepMetrics of [K])``: it runs steps ``first .. first + K - 1`` of the
    epoch, taking batch ``s`` as ``images[order[s]]``. Steps at or beyond ``num_steps`` (the
    padding of the last chunk) leave the state unchanged and report zeros, so every chunk has
    the same shape and the function compiles once per configuration.

    With ``batch_sharding`` (a :class:`~jax.sharding.NamedSharding` over the batch axis), each
    gathered batch is laid out across the mesh; XLA inserts the gradient all-reduce.
    """

    def gather(images, labels, order, s):
        idx = jax.lax.dynamic_index_in_dim(order, s, keepdims=False)
        batch = Batch(jnp.take(images, idx, axis=0), jnp.take(labels, idx, axis=0))
        if batch_sharding is not None:
            batch = jax.lax.with_sharding_constraint(batch, batch_sharding)
        return batch

    def run_one(state, images, labels, order, num_steps, first, epoch_key):
        del num_steps  # a chunk of one step is never padding
        batch = gather(images, labels, order, first)
        state, metrics = train_step(state, batch, step_key(epoch_key, first))
        return state, jax.tree.map(lambda m: m[None], metrics)

    def run_chunk(state, images, labels, order, num_steps, first, epoch_key):
        def body(state, i):
            s = first + i
            batch = gather(images, labels, order, s)
            return _step_unless_padding(train_step, state, batch, s, num_steps, epoch_key)

        return jax.lax.scan(body, state, jnp.arange(chunk_steps, dtype=jnp.int32))

    return jax.jit(run_one if chunk_steps == 1 else run_chunk, donate_argnums=(0,))


def _step_unless_padding(train_step, state, batch, s, num_steps, epoch_key):
    """Step ``s`` of the epoch, or (at or past ``num_steps``) the unchanged state and zeros."""

    def active(state):
        return train_step(state, batch, step_key(epoch_key, s))

    def idle(state):
        return state, StepMetrics(jnp.zeros([], jnp.float32), jnp.zeros([], jnp.int32))

    new_state, metrics = jax.lax.cond(s < num_steps, active, idle, state)
    return new_state, StepMetrics(metrics.loss.astype(jnp.float32), metrics.correct)


def make_fed_train_chunk(train_step: Callable, *, chunk_steps: int) -> Callable:
    """Jitted ``K = chunk_steps`` steps on batches the host feeds (a multi-process run).

    The counterpart of :func:`make_train_chunk` for :mod:`jaxdl.training.distributed`, where
    no device holds the whole data set: each process gathers its rows of the global batches on
    the host (:func:`jaxdl.training.distributed.global_batch`). Signature
    ``(state, batches, num_steps [], first [], epoch_key) -> (state, StepMetrics of [K])``,
    with ``batches`` a :class:`Batch` of ``[B, ...]`` when ``K = 1``, else ``[K, B, ...]``
    (steps ``first .. first + K - 1``); padding steps are skipped as in
    :func:`make_train_chunk`, so the arithmetic is the same.
    """

    def run_one(state, batch, num_steps, first, epoch_key):
        del num_steps  # a chunk of one step is never padding
        state, metrics = train_step(state, batch, step_key(epoch_key, first))
        return state, jax.tree.map(lambda m: m[None], metrics)

    def run_chunk(state, batches, num_steps, first, epoch_key):
        def body(state, xs):
            i, batch = xs
            s = first + i
            return _step_unless_padding(train_step, state, batch, s, num_steps, epoch_key)

        steps = jnp.arange(chunk_steps, dtype=jnp.int32)
        return jax.lax.scan(body, state, (steps, batches))

    return jax.jit(run_one if chunk_steps == 1 else run_chunk, donate_argnums=(0,))


@functools.partial(jax.jit, static_argnames=("num_examples", "batch_size", "padded_steps"))
def epoch_order(
    key: jax.Array, *, num_examples: int, batch_size: int, padded_steps: int
) -> jax.Array:
    """A shuffled index table ``[padded_steps, batch_size]`` (int32) for one epoch.

    The permutation of ``num_examples`` (drawn with ``key``) is cut into ``num_examples //
    batch_size`` full batches (the last partial batch is dropped, keeping shapes fixed); rows
    past those are zero padding for the last chunk.
    """
    index = shuffled_batch_indices(key, num_examples, batch_size)
    return jnp.pad(index, ((0, padded_steps - index.shape[0]), (0, 0)))


class EvalTotals(NamedTuple):
    """Sums over an evaluation set."""

    loss_sum: jax.Array  # [] float32, summed per-example cross-entropy (no penalty)
    correct: jax.Array  # [] int32, right predictions
    count: jax.Array  # [] int32, examples seen


def make_evaluate(
    model: Model, *, batch_size: int, batch_sharding: NamedSharding | None = None
) -> Callable[[PyTree, jax.Array, jax.Array], EvalTotals]:
    """Jitted ``(params, images [N, ...], labels [N]) -> EvalTotals`` in inference mode.

    The set is zero-padded to a multiple of ``batch_size`` and run batch by batch (one jitted
    call each, sums kept on the device); padded examples are masked out of the sums, so every
    example counts exactly once.
    """

    @jax.jit
    def batch_totals(params, images, labels, start, count):
        x = jax.lax.dynamic_slice_in_dim(images, start, batch_size)
        y = jax.lax.dynamic_slice_in_dim(labels, start, batch_size)
        mask = start + jnp.arange(batch_size) < count
        if batch_sharding is not None:
            x, y, mask = jax.lax.with_sharding_constraint((x, y, mask), batch_sharding)
        logits = model.apply(params, x, train=False)
        per_example = jax.vmap(lambda z, label: softmax_cross_entropy(z[None], label[None]))
        losses = per_example(logits, y)
        right = (jnp.argmax(logits, axis=-1) == y) & mask
        return EvalTotals(
            jnp.sum(jnp.where(mask, losses, 0.0)).astype(jnp.float32),
            jnp.sum(right, dtype=jnp.int32),
            jnp.sum(mask, dtype=jnp.int32),
        )

    def evaluate(params, images, labels):
        # One jitted call per batch, no scan (see make_train_chunk); the sums stay on the device.
        n = images.shape[0]
        steps = -(-n // batch_size)
        pad = steps * batch_size - n
        if pad:
            images = jnp.pad(images, [(0, pad)] + [(0, 0)] * (images.ndim - 1))
            labels = jnp.pad(labels, (0, pad))
        parts = [
            batch_totals(params, images, labels, np.int32(i * batch_size), np.int32(n))
            for i in range(steps)
        ]
        return jax.tree.map(lambda *xs: jnp.sum(jnp.stack(xs)), *parts)

    return evaluate
