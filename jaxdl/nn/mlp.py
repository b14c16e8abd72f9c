"""The transformer's feed-forward block: exact GELU and the 4x MLP, with backward passes by hand.

GELU (Hendrycks & Gimpel 2016) weighs its input by the probability that a standard normal lies
below it: ``gelu(x) = x Φ(x) = x (1 + erf(x / √2)) / 2``, the exact form nanoGPT's ``nn.GELU()``
computes (not the tanh approximation). Its slope is ``Φ(x) + x φ(x)``.

The MLP of a GPT block widens each position to four times its width, applies GELU and projects
back, without biases (nanoGPT's ``bias=False``)::

    h = x W_fc      a = gelu(h)      y = a W_proj        W_fc [C, 4C], W_proj [4C, C]
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxdl.backward import register
from jaxdl.gradcheck import normal_draws, vjp_checks
from jaxdl.nn._matmul import matmul_rows, weight_backward
from jaxdl.validate import require_rank

_SQRT_HALF = 1 / math.sqrt(2)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


def gelu(x: ArrayLike) -> jax.Array:
    """Exact GELU, ``x Φ(x) = x (1 + erf(x / √2)) / 2`` (elementwise)."""
    x = jnp.asarray(x)
    return 0.5 * x * (1 + jax.lax.erf(x * _SQRT_HALF))


def gelu_slope(x: ArrayLike) -> jax.Array:
    """``d gelu / dx = Φ(x) + x φ(x)``, with ``φ(x) = exp(-x²/2) / √(2π)`` (elementwise)."""
    x = jnp.asarray(x)
    return 0.5 * (1 + jax.lax.erf(x * _SQRT_HALF)) + x * _INV_SQRT_2PI * jnp.exp(-0.5 * x * x)


def gelu_backward(x: ArrayLike, g: ArrayLike) -> tuple[jax.Array]:
    """Gradient of :func:`gelu` given ``g = ∂L/∂y``: ``(g * gelu_slope(x),)``."""
    return (jnp.asarray(g) * gelu_slope(x),)


@jax.custom_vjp
def gelu_hand(x: jax.Array) -> jax.Array:
    """:func:`gelu` whose gradient is :func:`gelu_backward` (a ``jax.custom_vjp`` rule)."""
    return gelu(x)


gelu_hand.defvjp(lambda x: (gelu(x), x), lambda x, g: gelu_backward(x, g))


def _check(x: ArrayLike, w_fc: ArrayLike, w_proj: ArrayLike) -> None:
    require_rank("mlp input", x, 3, "[B, T, C]")
    c = jnp.shape(x)[-1]
    if jnp.ndim(w_fc) != 2 or jnp.shape(w_fc)[0] != c or jnp.shape(w_proj) != jnp.shape(w_fc)[::-1]:
        raise ValueError(
            f"mlp: input {jnp.shape(x)}, w_fc {jnp.shape(w_fc)} and w_proj {jnp.shape(w_proj)} "
            "do not fit ([B, T, C], [C, H], [H, C])"
        )


def mlp(x: ArrayLike, w_fc: ArrayLike, w_proj: ArrayLike) -> jax.Array:
    """``gelu(x W_fc) W_proj`` at every position.

    Args:
      x: ``[B, T, C]``.
      w_fc: ``[C, 4C]`` (any hidden width ``H``: ``[C, H]``).
      w_proj: ``[4C, C]``.

    Returns:
      ``[B, T, C]``.
    """
    _check(x, w_fc, w_proj)
    x, w_fc, w_proj = jnp.asarray(x), jnp.asarray(w_fc), jnp.asarray(w_proj)
    return matmul_rows(gelu(matmul_rows(x, w_fc)), w_proj)


def mlp_backward_saved(
    x: jax.Array, h: jax.Array, w_fc: jax.Array, w_proj: jax.Array, g: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The backward pass from the saved input ``x`` and pre-activation ``h``."""
    a = gelu(h)
    d_a = matmul_rows(g, w_proj.T)
    d_h = d_a * gelu_slope(h)
    return matmul_rows(d_h, w_fc.T), weight_backward(x, d_h), weight_backward(a, g)


def mlp_backward(
    x: ArrayLike, w_fc: ArrayLike, w_proj: ArrayLike, g: ArrayLike
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Gradient of :func:`mlp` given ``g = ∂L/∂y``, backwards through its three steps::

        ∂L/∂W_proj = Σ aᵀ g           ∂L/∂a = g W_projᵀ
        ∂L/∂h = ∂L/∂a * gelu'(h)
        ∂L/∂W_fc = Σ xᵀ ∂L/∂h          ∂L/∂x = ∂L/∂h W_fcᵀ

    (``Σ`` over every batch row and position: the weights are shared by all of them).

    Returns:
      ``(dx [B, T, C], dw_fc [C, 4C], dw_proj [4C, C])``.
    """
    _check(x, w_fc, w_proj)
    x, w_fc, w_proj, g = (jnp.asarray(a) for a in (x, w_fc, w_proj, g))
    return mlp_backward_saved(x, matmul_rows(x, w_fc), w_fc, w_proj, g)


@jax.custom_vjp
def _mlp_rule(x: jax.Array, w_fc: jax.Array, w_proj: jax.Array) -> jax.Array:
    return mlp(x, w_fc, w_proj)


def _mlp_fwd(x, w_fc, w_proj):
    h = matmul_rows(x, w_fc)
    return matmul_rows(gelu(h), w_proj), (x, h, w_fc, w_proj)


def _mlp_bwd(saved, g):
    return mlp_backward_saved(*saved, g)


_mlp_rule.defvjp(_mlp_fwd, _mlp_bwd)


def mlp_hand(x: ArrayLike, w_fc: ArrayLike, w_proj: ArrayLike) -> jax.Array:
    """:func:`mlp` whose gradient is :func:`mlp_backward` (a ``jax.custom_vjp`` rule).

    The forward saves the pre-activation ``h``; the backward recomputes ``gelu(h)`` from it
    (one elementwise pass, cheaper than keeping a second ``[B, T, 4C]`` array).
    """
    _check(x, w_fc, w_proj)
    return _mlp_rule(jnp.asarray(x), jnp.asarray(w_fc), jnp.asarray(w_proj))


register("gelu", gelu, gelu_hand)
register("mlp", mlp, mlp_hand)


def gradient_checks(*, key: jax.Array) -> list:
    """GELU and the MLP: hand formula and custom_vjp rule vs ``jax.grad`` vs finite differences."""
    normal = normal_draws(key, pool=512)
    x = normal((2, 3, 4), 1.5)
    w_fc, w_proj = normal((4, 16), 0.5), normal((16, 4), 0.5)
    g = normal((2, 3, 4))
    z, gz = normal((7,), 2.0), normal((7,))
    return vjp_checks("nn.gelu", gelu, gelu_backward, gelu_hand, (z,), gz) + vjp_checks(
        "nn.mlp", mlp, mlp_backward, mlp_hand, (x, w_fc, w_proj), g
    )
