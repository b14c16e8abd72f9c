"""Write metrics, event files and plots off the training thread (seed 001's task queue).

Seed 001 hands slow plotting to a small thread-backed task queue so that gradient descent
never waits for matplotlib. :class:`BackgroundWriter` is that queue made safe:

* **One worker thread, tasks in order.** ``submit(fn, *args)`` returns at once; the worker runs
  the callables one after another, in submission order (a metrics file is appended in order).
* **Bounded.** At most ``maxsize`` tasks wait, so a stalled disk cannot eat memory.
* **Policy when full** (the choice, documented): a task submitted with ``droppable=False``
  (the default: metrics records, event files, checkpoints) is **never dropped**; ``submit``
  blocks until the worker frees a slot (back-pressure, which only happens if the writer is
  slower *on average* than training for longer than the queue is deep). A task submitted with
  ``droppable=True`` (a plot, which the next plot supersedes) **never blocks**: the oldest
  pending droppable task is discarded to make room, or, when every waiting task is a
  non-droppable one, the new plot itself is discarded; :attr:`BackgroundWriter.dropped`
  counts them.
* **Errors surface in the main thread.** If a task raises, the worker stops running tasks and
  the exception is re-raised by the next ``submit``, ``flush`` or ``close`` in the thread
  that uses the writer (with the worker's traceback attached).
* **Nothing lost at exit.** ``close()`` (and leaving the ``with`` block, normally *or* by an
  exception such as ``KeyboardInterrupt``) waits until every queued task has run; an ``atexit``
  hook does the same for a writer that was never closed.

Example::

    with BackgroundWriter(maxsize=64) as writer:
        for epoch in range(epochs):
            state, metrics = train_epoch(state, ...)  # jitted; stays on the device
            writer.submit(metrics_file.write, to_host(metrics))
            writer.submit(save_plot, history, droppable=True)
"""

from __future__ import annotations

import atexit
import collections
import threading
from collections.abc import Callable
from typing import Any, NamedTuple

from jaxdl.validate import require_positive_int


class _Task(NamedTuple):
    fn: Callable[..., Any]
    args: tuple
    kwargs: dict
    droppable: bool


class BackgroundWriter:
    """A single worker thread fed through a bounded queue; see the module docstring for the policy.

    Args:
      maxsize: how many tasks may wait (at least 1).
      name: the worker thread's name.
    """

    def __init__(self, maxsize: int = 64, *, name: str = "jaxdl-background-writer"):
        require_positive_int("maxsize", maxsize)
        self.maxsize = maxsize
        self.dropped = 0  # droppable tasks discarded because the queue was full
        self.completed = 0  # tasks that ran to completion
        self._pending: collections.deque[_Task] = collections.deque()
        self._cond = threading.Condition()
        self._running = False  # the worker is executing a task right now
        self._closing = False
        self._closed = False
        self._error: BaseException | None = None  # raised in the main thread, then cleared
        self._failed = False  # a task raised: run nothing more
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()
        atexit.register(self._close_at_exit)

    # ---------------------------------------------------------------------------------------
    # Main-thread API
    # ---------------------------------------------------------------------------------------

    def submit(self, fn: Callable[..., Any], *args: Any, droppable: bool = False, **kwargs):
        """Queue ``fn(*args, **kwargs)`` for the worker; returns at once unless the queue is full.

        Args:
          fn: the task; it runs on the worker thread (matplotlib: use ``Figure``, not pyplot).
          droppable: ``True`` for work that a later task supersedes (plots): never blocks, may
            be discarded when the queue is full. ``False`` (default) for work that must happen
            (metrics): blocks while the queue is full, never discarded.

        Raises:
          Exception: the first error a task raised on the worker (re-raised here, once).
          ValueError: the writer is closed.
        """
        if not callable(fn):
            raise ValueError(f"submit needs a callable, got {fn!r}")
        task = _Task(fn, args, kwargs, droppable)
        with self._cond:
            self._raise_pending_error()
            if self._closing:
                raise ValueError("the background writer is closed; create a new one")
            if len(self._pending) >= self.maxsize:
                if droppable:
                    oldest = next((t for t in self._pending if t.droppable), None)
                    self.dropped += 1
                    if oldest is None:
                        return  # only must-run tasks wait: the new plot gives way
                    self._pending.remove(oldest)
                else:
                    while len(self._pending) >= self.maxsize and self._error is None:
                        self._cond.wait()
                    self._raise_pending_error()
            self._pending.append(task)
            self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued task has run; re-raise a worker error.

        Returns:
          ``True`` when the queue drained, ``False`` if ``timeout`` seconds passed first.
        """
        with self._cond:
            drained = self._cond.wait_for(
                lambda: self._error is not None or (not self._pending and not self._running),
                timeout,
            )
            self._raise_pending_error()
            return drained

    def close(self) -> None:
        """Run everything still queued, stop the worker, re-raise a worker error. Idempotent."""
        with self._cond:
            if self._closed:
                self._raise_pending_error()
                return
            self._closing = True
            self._cond.notify_all()
        self._thread.join()
        with self._cond:
            self._closed = True
        atexit.unregister(self._close_at_exit)
        with self._cond:
            self._raise_pending_error()

    @property
    def pending(self) -> int:
        """Tasks waiting (not counting one that is running)."""
        with self._cond:
            return len(self._pending)

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        # Flush on a normal end and on KeyboardInterrupt or any error alike: whatever was
        # submitted before the interruption is written. A worker error does not mask the
        # exception that is already propagating.
        if exc_type is None:
            self.close()
            return
        try:
            self.close()
        except Exception as worker_error:
            if hasattr(exc, "add_note"):
                exc.add_note(f"the background writer also failed: {worker_error!r}")

    # ---------------------------------------------------------------------------------------
    # Worker
    # ---------------------------------------------------------------------------------------

    def _raise_pending_error(self) -> None:
        """Call with the lock held: raise the worker's error once, then mark the writer closed."""
        if self._error is not None:
            error, self._error = self._error, None
            self._closing = True
            self._failed = True
            raise error

    def _work(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._closing)
                if self._failed or not self._pending:
                    if self._closing:
                        return
                    continue
                task = self._pending.popleft()
                self._running = True
                self._cond.notify_all()  # a slot is free for a blocked submit
            try:
                task.fn(*task.args, **task.kwargs)
            except BaseException as error:  # noqa: BLE001 - handed to the main thread
                with self._cond:
                    self._running = False
                    self._error = error
                    self._failed = True
                    self._pending.clear()  # later tasks may depend on this one; stop here
                    self._cond.notify_all()
                continue
            with self._cond:
                self._running = False
                self.completed += 1
                self._cond.notify_all()

    def _close_at_exit(self) -> None:
        try:
            self.close()
        except Exception as error:  # at exit there is no caller left to raise to
            import sys

            print(f"jaxdl: background writer failed: {error!r}", file=sys.stderr)
