"""Multi-head self-attention (Vaswani et al. 2017), causal (the decoder's) or unmasked (an
encoder's, as the Vision Transformer's), with its backward pass by hand.

For an input ``x [B, T, C]``, ``H`` heads of width ``D = C / H`` and no biases (nanoGPT's
``bias=False``)::

    q, k, v = split(x W_qkv)                  W_qkv [C, 3C], each then [B, H, T, D]
    s = q kᵀ / √D                             [B, H, T, T]   scaled dot products
    s[i, j] = -∞ where j > i                  the causal mask: no position sees its future
                                              (mask="causal", the default; "none": no mask)
    p = softmax(s) over j                     each row sums to one
    o = p v                                   [B, H, T, D]   a weighted mean of the values
    y = merge(o) W_proj                       W_proj [C, C]   heads side by side, projected

``causal_self_attention`` is the pure forward, ``causal_self_attention_backward`` the backward
derived by hand (formulas in its docstring), ``causal_self_attention_hand`` the forward with
that backward as its ``jax.custom_vjp`` rule; ``attention_weights`` returns ``p``, the maps the
chapter draws. :func:`self_attention` is the same op with the mask required by name (an encoder
passes ``mask="none"``); the default stays causal, so the Transformer chapter is unchanged.
"""

from __future__ import annotations

import functools
import math
from typing import Literal

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxdl.backward import register
from jaxdl.gradcheck import normal_draws, vjp_checks
from jaxdl.nn._matmul import matmul_rows, weight_backward
from jaxdl.validate import require_rank

#: Which positions a position may read: ``"causal"`` (itself and the earlier ones) or ``"none"``
#: (every position: an encoder's attention).
Mask = Literal["causal", "none"]
MASKS: tuple[str, ...] = ("causal", "none")


def _check(
    x: ArrayLike, w_qkv: ArrayLike, w_proj: ArrayLike, heads: int, mask: str = "causal"
) -> None:
    if mask not in MASKS:
        raise ValueError(f"attention mask must be one of {MASKS}, got {mask!r}")
    require_rank("attention input", x, 3, "[B, T, C]")
    c = jnp.shape(x)[-1]
    if isinstance(heads, bool) or not isinstance(heads, int) or heads < 1 or c % heads:
        raise ValueError(f"heads must be a positive integer dividing the width {c}, got {heads!r}")
    if jnp.shape(w_qkv) != (c, 3 * c) or jnp.shape(w_proj) != (c, c):
        raise ValueError(
            f"attention: input {jnp.shape(x)} needs w_qkv ({c}, {3 * c}) and w_proj ({c}, {c}), "
            f"got {jnp.shape(w_qkv)} and {jnp.shape(w_proj)}"
        )


def _split_heads(qkv: jax.Array, heads: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``[B, T, 3C]`` -> ``q, k, v``, each ``[B, H, T, D]``."""
    b, t, c3 = qkv.shape
    parts = qkv.reshape(b, t, 3, heads, c3 // (3 * heads)).transpose(2, 0, 3, 1, 4)
    return parts[0], parts[1], parts[2]


def _merge_heads(o: jax.Array) -> jax.Array:
    """``[..., B, H, T, D]`` -> ``[..., B, T, H D]``: the heads side by side."""
    *lead, b, h, t, d = o.shape
    return jnp.swapaxes(o, -3, -2).reshape(*lead, b, t, h * d)


def _probabilities(q: jax.Array, k: jax.Array, mask: str = "causal") -> jax.Array:
    """``softmax(q kᵀ / √D)`` with the causal mask (or none), ``[B, H, T, T]``."""
    t, d = q.shape[-2], q.shape[-1]
    s = jnp.einsum("bhid,bhjd->bhij", q, k) * (1 / math.sqrt(d))
    if mask == "none":
        return jax.nn.softmax(s, axis=-1)
    causal = jnp.tril(jnp.ones((t, t), bool))
    return jax.nn.softmax(jnp.where(causal, s, -jnp.inf), axis=-1)


def attention_weights(
    x: ArrayLike, w_qkv: ArrayLike, heads: int, mask: Mask = "causal"
) -> jax.Array:
    """The attention maps ``p [B, H, T, T]``: row ``i`` says how much position ``i`` reads
    each position ``j`` (``j <= i`` under the causal mask)."""
    x, w_qkv = jnp.asarray(x), jnp.asarray(w_qkv)
    _check(x, w_qkv, jnp.zeros((x.shape[-1],) * 2, x.dtype), heads, mask)
    q, k, _ = _split_heads(matmul_rows(x, w_qkv), heads)
    return _probabilities(q, k, mask)


def causal_self_attention(
    x: ArrayLike, w_qkv: ArrayLike, w_proj: ArrayLike, heads: int, mask: Mask = "causal"
) -> jax.Array:
    """Causal multi-head self-attention, the forward pass (see the module's formulas).

    Args:
      x: ``[B, T, C]``.
      w_qkv: the fused query, key and value projections ``[C, 3C]`` (in that order).
      w_proj: the output projection ``[C, C]``.
      heads: ``H``, dividing ``C``.
      mask: ``"causal"`` (the default) or ``"none"`` (every position reads every position).

    Returns:
      ``[B, T, C]``.
    """
    _check(x, w_qkv, w_proj, heads, mask)
    x, w_qkv, w_proj = jnp.asarray(x), jnp.asarray(w_qkv), jnp.asarray(w_proj)
    q, k, v = _split_heads(matmul_rows(x, w_qkv), heads)
    o = jnp.einsum("bhij,bhjd->bhid", _probabilities(q, k, mask), v)
    return matmul_rows(_merge_heads(o), w_proj)


def attention_backward_saved(x, q, k, v, p, o, w_qkv, w_proj, g):
    """The backward pass from the saved forward values (see :func:`causal_self_attention_backward`).

    Returns ``(dx, dW_qkv, dW_proj)``.
    """
    d = q.shape[-1]
    heads = q.shape[1]
    d_wproj = weight_backward(o, g)
    b, t, c = g.shape
    d_o = jnp.swapaxes(matmul_rows(g, w_proj.T).reshape(b, t, heads, d), 1, 2)
    d_p = jnp.einsum("bhid,bhjd->bhij", d_o, v)
    d_v = jnp.einsum("bhij,bhid->bhjd", p, d_o)
    d_s = p * (d_p - jnp.sum(d_p * p, axis=-1, keepdims=True)) * (1 / math.sqrt(d))
    d_q = jnp.einsum("bhij,bhjd->bhid", d_s, k)
    d_k = jnp.einsum("bhij,bhid->bhjd", d_s, q)
    d_qkv = jnp.concatenate([_merge_heads(d_q), _merge_heads(d_k), _merge_heads(d_v)], axis=-1)
    return matmul_rows(d_qkv, w_qkv.T), weight_backward(x, d_qkv), d_wproj


def causal_self_attention_backward(
    x: ArrayLike,
    w_qkv: ArrayLike,
    w_proj: ArrayLike,
    heads: int,
    g: ArrayLike,
    mask: Mask = "causal",
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Gradient of :func:`causal_self_attention` given ``g = ∂L/∂y [B, T, C]``.

    Backwards through the forward's steps, ``Σ`` over every batch row and position::

        ∂L/∂W_proj = Σ merge(o)ᵀ g             ∂L/∂o = split(g W_projᵀ)
        ∂L/∂p = ∂L/∂o vᵀ                       ∂L/∂v = pᵀ ∂L/∂o
        ∂L/∂s_ij = p_ij (∂L/∂p_ij - Σ_k p_ik ∂L/∂p_ik)          the softmax's Jacobian
        ∂L/∂q = ∂L/∂s k / √D                   ∂L/∂k = ∂L/∂sᵀ q / √D
        ∂L/∂W_qkv = Σ xᵀ [∂L/∂q, ∂L/∂k, ∂L/∂v]  ∂L/∂x = [∂L/∂q, ∂L/∂k, ∂L/∂v] W_qkvᵀ

    A masked entry has ``p_ij = 0``, so its ``∂L/∂s_ij`` is zero: the mask needs no backward
    step of its own (nothing flows from a position to its past's queries through the future);
    without a mask the same formulas hold with every ``p_ij`` in play.

    Returns:
      ``(dx [B, T, C], dW_qkv [C, 3C], dW_proj [C, C])``.
    """
    _check(x, w_qkv, w_proj, heads, mask)
    x, w_qkv, w_proj, g = (jnp.asarray(a) for a in (x, w_qkv, w_proj, g))
    return attention_backward_saved(*attention_forward(x, w_qkv, w_proj, heads, mask)[1], g)


def attention_forward(x, w_qkv, w_proj, heads, mask="causal"):
    """The forward pass and what its backward needs: ``(y, (x, q, k, v, p, o, W_qkv, W_proj))``
    (llm.c's ``attention_forward`` keeps the same); :func:`attention_backward_saved` takes the saved
    values and ``g``."""
    q, k, v = _split_heads(matmul_rows(x, w_qkv), heads)
    p = _probabilities(q, k, mask)
    o = _merge_heads(jnp.einsum("bhij,bhjd->bhid", p, v))
    return matmul_rows(o, w_proj), (x, q, k, v, p, o, w_qkv, w_proj)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def _attention_rule(x, w_qkv, w_proj, heads, mask):
    return causal_self_attention(x, w_qkv, w_proj, heads, mask)


def _attention_fwd(x, w_qkv, w_proj, heads, mask):
    return attention_forward(x, w_qkv, w_proj, heads, mask)


def _attention_bwd(heads, mask, saved, g):
    del heads, mask  # the saved q has the heads in its shape; the saved p has the mask
    return attention_backward_saved(*saved, g)


_attention_rule.defvjp(_attention_fwd, _attention_bwd)


def causal_self_attention_hand(
    x: ArrayLike, w_qkv: ArrayLike, w_proj: ArrayLike, heads: int, mask: Mask = "causal"
) -> jax.Array:
    """:func:`causal_self_attention` whose gradient is :func:`causal_self_attention_backward`.

    The forward saves ``q, k, v``, the probabilities ``p`` and the merged heads ``o`` (llm.c
    keeps the same: ``qkv``, ``preatt``/``att`` and ``atty``).
    """
    _check(x, w_qkv, w_proj, heads, mask)
    return _attention_rule(jnp.asarray(x), jnp.asarray(w_qkv), jnp.asarray(w_proj), heads, mask)


def self_attention(
    x: ArrayLike, w_qkv: ArrayLike, w_proj: ArrayLike, heads: int, *, mask: Mask
) -> jax.Array:
    """:func:`causal_self_attention` with the mask named at the call (``"none"`` for an
    encoder)."""
    return causal_self_attention(x, w_qkv, w_proj, heads, mask)


def self_attention_hand(
    x: ArrayLike, w_qkv: ArrayLike, w_proj: ArrayLike, heads: int, *, mask: Mask
) -> jax.Array:
    """:func:`self_attention` whose gradient is :func:`causal_self_attention_backward`."""
    return causal_self_attention_hand(x, w_qkv, w_proj, heads, mask)


register("causal_self_attention", causal_self_attention, causal_self_attention_hand)
register("self_attention", self_attention, self_attention_hand)


def gradient_checks(*, key: jax.Array) -> list:
    """Attention with 2 heads over 4 positions: formula and rule vs ``jax.grad`` vs finite
    differences."""
    normal = normal_draws(key, pool=1024)
    x = normal((2, 4, 6))
    w_qkv, w_proj = normal((6, 18), 0.5), normal((6, 6), 0.5)
    g = normal((2, 4, 6))
    return vjp_checks(
        "nn.causal_self_attention",
        lambda a, b, c: causal_self_attention(a, b, c, 2),
        lambda a, b, c, g: causal_self_attention_backward(a, b, c, 2, g),
        lambda a, b, c: causal_self_attention_hand(a, b, c, 2),
        (x, w_qkv, w_proj),
        g,
    ) + vjp_checks(
        "nn.self_attention, no mask",
        lambda a, b, c: self_attention(a, b, c, 2, mask="none"),
        lambda a, b, c, g: causal_self_attention_backward(a, b, c, 2, g, mask="none"),
        lambda a, b, c: self_attention_hand(a, b, c, 2, mask="none"),
        (x, w_qkv, w_proj),
        g,
    )
