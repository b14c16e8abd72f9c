"""Token and position embeddings, and the language-model head tied to the token embedding,
with their backward passes by hand.

A GPT reads token ids ``[B, T]`` by looking up one row of the token table ``W_te [V, C]`` per
id and adding the row of the position table ``W_pe [T_max, C]`` for its place::

    x[b, t] = W_te[ids[b, t]] + W_pe[t]

and writes its scores for the next token with the same token table, transposed (weight tying,
Press & Wolf 2017; GPT-2 and nanoGPT do it)::

    logits[b, t] = h[b, t] W_teᵀ                                   [B, T, V]

The lookup's backward is a scatter-add: each row of ``W_te`` receives the sum of the upstream
gradients of every position that read it. The tied table's gradient is the sum of the two
uses' gradients; :func:`jax.grad` adds the two rules' contributions itself.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxdl.backward import register
from jaxdl.gradcheck import normal_draws, vjp_checks
from jaxdl.nn._matmul import matmul_rows, weight_backward
from jaxdl.validate import require_rank


def _check_embed(wte: ArrayLike, wpe: ArrayLike, ids: ArrayLike) -> None:
    require_rank("token embedding", wte, 2, "[V, C]")
    require_rank("position embedding", wpe, 2, "[T_max, C]")
    require_rank("token ids", ids, 2, "[B, T]")
    if jnp.shape(wte)[1] != jnp.shape(wpe)[1]:
        raise ValueError(
            f"token embedding {jnp.shape(wte)} and position embedding {jnp.shape(wpe)} "
            "must have the same width C"
        )
    if jnp.shape(ids)[1] > jnp.shape(wpe)[0]:
        raise ValueError(
            f"token ids have {jnp.shape(ids)[1]} positions but the position embedding has "
            f"{jnp.shape(wpe)[0]} (the context length); cut the input to that length"
        )
    if not jnp.issubdtype(jnp.result_type(ids), jnp.integer):
        raise ValueError(f"token ids must be integers, got {jnp.result_type(ids)}")


def embed(wte: ArrayLike, wpe: ArrayLike, ids: ArrayLike) -> jax.Array:
    """``x[b, t] = W_te[ids[b, t]] + W_pe[t]``.

    Args:
      wte: token table ``[V, C]``.
      wpe: position table ``[T_max, C]``.
      ids: token ids ``[B, T]``, ``T <= T_max``, in ``[0, V)`` (out-of-range ids are clamped by
        the gather, as everywhere in JAX; the chapter checks its data once, on the host).

    Returns:
      ``[B, T, C]``.
    """
    _check_embed(wte, wpe, ids)
    wte, wpe, ids = jnp.asarray(wte), jnp.asarray(wpe), jnp.asarray(ids)
    return wte[ids] + wpe[None, : ids.shape[1]]


def embed_backward_saved(
    vocab: int, context: int, ids: jax.Array, g: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """``(dW_te, dW_pe)`` for tables of ``vocab`` and ``context`` rows (see :func:`embed_backward`)."""
    c = g.shape[-1]
    d_wte = jnp.zeros((vocab, c), g.dtype).at[ids.reshape(-1)].add(g.reshape(-1, c))
    d_wpe = jnp.zeros((context, c), g.dtype).at[: ids.shape[1]].set(jnp.sum(g, axis=0))
    return d_wte, d_wpe


def embed_backward(
    wte: ArrayLike, wpe: ArrayLike, ids: ArrayLike, g: ArrayLike
) -> tuple[jax.Array, jax.Array]:
    """Gradient of :func:`embed` with respect to both tables, given ``g = ∂L/∂x [B, T, C]``.

    ``x[b, t]`` is a copy of row ``ids[b, t]`` of ``W_te``, so that row's gradient is the sum of
    ``g[b, t]`` over every ``(b, t)`` that read it (a scatter-add; rows never read get zero)::

        ∂L/∂W_te[v] = Σ_{b, t : ids[b, t] = v} g[b, t]       ∂L/∂W_pe[t] = Σ_b g[b, t]

    (and zero for the positions ``t >= T`` the input does not reach). The ids are integers: they
    have no gradient.

    Returns:
      ``(dW_te [V, C], dW_pe [T_max, C])``.
    """
    _check_embed(wte, wpe, ids)
    return embed_backward_saved(
        jnp.shape(wte)[0], jnp.shape(wpe)[0], jnp.asarray(ids), jnp.asarray(g)
    )


@jax.custom_vjp
def _embed_rule(wte: jax.Array, wpe: jax.Array, ids: jax.Array) -> jax.Array:
    return embed(wte, wpe, ids)


def _embed_fwd(wte, wpe, ids):
    # The tables are kept only for their shapes (they are alive anyway: they are parameters).
    return embed(wte, wpe, ids), (wte, wpe, ids)


def _embed_bwd(saved, g):
    wte, wpe, ids = saved
    return (*embed_backward_saved(wte.shape[0], wpe.shape[0], ids, g), None)


_embed_rule.defvjp(_embed_fwd, _embed_bwd)


def embed_hand(wte: ArrayLike, wpe: ArrayLike, ids: ArrayLike) -> jax.Array:
    """:func:`embed` whose gradient is :func:`embed_backward` (a ``jax.custom_vjp`` rule)."""
    _check_embed(wte, wpe, ids)
    return _embed_rule(jnp.asarray(wte), jnp.asarray(wpe), jnp.asarray(ids))


# --------------------------------------------------------------------------------------------
# The tied language-model head
# --------------------------------------------------------------------------------------------


def _check_head(h: ArrayLike, wte: ArrayLike) -> None:
    require_rank("lm_head input", h, 3, "[B, T, C]")
    require_rank("token embedding", wte, 2, "[V, C]")
    if jnp.shape(h)[-1] != jnp.shape(wte)[1]:
        raise ValueError(
            f"lm_head: input {jnp.shape(h)} and token embedding {jnp.shape(wte)} must share C"
        )


def lm_head(h: ArrayLike, wte: ArrayLike) -> jax.Array:
    """Next-token scores ``logits = h W_teᵀ`` ``[B, T, V]`` with the token table ``[V, C]``."""
    _check_head(h, wte)
    h, wte = jnp.asarray(h), jnp.asarray(wte)
    return matmul_rows(h, wte.T)


def lm_head_backward_saved(
    h: jax.Array, wte: jax.Array, g: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """``(dh, dW_te)`` from the saved input (see :func:`lm_head_backward`)."""
    return matmul_rows(g, wte), weight_backward(g, h)


def lm_head_backward(h: ArrayLike, wte: ArrayLike, g: ArrayLike) -> tuple[jax.Array, jax.Array]:
    """Gradient of :func:`lm_head` given ``g = ∂L/∂logits [B, T, V]``::

        ∂L/∂h = g W_te            ∂L/∂W_te = Σ_positions gᵀ h          [V, C]

    Returns:
      ``(dh [B, T, C], dW_te [V, C])``: this use's share of the tied table's gradient.
    """
    _check_head(h, wte)
    return lm_head_backward_saved(jnp.asarray(h), jnp.asarray(wte), jnp.asarray(g))


@jax.custom_vjp
def _lm_head_rule(h: jax.Array, wte: jax.Array) -> jax.Array:
    return lm_head(h, wte)


_lm_head_rule.defvjp(
    lambda h, wte: (lm_head(h, wte), (h, wte)), lambda s, g: lm_head_backward_saved(*s, g)
)


def lm_head_hand(h: ArrayLike, wte: ArrayLike) -> jax.Array:
    """:func:`lm_head` whose gradient is :func:`lm_head_backward` (a ``jax.custom_vjp`` rule)."""
    _check_head(h, wte)
    return _lm_head_rule(jnp.asarray(h), jnp.asarray(wte))


register("embed", embed, embed_hand)
register("lm_head", lm_head, lm_head_hand)


def gradient_checks(*, key: jax.Array) -> list:
    """Embedding (a repeated id among them) and tied head vs ``jax.grad`` vs finite differences."""
    normal = normal_draws(key, pool=512)
    wte, wpe = normal((6, 4)), normal((5, 4))
    ids = jnp.asarray([[0, 3, 3], [5, 0, 1]])  # id 3 twice, 0 twice, 2 and 4 never
    g = normal((2, 3, 4))
    h, g_head = normal((2, 3, 4)), normal((2, 3, 6))
    return vjp_checks(
        "nn.embed",
        lambda a, b: embed(a, b, ids),
        lambda a, b, g: embed_backward(a, b, ids, g),
        lambda a, b: embed_hand(a, b, ids),
        (wte, wpe),
        g,
    ) + vjp_checks("nn.lm_head", lm_head, lm_head_backward, lm_head_hand, (h, wte), g_head)
