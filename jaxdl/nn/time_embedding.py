"""The sinusoidal embedding of a diffusion step (the Transformer's position encoding, Vaswani et
al. 2017, as DDPM feeds ``t`` to its network), with its backward pass by hand.

For a step ``t`` (a real number; the steps are its integer values) and ``K = C / 2``
frequencies ``ω_k = 10000^{-k / (K - 1)}``, ``k = 0, ..., K - 1``, from 1 down to 1/10000::

    e(t) = [sin(ω_0 t), ..., sin(ω_{K-1} t), cos(ω_0 t), ..., cos(ω_{K-1} t)]      [C]

Nearby steps get nearby vectors, every step a distinct one, and the network reads ``t`` at
every scale at once. The embedding has no parameters; its gradient with respect to ``t``::

    ∂L/∂t = Σ_k ω_k (g_sin,k cos(ω_k t) - g_cos,k sin(ω_k t))

(the network's ``t`` is data, so training never needs it; it completes the op, and it is what a
continuous-time model differentiates).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxdl.backward import register
from jaxdl.gradcheck import normal_draws, vjp_checks

#: The longest wavelength's scale, as the Transformer's and DDPM's code.
MAX_PERIOD = 10_000.0


def frequencies(width: int, dtype=None) -> jax.Array:
    """``ω_k = 10000^{-k / (K - 1)}`` for ``K = width / 2`` (``[1.0]`` when ``K = 1``)."""
    if isinstance(width, bool) or not isinstance(width, int) or width < 2 or width % 2:
        raise ValueError(f"time embedding width must be an even integer >= 2, got {width!r}")
    k = width // 2
    dtype = dtype or jnp.result_type(float)
    return jnp.exp(-math.log(MAX_PERIOD) * jnp.arange(k, dtype=dtype) / max(k - 1, 1))


def time_embedding(t: ArrayLike, width: int) -> jax.Array:
    """``[sin(ω t), cos(ω t)]`` for steps ``t [B]``: ``[B, width]``."""
    t = jnp.asarray(t)
    if t.ndim != 1:
        raise ValueError(f"time embedding: steps must be [B], got shape {t.shape}")
    t = t.astype(jnp.result_type(t.dtype, float))
    angles = t[:, None] * frequencies(width, t.dtype)[None, :]
    return jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=1)


def time_embedding_backward(t: ArrayLike, width: int, g: ArrayLike) -> tuple[jax.Array]:
    """Gradient of :func:`time_embedding` with respect to ``t``, given ``g = ∂L/∂e [B, C]``
    (the module's formula). Returns ``(dt [B],)``."""
    t, g = jnp.asarray(t), jnp.asarray(g)
    w = frequencies(width, g.dtype)
    angles = t.astype(g.dtype)[:, None] * w[None, :]
    k = width // 2
    d = g[:, :k] * jnp.cos(angles) - g[:, k:] * jnp.sin(angles)
    return (jnp.sum(d * w[None, :], axis=1),)


def _rule(width: int):
    @jax.custom_vjp
    def rule(t):
        return time_embedding(t, width)

    rule.defvjp(
        lambda t: (time_embedding(t, width), t),
        lambda t, g: time_embedding_backward(t, width, g),
    )
    return rule


_RULES: dict[int, object] = {}


def time_embedding_hand(t: ArrayLike, width: int) -> jax.Array:
    """:func:`time_embedding` whose gradient is :func:`time_embedding_backward` (a
    ``jax.custom_vjp`` rule; one per width). Integer steps pass through it as data."""
    t = jnp.asarray(t)
    if not jnp.issubdtype(t.dtype, jnp.floating):
        return time_embedding(t, width)  # integers have no gradient to compute
    if width not in _RULES:
        frequencies(width)  # refuse a bad width here, once
        _RULES[width] = _rule(width)
    return _RULES[width](t)


register("time_embedding", time_embedding, time_embedding_hand)


def gradient_checks(*, key: jax.Array) -> list:
    """The embedding's gradient in ``t``: formula and rule vs ``jax.grad`` vs finite
    differences, at steps spread over DDPM's 0..1000."""
    normal = normal_draws(key, pool=64)
    t = 500.0 + 300.0 * normal((3,))
    g = normal((3, 8))
    return vjp_checks(
        "nn.time_embedding",
        lambda s: time_embedding(s, 8),
        lambda s, g: time_embedding_backward(s, 8, g),
        lambda s: time_embedding_hand(s, 8),
        (t,),
        g,
    )
