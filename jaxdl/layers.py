"""The deep CNN's layers as pure functions, each with its hand-derived gradient beside it.

Layout conventions (TensorFlow's, which TFLearn used): images are ``NHWC`` (``[B, H, W, C]``),
convolution kernels are ``HWIO`` (``[kh, kw, C_in, C_out]``), dense weights are
``[features_in, features_out]``. Every ``*_grad`` function takes the forward inputs and the
upstream gradient ``g`` (the gradient of some scalar with respect to the layer's output) and
returns the gradient with respect to the layer's inputs and parameters (the vector-Jacobian
product). ``jax.grad`` is the judge: :func:`gradient_checks` and ``tests/test_layers.py`` compare
every formula here with autodiff and with finite differences.

Activations (ReLU, tanh) come from :mod:`jaxdl.activations`.

The engine trains with the hand gradients: :data:`HAND` holds the same layers with each
``*_grad`` formula attached as a ``jax.custom_vjp`` rule, :data:`AUTODIFF` the pure forwards for
``jax.grad`` to differentiate; :func:`default_backward` picks one per platform.

Implementation choices (the LRN window sum as a banded ``[C, C]`` matmul, the max-pool as a
reshape and a max, the first layer's kernel gradient as one matrix product) were made by timing
the whole train step with ``benchmarks/deep_cnn_speed.py --variants`` on a 2-core CPU; the
script prints its figures, and alternatives stay in it so the choice can be re-made on other
machines.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import NamedTuple

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
    return dx, _conv2d_kernel_grad(x, g, kh, kw), jnp.sum(g, axis=(0, 1, 2))


def _conv2d_kernel_grad(x: jax.Array, g: jax.Array, kh: int, kw: int) -> jax.Array:
    """``dw [kh, kw, C_in, C_out]`` of :func:`conv2d_grad`, in the form XLA:CPU runs faster.

    With one input channel (the first layer), as one matrix product of the ``kh kw`` shifted
    copies of the image with ``g``; otherwise as a convolution in which the batch axis of ``x``
    plays the input features and its channels the batch (the result's spatial extent is
    ``H + low + high - H + 1 = kh``). ``benchmarks/deep_cnn_speed.py`` times the train step.
    """
    pad_h, pad_w = _same_padding(kh), _same_padding(kw)
    b, h, w, c = x.shape
    if c == 1:
        xp = jnp.pad(x[..., 0], ((0, 0), pad_h, pad_w))
        shifted = jnp.stack(
            [xp[:, i : i + h, j : j + w] for i in range(kh) for j in range(kw)], axis=-1
        )  # [B, H, W, kh kw]
        dw = lax.dot_general(shifted, g, (((0, 1, 2), (0, 1, 2)), ((), ())))
        return dw.reshape(kh, kw, 1, g.shape[-1])
    return lax.conv_general_dilated(
        x,
        g,
        window_strides=(1, 1),
        padding=(pad_h, pad_w),
        dimension_numbers=("CHWN", "IHWO", "HWNC"),
    )


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
    Written as reshape-and-max rather than ``lax.reduce_window`` (see the module docstring).

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
    ``[C, C]`` matmul rather than ``2 r + 1`` shifted slices (see the module docstring).

    Args:
      x: ``[B, H, W, C]``.
      depth_radius, bias, alpha, beta: TensorFlow's parameters (defaults are TFLearn's).

    Returns:
      ``[B, H, W, C]``.
    """
    _require_rank("lrn input", x, 4, "[B, H, W, C]")
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


def _lrn_backward(x, d, scale, g, depth_radius, alpha, beta) -> jax.Array:
    band = _band(x.shape[-1], depth_radius, x.dtype)
    inner = (g * x * scale / d) @ band
    return g * scale - (2.0 * alpha * beta) * x * inner


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
    d, scale = _lrn_denominator(x, depth_radius, bias, alpha, beta)
    return _lrn_backward(x, d, scale, g, depth_radius, alpha, beta)


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
# The hand gradients as ``jax.custom_vjp`` rules: what the engine trains with
# --------------------------------------------------------------------------------------------
# Each rule's forward is the pure function above (so values are identical); ``_fwd`` keeps what
# the formula needs and ``_bwd`` is the ``*_grad`` formula. ``jax.grad`` of a function built
# from these runs the hand math; the pure functions stay the reference that the tests (and
# ``jaxdl check``) compare against. Shapes are validated by the pure forward, on the host,
# once per trace.


def _affine_rule(forward, forward_grad):
    """``forward(x, w, b)`` as a custom_vjp whose backward is ``forward_grad(x, w, g)``.

    Dense and convolution layers share this shape: the backward pass needs the input and the
    weights, and returns the gradients of input, weights and bias.
    """

    @jax.custom_vjp
    def rule(x: jax.Array, w: jax.Array, b: jax.Array) -> jax.Array:
        return forward(x, w, b)

    def rule_fwd(x, w, b):
        return forward(x, w, b), (x, w)

    def rule_bwd(saved, g):
        x, w = saved
        return forward_grad(x, w, g)

    rule.defvjp(rule_fwd, rule_bwd)
    return rule


_dense_hand = _affine_rule(dense, dense_grad)
_conv2d_hand = _affine_rule(conv2d, conv2d_grad)


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


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3, 4))
def _lrn_hand(x: jax.Array, depth_radius: int, bias: float, alpha: float, beta: float):
    return lrn(x, depth_radius=depth_radius, bias=bias, alpha=alpha, beta=beta)


def _lrn_fwd(x, depth_radius, bias, alpha, beta):
    d, scale = _lrn_denominator(x, depth_radius, bias, alpha, beta)
    return x * scale, (x, d, scale)  # keep d and d**-beta: no second band matmul or power


def _lrn_bwd(depth_radius, bias, alpha, beta, saved, g):
    x, d, scale = saved
    return (_lrn_backward(x, d, scale, g, depth_radius, alpha, beta),)


_lrn_hand.defvjp(_lrn_fwd, _lrn_bwd)


def lrn_hand(
    x: ArrayLike,
    *,
    depth_radius: int = LRN_DEPTH_RADIUS,
    bias: float = LRN_BIAS,
    alpha: float = LRN_ALPHA,
    beta: float = LRN_BETA,
) -> jax.Array:
    """:func:`lrn` whose gradient is :func:`lrn_grad` (a ``jax.custom_vjp`` rule)."""
    _require_rank("lrn input", x, 4, "[B, H, W, C]")
    return _lrn_hand(jnp.asarray(x), depth_radius, bias, alpha, beta)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _scale_kept(x: jax.Array, mask: jax.Array, keep_prob: float) -> jax.Array:
    return lax.select(mask, x / jnp.asarray(keep_prob, x.dtype), jnp.zeros_like(x))


def _scale_kept_fwd(x, mask, keep_prob):
    return _scale_kept(x, mask, keep_prob), mask


def _scale_kept_bwd(keep_prob, mask, g):
    # dropout_grad's formula with the saved mask (the same one its key would redraw)
    return _scale_kept(g, mask, keep_prob), None


_scale_kept.defvjp(_scale_kept_fwd, _scale_kept_bwd)


def dropout_hand(x: ArrayLike, keep_prob: float, *, key: jax.Array) -> jax.Array:
    """:func:`dropout` whose gradient is :func:`dropout_grad`: ``g * mask / keep_prob``.

    The forward keeps the boolean mask (one byte per entry) for the backward pass instead of
    redrawing it from the key.
    """
    x = jnp.asarray(x)
    return _scale_kept(x, dropout_mask(x.shape, keep_prob, key=key), keep_prob)


@jax.custom_vjp
def _softmax_cross_entropy_hand(logits: jax.Array, labels: jax.Array) -> jax.Array:
    return softmax_cross_entropy(logits, labels)


def _softmax_cross_entropy_fwd(logits, labels):
    return softmax_cross_entropy(logits, labels), (logits, labels)


def _softmax_cross_entropy_bwd(saved, g):
    logits, labels = saved
    return g * softmax_cross_entropy_grad(logits, labels), None


_softmax_cross_entropy_hand.defvjp(_softmax_cross_entropy_fwd, _softmax_cross_entropy_bwd)


def softmax_cross_entropy_hand(logits: ArrayLike, labels: ArrayLike) -> jax.Array:
    """:func:`softmax_cross_entropy` whose gradient is :func:`softmax_cross_entropy_grad`."""
    _check_logits_labels(logits, labels)
    return _softmax_cross_entropy_hand(jnp.asarray(logits), jnp.asarray(labels))


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _l2_penalty_hand(weights: list, weight_decay: float) -> jax.Array:
    return l2_penalty(weights, weight_decay)


def _l2_penalty_fwd(weights, weight_decay):
    return l2_penalty(weights, weight_decay), weights


def _l2_penalty_bwd(weight_decay, weights, g):
    return ([g * d for d in l2_penalty_grad(weights, weight_decay)],)


_l2_penalty_hand.defvjp(_l2_penalty_fwd, _l2_penalty_bwd)


def l2_penalty_hand(weights: list[ArrayLike], weight_decay: float = L2_WEIGHT_DECAY) -> jax.Array:
    """:func:`l2_penalty` whose gradient is :func:`l2_penalty_grad`."""
    return _l2_penalty_hand([jnp.asarray(w) for w in weights], weight_decay)


def dense_hand(x: ArrayLike, w: ArrayLike, b: ArrayLike) -> jax.Array:
    """:func:`dense` whose gradient is :func:`dense_grad` (a ``jax.custom_vjp`` rule)."""
    return _dense_hand(jnp.asarray(x), jnp.asarray(w), jnp.asarray(b))


def conv2d_hand(x: ArrayLike, w: ArrayLike, b: ArrayLike) -> jax.Array:
    """:func:`conv2d` whose gradient is :func:`conv2d_grad` (a ``jax.custom_vjp`` rule)."""
    return _conv2d_hand(jnp.asarray(x), jnp.asarray(w), jnp.asarray(b))


def max_pool_hand(x: ArrayLike) -> jax.Array:
    """:func:`max_pool` whose gradient is :func:`max_pool_grad` (a ``jax.custom_vjp`` rule).

    Tie rule: where a window holds several equal maxima, the first one in row-major order
    within the window receives the whole upstream gradient (TensorFlow's and PyTorch's choice);
    ``jax.grad`` of :func:`max_pool` splits it equally among them instead. Off ties the two agree.
    """
    _require_rank("max_pool input", x, 4, "[B, H, W, C]")
    return _max_pool_hand(jnp.asarray(x))


class Ops(NamedTuple):
    """The layers one network is built from, with one choice of backward pass."""

    conv2d: Callable
    max_pool: Callable
    lrn: Callable
    dense: Callable
    dropout: Callable
    softmax_cross_entropy: Callable
    l2_penalty: Callable


#: The pure forwards: ``jax.grad`` differentiates them by autodiff (the reference).
AUTODIFF = Ops(conv2d, max_pool, lrn, dense, dropout, softmax_cross_entropy, l2_penalty)
#: The same forwards with the hand gradients as ``custom_vjp`` rules.
HAND = Ops(
    conv2d_hand,
    max_pool_hand,
    lrn_hand,
    dense_hand,
    dropout_hand,
    softmax_cross_entropy_hand,
    l2_penalty_hand,
)
BACKWARDS = ("hand", "autodiff")
#: The default backward pass per JAX platform, chosen by ``benchmarks/deep_cnn_speed.py`` (which
#: times both on the same train step); a platform not listed keeps the autodiff reference.
BACKWARD_BY_PLATFORM = {"cpu": "hand"}


def default_backward(platform: str | None = None) -> str:
    """The backward pass to use on ``platform`` (default: JAX's default backend)."""
    return BACKWARD_BY_PLATFORM.get(platform or jax.default_backend(), "autodiff")


def ops(backward: str | Ops) -> Ops:
    """:data:`HAND` for ``"hand"``, :data:`AUTODIFF` for ``"autodiff"``; an :class:`Ops` as is."""
    if isinstance(backward, Ops):
        return backward
    if backward == "hand":
        return HAND
    if backward == "autodiff":
        return AUTODIFF
    raise ValueError(f"backward must be one of {BACKWARDS}, got {backward!r}")


# --------------------------------------------------------------------------------------------
# Checks for ``jaxdl check``
# --------------------------------------------------------------------------------------------


def gradient_checks(*, key: jax.Array) -> list:
    """Every layer's hand gradient vs ``jax.grad`` vs finite differences, at random points.

    Each layer is checked through ``sum(layer(...) * G)`` for a random upstream gradient ``G``,
    whose gradient is exactly the layer's vector-Jacobian product with ``G``; twice: the
    ``*_grad`` formula itself, and ``jax.grad`` of the :data:`HAND` layer (its ``custom_vjp``
    rule) against ``jax.grad`` of the pure forward. Run in float64 (``jaxdl check`` enables it)
    for tight tolerances.
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

    def check(name: str, reference: Callable, formula: Callable, custom: Callable, at) -> None:
        checks.append(check_gradient(f"layers.{name}", reference, formula, at))
        checks.append(check_gradient(f"layers.{name} custom_vjp", reference, jax.grad(custom), at))

    x = normal((3, 5))
    w, b = normal((5, 4)), normal((4,))
    g = normal((3, 4))
    check(
        "dense",
        lambda p: jnp.sum(dense(*p) * g),
        lambda p: dense_grad(p[0], p[1], g),
        lambda p: jnp.sum(HAND.dense(*p) * g),
        (x, w, b),
    )

    for name, x_shape, w_shape in (
        ("conv2d", (2, 5, 4, 2), (3, 3, 2, 3)),
        ("conv2d, one input channel", (2, 5, 4, 1), (3, 3, 1, 3)),
    ):
        x, w, b = normal(x_shape), normal(w_shape), normal(w_shape[-1:])
        g = normal(x_shape[:3] + w_shape[-1:])
        check(
            name,
            lambda p, g=g: jnp.sum(conv2d(*p) * g),
            lambda p, g=g: conv2d_grad(p[0], p[1], g),
            lambda p, g=g: jnp.sum(HAND.conv2d(*p) * g),
            (x, w, b),
        )

    # Distinct values (a permutation) keep max-pool away from ties.
    x = jnp.asarray(np.argsort(np.asarray(normal((60,)))).reshape(2, 5, 3, 2), dtype) / 7.0
    g = normal((2, 3, 2, 2))
    check(
        "max_pool",
        lambda v: jnp.sum(max_pool(v) * g),
        lambda v: max_pool_grad(v, g),
        lambda v: jnp.sum(HAND.max_pool(v) * g),
        x,
    )

    x = 10.0 * normal((2, 2, 2, 13))
    g = normal((2, 2, 2, 13))
    check(
        "lrn",
        lambda v: jnp.sum(lrn(v, alpha=1e-2) * g),
        lambda v: lrn_grad(v, g, alpha=1e-2),
        lambda v: jnp.sum(HAND.lrn(v, alpha=1e-2) * g),
        x,
    )

    drop_key = jax.random.fold_in(key, 1)
    check(
        "dropout",
        lambda v: jnp.sum(dropout(v, 0.8, key=drop_key) * g),
        lambda v: dropout_grad(g, 0.8, key=drop_key),
        lambda v: jnp.sum(HAND.dropout(v, 0.8, key=drop_key) * g),
        x,
    )

    logits = 3.0 * normal((6, 10))
    labels = jnp.asarray(np.floor(np.abs(np.asarray(normal((6,)))) * 1e4).astype(np.int32) % 10)
    check(
        "softmax_cross_entropy",
        lambda z: softmax_cross_entropy(z, labels),
        lambda z: softmax_cross_entropy_grad(z, labels),
        lambda z: HAND.softmax_cross_entropy(z, labels),
        logits,
    )

    weights = [normal((3, 3, 1, 2)), normal((2, 2))]
    check("l2_penalty", l2_penalty, l2_penalty_grad, HAND.l2_penalty, weights)
    return checks
