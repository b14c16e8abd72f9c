"""One run directory, one writer: an exclusive lock for the whole run, and what a run may find there.

Two ``jaxdl train`` processes given the same ``--out`` used to both run, interleave their
``metrics.jsonl``, overwrite each other's checkpoints, and one's ``--resume`` deleted the other's
half-written ``.partial-`` checkpoint. Now the process that trains in a directory holds an
advisory ``fcntl.flock`` lock on ``DIR/.jaxdl-lock`` from before it touches anything there until
it ends; a second process that asks for the same directory is refused in one line naming the
holder (its pid, host and command, written into the lock file). The kernel releases the lock when
the holding process dies, however it dies, so a killed run never leaves a stale lock: the file may
stay, the lock does not.

A lock is held per process and per directory: asking again for a directory this process already
holds returns at once (``fit`` after the command line took it, a resumed ``fit`` in a notebook).
In a run of several processes, process 0 (the only writer) holds it.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path

from jaxdl.validate import writable_directory

LOCK_FILE = ".jaxdl-lock"
#: The run directory's layout: checkpoints live in ``<run_dir>/checkpoints/<epoch>``
#: (:mod:`jaxdl.training.checkpoints` writes them); a save in progress is
#: ``checkpoints/.partial-<epoch>`` until it is renamed into place.
CHECKPOINT_DIR = "checkpoints"
PARTIAL = ".partial-"

#: Open lock files of the directories this process holds, by resolved path.
_held: dict[Path, int] = {}


class RunDirBusy(ValueError):
    """Another process holds the run directory's lock (the message names it)."""


def _key(run_dir: str | Path) -> Path:
    return Path(run_dir).resolve()


def holds(run_dir: str | Path) -> bool:
    """Whether this process holds the lock of ``run_dir``."""
    return _key(run_dir) in _held


def holder(run_dir: str | Path) -> str:
    """Who holds ``run_dir``'s lock, as written in the lock file ("process 1234 on host: ...")."""
    path = Path(run_dir) / LOCK_FILE
    for _ in range(20):  # the holder writes its line right after locking: wait for it briefly
        try:
            info = json.loads(path.read_text() or "null")
        except (OSError, ValueError):
            info = None
        if isinstance(info, dict) and "pid" in info:
            command = info.get("command") or "?"
            return (
                f"process {info['pid']} on {info.get('host', '?')} "
                f"(`{command}`, started {info.get('started', '?')})"
            )
        time.sleep(0.05)
    return "another process"


def acquire(run_dir: str | Path, *, option: str = "run_dir") -> Path:
    """Take the exclusive lock of existing directory ``run_dir`` for this process; returns it.

    Never blocks: a directory another process holds is refused at once.

    Raises:
      RunDirBusy: another process holds it (one line naming that process).
      ValueError: the lock file cannot be created or locked (read-only directory, a file
        system without locks).
    """
    key = _key(run_dir)
    if key in _held:
        return Path(run_dir)
    path = Path(run_dir) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as error:
        raise ValueError(
            f"{option} {str(run_dir)!r}: cannot create its lock file ({error.strerror or error}); "
            "choose another"
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        os.close(fd)
        if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise RunDirBusy(
                f"{option} {str(run_dir)!r} is in use by {holder(run_dir)}; wait for it to "
                f"finish, stop it, or choose another {option}"
            ) from None
        raise ValueError(
            f"{option} {str(run_dir)!r}: cannot lock it ({error.strerror or error}); "
            "choose a directory on a local file system"
        ) from None
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": " ".join(["jaxdl", *sys.argv[1:]]) if sys.argv else "",
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
    _held[key] = fd
    return Path(run_dir)


def release(run_dir: str | Path) -> None:
    """Release this process's lock of ``run_dir`` (nothing if it holds none)."""
    fd = _held.pop(_key(run_dir), None)
    if fd is not None:
        os.close(fd)  # closing the only descriptor releases the flock


def has_checkpoints(run_dir: str | Path) -> bool:
    """Whether ``run_dir`` holds checkpoint directories of a run (damaged or not)."""
    root = Path(run_dir) / CHECKPOINT_DIR
    return root.is_dir() and any(p.is_dir() and p.name.isdigit() for p in root.iterdir())


def has_run(run_dir: str | Path) -> bool:
    """Whether ``run_dir`` holds a run to continue: a checkpoint (damaged or not).

    A run stopped before its first checkpoint leaves nothing to continue: a new run may start
    there (and ``resume=True`` is refused).
    """
    return has_checkpoints(run_dir)


def check_creatable(run_dir: str | Path, *, option: str = "run_dir") -> None:
    """``ValueError`` unless ``run_dir`` exists as a directory or could be created (creates nothing).

    For a caller that refuses a bad directory before loading any data but creates it only once
    the data is known good. ``option`` names the argument in the message.
    """
    target = Path(run_dir)
    if target.exists():
        if not target.is_dir():
            raise ValueError(f"{option} {str(run_dir)!r} is a file; give a directory")
        return
    ancestor = target.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        why = "a file" if ancestor.exists() and not ancestor.is_dir() else "not writable"
        raise ValueError(
            f"{option} {str(run_dir)!r} is not writable ({str(ancestor)!r} is {why}); "
            "choose another"
        )


def check_contents(run_dir: str | Path, *, resume: bool) -> None:
    """``ValueError`` when a new run would overwrite a run, or a resumed one finds none."""
    if resume and not has_run(run_dir):
        raise ValueError(
            f"resume=True: {str(run_dir)!r} holds no run to continue (no checkpoints); check "
            "run_dir, or leave out resume=True to start a new run there"
        )
    if not resume and has_run(run_dir):
        raise ValueError(
            f"run_dir {str(run_dir)!r} already holds a run; pass resume=True to continue it "
            "or choose another run_dir"
        )


def prepare(run_dir: str | Path, *, resume: bool) -> Path:
    """Create ``run_dir``, prove it writable and take its lock, before any training step.

    Raises:
      RunDirBusy: another process is training in it.
      ValueError: it cannot be created or written, or it already holds checkpoints and
        ``resume`` is false (a new run would silently overwrite them), or ``resume`` is true
        and it holds no run.
    """
    option = "run_dir"
    path = Path(run_dir)
    if not path.is_dir():
        writable_directory(path, option=option)  # creates it, or says why it cannot
    acquire(path, option=option)
    try:
        remove_partial_saves(path)  # before the probe: on a full disk they are what fills it
        writable_directory(path, option=option)
        check_contents(path, resume=resume)
    except ValueError:
        release(path)
        raise
    return path


def remove_partial_saves(run_dir: str | Path) -> None:
    """Delete the ``.partial-`` checkpoints a killed save left (only under this process's lock)."""
    import shutil

    if not holds(run_dir):
        return
    root = Path(run_dir) / CHECKPOINT_DIR
    if root.is_dir():
        for leftover in root.glob(PARTIAL + "*"):
            shutil.rmtree(leftover, ignore_errors=True)


__all__ = [
    "CHECKPOINT_DIR",
    "LOCK_FILE",
    "PARTIAL",
    "RunDirBusy",
    "acquire",
    "check_contents",
    "check_creatable",
    "has_checkpoints",
    "has_run",
    "holder",
    "holds",
    "prepare",
    "release",
    "remove_partial_saves",
]
