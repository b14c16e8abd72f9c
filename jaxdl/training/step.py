"""The MNIST recipe's pieces for the shared trainer: objective, epoch feed, optimizer, evaluation.

A model is any :class:`jaxdl.models.Model` (usually a module such as
:mod:`jaxdl.models.deep_cnn`): ``init_params``, ``apply`` and ``l2_penalty``, which the
objective adds to the cross-entropy.

:func:`objective_loss` is the loss :func:`jaxdl.training.trainer.train` differentiates, with
the step's dropout key in its batch; :func:`epoch_feed` gathers each epoch's shuffled batches
on the device from an index table (the training set stays there), and :func:`make_train_step`
is the same update as one function. :func:`make_evaluate` runs a whole evaluation set in
fixed-size, masked batches.
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

from jaxdl.data.batches import Batch, Feed, shuffled_batch_indices
from jaxdl.losses import softmax_cross_entropy
from jaxdl.models import Model
from jaxdl.models import objective as models_objective
from jaxdl.optim import TrainState, init_train_state
from jaxdl.training.trainer import update

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
    """What one step of :func:`make_train_step` reports."""

    loss: jax.Array  # [] float32, the objective: mean cross-entropy + penalty
    correct: jax.Array  # [] int32, right predictions in the batch (training mode)


@functools.cache  # one object per setting: the trainer's compiled chunks are reused
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


@functools.cache
def objective_loss(model: Model, backward: str = "auto") -> Callable:
    """``loss(params, (Batch(images, labels), key)) -> (objective, correct)``, for the trainer.

    The batch carries its step's dropout key; the aux counts the right predictions (training
    mode). One function per model and backward, so its compiled chunks are shared.
    """

    def loss(params: PyTree, batch_and_key: tuple[Batch, jax.Array]):
        batch, key = batch_and_key
        value, logits = objective(model, params, batch, key, train=True, backward=backward)
        return value, _correct(logits, batch.labels)

    return loss


def make_train_step(
    model: Model, optimizer: optax.GradientTransformation, *, backward: str = "auto"
) -> Callable[[TrainState, Batch, jax.Array], tuple[TrainState, StepMetrics]]:
    """One optimizer update: ``(state, batch, key) -> (new_state, metrics)``.

    ``key`` drives the model's dropout; ``backward`` as in :func:`objective`. Pure; ``jax.jit``
    it. It is the step :func:`jaxdl.training.fit` runs through the trainer
    (:func:`jaxdl.training.trainer.update` of :func:`objective_loss`).
    """
    loss = objective_loss(model, backward)

    def train_step(state: TrainState, batch: Batch, key: jax.Array):
        state, (value, correct) = update(loss, state, (batch, key), optimizer, has_aux=True)
        return state, StepMetrics(value, correct)

    return train_step


def step_key(epoch_key: jax.Array, step_in_epoch: jax.Array | int) -> jax.Array:
    """The dropout key of one step: ``fold_in(epoch_key, step_in_epoch)``."""
    return jax.random.fold_in(epoch_key, step_in_epoch)


@functools.partial(jax.jit, static_argnames=("num_examples", "batch_size"))
def epoch_order(key: jax.Array, *, num_examples: int, batch_size: int) -> jax.Array:
    """One epoch's shuffled index table ``[num_examples // batch_size, batch_size]`` (int32):
    a permutation drawn with ``key``, cut into full batches (the last partial one dropped)."""
    return shuffled_batch_indices(key, num_examples, batch_size)


def _next_in_epoch(state, train: Batch):
    order, epoch_key, s = state
    index = jax.lax.dynamic_index_in_dim(order, s, keepdims=False)
    batch = Batch(jnp.take(train.images, index, axis=0), jnp.take(train.labels, index, axis=0))
    return (order, epoch_key, s + 1), (batch, step_key(epoch_key, s))


def epoch_feed(train: Batch, order: jax.Array, epoch_key: jax.Array) -> Feed:
    """One epoch's :class:`~jaxdl.data.batches.Feed` of ``(batch, dropout key)``.

    Step ``s`` takes ``train[order[s]]``, gathered on the device (``train`` stays there,
    read, not carried), and the key ``fold_in(epoch_key, s)``.
    """
    return Feed((order, epoch_key, jnp.zeros([], jnp.int32)), _next_in_epoch, train)


def next_fed(state, data: tuple[Batch, jax.Array]):
    """The next step of a host-fed epoch (:func:`jaxdl.training.distributed.fed_epoch`):
    ``data`` holds the chunk's batches ``[n, B, ...]`` and the step its first one is."""
    epoch_key, s = state
    batches, first = data
    batch = jax.tree.map(lambda a: jax.lax.dynamic_index_in_dim(a, s - first, keepdims=False),
                         batches)  # fmt: skip
    return (epoch_key, s + 1), (batch, step_key(epoch_key, s))


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
        # One jitted call per batch, no scan (XLA:CPU runs convolutions slower inside a loop);
        # the sums stay on the device.
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
