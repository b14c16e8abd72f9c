"""Run as a child by ``test_signals``: one ``jaxdl train`` after another in this process, each
sent SIGTERM at a different moment, and a count of the signals lost (a run that ended with
status 0 though the signal came before it ended).

``python -m tests.cli.signal_moments OUT TRIES LOADED``; prints one JSON line: ``{"moments":
[...], "lost": [...], "late": n}``. SIGTERM and SIGINT alternate; the last ``LOADED`` tries run
beside two processes that keep both cores busy. To make the fault that the test guards against likely rather than
rare, a garbage-collector callback runs often and long (as JAX's ``_xla_gc_callback`` runs on
every collection): a signal raised inside it is dropped by Python unless :mod:`jaxdl.interrupts`
keeps it.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import threading
import time

from jaxdl import interrupts
from jaxdl.cli import main

#: Seconds each collection's callback runs Python, and the collections' threshold: together
#: about half of a run's time is spent in the callback.
BUSY, THRESHOLD = float(os.environ.get("BUSY", 0.002)), int(os.environ.get("THR", 200))


def _busy(phase: str, info: dict) -> None:
    if phase == "start":
        until = time.perf_counter() + BUSY
        while time.perf_counter() < until:  # Python runs here: a signal may be raised here
            pass


def _reset() -> None:
    interrupts._received = interrupts._pending = None
    interrupts._redelivering = False


def one(out: str, delay: float | None, signum: int = signal.SIGTERM) -> tuple[int, bool, float]:
    """Train once into ``out``, send ``signum`` after ``delay`` seconds; ``(status, late,
    seconds)``: ``late`` when the signal was raised only after the command had returned."""
    _reset()
    argv = ["train", "mlp", "--data", "sample", "--epochs", "2", "--batch-size", "256",
            "--out", out]  # fmt: skip
    timer = None
    if delay is not None:
        timer = threading.Timer(delay, os.kill, (os.getpid(), signum))
        timer.start()
    start, late = time.perf_counter(), False
    try:
        status = main(argv)
        seconds = time.perf_counter() - start
        if timer is not None:
            timer.join()
        time.sleep(0.1)  # a signal raised only now was not lost, merely late
    except KeyboardInterrupt:
        late, seconds = True, time.perf_counter() - start
    return status, late, seconds


def run(root: str, tries: int, loaded: int) -> dict:
    interrupts.install()
    gc.callbacks.append(_busy)
    gc.set_threshold(THRESHOLD)
    one(os.path.join(root, "warm"), None)  # compiles; the tries below reuse the programs
    _, _, seconds = one(os.path.join(root, "timed"), None)
    moments, lost, late, burners = [], [], 0, []
    try:
        for i in range(tries):
            if i == tries - loaded:
                burn = "while True: pass"
                burners = [subprocess.Popen([sys.executable, "-c", burn]) for _ in range(2)]
                seconds *= 1.5  # the runs take longer beside them
            signum = (signal.SIGTERM, signal.SIGINT)[i % 2]
            delay = 0.9 * seconds * (i % (tries // 2) + 0.5) / (tries // 2)
            status, was_late, _ = one(os.path.join(root, str(i)), delay, signum)
            late += was_late
            if not was_late:
                moments.append(round(delay, 3))
                if status != 128 + signum:
                    lost.append([round(delay, 3), status])
    finally:
        for burner in burners:
            burner.kill()
    return {"moments": moments, "lost": lost, "late": late, "seconds": seconds}


if __name__ == "__main__":
    os.environ["JAXDL_COMPILATION_CACHE"] = os.path.join(sys.argv[1], "xla-cache")
    print(json.dumps(run(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))), flush=True)
    os._exit(0)  # (the interpreter's finalization is not under test)
