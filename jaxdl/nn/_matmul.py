"""What the transformer's op modules share: a matmul over every position and its weight
gradient."""

from __future__ import annotations

import jax


def matmul_rows(x: jax.Array, w: jax.Array) -> jax.Array:
    """``x @ w`` for ``x [..., F_in]`` and ``w [F_in, F_out]`` as one 2-D product."""
    lead = x.shape[:-1]
    return (x.reshape(-1, x.shape[-1]) @ w).reshape(*lead, w.shape[-1])


def weight_backward(x: jax.Array, g: jax.Array) -> jax.Array:
    """``Σ_positions xᵀ g``: the gradient of ``w`` in ``y = x @ w`` over every leading index."""
    return x.reshape(-1, x.shape[-1]).T @ g.reshape(-1, g.shape[-1])
