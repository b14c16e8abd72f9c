"""SiLU, the sigmoid-weighted linear unit (Elfwing, Uchibe & Doya 2018; "swish"), the activation
of DDPM's networks, with its slope by hand.

``silu(x) = x σ(x)`` with ``σ(x) = 1 / (1 + e^{-x})``. By the product rule and
``σ' = σ (1 - σ)``::

    silu'(x) = σ(x) + x σ(x) (1 - σ(x)) = σ(x) (1 + x (1 - σ(x)))

Smooth everywhere (unlike ReLU it needs no ``assume`` away from a kink), negative for negative
inputs down to ``-0.278`` at ``x = -1.278``, and ``x`` itself for large ``x``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxdl.backward import register
from jaxdl.gradcheck import normal_draws, vjp_checks


def silu(x: ArrayLike) -> jax.Array:
    """``x σ(x)`` (elementwise)."""
    x = jnp.asarray(x)
    return x * jax.nn.sigmoid(x)


def silu_slope(x: ArrayLike) -> jax.Array:
    """``d silu / dx = σ(x) (1 + x (1 - σ(x)))`` (elementwise)."""
    x = jnp.asarray(x)
    s = jax.nn.sigmoid(x)
    return s * (1 + x * (1 - s))


def silu_backward(x: ArrayLike, g: ArrayLike) -> tuple[jax.Array]:
    """Gradient of :func:`silu` given ``g = ∂L/∂y``: ``(g * silu_slope(x),)``."""
    return (jnp.asarray(g) * silu_slope(x),)


@jax.custom_vjp
def silu_hand(x: jax.Array) -> jax.Array:
    """:func:`silu` whose gradient is :func:`silu_backward` (a ``jax.custom_vjp`` rule)."""
    return silu(x)


silu_hand.defvjp(lambda x: (silu(x), x), lambda x, g: silu_backward(x, g))

register("silu", silu, silu_hand)


def gradient_checks(*, key: jax.Array) -> list:
    """SiLU: hand formula and custom_vjp rule vs ``jax.grad`` vs finite differences."""
    normal = normal_draws(key, pool=64)
    x, g = normal((3, 7), 3.0), normal((3, 7))
    return vjp_checks("nn.silu", silu, silu_backward, silu_hand, (x,), g)
