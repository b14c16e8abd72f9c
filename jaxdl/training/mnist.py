"""Train a model on MNIST end to end: load, split, fit, score the test set.

The one function behind ``jaxdl train``, the deep-cnn milestone and ``demos/deep_cnn.py``, so
that all three train the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.models import Model
from jaxdl.training.loop import FitResult, fit
from jaxdl.training.recipe import Recipe
from jaxdl.training.step import Batch, keys, make_evaluate


def load_model(name: str) -> Model:
    """The model module called ``name`` (a key of :data:`jaxdl.models.MODELS`)."""
    from jaxdl import models

    return models.get(name)


class MnistData(NamedTuple):
    """MNIST as float32 images ``[N, 28, 28, 1]`` in [0, 1] and int32 labels ``[N]``."""

    train: Batch  # the training part, after the validation split
    validation: Batch  # held out from the training images
    test: Batch  # the test split, never seen during training


def load_mnist(
    source: str = "sample", *, validation_fraction: float = 0.1, key: jax.Array
) -> MnistData:
    """Load ``source`` ("sample", "download" or a directory) and split off a validation part.

    The split is drawn with ``key``; labels become int32 and images float32 (explicitly, so the
    arrays stay float32 when x64 is on).
    """
    from jaxdl import data

    def as_batch(images, labels) -> Batch:
        return Batch(data.to_float_images(images), jnp.asarray(labels, jnp.int32))

    train = data.mnist("train", source=source)
    test = data.mnist("test", source=source)
    fit_part, validation = data.train_validation_split(
        train.images, train.labels, validation_fraction=validation_fraction, key=key
    )
    return MnistData(as_batch(*fit_part), as_batch(*validation), as_batch(*test))


class MnistRun(NamedTuple):
    """The outcome of :func:`train_mnist`."""

    fit: FitResult  # parameters, history and timings
    test_accuracy: float  # of the best parameters (by validation accuracy)
    test_loss: float  # mean cross-entropy of the best parameters on the test set
    sizes: dict[str, int]  # examples in "train", "validation" and "test"

    def result(self) -> dict[str, Any]:
        """The JSON-ready summary that ``jaxdl train --json`` prints under ``"result"``."""
        return {
            "test_accuracy": self.test_accuracy,
            "test_loss": self.test_loss,
            "best_epoch": self.fit.best_epoch,
            "best_val_accuracy": max(r["val_accuracy"] for r in self.fit.history),
            "images_per_second": self.fit.images_per_second,
            "compile_seconds": self.fit.compile_seconds,
            "stopped_early": self.fit.stopped_early,
            "examples": self.sizes,
            "epochs": [
                {
                    k: r[k]
                    for k in ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds")
                }
                for r in self.fit.history
            ],
        }


def evaluate_params(model: Model, params: Any, test: Batch, *, batch_size: int = 1000):
    """``(accuracy, mean cross-entropy)`` of ``params`` on ``test``."""
    batch_size = min(batch_size, test.images.shape[0])
    totals = make_evaluate(model, batch_size=batch_size)(params, *test)
    count = int(totals.count)
    return int(totals.correct) / count, float(totals.loss_sum) / count


def train_mnist(
    model_name: str,
    recipe: Recipe | None = None,
    *,
    data: str | Path = "sample",
    validation_fraction: float = 0.1,
    run_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = False,
    on_epoch_end=None,
    notify=None,
    model: Model | None = None,
) -> MnistRun:
    """Train ``model_name`` on MNIST with ``recipe`` and score its best parameters on the test set.

    ``data`` is "sample" (the embedded 8000/2000 real digits), "download" or a directory of
    the four IDX files; ``model`` the module of ``model_name`` when the caller has it loaded
    already. Everything else is :func:`jaxdl.training.fit`'s.
    """
    recipe = recipe or Recipe()
    model = load_model(model_name) if model is None else model  # (the CLI loaded it already)
    mnist = load_mnist(
        str(data), validation_fraction=validation_fraction, key=keys(recipe.seed).split
    )
    result = fit(
        model,
        mnist.train,
        mnist.validation,
        recipe,
        run_dir=run_dir,
        resume=resume,
        progress=progress,
        on_epoch_end=on_epoch_end,
        notify=notify,
        settings={
            "model": model_name,
            "data": str(data) if str(data) in ("sample", "download") else str(Path(data).resolve()),
            "validation_fraction": validation_fraction,
        },
    )
    accuracy, loss = evaluate_params(model, result.best_params, mnist.test)
    sizes = {name: int(part.labels.shape[0]) for name, part in mnist._asdict().items()}
    return MnistRun(result, accuracy, loss, sizes)


def count_parameters(params: Any) -> int:
    """Total number of scalars in a parameter tree."""
    return int(sum(np.size(leaf) for leaf in jax.tree.leaves(params)))
