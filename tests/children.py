"""Child processes that tests send signals to.

A child must meet SIGINT, SIGTERM and SIGHUP with their default action whatever the test run
inherited: ``nohup`` ignores SIGHUP, a background job of a non-interactive shell ignores SIGINT,
and ``jaxdl`` rightly honours an inherited ignore. An ignored signal stays ignored across
``exec``, while one this process *catches* reverts to its default action there. So, once per
test process, :func:`catch_ignored_signals` replaces each inherited ignore with a handler that
keeps this process's behaviour (it still ignores the signal), and every child starts with the
default action, with no code run between ``fork`` and ``exec`` (a ``preexec_fn`` there can
deadlock a process that runs JAX's threads).
"""

from __future__ import annotations

import signal

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _ignore(signum, frame) -> None:
    """Caught and dropped: the test process keeps ignoring what it was started ignoring."""


def catch_ignored_signals() -> None:
    """Turn each of :data:`SIGNALS` that this process ignores into one it catches and drops."""
    for signum in SIGNALS:
        if signal.getsignal(signum) == signal.SIG_IGN:
            signal.signal(signum, _ignore)


#: The environment of children started side by side that may compile the same program at once:
#: no persistent compilation cache (tests/xla_cache.py gives the whole run one, which a child
#: writes as JAX does, in place and unlocked: two writers of one entry could tear it).
NO_SHARED_CACHE = {"JAX_ENABLE_COMPILATION_CACHE": "false"}
