"""Nearest-neighbour upsampling by two, the way up a U-Net's expanding path goes (DDPM's
``Upsample``, before its convolution), with its backward pass by hand.

Every pixel becomes a 2x2 block of copies of itself::

    y[n, 2i + a, 2j + b, c] = x[n, i, j, c]        a, b ∈ {0, 1}

Each input pixel feeds its four copies and nothing else, so its gradient is the sum of theirs
(the transpose of copying is summing: a 2x2 sum-pooling with stride 2)::

    ∂L/∂x[n, i, j, c] = Σ_{a, b} g[n, 2i + a, 2j + b, c]

The op has no parameters; it is linear, so the backward needs nothing saved.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxdl.backward import register
from jaxdl.gradcheck import normal_draws, vjp_checks
from jaxdl.validate import require_rank


def upsample(x: ArrayLike) -> jax.Array:
    """Each pixel of ``x [B, H, W, C]`` repeated into a 2x2 block: ``[B, 2H, 2W, C]``."""
    require_rank("upsample input", x, 4, "[B, H, W, C]")
    x = jnp.asarray(x)
    b, h, w, c = x.shape
    blocks = jnp.broadcast_to(x[:, :, None, :, None, :], (b, h, 2, w, 2, c))
    return blocks.reshape(b, 2 * h, 2 * w, c)


def upsample_backward(g: ArrayLike) -> tuple[jax.Array]:
    """Gradient of :func:`upsample` given ``g = ∂L/∂y [B, 2H, 2W, C]``: each 2x2 block of ``g``
    summed, ``(dx [B, H, W, C],)``."""
    g = jnp.asarray(g)
    b, h2, w2, c = g.shape
    if h2 % 2 or w2 % 2:
        raise ValueError(f"upsample: the gradient's sides must be even, got shape {g.shape}")
    return (jnp.sum(g.reshape(b, h2 // 2, 2, w2 // 2, 2, c), axis=(2, 4)),)


@jax.custom_vjp
def _rule(x: jax.Array) -> jax.Array:
    return upsample(x)


_rule.defvjp(lambda x: (upsample(x), None), lambda _, g: upsample_backward(g))


def upsample_hand(x: ArrayLike) -> jax.Array:
    """:func:`upsample` whose gradient is :func:`upsample_backward` (a ``jax.custom_vjp``
    rule)."""
    require_rank("upsample input", x, 4, "[B, H, W, C]")
    return _rule(jnp.asarray(x))


register("upsample", upsample, upsample_hand)


def gradient_checks(*, key: jax.Array) -> list:
    """Upsampling: the block sums and the rule vs ``jax.grad`` vs finite differences."""
    normal = normal_draws(key, pool=128)
    x, g = normal((2, 3, 2, 2)), normal((2, 6, 4, 2))
    return vjp_checks(
        "nn.upsample",
        upsample,
        lambda _, g_: upsample_backward(g_),
        upsample_hand,
        (x,),
        g,
    )
