"""Signals that stop a command: Ctrl-C (SIGINT), SIGTERM (Slurm, Kubernetes, systemd, ``timeout``)
and SIGHUP all end a run the same way, with one line and status ``128 + signal``.

What :func:`install` sets up, for the ``jaxdl`` command (library code never installs handlers;
without them everything here is a no-op and Ctrl-C is Python's ``KeyboardInterrupt``):

- **The first signal** is recorded first (:func:`received`: a flag that nothing can drop), then
  raised as :class:`Interrupted` (a ``KeyboardInterrupt``) in the main thread, so training stops
  between two steps, the ``finally`` blocks close what is open, and the command prints its one
  line (the saved epochs and how to continue). A raise can be dropped: Python prints and ignores
  an exception raised in a garbage-collector callback (JAX's ``_xla_gc_callback`` runs on every
  collection), a ``__del__`` or a weakref callback. So the flag stays, and it is acted on:
  a dropped :class:`Interrupted` is caught by ``sys.unraisablehook``, which says nothing and
  delivers the signal again from a helper thread (a compilation JAX waits on is cut short all
  the same); every training loop calls :func:`check` between its chunks, which raises the
  recorded signal from a safe place; and the command checks once more before it exits, so a
  signal never ends in status 0.
- **Inside** :func:`deferred` (a checkpoint being saved, the start-up imports) the signal waits
  until the block ends: a save is never cut in half by the first signal.
- **A second signal** while the first is being handled ends the process at once, with one line
  and the same status: never a traceback, never a wait the user cannot cut short.
- **The exit** after an interrupt skips the interpreter's finalization (:func:`exit_now`).

Why the exit skips finalization: JAX waits for a compilation with
``BlockUntilReadyWithCancel``, which polls Python's signals every 200 ms and returns a
``KeyboardInterrupt`` to Python *without cancelling the compilation*: XLA goes on compiling on its
own thread pool. A normal exit then garbage-collects the XLA client (``Py_FinalizeEx`` ->
``PyClient::~PyClient`` -> ``PjRtClient::~PjRtClient``), destroying its devices while that
compile thread still runs ``PjRtLoadedExecutable::Create`` -> ``SingleDeviceSharding::Create`` on
one of them: a call through a freed object, SIGSEGV (exit 139, 4 of 9 tries of ``jaxdl run
elman-rnn`` interrupted 3-7 s after start; core dump of jaxlib 0.10.2). No Python-level wait can
cancel that compile, so after an interrupt the command flushes its output and leaves with
``os._exit``: the kernel ends the compile thread with the process, and nothing is destroyed under
it. (Files are closed by then: ``fit`` closes its writers and checkpoints in ``finally``.)
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator

#: The signals :func:`install` handles (SIGQUIT keeps its core dump, SIGKILL cannot be caught).
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """A signal asked the command to stop. ``signum``: which; ``status``: ``128 + signum``."""

    def __init__(self, signum: int):
        self.signum = signum
        self.status = 128 + signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")


class Stopped(KeyboardInterrupt):
    """A command stopped by a signal, with what it says about its state.

    ``line``: the rest of the command's one line, e.g. ``"in epoch 3; saved after epoch 2;
    continue with `...`"``.
    """

    def __init__(self, line: str):
        self.line = line
        super().__init__(line)


_installed = False
_depth = 0  # nesting of deferred() blocks
_pending: int | None = None  # a signal that arrived inside a deferred block
_received: int | None = None  # the first signal, once delivered or pending
_redelivering = False  # the next delivery is the first signal again (its raise was dropped)
_in_hook = False  # sys.unraisablehook is handling a dropped Interrupted
_closing = False  # the command's work is done: a signal now ends the process at once
_last_words: Callable[[], str] | None = None  # the line a second signal prints
_previous_unraisablehook = None


def install(last_words: Callable[[], str] | None = None) -> None:
    """Handle :data:`SIGNALS` as described above (main thread only; idempotent).

    Args:
      last_words: gives the one line printed when a second signal ends the process at once
        (e.g. which epochs are saved); called from the signal handler, so it must be quick.
    """
    global _installed, _last_words, _previous_unraisablehook
    if threading.current_thread() is not threading.main_thread():
        return
    _last_words = last_words or _last_words
    for signum in SIGNALS:
        if signal.getsignal(signum) is signal.SIG_IGN:
            continue  # nohup's SIGHUP, a shell's background job's SIGINT: the parent's choice
        signal.signal(signum, _handle)
    if sys.unraisablehook is not _unraisable:
        _previous_unraisablehook = sys.unraisablehook
        sys.unraisablehook = _unraisable
    _installed = True


def set_last_words(last_words: Callable[[], str] | None) -> None:
    """Replace the line a second signal prints (see :func:`install`)."""
    global _last_words
    _last_words = last_words


def installed() -> bool:
    """Whether :func:`install` has run in this process."""
    return _installed


def received() -> int | None:
    """The first signal this process received since :func:`install` (``None``: none)."""
    return _received


def status(default: int = 130) -> int:
    """The exit status for the signal received: ``128 + signum`` (``default`` when none)."""
    return default if _received is None else 128 + _received


def check() -> None:
    """Raise :class:`Interrupted` if a signal was received: for loops, between their steps.

    The handler raises the signal where Python happens to be, and there it may be dropped
    (see above); a loop that calls this between chunks stops at the next one all the same.
    A no-op inside :func:`deferred` (the block raises at its end), in other threads, and
    without :func:`install`.
    """
    if _received is None or _depth or threading.current_thread() is not threading.main_thread():
        return
    raise Interrupted(_received)


def closing() -> None:
    """The command's work is done: from now on a signal ends the process at once, with its
    status and one line (it could no longer be raised anywhere that reports it)."""
    global _closing
    _closing = True


def _unraisable(unraisable) -> None:
    """``sys.unraisablehook``: an :class:`Interrupted` that Python dropped is delivered again."""
    global _in_hook
    if isinstance(unraisable.exc_value, Interrupted) and _received is not None:
        _in_hook = True
        try:
            _redeliver()
        finally:
            _in_hook = False
        return
    (_previous_unraisablehook or sys.__unraisablehook__)(unraisable)


def _redeliver() -> None:
    """Send the first signal to the main thread again, from a helper thread, a moment later
    (the main thread handles it at its next bytecode, or cuts short the wait it is in)."""
    global _redelivering
    _redelivering = True
    main = threading.main_thread().ident

    def send() -> None:
        time.sleep(0.01)
        with contextlib.suppress(OSError, ValueError):
            signal.pthread_kill(main, _received)

    threading.Thread(target=send, daemon=True).start()


def _handle(signum: int, frame) -> None:
    global _pending, _received, _redelivering
    if _redelivering and _received is not None:  # the first signal again: raise it here
        if _in_hook:  # ... but not inside the hook that sent it: it would be dropped again
            _redeliver()
            return
        _redelivering = False
        signum = _received
    elif _received is not None or _closing:  # a second signal, or one after the work: stop now
        line = "stopped at once by a second signal" if _received is not None else None
        _received = _received or signum
        if line is None:
            line = "interrupted" if signum == signal.SIGINT else str(Interrupted(signum))
        elif _last_words is not None:
            try:
                line = f"{line}; {_last_words()}"
            except Exception:  # noqa: BLE001 - the line is best effort, the exit is not
                pass
        _write_line(f"jaxdl: {line}")
        exit_now(128 + _received)
    _received = signum
    if _depth:
        _pending = signum
        return
    raise Interrupted(signum)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold back the first signal until the block ends, then raise it (no-op if not installed).

    For work that must not be cut in half (a checkpoint's files and rename) or that must not
    be unwound by an exception (an extension module being imported).
    """
    global _depth, _pending
    if not _installed or threading.current_thread() is not threading.main_thread():
        yield
        return
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if not _depth and _pending is not None:
            signum, _pending = _pending, None
            raise Interrupted(signum)


@contextlib.contextmanager
def blocking(
    line: str, *, timeout: float | None = None, on_timeout: Callable[[], None] | None = None
) -> Iterator[None]:
    """For a wait in C++ that never returns to Python (``jax.distributed.initialize`` waiting
    for its peers): a signal ends the process within a moment, with ``jaxdl: interrupted`` (or
    ``stopped by SIGTERM``) and ``line``, status ``128 + signal``; after ``timeout`` seconds,
    ``on_timeout()`` is called (it should end the process).

    A handler written in Python runs only when the main thread runs Python, so a helper thread
    watches the wake-up descriptor, where Python's C-level handler writes each signal's number
    at once. Without :func:`install` only the timeout is watched.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    read, write = os.pipe()
    os.set_blocking(write, False)
    previous = signal.set_wakeup_fd(write, warn_on_full_buffer=False) if _installed else -1
    stop = threading.Event()

    def watch() -> None:
        import select

        deadline = None if timeout is None else time.monotonic() + timeout
        while not stop.is_set():
            wait = 0.2 if deadline is None else min(0.2, deadline - time.monotonic())
            if wait <= 0:
                if on_timeout is not None and not stop.is_set():
                    on_timeout()
                return
            if select.select([read], [], [], wait)[0]:
                data = os.read(read, 64)
                signums = [n for n in data if n in {int(s) for s in SIGNALS}]
                if signums and not stop.is_set():
                    signum = signums[0]
                    what = "interrupted" if signum == signal.SIGINT else str(Interrupted(signum))
                    _write_line(f"jaxdl: {what} {line}")
                    exit_now(128 + signum)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        if _installed:
            signal.set_wakeup_fd(previous)
        watcher.join()
        os.close(read)
        os.close(write)


def _write_line(line: str) -> None:
    try:
        os.write(sys.stderr.fileno(), (line + "\n").encode())
    except (OSError, ValueError, AttributeError):
        pass


def exit_now(status: int):
    """Flush stdout and stderr and end the process with ``status``, skipping finalization."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(status)


__all__ = [
    "SIGNALS",
    "Interrupted",
    "Stopped",
    "deferred",
    "check",
    "closing",
    "exit_now",
    "install",
    "installed",
    "received",
    "set_last_words",
    "status",
]
