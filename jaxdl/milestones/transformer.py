"""The Transformer (Vaswani et al., 2017), decoder-only as GPT (Radford et al., 2018) made it.

A stack of blocks reads a text one character at a time and predicts the next character at every
position. Each block lets every position look back at the ones before it (causal multi-head
self-attention) and then transforms each position on its own (a 4x MLP with GELU), each step
behind a layer norm and added back onto a residual stream::

    x = W_te[ids] + W_pe[0..T)                           token and position embeddings
    for each block:  x = x + attention(layer_norm(x))
                     x = x + mlp(layer_norm(x))
    logits = layer_norm(x) W_teᵀ                          the head tied to the token table
    loss = mean over every position of -log softmax(logits)[next character]

**Every layer's backward by hand.** Each op lives in :mod:`jaxdl.nn` (embedding and tied head,
layer norm, attention, GELU and MLP) as a pure forward, its backward pass derived by hand beside
it (llm.c's ``layernorm_forward``/``layernorm_backward`` pairing) and a ``jax.custom_vjp`` rule
built from the two; the cross-entropy is :func:`jaxdl.losses.softmax_cross_entropy` over every
position. :data:`HAND` builds the model from the rules, so ``jax.value_and_grad`` of the loss runs
the hand math; :data:`AUTODIFF` builds it from the pure forwards for ``jax.grad`` to judge.
:func:`gpt_backward` also walks the whole backward pass explicitly, layer by layer in reverse,
as llm.c's ``gpt2_backward`` does; the tests hold all three equal in float64.

**The reference run** (``--paper``) is nanoGPT's CPU configuration of its README on tiny
Shakespeare: 4 layers, 4 heads, width 128, context 64, batch 12, 2000 AdamW steps (learning
rate 1e-3, 100 warm-up steps, cosine decay to 1e-4, betas (0.9, 0.99), weight decay 0.1 on the
matrices, gradient clipping at 1), no dropout, no biases: about 0.80M parameters as nanoGPT
counts them (without the position table). nanoGPT reports a validation loss of 1.88.
The run trains with the shared trainer (:func:`jaxdl.training.trainer.train`) on random windows
of the training text drawn on the device from a carried key, and reports the validation loss
both as nanoGPT's command estimates it (the mean over 20 random batches) and over 200 batches.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.typing import ArrayLike

from jaxdl.gradcheck import GradCheck, check_gradient
from jaxdl.losses import softmax_cross_entropy, softmax_cross_entropy_grad
from jaxdl.milestones import Milestone
from jaxdl.nn import attention, backward, embedding, layer_norm, mlp
from jaxdl.optim import init_train_state
from jaxdl.report import Report
from jaxdl.validate import (
    BATCH,
    LEARNING_RATE_CEILING,
    SEED,
    STEPS,
    check_limits,
    require_positive_float,
    require_positive_int,
)

MILESTONE = Milestone(
    "transformer",
    2017,
    "Vaswani et al.; Radford et al. 2018 (GPT)",
    "a GPT learns Shakespeare, every layer's backward by hand",
    month=6,
)

F32 = jnp.float32

#: nanoGPT's published validation loss for its CPU configuration (README, ``shakespeare_char``).
NANOGPT_VAL_LOSS = 1.88
#: Batches nanoGPT's CPU command averages for its loss estimates (``--eval_iters=20``).
NANOGPT_EVAL_BATCHES = 20
#: Batches of our steadier estimate.
STEADY_EVAL_BATCHES = 200


# --------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------


class Blocks(NamedTuple):
    """The weights of every block, stacked on a leading axis ``L`` (one ``lax.scan`` runs them)."""

    ln_1: jax.Array  # [L, C] gain of the layer norm before attention
    w_qkv: jax.Array  # [L, C, 3C] fused query, key, value projections
    w_attn: jax.Array  # [L, C, C] attention output projection
    ln_2: jax.Array  # [L, C] gain of the layer norm before the MLP
    w_fc: jax.Array  # [L, C, 4C] MLP widening
    w_mlp: jax.Array  # [L, 4C, C] MLP projection back


class GPT(NamedTuple):
    """A decoder-only Transformer's parameters (no biases)."""

    wte: jax.Array  # [V, C] token embedding, tied to the output head
    wpe: jax.Array  # [T_max, C] position embedding
    blocks: Blocks  # L blocks, stacked
    ln_f: jax.Array  # [C] gain of the final layer norm


class TextBatch(NamedTuple):
    """Windows of text and the same windows shifted by one character."""

    inputs: jax.Array  # [B, T] int32 character ids
    targets: jax.Array  # [B, T] int32 the next character at every position


@functools.partial(jax.jit, static_argnames=("vocab", "context", "layers", "width", "dtype"))
def init_gpt(
    *, key: jax.Array, vocab: int, context: int, layers: int, width: int, dtype=F32
) -> GPT:
    """GPT-2's initialisation, as nanoGPT's: every matrix normal with standard deviation 0.02,
    the two projections that write onto the residual stream (``w_attn``, ``w_mlp``) with
    ``0.02 / sqrt(2 L)``, layer-norm gains one."""
    for name, value in (("vocab", vocab), ("context", context), ("layers", layers)):
        require_positive_int(name, value)
    require_positive_int("width", width)
    k = iter(jax.random.split(key, 6))
    small = 0.02 / math.sqrt(2 * layers)

    def normal(shape, std):
        return std * jax.random.normal(next(k), shape, dtype)

    c, n = width, layers
    return GPT(
        wte=normal((vocab, c), 0.02),
        wpe=normal((context, c), 0.02),
        blocks=Blocks(
            ln_1=jnp.ones((n, c), dtype),
            w_qkv=normal((n, c, 3 * c), 0.02),
            w_attn=normal((n, c, c), small),
            ln_2=jnp.ones((n, c), dtype),
            w_fc=normal((n, c, 4 * c), 0.02),
            w_mlp=normal((n, 4 * c, c), small),
        ),
        ln_f=jnp.ones((c,), dtype),
    )


def count_parameters(params: GPT, *, with_positions: bool = False) -> int:
    """Number of parameters; like nanoGPT's count, without the position table by default (the
    token table counts once: the head reuses it)."""
    total = sum(x.size for x in jax.tree.leaves(params))
    return total if with_positions else total - params.wpe.size


# --------------------------------------------------------------------------------------------
# The model, from one set of ops
# --------------------------------------------------------------------------------------------


#: The pure forwards: ``jax.grad`` differentiates them by autodiff (the reference). The ops are
#: looked up by name in :mod:`jaxdl.nn.backward`'s switch: ``embed``, ``layer_norm``,
#: ``causal_self_attention``, ``mlp``, ``lm_head``, ``softmax_cross_entropy``.
AUTODIFF = backward.AUTODIFF
#: The same forwards with the hand backward passes as ``custom_vjp`` rules.
HAND = backward.HAND
ENGINES = ("hand", "autodiff", "gpt_backward")
#: The default engine per JAX platform, chosen by ``benchmarks/transformer_speed.py`` (which
#: times both train steps); a platform not listed keeps the autodiff reference.
ENGINE_BY_PLATFORM = {"cpu": "gpt_backward"}


def default_engine(platform: str | None = None) -> str:
    """The engine to train with on ``platform`` (default: JAX's default backend)."""
    return ENGINE_BY_PLATFORM.get(platform or jax.default_backend(), "autodiff")


def ops(engine: str) -> backward.Ops:
    """:data:`HAND` for ``"hand"``, :data:`AUTODIFF` for ``"autodiff"``."""
    if engine in ("hand", "autodiff"):
        return backward.ops(engine)
    raise ValueError(f"engine must be 'hand' or 'autodiff' here, got {engine!r}")


def _check_ids(params: GPT, ids: jax.Array) -> None:
    if jnp.ndim(ids) != 2:
        raise ValueError(f"token ids must be [B, T], got shape {jnp.shape(ids)}")
    if jnp.shape(ids)[1] > params.wpe.shape[0]:
        raise ValueError(
            f"{jnp.shape(ids)[1]} positions exceed the model's context {params.wpe.shape[0]}"
        )


def forward(params: GPT, ids: jax.Array, *, heads: int, ops: backward.Ops = AUTODIFF) -> jax.Array:
    """Next-character logits ``[B, T, V]`` for token ids ``[B, T]``.

    Args:
      params: the model.
      ids: ``[B, T]`` int, ``T`` at most the context length.
      heads: attention heads per block.
      ops: :data:`AUTODIFF` or :data:`HAND` (same values; different backward passes).
    """
    _check_ids(params, ids)
    x = ops.embed(params.wte, params.wpe, ids)

    def block(x, w: Blocks):
        x = x + ops.causal_self_attention(ops.layer_norm(x, w.ln_1), w.w_qkv, w.w_attn, heads)
        x = x + ops.mlp(ops.layer_norm(x, w.ln_2), w.w_fc, w.w_mlp)
        return x, None

    x, _ = jax.lax.scan(block, x, params.blocks)
    return ops.lm_head(ops.layer_norm(x, params.ln_f), params.wte)


def loss(params: GPT, batch: TextBatch, *, heads: int, ops: backward.Ops = AUTODIFF) -> jax.Array:
    """Mean cross-entropy of the next character over every position of every window (nats)."""
    logits = forward(params, batch.inputs, heads=heads, ops=ops)
    v = logits.shape[-1]
    return ops.softmax_cross_entropy(logits.reshape(-1, v), batch.targets.reshape(-1))


@functools.cache
def loss_function(heads: int, engine: str) -> Callable[[GPT, TextBatch], jax.Array]:
    """``loss(params, batch)`` for ``heads`` and ``engine``, one function object per pair (so
    the trainer's compiled programs are shared by every run of that shape).

    Engines: ``"hand"`` chains the layers' ``custom_vjp`` rules, ``"autodiff"`` differentiates
    the pure forwards, ``"gpt_backward"`` makes the whole loss one ``custom_vjp`` rule whose
    forward pass runs :func:`gpt_backward` (the loss and every gradient, by hand, in one walk).
    """
    if engine == "gpt_backward":
        return _walked_loss(heads)
    chosen = ops(engine)

    def loss_fn(params: GPT, batch: TextBatch) -> jax.Array:
        return loss(params, batch, heads=heads, ops=chosen)

    return loss_fn


@functools.cache
def _walked_loss(heads: int) -> Callable[[GPT, TextBatch], jax.Array]:
    @jax.custom_vjp
    def loss_fn(params: GPT, batch: TextBatch) -> jax.Array:
        return loss(params, batch, heads=heads)

    def loss_fwd(params, batch):
        return gpt_backward(params, batch, heads=heads)  # (value, grads as the residual)

    def loss_bwd(grads, g):
        return jax.tree.map(lambda x: g * x, grads), None

    loss_fn.defvjp(loss_fwd, loss_bwd)
    return loss_fn


# --------------------------------------------------------------------------------------------
# The whole backward pass, layer by layer (llm.c's gpt2_backward)
# --------------------------------------------------------------------------------------------


class _Saved(NamedTuple):
    """What one block's forward pass keeps for its backward pass (stacked over blocks)."""

    x: jax.Array  # [B, T, C] the residual stream entering the block
    ln_1: tuple  # layer norm 1: (x̂, r)
    attn: tuple  # attention: (input, q, k, v, p, o)
    x_mid: jax.Array  # [B, T, C] the residual stream after attention
    ln_2: tuple  # layer norm 2: (x̂, r)
    fc: jax.Array  # [B, T, 4C] MLP pre-activation


def gpt_backward(params: GPT, batch: TextBatch, *, heads: int) -> tuple[jax.Array, GPT]:
    """The loss and its gradient, by one explicit forward and backward walk (no autodiff).

    The forward keeps every layer's saved values; the backward starts from the cross-entropy's
    ``(softmax - onehot) / N`` and calls each layer's hand backward in reverse order. A
    residual ``x + f(x)`` passes its gradient through unchanged and adds the branch's; the tied
    token table sums the head's and the embedding's gradients.

    Returns:
      ``(loss, grads)`` with ``grads`` shaped like ``params``.
    """
    ids, targets = batch.inputs, batch.targets
    _check_ids(params, ids)
    x0 = embedding.embed(params.wte, params.wpe, ids)

    def block_forward(x, w: Blocks):
        x_hat1, r1 = layer_norm._normalise(x)
        a_in = x_hat1 * w.ln_1[None, None, :]
        y, saved_attn = attention._forward_saved(a_in, w.w_qkv, w.w_attn, heads)
        x_mid = x + y
        x_hat2, r2 = layer_norm._normalise(x_mid)
        m_in = x_hat2 * w.ln_2[None, None, :]
        h = jnp.einsum("btc,cf->btf", m_in, w.w_fc)
        x_out = x_mid + jnp.einsum("btf,fc->btc", mlp.gelu(h), w.w_mlp)
        return x_out, _Saved(x, (x_hat1, r1), saved_attn[:6], x_mid, (x_hat2, r2), h)

    x, saved = jax.lax.scan(block_forward, x0, params.blocks)
    x_hat_f, r_f = layer_norm._normalise(x)
    h_f = x_hat_f * params.ln_f[None, None, :]
    logits = embedding.lm_head(h_f, params.wte)
    v = logits.shape[-1]
    flat_logits, flat_targets = logits.reshape(-1, v), targets.reshape(-1)
    value = softmax_cross_entropy(flat_logits, flat_targets)

    d_logits = softmax_cross_entropy_grad(flat_logits, flat_targets).reshape(logits.shape)
    d_h_f, d_wte_head = embedding.lm_head_backward(h_f, params.wte, d_logits)
    d_x, d_ln_f = layer_norm.layer_norm_backward(x_hat_f, r_f, params.ln_f, d_h_f)

    def block_backward(d_x, inputs):
        w, s = inputs
        m_in = s.ln_2[0] * w.ln_2[None, None, :]
        d_m_in, d_fc, d_mlp = mlp.mlp_backward(m_in, s.fc, w.w_fc, w.w_mlp, d_x)
        d_mid, d_ln_2 = layer_norm.layer_norm_backward(*s.ln_2, w.ln_2, d_m_in)
        d_mid = d_x + d_mid  # the residual: its gradient passes through, plus the branch's
        d_a_in, d_qkv, d_attn = attention.attention_backward(*s.attn, w.w_qkv, w.w_attn, d_mid)
        d_in, d_ln_1 = layer_norm.layer_norm_backward(*s.ln_1, w.ln_1, d_a_in)
        grads = Blocks(d_ln_1, d_qkv, d_attn, d_ln_2, d_fc, d_mlp)
        return d_mid + d_in, grads

    d_x0, d_blocks = jax.lax.scan(block_backward, d_x, (params.blocks, saved), reverse=True)
    d_wte_embed, d_wpe = embedding.embed_backward(
        params.wte.shape[0], params.wpe.shape[0], ids, d_x0
    )
    return value, GPT(d_wte_head + d_wte_embed, d_wpe, d_blocks, d_ln_f)


# --------------------------------------------------------------------------------------------
# Data on the device: random windows, as nanoGPT's get_batch draws them
# --------------------------------------------------------------------------------------------


def random_windows(
    data: jax.Array,
    key: jax.Array,
    *,
    batch: int,
    context: int,
    start: ArrayLike = 0,
    stop: ArrayLike | None = None,
) -> TextBatch:
    """``batch`` windows of ``context`` characters at uniform random starts, and the same
    windows one character on (the targets).

    The windows lie in ``data[start:stop]`` (default: all of it): their first character is drawn
    from ``[start, stop - context)``, as nanoGPT's ``get_batch`` draws from
    ``[0, len(data) - context)``. ``start`` and ``stop`` may be traced, so the training and the
    validation part of one text share one compiled program.
    """
    stop = data.shape[0] if stop is None else stop
    first = jax.random.randint(key, (batch,), start, stop - context)
    index = first[:, None] + jnp.arange(context)[None, :]
    return TextBatch(data[index], data[index + 1])


@functools.cache
def _window_feed(batch: int, context: int) -> Callable:
    def next_batch(state):
        key, data = state
        key, k_batch = jax.random.split(key)
        return (key, data), random_windows(data, k_batch, batch=batch, context=context)

    return next_batch


def window_feed(data: jax.Array, *, key: jax.Array, batch: int, context: int):
    """A :class:`~jaxdl.training.trainer.Feed` of :func:`random_windows`: the state carried from
    step to step is ``(key, data)``; one key is split off per step."""
    from jaxdl.training.trainer import Feed

    return Feed((key, jnp.asarray(data, jnp.int32)), _window_feed(batch, context))


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
    ``estimate_loss``; ``start`` and ``stop`` are traced: one program for both parts)."""
    stop = data.shape[0] if stop is None else stop

    def one(_, k):
        windows = random_windows(data, k, batch=batch, context=context, start=start, stop=stop)
        return None, loss(params, windows, heads=heads)

    return jnp.mean(jax.lax.scan(one, None, jax.random.split(key, batches))[1])


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


# --------------------------------------------------------------------------------------------
# Sampling
# --------------------------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnames=("heads", "length", "top_k"))
def _sample(params, prompt, key, temperature, *, heads, length, top_k):
    context = params.wpe.shape[0]
    n = prompt.shape[0]
    buffer = jnp.zeros((n + length,), jnp.int32).at[:n].set(prompt)

    def step(carry, k):
        buffer, pos = carry  # pos: the index of the character to write
        start = jnp.maximum(pos - context, 0)
        window = jax.lax.dynamic_slice(buffer, (start,), (min(context, n + length),))
        logits = forward(params, window[None, :], heads=heads)[0, pos - 1 - start]
        logits = logits / temperature
        if top_k is not None and top_k < logits.shape[0]:
            kth = jax.lax.top_k(logits, top_k)[0][-1]
            logits = jnp.where(logits < kth, -jnp.inf, logits)
        char = jax.random.categorical(k, logits).astype(jnp.int32)
        return (buffer.at[pos].set(char), pos + 1), None

    (buffer, _), _ = jax.lax.scan(step, (buffer, jnp.int32(n)), jax.random.split(key, length))
    return buffer[n:]


def sample(
    params: GPT,
    prompt: np.ndarray,
    *,
    key: jax.Array,
    heads: int,
    length: int,
    temperature: float = 0.8,
    top_k: int | None = 200,
) -> np.ndarray:
    """``length`` character ids drawn one at a time after ``prompt`` (ids, at least one).

    Each step runs the model over the last ``context`` characters and draws the next from
    ``softmax(logits / temperature)`` restricted to the ``top_k`` likeliest (nanoGPT's
    ``sample.py`` defaults: 0.8 and 200). Seeded by ``key``: the same key gives the same text.
    The whole generation is one compiled ``lax.scan`` over a fixed-size buffer (no key-value
    cache: at this context the full window costs little; see the chapter).
    """
    require_positive_int("length", length)
    require_positive_float("temperature", temperature)
    if top_k is not None:
        require_positive_int("top_k", top_k)
    prompt = np.asarray(prompt, np.int32).reshape(-1)
    if prompt.size == 0:
        raise ValueError("the prompt must hold at least one character")
    if prompt.size > params.wpe.shape[0]:
        prompt = prompt[-params.wpe.shape[0] :]
    out = _sample(
        params,
        jnp.asarray(prompt),
        key,
        jnp.asarray(temperature, params.wte.dtype),
        heads=heads,
        length=length,
        top_k=top_k,
    )
    return np.asarray(out)


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


class CharData(NamedTuple):
    """A text as character ids, split as nanoGPT splits it."""

    chars: object  # jaxdl.data.text.Characters, the vocabulary
    train: np.ndarray  # [N_train] int32
    validation: np.ndarray  # [N_val] int32
    source: str  # "tiny Shakespeare" or the file's path


def load_text(path: str | None, *, context: int) -> CharData:
    """Tiny Shakespeare (``path=None``) or a UTF-8 file, as ids split 90/10.

    Raises:
      ValueError: the file is refused by :func:`jaxdl.data.text.read_text`, or either split is
        too short for one window of ``context + 1`` characters.
    """
    from jaxdl.data import text as text_data

    if path is None:
        content, source = text_data.shakespeare(), "tiny Shakespeare"
    else:
        content = text_data.read_text(path, min_chars=max(text_data.MIN_TEXT_CHARS, 0))
        source = str(path)
    chars = text_data.Characters.of(content)
    if len(chars) < 2:
        raise ValueError(
            f"text {source!r} is one character repeated: there is nothing to predict; give a "
            "text of at least two different characters"
        )
    train, validation = text_data.split_train_validation(chars.encode(content))
    if min(len(train), len(validation)) <= context + 1:
        need = math.ceil((context + 2) / 0.1)
        raise ValueError(
            f"text {source!r} has {len(content)} characters: its 10% validation part is "
            f"{len(validation)}, too short for a context of {context}; give at least {need} "
            "characters or a smaller --context"
        )
    return CharData(chars, train, validation, source)


class Trained(NamedTuple):
    """A training run's outcome."""

    params: GPT
    losses: np.ndarray  # [steps] training loss of every step's batch
    evals: dict  # {"step": [...], "train": [...], "val": [...]}: estimates along the way
    seconds: float  # wall time of the training steps (evaluations excluded)


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
    a checkpoint (:mod:`jaxdl.training.checkpoints`: written atomically, checksummed, the newest
    two kept) is saved after each of those chunks; ``resume`` continues from the newest good one,
    to the parameters of an uninterrupted run, and refuses one whose settings differ.
    """
    from jaxdl.training.trainer import Progress, train

    k_init, k_feed, k_eval = jax.random.split(key, 3)
    params = init_gpt(
        key=k_init, vocab=len(data.chars), context=context, layers=layers, width=width
    )
    optimizer = nanogpt_adamw(
        learning_rate,
        steps=steps,
        warmup=min(100, steps // 20),
        min_learning_rate=learning_rate / 10,
    )
    train_ids = jnp.asarray(data.train)
    whole = jnp.asarray(np.concatenate([data.train, data.validation]))
    n_train = len(data.train)
    feed = window_feed(train_ids, key=k_feed, batch=batch, context=context)
    every = eval_every or steps
    settings = dict(
        text=data.source,
        steps=steps,
        batch=batch,
        context=context,
        layers=layers,
        heads=heads,
        width=width,
        learning_rate=learning_rate,
        eval_every=every,
        key=np.asarray(jax.random.key_data(key)).tolist(),
    )
    initial = init_train_state(params, optimizer)
    evals = {"step": [], "train": [], "val": []}
    if resume:
        initial, feed_key, evals = _restore(run_dir, initial, k_feed, settings)
        feed = feed._replace(state=(feed_key, train_ids))

    def evaluate(p, done):
        k = jax.random.fold_in(k_eval, done)
        kw = dict(heads=heads, batches=eval_batches, batch=batch, context=context)
        evals["step"].append(done)
        evals["train"].append(float(estimate_loss(p, whole, k, 0, n_train, **kw)))
        evals["val"].append(float(estimate_loss(p, whole, k, n_train, len(whole), **kw)))

    eval_seconds = 0.0

    def after_chunk(state, feed_state, _):
        nonlocal eval_seconds
        done = int(state.step)
        if done % every == 0 or done == steps:
            t = time.perf_counter()
            evaluate(state.params, done)
            eval_seconds += time.perf_counter() - t
        if run_dir is not None:
            _save(run_dir, state, feed_state[0], evals, settings)

    if not evals["step"]:
        evaluate(params, 0)
    remaining = steps - int(initial.step)
    if remaining <= 0:
        return Trained(initial.params, np.zeros((0,), np.float32), evals, 0.0)
    begin = time.perf_counter()
    trained = train(
        loss_function(heads, engine),
        initial,
        optimizer,
        feed,
        steps=remaining,
        chunk_steps=every,
        progress=Progress("GPT on " + data.source, "tok", batch * context) if progress else None,
        hooks=(after_chunk,),
    )
    seconds = time.perf_counter() - begin - eval_seconds
    return Trained(trained.state.params, trained.losses, evals, seconds)


def _save(run_dir, state, feed_key, evals, settings) -> None:
    from jaxdl.training.checkpoints import Checkpoints

    done = int(state.step)
    tree = {"train": state, "feed_key": jax.random.key_data(feed_key)}
    meta = {"epoch": done, "settings": settings, "evals": evals}
    Checkpoints(run_dir).save(done, tree, state.params, meta)


def _restore(run_dir, initial, feed_key, settings):
    """``(state, feed key, evals)`` from the newest good checkpoint in ``run_dir``."""
    import json

    from jaxdl.training.checkpoints import Checkpoints, decode

    checkpoints = Checkpoints(run_dir)
    epoch, files, _ = checkpoints.newest_good()
    meta = json.loads(files["meta.json"])
    if meta.get("settings") != settings:
        changed = sorted(k for k in settings if meta.get("settings", {}).get(k) != settings[k])
        raise ValueError(
            f"the run in {run_dir} was made with other settings ({', '.join(changed)}); "
            "resume it with its own settings, or choose another --out"
        )
    like = {"train": initial, "feed_key": jax.random.key_data(feed_key)}
    restored = decode(files, like, initial.params, name=str(checkpoints.root / str(epoch)))
    state = restored.state["train"]
    return state, jax.random.wrap_key_data(restored.state["feed_key"]), meta["evals"]


# --------------------------------------------------------------------------------------------
# The chapter's interface
# --------------------------------------------------------------------------------------------

#: nanoGPT's CPU configuration (its README), the reference run's settings.
PAPER = dict(steps=2000, batch=12, context=64, layers=4, heads=4, width=128, learning_rate=1e-3)


#: The smallest softmax temperature: logits of order 10 divided by it stay far from float32's
#: overflow (a subnormal temperature made every draw degenerate, silently).
MIN_TEMPERATURE = 1e-6


@dataclasses.dataclass(frozen=True)
class Config:
    """A character-level GPT on tiny Shakespeare (or ``--text PATH``)."""

    steps: int = dataclasses.field(
        default=200, metadata={"bounds": STEPS, "help": "optimizer steps"}
    )
    batch: int = dataclasses.field(
        default=16, metadata={"bounds": BATCH, "help": "windows per step"}
    )
    context: int = dataclasses.field(
        default=32,
        metadata={"bounds": (1, 4096), "help": "characters per window (the context length)"},
    )
    layers: int = dataclasses.field(
        default=2, metadata={"bounds": (1, 64), "help": "Transformer blocks"}
    )
    heads: int = dataclasses.field(
        default=4, metadata={"bounds": (1, 64), "help": "attention heads per block"}
    )
    width: int = dataclasses.field(
        default=64, metadata={"bounds": (1, 2048), "help": "embedding width C"}
    )
    learning_rate: float = dataclasses.field(
        default=2e-3,
        metadata={
            "ceiling": LEARNING_RATE_CEILING,
            "help": "AdamW peak learning rate",
            "flag": "--lr",
        },
    )
    engine: Literal["default", "hand", "gpt_backward", "autodiff"] = dataclasses.field(
        default="default",
        metadata={
            "help": "backward pass: the layers' hand rules chained by jax.grad, the whole "
            "backward walked by hand, autodiff, or the platform's default"
        },
    )
    seed: int = dataclasses.field(default=0, metadata={"bounds": SEED, "help": "PRNG seed"})
    text: str | None = dataclasses.field(
        default=None,
        metadata={
            "help": "train on this UTF-8 text file instead of tiny Shakespeare",
            "metavar": "PATH",
        },
    )
    paper: bool = dataclasses.field(
        default=False,
        metadata={
            "help": "nanoGPT's CPU run: 4 layers, 4 heads, width 128, context 64, batch 12, "
            "2000 steps (overrides those options; a few minutes)"
        },
    )
    out: str | None = dataclasses.field(
        default=None,
        metadata={
            "help": "save a checkpoint to this directory after every evaluation (every 250 "
            "steps with --paper)",
            "metavar": "DIR",
        },
    )
    resume: bool = dataclasses.field(
        default=False,
        metadata={"help": "continue the run saved in --out from its newest good checkpoint"},
    )
    sample: bool = dataclasses.field(
        default=False, metadata={"help": "generate text after training"}
    )
    prompt: str = dataclasses.field(
        default="\n", metadata={"help": "with --sample: the text to continue"}
    )
    sample_length: int = dataclasses.field(
        default=300,
        metadata={"bounds": (1, 100_000), "help": "with --sample: characters to generate"},
    )
    temperature: float = dataclasses.field(
        default=0.8, metadata={"help": "with --sample: softmax temperature"}
    )
    top_k: int = dataclasses.field(
        default=200,
        metadata={
            "bounds": (1, 100_000),
            "help": "with --sample: draw among the k likeliest characters",
        },
    )

    def __post_init__(self):
        check_limits(self)
        if self.width % self.heads:
            raise ValueError(f"heads ({self.heads}) must divide width ({self.width})")
        require_positive_float("learning rate", self.learning_rate)
        require_positive_float("temperature", self.temperature)
        if self.temperature < MIN_TEMPERATURE:  # logits / temperature would overflow
            raise ValueError(
                f"temperature must be at least {MIN_TEMPERATURE:g} (below, the logits divided by "
                f"it overflow; --top-k 1 draws the likeliest character), got {self.temperature!r}"
            )
        if not self.prompt:
            raise ValueError("prompt must hold at least one character")
        if self.prompt != "\n" and not self.sample:
            raise ValueError("prompt is only used with sample (--prompt needs --sample)")
        if self.resume and self.out is None:
            raise ValueError("--resume needs --out, the directory of the run to continue")

    def settings(self) -> dict:
        """The model and training settings, nanoGPT's when ``paper`` is set."""
        names = ("steps", "batch", "context", "layers", "heads", "width", "learning_rate")
        chosen = {n: getattr(self, n) for n in names}
        return {**chosen, **PAPER} if self.paper else chosen


@functools.partial(jax.jit, static_argnums=(1,))
def _tiny_gpt(key: jax.Array, dtype) -> tuple[GPT, TextBatch]:
    k_p, k_g, k_ids = jax.random.split(key, 3)
    params = init_gpt(key=k_p, vocab=7, context=5, layers=2, width=8, dtype=dtype)
    # Gains away from one and larger weights, so no term of the gradient is negligible.
    params = jax.tree.map(
        lambda x, k: x + 0.3 * jax.random.normal(k, x.shape, dtype) if x.ndim != 3 else 10 * x,
        params,
        jax.tree.unflatten(jax.tree.structure(params), list(jax.random.split(k_g, 9))),
    )
    ids = jax.random.randint(k_ids, (2, 6), 0, 7)
    return params, TextBatch(ids[:, :5], ids[:, 1:])


def model_checks(*, key: jax.Array, walk: bool = True) -> list[GradCheck]:
    """The whole model: the hand engine (``jax.grad`` through the rules) and, with ``walk``, the
    explicit :func:`gpt_backward`, vs ``jax.grad`` of the pure model vs finite differences."""
    params, batch = _tiny_gpt(key, jnp.result_type(float))

    def reference(p):
        return loss(p, batch, heads=2)

    checks = [
        check_gradient(
            "transformer: whole GPT, hand rules",
            reference,
            jax.grad(lambda p: loss(p, batch, heads=2, ops=HAND)),
            params,
            key=key,
        )
    ]
    if walk:
        checks.append(
            check_gradient(
                "transformer: whole GPT, gpt_backward",
                reference,
                lambda p: gpt_backward(p, batch, heads=2)[1],
                params,
                key=key,
            )
        )
    return checks


def gradient_checks(*, key: jax.Array) -> list[GradCheck]:
    """The whole model: each engine's backward vs ``jax.grad`` vs finite differences. Every
    layer's own rule (embedding, layer norm, attention, GELU, MLP, tied head) is checked by its
    :mod:`jaxdl.nn` module, which ``jaxdl check`` runs too."""
    return model_checks(key=key)


def _engine(config: Config) -> str:
    return default_engine() if config.engine == "default" else config.engine


def run(config: Config = Config()) -> Report:
    """Train the GPT (a small one by default; nanoGPT's with ``paper``), report its losses."""
    s = config.settings()
    key = jax.random.key(config.seed)
    k_train, k_sample, k_check = jax.random.split(key, 3)
    data = load_text(config.text, context=s["context"])  # (before --out is made)
    prompt = data.chars.encode(config.prompt) if config.sample else None  # refused before work
    if config.out is not None:
        from jaxdl.training import rundir
        from jaxdl.training.checkpoints import has_checkpoints
        from jaxdl.validate import writable_directory

        writable_directory(config.out, option="--out")
        rundir.acquire(config.out)  # one writer per run directory (issue 23)
        if has_checkpoints(config.out) and not config.resume:
            raise ValueError(
                f"--out {config.out!r} already holds a run; add --resume to continue it, or "
                "choose another directory"
            )
    engine = _engine(config)
    trained = train_gpt(
        data,
        key=k_train,
        engine=engine,
        eval_every=250 if config.paper else s["steps"],
        progress=config.paper,
        run_dir=config.out,
        resume=config.resume,
        **s,
    )
    val_20 = trained.evals["val"][-1]  # nanoGPT's estimate: 20 random batches at the end
    tokens = len(trained.losses) * s["batch"] * s["context"]
    result = {
        "text": data.source,
        "vocabulary": len(data.chars),
        "parameters": count_parameters(trained.params),
        "engine": engine,
        "uniform_loss": math.log(len(data.chars)),
        "final_train_loss": float(np.mean(trained.losses[-20:])),
        "val_loss": val_20,
        "train_seconds": trained.seconds,
        "tokens_per_second": tokens / trained.seconds if trained.seconds else None,
        "evals": trained.evals,
    }
    if config.paper:
        kw = dict(heads=s["heads"], batch=s["batch"], context=s["context"])
        k_val = jax.random.fold_in(k_train, 1)
        whole = jnp.asarray(np.concatenate([data.train, data.validation]))
        val_200 = float(
            estimate_loss(
                trained.params, whole, k_val, len(data.train), len(whole), batches=200, **kw
            )
        )
        result["val_loss_200"] = val_200
        result["nanogpt"] = {
            "val_loss": NANOGPT_VAL_LOSS,
            "estimate": "mean over 20 random validation batches",
            "time": "about 3 minutes on a laptop CPU (its README)",
        }
        headline = (
            f"nanoGPT's CPU run: val loss {val_20:.3f} (20 batches; nanoGPT 1.88), "
            f"{val_200:.3f} over 200, {trained.seconds:.0f} s"
        )
    else:
        headline = (
            f"{s['layers']}-block GPT, {s['steps']} steps on {data.source}: val loss "
            f"{math.log(len(data.chars)):.2f} (uniform guess) -> {val_20:.2f}; "
            "hand backward = jax.grad"
        )
    if config.sample:
        ids = sample(
            trained.params,
            prompt,
            key=k_sample,
            heads=s["heads"],
            length=config.sample_length,
            temperature=config.temperature,
            top_k=config.top_k,
        )
        result["sample"] = config.prompt + data.chars.decode(ids)
    line = _first_line(data)
    maps = attention_maps(trained.params, data.chars.encode(line), heads=s["heads"])
    return Report(
        milestone="transformer",
        config=config,
        result=result,
        checks=model_checks(key=k_check, walk=False),
        headline=headline,
        plot_data={
            "losses": trained.losses,
            "evals": trained.evals,
            "line": line,
            "maps": maps,
            "params": trained.params,
        },
    )


def _first_line(data: CharData, limit: int = 40) -> str:
    """A line of the validation text for the attention maps (at most ``limit`` characters)."""
    text = data.chars.decode(data.validation[:2000])
    lines = [ln for ln in text.split("\n") if len(ln) >= 12]
    return (lines[1] if len(lines) > 1 else text)[:limit]


def attention_maps(params: GPT, ids: np.ndarray, *, heads: int) -> np.ndarray:
    """Every block's attention maps over one line: ``[L, H, T, T]`` (``T`` at most the
    context)."""
    ids = jnp.asarray(ids[: params.wpe.shape[0]], jnp.int32)[None, :]
    return np.asarray(_attention_maps(params, ids, heads=heads))


@functools.partial(jax.jit, static_argnames=("heads",))
def _attention_maps(params: GPT, ids: jax.Array, *, heads: int) -> jax.Array:
    x = embedding.embed(params.wte, params.wpe, ids)

    def block(x, w: Blocks):
        a_in = layer_norm.layer_norm(x, w.ln_1)
        maps = attention.attention_weights(a_in, w.w_qkv, heads)[0]
        x = x + attention.causal_self_attention(a_in, w.w_qkv, w.w_attn, heads)
        x = x + mlp.mlp(layer_norm.layer_norm(x, w.ln_2), w.w_fc, w.w_mlp)
        return x, maps

    return jax.lax.scan(block, x, params.blocks)[1]


def plot(report: Report):
    """Training loss per step with the estimates along the way (and nanoGPT's 1.88 for the
    reference run), beside one head's attention map over a line of the text."""
    from jaxdl.plotting import new_figure

    fig, (ax, ax_map) = new_figure(2, size=(7.4, 3.6))
    losses, evals = report.plot_data["losses"], report.plot_data["evals"]
    ax.plot(np.arange(1, len(losses) + 1), losses, color="0.7", lw=0.6, label="train (batch)")
    if evals["step"]:
        ax.plot(evals["step"], evals["train"], "o-", ms=3, color="tab:blue", label="train (est.)")
        ax.plot(evals["step"], evals["val"], "o-", ms=3, color="tab:orange", label="val (est.)")
    if report.config.paper:
        ax.axhline(NANOGPT_VAL_LOSS, ls="--", color="0.3", label="nanoGPT val 1.88")
    ax.set(xlabel="step", ylabel="cross-entropy (nats)", title="loss", ylim=(1.0, None))
    ax.legend(fontsize=8)
    draw_attention(ax_map, report.plot_data["maps"][-1, 0], report.plot_data["line"])
    ax_map.set_title("last block, head 0", fontsize=9)
    return fig


def draw_attention(ax, weights: np.ndarray, line: str) -> None:
    """One attention map ``[T, T]`` on ``ax``, the characters of ``line`` on both axes."""
    t = weights.shape[0]
    ax.imshow(weights, cmap="Blues", vmin=0, vmax=1)
    labels = [repr(c)[1:-1] if c != " " else "␣" for c in line[:t]]
    ax.set_xticks(range(t), labels, fontsize=5, family="monospace")
    ax.set_yticks(range(t), labels, fontsize=5, family="monospace")
    ax.set(xlabel="reads position", ylabel="at position")
