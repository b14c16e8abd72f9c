"""Plain gradient descent, and the one training state every chapter carries.

Debye's rule ``x <- x - lr * slope(x)`` is plain gradient descent, written here from its formula
as an optax ``init``/``update`` pair so that :func:`optax.sgd` drops in unchanged (the tests
prove the updates identical). Its descendants, momentum to Adam and AdamW, are the ``adam``
chapter's (:mod:`jaxdl.milestones.adam`), each proven equal to optax's.

:class:`TrainState` and :func:`apply_gradients` are the one optimizer step that every training
loop of the package runs (inside a ``lax.scan`` or one jitted call at a time).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxdl.validate import require_positive_float


def gradient_descent(learning_rate: float) -> optax.GradientTransformation:
    """Plain gradient descent: ``update = -learning_rate * grad`` (Debye, 1909).

    Equivalent to ``optax.sgd(learning_rate)``; apply with :func:`optax.apply_updates`.
    """
    require_positive_float("learning rate", learning_rate)

    def init_fn(params: optax.Params) -> optax.EmptyState:
        del params
        return optax.EmptyState()

    def update_fn(updates, state, params=None):
        del params
        return jax.tree.map(lambda g: -learning_rate * g, updates), state

    return optax.GradientTransformation(init_fn, update_fn)


class TrainState(NamedTuple):
    """What a training loop carries from step to step (and what a checkpoint saves)."""

    params: optax.Params  # the model's parameters
    opt_state: optax.OptState  # the optimizer's state for them
    step: jax.Array  # [] int32, updates made so far


def init_train_state(params: optax.Params, optimizer: optax.GradientTransformation) -> TrainState:
    """Step 0: ``params`` with a fresh optimizer state."""
    return TrainState(params, optimizer.init(params), jnp.zeros([], jnp.int32))


def apply_gradients(
    state: TrainState, grads: optax.Updates, optimizer: optax.GradientTransformation
) -> TrainState:
    """One update: ``optimizer`` turns ``grads`` into a step, applied to ``state.params``."""
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    return TrainState(optax.apply_updates(state.params, updates), opt_state, state.step + 1)


@functools.cache
def clipped_adam(learning_rate: float, clip: float) -> optax.GradientTransformation:
    """Adam after ``optax.clip_by_global_norm(clip)``: the recurrent chapters' optimizer.

    The same settings give the same transformation object, so the trainer's compiled loop for
    it is reused (:mod:`jaxdl.training.trainer` caches by identity).

    Clipping the global gradient norm (Pascanu, Mikolov & Bengio 2013) is the standard guard
    against the exploding gradients of backpropagation through time.
    """
    require_positive_float("learning rate", learning_rate)
    require_positive_float("clip", clip)
    return optax.chain(optax.clip_by_global_norm(clip), optax.adam(learning_rate))
