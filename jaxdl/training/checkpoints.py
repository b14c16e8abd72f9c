"""Checkpoints with orbax-checkpoint: the latest training state, and the best parameters.

orbax-checkpoint is the JAX ecosystem's checkpoint library (used by Flax, MaxText, T5X). It
writes each checkpoint into a temporary directory and renames it into place only when complete,
so an interrupted save never leaves a half-written checkpoint behind: that is the atomicity
``--resume`` relies on.

Layout inside the run directory::

    checkpoints/latest/<epoch>/   full TrainState + metadata (one kept): what --resume reads
    checkpoints/best/<epoch>/     parameters of the best epoch by validation accuracy (one kept)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax

CHECKPOINT_DIR = "checkpoints"


def _manager(directory: Path):
    import orbax.checkpoint as ocp

    options = ocp.CheckpointManagerOptions(
        max_to_keep=1, create=True, enable_async_checkpointing=False
    )
    return ocp.CheckpointManager(directory.absolute(), options=options)


def _abstract(tree: Any) -> Any:
    import orbax.checkpoint as ocp

    return jax.tree.map(ocp.utils.to_shape_dtype_struct, tree)


def _save(manager, epoch: int, name: str, tree: Any, meta: dict[str, Any]) -> None:
    """Write ``tree`` (under ``name``) and JSON ``meta`` as checkpoint ``epoch`` of ``manager``."""
    import orbax.checkpoint as ocp

    args = ocp.args.Composite(
        **{name: ocp.args.StandardSave(tree), "meta": ocp.args.JsonSave(meta)}
    )
    manager.save(epoch, args=args, force=True)


def _restore(manager, name: str, like: Any, missing: str) -> tuple[Any, dict[str, Any]]:
    """``(tree, meta)`` of ``manager``'s latest checkpoint; ``ValueError(missing)`` if none."""
    import orbax.checkpoint as ocp

    epoch = manager.latest_step()
    if epoch is None:
        raise ValueError(missing)
    args = ocp.args.Composite(
        **{name: ocp.args.StandardRestore(_abstract(like)), "meta": ocp.args.JsonRestore()}
    )
    restored = manager.restore(epoch, args=args)
    return restored[name], restored["meta"]


class Checkpoints:
    """The two checkpoint series of one run directory."""

    def __init__(self, run_dir: str | Path):
        root = Path(run_dir) / CHECKPOINT_DIR
        self._latest = _manager(root / "latest")
        self._best = _manager(root / "best")

    def latest_epoch(self) -> int | None:
        """The epoch of the latest saved state, or ``None`` when there is none."""
        return self._latest.latest_step()

    def save_latest(self, epoch: int, state: Any, meta: dict[str, Any]) -> None:
        """Save the training state after ``epoch`` with JSON ``meta`` (replaces the previous)."""
        _save(self._latest, epoch, "state", state, meta)

    def restore_latest(self, like: Any) -> tuple[Any, dict[str, Any]]:
        """``(state, meta)`` of the latest checkpoint; ``like`` gives the tree and dtypes."""
        return _restore(self._latest, "state", like, "no checkpoint to restore")

    def save_best(self, epoch: int, params: Any, meta: dict[str, Any]) -> None:
        """Save ``params`` as the best so far (replaces the previous best)."""
        _save(self._best, epoch, "params", params, meta)

    def restore_best(self, like: Any) -> tuple[Any, dict[str, Any]]:
        """``(params, meta)`` of the best checkpoint; ``like`` gives the tree and dtypes."""
        return _restore(self._best, "params", like, "no best checkpoint saved yet")

    def close(self) -> None:
        self._latest.close()
        self._best.close()


def load_best_params(run_dir: str | Path, like: Any) -> Any:
    """The best parameters saved in ``run_dir`` (``like``: parameters of the same model)."""
    checkpoints = Checkpoints(run_dir)
    try:
        return checkpoints.restore_best(like)[0]
    finally:
        checkpoints.close()
