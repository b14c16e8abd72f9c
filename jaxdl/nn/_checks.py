"""What the transformer's op modules share: shape checks, a matmul over every position, and one
way to state a rule's gradient checks."""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np


def matmul_rows(x: jax.Array, w: jax.Array) -> jax.Array:
    """``x @ w`` for ``x [..., F_in]`` and ``w [F_in, F_out]`` as one 2-D product."""
    lead = x.shape[:-1]
    return (x.reshape(-1, x.shape[-1]) @ w).reshape(*lead, w.shape[-1])


def weight_grad(x: jax.Array, g: jax.Array) -> jax.Array:
    """``Σ_positions xᵀ g``: the gradient of ``w`` in ``y = x @ w`` over every leading index."""
    return x.reshape(-1, x.shape[-1]).T @ g.reshape(-1, g.shape[-1])


class Pool:
    """Random normal arrays carved from one draw (one small program to compile per dtype)."""

    def __init__(self, key: jax.Array, size: int = 8192):
        self._values = np.asarray(jax.random.normal(key, (size,), jnp.result_type(float)))
        self._used = 0

    def normal(self, shape: tuple[int, ...], scale: float = 1.0) -> jax.Array:
        size = math.prod(shape)
        if self._used + size > self._values.size:
            raise ValueError(f"pool exhausted drawing {shape}")
        self._used += size
        chunk = self._values[self._used - size : self._used]
        return jnp.asarray(scale * chunk.reshape(shape))


def vjp_checks(
    name: str,
    forward: Callable,
    formula: Callable,
    custom: Callable,
    at: tuple,
    g: jax.Array,
) -> list:
    """Two three-way checks of an op with upstream gradient ``g``.

    ``sum(forward(*p) * g)`` has gradient exactly the op's vector-Jacobian product with ``g``;
    the hand ``formula(*p, g)`` and ``jax.grad`` of the ``custom`` rule are each compared with
    ``jax.grad`` of the pure ``forward`` and with finite differences.
    """
    from jaxdl.gradcheck import check_gradient

    def reference(p):
        return jnp.sum(forward(*p) * g)

    return [
        check_gradient(name, reference, lambda p: tuple(formula(*p, g)), at),
        check_gradient(
            f"{name} custom_vjp", reference, jax.grad(lambda p: jnp.sum(custom(*p) * g)), at
        ),
    ]
