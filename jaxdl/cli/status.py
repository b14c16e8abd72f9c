"""The exit statuses of the ``jaxdl`` command, declared once.

0 done; 1 a failed check, a divergence, or a file that could not be written mid-run; 2 bad
input (one line, before any work); 128 + the signal number when stopped by one (Ctrl-C: 130,
SIGTERM: 143, SIGHUP: 129; see :mod:`jaxdl.interrupts`).
"""

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 128 + 2  # SIGINT, what shells report for Ctrl-C
