"""Convolution through a connection table: each output map reads only some input maps.

In the zip-code network (LeCun et al., 1989) each of H2's 12 feature maps reads 8 of H1's 12
maps, which saves weights and, in the paper's words, breaks the symmetry between the maps. The
table ``table[o] = (c_0, ..., c_{k-1})`` names the input maps of output map ``o``; the kernel
holds only the ``k`` connected slices, ``w [kh, kw, k, C_out]``, where ``w[:, :, m, o]`` is the
kernel from input map ``table[o][m]`` to output map ``o``.

The op is the shared-weight, per-unit-bias convolution of :mod:`jaxdl.nn.shared_conv` applied to
the full kernel that the table spreads ``w`` into (zeros where there is no connection):
``W[i, j, c, o] = sum_m w[i, j, m, o] [table[o][m] == c]``. Spreading is linear, so its
vector-Jacobian product is the gather back: ``dw[i, j, m, o] = dW[i, j, table[o][m], o]``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxdl.nn.shared_conv import output_size, shared_conv, shared_conv_backward

Table = tuple[tuple[int, ...], ...]


def check_table(table: Table, channels_in: int) -> None:
    """``ValueError`` unless every row of ``table`` names distinct maps in ``0..channels_in-1``
    and every row has the same length."""
    rows = [tuple(row) for row in table]
    if not rows or len({len(r) for r in rows}) != 1 or not rows[0]:
        raise ValueError(f"connection table: rows must be non-empty and of one length, got {table}")
    for o, row in enumerate(rows):
        if len(set(row)) != len(row) or not all(0 <= c < channels_in for c in row):
            raise ValueError(
                f"connection table: row {o} {row} must name distinct input maps in "
                f"0..{channels_in - 1}"
            )


@functools.cache
def _inverse(table: Table, channels_in: int) -> tuple[np.ndarray, np.ndarray]:
    """``(slot [C_in, C_out], connected [C_in, C_out])``: input map ``c`` is ``w``'s slice
    ``slot[c, o]`` of output map ``o`` where ``connected[c, o]``."""
    slot = np.zeros((channels_in, len(table)), np.int32)
    connected = np.zeros((channels_in, len(table)), bool)
    for o, row in enumerate(table):
        for m, c in enumerate(row):
            slot[c, o], connected[c, o] = m, True
    return slot, connected


def spread(w: ArrayLike, table: Table, channels_in: int) -> jax.Array:
    """The full kernel ``W [kh, kw, C_in, C_out]``: ``w``'s slices placed where the table says,
    zeros elsewhere (one gather and a mask)."""
    w = jnp.asarray(w)
    slot, connected = _inverse(table, channels_in)
    full = jnp.take_along_axis(w, jnp.asarray(slot)[None, None], axis=2)
    return jnp.where(jnp.asarray(connected)[None, None], full, jnp.zeros((), w.dtype))


def gather(dw_full: ArrayLike, table: Table) -> jax.Array:
    """``dw [kh, kw, k, C_out]`` from a full-kernel gradient (the transpose of :func:`spread`):
    ``dw[i, j, m, o] = dW[i, j, table[o][m], o]``."""
    index = jnp.asarray(np.asarray(table, np.int32).T)  # [k, C_out]
    return jnp.take_along_axis(jnp.asarray(dw_full), index[None, None], axis=2)


def _check(x: ArrayLike, w: ArrayLike, table: Table) -> Table:
    table = tuple(tuple(int(c) for c in row) for row in table)
    check_table(table, jnp.shape(x)[-1])
    w_shape = jnp.shape(w)
    if len(w_shape) != 4 or w_shape[2:] != (len(table[0]), len(table)):
        raise ValueError(
            f"table_conv: kernel must be [kh, kw, {len(table[0])}, {len(table)}] for this "
            f"table, got {w_shape}"
        )
    return table


def table_conv(
    x: ArrayLike,
    w: ArrayLike,
    b: ArrayLike,
    table: Table,
    *,
    stride: int = 2,
    pad: int = 2,
    pad_value: float = -1.0,
) -> jax.Array:
    """Shared-weight, per-unit-bias convolution in which map ``o`` reads only ``table[o]``.

    ``y[n, h, v, o] = b[h, v, o] + sum_{i, j, m} xp[n, s h + i, s v + j, table[o][m]] w[i, j, m, o]``

    Args:
      x: ``[B, H, W, C_in]``.
      w: ``[kh, kw, k, C_out]``, ``k`` connections per output map.
      b: ``[H_out, W_out, C_out]``, one bias per unit.
      table: ``C_out`` rows of ``k`` distinct input maps (hashable tuples).
      stride, pad, pad_value: as in :func:`jaxdl.nn.shared_conv.shared_conv`.

    Returns:
      ``[B, H_out, W_out, C_out]``.
    """
    table = _check(x, w, table)
    full = spread(w, table, jnp.shape(x)[-1])
    return shared_conv(x, full, b, stride=stride, pad=pad, pad_value=pad_value)


def table_conv_backward(
    x: ArrayLike,
    w: ArrayLike,
    g: ArrayLike,
    table: Table,
    *,
    stride: int = 2,
    pad: int = 2,
    pad_value: float = -1.0,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Gradient of :func:`table_conv`.

    With ``W = spread(w)`` and ``(dx, dW, db)`` the gradient of the full convolution
    (:func:`jaxdl.nn.shared_conv.shared_conv_backward`): ``dx`` and ``db`` as they are, and
    ``dw[i, j, m, o] = dW[i, j, table[o][m], o]`` (the unconnected entries of ``dW`` are
    dropped: those weights do not exist).

    Returns:
      ``(dx [B, H, W, C_in], dw [kh, kw, k, C_out], db [H_out, W_out, C_out])``.
    """
    table = _check(x, w, table)
    full = spread(w, table, jnp.shape(x)[-1])
    dx, dw_full, db = shared_conv_backward(x, full, g, stride=stride, pad=pad, pad_value=pad_value)
    return dx, gather(dw_full, table), db


@functools.cache
def _rule(table: Table, stride: int, pad: int, pad_value: float):
    opts = dict(stride=stride, pad=pad, pad_value=pad_value)

    @jax.custom_vjp
    def conv(x, w, b):
        return table_conv(x, w, b, table, **opts)

    def fwd(x, w, b):
        return conv(x, w, b), (x, w)

    def bwd(saved, g):
        x, w = saved
        return table_conv_backward(x, w, g, table, **opts)

    conv.defvjp(fwd, bwd)
    return conv


def table_conv_hand(
    x: ArrayLike,
    w: ArrayLike,
    b: ArrayLike,
    table: Table,
    *,
    stride: int = 2,
    pad: int = 2,
    pad_value: float = -1.0,
) -> jax.Array:
    """:func:`table_conv` whose gradient is :func:`table_conv_backward` (a ``custom_vjp`` rule)."""
    table = _check(x, w, table)
    rule = _rule(table, int(stride), int(pad), float(pad_value))
    return rule(jnp.asarray(x), jnp.asarray(w), jnp.asarray(b))


def gradient_checks(*, key: jax.Array) -> list:
    """:func:`table_conv_backward` and its ``custom_vjp`` rule vs ``jax.grad`` vs finite differences,
    for 3 output maps each reading 2 of 4 input maps (stride 2, padding 1 with -1)."""
    from jaxdl.gradcheck import check_gradient, standard_normal

    dtype = jnp.result_type(float)
    table = ((0, 1), (1, 3), (2, 0))
    kx, kw, kb, kg = jax.random.split(key, 4)
    opts = dict(stride=2, pad=1, pad_value=-1.0)
    ho = output_size(6, 3, stride=2, pad=1)
    x = standard_normal(kx, (2, 6, 6, 4), dtype)
    w = standard_normal(kw, (3, 3, 2, 3), dtype)
    b = standard_normal(kb, (ho, ho, 3), dtype)
    g = standard_normal(kg, (2, ho, ho, 3), dtype)

    def reference(p):
        return jnp.sum(table_conv(*p, table, **opts) * g)

    def formula(p):
        return table_conv_backward(p[0], p[1], g, table, **opts)

    def custom(p):
        return jnp.sum(table_conv_hand(*p, table, **opts) * g)

    return [
        check_gradient("nn.table_conv", reference, formula, (x, w, b)),
        check_gradient("nn.table_conv custom_vjp", reference, jax.grad(custom), (x, w, b)),
    ]
