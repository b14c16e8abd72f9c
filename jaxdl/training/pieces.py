"""The pieces a run adds to :func:`jaxdl.training.trainer.train`, each one of its hooks.

A chapter's training loop is the trainer's; what differs from chapter to chapter is what runs
between its chunks. These are the usual ones, so that no chapter writes them again:

- :class:`Evaluation`: ``evaluate(params, step)`` every ``every`` steps (and at the last),
  its records kept in ``history``;
- :class:`EarlyStopping`: a patience on one value of those records; keeps the best
  parameters and stops the run once the patience runs out;
- :class:`Metrics`: every new record to ``metrics.jsonl`` and TensorBoard
  (:class:`~jaxdl.training.metrics.MetricsWriter`);
- :class:`Checkpoint`: what the run carries (the train state, the feed's position, every
  step's loss if asked) saved to a :class:`~jaxdl.training.resume.RunDirectory` after each
  chunk, and :meth:`Checkpoint.restore` to continue it bit-identical.

Hooks run in the order given, so put the :class:`Evaluation` before the pieces that read its
records, and the :class:`Checkpoint` last (it saves what the others have recorded)::

    evaluation = Evaluation(evaluate, every=100, last=steps)
    early = EarlyStopping(evaluation, "val_accuracy", patience=3)
    checkpoint = Checkpoint(run, meta=lambda: {"history": evaluation.history})
    train(..., hooks=(evaluation, early, Metrics(run.path, evaluation), checkpoint))
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.optim import TrainState
from jaxdl.training.metrics import MetricsWriter
from jaxdl.training.resume import RunDirectory

PyTree = Any


class Evaluation:
    """A hook that evaluates the parameters every ``every`` steps of the run, and at ``last``.

    Args:
      evaluate: ``evaluate(params, step) -> {name: value}`` (values JSON numbers).
      every: evaluate when the train state's step count is a multiple of this.
      last: the run's last step, evaluated whether or not a multiple (``None``: no such).
      history: records already made (a resumed run's).

    ``history`` holds one ``{"step": step, **values}`` per evaluation, oldest first; ``seconds``
    the wall time spent evaluating (to leave out of a run's training time). The step is the
    train state's count of updates, so a resumed run continues its numbering.
    """

    def __init__(
        self,
        evaluate: Callable[[PyTree, int], dict[str, float]],
        every: int,
        *,
        last: int | None = None,
        history: list[dict[str, Any]] = (),
    ):
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive integer, got {every!r}")
        self.evaluate, self.every, self.last = evaluate, every, last
        self.history = list(history)
        self.seconds = 0.0

    def add(self, params: PyTree, step: int) -> dict[str, Any]:
        """Evaluate ``params`` now, as step ``step``; the record made (also in ``history``)."""
        begin = time.perf_counter()
        record = {"step": step, **self.evaluate(params, step)}
        self.history.append(record)
        self.seconds += time.perf_counter() - begin
        return record

    def __call__(self, state: TrainState, feed_state: PyTree, done: int) -> None:
        step = int(state.step)
        if step % self.every == 0 or step == self.last:
            self.add(state.params, step)

    def columns(self) -> dict[str, list]:
        """The history by value: ``{"step": [...], name: [...], ...}``."""
        names = dict.fromkeys(name for record in self.history for name in record)
        return {name: [record.get(name) for record in self.history] for name in names}


class EarlyStopping:
    """A hook that stops the run once ``patience`` evaluations in a row have not improved on
    the best ``metric`` so far (put it after its :class:`Evaluation` among the hooks).

    Args:
      evaluation: the records it weighs: an :class:`Evaluation`, or anything with a
        ``history`` list of records (:func:`~jaxdl.training.fit`'s epochs).
      metric: the name of the value compared.
      patience: evaluations without improvement before it stops the run (0: never stops).
      higher_is_better: larger values are better (accuracy); ``False`` for a loss.
      step_key: the record's entry naming where it was made (``"epoch"`` for ``fit``'s).

    It keeps ``best`` (the best value), ``best_step`` (``None`` before any) and
    ``best_params`` (a copy of the parameters of that evaluation: those given to
    :meth:`update`, which are the evaluated ones when the :class:`Evaluation` runs just
    before), and ``since_best``, the evaluations since.
    """

    def __init__(self, evaluation: Any, metric: str, patience: int, *,
                 higher_is_better: bool = True, step_key: str = "step"):  # fmt: skip
        self.evaluation, self.metric, self.patience = evaluation, metric, patience
        self.sign, self.step_key = (1.0 if higher_is_better else -1.0), step_key
        self.best, self.best_step, self.best_params = -math.inf * self.sign, None, None
        self.since_best = 0
        self.seen = len(evaluation.history)

    @property
    def ran_out(self) -> bool:
        """The patience has run out: the run should stop."""
        return bool(self.patience) and self.since_best >= self.patience

    def update(self, params: PyTree) -> bool:
        """Weigh the evaluation's records made since the last call (``params``: the evaluated
        parameters); ``True`` when the patience has run out."""
        for record in self.evaluation.history[self.seen :]:
            value = record[self.metric]
            if self.sign * value > self.sign * self.best:
                self.best, self.best_step = value, record[self.step_key]
                self.best_params, self.since_best = jax.tree.map(jnp.copy, params), 0
            else:
                self.since_best += 1
        self.seen = len(self.evaluation.history)
        return self.ran_out

    def resume(self, best: float, best_step: int | None, best_params: PyTree) -> None:
        """Continue a saved run: its best so far, the records it holds already weighed (those
        after the best's count against the patience)."""
        self.best, self.best_step, self.best_params = best, best_step, best_params
        self.seen = len(self.evaluation.history)
        steps = [record[self.step_key] for record in self.evaluation.history]
        self.since_best = len(steps) - 1 - steps.index(best_step) if best_step in steps else 0

    def __call__(self, state: TrainState, feed_state: PyTree, done: int) -> bool:
        return self.update(state.params)


class Metrics:
    """A hook that writes each new record of ``source`` to ``run_dir/metrics.jsonl`` and to
    TensorBoard (:class:`~jaxdl.training.metrics.MetricsWriter`).

    Args:
      run_dir: the run directory.
      source: anything with a ``history`` list of records (an :class:`Evaluation`); the
        records it holds already (a resumed run's) are what the file is rewritten to.
      step_key: the records' TensorBoard step.
      write: ``False`` in the processes of a multi-process run that must not write (all but
        process 0): the hook then does nothing.
    """

    def __init__(self, run_dir: str | Path, source: Any, *, step_key: str = "step",
                 write: bool = True):  # fmt: skip
        self.source, self.written = source, len(source.history)
        self.writer = MetricsWriter(run_dir, source.history, step_key=step_key) if write else None

    def flush(self) -> None:
        """Write the records made since the last write."""
        records = self.source.history[self.written :]
        self.written += len(records)
        for record in records if self.writer is not None else ():
            self.writer.write(record)

    def __call__(self, state: TrainState, feed_state: PyTree, done: int) -> None:
        self.flush()

    def close(self) -> None:
        """Close the TensorBoard writer (records made after the last :meth:`flush` are not
        written: a run's records are those its checkpoints hold)."""
        if self.writer is not None:
            self.writer.close()


class FeedCarry(NamedTuple):
    """How a feed's state goes into a checkpoint and back: ``save(feed_state)`` the arrays to
    keep (random keys as their key data), ``load(saved, feed_state)`` the feed's state again
    (``feed_state``: the fresh one, for what was not saved, such as the data)."""

    save: Callable[[PyTree], PyTree]
    load: Callable[[PyTree, PyTree], PyTree]


def _save_first_key(feed_state: PyTree) -> jax.Array:
    return jax.random.key_data(feed_state[0])


def _load_first_key(saved: jax.Array, feed_state: PyTree) -> PyTree:
    return (jax.random.wrap_key_data(saved), *feed_state[1:])


#: A feed whose state is ``(key, data...)``: only the key changes, only the key is saved.
KEY_FIRST = FeedCarry(_save_first_key, _load_first_key)


def _padded(values: np.ndarray, steps: int) -> np.ndarray:
    out = np.zeros((steps, *np.shape(values)[1:]), np.asarray(values).dtype)
    out[: len(values)] = values
    return out


def _joined(before: np.ndarray, now: np.ndarray) -> np.ndarray:
    """``before`` then ``now``, in ``before``'s dtype (what the checkpoint holds)."""
    return np.concatenate([before, np.asarray(now, before.dtype)])


class Checkpoint:
    """A hook that saves what the run carries to ``run_directory`` after every chunk, as the
    entry of the train state's step, and restores it to continue the run bit-identical.

    Args:
      run_directory: the run's locked directory (the caller opens and closes it).
      carry: how the feed's state is saved (:data:`KEY_FIRST`: a feed of ``(key, data)``).
      meta: ``meta() -> dict`` of JSON values saved beside (an evaluation's history, say).
      steps: keep every step's loss (as float32) and aux in the checkpoint, in arrays of
        this many steps.
      aux: one step's aux (its shape and dtype, kept in that dtype) when ``steps`` is given
        and the loss has one; ``None``: no aux kept.

    With ``steps`` it is given the losses (``wants_losses``), and ``losses``/``aux_values``
    hold every step's so far, a resumed run's earlier ones included. ``carried`` is the tree
    last saved or restored (to save again beside later metadata).
    """

    def __init__(self, run_directory: RunDirectory, *, carry: FeedCarry = KEY_FIRST,
                 meta: Callable[[], dict] | None = None, steps: int | None = None,
                 aux: PyTree = None):  # fmt: skip
        self.directory, self.carry, self.meta, self.steps = run_directory, carry, meta, steps
        self.wants_losses = steps is not None
        self.aux_like = aux
        self.before = (np.zeros(0, np.float32), _stack_like(aux, 0))
        self.losses, self.aux_values = self.before
        self.carried = None

    def _carried(self, state: TrainState, feed_state: PyTree) -> tuple:
        carried = (state, self.carry.save(feed_state))
        if self.steps is None:
            return carried
        losses = _padded(self.losses, self.steps)
        if self.aux_like is None:
            return (*carried, losses)
        return (*carried, losses, jax.tree.map(lambda a: _padded(a, self.steps), self.aux_values))

    def restore(self, state: TrainState, feed_state: PyTree) -> tuple[TrainState, PyTree, dict]:
        """``(state, feed_state, meta)`` of the newest good checkpoint (``state`` and
        ``feed_state`` the fresh run's, for the shapes); a warning per damaged one skipped."""
        carried, meta, notes = self.directory.restore(self._carried(state, feed_state))
        self.carried = carried
        for note in notes:
            warnings.warn(note, stacklevel=2)
        state, feed_state = carried[0], self.carry.load(carried[1], feed_state)
        if self.steps is not None:
            done = int(state.step)
            aux = None if self.aux_like is None else carried[3]
            self.before = jax.tree.map(lambda a: np.asarray(a)[:done], (carried[2], aux))
            self.losses, self.aux_values = self.before
        return state, feed_state, meta

    def __call__(self, state: TrainState, feed_state: PyTree, done: int, *, losses=None,
                 aux=None) -> None:  # fmt: skip
        if self.steps is not None:
            self.losses = _joined(self.before[0], losses)
            if self.aux_like is not None:
                self.aux_values = jax.tree.map(_joined, self.before[1], aux)
        meta = {} if self.meta is None else self.meta()
        self.carried = self._carried(state, feed_state)
        self.directory.save(int(state.step), self.carried, meta=meta)


def _stack_like(aux: PyTree, steps: int) -> PyTree:
    """Zeros for ``steps`` steps of an aux shaped like ``aux`` (one step's)."""
    return jax.tree.map(lambda a: np.zeros((steps, *np.shape(a)), np.asarray(a).dtype), aux)


__all__ = ["KEY_FIRST", "Checkpoint", "EarlyStopping", "Evaluation", "FeedCarry", "Metrics"]
