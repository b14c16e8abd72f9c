"""The MNIST recipe on the shared trainer: each epoch trained, evaluated, logged, checkpointed.

:func:`fit` runs every epoch through :func:`jaxdl.training.trainer.train` (the training set on
the devices, the state donated, the host reading the losses only every ``log_every`` steps),
then evaluates, writes the metrics and the checkpoint, and stops early when the validation
accuracy stops improving.

Randomness is a pure function of the seed: the parameters come from ``split(key(seed), 3)[0]``,
and epoch ``e`` (1-based) uses ``fold_in(split(key(seed), 3)[1], e)`` for its shuffle and, folded
with the step number, for each step's dropout. Nothing depends on how many epochs ran in this
process, so a run resumed from the checkpoint of epoch ``e`` ends with exactly the parameters of
an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import interrupts
from jaxdl.data.batches import Feed
from jaxdl.errors import DivergenceError, TrainingInterrupted
from jaxdl.models import Model
from jaxdl.training import distributed, rundir, sharding, trainer
from jaxdl.training.pieces import EarlyStopping, Metrics
from jaxdl.training.recipe import Recipe
from jaxdl.training.resume import RunDirectory
from jaxdl.training.step import (
    Batch,
    TrainState,
    check_backward,
    epoch_feed,
    epoch_keys,
    epoch_order,
    init_state,
    keys,
    make_evaluate,
    make_optimizer,
    objective_loss,
)
from jaxdl.training.trainer import Progress

PyTree = Any


#: Recipe fields that must match to resume a run (the others may change between sessions):
#: the epochs too, since they set the length of the cosine schedule (a run with a constant
#: learning rate may be continued for more epochs); the backward pass and the device count too
#: [issue 23], since they change the rounding (a resume that changed them ended up to 6e-6 away).
_RESUME_FIELDS = (
    "optimizer", "momentum", "learning_rate", "schedule", "batch_size", "epochs", "seed",
    "backward", "devices",
)  # fmt: skip


class FitResult(NamedTuple):
    """What :func:`fit` returns."""

    params: PyTree  # parameters after the last epoch run
    best_params: PyTree  # parameters of the epoch with the best validation accuracy
    best_epoch: int  # 1-based
    history: list[dict[str, Any]]  # one record per epoch (see :func:`fit`)
    stopped_early: bool  # True when the patience ran out before the last epoch
    compile_seconds: float  # compiling the train chunk and the evaluation (this session)
    images_per_second: float  # training throughput over this session's epochs


def _check_data(name: str, data: Batch) -> Batch:
    """``data`` as float32 images and int32 labels, refused if it would train on nonsense.

    Runs once, on the host, before the first step: shapes, an empty set, integer images
    (uint8 0..255 where the models take floats in [0, 1]), non-finite pixels, non-integer labels.
    """
    images, labels = data
    if np.ndim(labels) != 1 or np.shape(images)[:1] != np.shape(labels):
        raise ValueError(
            f"{name} images have shape {np.shape(images)} and labels {np.shape(labels)}; "
            "expected images [N, ...] and labels [N]"
        )
    if np.shape(images)[0] == 0:
        raise ValueError(f"the {name} set is empty")
    images, labels = np.asarray(images), np.asarray(labels)
    if not jnp.issubdtype(images.dtype, jnp.floating):  # (bfloat16 is floating for JAX)
        raise ValueError(
            f"{name} images are {images.dtype} (values {images.min()}..{images.max()}); the "
            "models take float images in [0, 1]: convert with jaxdl.data.to_float_images "
            "(divides uint8 by 255)"
        )
    _check_scale_and_labels(name, images, labels)  # [issue 23]
    images = images.astype(np.float32)
    finite = np.isfinite(images.reshape(images.shape[0], -1)).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise ValueError(
            f"{name} images hold NaN or infinite pixels ({bad.size} images, the first at "
            f"index {bad[0]}); remove or repair them"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{name} labels must be integer class indices, got {labels.dtype}")
    return Batch(jnp.asarray(images, jnp.float32), jnp.asarray(labels, jnp.int32))


def _check_scale_and_labels(name: str, images: np.ndarray, labels: np.ndarray) -> None:
    """Refuse the uint8 mistake made after ``.astype(float32)`` (whole numbers 0..255, which
    trained silently to 44% validation accuracy) and integer labels beyond int32 (which
    wrapped: 2**32 + 3 trained as class 3)."""
    sample = np.asarray(images[: min(len(images), 256)], np.float32)
    if (
        sample.size
        and sample.max() > 1
        and sample.min() >= 0
        and (sample == np.round(sample)).all()
    ):
        raise ValueError(
            f"{name} images are floats holding whole numbers up to {sample.max():g}: the uint8 "
            "0..255 scale; the models take [0, 1]: divide by 255 (jaxdl.data.to_float_images)"
        )
    if np.issubdtype(labels.dtype, np.integer) and labels.size:
        low, high = int(labels.min()), int(labels.max())
        info = np.iinfo(np.int32)
        if low < info.min or high > info.max:
            raise ValueError(
                f"{name} labels must be class indices; found {high if high > info.max else low}, "
                "beyond int32 (it would wrap to another class)"
            )


def _check_labels(name: str, labels: jax.Array, classes: int) -> None:
    """``ValueError`` unless every label is a class of the model (``0 <= label < classes``).

    Under ``jit`` a label of -1 would silently pick the last class and one of ``classes``
    would give NaN, reported as a divergence; this refuses both before training.
    """
    values = np.asarray(labels)
    bad = (values < 0) | (values >= classes)
    if bad.any():
        first = int(np.argmax(bad))
        raise ValueError(
            f"{name} labels must lie in 0..{classes - 1} (the model has {classes} classes); "
            f"found {int(values[first])} at index {first} ({int(bad.sum())} such labels)"
        )


def _snapshot(tree: PyTree) -> PyTree:
    # The train chunk donates its state; keep an independent copy of parameters we return later.
    return jax.tree.map(jnp.copy, tree)


@dataclasses.dataclass
class _Plan:
    """What a run is, worked out before anything is compiled or restored."""

    model: Model
    recipe: Recipe
    train: Batch
    validation: Batch
    optimizer: Any
    layout: Any  # sharding.DataParallel or None
    steps: int  # per epoch
    chunk_steps: int
    train_key: jax.Array
    init_key: jax.Array

    def order(self, epoch: int) -> tuple[jax.Array, jax.Array]:
        """``(order, dropout_key)`` of 1-based ``epoch``: its shuffled index table and the key
        its steps' dropout keys are folded from."""
        shuffle_key, dropout_key = epoch_keys(self.train_key, epoch)
        n, batch_size = self.train.images.shape[0], self.recipe.batch_size
        return epoch_order(shuffle_key, num_examples=n, batch_size=batch_size), dropout_key


def _plan(model: Model, train: Batch, validation: Batch, recipe: Recipe) -> _Plan:
    """Check the data and the recipe against each other and the devices; nothing runs yet."""
    train = _check_data("training", train)
    validation = _check_data("validation", validation)
    check_backward(model, recipe.backward)
    n_train = train.images.shape[0]
    if n_train < recipe.batch_size:
        raise ValueError(
            f"the training set has {n_train} examples, fewer than one batch: "
            f"batch_size={recipe.batch_size}"
        )
    splits = getattr(model, "SPLITS_BATCH", False)
    devices = sharding.devices_for(
        recipe.devices, splits_batch=splits, batch_size=recipe.batch_size
    )
    recipe = dataclasses.replace(recipe, devices=devices)  # the count in use, as it is saved
    layout = sharding.data_parallel(devices, batch_size=recipe.batch_size)
    steps = n_train // recipe.batch_size
    optimizer = make_optimizer(
        recipe.optimizer,
        recipe.learning_rate,
        momentum=recipe.momentum,
        schedule=recipe.schedule,
        total_steps=recipe.epochs * steps,
    )
    init_key, train_key, _ = keys(recipe.seed)
    plan = _Plan(model, recipe, train, validation, optimizer, layout, steps,
                 min(recipe.chunk_steps, steps), train_key, init_key)  # fmt: skip
    classes = jax.eval_shape(model.apply, _init_params(plan), train.images[:1]).shape[-1]
    _check_labels("training", train.labels, classes)
    _check_labels("validation", validation.labels, classes)
    if distributed.is_multiprocess():
        distributed.check_same_everywhere("recipe", distributed.fingerprint(recipe.__dict__))
        distributed.check_same_everywhere(
            "training and validation data",
            distributed.fingerprint(_fingerprint(train), _fingerprint(validation)),
        )
    return plan


def _init_params(plan: _Plan) -> PyTree:
    return jax.eval_shape(lambda: plan.model.init_params(plan.init_key, dtype=jnp.float32))


class _Progress:
    """Where a run stands: the epochs done (their records), the best so far (an
    :class:`~jaxdl.training.pieces.EarlyStopping` on the validation accuracy, with the
    recipe's patience), and what to write after each."""

    def __init__(self, state: TrainState, patience: int):
        self.state, self.history = state, []
        self.early = EarlyStopping(self, "val_accuracy", patience, step_key="epoch")
        self.early.best_params = _snapshot(state.params)

    @property
    def epoch(self) -> int:
        return len(self.history)

    @property
    def best_epoch(self) -> int:
        return self.early.best_step or 0

    def record(self, record: dict[str, Any], state: TrainState) -> None:
        """Add the epoch's record; keep the parameters when validation accuracy improved."""
        self.state = state
        self.history.append(record)
        self.early.update(state.params)

    def resume(self, meta: dict[str, Any], state: TrainState, best_params: PyTree) -> None:
        """Continue from a checkpoint's ``meta`` (its history and best epoch) and arrays."""
        self.state, self.history = state, meta["history"]
        best = meta["best_epoch"] or None
        self.early.resume(meta["best_val_accuracy"], best, best_params)

    def meta(self, recipe: Recipe, defining: dict[str, Any]) -> dict[str, Any]:
        """What a checkpoint stores beside the arrays (and a resumed run reads back)."""
        return {
            "epoch": self.epoch,
            "history": self.history,
            "best_epoch": self.best_epoch,
            "best_val_accuracy": self.early.best,
            "recipe": dataclasses.asdict(recipe),
            "settings": defining,
        }


class _RunDirectory:
    """Process 0's run directory: the shared :class:`~jaxdl.training.resume.RunDirectory` (the
    lock, the checkpoints, the defining settings) and the metrics beside them
    (:class:`~jaxdl.training.pieces.Metrics` of the epochs' records)."""

    def __init__(self, plan: _Plan, run_dir: str | Path, defining: dict[str, Any], resume: bool):
        self.plan = plan
        self.shared = RunDirectory(run_dir, defining, resume=resume)
        self.metrics = None

    def restore(self, progress: _Progress) -> list[str]:
        """Continue ``progress`` from the newest checkpoint that verifies; notes to show."""
        like = progress.state
        (state, best_params), meta, notes = self.shared.restore(like, like.params)
        progress.resume(meta, state, best_params)
        return notes

    def open_metrics(self, progress: _Progress) -> None:
        self.metrics = Metrics(self.shared.path, progress, step_key="epoch")

    def save(self, progress: _Progress) -> None:
        self.metrics.flush()
        meta = progress.meta(self.plan.recipe, self.shared.settings)
        best = progress.early.best_params
        self.shared.save(progress.epoch, progress.state, best=best, meta=meta)

    def close(self) -> None:
        try:
            if self.metrics is not None:
                self.metrics.close()
        finally:
            self.shared.close()


def _warn(note: str) -> None:
    import warnings

    warnings.warn(note, stacklevel=3)


def _open_run(
    plan, run_dir, resume, settings, state, notify
) -> tuple[_Progress, _RunDirectory | None]:
    """The run's starting point: fresh, or restored from ``run_dir`` (on process 0, then sent to
    every process); and the run directory process 0 writes."""
    progress = _Progress(state, plan.recipe.patience)
    if run_dir is None:
        if resume:
            raise ValueError("resume=True needs a run directory (run_dir) to resume from")
        return progress, None
    primary, directory, error, notes = distributed.is_primary(), None, None, []
    if primary:
        try:
            defining = _defining_settings(plan, state.params, settings)
            directory = _RunDirectory(plan, run_dir, defining, resume)
            if resume and directory.shared.checkpoints.latest_epoch() is not None:
                notes = directory.restore(progress)
        except ValueError as refused:
            error = refused
            rundir.release(run_dir)  # a refused run leaves the directory unlocked
    distributed.raise_everywhere(error)
    if distributed.is_multiprocess():  # process 0 read the checkpoint; the others take its values
        restored = distributed.broadcast_json(progress.meta(plan.recipe, {}) if primary else None)
        state, best_params = distributed.broadcast(
            _host((progress.state, progress.early.best_params))
        )
        progress.resume(restored, state, best_params)
    if directory is not None:
        for note in notes:  # damaged checkpoints skipped on the way to the one restored
            notify(note)
        directory.open_metrics(progress)
    return progress, directory


def fit(
    model: Model,
    train: Batch,
    validation: Batch,
    recipe: Recipe | None = None,
    *,
    run_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = False,
    on_epoch_end: Callable[[dict[str, Any]], None] | None = None,
    settings: dict[str, Any] | None = None,
    notify: Callable[[str], None] | None = None,
) -> FitResult:
    """Train ``model`` on ``train``, evaluating on ``validation`` after every epoch.

    Each epoch is one :func:`jaxdl.training.trainer.train` call: jitted chunks of
    ``recipe.chunk_steps`` steps on the device-resident data, dispatched ahead; the host reads
    the losses every ``recipe.log_every`` steps and stops at a non-finite one. In a run of
    several processes (:func:`jaxdl.training.distributed.initialize`) every process calls
    ``fit`` alike; process 0 alone writes ``run_dir`` and shows progress.

    Args:
      model: a :class:`~jaxdl.models.Model`.
      train, validation: ``Batch(images [N, ...], labels [N])``; images become float32.
      recipe: the :class:`~jaxdl.training.recipe.Recipe` (its defaults when ``None``).
      run_dir: where to write ``metrics.jsonl``, ``tensorboard/`` and ``checkpoints/``.
      resume: continue from ``run_dir``'s newest checkpoint that verifies (refused when it has
        none).
      progress: show a progress bar on stderr.
      on_epoch_end: called with each epoch's record once it is saved.
      settings: what else defines the run (``{"model": "mlp"}``), checked on resume.
      notify: told each note worth telling (a damaged checkpoint skipped); else a warning.

    Returns:
      A :class:`FitResult`; history records have ``epoch``, ``loss``, ``accuracy``,
      ``val_loss``, ``val_accuracy``, ``seconds`` and ``images_per_second``.

    Raises:
      ValueError: bad data or settings, or a run directory that cannot be used or resumed.
      DivergenceError: a non-finite loss (names the 1-based global step).
      TrainingInterrupted: Ctrl-C, with the epoch and the last epoch saved.
    """
    recipe = recipe or Recipe()
    plan = _plan(model, train, validation, recipe)
    state = init_state(model, plan.optimizer, key=plan.init_key)
    run, directory = _open_run(plan, run_dir, resume, settings, state, notify or _warn)
    engine = _Engine(plan, run.state)
    run.state = engine.state
    try:
        stopped_early = _epochs(engine, run, directory, run_dir, progress, on_epoch_end)
    finally:
        if directory is not None:
            directory.close()
    stopped_early |= bool(recipe.patience) and len(run.history) < recipe.epochs
    return _result(run, engine.compile_seconds, stopped_early, engine.images_per_second())


def _epochs(engine, run: _Progress, directory, run_dir, progress: bool, on_epoch_end) -> bool:
    """Train, evaluate and save epoch after epoch; ``True`` when the patience ran out."""
    recipe = engine.plan.recipe
    start_epoch = epoch = saved_epoch = run.epoch
    try:
        for epoch in range(start_epoch + 1, recipe.epochs + 1):
            interrupts.check()
            if run.early.ran_out:
                return True
            state, record = engine.run_epoch(epoch, run.state, progress)
            record |= engine.evaluate(state)
            run.record(record, state)
            if directory is not None:
                directory.save(run)
            saved_epoch = epoch if run_dir is not None else 0  # by process 0, in a run of several
            if on_epoch_end is not None:
                on_epoch_end(record)
    except KeyboardInterrupt as interrupt:
        if isinstance(interrupt, TrainingInterrupted):
            raise
        raise TrainingInterrupted(  # after the save of ``epoch``, the next one was running
            epoch=max(epoch, start_epoch + 1, saved_epoch + 1),
            saved_epoch=saved_epoch if run_dir is not None else 0,
            run_dir=None if run_dir is None else str(Path(run_dir)),
        ) from None
    return False


def _result(run: _Progress, compile_seconds: float, stopped_early: bool, speed) -> FitResult:
    state, best = run.state, run.early.best_params
    if distributed.is_multiprocess():  # this process's own copies, usable without the others
        state, best = jax.tree.map(jnp.asarray, _host((state, best)))
    return FitResult(state.params, best, run.best_epoch, run.history, stopped_early,
                     compile_seconds, float(speed))  # fmt: skip


def _fingerprint(data: Batch) -> str:
    """``"<N> examples, sha256 <first 16 hex digits>"`` of the images and labels as trained on."""
    digest = hashlib.sha256()
    for array in data:
        array = np.ascontiguousarray(np.asarray(array))
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.data)
    return f"{data.labels.shape[0]} examples, sha256 {digest.hexdigest()[:16]}"


def _defining_settings(plan: _Plan, params: PyTree, settings) -> dict[str, Any]:
    """The settings a resumed run must share with the run it continues, JSON-ready, in order."""
    model, recipe, train, validation = plan.model, plan.recipe, plan.train, plan.validation
    shapes = [
        f"{jax.tree_util.keystr(path)}:{leaf.dtype}{list(leaf.shape)}"
        for path, leaf in jax.tree_util.tree_leaves_with_path(params)
    ]
    name = getattr(model, "__name__", type(model).__name__)
    defining: dict[str, Any] = {"model": name}
    defining |= dict(settings or {})
    fields = [f for f in _RESUME_FIELDS if f != "epochs" or recipe.schedule != "constant"]
    defining |= {field: getattr(recipe, field) for field in fields}
    defining |= {
        "training_data": _fingerprint(train),
        "validation_data": _fingerprint(validation),
        "parameters": hashlib.sha256(" ".join(shapes).encode()).hexdigest()[:16],
    }
    return json.loads(json.dumps(defining))


def _host(tree: PyTree) -> PyTree:
    """NumPy copies of ``tree``'s arrays (replicated arrays of a multi-process run included)."""
    return jax.tree.map(np.asarray, tree)


class _Engine:
    """The epoch on the shared trainer (the training set resident on the devices, or fed by
    the host in a run of several processes) and the evaluation, laid out over the plan's
    devices."""

    def __init__(self, plan: _Plan, state: TrainState):
        self.plan = plan
        layout, recipe = plan.layout, plan.recipe
        devices = 1 if layout is None else layout.mesh.size  # of every process
        eval_batch = min(recipe.eval_batch_size, plan.validation.images.shape[0])
        eval_batch = -(-eval_batch // devices) * devices
        self.state = sharding.replicate(state, layout)
        self.validation = sharding.replicate(plan.validation, layout)
        batch_sharding = None if layout is None else layout.batch
        self._evaluate = make_evaluate(
            plan.model, batch_size=eval_batch, batch_sharding=batch_sharding
        )
        self.loss = objective_loss(plan.model, recipe.backward)
        if distributed.is_multiprocess():  # no device holds the training set
            self.train, self.feed = _host(plan.train), distributed.fed_epoch
        else:
            self.train, self.feed = sharding.replicate(plan.train, layout), _device_epoch
        start = time.perf_counter()
        jax.block_until_ready(self._evaluate(self.state.params, *self.validation))
        self.compile_seconds = time.perf_counter() - start
        self.images, self.seconds = 0, 0.0

    def evaluate(self, state: TrainState) -> dict[str, float]:
        totals = self._evaluate(state.params, *self.validation)
        count = int(totals.count)
        return {
            "val_loss": float(totals.loss_sum) / count,
            "val_accuracy": int(totals.correct) / count,
        }

    def run_epoch(self, epoch: int, state: TrainState, progress: bool):
        """Train one epoch: ``(state, record)``; its compilation is not in its seconds."""
        plan, recipe = self.plan, self.plan.recipe
        feed = self.feed(self.train, *plan.order(epoch), plan.layout)
        start = time.perf_counter()
        try:
            trained = trainer.train(self.loss, state, plan.optimizer, feed, steps=plan.steps,
                                    has_aux=True, chunk_steps=plan.chunk_steps,
                                    progress=self._bar(epoch, progress), devices=plan.layout,
                                    read_every=recipe.log_every, donate=True)  # fmt: skip
        except DivergenceError as error:
            raise DivergenceError(
                "loss",
                (epoch - 1) * plan.steps + error.step,
                f"learning_rate={recipe.learning_rate} may be too large; to find the "
                "operation that made it, set jax.config.update('jax_debug_nans', True)",
            ) from None
        jax.block_until_ready(trained.state)
        interrupts.check()
        seconds = time.perf_counter() - start - trained.compile_seconds
        images = plan.steps * recipe.batch_size
        self.compile_seconds += trained.compile_seconds
        self.images, self.seconds = self.images + images, self.seconds + seconds
        return trained.state, {
            "epoch": epoch,
            "loss": float(np.mean(trained.losses.astype(np.float64))),
            "accuracy": int(trained.aux.sum()) / images,
            "seconds": seconds,
            "images_per_second": images / seconds,
        }

    def _bar(self, epoch: int, progress: bool) -> Progress | None:
        if not (progress and distributed.is_primary()):
            return None
        desc, batch_size = f"epoch {epoch}/{self.plan.recipe.epochs}", self.plan.recipe.batch_size

        def postfix(losses: np.ndarray, correct: np.ndarray) -> dict[str, float]:
            return {
                "loss": float(np.mean(losses)),
                "acc": correct.sum() / correct.size / batch_size,
            }

        return Progress(desc, unit="img", per_step=batch_size, postfix=postfix)

    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds else 0.0


def _device_epoch(train: Batch, order: jax.Array, dropout_key: jax.Array, layout) -> Feed:
    del layout  # the trainer splits each gathered batch across the devices
    return epoch_feed(train, order, dropout_key)
