"""Inverted dropout, its hand gradient and its custom_vjp rule."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from jaxdl.backward import register


def _check_keep_prob(keep_prob: float) -> None:
    if not 0.0 < keep_prob <= 1.0:
        raise ValueError(f"keep_prob must be in (0, 1], got {keep_prob}")


def dropout_mask(shape: tuple[int, ...], keep_prob: float, *, key: jax.Array) -> jax.Array:
    """Boolean mask ``[*shape]``: each entry kept (True) with probability ``keep_prob``."""
    _check_keep_prob(keep_prob)
    return jax.random.bernoulli(key, keep_prob, shape)


def dropout(x: ArrayLike, keep_prob: float, *, key: jax.Array) -> jax.Array:
    """Inverted dropout: keep each entry with probability ``keep_prob`` and scale it by ``1/keep``.

    TFLearn's ``dropout(x, 0.8)`` means *keep* 80%. The scaling keeps the expected value, so
    nothing changes at test time (just skip the layer). Same mask as Flax's ``nnx.Dropout`` for
    the same key.

    Args:
      x: any shape.
      keep_prob: probability of keeping an entry, in ``(0, 1]``.
      key: PRNG key for the mask.

    Returns:
      ``x * mask / keep_prob``, same shape as ``x``.
    """
    x = jnp.asarray(x)
    mask = dropout_mask(x.shape, keep_prob, key=key)
    return lax.select(mask, x / jnp.asarray(keep_prob, x.dtype), jnp.zeros_like(x))


def dropout_backward(g: ArrayLike, keep_prob: float, *, key: jax.Array) -> jax.Array:
    """Gradient of :func:`dropout`: the same mask and scale, ``g * mask / keep_prob``.

    The mask is recomputed from the same key, so nothing has to be stored between passes.
    """
    return dropout(g, keep_prob, key=key)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _scale_kept(x: jax.Array, mask: jax.Array, keep_prob: float) -> jax.Array:
    return lax.select(mask, x / jnp.asarray(keep_prob, x.dtype), jnp.zeros_like(x))


def _scale_kept_fwd(x, mask, keep_prob):
    return _scale_kept(x, mask, keep_prob), mask


def _scale_kept_bwd(keep_prob, mask, g):
    # dropout_backward's formula with the saved mask (the same one its key would redraw)
    return _scale_kept(g, mask, keep_prob), None


_scale_kept.defvjp(_scale_kept_fwd, _scale_kept_bwd)


def dropout_hand(x: ArrayLike, keep_prob: float, *, key: jax.Array) -> jax.Array:
    """:func:`dropout` whose gradient is :func:`dropout_backward`: ``g * mask / keep_prob``.

    The forward keeps the boolean mask (one byte per entry) for the backward pass instead of
    redrawing it from the key.
    """
    x = jnp.asarray(x)
    return _scale_kept(x, dropout_mask(x.shape, keep_prob, key=key), keep_prob)


def gradient_checks(*, key: jax.Array) -> list:
    """Dropout: the ``dropout_backward`` formula and the custom_vjp rule vs ``jax.grad``."""
    from jaxdl.gradcheck import check_rule, normal_draws

    normal = normal_draws(key)
    x, g = normal((2, 2, 2, 13)), normal((2, 2, 2, 13))
    drop_key = jax.random.fold_in(key, 1)
    return check_rule(
        "nn.dropout",
        lambda v: jnp.sum(dropout(v, 0.8, key=drop_key) * g),
        lambda v: dropout_backward(g, 0.8, key=drop_key),
        lambda v: jnp.sum(dropout_hand(v, 0.8, key=drop_key) * g),
        x,
    )


register("dropout", dropout, dropout_hand)
