"""Checkpoints that survive a kill at any moment and are never restored when damaged.

One checkpoint per finished epoch, the newest two kept::

    checkpoints/<epoch>/state.npz        the TrainState's arrays, keyed by their tree path
                        best_params.npz  the parameters of the best epoch so far
                        meta.json        epoch, history, best epoch, the run's defining settings
                        sha256.json      SHA-256 and size of each file above, written last

A save writes into ``checkpoints/.partial-<epoch>``, flushes every file to disk, and only then
renames the directory to ``<epoch>`` (a rename is atomic on POSIX file systems), so a process
killed at any moment leaves either the complete checkpoint or a ``.partial-`` directory that
the next run deletes. Restoring checks every file against ``sha256.json`` first: a damaged
newest checkpoint (bytes flipped, truncated, metadata unreadable) is reported in one line and
the one before it is used; the epochs after it are trained again, to the same parameters.

The writer is a few lines of NumPy rather than orbax-checkpoint: orbax left a temporary
directory behind when killed mid-save (after which ``--resume`` failed on every attempt), had
no checksums, and reported a truncated array file with a several-hundred-line traceback.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

from jaxdl.training import rundir
from jaxdl.training.rundir import CHECKPOINT_DIR, PARTIAL

KEEP = 2  # the newest checkpoint, and the one to fall back to if it is damaged
MANIFEST = "sha256.json"
_PARTIAL = PARTIAL

#: Test hook: ``"<epoch>:<stage>"`` makes the process SIGKILL itself while saving that epoch,
#: at ``stage`` "state" (half of state.npz written), "manifest" (every file but the manifest
#: written) or "rename" (checkpoint in place, older ones not yet pruned);
#: ``"<epoch>:<stage>:<SIGNAL>"`` sends that signal instead (``2:state:SIGTERM``).
KILL_HOOK = "JAXDL_TEST_KILL_DURING_SAVE"


class CheckpointError(ValueError):
    """No usable checkpoint: the message names each one tried and what to do."""


class Restored(NamedTuple):
    """What :meth:`Checkpoints.restore` returns."""

    epoch: int
    state: Any  # like the ``like`` tree passed in
    best_params: Any
    meta: dict[str, Any]
    notes: tuple[str, ...]  # one line per damaged checkpoint skipped


def _kill_hook(epoch: int, stage: str) -> None:
    hook = os.environ.get(KILL_HOOK, "")
    if hook == f"{epoch}:{stage}" or hook.startswith(f"{epoch}:{stage}:"):
        name = hook.split(":")[2] if hook.count(":") == 2 else "SIGKILL"
        os.kill(os.getpid(), getattr(signal, name))


def _paths(tree: Any) -> list[tuple[str, Any]]:
    return [
        (jax.tree_util.keystr(p), leaf) for p, leaf in jax.tree_util.tree_leaves_with_path(tree)
    ]


def _npz_bytes(tree: Any) -> bytes:
    buffer = io.BytesIO()
    np.savez(
        buffer, **{f"{i}:{path}": np.asarray(leaf) for i, (path, leaf) in enumerate(_paths(tree))}
    )
    return buffer.getvalue()


def _npz_tree(raw: bytes, like: Any, *, name: str) -> Any:
    """The tree ``like`` with its leaves read from npz ``raw`` (same paths, shapes, dtypes)."""
    with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
        stored = {key: npz[key] for key in npz.files}
    expected = _paths(like)
    keys = [f"{i}:{path}" for i, (path, _) in enumerate(expected)]
    if sorted(keys) != sorted(stored):
        raise CheckpointError(
            f"{name} holds arrays {sorted(stored)[:4]}..., not those of this model ({keys[:4]}...)"
        )
    leaves = []
    for key, (path, leaf) in zip(keys, expected, strict=True):
        array = stored[key]
        if array.shape != np.shape(leaf) or array.dtype != np.asarray(leaf).dtype:
            raise CheckpointError(
                f"{name}: {path} is {array.dtype} {array.shape}, this model has "
                f"{np.asarray(leaf).dtype} {np.shape(leaf)}"
            )
        leaves.append(array)
    return jax.tree.unflatten(jax.tree.structure(like), leaves)


def _write(path: Path, data: bytes) -> None:
    with path.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verify(directory: Path) -> dict[str, bytes]:
    """Every file of checkpoint ``directory`` by name, after checking it against the manifest.

    Raises:
      CheckpointError: the manifest is missing or unreadable, or a file is missing, of the
        wrong size, or its SHA-256 differs (one line saying which).
    """
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
        files = {
            name: (int(entry["bytes"]), str(entry["sha256"])) for name, entry in manifest.items()
        }
    except FileNotFoundError:
        raise CheckpointError(f"{directory} has no {MANIFEST} (the save did not finish)") from None
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:
        raise CheckpointError(f"{directory / MANIFEST} is unreadable ({error})") from None
    contents = {}
    for name, (size, digest) in files.items():
        try:
            data = (directory / name).read_bytes()
        except OSError as error:
            raise CheckpointError(f"{directory / name}: {error.strerror or error}") from None
        if len(data) != size:
            raise CheckpointError(f"{directory / name} has {len(data)} bytes, {size} were saved")
        if _digest(data) != digest:
            raise CheckpointError(f"{directory / name} does not match its saved SHA-256")
        contents[name] = data
    if not {"state.npz", "best_params.npz", "meta.json"} <= set(contents):
        raise CheckpointError(f"{directory / MANIFEST} does not list every file of a checkpoint")
    return contents


class Checkpoints:
    """The checkpoints of one run directory (one writer at a time).

    The writer is the process that holds the directory's lock
    (:func:`jaxdl.training.rundir.prepare`): only it deletes the ``.partial-`` directories
    a killed save left, so a reader never deletes the save of a run in progress. Closing
    releases the lock.
    """

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.root = self.run_dir / CHECKPOINT_DIR
        self.root.mkdir(parents=True, exist_ok=True)
        rundir.remove_partial_saves(self.run_dir)  # a save killed before its rename

    def epochs(self) -> list[int]:
        """Epochs that have a checkpoint directory (complete or not), newest first."""
        found = [int(p.name) for p in self.root.iterdir() if p.is_dir() and p.name.isdigit()]
        return sorted(found, reverse=True)

    def latest_epoch(self) -> int | None:
        """The newest epoch with a checkpoint directory, or ``None``."""
        epochs = self.epochs()
        return epochs[0] if epochs else None

    def save(self, epoch: int, state: Any, best_params: Any, meta: dict[str, Any]) -> Path:
        """Write the checkpoint of ``epoch`` atomically, then keep only the newest :data:`KEEP`.

        A signal that arrives meanwhile (SIGINT, SIGTERM under the ``jaxdl`` command) is held
        back until the checkpoint is complete (:func:`jaxdl.interrupts.deferred`).

        Raises:
          OSError: the files cannot be written (a full disk, a directory made read-only): one
            line naming the epoch and the cause; the half-written save is removed, the older
            checkpoints are untouched.
        """
        from jaxdl import interrupts

        with interrupts.deferred():
            try:
                return self._save(epoch, state, best_params, meta)
            except OSError as error:
                shutil.rmtree(self.root / f"{_PARTIAL}{epoch}", ignore_errors=True)
                saved = [e for e in self.epochs() if e != epoch][:1]
                kept = f"the checkpoint of epoch {saved[0]} is kept" if saved else "none is saved"
                raise OSError(
                    error.errno,
                    f"cannot save the checkpoint of epoch {epoch} in {self.root} "
                    f"({error.strerror or error}); {kept}: free space or fix the permissions, "
                    "then resume",
                ) from None

    def _save(self, epoch: int, state: Any, best_params: Any, meta: dict[str, Any]) -> Path:
        partial = self.root / f"{_PARTIAL}{epoch}"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        files = {
            "state.npz": _npz_bytes(state),
            "best_params.npz": _npz_bytes(best_params),
            "meta.json": json.dumps(meta).encode(),
        }
        manifest = {}
        for name, data in files.items():
            if name == "state.npz" and os.environ.get(KILL_HOOK, "").startswith(f"{epoch}:state"):
                _write(partial / name, data[: len(data) // 2])
                _kill_hook(epoch, "state")
            _write(partial / name, data)
            manifest[name] = {"bytes": len(data), "sha256": _digest(data)}
        _kill_hook(epoch, "manifest")
        _write(partial / MANIFEST, json.dumps(manifest, indent=1).encode())
        _fsync_dir(partial)
        target = self.root / str(epoch)
        if target.exists():  # an epoch trained again after falling back from a damaged one
            shutil.rmtree(target)
        os.rename(partial, target)
        _fsync_dir(self.root)
        _kill_hook(epoch, "rename")
        for old in self.epochs()[KEEP:]:
            shutil.rmtree(self.root / str(old), ignore_errors=True)
        return target

    def read(self, epoch: int) -> dict[str, bytes]:
        """The verified files of the checkpoint of ``epoch`` (see :func:`verify`)."""
        return verify(self.root / str(epoch))

    def newest_good(self) -> tuple[int, dict[str, bytes], tuple[str, ...]]:
        """``(epoch, files, notes)`` of the newest checkpoint that verifies.

        ``notes`` has one line per newer, damaged checkpoint skipped.

        Raises:
          CheckpointError: none verifies (one line naming each and what to do).
        """
        damaged: list[tuple[int, str]] = []
        for epoch in self.epochs():
            try:
                files = self.read(epoch)
            except CheckpointError as error:
                damaged.append((epoch, str(error)))
                continue
            notes = tuple(
                f"checkpoint of epoch {bad} is damaged ({why}); resuming from epoch {epoch}"
                for bad, why in damaged
            )
            return epoch, files, notes
        if not damaged:
            raise CheckpointError(
                f"{self.root} holds no checkpoint; start again without resume=True"
            )
        raise CheckpointError(
            f"no usable checkpoint in {self.root}: "
            + "; ".join(why for _, why in damaged)
            + "; delete that directory to train from the start, or choose another run_dir"
        )

    def close(self) -> None:
        """Release the run directory's lock, if this process holds it."""
        rundir.release(self.run_dir)


def decode(files: dict[str, bytes], like_state: Any, like_params: Any, *, name: str) -> Restored:
    """The arrays and metadata of verified checkpoint ``files`` as trees like the given ones."""
    meta = json.loads(files["meta.json"])
    state = _npz_tree(files["state.npz"], like_state, name=f"{name}/state.npz")
    best = _npz_tree(files["best_params.npz"], like_params, name=f"{name}/best_params.npz")
    return Restored(int(meta["epoch"]), state, best, meta, ())


def load_best_params(run_dir: str | Path, like: Any) -> Any:
    """The best parameters saved in ``run_dir`` (``like``: parameters of the same model).

    Read from the newest checkpoint that verifies.
    """
    checkpoints = Checkpoints(run_dir)
    epoch, files, _ = checkpoints.newest_good()
    return _npz_tree(files["best_params.npz"], like, name=str(checkpoints.root / str(epoch)))
