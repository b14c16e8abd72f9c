"""The epoch loop: shuffle, train in device-side chunks, evaluate, log, checkpoint, stop early.

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
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.errors import DivergenceError, TrainingInterrupted, first_non_finite
from jaxdl.models import Model
from jaxdl.training import distributed, sharding
from jaxdl.training.recipe import Recipe
from jaxdl.training.step import (
    Batch,
    TrainState,
    check_backward,
    epoch_order,
    init_state,
    make_evaluate,
    make_fed_train_chunk,
    make_optimizer,
    make_train_chunk,
    make_train_step,
)
from jaxdl.validate import writable_directory

PyTree = Any


#: Recipe fields that must match to resume a run (the others may change between sessions):
#: the epochs too, since they set the length of the cosine schedule (a run with a constant
#: learning rate may be continued for more epochs).
_RESUME_FIELDS = (
    "optimizer", "momentum", "learning_rate", "schedule", "batch_size", "epochs", "seed"
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


class RunKeys(NamedTuple):
    """The three independent keys of a run, all from ``key(seed)``."""

    init: jax.Array  # the model's initial parameters
    train: jax.Array  # folded with the epoch number: shuffles and dropout
    split: jax.Array  # the train/validation split of the data


def keys(seed: int) -> RunKeys:
    """``RunKeys`` of a run: ``split(key(seed), 3)``."""
    init, train, split = jax.random.split(jax.random.key(seed), 3)
    return RunKeys(init, train, split)


def epoch_keys(train_key: jax.Array, epoch: int) -> tuple[jax.Array, jax.Array]:
    """``(shuffle_key, dropout_key)`` of 1-based ``epoch``: ``split(fold_in(train_key, epoch))``."""
    shuffle_key, dropout_key = jax.random.split(jax.random.fold_in(train_key, epoch))
    return shuffle_key, dropout_key


def prepare_run_dir(run_dir: str | Path, *, resume: bool) -> Path:
    """Create ``run_dir`` and prove it writable, before any training step.

    Raises:
      ValueError: if it cannot be created or written, or if it already holds checkpoints and
        ``resume`` is false (a new run would silently overwrite them).
    """
    from jaxdl.training.checkpoints import has_checkpoints

    path = writable_directory(run_dir, option="run directory (--out)")
    if not resume and has_checkpoints(path):
        raise ValueError(
            f"run directory {str(path)!r} already holds a run; pass --resume to continue it "
            "or choose another --out"
        )
    return path


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
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(
            f"{name} images are {images.dtype} (values {images.min()}..{images.max()}); the "
            "models take float images in [0, 1]: convert with jaxdl.data.to_float_images "
            "(divides uint8 by 255)"
        )
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
) -> FitResult:
    """Train ``model`` on ``train``, evaluating on ``validation`` after every epoch.

    Each epoch shuffles the training set, drops the last partial batch, and runs its steps in
    jitted calls of ``recipe.chunk_steps`` steps, dispatched asynchronously; the host reads the
    per-step losses every ``recipe.log_every`` steps (never waiting on the step just
    dispatched), updates the progress bar, and stops at the first non-finite loss.

    In a run of several processes (after :func:`jaxdl.training.distributed.initialize`) every
    process calls ``fit`` with the same arguments: each feeds its rows of every batch to a mesh
    over all processes' devices, process 0 alone writes ``run_dir`` and shows progress, and
    each process returns host-local copies of the same parameters.

    Args:
      model: a model module (``init_params``, ``apply``, optional ``l2_penalty``).
      train: training ``Batch(images [N, ...], labels [N])``; images become float32.
      validation: the held-out ``Batch`` scored after each epoch.
      recipe: the :class:`~jaxdl.training.recipe.Recipe` (its defaults when ``None``).
      run_dir: where to write ``metrics.jsonl``, ``tensorboard/`` and ``checkpoints/``;
        ``None`` writes nothing.
      resume: continue from ``run_dir``'s latest checkpoint (a fresh start when it has none).
      progress: show a tqdm progress bar (images, images/s, loss, accuracy) on stderr.
      on_epoch_end: called with each epoch's record after it is logged and checkpointed.
      settings: what else defines the run, by name (``{"model": "deep-cnn", "data": "sample",
        "validation_fraction": 0.1}``): saved with each checkpoint and, like the recipe's
        defining fields and fingerprints of the data and of the parameter shapes, required to
        match on resume.

    Returns:
      A :class:`FitResult`. Each history record has ``epoch``, ``loss`` and ``accuracy``
      (training, mean over the epoch's steps, dropout on), ``val_loss``, ``val_accuracy``,
      ``seconds`` (training time of the epoch) and ``images_per_second``.

    Raises:
      ValueError: bad data, an unusable device count or batch size, an unwritable run
        directory, or a resumed run whose defining settings differ (checked before anything
        is restored), or no checkpoint that verifies. All before the first step.
      DivergenceError: the loss became non-finite (names the 1-based global step).
      TrainingInterrupted: a ``KeyboardInterrupt`` (Ctrl-C) during training, with the epoch it
        stopped in and the last epoch saved.
    """
    recipe = recipe or Recipe()
    train = _check_data("training", train)
    validation = _check_data("validation", validation)
    n_train = train.images.shape[0]
    backward = recipe.backward
    check_backward(model, backward)
    if n_train < recipe.batch_size:
        raise ValueError(
            f"the training set has {n_train} examples, fewer than one batch of "
            f"{recipe.batch_size}; use a smaller --batch-size"
        )
    layout = sharding.data_parallel(recipe.devices, batch_size=recipe.batch_size)
    batch_sharding = None if layout is None else layout.batch
    multiprocess = distributed.is_multiprocess()
    primary = distributed.is_primary()  # writes metrics and checkpoints
    if multiprocess:
        distributed.check_same_everywhere("recipe", distributed.fingerprint(recipe.__dict__))
        distributed.check_same_everywhere(
            "training and validation data",
            distributed.fingerprint(_fingerprint(train), _fingerprint(validation)),
        )
    if resume and run_dir is None:
        raise ValueError("resume needs a run directory (--out) to resume from")
    if run_dir is not None:
        error = None
        if primary:
            try:
                run_dir = prepare_run_dir(run_dir, resume=resume)
            except ValueError as refused:
                error = refused
        distributed.raise_everywhere(error)
        run_dir = Path(run_dir)

    optimizer = make_optimizer(
        recipe.optimizer,
        recipe.learning_rate,
        momentum=recipe.momentum,
        schedule=recipe.schedule,
        total_steps=recipe.epochs * (n_train // recipe.batch_size),
    )
    init_key, train_key, _ = keys(recipe.seed)
    state = init_state(model, optimizer, key=init_key)
    classes = jax.eval_shape(model.apply, state.params, train.images[:1]).shape[-1]
    _check_labels("training", train.labels, classes)
    _check_labels("validation", validation.labels, classes)
    best_params = _snapshot(state.params)
    history: list[dict[str, Any]] = []
    best_epoch, best_accuracy, start_epoch = 0, -math.inf, 0

    checkpoints = writer = background = None
    if run_dir is not None:
        from jaxdl.training.checkpoints import Checkpoints

        defining = _defining_settings(model, train, validation, recipe, state.params, settings)
        meta, error = None, None
        if primary:  # the only process that reads or writes the run directory
            checkpoints = Checkpoints(run_dir)
            if resume and checkpoints.latest_epoch() is not None:
                try:
                    restored = _restore(checkpoints, run_dir, defining, state)
                    state, best_params, meta = restored.state, restored.best_params, restored.meta
                except ValueError as refused:
                    error = refused
        distributed.raise_everywhere(error)
        if multiprocess:  # process 0 read the checkpoint; the others take its values
            meta = distributed.broadcast_json(meta)
            if meta is not None:
                state, best_params = distributed.broadcast(_host((state, best_params)))
        if meta is not None:
            history, start_epoch = meta["history"], meta["epoch"]
            best_epoch, best_accuracy = meta["best_epoch"], meta["best_val_accuracy"]
    if run_dir is not None and primary:
        from jaxdl.training.background import BackgroundWriter
        from jaxdl.training.metrics import MetricsWriter

        writer = MetricsWriter(run_dir, history)
        # metrics.jsonl and the event files are written off the training thread; never dropped.
        background = BackgroundWriter()

    steps = n_train // recipe.batch_size
    chunk_steps = min(recipe.chunk_steps, steps)
    n_chunks = -(-steps // chunk_steps)
    eval_batch = min(recipe.eval_batch_size, validation.images.shape[0])
    devices = 1 if layout is None else layout.mesh.size  # of every process
    eval_batch = -(-eval_batch // devices) * devices

    state = sharding.replicate(state, layout)
    validation = sharding.replicate(validation, layout)
    evaluate = make_evaluate(model, batch_size=eval_batch, batch_sharding=batch_sharding)
    train_step = make_train_step(model, optimizer, backward=backward)
    order_args = dict(
        num_examples=n_train, batch_size=recipe.batch_size, padded_steps=n_chunks * chunk_steps
    )
    compile_start = time.perf_counter()
    if multiprocess:
        # No device holds the training set: each process feeds its rows of every batch.
        train_chunk = _fed_chunks(
            make_fed_train_chunk(train_step, chunk_steps=chunk_steps),
            _host(train), chunk_steps, steps, batch_sharding, state, train_key, order_args,
        )  # fmt: skip
    else:
        train = sharding.replicate(train, layout)
        train_chunk = _device_chunks(
            make_train_chunk(train_step, chunk_steps=chunk_steps, batch_sharding=batch_sharding),
            train, steps, state, train_key, order_args,
        )  # fmt: skip
    jax.block_until_ready(evaluate(state.params, *validation))  # compiles the evaluation
    compile_seconds = time.perf_counter() - compile_start

    epochs_since_best = start_epoch - best_epoch if best_epoch else 0
    stopped_early = False
    trained_images, trained_seconds = 0, 0.0
    epoch, saved_epoch = start_epoch, start_epoch
    try:
        for epoch in range(start_epoch + 1, recipe.epochs + 1):
            if recipe.patience and epochs_since_best >= recipe.patience:
                stopped_early = True
                break
            state, record = _run_epoch(
                epoch, state, train_chunk, train_key, order_args, steps, chunk_steps, recipe,
                progress and primary,
            )  # fmt: skip
            totals = evaluate(state.params, *validation)
            count = int(totals.count)
            record["val_loss"] = float(totals.loss_sum) / count
            record["val_accuracy"] = int(totals.correct) / count
            trained_images += steps * recipe.batch_size
            trained_seconds += record["seconds"]
            history.append(record)

            improved = record["val_accuracy"] > best_accuracy
            if improved:
                best_epoch, best_accuracy, epochs_since_best = epoch, record["val_accuracy"], 0
                best_params = _snapshot(state.params)
            else:
                epochs_since_best += 1
            if writer is not None:
                background.submit(writer.write, dict(record))
            if checkpoints is not None:
                meta = {
                    "epoch": epoch,
                    "history": history,
                    "best_epoch": best_epoch,
                    "best_val_accuracy": best_accuracy,
                    "recipe": dataclasses.asdict(recipe),
                    "settings": defining,
                }
                checkpoints.save(epoch, state, best_params, meta)
            if run_dir is not None:
                saved_epoch = epoch  # by process 0, in a run of several
            if on_epoch_end is not None:
                on_epoch_end(record)
    except KeyboardInterrupt as interrupt:
        if isinstance(interrupt, TrainingInterrupted):
            raise
        raise TrainingInterrupted(  # after the save of ``epoch``, the next one was running
            epoch=max(epoch, start_epoch + 1, saved_epoch + 1),
            saved_epoch=saved_epoch if run_dir is not None else 0,
            run_dir=None if run_dir is None else str(run_dir),
        ) from None
    finally:
        try:
            if background is not None:
                background.close()  # runs every queued write, then re-raises a writer error
        finally:
            if writer is not None:
                writer.close()
            if checkpoints is not None:
                checkpoints.close()

    if recipe.patience and not stopped_early and len(history) < recipe.epochs:
        stopped_early = True  # resumed a run whose patience had already run out
    if multiprocess:  # this process's own copies, usable without the other processes
        state, best_params = jax.tree.map(jnp.asarray, _host((state, best_params)))
    return FitResult(
        params=state.params,
        best_params=best_params,
        best_epoch=best_epoch,
        history=history,
        stopped_early=stopped_early,
        compile_seconds=compile_seconds,
        images_per_second=trained_images / trained_seconds if trained_seconds else 0.0,
    )


def _fingerprint(data: Batch) -> str:
    """``"<N> examples, sha256 <first 16 hex digits>"`` of the images and labels as trained on."""
    digest = hashlib.sha256()
    for array in data:
        array = np.ascontiguousarray(np.asarray(array))
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.data)
    return f"{data.labels.shape[0]} examples, sha256 {digest.hexdigest()[:16]}"


def _defining_settings(
    model, train: Batch, validation: Batch, recipe: Recipe, params: PyTree, settings
) -> dict[str, Any]:
    """The settings a resumed run must share with the run it continues, JSON-ready, in order."""
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


def _restore(checkpoints, run_dir: Path, defining: dict[str, Any], state: TrainState):
    """The newest checkpoint that verifies, once its defining settings are known to match."""
    import sys

    from jaxdl.training.checkpoints import decode

    epoch, files, notes = checkpoints.newest_good()
    saved = json.loads(files["meta.json"]).get("settings", {})
    changed = [key for key in defining if saved.get(key) != defining[key]]
    if changed:
        raise ValueError(
            f"cannot resume {str(run_dir)!r}: this run used "
            + ", ".join(f"{key}={saved.get(key)!r}" for key in changed)
            + "; you asked for "
            + ", ".join(f"{key}={defining[key]!r}" for key in changed)
            + "; resume with the same settings, or choose another --out"
        )
    for note in notes:
        print(f"jaxdl: {note}", file=sys.stderr, flush=True)
    return decode(files, state, state.params, name=str(checkpoints.root / str(epoch)))


def _host(tree: PyTree) -> PyTree:
    """NumPy copies of ``tree``'s arrays (replicated arrays of a multi-process run included)."""
    return jax.tree.map(np.asarray, tree)


def _device_chunks(train_chunk, train: Batch, steps, state, train_key, order_args):
    """``for_epoch(order) -> call(state, first, dropout_key)`` for :func:`make_train_chunk`.

    The whole training set sits on the device; compiles for ``state`` before returning.
    """
    example_order = epoch_order(epoch_keys(train_key, 1)[0], **order_args)
    example = (np.int32(steps), np.int32(0), epoch_keys(train_key, 1)[1])
    compiled = train_chunk.lower(state, *train, example_order, *example).compile()

    def for_epoch(order):
        def call(state, first, dropout_key):
            return compiled(state, *train, order, np.int32(steps), np.int32(first), dropout_key)

        return call

    return for_epoch


def _fed_chunks(fed_chunk, train, chunk_steps, steps, batch_sharding, state, train_key, order_args):
    """``for_epoch(order) -> call(state, first, dropout_key)`` for :func:`make_fed_train_chunk`.

    ``train`` is this process's host copy of the training set; each call gathers the rows of
    the chunk's batches that this process's devices hold. Compiles before returning.
    """

    def batches(order: np.ndarray, first: int) -> Batch:
        rows = order[first] if chunk_steps == 1 else order[first : first + chunk_steps]
        return Batch(*distributed.global_batch(*train, rows, batch_sharding))

    example_order = np.asarray(epoch_order(epoch_keys(train_key, 1)[0], **order_args))
    example = (np.int32(steps), np.int32(0), epoch_keys(train_key, 1)[1])
    compiled = fed_chunk.lower(state, batches(example_order, 0), *example).compile()

    def for_epoch(order):
        order = np.asarray(order)  # the epoch's table, read to the host once

        def call(state, first, dropout_key):
            batch = batches(order, first)
            return compiled(state, batch, np.int32(steps), np.int32(first), dropout_key)

        return call

    return for_epoch


def _run_epoch(
    epoch, state, train_chunk, train_key, order_args, steps, chunk_steps, recipe, progress
) -> tuple[TrainState, dict[str, Any]]:
    # tqdm.auto picks the notebook bar inside Jupyter and warns (on stderr, with the install's
    # path) when ipywidgets is missing; import it only when a bar was asked for.
    if progress:
        from tqdm.auto import tqdm
    else:
        from tqdm import tqdm

    shuffle_key, dropout_key = epoch_keys(train_key, epoch)
    batch = recipe.batch_size
    bar = tqdm(
        total=steps * batch,
        unit="img",
        unit_scale=True,
        desc=f"epoch {epoch}/{recipe.epochs}",
        disable=not progress,
        leave=True,
        dynamic_ncols=True,
    )
    start = time.perf_counter()
    run_chunk = train_chunk(epoch_order(shuffle_key, **order_args))
    losses, correct = [], 0
    pending = []  # (first step, metrics) of calls whose metrics are not read yet

    def read(first, metrics):
        nonlocal correct
        n = min(chunk_steps, steps - first)
        chunk_losses = np.asarray(metrics.loss)[:n]
        chunk_correct = int(np.asarray(metrics.correct)[:n].sum())
        bad = first_non_finite(chunk_losses)
        if bad is not None:
            bar.close()
            global_step = (epoch - 1) * steps + first + bad + 1
            raise DivergenceError(
                "loss",
                global_step,
                f"learning rate {recipe.learning_rate} may be too large (try a smaller --lr); "
                "to find the operation that made it, run with JAX_DEBUG_NANS=True "
                "(jax.config.update('jax_debug_nans', True))",
            )
        losses.extend(chunk_losses.tolist())
        correct += chunk_correct
        bar.update(n * batch)
        bar.set_postfix(
            loss=f"{np.mean(chunk_losses):.4f}", acc=f"{chunk_correct / (n * batch):.3f}"
        )

    unread_steps = 0
    for first in range(0, steps, chunk_steps):
        state, metrics = run_chunk(state, first, dropout_key)
        if unread_steps >= recipe.log_every:  # read all but the call just dispatched
            for args in pending:
                read(*args)
            pending, unread_steps = [], 0
        pending.append((first, metrics))
        unread_steps += chunk_steps
    for args in pending:
        read(*args)
    jax.block_until_ready(state)
    seconds = time.perf_counter() - start
    bar.close()
    record = {
        "epoch": epoch,
        "loss": float(np.mean(losses)),
        "accuracy": correct / (steps * batch),
        "seconds": seconds,
        "images_per_second": steps * batch / seconds,
    }
    return state, record
