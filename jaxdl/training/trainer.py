"""One trainer for every chapter that trains with optax.

A chapter brings three things and the trainer does the rest:

- ``loss(params, batch) -> scalar`` (or ``(scalar, aux)`` with ``has_aux=True``): a pure
  function; its hand gradients enter as ``custom_vjp`` rules, so ``jax.value_and_grad`` of it
  runs the chapter's own backward.
- an optax ``optimizer``;
- a :class:`Feed`: where each step's batch comes from, *inside* the compiled loop (a fixed
  batch, a fresh random batch per step, a shuffled pass over arrays, ...). The batch is any
  pytree.

The steps run in chunks: each chunk is one compiled :func:`jax.lax.scan` on the device, and
between chunks the host checks the losses (a non-finite one stops the run with
:class:`~jaxdl.errors.DivergenceError` naming its step), advances the progress bar, asks an
optional stop rule, and calls the caller's hooks (checkpoints, metrics). Tiny models run many
steps per chunk; a big network can run ``chunk_steps=1``, one dispatched step per call.

Compiled programs are cached by the identity of ``loss``, ``optimizer`` and ``feed.next``: a
chapter that defines them once at module level (or memoises its optimizer factory) compiles
once per shape, however often it trains.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdl import interrupts
from jaxdl.data.batches import Feed, shuffled_batch_indices
from jaxdl.errors import DivergenceError, first_non_finite
from jaxdl.optim import TrainState, apply_gradients, init_train_state

PyTree = Any


def _same_batch(batch: PyTree) -> tuple[PyTree, PyTree]:
    return batch, batch


def fixed(batch: PyTree) -> Feed:
    """The same batch at every step (full-batch training)."""
    return Feed(batch, _same_batch)


@functools.cache
def _fresh_next(make: Callable[[jax.Array], PyTree]) -> Callable:
    def next_batch(key: jax.Array) -> tuple[jax.Array, PyTree]:
        key, k_data = jax.random.split(key)
        return key, make(key=k_data)

    return next_batch


def fresh(make: Callable[..., PyTree], *, key: jax.Array) -> Feed:
    """A new batch ``make(key=k)`` at every step, ``k`` split off the carried ``key`` each step.

    ``make`` should be defined once (module level) so its compiled loop is reused.
    """
    return Feed(key, _fresh_next(make))


@functools.cache
def _epoch_next(batch_size: int, steps_per_epoch: int) -> Callable:
    def next_batch(state):
        data, keys, order, step = state
        n = jax.tree.leaves(data)[0].shape[0]
        order = jax.lax.cond(  # each epoch's permutation drawn once, at its first step
            step % steps_per_epoch == 0,
            lambda: shuffled_batch_indices(keys[step // steps_per_epoch], n, batch_size),
            lambda: order,
        )
        index = order[step % steps_per_epoch]
        batch = jax.tree.map(lambda a: jnp.take(a, index, axis=0), data)
        return (data, keys, order, step + 1), batch

    return next_batch


def shuffled_epochs(data: PyTree, *, batch_size: int, keys: jax.Array) -> tuple[Feed, int]:
    """Mini-batches of ``data`` (arrays with one leading length ``N``), reshuffled every epoch.

    Epoch ``e`` visits :func:`~jaxdl.data.batches.shuffled_batch_indices` of ``keys[e]``: full
    batches in a fresh order, the last partial batch left out; the order is drawn once per
    epoch and carried. Returns the feed and the number of steps per epoch
    (``N // batch_size``); train ``len(keys) * steps`` steps in all.
    """
    n = jax.tree.leaves(data)[0].shape[0]
    if not 1 <= batch_size <= n:
        raise ValueError(f"batch_size must be between 1 and the {n} examples, got {batch_size}")
    steps = n // batch_size
    order = jnp.zeros((steps, batch_size), jnp.int32)
    state = (data, keys, order, jnp.zeros([], jnp.int32))
    return Feed(state, _epoch_next(batch_size, steps)), steps


@functools.cache
def _sample_next(batch_size: int) -> Callable:
    def next_batch(state):
        key, data = state
        key, k = jax.random.split(key)
        index = jax.random.randint(k, (batch_size,), 0, jax.tree.leaves(data)[0].shape[0])
        return (key, data), jax.tree.map(lambda a: a[index], data)

    return next_batch


def sampled(data: PyTree, *, batch_size: int, key: jax.Array) -> Feed:
    """``batch_size`` examples of ``data`` (arrays with one leading length) drawn at random,
    with replacement, at every step (the batch keeps ``data``'s pytree type)."""
    return Feed((key, data), _sample_next(batch_size))


class Progress(NamedTuple):
    """A tqdm bar on stderr: its description, its unit and how many units one step is."""

    desc: str
    unit: str = "step"
    per_step: int = 1


class Trained(NamedTuple):
    """What :func:`train` returns."""

    state: TrainState  # parameters, optimizer state and the count of updates
    feed_state: PyTree  # the feed's state after the last step (to continue the run)
    losses: np.ndarray  # [steps run] the loss of every step
    aux: PyTree  # every step's aux (``has_aux``), stacked on axis 0 as NumPy; else None
    stopped_at: int | None  # the step the stop rule named, or None if it never did


def _value_and_grad(loss: Callable, has_aux: bool) -> Callable:
    return jax.value_and_grad(loss, has_aux=has_aux)


@functools.partial(jax.jit, static_argnames=("loss", "optimizer", "next_batch", "steps", "has_aux"))
def _chunk(state, feed_state, *, loss, optimizer, next_batch, steps, has_aux):
    value_and_grad = _value_and_grad(loss, has_aux)

    def step(carry, _):
        state, feed_state = carry
        feed_state, batch = next_batch(feed_state)
        value, grads = value_and_grad(state.params, batch)
        return (apply_gradients(state, grads, optimizer), feed_state), value

    (state, feed_state), values = jax.lax.scan(step, (state, feed_state), length=steps)
    return state, feed_state, values


class ProgressBar:
    """A tqdm bar on stderr, or nothing when ``progress`` is ``None``; :meth:`advance` by steps.

    Loops that are not optax training (a chapter's own update rule) share it with :func:`train`.
    """

    def __init__(self, progress: Progress | None, steps: int):
        self.progress = progress
        self._bar = None
        if progress is not None:
            from tqdm.auto import tqdm  # a widget in notebooks, text in a terminal

            self._bar = tqdm(
                total=steps * progress.per_step,
                desc=progress.desc,
                unit=progress.unit,
                unit_scale=progress.per_step > 1,
            )

    def advance(self, steps: int, **postfix: float) -> None:
        """``steps`` more steps done; ``postfix`` values shown beside the bar (4 digits)."""
        if self._bar is not None:
            self._bar.update(steps * self.progress.per_step)
            self._bar.set_postfix({k: f"{v:.4g}" for k, v in postfix.items()})

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.close()


def train(
    loss: Callable[[PyTree, PyTree], Any],
    params: PyTree | TrainState,
    optimizer: optax.GradientTransformation,
    feed: Feed,
    *,
    steps: int,
    has_aux: bool = False,
    chunk_steps: int | None = None,
    stop: Callable[[np.ndarray, PyTree, int], int | None] | None = None,
    progress: Progress | None = None,
    hooks: Sequence[Callable[[TrainState, PyTree, int], None]] = (),
) -> Trained:
    """Run ``steps`` optimizer steps of ``loss`` on batches from ``feed``.

    Args:
      loss: ``loss(params, batch)``, a scalar, or ``(scalar, aux)`` when ``has_aux``.
      params: the initial parameters, or a :class:`~jaxdl.optim.TrainState` to continue from.
      optimizer: the optax transformation.
      feed: where batches come from (:func:`fixed`, :func:`fresh`, or any :class:`Feed`).
      steps: how many steps to run (from here; a continued state keeps its step count).
      has_aux: ``loss`` returns ``(value, aux)``; every step's aux comes back stacked.
      chunk_steps: steps per compiled chunk (default: all of them in one chunk).
      stop: ``stop(losses, aux, since) -> step or None``, asked after every chunk with all
        losses and aux so far and the number of steps already looked at; a step it names ends
        the run after that chunk.
      progress: a :class:`Progress` bar, or ``None`` for none.
      hooks: ``hook(state, feed_state, steps_done)`` after every chunk (checkpoints, logs).

    Raises:
      DivergenceError: a step's loss was not finite; names the 1-based step.
      ValueError: ``steps`` or ``chunk_steps`` is not a positive integer.
    """
    for name, value in (("steps", steps), ("chunk_steps", chunk_steps or 1)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    state = params if isinstance(params, TrainState) else init_train_state(params, optimizer)
    chunk_steps = min(chunk_steps or steps, steps)
    feed_state = feed.state
    losses: list[np.ndarray] = []
    auxes: list[PyTree] = []
    done, stopped_at = 0, None
    with ProgressBar(progress, steps) as bar:
        while done < steps and stopped_at is None:
            interrupts.check()  # a signal whose raise was dropped stops the run here
            n = min(chunk_steps, steps - done)
            state, feed_state, values = _chunk(state, feed_state, loss=loss, optimizer=optimizer,
                                               next_batch=feed.next, steps=n, has_aux=has_aux)  # fmt: skip
            value, aux = _read(values, has_aux, done)
            losses.append(value)
            if has_aux:
                auxes.append(aux)
            looked, done = done, done + n
            if stop is not None:
                stopped_at = stop(np.concatenate(losses), _stack(auxes), looked)
            for hook in hooks:
                hook(state, feed_state, done)
            bar.advance(n, loss=float(value.mean()))
    return Trained(state, feed_state, np.concatenate(losses), _stack(auxes), stopped_at)


def _read(values, has_aux: bool, done: int) -> tuple[np.ndarray, PyTree]:
    """A chunk's losses and aux on the host; ``DivergenceError`` at its first non-finite loss."""
    value, aux = values if has_aux else (values, None)
    value = np.asarray(value)
    bad = first_non_finite(value)
    if bad is not None:
        raise DivergenceError("loss", done + bad + 1)
    return value, None if aux is None else jax.tree.map(np.asarray, aux)


def _stack(auxes: list[PyTree]) -> PyTree:
    if not auxes:
        return None
    return jax.tree.map(lambda *parts: np.concatenate(parts), *auxes)
