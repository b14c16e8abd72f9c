"""The pre-norm Transformer block, stacked: what the GPT (causal attention) and the Vision
Transformer (attention over every position) are both built from.

One block reads and writes the residual stream ``x [B, T, C]``::

    x = x + attention(layer_norm(x, ln_1))          self-attention, causal or not
    x = x + mlp(layer_norm(x, ln_2))                 the 4x MLP with GELU

The weights of ``L`` blocks are stacked on a leading axis (:class:`Blocks`), so one
:func:`jax.lax.scan` runs them all. The ops come from the switch (:mod:`jaxdl.backward`):
``ops=HAND`` runs each layer's hand backward, ``ops=AUTODIFF`` the pure forwards for
``jax.grad`` to judge. Each layer's gradient is checked by its own module
(:mod:`~jaxdl.nn.attention`, :mod:`~jaxdl.nn.layer_norm`, :mod:`~jaxdl.nn.mlp`).
"""

from __future__ import annotations

from typing import NamedTuple

import jax

from jaxdl.backward import AUTODIFF, Ops
from jaxdl.nn import attention, layer_norm, mlp


class Blocks(NamedTuple):
    """The weights of every block, stacked on a leading axis ``L`` (one ``lax.scan`` runs them)."""

    ln_1: jax.Array  # [L, C] gain of the layer norm before attention
    w_qkv: jax.Array  # [L, C, 3C] fused query, key, value projections
    w_attn: jax.Array  # [L, C, C] attention output projection
    ln_2: jax.Array  # [L, C] gain of the layer norm before the MLP
    w_fc: jax.Array  # [L, C, 4C] MLP widening
    w_mlp: jax.Array  # [L, 4C, C] MLP projection back


def stack(
    x: jax.Array, blocks: Blocks, *, heads: int, mask: attention.Mask, ops: Ops = AUTODIFF
) -> jax.Array:
    """``x [B, T, C]`` through every block of ``blocks``, in order."""

    def block(x, w: Blocks):
        a = ops.self_attention(ops.layer_norm(x, w.ln_1), w.w_qkv, w.w_attn, heads, mask=mask)
        x = x + a
        x = x + ops.mlp(ops.layer_norm(x, w.ln_2), w.w_fc, w.w_mlp)
        return x, None

    return jax.lax.scan(block, x, blocks)[0]


def attention_maps(x: jax.Array, blocks: Blocks, *, heads: int, mask: attention.Mask) -> jax.Array:
    """Every block's attention probabilities as ``x`` passes through: ``[L, B, H, T, T]``."""

    def block(x, w: Blocks):
        a = layer_norm.layer_norm(x, w.ln_1)
        maps = attention.attention_weights(a, w.w_qkv, heads, mask=mask)
        x = x + attention.self_attention(a, w.w_qkv, w.w_attn, heads, mask=mask)
        x = x + mlp.mlp(layer_norm.layer_norm(x, w.ln_2), w.w_fc, w.w_mlp)
        return x, maps

    return jax.lax.scan(block, x, blocks)[1]


__all__ = ["Blocks", "attention_maps", "stack"]
