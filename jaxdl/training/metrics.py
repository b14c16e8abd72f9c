"""The run directory's metrics: a JSON-lines history and TensorBoard event files.

``metrics.jsonl`` holds one object per finished epoch (what :func:`jaxdl.training.fit` puts in
its history); ``tensorboard/`` holds the same numbers as scalars for ``tensorboard --logdir``.
tensorboardX writes the event files without TensorFlow, from its own background thread, so
logging never holds up training.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"


class MetricsWriter:
    """Append per-epoch records to ``run_dir/metrics.jsonl`` and ``run_dir/tensorboard``.

    Args:
      run_dir: the run directory (must exist and be writable).
      history: records already made (after ``--resume``): the JSON-lines file is rewritten to
        exactly these, and TensorBoard events from later epochs of the interrupted run are
        purged.
      step_key: the record's entry that is its TensorBoard step (``"epoch"``; ``"step"`` for
        the records of :class:`jaxdl.training.pieces.Evaluation`).
    """

    def __init__(
        self, run_dir: str | Path, history: list[dict[str, Any]] = (), *, step_key: str = "epoch"
    ):
        from tensorboardX import SummaryWriter

        self.path = Path(run_dir) / METRICS_FILE
        self.step_key = step_key
        with self.path.open("w") as f:
            f.writelines(json.dumps(record) + "\n" for record in history)
        purge = history[-1][step_key] + 1 if history else None
        self._tensorboard = SummaryWriter(
            logdir=str(Path(run_dir) / TENSORBOARD_DIR), purge_step=purge
        )

    def write(self, record: dict[str, Any]) -> None:
        """Log one record (``record[step_key]`` is the TensorBoard step)."""
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        for name, value in record.items():
            if name != self.step_key and isinstance(value, int | float):
                self._tensorboard.add_scalar(name, value, global_step=record[self.step_key])
        self._tensorboard.flush()

    def close(self) -> None:
        self._tensorboard.close()


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """The records of ``run_dir/metrics.jsonl``, oldest first."""
    lines = (Path(run_dir) / METRICS_FILE).read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]
