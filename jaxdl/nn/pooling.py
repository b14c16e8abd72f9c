"""2x2 max-pooling with stride 2, its hand gradient and its custom_vjp rule.

The pure forward :func:`max_pool` is reshape-and-max (``jax.grad`` of it splits ties equally:
the autodiff reference). The hand rule computes the same maxima from the four strided quarters
of the input, elementwise, and finds each window's winner again in the backward pass from the
saved input: on XLA:CPU the forward then fuses with the convolution's bias and ReLU before it
(no arg-max pass, no reduction kernel), and the backward with the ReLU and LRN gradients around
it. ``lax.reduce_window`` and the earlier arg-max form are timed by
``benchmarks/deep_cnn_speed.py --variants``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxdl.backward import register
from jaxdl.validate import require_rank


def _pad_to_even(x: jax.Array, value: float) -> jax.Array:
    """Pad H and W at the end to even sizes (TF 'SAME' for a 2x2, stride-2 pool pads at the end)."""
    _, h, w, _ = x.shape
    return jnp.pad(x, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), constant_values=value)


def _quarters(x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """The four entries of every 2x2 window of ``x`` (padded to even sides with ``-inf``), each
    ``[B, H/2, W/2, C]``, in row-major order within the window: top left, top right, bottom
    left, bottom right. Strided slices, so every use below is an elementwise XLA fusion."""
    x = _pad_to_even(x, -jnp.inf)
    return x[:, 0::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 0::2], x[:, 1::2, 1::2]


def _max_of_quarters(quarters) -> jax.Array:
    a, b, c, d = quarters
    return jnp.maximum(jnp.maximum(a, b), jnp.maximum(c, d))


def max_pool(x: ArrayLike) -> jax.Array:
    """2x2 max-pooling with stride 2 and TensorFlow's 'same' padding.

    Odd sides are padded at the end with ``-inf``, so the output is ``ceil(H/2) x ceil(W/2)``.
    Written as reshape-and-max rather than ``lax.reduce_window`` (see the module docstring).

    Args:
      x: ``[B, H, W, C]``.

    Returns:
      ``[B, ceil(H/2), ceil(W/2), C]``.
    """
    require_rank("max_pool input", x, 4, "[B, H, W, C]")
    x = _pad_to_even(jnp.asarray(x), -jnp.inf)
    b, h, w, c = x.shape
    return jnp.max(x.reshape(b, h // 2, 2, w // 2, 2, c), axis=(2, 4))


def max_pool_backward(x: ArrayLike, g: ArrayLike) -> jax.Array:
    """Gradient of :func:`max_pool`: each window's upstream gradient goes to its arg-max.

    ``dx[n, h, v, c] = g[n, h // 2, v // 2, c]`` if ``x[n, h, v, c]`` is the largest entry of its
    window, else 0. With ties the first maximum (row-major within the window) takes it all, as
    in TensorFlow; ``jax.grad`` splits ties instead, so comparisons assume distinct values.
    Computed elementwise from the window's four strided quarters: the first that equals the
    window's maximum takes ``g``, the others zero, interleaved back into place.

    Args:
      x: forward input ``[B, H, W, C]``.
      g: upstream gradient ``[B, ceil(H/2), ceil(W/2), C]``.

    Returns:
      ``[B, H, W, C]``.
    """
    x, g = jnp.asarray(x), jnp.asarray(g)
    quarters = _quarters(x)
    peak = _max_of_quarters(quarters)
    zero = jnp.zeros((), g.dtype)
    taken = jnp.zeros(peak.shape, bool)  # an earlier entry of the window already won
    routed = []
    for entry in quarters[:3]:
        wins = (entry == peak) & ~taken
        routed.append(jnp.where(wins, g, zero))
        taken = taken | wins
    routed.append(jnp.where(taken, zero, g))  # the last entry takes what is left
    top = jnp.stack(routed[:2], axis=3)  # [B, H/2, W/2, 2, C]
    bottom = jnp.stack(routed[2:], axis=3)
    dx = jnp.stack([top, bottom], axis=2)  # [B, H/2, 2, W/2, 2, C]
    b, h2, _, w2, _, c = dx.shape
    return dx.reshape(b, 2 * h2, 2 * w2, c)[:, : x.shape[1], : x.shape[2], :]


@jax.custom_vjp
def _max_pool_hand(x: jax.Array) -> jax.Array:
    return _max_of_quarters(_quarters(x))


def _max_pool_fwd(x):
    # Keep x rather than the winners: finding them again in the backward pass is elementwise
    # and fuses there, and XLA may rebuild x itself from the layer before (as it does for the
    # one-channel convolution) instead of keeping it.
    return _max_of_quarters(_quarters(x)), x


def _max_pool_bwd(x, g):
    return (max_pool_backward(x, g),)


_max_pool_hand.defvjp(_max_pool_fwd, _max_pool_bwd)


def max_pool_hand(x: ArrayLike) -> jax.Array:
    """:func:`max_pool` whose gradient is :func:`max_pool_backward` (a ``jax.custom_vjp`` rule).

    Tie rule: where a window holds several equal maxima, the first one in row-major order
    within the window receives the whole upstream gradient (TensorFlow's and PyTorch's choice);
    ``jax.grad`` of :func:`max_pool` splits it equally among them instead. Off ties the two agree.
    """
    require_rank("max_pool input", x, 4, "[B, H, W, C]")
    return _max_pool_hand(jnp.asarray(x))


def gradient_checks(*, key: jax.Array) -> list:
    """Max-pool: the routing formula and the custom_vjp rule vs ``jax.grad`` (no ties)."""
    from jaxdl.gradcheck import check_rule, normal_draws

    normal = normal_draws(key)
    # Distinct values (a permutation) keep max-pool away from ties.
    dtype = jnp.result_type(float)
    x = jnp.asarray(np.argsort(np.asarray(normal((60,)))).reshape(2, 5, 3, 2), dtype) / 7.0
    g = normal((2, 3, 2, 2))
    return check_rule(
        "nn.max_pool",
        lambda v: jnp.sum(max_pool(v) * g),
        lambda v: max_pool_backward(v, g),
        lambda v: jnp.sum(max_pool_hand(v) * g),
        x,
    )


register("max_pool", max_pool, max_pool_hand)
