"""A run directory any training run can save to and resume from, bit-identical.

The pieces a run adds to :func:`jaxdl.training.trainer.train` (a chapter) or to the MNIST
recipe (:func:`jaxdl.training.loop.fit`) to survive a kill at any moment:

- the directory is created, proven writable and locked by one writer
  (:func:`jaxdl.training.rundir.prepare`); a new run never overwrites a run, a resumed one must
  find one;
- each save is a :class:`~jaxdl.training.checkpoints.Checkpoints` entry (written atomically,
  checksummed, the newest two kept) holding everything the run carries from step to step: the
  train state and whatever else the caller names (the feed's key, the best parameters);
- a resume reads the newest checkpoint that verifies (falling back past a damaged one, with a
  note saying so) and refuses one whose *defining settings* differ from the caller's before
  restoring anything: a run continued with another learning rate, batch size or seed would not
  be the run it claims to be.

A chapter's use, with the :class:`~jaxdl.training.pieces.Checkpoint` hook of ``train``::

    run = RunDirectory(out, settings, resume=resume)
    checkpoint = Checkpoint(run, meta=lambda: {...})
    if resume:
        state, feed_state, meta = checkpoint.restore(state, feed.state)
        feed = feed._replace(state=feed_state)
    train(..., hooks=(checkpoint,))
    run.close()
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jaxdl.training import rundir
from jaxdl.training.checkpoints import Checkpoints, decode

PyTree = Any


def canonical(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` as they read back from a checkpoint's JSON (tuples become lists)."""
    return json.loads(json.dumps(settings))


def check_same_settings(saved: dict[str, Any], defining: dict[str, Any], run_dir) -> None:
    """``ValueError`` naming every defining setting whose saved value differs from the asked one.

    Args:
      saved: the settings stored with the checkpoint.
      defining: the settings of the run asked for (JSON values).
      run_dir: the run directory, for the message.
    """
    changed = [key for key in defining if saved.get(key) != defining[key]]
    if changed:
        raise ValueError(
            f"cannot resume {str(run_dir)!r}: this run used "
            + ", ".join(f"{key}={saved.get(key)!r}" for key in changed)
            + "; you asked for "
            + ", ".join(f"{key}={defining[key]!r}" for key in changed)
            + "; resume with the same settings, or choose another run directory"
        )


class RunDirectory:
    """The locked run directory of one training run: its checkpoints and defining settings.

    Args:
      run_dir: the directory (created if missing).
      settings: the run's defining settings (JSON-serialisable); a resume must match them.
      resume: continue the run saved there (one must be); otherwise there must be none.

    Raises:
      RunDirBusy: another process trains in it.
      ValueError: it cannot be written, holds a run and ``resume`` is false, or holds none and
        ``resume`` is true.
    """

    def __init__(self, run_dir: str | Path, settings: dict[str, Any], *, resume: bool):
        self.path = rundir.prepare(run_dir, resume=resume)
        self.settings = canonical(settings)
        self.checkpoints = Checkpoints(self.path)

    def restore(self, like: PyTree, like_best: PyTree = None) -> tuple[PyTree, dict, list[str]]:
        """``(carried, meta, notes)`` from the newest checkpoint that verifies.

        ``like`` is a tree shaped like what :meth:`save` was given as ``carried`` (``like_best``
        like its ``best``, when one was saved); ``notes`` has one line per damaged checkpoint
        skipped. The defining settings are compared before any array is read.
        """
        epoch, files, notes = self.checkpoints.newest_good()
        meta = json.loads(files["meta.json"])
        check_same_settings(meta.get("settings", {}), self.settings, self.path)
        name = str(self.checkpoints.root / str(epoch))
        restored = decode(files, like, {} if like_best is None else like_best, name=name)
        carried = restored.state if like_best is None else (restored.state, restored.best_params)
        return carried, meta, list(notes)

    def save(self, at: int, carried: PyTree, *, best: PyTree = None, meta: dict | None = None):
        """Checkpoint ``carried`` (and ``best``, the parameters worth keeping apart) as entry
        ``at`` (an epoch or a step), with ``meta`` and the defining settings beside them."""
        record = {**(meta or {}), "epoch": at, "settings": self.settings}
        self.checkpoints.save(at, carried, {} if best is None else best, record)

    def close(self) -> None:
        """Release the directory's lock."""
        self.checkpoints.close()


__all__ = ["RunDirectory", "canonical", "check_same_settings"]
