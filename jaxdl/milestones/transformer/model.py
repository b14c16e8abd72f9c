"""The GPT of the Transformer chapter: its parameters, its forward pass from one set of ops, and
its whole backward pass walked by hand.

Each layer is an op of :mod:`jaxdl.nn` (embedding and tied head, layer norm, attention, GELU and
MLP): a pure forward, its hand backward beside it and a ``custom_vjp`` rule built from the two.
:data:`HAND` builds the model from the rules, so ``jax.value_and_grad`` of :func:`loss` runs the
hand math; :data:`AUTODIFF` builds it from the pure forwards for ``jax.grad`` to judge;
:func:`gpt_backward` walks the whole backward pass explicitly, layer by layer in reverse, as
llm.c's ``gpt2_backward`` does.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxdl import backward
from jaxdl.data.text import TextBatch
from jaxdl.losses import softmax_cross_entropy, softmax_cross_entropy_grad
from jaxdl.nn import attention, blocks, embedding, layer_norm, mlp
from jaxdl.nn.blocks import Blocks
from jaxdl.validate import require_positive_int

F32 = jnp.float32

# --------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------


class GPT(NamedTuple):
    """A decoder-only Transformer's parameters (no biases)."""

    wte: jax.Array  # [V, C] token embedding, tied to the output head
    wpe: jax.Array  # [T_max, C] position embedding
    blocks: Blocks  # L blocks, stacked
    ln_f: jax.Array  # [C] gain of the final layer norm


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
#: looked up by name in :mod:`jaxdl.backward`'s switch: ``embed``, ``layer_norm``,
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
    return backward.platform_choice(ENGINE_BY_PLATFORM, platform)


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
    x = blocks.stack(x, params.blocks, heads=heads, mask="causal", ops=ops)
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
    """What one block's forward pass keeps for its backward pass."""

    x: jax.Array  # [B, T, C] the residual stream entering the block
    ln_1: tuple  # layer norm 1: (x̂, r)
    attn: tuple  # attention: (input, q, k, v, p, o)
    x_mid: jax.Array  # [B, T, C] the residual stream after attention
    ln_2: tuple  # layer norm 2: (x̂, r)
    fc: jax.Array  # [B, T, 4C] MLP pre-activation


def _block_forward(x: jax.Array, w: Blocks, heads: int) -> tuple[jax.Array, _Saved]:
    """One block's forward pass (llm.c's layer loop body) and what its backward pass needs."""
    x_hat1, r1 = layer_norm.normalise(x)
    a_in = x_hat1 * w.ln_1[None, None, :]
    y, saved_attn = attention.attention_forward(a_in, w.w_qkv, w.w_attn, heads)
    x_mid = x + y
    x_hat2, r2 = layer_norm.normalise(x_mid)
    m_in = x_hat2 * w.ln_2[None, None, :]
    h = jnp.einsum("btc,cf->btf", m_in, w.w_fc)
    x_out = x_mid + jnp.einsum("btf,fc->btc", mlp.gelu(h), w.w_mlp)
    return x_out, _Saved(x, (x_hat1, r1), saved_attn[:6], x_mid, (x_hat2, r2), h)


def _block_backward(d_x: jax.Array, w: Blocks, s: _Saved) -> tuple[jax.Array, Blocks]:
    """One block's backward pass from its saved values: ``(∂L/∂x entering the block, the
    block's weight gradients)``."""
    m_in = s.ln_2[0] * w.ln_2[None, None, :]
    d_m_in, d_fc, d_mlp = mlp.mlp_backward_saved(m_in, s.fc, w.w_fc, w.w_mlp, d_x)
    d_mid, d_ln_2 = layer_norm.layer_norm_backward_saved(*s.ln_2, w.ln_2, d_m_in)
    d_mid = d_x + d_mid  # the residual: its gradient passes through, plus the branch's
    d_a_in, d_qkv, d_attn = attention.attention_backward_saved(*s.attn, w.w_qkv, w.w_attn, d_mid)
    d_in, d_ln_1 = layer_norm.layer_norm_backward_saved(*s.ln_1, w.ln_1, d_a_in)
    return d_mid + d_in, Blocks(d_ln_1, d_qkv, d_attn, d_ln_2, d_fc, d_mlp)


def gpt_backward(params: GPT, batch: TextBatch, *, heads: int) -> tuple[jax.Array, GPT]:
    """The loss and its gradient, by one explicit forward and backward walk (no autodiff).

    The forward keeps every layer's saved values; the backward starts from the cross-entropy's
    ``(softmax - onehot) / N`` and calls each layer's hand backward in reverse order. A
    residual ``x + f(x)`` passes its gradient through unchanged and adds the branch's; the tied
    token table sums the head's and the embedding's gradients.

    The blocks are walked by Python loops, as llm.c walks ``for (l = L-1; l >= 0; l--)``, so
    each block's saved values stay arrays of their own; a ``lax.scan`` would copy them into
    stacked buffers and slice them out again on every step, which the CPU step pays for.

    Returns:
      ``(loss, grads)`` with ``grads`` shaped like ``params``.
    """
    ids, targets = batch.inputs, batch.targets
    _check_ids(params, ids)
    layers = params.blocks.ln_1.shape[0]

    def block(i: int) -> Blocks:
        return jax.tree.map(lambda stacked: stacked[i], params.blocks)

    x, saved = embedding.embed(params.wte, params.wpe, ids), []
    for i in range(layers):
        x, kept = _block_forward(x, block(i), heads)
        saved.append(kept)
    x_hat_f, r_f = layer_norm.normalise(x)
    h_f = x_hat_f * params.ln_f[None, None, :]
    logits = embedding.lm_head(h_f, params.wte)
    v = logits.shape[-1]
    flat_logits, flat_targets = logits.reshape(-1, v), targets.reshape(-1)
    value = softmax_cross_entropy(flat_logits, flat_targets)

    d_logits = softmax_cross_entropy_grad(flat_logits, flat_targets).reshape(logits.shape)
    d_h_f, d_wte_head = embedding.lm_head_backward_saved(h_f, params.wte, d_logits)
    d_x, d_ln_f = layer_norm.layer_norm_backward_saved(x_hat_f, r_f, params.ln_f, d_h_f)
    d_block = [None] * layers
    for i in reversed(range(layers)):
        d_x, d_block[i] = _block_backward(d_x, block(i), saved[i])
    d_blocks = jax.tree.map(lambda *per_block: jnp.stack(per_block), *d_block)
    d_wte_embed, d_wpe = embedding.embed_backward_saved(
        params.wte.shape[0], params.wpe.shape[0], ids, d_x
    )
    return value, GPT(d_wte_head + d_wte_embed, d_wpe, d_blocks, d_ln_f)
