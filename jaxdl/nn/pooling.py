"""2x2 max-pooling with stride 2, its hand gradient and its custom_vjp rule.

Written as reshape-and-max rather than ``lax.reduce_window`` (timed by
``benchmarks/deep_cnn_speed.py --variants``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxdl.nn.backward import register
from jaxdl.validate import require_rank


def _pad_to_even(x: jax.Array, value: float) -> jax.Array:
    """Pad H and W at the end to even sizes (TF 'SAME' for a 2x2, stride-2 pool pads at the end)."""
    _, h, w, _ = x.shape
    return jnp.pad(x, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), constant_values=value)


def _windows(x: jax.Array) -> jax.Array:
    """``[B, H, W, C]`` (H, W even) -> ``[B, H/2, W/2, C, 4]``, the four entries of each window."""
    b, h, w, c = x.shape
    x = x.reshape(b, h // 2, 2, w // 2, 2, c)
    return x.transpose(0, 1, 3, 5, 2, 4).reshape(b, h // 2, w // 2, c, 4)


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


def max_pool_grad(x: ArrayLike, g: ArrayLike) -> jax.Array:
    """Gradient of :func:`max_pool`: each window's upstream gradient goes to its arg-max.

    ``dx[n, h, v, c] = g[n, h // 2, v // 2, c]`` if ``x[n, h, v, c]`` is the largest entry of its
    window, else 0. With ties the first maximum (row-major within the window) takes it all, as
    in TensorFlow; ``jax.grad`` splits ties instead, so comparisons assume distinct values.

    Args:
      x: forward input ``[B, H, W, C]``.
      g: upstream gradient ``[B, ceil(H/2), ceil(W/2), C]``.

    Returns:
      ``[B, H, W, C]``.
    """
    x, g = jnp.asarray(x), jnp.asarray(g)
    return _route_to_winners(_winners(x), jnp.asarray(g), x.shape)


def _winners(x: jax.Array) -> jax.Array:
    """Each window's arg-max, 0..3 in row-major order (first maximum on ties) ``[B, H/2, W/2, C]``."""
    return jnp.argmax(_windows(_pad_to_even(x, -jnp.inf)), axis=-1).astype(jnp.int8)


def _route_to_winners(winner: jax.Array, g: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """``g [B, H/2, W/2, C]`` placed at each window's winner, zeros elsewhere: ``[B, H, W, C]``."""
    b, h, w, c = shape
    hp, wp = winner.shape[1] * 2, winner.shape[2] * 2
    slots = jnp.arange(4, dtype=winner.dtype)[None, None, None, None, :]
    routed = jnp.where(winner[..., None] == slots, g[..., None], jnp.zeros((), g.dtype))
    dx = routed.reshape(b, hp // 2, wp // 2, c, 2, 2).transpose(0, 1, 4, 2, 5, 3)
    return dx.reshape(b, hp, wp, c)[:, :h, :w, :]


@jax.custom_vjp
def _max_pool_hand(x: jax.Array) -> jax.Array:
    return max_pool(x)


def _max_pool_fwd(x):
    # Keep each window's winner (one byte) rather than x; the same reduction finds both.
    return max_pool(x), (_winners(x), jnp.zeros((0,) + x.shape, jnp.int8))


def _max_pool_bwd(saved, g):
    winner, shape_carrier = saved
    return (_route_to_winners(winner, g, shape_carrier.shape[1:]),)


_max_pool_hand.defvjp(_max_pool_fwd, _max_pool_bwd)


def max_pool_hand(x: ArrayLike) -> jax.Array:
    """:func:`max_pool` whose gradient is :func:`max_pool_grad` (a ``jax.custom_vjp`` rule).

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
        lambda v: max_pool_grad(v, g),
        lambda v: jnp.sum(max_pool_hand(v) * g),
        x,
    )


register("max_pool", max_pool, max_pool_hand)
