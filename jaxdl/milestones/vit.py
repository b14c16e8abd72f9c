"""The Vision Transformer (Alexey Dosovitskiy et al., 2020): an image is worth 16x16 words.

The Transformer of 2017 read words; Dosovitskiy and colleagues fed it an image cut into square
patches, each patch flattened and projected like a word's embedding, with almost nothing else
changed::

    t = [cls, patches(x) W + b] + E_pos                  patch embedding (the paper's eq. 1)
    for each block:  t = t + attention(layer_norm(t))    every patch reads every patch (no mask)
                     t = t + mlp(layer_norm(t))
    logits = layer_norm(t[0]) W_head + b_head             the class token's final state

Nothing in it knows that an image is two-dimensional: the grid of patches is a sequence, and
the position embeddings must *learn* which patch is near which. The paper's findings: with
little data a ViT trails a convolutional net of similar cost (the convnet's locality is a prior
the ViT lacks), and with enough data it overtakes it; the learned position embeddings come out
similar for patches in the same row and column (its Figure 7, centre); the patch projection's
principal components look like smooth filters (Figure 7, left); and the class token learns to
attend to the object (its attention rollout figure).

**Every layer's backward by hand.** The patch embedding (:mod:`jaxdl.nn.patch_embed`) is new;
the blocks reuse the Transformer chapter's ops (:mod:`jaxdl.nn.layer_norm`,
:mod:`jaxdl.nn.attention` with ``mask="none"``, :mod:`jaxdl.nn.mlp`), the head the dense layer
(:mod:`jaxdl.nn.affine`) and the cross-entropy (:mod:`jaxdl.losses`), each a ``custom_vjp``
rule beside its pure forward. The model built from the rules trains through the shared trainer
(:func:`jaxdl.training.trainer.train`); built from the pure forwards it is the ``jax.grad``
reference the tests compare with.

**The experiment.** MNIST digits (the shipped sample, or ``--data DIR``) in 7x7 patches: 16
patches and the class token, width 32, 4 heads, 2 pre-norm blocks (no biases inside the blocks,
as the Transformer chapter's), AdamW with a linear warm-up and a cosine decay (the paper's
recipe, its weight decay 0.1 included, at our scale), 4 passes in batches of 32. ``--paper`` adds the data
-size comparison (:func:`data_size_comparison`): the ViT and the deep-CNN chapter's net trained
with the same steps on growing subsets of the training set.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdl import backward
from jaxdl.backward import BACKWARDS, Backward, default_backward
from jaxdl.data.batches import Batch
from jaxdl.data.digits import float_images
from jaxdl.gradcheck import GradCheck, check_gradient, normal_draws
from jaxdl.milestones import Milestone
from jaxdl.nn import blocks, patch_embed
from jaxdl.nn.blocks import Blocks
from jaxdl.optim import TrainState, init_train_state
from jaxdl.report import Report
from jaxdl.training import trainer
from jaxdl.training.pieces import Checkpoint, FeedCarry
from jaxdl.validate import (
    BATCH,
    EPOCHS,
    LEARNING_RATE_CEILING,
    SEED,
    check_limits,
    require_positive_float,
)

MILESTONE = Milestone(
    "vit",
    2020,
    "Dosovitskiy et al.",
    "a Transformer reads digits as sequences of patches",
    month=10,
)

F32 = jnp.float32
CLASSES = 10
#: Patch sides that tile a 28x28 digit.
PATCHES = (2, 4, 7, 14)
#: The paper's ImageNet result for the model it names in its title (ViT-L/16 pre-trained on
#: JFT-300M, fine-tuned: Table 2), quoted beside ours and not comparable with it.
PAPER_IMAGENET_TOP1 = 87.76
#: Training-set sizes of the data-size comparison (the paper's Figure 3/4 in miniature).
PAPER_SIZES = (500, 2000, 8000)
#: Optimizer steps for every model and size in the comparison (batches of :data:`BATCH_SIZE`).
PAPER_STEPS = 400
BATCH_SIZE = 64
#: Test digits whose attention rollout the run measures (the figure draws the first four).
ROLLOUT_DIGITS = 100
#: The position embeddings' initial standard deviation (timm's and the paper's code's 0.02).
POS_STD = 0.02


# --------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------


class ViT(NamedTuple):
    """A Vision Transformer's parameters."""

    w_patch: jax.Array  # [P² C, D] patch projection
    b_patch: jax.Array  # [D]
    cls: jax.Array  # [D] the class token
    pos: jax.Array  # [N + 1, D] position embeddings, the class token's first
    blocks: Blocks  # L blocks, stacked
    ln_f: jax.Array  # [D] gain of the final layer norm
    w_head: jax.Array  # [D, 10]
    b_head: jax.Array  # [10]


def patch_grid(patch: int, side: int = 28) -> int:
    """Patches per row (and column) of a ``side`` x ``side`` image."""
    return side // patch


@functools.partial(
    jax.jit, static_argnames=("patch", "layers", "width", "channels", "side", "dtype")
)
def init_vit(
    *,
    key: jax.Array,
    patch: int,
    layers: int,
    width: int,
    channels: int = 1,
    side: int = 28,
    dtype=F32,
) -> ViT:
    """The paper's initialisation where it states one (a zero head, its appendix B.1.1), GPT-2's
    elsewhere: the patch projection LeCun-normal (unit-variance tokens from unit-variance
    pixels), the position embeddings and block matrices normal with standard deviation 0.02,
    the two projections onto the residual stream ``0.02 / sqrt(2 L)``, gains one."""
    k = iter(jax.random.split(key, 6))
    n = patch_grid(patch, side) ** 2
    fan_in = patch * patch * channels
    c, small = width, 0.02 / math.sqrt(2 * layers)

    def normal(shape, std):
        return std * jax.random.normal(next(k), shape, dtype)

    return ViT(
        w_patch=normal((fan_in, c), 1 / math.sqrt(fan_in)),
        b_patch=jnp.zeros((c,), dtype),
        cls=jnp.zeros((c,), dtype),
        pos=normal((n + 1, c), POS_STD),
        blocks=Blocks(
            ln_1=jnp.ones((layers, c), dtype),
            w_qkv=normal((layers, c, 3 * c), 0.02),
            w_attn=normal((layers, c, c), small),
            ln_2=jnp.ones((layers, c), dtype),
            w_fc=normal((layers, c, 4 * c), 0.02),
            w_mlp=normal((layers, 4 * c, c), small),
        ),
        ln_f=jnp.ones((c,), dtype),
        w_head=jnp.zeros((c, CLASSES), dtype),
        b_head=jnp.zeros((CLASSES,), dtype),
    )


def count_parameters(params) -> int:
    """Number of parameters of any pytree of arrays."""
    return int(sum(np.size(leaf) for leaf in jax.tree.leaves(params)))


# --------------------------------------------------------------------------------------------
# The model, from one set of ops
# --------------------------------------------------------------------------------------------


def _patch_of(params: ViT) -> int:
    return math.isqrt(params.w_patch.shape[0])


def forward(
    params: ViT, x: jax.Array, *, heads: int, ops: backward.Ops = backward.AUTODIFF
) -> jax.Array:
    """Class scores ``[B, 10]`` for digits ``x [B, 28, 28, 1]``.

    Args:
      params: the model (its patch side is read off ``w_patch``).
      x: images ``[B, H, W, 1]``.
      heads: attention heads per block.
      ops: :data:`jaxdl.backward.AUTODIFF` or :data:`~jaxdl.backward.HAND` (the same
        values; different backward passes).
    """
    p = params
    t = ops.patch_embed(x, p.w_patch, p.b_patch, p.cls, p.pos, _patch_of(p))
    t = blocks.stack(t, p.blocks, heads=heads, mask="none", ops=ops)
    return ops.dense(ops.layer_norm(t[:, 0], p.ln_f), p.w_head, p.b_head)


def loss(
    params: ViT, batch: Batch, *, heads: int, ops: backward.Ops = backward.AUTODIFF
) -> tuple[jax.Array, jax.Array]:
    """``(mean cross-entropy, error rate of the batch)``."""
    logits = forward(params, batch.images, heads=heads, ops=ops)
    error = jnp.mean(jnp.argmax(logits, axis=1) != batch.labels, dtype=logits.dtype)
    return ops.softmax_cross_entropy(logits, batch.labels), error


@functools.cache
def loss_function(heads: int, backward_: str) -> Callable:
    """``loss(params, batch) -> (value, error)`` for ``heads`` and a backward pass (``"hand"``
    or ``"autodiff"``), one function object per pair, so compiled training programs are
    shared."""
    chosen = backward.ops(backward_)
    return functools.partial(loss, heads=heads, ops=chosen)


@functools.cache
def optimizer(
    learning_rate: float, steps: int, weight_decay: float = 0.1
) -> optax.GradientTransformation:
    """The paper's recipe at our scale: AdamW (betas 0.9, 0.999; decoupled weight decay on the
    weight matrices), linear warm-up over the first tenth of the steps, cosine decay to zero, and the
    gradient clipped at global norm 1 (memoised: one object per setting)."""
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, learning_rate, max(1, steps // 10), max(steps, 2)
    )

    def matrices(params):
        # The weights, not the position embeddings (as timm's ``no_weight_decay``): decay
        # would pull them towards zero, and their structure is what Figure 7 shows.
        decay = jax.tree.map(lambda a: a.ndim >= 2, params)
        return decay._replace(pos=False) if isinstance(decay, ViT) else decay

    return optax.chain(
        optax.clip_by_global_norm(1.0),
        optax.adamw(schedule, weight_decay=weight_decay, mask=matrices),
    )


@functools.partial(jax.jit, static_argnames=("heads",))
def _logits(params: ViT, x: jax.Array, *, heads: int) -> jax.Array:
    chunks = x.reshape(-1, 500, *x.shape[1:])
    return jax.lax.map(lambda c: forward(params, c, heads=heads), chunks).reshape(-1, CLASSES)


def accuracy(params: ViT, digits: Batch, *, heads: int) -> float:
    """Test accuracy over ``digits`` (a multiple of 500 of them)."""
    logits = _logits(params, digits.images, heads=heads)
    return float(jnp.mean(jnp.argmax(logits, axis=1) == digits.labels))


# --------------------------------------------------------------------------------------------
# What the trained model learned: the paper's Figure 7 and its attention maps
# --------------------------------------------------------------------------------------------


def position_similarity(params: ViT) -> np.ndarray:
    """Cosine similarity of the patches' position embeddings, ``[g, g, g, g]``: entry
    ``[i, j]`` is the map of patch ``(i, j)``'s similarity to every patch (Figure 7, centre)."""
    e = np.asarray(params.pos[1:], np.float64)
    e = e / np.linalg.norm(e, axis=1, keepdims=True)
    g = math.isqrt(e.shape[0])
    return (e @ e.T).reshape(g, g, g, g)


def projection_components(params: ViT, count: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """The patch projection's first ``count`` principal components as ``P x P`` images, and
    the share of the variance each explains (Figure 7, left).

    The ``D`` columns of ``W`` are ``D`` filters of ``P² C`` pixels; the components are the
    leading left singular vectors of ``W`` with each pixel's mean over the filters removed.
    """
    w = np.asarray(params.w_patch, np.float64)
    u, s, _ = np.linalg.svd(w - w.mean(axis=1, keepdims=True), full_matrices=False)
    p = math.isqrt(w.shape[0])
    share = s**2 / np.sum(s**2)
    return u[:, :count].T.reshape(-1, p, p), share[:count]


@functools.partial(jax.jit, static_argnames=("heads",))
def attention_maps(params: ViT, x: jax.Array, *, heads: int) -> jax.Array:
    """Every block's attention ``[L, B, H, N + 1, N + 1]`` for digits ``x [B, 28, 28, 1]``."""
    p = params
    t = patch_embed.patch_embed(x, p.w_patch, p.b_patch, p.cls, p.pos, _patch_of(p))
    return blocks.attention_maps(t, p.blocks, heads=heads, mask="none")


def rollout(maps: np.ndarray) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema 2020, the paper's appendix D.8): the heads averaged,
    the residual stream's identity mixed in (``(A + I) / 2``, rows renormalised), the blocks'
    maps multiplied from the first to the last; returns the class token's row over the patches,
    ``[B, N]`` (how much the final class token draws on each patch)."""
    maps = np.asarray(maps, np.float64).mean(axis=2)  # [L, B, T, T]
    t = maps.shape[-1]
    joint = np.broadcast_to(np.eye(t), maps.shape[1:]).copy()
    for a in maps:
        a = 0.5 * (a + np.eye(t))
        a = a / a.sum(axis=-1, keepdims=True)
        joint = a @ joint
    return joint[:, 0, 1:]


# --------------------------------------------------------------------------------------------
# Data and training
# --------------------------------------------------------------------------------------------


class Trained(NamedTuple):
    """One training run's outcome."""

    params: ViT
    losses: np.ndarray  # [steps] each step's batch loss
    errors: np.ndarray  # [steps] each step's batch error
    seconds: float  # wall time of the training (compilation included on a cold cache)


class RunDir:
    """The ``--out`` directory of a ViT run (:class:`~jaxdl.training.resume.RunDirectory`):
    a checkpoint after every epoch of the training (the train state, the feed's position and
    keys, every step's loss and error so far), then one after every size of the data-size
    comparison (its rows so far in the checkpoint's metadata, beside the trained ViT's state).

    Args:
      path: the directory.
      settings: the run's defining settings (a resume must match them).
      resume: continue the run saved there.
    """

    def __init__(self, path: str, settings: dict, *, resume: bool):
        from jaxdl.training.resume import RunDirectory

        self.directory = RunDirectory(path, settings, resume=resume)
        self.resume = resume
        self.carried = None
        self.meta: dict = {}

    def checkpoint(self, steps: int):
        """The trainer's hook that saves the training after every chunk into this directory
        (:class:`~jaxdl.training.pieces.Checkpoint`: the train state, the feed's position and
        keys, every step's loss and error in arrays of ``steps``), with this run's metadata."""
        return Checkpoint(self.directory, carry=_EPOCH_FEED, meta=lambda: self.meta, steps=steps,
                          aux=np.float32(0))  # fmt: skip

    def restore(self, checkpoint, state: TrainState, feed_state) -> tuple:
        """``(state, feed_state)`` themselves for a new run; the newest good checkpoint's for a
        resumed one (its metadata kept, a warning per damaged checkpoint skipped)."""
        if not self.resume:
            return state, feed_state
        state, feed_state, self.meta = checkpoint.restore(state, feed_state)
        self.meta.pop("settings", None)
        self.carried = checkpoint.carried  # what the comparison's checkpoints carry on
        return state, feed_state

    def save(self, at: int, carried=None, **meta) -> None:
        """Checkpoint ``carried`` (default: the last one saved) as entry ``at``, ``meta`` added
        to the metadata."""
        self.carried = self.carried if carried is None else carried
        self.meta.update(meta)
        self.directory.save(at, self.carried, meta=self.meta)

    def close(self) -> None:
        """Release the directory's lock."""
        self.directory.close()


def _save_epoch_feed(feed_state) -> tuple:
    _, keys, order, step = feed_state
    return jax.random.key_data(keys), order, step


def _load_epoch_feed(saved, feed_state) -> tuple:
    keys, order, step = saved
    return feed_state[0], jax.random.wrap_key_data(keys), order, step


#: The shuffled-epochs feed's state in a checkpoint: its keys, the epoch's order and the step
#: (the training set is not saved).
_EPOCH_FEED = FeedCarry(_save_epoch_feed, _load_epoch_feed)


def train_vit(
    train: Batch,
    *,
    key: jax.Array,
    epochs: int,
    batch: int,
    patch: int,
    layers: int,
    heads: int,
    width: int,
    learning_rate: float,
    backward_: str,
    progress: str | None = None,
    run_dir: RunDir | None = None,
) -> Trained:
    """Train a ViT on ``train`` for ``epochs`` shuffled passes through the shared trainer; with
    ``run_dir``, checkpointed after every epoch (and continued from its newest checkpoint when
    it resumes: to the parameters, losses and errors of a run never stopped)."""
    k_init, k_feed = jax.random.split(key)
    params = init_vit(key=k_init, patch=patch, layers=layers, width=width)
    feed, per_epoch = trainer.shuffled_epochs(
        train, batch_size=batch, keys=jax.random.split(k_feed, epochs)
    )
    steps = per_epoch * epochs
    opt = optimizer(learning_rate, steps)
    state, checkpoint = init_train_state(params, opt), None
    if run_dir is not None:
        checkpoint = run_dir.checkpoint(steps)
        state, feed_state = run_dir.restore(checkpoint, state, feed.state)
        feed = feed._replace(state=feed_state)
    begin, done = time.perf_counter(), int(state.step)
    trained = None
    if steps > done:
        trained = trainer.train(
            loss_function(heads, backward_),
            state,
            opt,
            feed,
            steps=steps - done,
            has_aux=True,
            chunk_steps=per_epoch,
            progress=trainer.Progress(progress) if progress else None,
            hooks=() if checkpoint is None else (checkpoint,),
        )
        state = trained.state
    if checkpoint is None:
        return Trained(state.params, trained.losses, trained.aux, time.perf_counter() - begin)
    run_dir.carried = checkpoint.carried  # the trained ViT, kept in the comparison's entries
    seconds = time.perf_counter() - begin
    return Trained(state.params, checkpoint.losses, checkpoint.aux_values, seconds)


def _cnn_loss(params, batch: Batch):
    from jaxdl.models import deep_cnn

    return deep_cnn.loss(params, batch.images, batch.labels, backward="hand")


def _draw_from_first(state):
    key, data, size = state
    key, k = jax.random.split(key)
    index = jax.random.randint(k, (BATCH_SIZE,), 0, size)
    return (key, data, size), Batch(data.images[index], data.labels[index])


def subset_feed(shuffled: Batch, size: int, *, key: jax.Array) -> trainer.Feed:
    """Batches of :data:`BATCH_SIZE` drawn with replacement from the first ``size`` of
    ``shuffled`` digits. The size is part of the feed's state, not of its shapes, so every
    subset trains with one compiled program."""
    return trainer.Feed((key, shuffled, jnp.int32(size)), _draw_from_first)


def _one_size(shuffled: Batch, test: Batch, size: int, *, steps: int, key: jax.Array,
              vit_settings: dict, progress: bool) -> dict:  # fmt: skip
    """One row of :func:`data_size_comparison`: both models trained on the first ``size``."""
    from jaxdl.models import deep_cnn

    k_vit, k_cnn, k_feed = jax.random.split(jax.random.fold_in(key, size), 3)
    feed = subset_feed(shuffled, size, key=k_feed)
    label = f"{{}} on {size} digits" if progress else None
    v = vit_settings
    vit = init_vit(key=k_vit, patch=v["patch"], layers=v["layers"], width=v["width"])
    vit_run = trainer.train(
        loss_function(v["heads"], default_backward()),
        vit,
        optimizer(v["learning_rate"], steps),
        feed,
        steps=steps,
        has_aux=True,
        chunk_steps=min(steps, 100),
        progress=trainer.Progress(label.format("ViT")) if label else None,
    )
    cnn_run = trainer.train(
        _cnn_loss,
        deep_cnn.init_params(k_cnn),
        _adam(1e-3),
        feed,
        steps=steps,
        chunk_steps=min(steps, 100),
        progress=trainer.Progress(label.format("CNN")) if label else None,
    )
    cnn_logits = _cnn_logits(cnn_run.state.params, test.images)
    return {
        "size": size,
        "vit_test_accuracy": accuracy(vit_run.state.params, test, heads=v["heads"]),
        "cnn_test_accuracy": float(jnp.mean(jnp.argmax(cnn_logits, 1) == test.labels)),
    }


def data_size_comparison(
    train: Batch,
    test: Batch,
    *,
    sizes: tuple[int, ...],
    steps: int,
    key: jax.Array,
    vit_settings: dict,
    progress: bool = False,
    run_dir: RunDir | None = None,
    entry: int = 0,
) -> list[dict]:
    """Test accuracy of the ViT and of the deep-CNN chapter's net trained on growing subsets.

    Each model trains ``steps`` steps of :data:`BATCH_SIZE` digits drawn at random from its
    subset (the same batches for both; each subset holds the smaller ones), with its own
    chapter's optimizer: the ViT with
    :func:`optimizer`, the CNN with Adam at 0.001 (the deep-CNN chapter's), its dropout off
    (every model here sees the same batches, and none is regularised by noise). Returns one row
    per size. With ``run_dir``, the rows so far are checkpointed after every size (as entry
    ``entry + rows``), and the sizes a resumed run finished are not trained again.
    """
    rows = list(run_dir.meta.get("comparison", [])) if run_dir is not None else []
    k_order, key = jax.random.split(key)
    order = jax.random.permutation(k_order, train.images.shape[0])
    shuffled = Batch(train.images[order], train.labels[order])  # each subset holds the smaller ones
    for size in sizes[len(rows) :]:
        rows.append(_one_size(shuffled, test, size, steps=steps, key=key,
                              vit_settings=vit_settings, progress=progress))  # fmt: skip
        if run_dir is not None:
            run_dir.save(entry + len(rows), comparison=rows)
    return rows


@functools.cache
def _adam(learning_rate: float) -> optax.GradientTransformation:
    return optax.adam(learning_rate)


@jax.jit
def _cnn_logits(params, x: jax.Array) -> jax.Array:
    from jaxdl.models import deep_cnn

    chunks = x.reshape(-1, 500, *x.shape[1:])
    return jax.lax.map(lambda c: deep_cnn.apply(params, c), chunks).reshape(-1, CLASSES)


# --------------------------------------------------------------------------------------------
# The chapter's interface
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Config:
    """A small ViT on MNIST digits (see the module docstring)."""

    epochs: int = dataclasses.field(
        default=4, metadata={"bounds": EPOCHS, "help": "passes over the training digits"}
    )
    batch: int = dataclasses.field(
        default=32, metadata={"bounds": BATCH, "help": "digits per step"}
    )
    patch: int = dataclasses.field(
        default=7, metadata={"help": "patch side in pixels: 2, 4, 7 or 14 (7: 16 patches)"}
    )
    layers: int = dataclasses.field(
        default=2, metadata={"bounds": (1, 64), "help": "encoder blocks"}
    )
    heads: int = dataclasses.field(
        default=4, metadata={"bounds": (1, 64), "help": "attention heads per block"}
    )
    width: int = dataclasses.field(
        default=32, metadata={"bounds": (1, 2048), "help": "token width D"}
    )
    learning_rate: float = dataclasses.field(
        default=4e-3,
        metadata={
            "ceiling": LEARNING_RATE_CEILING,
            "help": "AdamW peak learning rate",
            "flag": "--lr",
        },
    )
    data: str = dataclasses.field(
        default="sample",
        metadata={"help": "sample (the shipped 8000/2000 digits) or a directory of IDX files"},
    )
    backward: Backward = dataclasses.field(
        default="auto",
        metadata={"help": "hand (the custom_vjp rules), autodiff, or auto: the platform's"},
    )
    paper: bool = dataclasses.field(
        default=False,
        metadata={
            "help": "add the data-size comparison with the deep-CNN chapter's net: "
            f"{len(PAPER_SIZES)} subsets, {PAPER_STEPS} steps each (minutes; progress bars)"
        },
    )
    out: str | None = dataclasses.field(
        default=None,
        metadata={
            "help": "save a checkpoint here after every epoch (with --paper, after every size "
            "of the comparison too)",
            "metavar": "DIR",
        },
    )
    resume: bool = dataclasses.field(
        default=False,
        metadata={"help": "continue the run saved in --out from its newest good checkpoint"},
    )
    seed: int = dataclasses.field(default=0, metadata={"bounds": SEED, "help": "PRNG seed"})

    def __post_init__(self):
        check_limits(self)
        if self.resume and self.out is None:
            raise ValueError("resume needs out, the directory of the run to continue")
        if self.patch not in PATCHES:
            raise ValueError(
                f"patch must be one of {PATCHES} (tiling 28 pixels), got {self.patch!r}"
            )
        if self.width % self.heads:
            raise ValueError(f"heads ({self.heads}) must divide width ({self.width})")
        require_positive_float("learning rate", self.learning_rate)
        if self.backward not in BACKWARDS:
            raise ValueError(f"backward must be one of {BACKWARDS}, got {self.backward!r}")

    def settings(self) -> dict:
        """The model and optimizer settings."""
        names = ("patch", "layers", "heads", "width", "learning_rate")
        return {n: getattr(self, n) for n in names}


def _tiny(key: jax.Array) -> tuple[ViT, Batch]:
    """A 2-block ViT of width 8 over 14x14 images in 7x7 patches (4 patches), every parameter
    drawn away from the initial zeros and ones, and two images of noise (float64 when x64 is
    on). Carved from one random draw: one small compile, not one per shape."""
    normal = normal_draws(key, pool=3072)
    c, n, layers = 8, 2, 2
    blocks = Blocks(
        ln_1=1 + normal((layers, c), 0.3),
        w_qkv=normal((layers, c, 3 * c), 0.5),
        w_attn=normal((layers, c, c), 0.5),
        ln_2=1 + normal((layers, c), 0.3),
        w_fc=normal((layers, c, 4 * c), 0.5),
        w_mlp=normal((layers, 4 * c, c), 0.3),
    )
    params = ViT(
        w_patch=normal((49, c), 0.2),
        b_patch=normal((c,), 0.3),
        cls=normal((c,), 0.3),
        pos=normal((n * n + 1, c), 0.3),
        blocks=blocks,
        ln_f=1 + normal((c,), 0.3),
        w_head=normal((c, CLASSES), 0.5),
        b_head=normal((CLASSES,), 0.3),
    )
    x = 0.5 + 0.5 * normal((2, 14, 14, 1))
    return params, Batch(x, jnp.array([3, 8]))


def gradient_checks(*, key: jax.Array) -> list[GradCheck]:
    """The whole ViT: ``jax.grad`` of the loss built from the hand rules vs ``jax.grad`` of the
    pure model vs finite differences. Each op's own rule is checked by its :mod:`jaxdl.nn`
    module (the patch embedding, unmasked attention, layer norm, MLP, dense layer)."""
    params, batch = _tiny(key)
    return [
        check_gradient(
            "vit: whole ViT, hand rules",
            lambda p: loss(p, batch, heads=2)[0],
            jax.jit(jax.grad(lambda p: loss(p, batch, heads=2, ops=backward.HAND)[0])),
            params,
            key=key,
        )
    ]


def run(config: Config = Config()) -> Report:
    """Train the ViT; test accuracy, Figure 7's maps, the class token's attention (and with
    ``paper`` the data-size comparison)."""
    if config.out is not None:  # refused before any work
        from jaxdl.training.rundir import check_creatable

        check_creatable(config.out, option="out")
    train, test = float_images(config.data)
    run_dir = (
        None if config.out is None else RunDir(config.out, _defining(config), resume=config.resume)
    )
    try:
        trained, rows = _train_all(config, train, test, run_dir)
    finally:
        if run_dir is not None:
            run_dir.close()
    measured, plot_data = _measure(config, trained, test)
    digits = f"{int(train.images.shape[0])} training / {int(test.images.shape[0])} test digits"
    result = {"data": f"{digits} ({config.data})", **measured}
    g = patch_grid(config.patch)
    headline = (
        f"{g * g} patches of {config.patch}x{config.patch}, {config.layers} blocks: test "
        f"accuracy {result['test_accuracy']:.2%} on {int(test.images.shape[0])} digits; position "
        f"embeddings {result['position_similarity_same_row_or_column']:.2f} alike in a row or "
        f"column vs {result['position_similarity_elsewhere']:.2f} elsewhere; the class token's "
        f"rollout vs the ink: r = {result['rollout_ink_correlation']:.2f}"
    )
    if rows is not None:
        result["data_size_comparison"] = rows
        result["data_size_steps"] = PAPER_STEPS
    return Report(milestone="vit", config=config, result=result, checks=[], headline=headline,
                  plot_data=plot_data)  # fmt: skip


def _measure(config: Config, trained, test: Batch) -> tuple[dict, dict]:
    """What the trained ViT shows: ``(result, plot_data)`` of the report (its test accuracy,
    the position embeddings' row-and-column structure, the class token's rollout)."""
    params = trained.params
    shown = test.images[:ROLLOUT_DIGITS]
    rolled = rollout(np.asarray(attention_maps(params, shown, heads=config.heads)))
    ink = np.asarray(patch_embed.patchify(shown, config.patch)).mean(axis=-1)
    similarity = position_similarity(params)
    components, share = projection_components(params)
    # How much a patch's position embedding resembles its row's and column's neighbours'
    # rather than the others': the paper's row-and-column structure, as one number.
    same_line, other = _row_column_contrast(similarity)
    result = {
        "patches": patch_grid(config.patch) ** 2,
        "parameters": count_parameters(params),
        "steps": len(trained.losses),
        "final_training_loss": float(np.mean(trained.losses[-50:])),
        "test_accuracy": accuracy(params, test, heads=config.heads),
        "train_seconds": trained.seconds,
        "position_similarity_same_row_or_column": same_line,
        "position_similarity_elsewhere": other,
        "projection_variance_share": share.tolist(),
        "rollout_ink_correlation": ink_correlation(rolled, ink),
        "paper_imagenet_top1_percent": PAPER_IMAGENET_TOP1,
    }
    plot_data = {"losses": trained.losses, "params": params, "similarity": similarity,
                 "components": components, "digits": np.asarray(shown[:4, ..., 0]),
                 "rollout": rolled[:4]}  # fmt: skip
    return result, plot_data


def _defining(config: Config) -> dict:
    """What a resumed run must share with the run it continues."""
    names = ("data", "epochs", "batch", "backward", "paper", "seed")
    return {**{n: getattr(config, n) for n in names}, **config.settings()}


def _train_all(config: Config, train: Batch, test: Batch, run_dir: RunDir | None):
    """The ViT's training, then with ``paper`` the data-size comparison: ``(trained, rows or
    None)``, checkpointed in ``run_dir`` when one is given."""
    key = jax.random.key(config.seed)
    k_train, k_paper = jax.random.split(key)
    backward_ = default_backward() if config.backward == "auto" else config.backward
    s = config.settings()
    trained = train_vit(
        train,
        key=k_train,
        epochs=config.epochs,
        batch=config.batch,
        backward_=backward_,
        progress="ViT" if config.paper else None,
        run_dir=run_dir,
        **s,
    )
    if not config.paper:
        return trained, None
    rows = data_size_comparison(
        train,
        test,
        sizes=tuple(n for n in PAPER_SIZES if n <= train.images.shape[0]),
        steps=PAPER_STEPS,
        key=k_paper,
        vit_settings=s,
        progress=True,
        run_dir=run_dir,
        entry=len(trained.losses),
    )
    return trained, rows


def ink_correlation(rolled: np.ndarray, ink: np.ndarray) -> float:
    """Mean over digits of the correlation between the class token's rollout over the patches
    and each patch's ink (its mean pixel), both ``[B, N]``: positive when the class token reads
    the strokes."""
    r = rolled - rolled.mean(axis=1, keepdims=True)
    k = ink - ink.mean(axis=1, keepdims=True)
    denominator = np.sqrt((r * r).sum(1) * (k * k).sum(1))
    return float(np.mean((r * k).sum(1) / np.maximum(denominator, 1e-12)))


def _row_column_contrast(similarity: np.ndarray) -> tuple[float, float]:
    """Mean cosine similarity between different patches in the same row or column, and between
    patches in neither."""
    g = similarity.shape[0]
    i, j, k, m = np.meshgrid(*[np.arange(g)] * 4, indexing="ij")
    same = (i == k) ^ (j == m)  # one coordinate shared, not the patch itself
    other = (i != k) & (j != m)
    return float(similarity[same].mean()), float(similarity[other].mean())


def plot(report: Report):
    """The paper's Figure 7 (principal components of the patch projection; position-embedding
    similarity) beside the class token's attention rollout on test digits; with ``paper``, the
    data-size comparison as a fourth panel."""
    from jaxdl.plotting import COLUMN_WIDTH, new_figure

    data = report.plot_data
    paper = "data_size_comparison" in report.result
    fig, axes = new_figure(4 if paper else 3, size=(COLUMN_WIDTH, 2.9))
    _mosaic(axes[0], data["components"], cols=4, cmap="RdBu_r", symmetric=True)
    axes[0].set_title("patch projection:\nprincipal components", fontsize=8)
    sim = data["similarity"]
    g = sim.shape[0]
    _mosaic(axes[1], sim.reshape(g * g, g, g), cols=g, cmap="viridis", vmin=-1, vmax=1)
    axes[1].set_title("position embedding\nsimilarity", fontsize=8)
    digits, roll = data["digits"], data["rollout"]
    gp = math.isqrt(roll.shape[1])
    side = digits.shape[1]
    overlays = []
    for digit, r in zip(digits, roll, strict=True):
        heat = np.kron(r.reshape(gp, gp) / r.max(), np.ones((side // gp, side // gp)))
        overlays.append(np.concatenate([digit, heat], axis=1))
    _mosaic(axes[2], np.stack(overlays), cols=1, cmap="magma", vmin=0, vmax=1)
    axes[2].set_title("class token's\nattention rollout", fontsize=8)
    if paper:
        rows = report.result["data_size_comparison"]
        sizes = [r["size"] for r in rows]
        ax = axes[3]
        ax.plot(sizes, [100 * r["vit_test_accuracy"] for r in rows], "o-", label="ViT")
        ax.plot(sizes, [100 * r["cnn_test_accuracy"] for r in rows], "s-", label="deep CNN")
        ax.set_xscale("log")
        ax.set_xticks(sizes, [str(n) for n in sizes], minor=False)
        ax.set_xticks([], minor=True)
        ax.set(xlabel="training digits", ylabel="test accuracy (%)")
        ax.set_title("data size", fontsize=8)
        ax.legend(fontsize=7)
    return fig


def _mosaic(ax, images: np.ndarray, *, cols: int, cmap: str, symmetric=False, **kw) -> None:
    """``images [K, h, w]`` tiled ``cols`` to a row with one-pixel gaps, on ``ax``."""
    k, h, w = images.shape
    rows = -(-k // cols)
    canvas = np.full((rows * (h + 1) - 1, cols * (w + 1) - 1), np.nan)
    for n, image in enumerate(images):
        if symmetric:
            image = image / max(np.abs(image).max(), 1e-12)
        r, c = divmod(n, cols)
        canvas[r * (h + 1) : r * (h + 1) + h, c * (w + 1) : c * (w + 1) + w] = image
    if symmetric:
        kw = dict(vmin=-1, vmax=1)
    ax.imshow(canvas, cmap=cmap, **kw)
    ax.set_xticks([])
    ax.set_yticks([])
