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
steps per chunk; a big network can run ``chunk_steps=1``, one dispatched step per call, and
``read_every=k`` so that the host reads the losses every ``k`` steps while the device runs
ahead (``donate=True`` lets each chunk update the state in place).

With ``devices`` the run is data-parallel (:mod:`jaxdl.training.sharding`): the state and the
feed are copied to every device, and each step's batch is split along its leading axis across
them; XLA adds the gradient all-reduce, so any chapter's loop runs on all the host's cores.

The hooks a run usually wants are ready-made in :mod:`jaxdl.training.pieces`:
:class:`~jaxdl.training.pieces.Evaluation` (every ``k`` steps),
:class:`~jaxdl.training.pieces.EarlyStopping` (a patience on one of its values),
:class:`~jaxdl.training.pieces.Metrics` (``metrics.jsonl`` and TensorBoard) and
:class:`~jaxdl.training.pieces.Checkpoint` (save after each chunk, restore bit-identical). A
hook is ``hook(state, feed_state, steps_done)``; one with a true ``wants_losses`` attribute is
also given ``losses=`` and ``aux=`` of every step done, and a hook that returns ``True``
stops the run after that chunk.

Compiled programs are cached by the identity of ``loss``, ``optimizer`` and ``feed.next``: a
chapter that defines them once at module level (or memoises its optimizer factory) compiles
once per shape, however often it trains. :func:`update` is the one optimizer step of jaxdl.
"""

from __future__ import annotations

import functools
import time
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
from jaxdl.training import sharding
from jaxdl.training.sharding import DataParallel

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
    """A tqdm bar on stderr: its description, its unit and how many units one step is.

    ``postfix(losses, aux)`` gives the values shown beside the bar for the steps just read
    (their losses and aux); by default their mean loss.
    """

    desc: str
    unit: str = "step"
    per_step: int = 1
    postfix: Callable[[np.ndarray, PyTree], dict[str, float]] | None = None


class Trained(NamedTuple):
    """What :func:`train` returns."""

    state: TrainState  # parameters, optimizer state and the count of updates
    feed_state: PyTree  # the feed's state after the last step (to continue the run)
    losses: np.ndarray  # [steps run] the loss of every step
    aux: PyTree  # every step's aux (``has_aux``), stacked on axis 0 as NumPy; else None
    stopped_at: int | None  # the step the stop rule or a hook named, or None if none did
    compile_seconds: float = 0.0  # spent compiling chunks in this call (0 when cached)


def update(
    loss: Callable,
    state: TrainState,
    batch: PyTree,
    optimizer: optax.GradientTransformation,
    *,
    has_aux: bool = False,
) -> tuple[TrainState, Any]:
    """One optimizer step on ``batch``: ``(new_state, loss(params, batch))``.

    The only place jaxdl applies gradients; :func:`train` runs it in every step it compiles.
    """
    value, grads = jax.value_and_grad(loss, has_aux=has_aux)(state.params, batch)
    return apply_gradients(state, grads, optimizer), value


def _lay_out(batch: PyTree, batch_sharding) -> PyTree:
    """Split every array of the batch with a leading axis across the mesh (keys stay whole)."""
    if batch_sharding is None:
        return batch
    constrain = jax.lax.with_sharding_constraint
    return jax.tree.map(lambda a: constrain(a, batch_sharding) if a.ndim else a, batch)


def _draw_body(feed_state, data, *, next_batch, batch_sharding):
    """The feed's next batch, laid out over the devices: ``(feed_state, batch)``."""
    feed_state, batch = next_batch(feed_state) if data is None else next_batch(feed_state, data)
    return feed_state, _lay_out(batch, batch_sharding)


def _chunk_body(state, feed_state, data, *, loss, optimizer, next_batch, steps, has_aux,
                batch_sharding):  # fmt: skip
    def step(carry, _):
        state, feed_state = carry
        feed_state, batch = _draw_body(feed_state, data, next_batch=next_batch,
                                       batch_sharding=batch_sharding)  # fmt: skip
        state, value = update(loss, state, batch, optimizer, has_aux=has_aux)
        return (state, feed_state), value

    (state, feed_state), values = jax.lax.scan(step, (state, feed_state), length=steps)
    return state, feed_state, values


def _step_body(state, batch, *, loss, optimizer, has_aux):
    state, value = update(loss, state, batch, optimizer, has_aux=has_aux)
    return state, jax.tree.map(lambda v: v[None], value)


_STATIC = ("loss", "optimizer", "next_batch", "steps", "has_aux", "batch_sharding")
_chunk = jax.jit(_chunk_body, static_argnames=_STATIC)
_donating_chunk = jax.jit(_chunk_body, static_argnames=_STATIC, donate_argnums=(0, 1))
# A chunk of one step is two programs, the draw and the update: no loop (XLA:CPU runs
# convolutions slower inside one), and no gather in the update's program (fused into it, the
# batch's gather from the training set slowed the deep CNN's step by a third).
_draw = jax.jit(_draw_body, static_argnames=("next_batch", "batch_sharding"))
_donating_draw = jax.jit(
    _draw_body, static_argnames=("next_batch", "batch_sharding"), donate_argnums=(0,)
)
_step = jax.jit(_step_body, static_argnames=("loss", "optimizer", "has_aux"))
_donating_step = jax.jit(
    _step_body, static_argnames=("loss", "optimizer", "has_aux"), donate_argnums=(0,)
)


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
    hooks: Sequence[Callable[..., bool | None]] = (),
    devices: int | DataParallel | None = None,
    read_every: int | None = None,
    donate: bool = False,
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
      stop: ``stop(losses, aux, since) -> step or None``, asked after every read of the
        losses with all losses and aux read so far and the number of steps already looked
        at; a step it names ends the run after the chunk being dispatched.
      progress: a :class:`Progress` bar, or ``None`` for none.
      hooks: ``hook(state, feed_state, steps_done)`` after every chunk (checkpoints, logs);
        one whose ``wants_losses`` attribute is true is also given ``losses=`` and ``aux=``
        of every step done (each chunk is then read once it ends, ``read_every`` or not);
        one that returns ``True`` ends the run there (``stopped_at`` is then the steps done).
      devices: split every batch across this many devices (an ``int``; every array of the
        batch with a leading axis is split along it, so that axis must divide evenly), or a
        :class:`~jaxdl.training.sharding.DataParallel` layout; ``None`` or 1: one device.
      read_every: read the losses once at least this many steps wait unread, never waiting on
        the chunk just dispatched (default: after every chunk).
      donate: each chunk may overwrite the state and the feed's state it is given (the
        caller's ``params`` and ``feed.state`` included): no copies of them per chunk.

    Raises:
      DivergenceError: a step's loss was not finite; names the 1-based step.
      ValueError: ``steps``, ``chunk_steps`` or ``read_every`` is not a positive integer, or
        ``devices`` cannot split the batch.
    """
    _require_counts(steps=steps, chunk_steps=chunk_steps or 1, read_every=read_every or 1)
    layout = _layout(devices, feed)
    state = params if isinstance(params, TrainState) else init_train_state(params, optimizer)
    chunks = _Chunks(loss, optimizer, feed, has_aux=has_aux, layout=layout, donate=donate)
    carry = _replicate((state, feed.state), layout)
    with ProgressBar(progress, steps) as bar:
        reader = _Reader(has_aux, bar, progress, read_every)
        state, feed_state, stopped_at = _loop(
            chunks, reader, carry, steps, chunk_steps, stop, hooks
        )
    return Trained(state, feed_state, reader.losses(), reader.aux(), stopped_at,
                   chunks.compile_seconds)  # fmt: skip


def _require_counts(**counts: Any) -> None:
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _loop(chunks, reader, carry, steps: int, chunk_steps: int | None, stop, hooks):
    """Dispatch chunk after chunk, reading as :class:`_Reader` says (every chunk at once when a
    hook wants the losses), asking ``stop`` after each read and calling the hooks after each
    chunk; ``(state, feed_state, stopped_at)``."""
    (state, feed_state), chunk_steps = carry, min(chunk_steps or steps, steps)
    done, stopped_at = 0, None
    see_all = any(getattr(hook, "wants_losses", False) for hook in hooks)
    while done < steps and stopped_at is None:
        interrupts.check()  # a signal whose raise was dropped stops the run here
        n = min(chunk_steps, steps - done)
        state, feed_state, values = chunks(state, feed_state, done, n)
        before = reader.read
        read = reader.add(done, n, values)
        if see_all and reader.read_all():  # a hook wants every loss so far: wait for this chunk
            read, reader.since = True, before
        if read and stop is not None:
            stopped_at = stop(reader.losses(), reader.aux(), reader.since)
        done += n
        if _call_hooks(hooks, reader, state, feed_state, done) and stopped_at is None:
            stopped_at = done
    reader.read_all()
    return state, feed_state, stopped_at


def _call_hooks(hooks, reader, state, feed_state, done: int) -> bool:
    """Call every hook after a chunk (the losses read so far to those that want them);
    ``True`` when one of them asks the run to stop."""
    stop = False
    for hook in hooks:
        if getattr(hook, "wants_losses", False):
            asked = hook(state, feed_state, done, losses=reader.losses(), aux=reader.aux())
        else:
            asked = hook(state, feed_state, done)
        stop |= asked is True
    return stop


def _layout(devices: int | DataParallel | None, feed: Feed) -> DataParallel | None:
    """The data-parallel layout ``devices`` asks for; an ``int`` must divide the batch."""
    if devices is None or isinstance(devices, DataParallel):
        return devices
    data = feed.data(0, 1) if callable(feed.data) else feed.data
    args = (feed.state,) if data is None else (feed.state, data)
    _, batch = jax.eval_shape(feed.next, *args)
    leading = [leaf.shape[0] for leaf in jax.tree.leaves(batch) if leaf.ndim]
    return sharding.data_parallel(devices, batch_size=leading[0] if leading else devices)


def _replicate(tree: PyTree, layout: DataParallel | None) -> PyTree:
    """``tree`` copied to every device of ``layout``; as it is in a run of several processes,
    whose caller places its own arrays (this process cannot put arrays on the others'
    devices; ``jit`` moves the uncommitted ones, a key or a counter)."""
    if layout is None or not layout.replicated.is_fully_addressable:
        return tree
    return sharding.replicate(tree, layout)


class _Chunks:
    """The run's compiled chunks: ``(state, feed_state, first, n) -> (state, feed_state,
    values)`` runs steps ``first .. first + n - 1``; counts the seconds spent compiling."""

    def __init__(self, loss, optimizer, feed: Feed, *, has_aux, layout, donate):
        self.jitted = _donating_chunk if donate else _chunk
        self.draw = _donating_draw if donate else _draw
        self.step = _donating_step if donate else _step
        self.static = dict(loss=loss, optimizer=optimizer, next_batch=feed.next, has_aux=has_aux,
                           batch_sharding=None if layout is None else layout.batch)  # fmt: skip
        self.data = feed.data if callable(feed.data) else _replicate(feed.data, layout)
        self.feed_state = feed.state
        self.compile_seconds = 0.0
        # Split over several CPU devices, a program waits at each all-reduce for its other
        # parts; with more than two such programs queued, XLA:CPU's threads can all end up
        # waiting (a deadlock seen with the deep CNN on 2 cores): one chunk runs ahead, no more.
        self.ahead_limit = None if layout is None or layout.mesh.size == 1 else 1
        self.in_flight: list = []

    def __call__(self, state, feed_state, first: int, n: int):
        data = self.data(first, n) if callable(self.data) else self.data
        programs = (self.draw, self.step) if n == 1 else (self.jitted,)
        cached, start = sum(p._cache_size() for p in programs), time.perf_counter()
        if n == 1:
            draw = {k: self.static[k] for k in ("next_batch", "batch_sharding")}
            feed_state, batch = self.draw(feed_state, data, **draw)
            update = {k: self.static[k] for k in ("loss", "optimizer", "has_aux")}
            state, values = self.step(state, batch, **update)
            out = (state, feed_state, values)
        else:
            out = self.jitted(state, feed_state, data, steps=n, **self.static)
        if sum(p._cache_size() for p in programs) > cached:  # compiled (then dispatched)
            self.compile_seconds += time.perf_counter() - start
        if self.ahead_limit is not None:
            self.in_flight.append(out[2])
            while len(self.in_flight) > self.ahead_limit:
                jax.block_until_ready(self.in_flight.pop(0))
        return out


def _mean_loss(losses: np.ndarray, aux: PyTree) -> dict[str, float]:
    del aux
    return {"loss": float(losses.mean())}


class _Reader:
    """The chunks dispatched but not yet read, and what the host has read of the run so far."""

    def __init__(self, has_aux: bool, bar: ProgressBar, progress: Progress | None, read_every):
        self.has_aux, self.bar, self.shown = has_aux, bar, progress is not None
        self.read_every = read_every
        self.postfix = (progress and progress.postfix) or _mean_loss
        self.pending: list[tuple[int, int, Any]] = []
        self.unread = self.read = self.since = 0
        self.values: list[np.ndarray] = []
        self.auxes: list[PyTree] = []

    def add(self, first: int, n: int, values) -> bool:
        """A chunk just dispatched; ``True`` when this read the losses.

        Without ``read_every`` it is read at once; with it, the chunks before it are read once
        ``read_every`` steps of them wait (the host never waits on the newest chunk).
        """
        ahead = self.read_every is not None and self.unread >= self.read_every and self.read_all()
        self.pending.append((first, n, values))
        self.unread += n
        return self.read_all() if self.read_every is None else ahead

    def read_all(self) -> bool:
        """Read every pending chunk (``DivergenceError`` at a non-finite loss); ``True`` if any."""
        if not self.pending:
            return False
        self.since = self.read
        for first, n, values in self.pending:
            value, aux = _read(values, self.has_aux, first)
            self.values.append(value)
            if self.has_aux:
                self.auxes.append(aux)
            self.read += n
            self.bar.advance(n, **(self.postfix(value, aux) if self.shown else {}))
        self.pending, self.unread = [], 0
        return True

    def losses(self) -> np.ndarray:
        return np.concatenate(self.values) if self.values else np.zeros(0, np.float32)

    def aux(self) -> PyTree:
        return _stack(self.auxes)


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
