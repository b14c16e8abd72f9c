"""Affine layers: dense ``x w + b`` and 2-D convolution, each with its hand gradient.

Layouts are TensorFlow's (which TFLearn used): images ``NHWC`` (``[B, H, W, C]``), kernels
``HWIO`` (``[kh, kw, C_in, C_out]``), dense weights ``[features_in, features_out]``. Every
``*_backward`` takes the forward inputs and the upstream gradient ``g`` and returns the gradients of
input, weights and bias (the vector-Jacobian product); ``*_hand`` is the same forward with that
formula as its ``jax.custom_vjp`` rule. The two share one rule builder, :func:`affine_rule`:
their backward passes need the same saved values (input and weights).

A convolution with one input channel (the first layer on grey images) is written without
``conv_general_dilated``: its forward (kernels up to 5x5) as the sum of the ``kh kw`` shifted
copies of the image times one kernel row each (elementwise, so XLA:CPU fuses it with the bias,
the ReLU and the pooling after it, where YNNPACK's convolution of a single channel was the
step's slowest kernel), its kernel gradient as one matrix product of those shifted copies with
``g``. Timed against the convolution forms by ``benchmarks/deep_cnn_speed.py --variants``,
which keeps the alternatives.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from jaxdl.backward import register
from jaxdl.validate import require_rank

_CONV_DIMENSIONS = ("NHWC", "HWIO", "NHWC")
#: Largest one-channel kernel (``kh kw``) whose forward is written as shifted products: larger
#: ones (a wide blur, say) would unroll into that many terms, so they keep the convolution.
_MAX_SHIFTED_TERMS = 25


def dense(x: ArrayLike, w: ArrayLike, b: ArrayLike) -> jax.Array:
    """Fully connected layer ``y = x w + b``.

    Args:
      x: inputs ``[B, F_in]``.
      w: weights ``[F_in, F_out]``.
      b: bias ``[F_out]``.

    Returns:
      ``[B, F_out]``.
    """
    require_rank("dense input", x, 2, "[B, F_in]")
    require_rank("dense weights", w, 2, "[F_in, F_out]")
    if jnp.shape(x)[1] != jnp.shape(w)[0] or jnp.shape(b) != (jnp.shape(w)[1],):
        raise ValueError(
            f"dense: input {jnp.shape(x)}, weights {jnp.shape(w)} and bias {jnp.shape(b)} "
            "do not fit ([B, F_in] @ [F_in, F_out] + [F_out])"
        )
    return jnp.asarray(x) @ jnp.asarray(w) + jnp.asarray(b)[None, :]


def dense_backward(
    x: ArrayLike, w: ArrayLike, g: ArrayLike
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Gradient of :func:`dense`: ``dx = g wᵀ``, ``dw = xᵀ g``, ``db = sum_B g``.

    Args:
      x: the forward input ``[B, F_in]``.
      w: the weights ``[F_in, F_out]``.
      g: upstream gradient ``[B, F_out]``.

    Returns:
      ``(dx [B, F_in], dw [F_in, F_out], db [F_out])``.
    """
    x, w, g = jnp.asarray(x), jnp.asarray(w), jnp.asarray(g)
    return g @ w.T, x.T @ g, jnp.sum(g, axis=0)


def _same_padding(size: int) -> tuple[int, int]:
    """TensorFlow's 'SAME' padding ``(low, high)`` for a stride-1 kernel of ``size``."""
    total = size - 1
    return total // 2, total - total // 2


def conv2d(x: ArrayLike, w: ArrayLike, b: ArrayLike) -> jax.Array:
    """2-D convolution (cross-correlation, as in every framework), stride 1, 'same' padding.

    ``y[n, h, v, o] = b[o] + sum_{i, j, c} xpad[n, h + i, v + j, c] w[i, j, c, o]``

    Args:
      x: images ``[B, H, W, C_in]`` (NHWC).
      w: kernel ``[kh, kw, C_in, C_out]`` (HWIO).
      b: bias ``[C_out]``.

    Returns:
      ``[B, H, W, C_out]``.
    """
    require_rank("conv2d input", x, 4, "[B, H, W, C]")
    require_rank("conv2d kernel", w, 4, "[kh, kw, C_in, C_out]")
    if jnp.shape(x)[3] != jnp.shape(w)[2] or jnp.shape(b) != (jnp.shape(w)[3],):
        raise ValueError(
            f"conv2d: input {jnp.shape(x)}, kernel {jnp.shape(w)} and bias {jnp.shape(b)} "
            "do not fit ([B, H, W, C_in], [kh, kw, C_in, C_out], [C_out])"
        )
    kh, kw = jnp.shape(w)[:2]
    if jnp.shape(x)[3] == 1 and kh * kw <= _MAX_SHIFTED_TERMS:
        rows = jnp.asarray(w).reshape(kh * kw, -1)  # [kh kw, C_out]
        shifted = _shifted_copies(jnp.asarray(x), kh, kw)
        y = shifted[0][..., None] * rows[0][None, None, None, :]
        for copy, row in zip(shifted[1:], rows[1:], strict=True):
            y = y + copy[..., None] * row[None, None, None, :]
        return y + jnp.asarray(b)[None, None, None, :]
    y = lax.conv_general_dilated(
        jnp.asarray(x),
        jnp.asarray(w),
        window_strides=(1, 1),
        padding=(_same_padding(kh), _same_padding(kw)),
        dimension_numbers=_CONV_DIMENSIONS,
    )
    return y + jnp.asarray(b)[None, None, None, :]


def conv2d_backward(
    x: ArrayLike, w: ArrayLike, g: ArrayLike
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Gradient of :func:`conv2d` with respect to input, kernel and bias.

    - ``dx``: the upstream gradient convolved with the kernel flipped in space and with its
      in/out channels swapped (a "transposed convolution"):
      ``dx[n, h, v, c] = sum_{i, j, o} gpad[n, h + i, v + j, o] w[kh-1-i, kw-1-j, c, o]``,
      where ``gpad`` pads by ``kh - 1 - low`` before and ``kh - 1 - high`` after.
    - ``dw``: the correlation of the padded input with the upstream gradient, summed over the
      batch: ``dw[i, j, c, o] = sum_{n, h, v} xpad[n, h + i, v + j, c] g[n, h, v, o]``; computed
      as a convolution in which the batch axis plays the role of the channels.
    - ``db``: ``sum_{n, h, v} g[n, h, v, o]``.

    Args:
      x: forward input ``[B, H, W, C_in]``.
      w: kernel ``[kh, kw, C_in, C_out]``.
      g: upstream gradient ``[B, H, W, C_out]``.

    Returns:
      ``(dx [B, H, W, C_in], dw [kh, kw, C_in, C_out], db [C_out])``.
    """
    x, w, g = jnp.asarray(x), jnp.asarray(w), jnp.asarray(g)
    kh, kw = w.shape[:2]
    pad_h, pad_w = _same_padding(kh), _same_padding(kw)
    flipped = jnp.swapaxes(w[::-1, ::-1], 2, 3)  # [kh, kw, C_out, C_in]
    dx = lax.conv_general_dilated(
        g,
        flipped,
        window_strides=(1, 1),
        padding=((kh - 1 - pad_h[0], kh - 1 - pad_h[1]), (kw - 1 - pad_w[0], kw - 1 - pad_w[1])),
        dimension_numbers=_CONV_DIMENSIONS,
    )
    return dx, _conv2d_kernel_backward(x, g, kh, kw), jnp.sum(g, axis=(0, 1, 2))


def _shifted_copies(x: jax.Array, kh: int, kw: int) -> list[jax.Array]:
    """The ``kh kw`` shifted copies ``xpad[:, i : i + H, j : j + W]`` of a one-channel image
    ``[B, H, W, 1]``, each ``[B, H, W]``, in the kernel's row-major order."""
    pad_h, pad_w = _same_padding(kh), _same_padding(kw)
    _, h, w, _ = x.shape
    xp = jnp.pad(x[..., 0], ((0, 0), pad_h, pad_w))
    return [xp[:, i : i + h, j : j + w] for i in range(kh) for j in range(kw)]


def _conv2d_kernel_backward(x: jax.Array, g: jax.Array, kh: int, kw: int) -> jax.Array:
    """``dw [kh, kw, C_in, C_out]`` of :func:`conv2d_backward`, in the form XLA:CPU runs faster.

    With one input channel (the first layer), as one matrix product of the ``kh kw`` shifted
    copies of the image, stacked on a leading axis (each copy a contiguous block, no transpose),
    with ``g``; otherwise as a convolution in which the batch axis of ``x`` plays the input
    features and its channels the batch (the result's spatial extent is
    ``H + low + high - H + 1 = kh``). ``benchmarks/deep_cnn_speed.py`` times the train step.
    """
    pad_h, pad_w = _same_padding(kh), _same_padding(kw)
    if x.shape[-1] == 1:
        shifted = jnp.stack(_shifted_copies(x, kh, kw))  # [kh kw, B, H, W]
        dw = lax.dot_general(shifted, g, (((1, 2, 3), (0, 1, 2)), ((), ())))
        return dw.reshape(kh, kw, 1, g.shape[-1])
    return lax.conv_general_dilated(
        x,
        g,
        window_strides=(1, 1),
        padding=(pad_h, pad_w),
        dimension_numbers=("CHWN", "IHWO", "HWNC"),
    )


def affine_rule(forward, backward):
    """``forward(x, w, b)`` as a custom_vjp whose backward is ``backward(x, w, g)``.

    Any layer of this shape (the backward needs the input and the weights, and returns the
    gradients of input, weights and bias) can reuse it.
    """

    @jax.custom_vjp
    def rule(x: jax.Array, w: jax.Array, b: jax.Array) -> jax.Array:
        return forward(x, w, b)

    def rule_fwd(x, w, b):
        return forward(x, w, b), (x, w)

    def rule_bwd(saved, g):
        x, w = saved
        return backward(x, w, g)

    rule.defvjp(rule_fwd, rule_bwd)
    return rule


_dense_hand = affine_rule(dense, dense_backward)
_conv2d_hand = affine_rule(conv2d, conv2d_backward)


def dense_hand(x: ArrayLike, w: ArrayLike, b: ArrayLike) -> jax.Array:
    """:func:`dense` whose gradient is :func:`dense_backward` (a ``jax.custom_vjp`` rule)."""
    return _dense_hand(jnp.asarray(x), jnp.asarray(w), jnp.asarray(b))


def conv2d_hand(x: ArrayLike, w: ArrayLike, b: ArrayLike) -> jax.Array:
    """:func:`conv2d` whose gradient is :func:`conv2d_backward` (a ``jax.custom_vjp`` rule)."""
    return _conv2d_hand(jnp.asarray(x), jnp.asarray(w), jnp.asarray(b))


def gradient_checks(*, key: jax.Array) -> list:
    """Dense and conv2d: the ``*_grad`` formulas and the custom_vjp rules vs ``jax.grad``."""
    from jaxdl.gradcheck import check_rule, normal_draws

    normal = normal_draws(key)
    x, w, b, g = normal((3, 5)), normal((5, 4)), normal((4,)), normal((3, 4))
    checks = check_rule(
        "nn.dense",
        lambda p: jnp.sum(dense(*p) * g),
        lambda p: dense_backward(p[0], p[1], g),
        lambda p: jnp.sum(dense_hand(*p) * g),
        (x, w, b),
    )
    for name, x_shape, w_shape in (
        ("nn.conv2d", (2, 5, 4, 2), (3, 3, 2, 3)),
        ("nn.conv2d, one input channel", (2, 5, 4, 1), (3, 3, 1, 3)),
    ):
        x, w, b = normal(x_shape), normal(w_shape), normal(w_shape[-1:])
        g = normal(x_shape[:3] + w_shape[-1:])
        checks += check_rule(
            name,
            lambda p, g=g: jnp.sum(conv2d(*p) * g),
            lambda p, g=g: conv2d_backward(p[0], p[1], g),
            lambda p, g=g: jnp.sum(conv2d_hand(*p) * g),
            (x, w, b),
        )
    return checks


register("dense", dense, dense_hand)
register("conv2d", conv2d, conv2d_hand)
