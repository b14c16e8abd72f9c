"""How the Transformer chapter trains its GPT: nanoGPT's recipe on the shared trainer.

nanoGPT's optimizer (gradient clipping at 1, AdamW with betas (0.9, 0.99), decoupled weight
decay on the matrices only, a linear warm-up then a cosine to a tenth of the peak), its loss
estimate (the mean over random batches), and :func:`train_gpt`, which runs them through
:func:`jaxdl.training.trainer.train` with the shared run directory
(:class:`jaxdl.training.resume.RunDirectory`) and the trainer's pieces
(:class:`~jaxdl.training.pieces.Evaluation` for the estimates,
:class:`~jaxdl.training.pieces.Checkpoint` for checkpoints and resume).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.typing import ArrayLike

from jaxdl.data.text import CharData, random_windows, window_feed
from jaxdl.optim import init_train_state
from jaxdl.training.pieces import Checkpoint, Evaluation
from jaxdl.training.resume import RunDirectory
from jaxdl.training.trainer import Progress, train

from .model import F32, GPT, Blocks, init_gpt, loss, loss_function

#: nanoGPT's published validation loss for its CPU configuration (README, ``shakespeare_char``).
NANOGPT_VAL_LOSS = 1.88
#: Batches nanoGPT's CPU command averages for its loss estimates (``--eval_iters=20``).
NANOGPT_EVAL_BATCHES = 20
#: Batches of our steadier estimate.
STEADY_EVAL_BATCHES = 200
#: Batches an estimate runs through the GPT in one forward pass (timed against one at a time
#: and against 10 and 20 at nanoGPT's CPU configuration, 20 and 200 batches: the fastest).
ESTIMATE_GROUP = 4


@functools.partial(jax.jit, static_argnames=("heads", "batches", "batch", "context"))
def estimate_loss(
    params: GPT,
    data: jax.Array,
    key: jax.Array,
    start: ArrayLike = 0,
    stop: ArrayLike | None = None,
    *,
    heads: int,
    batches: int,
    batch: int,
    context: int,
) -> jax.Array:
    """Mean loss over ``batches`` random batches of ``data[start:stop]`` (nanoGPT's
    ``estimate_loss``; ``start`` and ``stop`` are traced: one program for both parts).

    The batches are those of keys ``split(key, batches)``, as drawn one by one; the forward
    passes take :data:`ESTIMATE_GROUP` of them at a time when that divides ``batches`` (larger
    products, the same mean: the batches are of equal size).
    """
    stop = data.shape[0] if stop is None else stop
    group = ESTIMATE_GROUP if batches % ESTIMATE_GROUP == 0 else 1

    def draw(k):
        return random_windows(data, k, batch=batch, context=context, start=start, stop=stop)

    def one(_, keys):
        windows = jax.vmap(draw)(keys)  # [group, batch, context]
        flat = jax.tree.map(lambda a: a.reshape(group * batch, context), windows)
        return None, loss(params, flat, heads=heads)

    keys = jax.random.split(key, batches).reshape(batches // group, group)
    return jnp.mean(jax.lax.scan(one, None, keys)[1])


# --------------------------------------------------------------------------------------------
# The optimizer: nanoGPT's AdamW, schedule and clipping
# --------------------------------------------------------------------------------------------


def nanogpt_schedule(
    learning_rate: float, *, warmup: int, decay_steps: int, min_learning_rate: float
) -> Callable[[jax.Array], jax.Array]:
    """Linear warm-up ``lr (t + 1) / (warmup + 1)`` for ``t < warmup``, then a cosine from
    ``lr`` to ``min_learning_rate`` at ``decay_steps``, constant after (nanoGPT's ``get_lr``)."""

    def schedule(count):
        t = jnp.asarray(count, F32)
        warm = learning_rate * (t + 1) / (warmup + 1)
        ratio = jnp.clip((t - warmup) / max(decay_steps - warmup, 1), 0.0, 1.0)
        cosine = min_learning_rate + 0.5 * (1 + jnp.cos(jnp.pi * ratio)) * (
            learning_rate - min_learning_rate
        )
        return jnp.where(t < warmup, warm, cosine).astype(F32)

    return schedule


def decay_mask(params: GPT) -> GPT:
    """Weight decay on the matrices (every tensor of two or more dimensions per block, and both
    embedding tables, as nanoGPT's ``p.dim() >= 2``), not on the layer-norm gains."""
    return GPT(
        wte=True,
        wpe=True,
        blocks=Blocks(False, True, True, False, True, True),
        ln_f=False,
    )


@functools.cache
def nanogpt_adamw(
    learning_rate: float = 1e-3,
    *,
    steps: int = 2000,
    warmup: int = 100,
    min_learning_rate: float = 1e-4,
    weight_decay: float = 0.1,
    clip: float = 1.0,
) -> optax.GradientTransformation:
    """``clip_by_global_norm(clip)`` then AdamW with betas (0.9, 0.99), the nanoGPT schedule
    and decoupled weight decay on the matrices (memoised: one object per setting, so compiled
    training programs are shared)."""
    schedule = nanogpt_schedule(
        learning_rate, warmup=warmup, decay_steps=steps, min_learning_rate=min_learning_rate
    )
    return optax.chain(
        optax.clip_by_global_norm(clip),
        optax.adamw(
            schedule, b1=0.9, b2=0.99, eps=1e-8, weight_decay=weight_decay, mask=decay_mask
        ),
    )


class Trained(NamedTuple):
    """A training run's outcome."""

    params: GPT
    losses: np.ndarray  # [steps] training loss of every step's batch
    evals: dict  # {"step": [...], "train": [...], "val": [...]}: estimates along the way
    seconds: float  # wall time of the training steps (evaluations excluded)


def _estimator(data: CharData, key: jax.Array, **kw) -> Callable[[GPT, int], dict[str, float]]:
    """``estimate(params, step)``: the train and validation losses as nanoGPT's
    ``estimate_loss`` gives them (the mean over random batches, drawn from ``key`` folded with
    the step), the evaluation of :class:`~jaxdl.training.pieces.Evaluation`."""
    whole, n = jnp.asarray(np.concatenate([data.train, data.validation])), len(data.train)

    def estimate(params: GPT, step: int) -> dict[str, float]:
        k = jax.random.fold_in(key, step)
        return {
            "train": float(estimate_loss(params, whole, k, 0, n, **kw)),
            "val": float(estimate_loss(params, whole, k, n, len(whole), **kw)),
        }

    return estimate


def train_gpt(
    data: CharData,
    *,
    key: jax.Array,
    steps: int,
    batch: int,
    context: int,
    layers: int,
    heads: int,
    width: int,
    learning_rate: float,
    engine: str,
    eval_every: int | None = None,
    eval_batches: int = NANOGPT_EVAL_BATCHES,
    progress: bool = False,
    run_dir: str | None = None,
    resume: bool = False,
) -> Trained:
    """Train a GPT on ``data.train`` with nanoGPT's optimizer (warm-up ``min(100, steps // 20)``
    steps, cosine to a tenth of ``learning_rate`` at ``steps``) through the shared trainer.

    Every ``eval_every`` steps (and at step 0), the train and validation losses are estimated
    over ``eval_batches`` random batches, as nanoGPT's ``estimate_loss`` does. With ``run_dir``,
    the run is checkpointed after each of those chunks in a shared run directory
    (:class:`~jaxdl.training.resume.RunDirectory`: locked, written atomically, checksummed, the
    newest two kept); ``resume`` continues from the newest good checkpoint, to the parameters of
    an uninterrupted run, and refuses one whose settings differ.
    """
    k_init, k_feed, k_eval = jax.random.split(key, 3)
    params = init_gpt(key=k_init, vocab=len(data.chars), context=context, layers=layers,
                      width=width)  # fmt: skip
    optimizer, every = _optimizer(learning_rate, steps), eval_every or steps
    feed = window_feed(jnp.asarray(data.train), key=k_feed, batch=batch, context=context)
    estimate = _estimator(data, k_eval, heads=heads, batches=eval_batches, batch=batch,
                          context=context)  # fmt: skip
    evaluation = Evaluation(estimate, every, last=steps)
    state, hooks, directory = init_train_state(params, optimizer), (evaluation,), None
    if run_dir is not None:
        settings = dict(text=data.source, steps=steps, batch=batch, context=context,
                        layers=layers, heads=heads, width=width, learning_rate=learning_rate,
                        eval_every=every, key=np.asarray(jax.random.key_data(key)).tolist())  # fmt: skip
        directory = RunDirectory(run_dir, settings, resume=resume)
    try:
        if directory is not None:
            hooks, state, feed = _checkpointed(directory, evaluation, state, feed, resume=resume)
        if not evaluation.history:
            evaluation.add(params, 0)
        bar = Progress("GPT on " + data.source, "tok", batch * context) if progress else None
        begin, spent = time.perf_counter(), evaluation.seconds
        remaining = steps - int(state.step)
        if remaining <= 0:
            return Trained(state.params, np.zeros((0,), np.float32), evaluation.columns(), 0.0)
        trained = train(loss_function(heads, engine), state, optimizer, feed, steps=remaining,
                        chunk_steps=every, progress=bar, hooks=hooks)  # fmt: skip
    finally:
        if directory is not None:
            directory.close()
    seconds = time.perf_counter() - begin - (evaluation.seconds - spent)
    return Trained(trained.state.params, trained.losses, evaluation.columns(), seconds)


def _checkpointed(directory: RunDirectory, evaluation: Evaluation, state, feed, *, resume: bool):
    """``(hooks, state, feed)``: the evaluation then a checkpoint of the run and its estimates
    after every chunk, and the state and feed to start from (the newest good checkpoint's,
    its estimates put back into ``evaluation``, when resuming)."""
    checkpoint = Checkpoint(directory, meta=lambda: {"evaluations": evaluation.history})
    if resume:
        state, feed_state, meta = checkpoint.restore(state, feed.state)
        feed, evaluation.history = feed._replace(state=feed_state), meta["evaluations"]
    return (evaluation, checkpoint), state, feed


def _optimizer(learning_rate: float, steps: int) -> optax.GradientTransformation:
    """nanoGPT's AdamW over ``steps``: warm-up ``min(100, steps // 20)`` steps, then a cosine
    to a tenth of ``learning_rate``."""
    return nanogpt_adamw(
        learning_rate,
        steps=steps,
        warmup=min(100, steps // 20),
        min_learning_rate=learning_rate / 10,
    )
