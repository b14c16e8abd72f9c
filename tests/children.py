"""Child processes that tests send signals to."""

from __future__ import annotations

import signal


def default_signals() -> None:
    """``preexec_fn`` for a child that a test signals: SIGINT, SIGTERM and SIGHUP do what they
    do by default, whatever the test run inherited (``nohup`` ignores SIGHUP; a background job of
    a non-interactive shell ignores SIGINT, and ``jaxdl`` rightly honours an inherited ignore)."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
