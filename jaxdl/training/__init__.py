"""The training loop people can rely on: jitted steps, checkpoints, metrics, data parallelism.

- :mod:`~jaxdl.training.trainer`: :func:`~jaxdl.training.trainer.train`, the one optax loop
  of jaxdl (feeds, chunks dispatched ahead, data parallelism, hooks, progress bar).
- :mod:`~jaxdl.training.pieces`: what a run adds to ``train`` as hooks: :class:`Evaluation`,
  :class:`EarlyStopping`, :class:`Metrics` (JSONL, TensorBoard), :class:`Checkpoint` (resume).
- :mod:`~jaxdl.training.recipe`: :class:`Recipe`, the training settings, declared once.
- :mod:`~jaxdl.training.step`: the MNIST recipe's objective, epoch feed and evaluation.
- :mod:`~jaxdl.training.loop`: :func:`fit`, the MNIST recipe on the trainer (validation,
  early stopping, progress bar, resume).
- :mod:`~jaxdl.training.resume`: the run directory any run saves to and resumes from.
- :mod:`~jaxdl.training.checkpoints`: atomic, checksummed checkpoints of the newest two epochs.
- :mod:`~jaxdl.training.metrics`: ``metrics.jsonl`` and TensorBoard event files.
- :mod:`~jaxdl.training.sharding`: data parallelism over a ``jax.sharding.Mesh``.
- :mod:`~jaxdl.training.distributed`: the same across processes and machines
  (``jax.distributed``).
- :mod:`~jaxdl.cli.train`: the ``jaxdl train`` command.
"""

from jaxdl.training.loop import FitResult, fit
from jaxdl.training.pieces import Checkpoint, EarlyStopping, Evaluation, Metrics
from jaxdl.training.recipe import PRESETS, Recipe, preset
from jaxdl.training.step import (
    make_evaluate,
    make_optimizer,
    make_train_step,
)

__all__ = [
    "PRESETS",
    "Checkpoint",
    "EarlyStopping",
    "Evaluation",
    "FitResult",
    "Metrics",
    "Recipe",
    "fit",
    "make_evaluate",
    "make_optimizer",
    "make_train_step",
    "preset",
]
