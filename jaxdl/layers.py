"""The deep CNN's layers as pure functions, each with its hand-derived gradient beside it.

Layout conventions (TensorFlow's, which TFLearn used): images are ``NHWC`` (``[B, H, W, C]``),
convolution kernels are ``HWIO`` (``[kh, kw, C_in, C_out]``), dense weights are
``[features_in, features_out]``. Every ``*_grad`` function takes the forward inputs and the
upstream gradient ``g`` (the gradient of some scalar with respect to the layer's output) and
returns the gradient with respect to the layer's inputs and parameters (the vector-Jacobian
product). ``jax.grad`` is the judge: :func:`gradient_checks` and ``tests/test_layers.py`` compare
every formula here with autodiff and with finite differences.

Activations (ReLU, tanh) come from :mod:`jaxdl.activations`.

Implementation choices, measured with ``benchmarks/deep_cnn_speed.py --variants`` (whole Adam
train step, XLA:CPU on two pinned cores, batch 64 / 128): the local response normalisation sums
squares over channels with a banded ``[C, C]`` matmul; eleven shifted slices made the step 2.0x /
2.1x slower, ``lax.reduce_window`` was within 10% either way. The 2x2 max-pool is a reshape
followed by a max; ``lax.reduce_window`` made the step 1.45x slower.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.typing import ArrayLike

#: TensorFlow's / TFLearn's local response normalisation defaults.
LRN_DEPTH_RADIUS = 5
LRN_BIAS = 1.0
LRN_ALPHA = 1e-4
LRN_BETA = 0.75
#: TFLearn's ``regularizer="L2"`` weight decay on the conv kernels.
L2_WEIGHT_DECAY = 0.001

_CONV_DIMENSIONS = ("NHWC", "HWIO", "NHWC")


def _require_rank(name: str, x: ArrayLike, rank: int, layout: str) -> None:
    if jnp.ndim(x) != rank:
        raise ValueError(f"{name} must have rank {rank} ({layout}), got shape {jnp.shape(x)}")


# --------------------------------------------------------------------------------------------
# Dense
# --------------------------------------------------------------------------------------------


def dense(x: ArrayLike, w: ArrayLike, b: ArrayLike) -> jax.Array:
    """Fully connected layer ``y = x w + b``.

    Args:
      x: inputs ``[B, F_in]``.
      w: weights ``[F_in, F_out]``.
      b: bias ``[F_out]``.

    Returns:
      ``[B, F_out]``.
    """
    _require_rank("dense input", x, 2, "[B, F_in]")
    _require_rank("dense weights", w, 2, "[F_in, F_out]")
    if jnp.shape(x)[1] != jnp.shape(w)[0] or jnp.shape(b) != (jnp.shape(w)[1],):
        raise ValueError(
            f"dense: input {jnp.shape(x)}, weights {jnp.shape(w)} and bias {jnp.shape(b)} "
            "do not fit ([B, F_in] @ [F_in, F_out] + [F_out])"
        )
    return jnp.asarray(x) @ jnp.asarray(w) + jnp.asarray(b)[None, :]


def dense_grad(x: ArrayLike, w: ArrayLike, g: ArrayLike) -> tuple[jax.Array, jax.Array, jax.Array]:
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


# --------------------------------------------------------------------------------------------
# Convolution
# --------------------------------------------------------------------------------------------


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
    _require_rank("conv2d input", x, 4, "[B, H, W, C]")
    _require_rank("conv2d kernel", w, 4, "[kh, kw, C_in, C_out]")
    if jnp.shape(x)[3] != jnp.shape(w)[2] or jnp.shape(b) != (jnp.shape(w)[3],):
        raise ValueError(
            f"conv2d: input {jnp.shape(x)}, kernel {jnp.shape(w)} and bias {jnp.shape(b)} "
            "do not fit ([B, H, W, C_in], [kh, kw, C_in, C_out], [C_out])"
        )
    kh, kw = jnp.shape(w)[:2]
    y = lax.conv_general_dilated(
        jnp.asarray(x),
        jnp.asarray(w),
        window_strides=(1, 1),
        padding=(_same_padding(kh), _same_padding(kw)),
        dimension_numbers=_CONV_DIMENSIONS,
    )
    return y + jnp.asarray(b)[None, None, None, :]


def conv2d_grad(x: ArrayLike, w: ArrayLike, g: ArrayLike) -> tuple[jax.Array, jax.Array, jax.Array]:
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
    # Batch axis of x as the "input features", channels of x as the "batch"; the result's
    # spatial extent is H + low + high - H + 1 = kh.
    dw = lax.conv_general_dilated(
        x,
        g,
        window_strides=(1, 1),
        padding=(pad_h, pad_w),
        dimension_numbers=("CHWN", "IHWO", "HWNC"),
    )
    return dx, dw, jnp.sum(g, axis=(0, 1, 2))


# --------------------------------------------------------------------------------------------
# Max-pooling
# --------------------------------------------------------------------------------------------


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
    Written as reshape-and-max (the train step is 1.45x slower with ``lax.reduce_window`` on
    XLA:CPU).

    Args:
      x: ``[B, H, W, C]``.

    Returns:
      ``[B, ceil(H/2), ceil(W/2), C]``.
    """
    _require_rank("max_pool input", x, 4, "[B, H, W, C]")
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
    b, h, w, c = x.shape
    padded = _pad_to_even(x, -jnp.inf)
    hp, wp = padded.shape[1:3]
    winner = jax.nn.one_hot(jnp.argmax(_windows(padded), axis=-1), 4, dtype=g.dtype)
    routed = winner * g[..., None]  # [B, H/2, W/2, C, 4]
    dx = routed.reshape(b, hp // 2, wp // 2, c, 2, 2).transpose(0, 1, 4, 2, 5, 3)
    return dx.reshape(b, hp, wp, c)[:, :h, :w, :]


# --------------------------------------------------------------------------------------------
# Local response normalisation
# --------------------------------------------------------------------------------------------


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
    ``[C, C]`` matmul: with ``2 r + 1`` shifted slices instead, the train step is 2x slower.

    Args:
      x: ``[B, H, W, C]``.
      depth_radius, bias, alpha, beta: TensorFlow's parameters (defaults are TFLearn's).

    Returns:
      ``[B, H, W, C]``.
    """
    _require_rank("lrn input", x, 4, "[B, H, W, C]")
    x = jnp.asarray(x)
    band = _band(x.shape[-1], depth_radius, x.dtype)
    return x * (bias + alpha * ((x * x) @ band)) ** -beta


def lrn_grad(
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
    band = _band(x.shape[-1], depth_radius, x.dtype)
    d = bias + alpha * ((x * x) @ band)
    scale = d**-beta
    inner = (g * x * scale / d) @ band
    return g * scale - (2.0 * alpha * beta) * x * inner


# --------------------------------------------------------------------------------------------
# Dropout
# --------------------------------------------------------------------------------------------


def _check_keep_prob(keep_prob: float) -> None:
    if not 0.0 < keep_prob <= 1.0:
        raise ValueError(f"keep_prob must be in (0, 1], got {keep_prob}")


def dropout_mask(shape: tuple[int, ...], keep_prob: float, *, key: jax.Array) -> jax.Array:
    """Boolean mask ``[*shape]``: each entry kept (True) with probability ``keep_prob``."""
    _check_keep_prob(keep_prob)
    return jax.random.bernoulli(key, keep_prob, shape)


def dropout(x: ArrayLike, keep_prob: float, *, key: jax.Array) -> jax.Array:
    """Inverted dropout: keep each entry with probability ``keep_prob`` and scale it by ``1/keep``.

    TFLearn's ``dropout(x, 0.8)`` means *keep* 80%. The scaling keeps the expected value, so
    nothing changes at test time (just skip the layer). Same mask as Flax's ``nnx.Dropout`` for
    the same key.

    Args:
      x: any shape.
      keep_prob: probability of keeping an entry, in ``(0, 1]``.
      key: PRNG key for the mask.

    Returns:
      ``x * mask / keep_prob``, same shape as ``x``.
    """
    x = jnp.asarray(x)
    mask = dropout_mask(x.shape, keep_prob, key=key)
    return lax.select(mask, x / jnp.asarray(keep_prob, x.dtype), jnp.zeros_like(x))


def dropout_grad(g: ArrayLike, keep_prob: float, *, key: jax.Array) -> jax.Array:
    """Gradient of :func:`dropout`: the same mask and scale, ``g * mask / keep_prob``.

    The mask is recomputed from the same key, so nothing has to be stored between passes.
    """
    return dropout(g, keep_prob, key=key)


# --------------------------------------------------------------------------------------------
# Softmax cross-entropy and the L2 penalty
# --------------------------------------------------------------------------------------------


def _check_logits_labels(logits: ArrayLike, labels: ArrayLike) -> None:
    if jnp.ndim(logits) != 2 or jnp.shape(labels) != jnp.shape(logits)[:1]:
        raise ValueError(
            f"logits must be [B, K] and labels [B], got logits {jnp.shape(logits)} and labels "
            f"{jnp.shape(labels)}"
        )
    if not jnp.issubdtype(jnp.result_type(labels), jnp.integer):
        raise ValueError(f"labels must be integer class indices, got {jnp.result_type(labels)}")
    if not isinstance(labels, jax.core.Tracer) and jnp.size(labels):
        k = jnp.shape(logits)[1]
        values = np.asarray(labels)  # concrete: check on the host, no traced op
        low, high = int(values.min()), int(values.max())
        if low < 0 or high >= k:
            raise ValueError(f"labels must lie in [0, {k}), got values from {low} to {high}")


def softmax_cross_entropy(logits: ArrayLike, labels: ArrayLike) -> jax.Array:
    """Mean softmax cross-entropy with integer labels (TFLearn's categorical cross-entropy).

    ``L = (1/B) sum_n [logsumexp(z_n) - z_n[y_n]]``. Uniform logits over ``K`` classes give
    exactly ``log K``.

    Args:
      logits: ``[B, K]`` unnormalised scores.
      labels: ``[B]`` integer classes in ``[0, K)`` (checked when not traced).

    Returns:
      Scalar.
    """
    _check_logits_labels(logits, labels)
    logits = jnp.asarray(logits)
    picked = jnp.take_along_axis(logits, jnp.asarray(labels)[:, None], axis=1)[:, 0]
    return jnp.mean(jax.nn.logsumexp(logits, axis=1) - picked)


def softmax_cross_entropy_grad(logits: ArrayLike, labels: ArrayLike) -> jax.Array:
    """Gradient of :func:`softmax_cross_entropy` w.r.t. the logits: ``(softmax(z) - onehot)/B``."""
    _check_logits_labels(logits, labels)
    logits = jnp.asarray(logits)
    b, k = logits.shape
    onehot = jax.nn.one_hot(labels, k, dtype=logits.dtype)
    return (jax.nn.softmax(logits, axis=1) - onehot) / b


def l2_penalty(weights: list[ArrayLike], weight_decay: float = L2_WEIGHT_DECAY) -> jax.Array:
    """TFLearn's L2 regulariser ``weight_decay * sum_w sum(w**2) / 2`` over ``weights``."""
    return weight_decay * 0.5 * sum(jnp.sum(jnp.square(w)) for w in weights)


def l2_penalty_grad(weights: list[ArrayLike], weight_decay: float = L2_WEIGHT_DECAY) -> list:
    """Gradient of :func:`l2_penalty`: ``weight_decay * w`` for each ``w``."""
    return [weight_decay * jnp.asarray(w) for w in weights]


# --------------------------------------------------------------------------------------------
# Checks for ``jaxdl check``
# --------------------------------------------------------------------------------------------


def gradient_checks(*, key: jax.Array) -> list:
    """Every layer's hand gradient vs ``jax.grad`` vs finite differences, at random points.

    Each layer is checked through ``sum(layer(...) * G)`` for a random upstream gradient ``G``,
    whose gradient is exactly the layer's vector-Jacobian product with ``G``. Run in float64
    (``jaxdl check`` enables it) for tight tolerances.
    """
    from jaxdl.gradcheck import check_gradient

    dtype = jnp.result_type(float)
    # One draw, carved into every array below (one random-number program to compile, not ten).
    pool = np.asarray(jax.random.normal(key, (1024,), dtype))
    used = 0

    def normal(shape: tuple[int, ...]) -> jax.Array:
        nonlocal used
        size = math.prod(shape)
        used += size
        return jnp.asarray(pool[used - size : used].reshape(shape))

    checks = []

    x = normal((3, 5))
    w, b = normal((5, 4)), normal((4,))
    g = normal((3, 4))
    checks.append(
        check_gradient(
            "layers.dense",
            lambda p: jnp.sum(dense(*p) * g),
            lambda p: dense_grad(p[0], p[1], g),
            (x, w, b),
        )
    )

    x = normal((2, 5, 4, 2))
    w, b = normal((3, 3, 2, 3)), normal((3,))
    g = normal((2, 5, 4, 3))
    checks.append(
        check_gradient(
            "layers.conv2d",
            lambda p: jnp.sum(conv2d(*p) * g),
            lambda p: conv2d_grad(p[0], p[1], g),
            (x, w, b),
        )
    )

    # Distinct values (a permutation) keep max-pool away from ties.
    x = jnp.asarray(np.argsort(np.asarray(normal((60,)))).reshape(2, 5, 3, 2), dtype) / 7.0
    g = normal((2, 3, 2, 2))
    checks.append(
        check_gradient(
            "layers.max_pool",
            lambda v: jnp.sum(max_pool(v) * g),
            lambda v: max_pool_grad(v, g),
            x,
        )
    )

    x = 10.0 * normal((2, 2, 2, 13))
    g = normal((2, 2, 2, 13))
    checks.append(
        check_gradient(
            "layers.lrn",
            lambda v: jnp.sum(lrn(v, alpha=1e-2) * g),
            lambda v: lrn_grad(v, g, alpha=1e-2),
            x,
        )
    )

    drop_key = jax.random.fold_in(key, 1)
    checks.append(
        check_gradient(
            "layers.dropout",
            lambda v: jnp.sum(dropout(v, 0.8, key=drop_key) * g),
            lambda v: dropout_grad(g, 0.8, key=drop_key),
            x,
        )
    )

    logits = 3.0 * normal((6, 10))
    labels = jnp.asarray(np.floor(np.abs(np.asarray(normal((6,)))) * 1e4).astype(np.int32) % 10)
    checks.append(
        check_gradient(
            "layers.softmax_cross_entropy",
            lambda z: softmax_cross_entropy(z, labels),
            lambda z: softmax_cross_entropy_grad(z, labels),
            logits,
        )
    )

    weights = [normal((3, 3, 1, 2)), normal((2, 2))]
    checks.append(check_gradient("layers.l2_penalty", l2_penalty, l2_penalty_grad, weights))
    return checks
