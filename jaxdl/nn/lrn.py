"""Local response normalisation across channels (TensorFlow's ``local_response_normalization``).

The window sum over neighbouring channels is a banded ``[C, C]`` matrix product (timed by
``benchmarks/deep_cnn_speed.py --variants``); forward, hand gradient and custom_vjp rule.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from jaxdl.backward import register
from jaxdl.validate import require_rank

#: TensorFlow's / TFLearn's local response normalisation defaults.
LRN_DEPTH_RADIUS = 5
LRN_BIAS = 1.0
LRN_ALPHA = 1e-4
LRN_BETA = 0.75


def _band(channels: int, depth_radius: int, dtype) -> jax.Array:
    """``[C, C]`` matrix with ones where ``|i - j| <= depth_radius``."""
    idx = jnp.arange(channels)
    return (jnp.abs(idx[:, None] - idx[None, :]) <= depth_radius).astype(dtype)


def lrn(
    x: ArrayLike,
    *,
    depth_radius: int = LRN_DEPTH_RADIUS,
    bias: float = LRN_BIAS,
    alpha: float = LRN_ALPHA,
    beta: float = LRN_BETA,
) -> jax.Array:
    """TensorFlow's local response normalisation across channels.

    ``y_c = x_c / (bias + alpha * S_c)**beta`` with ``S_c = sum_{|c' - c| <= r} x_{c'}**2``.
    ``alpha`` is **not** divided by the window size ``2 r + 1`` (PyTorch's
    ``LocalResponseNorm`` divides; TensorFlow and TFLearn do not). The window sum is a banded
    ``[C, C]`` matmul rather than ``2 r + 1`` shifted slices (see the module docstring).

    Args:
      x: ``[B, H, W, C]``.
      depth_radius, bias, alpha, beta: TensorFlow's parameters (defaults are TFLearn's).

    Returns:
      ``[B, H, W, C]``.
    """
    require_rank("lrn input", x, 4, "[B, H, W, C]")
    x = jnp.asarray(x)
    _, scale = _lrn_denominator(x, depth_radius, bias, alpha, beta)
    return x * scale


def _lrn_denominator(x, depth_radius, bias, alpha, beta) -> tuple[jax.Array, jax.Array]:
    """``(d, d**-beta)`` with ``d = bias + alpha * S``; the power without ``pow`` for beta 3/4."""
    band = _band(x.shape[-1], depth_radius, x.dtype)
    d = bias + alpha * ((x * x) @ band)
    if beta == 0.75:  # TFLearn's beta: d**-0.75 = 1 / sqrt(d sqrt(d)), cheaper than exp(log)
        return d, lax.rsqrt(d * jnp.sqrt(d))
    return d, d**-beta


def _lrn_backward_saved(x, d, scale, g, depth_radius, alpha, beta) -> jax.Array:
    band = _band(x.shape[-1], depth_radius, x.dtype)
    inner = (g * x * scale / d) @ band
    return g * scale - (2.0 * alpha * beta) * x * inner


def lrn_backward(
    x: ArrayLike,
    g: ArrayLike,
    *,
    depth_radius: int = LRN_DEPTH_RADIUS,
    bias: float = LRN_BIAS,
    alpha: float = LRN_ALPHA,
    beta: float = LRN_BETA,
) -> jax.Array:
    """Gradient of :func:`lrn` with respect to its input.

    With ``d_c = bias + alpha S_c`` and ``y_c = x_c d_c**-beta``,
    ``dy_c / dx_k = [c == k] d_c**-beta - 2 alpha beta x_c d_c**(-beta-1) x_k [|c-k| <= r]``,
    so ``dx_k = g_k d_k**-beta - 2 alpha beta x_k sum_{|c-k| <= r} g_c x_c d_c**(-beta-1)``
    (the same symmetric band sums the second term).

    Args:
      x: forward input ``[B, H, W, C]``.
      g: upstream gradient ``[B, H, W, C]``.

    Returns:
      ``[B, H, W, C]``.
    """
    x, g = jnp.asarray(x), jnp.asarray(g)
    d, scale = _lrn_denominator(x, depth_radius, bias, alpha, beta)
    return _lrn_backward_saved(x, d, scale, g, depth_radius, alpha, beta)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3, 4))
def _lrn_hand(x: jax.Array, depth_radius: int, bias: float, alpha: float, beta: float):
    return lrn(x, depth_radius=depth_radius, bias=bias, alpha=alpha, beta=beta)


def _lrn_fwd(x, depth_radius, bias, alpha, beta):
    d, scale = _lrn_denominator(x, depth_radius, bias, alpha, beta)
    return x * scale, (x, d, scale)  # keep d and d**-beta: no second band matmul or power


def _lrn_bwd(depth_radius, bias, alpha, beta, saved, g):
    x, d, scale = saved
    return (_lrn_backward_saved(x, d, scale, g, depth_radius, alpha, beta),)


_lrn_hand.defvjp(_lrn_fwd, _lrn_bwd)


def lrn_hand(
    x: ArrayLike,
    *,
    depth_radius: int = LRN_DEPTH_RADIUS,
    bias: float = LRN_BIAS,
    alpha: float = LRN_ALPHA,
    beta: float = LRN_BETA,
) -> jax.Array:
    """:func:`lrn` whose gradient is :func:`lrn_backward` (a ``jax.custom_vjp`` rule)."""
    require_rank("lrn input", x, 4, "[B, H, W, C]")
    return _lrn_hand(jnp.asarray(x), depth_radius, bias, alpha, beta)


def gradient_checks(*, key: jax.Array) -> list:
    """LRN: the ``lrn_backward`` formula and the custom_vjp rule vs ``jax.grad``."""
    from jaxdl.gradcheck import check_rule, normal_draws

    normal = normal_draws(key)
    x, g = 10.0 * normal((2, 2, 2, 13)), normal((2, 2, 2, 13))
    return check_rule(
        "nn.lrn",
        lambda v: jnp.sum(lrn(v, alpha=1e-2) * g),
        lambda v: lrn_backward(v, g, alpha=1e-2),
        lambda v: jnp.sum(lrn_hand(v, alpha=1e-2) * g),
        x,
    )


register("lrn", lrn, lrn_hand)
