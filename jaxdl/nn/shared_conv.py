"""Convolution with shared weights and a bias for every unit (LeCun et al., 1989).

The zip-code network's feature maps: every unit of a map applies the same ``kh x kw`` kernel to
its own window of the layer below (the weights are shared), but every unit keeps a bias of its
own, so the bias is an array ``[H_out, W_out, C_out]`` rather than one number per map. The
input is padded with a constant (the zip-code net pads with -1, the background level) and the
windows move by ``stride`` (2 in the paper: each layer halves the resolution, no pooling).

Layout conventions as in :mod:`jaxdl.layers`: images ``NHWC``, kernels ``HWIO``.

The zip-code network trains one digit at a time, so every call sees a batch of one. At that
size XLA:CPU's convolution spends far more time on setup than on the arithmetic (a 12-map H2
layer took several times longer as ``lax.conv_general_dilated`` than as a matrix product), so
the forward and both gradients are written as matrix products over the units' windows
(:func:`_patches`, "im2col") and their transpose (:func:`_unpatches`); :func:`reference_conv` is
the library convolution that the tests compare the forward with. ``benchmarks/zip_code.py``
times the whole training run.

- :func:`shared_conv`: the pure forward (the reference ``jax.grad`` differentiates);
- :func:`shared_conv_backward`: the hand-derived vector-Jacobian product, formulas in its docstring;
- :func:`shared_conv_hand`: the forward with the hand formula as its ``jax.custom_vjp`` rule;
- :func:`gradient_checks`: the formula and the rule against ``jax.grad`` and finite differences.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.typing import ArrayLike

_DIMENSIONS = ("NHWC", "HWIO", "NHWC")


def output_size(size: int, kernel: int, *, stride: int, pad: int) -> int:
    """Units along one side of the output: ``(size + 2 pad - kernel) // stride + 1``."""
    return (size + 2 * pad - kernel) // stride + 1


def _check(x: ArrayLike, w: ArrayLike, b: ArrayLike | None, stride: int, pad: int) -> None:
    x_shape, w_shape = jnp.shape(x), jnp.shape(w)
    if len(x_shape) != 4 or len(w_shape) != 4:
        raise ValueError(
            f"shared_conv: input must be [B, H, W, C] and kernel [kh, kw, C_in, C_out], got "
            f"{x_shape} and {w_shape}"
        )
    if stride < 1 or pad < 0:
        raise ValueError(f"shared_conv: stride must be >= 1 and pad >= 0, got {stride}, {pad}")
    if x_shape[3] != w_shape[2]:
        raise ValueError(
            f"shared_conv: input has {x_shape[3]} channels, kernel expects {w_shape[2]}"
        )
    out = (
        output_size(x_shape[1], w_shape[0], stride=stride, pad=pad),
        output_size(x_shape[2], w_shape[1], stride=stride, pad=pad),
        w_shape[3],
    )
    if min(out) < 1:
        raise ValueError(f"shared_conv: kernel {w_shape[:2]} does not fit the input {x_shape}")
    if b is not None and tuple(jnp.shape(b)) != out:
        raise ValueError(
            f"shared_conv: the bias must have one entry per output unit {out}, got "
            f"{tuple(jnp.shape(b))}"
        )


def _pad(x: jax.Array, pad: int, value: float) -> jax.Array:
    return jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), constant_values=value)


@functools.cache
def _window_rows(hp: int, wp: int, kh: int, kw: int, stride: int, ho: int, wo: int) -> np.ndarray:
    """Which row of the padded input (flattened over ``(p, q)``, ``p wp + q``) each entry of
    every window reads, ordered ``(h, v, i, j)``: ``(s h + i) wp + (s v + j)``."""
    h = np.arange(ho)[:, None, None, None]
    v = np.arange(wo)[None, :, None, None]
    i = np.arange(kh)[None, None, :, None]
    j = np.arange(kw)[None, None, None, :]
    return ((stride * h + i) * wp + (stride * v + j)).ravel()


@functools.cache
def _window_entries(
    hp: int, wp: int, kh: int, kw: int, stride: int, ho: int, wo: int
) -> np.ndarray:
    """The inverse of :func:`_window_rows`: for each padded position, the window entries that
    read it, in the order of their kernel offset ``(i, j)``, padded with the index one past the
    last entry (a zero row :func:`_unpatches` appends). ``[hp wp, most readers]``."""
    rows = _window_rows(hp, wp, kh, kw, stride, ho, wo)
    offset = np.tile(np.arange(kh * kw), ho * wo)
    order = np.lexsort((offset, rows))  # by position, then by offset
    counts = np.bincount(rows, minlength=hp * wp)
    table = np.full((hp * wp, counts.max()), rows.size)
    starts = np.cumsum(counts) - counts
    for position, (start, count) in enumerate(zip(starts, counts, strict=True)):
        table[position, :count] = order[start : start + count]
    return table


def _patches(xp: jax.Array, kh: int, kw: int, stride: int, ho: int, wo: int) -> jax.Array:
    """Every unit's window, ``[B, ho, wo, kh kw C]`` ordered ``(i, j, c)`` like a ``HWIO`` kernel
    reshaped to ``[kh kw C_in, C_out]``: ``patches[n, h, v, (i, j, c)] = xp[n, s h + i, s v + j, c]``.

    One gather with a precomputed index (:func:`_window_rows`): a batch of one digit is mostly
    overhead per operation, and ``kh kw`` strided slices would be ``kh kw`` operations.
    """
    b, hp, wp, c = xp.shape
    rows = jnp.asarray(_window_rows(hp, wp, kh, kw, stride, ho, wo))
    return jnp.take(xp.reshape(b, hp * wp, c), rows, axis=1).reshape(b, ho, wo, kh * kw * c)


def _unpatches(d_patches: jax.Array, kh: int, kw: int, stride: int, hp: int, wp: int) -> jax.Array:
    """The transpose of :func:`_patches`: each window's entries added back where they came
    from, ``dxp[n, s h + i, s v + j, c] += d_patches[n, h, v, (i, j, c)]``.

    A gather of the entries that read each position (:func:`_window_entries`, at most
    ``ceil(kh / s) ceil(kw / s)`` of them) and their sum, added in the order of the kernel
    offset: one fused operation instead of a scatter.
    """
    b, ho, wo, _ = d_patches.shape
    table = _window_entries(hp, wp, kh, kw, stride, ho, wo)
    entries = d_patches.reshape(b, ho * wo * kh * kw, -1)
    zero_row = jnp.zeros((b, 1, entries.shape[-1]), entries.dtype)
    entries = jnp.concatenate([entries, zero_row], axis=1)
    readers = jnp.take(entries, jnp.asarray(table.ravel()), axis=1)
    readers = readers.reshape(b, hp * wp, table.shape[1], -1)
    total = readers[:, :, 0]
    for m in range(1, table.shape[1]):
        total = total + readers[:, :, m]
    return total.reshape(b, hp, wp, -1)


def shared_conv(
    x: ArrayLike,
    w: ArrayLike,
    b: ArrayLike,
    *,
    stride: int = 2,
    pad: int = 2,
    pad_value: float = -1.0,
) -> jax.Array:
    """Shared-weight convolution with a bias per unit.

    ``y[n, h, v, o] = b[h, v, o] + sum_{i, j, c} xp[n, s h + i, s v + j, c] w[i, j, c, o]``,
    where ``xp`` is ``x`` padded by ``pad`` on every side with ``pad_value`` and ``s = stride``.

    Args:
      x: images ``[B, H, W, C_in]``.
      w: kernel ``[kh, kw, C_in, C_out]``, shared by every unit of a map.
      b: biases ``[H_out, W_out, C_out]``, one per unit (:func:`output_size`).
      stride, pad, pad_value: window step, padding width and padding level.

    Returns:
      ``[B, H_out, W_out, C_out]`` (before any activation).
    """
    _check(x, w, b, stride, pad)
    w = jnp.asarray(w)
    kh, kw, _, c_out = w.shape
    ho, wo = jnp.shape(b)[:2]
    patches = _patches(_pad(jnp.asarray(x), pad, pad_value), kh, kw, stride, ho, wo)
    return patches @ w.reshape(-1, c_out) + jnp.asarray(b)[None]


def reference_conv(
    x: ArrayLike, w: ArrayLike, *, stride: int = 2, pad: int = 2, pad_value: float = -1.0
) -> jax.Array:
    """The same convolution without bias by :func:`jax.lax.conv_general_dilated` (for tests)."""
    xp = _pad(jnp.asarray(x), pad, pad_value)
    return lax.conv_general_dilated(
        xp, jnp.asarray(w), (stride, stride), "VALID", dimension_numbers=_DIMENSIONS
    )


def shared_conv_backward(
    x: ArrayLike,
    w: ArrayLike,
    g: ArrayLike,
    *,
    stride: int = 2,
    pad: int = 2,
    pad_value: float = -1.0,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Gradient of :func:`shared_conv` (its vector-Jacobian product with ``g``).

    - ``dw[i, j, c, o] = sum_{n, h, v} xp[n, s h + i, s v + j, c] g[n, h, v, o]``: each shared
      weight collects the contributions of every unit that uses it (``patchesᵀ g``, one matrix
      product over the windows of :func:`_patches`).
    - ``dxp[n, p, q, c] = sum_{h, v, i, j: s h + i = p, s v + j = q} sum_o g[n, h, v, o] w[i, j, c, o]``:
      every window gets ``g wᵀ``, and :func:`_unpatches` adds each window's entries back where
      they came from; ``dx`` is ``dxp`` without the padding (a constant: it has no gradient).
    - ``db[h, v, o] = sum_n g[n, h, v, o]``: each unit's own bias.

    The second-order pass of :mod:`jaxdl.milestones.zip_code` calls this same function with
    ``x**2``, ``w**2`` and the curvatures in place of ``g`` (and ``pad_value**2``).

    Args:
      x: the forward input ``[B, H, W, C_in]``.
      w: the kernel ``[kh, kw, C_in, C_out]``.
      g: upstream gradient ``[B, H_out, W_out, C_out]``.
      stride, pad, pad_value: as in the forward.

    Returns:
      ``(dx [B, H, W, C_in], dw [kh, kw, C_in, C_out], db [H_out, W_out, C_out])``.
    """
    x, w, g = jnp.asarray(x), jnp.asarray(w), jnp.asarray(g)
    kh, kw, c_in, c_out = w.shape
    _, height, width, _ = x.shape
    ho, wo = g.shape[1:3]
    xp = _pad(x, pad, pad_value)
    patches = _patches(xp, kh, kw, stride, ho, wo)  # [B, ho, wo, kh kw C_in]
    dw = jnp.einsum("nhvk,nhvo->ko", patches, g).reshape(w.shape)
    d_patches = g @ w.reshape(-1, c_out).T  # [B, ho, wo, kh kw C_in]
    dxp = _unpatches(d_patches, kh, kw, stride, xp.shape[1], xp.shape[2])
    dx = dxp[:, pad : pad + height, pad : pad + width, :]
    return dx, dw, jnp.sum(g, axis=0)


@functools.cache
def _rule(stride: int, pad: int, pad_value: float):
    """The ``custom_vjp`` forward for one setting (cached: one rule object per setting)."""

    @jax.custom_vjp
    def conv(x, w, b):
        return shared_conv(x, w, b, stride=stride, pad=pad, pad_value=pad_value)

    def fwd(x, w, b):
        return conv(x, w, b), (x, w)

    def bwd(saved, g):
        x, w = saved
        return shared_conv_backward(x, w, g, stride=stride, pad=pad, pad_value=pad_value)

    conv.defvjp(fwd, bwd)
    return conv


def shared_conv_hand(
    x: ArrayLike,
    w: ArrayLike,
    b: ArrayLike,
    *,
    stride: int = 2,
    pad: int = 2,
    pad_value: float = -1.0,
) -> jax.Array:
    """:func:`shared_conv` whose gradient is :func:`shared_conv_backward` (a ``custom_vjp`` rule)."""
    _check(x, w, b, stride, pad)
    rule = _rule(int(stride), int(pad), float(pad_value))
    return rule(jnp.asarray(x), jnp.asarray(w), jnp.asarray(b))


def gradient_checks(*, key: jax.Array) -> list:
    """:func:`shared_conv_backward` and the ``custom_vjp`` rule vs ``jax.grad`` vs finite differences.

    Through ``sum(shared_conv(x, w, b) * G)`` for a random upstream ``G``, on an odd-sized
    input with two channels at stride 2 and on a 16x16 image with the zip-code net's H1 setting.
    """
    from jaxdl.gradcheck import check_gradient, standard_normal

    dtype = jnp.result_type(float)
    checks = []
    for name, x_shape, w_shape, stride, pad in (
        ("stride 2, 2 channels", (2, 7, 6, 2), (3, 3, 2, 3), 2, 1),
        ("H1 of the zip-code net", (1, 16, 16, 1), (5, 5, 1, 2), 2, 2),
    ):
        kx, kw_, kb, kg, key = jax.random.split(key, 5)
        ho = output_size(x_shape[1], w_shape[0], stride=stride, pad=pad)
        wo = output_size(x_shape[2], w_shape[1], stride=stride, pad=pad)
        x = standard_normal(kx, x_shape, dtype)
        w = standard_normal(kw_, w_shape, dtype)
        b = standard_normal(kb, (ho, wo, w_shape[3]), dtype)
        g = standard_normal(kg, (x_shape[0], ho, wo, w_shape[3]), dtype)
        opts = dict(stride=stride, pad=pad, pad_value=-1.0)

        def reference(p, g=g, opts=opts):
            return jnp.sum(shared_conv(*p, **opts) * g)

        def formula(p, g=g, opts=opts):
            return shared_conv_backward(p[0], p[1], g, **opts)

        def custom(p, g=g, opts=opts):
            return jnp.sum(shared_conv_hand(*p, **opts) * g)

        checks.append(check_gradient(f"nn.shared_conv ({name})", reference, formula, (x, w, b)))
        checks.append(
            check_gradient(
                f"nn.shared_conv custom_vjp ({name})", reference, jax.grad(custom), (x, w, b)
            )
        )
    return checks
