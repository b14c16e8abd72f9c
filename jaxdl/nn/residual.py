"""The residual block (He, Zhang, Ren & Sun, 2015): forward, backward by hand, custom_vjp rule.

The block of the paper's CIFAR-10 networks (section 4.2): two 3x3 convolutions, each followed by
batch normalization, a ReLU between them, and the input added back before the last ReLU:

    z1 = BN1(conv(x, w1)),   h = relu(z1),   z2 = BN2(conv(h, w2)),   y = relu(z2 + S(x))

``S`` is the shortcut. Where the block keeps its shape it is the identity. Where it halves the
map and widens the channels (the first block of a stage: ``stride=2``, the first convolution
evaluated at every second pixel), it is the paper's **option A**, the one its CIFAR-10 nets use:
the identity taken at every second pixel, with the new channels filled with zeros (no
parameters). A *plain* block (``shortcut=False``) is the same block without ``S``: the paper's
plain nets.

The backward pass by hand, with ``g`` the gradient at ``y`` and ``r = g * [z2 + S(x) > 0]``
(through the last ReLU): the sum sends ``r`` unchanged down both branches, so

    dx = S^T(r) + (the residual branch's backward of r)

and for the identity shortcut ``S^T(r) = r``: ``dy/dx = 1 + dF/dx``, the "+1 path" along
which the gradient reaches the lower layers however small the residual branch's Jacobian
is. The branch's backward chains :func:`jaxdl.nn.batch_norm.batch_norm_backward`'s compact formula,
the ReLU's slope and :func:`jaxdl.nn.affine.conv2d_backward`. :func:`residual_block_backward` is the
formula, :func:`residual_block_hand` the ``custom_vjp`` rule built from the same pieces, and
:func:`gradient_checks` compares both with ``jax.grad`` of the pure :func:`residual_block`.

Convolutions are the package's :func:`jaxdl.nn.affine.conv2d` (stride 1, 'same' padding) with a
zero bias (batch norm's shift takes its place); the strided convolution is that convolution
kept at every second pixel, which equals a stride-2 convolution padded by 1 on each side
(PyTorch's ``Conv2d(3, stride=2, padding=1)``), at four times the arithmetic.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxdl.activations import relu, relu_grad
from jaxdl.backward import register
from jaxdl.nn import batch_norm as bn
from jaxdl.nn.affine import conv2d, conv2d_backward


class BlockParams(NamedTuple):
    """The two convolutions and two batch normalizations of one block."""

    w1: jax.Array  # [3, 3, C_in, C_out]
    bn1: bn.BatchNormParams  # [C_out] each
    w2: jax.Array  # [3, 3, C_out, C_out]
    bn2: bn.BatchNormParams  # [C_out] each


class BlockStats(NamedTuple):
    """Population statistics of the block's two batch normalizations (evaluation mode)."""

    bn1: bn.BatchNormStats
    bn2: bn.BatchNormStats


def init_block(key: jax.Array, c_in: int, c_out: int, dtype=jnp.float32) -> BlockParams:
    """He et al.'s initialisation (their ref. [13]): ``N(0, 2 / fan_in)``; BN ``gamma 1, beta 0``."""
    k1, k2 = jax.random.split(key)
    std1, std2 = (2.0 / (9 * c_in)) ** 0.5, (2.0 / (9 * c_out)) ** 0.5
    return BlockParams(
        std1 * jax.random.normal(k1, (3, 3, c_in, c_out), dtype),
        bn.init_params(c_out, dtype),
        std2 * jax.random.normal(k2, (3, 3, c_out, c_out), dtype),
        bn.init_params(c_out, dtype),
    )


def _check(x: ArrayLike, params: BlockParams, stride: int) -> tuple[int, int]:
    if jnp.ndim(x) != 4:
        raise ValueError(f"residual block input must be [N, H, W, C], got shape {jnp.shape(x)}")
    if stride not in (1, 2):
        raise ValueError(f"residual block stride must be 1 or 2, got {stride!r}")
    c_in, c_out = jnp.shape(x)[3], jnp.shape(params.w1)[3]
    if jnp.shape(params.w1) != (3, 3, c_in, c_out) or jnp.shape(params.w2) != (3, 3, c_out, c_out):
        raise ValueError(
            f"residual block: input {jnp.shape(x)} needs w1 [3, 3, {c_in}, C_out] and w2 "
            f"[3, 3, C_out, C_out], got {jnp.shape(params.w1)} and {jnp.shape(params.w2)}"
        )
    if stride == 1 and c_out != c_in:
        raise ValueError(
            f"residual block: stride 1 keeps the shape, so C_out must equal C_in ({c_in}), "
            f"got {c_out}; widen with stride=2"
        )
    if stride == 2 and (c_out < c_in or jnp.shape(x)[1] % 2 or jnp.shape(x)[2] % 2):
        raise ValueError(
            f"residual block: stride 2 needs an even map and C_out >= C_in, got input "
            f"{jnp.shape(x)} and C_out {c_out}"
        )
    return c_in, c_out


def _conv(x: jax.Array, w: jax.Array, stride: int) -> jax.Array:
    y = conv2d(x, w, jnp.zeros(w.shape[-1:], w.dtype))
    return y[:, ::stride, ::stride, :] if stride > 1 else y


def _conv_backward(x: jax.Array, w: jax.Array, g: jax.Array, stride: int):
    if stride > 1:  # the subsampling's backward: g back at the pixels that were kept
        full = x.shape[:3] + g.shape[3:]
        g = jnp.zeros(full, g.dtype).at[:, ::stride, ::stride, :].set(g)
    dx, dw, _ = conv2d_backward(x, w, g)
    return dx, dw


def shortcut(x: ArrayLike, c_out: int, stride: int) -> jax.Array:
    """Option A: the identity, at every ``stride``-th pixel, zero-padded to ``c_out`` channels."""
    x = jnp.asarray(x)
    x = x[:, ::stride, ::stride, :] if stride > 1 else x
    extra = c_out - x.shape[3]
    return jnp.pad(x, ((0, 0), (0, 0), (0, 0), (0, extra))) if extra else x


def shortcut_backward(g: ArrayLike, x_shape: tuple[int, ...], stride: int) -> jax.Array:
    """Gradient of :func:`shortcut`: ``g``'s first ``C_in`` channels, back at the kept pixels.

    For the identity (``stride=1``, same channels) it is ``g`` itself: the "+1 path".
    """
    g = jnp.asarray(g)[..., : x_shape[3]]
    if stride == 1:
        return g
    return jnp.zeros(x_shape, g.dtype).at[:, ::stride, ::stride, :].set(g)


def residual_block(
    x: ArrayLike,
    params: BlockParams,
    *,
    stride: int = 1,
    residual: bool = True,
    stats: BlockStats | None = None,
    epsilon: float = bn.EPSILON,
) -> jax.Array:
    """``relu(BN2(conv(relu(BN1(conv(x, w1))), w2)) + S(x))``; without ``S`` if not ``residual``.

    Args:
      x: ``[N, H, W, C_in]``.
      params: the block's weights.
      stride: 1 (shape kept, ``C_out == C_in``) or 2 (map halved, ``C_out >= C_in``, option A
        shortcut).
      residual: add the shortcut (a residual block) or not (a plain block).
      stats: ``None`` for training mode, or the population statistics for evaluation mode.
      epsilon: batch normalization's.

    Returns:
      ``[N, H / stride, W / stride, C_out]``.
    """
    _, c_out = _check(x, params, stride)
    x = jnp.asarray(x)
    a1 = _conv(x, params.w1, stride)
    if stats is None:
        z1 = bn.batch_norm(a1, params.bn1, epsilon=epsilon)
    else:
        z1 = bn.batch_norm_eval(a1, params.bn1, stats.bn1, epsilon=epsilon)
    a2 = _conv(relu(z1), params.w2, 1)
    if stats is None:
        z2 = bn.batch_norm(a2, params.bn2, epsilon=epsilon)
    else:
        z2 = bn.batch_norm_eval(a2, params.bn2, stats.bn2, epsilon=epsilon)
    return relu(z2 + shortcut(x, c_out, stride) if residual else z2)


def block_statistics(
    x: ArrayLike, params: BlockParams, *, stride: int = 1, epsilon: float = bn.EPSILON
) -> tuple[tuple[jax.Array, jax.Array], tuple[jax.Array, jax.Array]]:
    """The batch mean and variance at each of the block's batch normalizations (training mode)."""
    x = jnp.asarray(x)
    a1 = _conv(x, params.w1, stride)
    h = relu(bn.batch_norm(a1, params.bn1, epsilon=epsilon))
    a2 = _conv(h, params.w2, 1)
    return bn.batch_statistics(a1), bn.batch_statistics(a2)


def _forward_saving(x, params, stride, residual, epsilon):
    """Training-mode forward that keeps what the hand backward needs."""
    c_out = params.w1.shape[3]
    a1 = _conv(x, params.w1, stride)
    xhat1, inv_s1 = bn.normalise(a1, epsilon)
    z1 = bn.per_channel(params.bn1.scale, 4) * xhat1 + bn.per_channel(params.bn1.shift, 4)
    h = relu(z1)
    a2 = _conv(h, params.w2, 1)
    xhat2, inv_s2 = bn.normalise(a2, epsilon)
    z2 = bn.per_channel(params.bn2.scale, 4) * xhat2 + bn.per_channel(params.bn2.shift, 4)
    pre = z2 + shortcut(x, c_out, stride) if residual else z2
    return relu(pre), (x, params, z1, h, xhat1, inv_s1, xhat2, inv_s2, pre)


def _backward(saved, g, stride, residual):
    x, params, z1, h, xhat1, inv_s1, xhat2, inv_s2, pre = saved
    r = g * relu_grad(pre)  # through the last ReLU; the sum passes r to both branches
    da2, dbn2 = bn.batch_norm_backward_saved(xhat2, inv_s2, params.bn2.scale, r)
    dh, dw2 = _conv_backward(h, params.w2, da2, 1)
    dz1 = dh * relu_grad(z1)
    da1, dbn1 = bn.batch_norm_backward_saved(xhat1, inv_s1, params.bn1.scale, dz1)
    dx, dw1 = _conv_backward(x, params.w1, da1, stride)
    if residual:
        dx = dx + shortcut_backward(r, x.shape, stride)  # the +1 path
    return dx, BlockParams(dw1, dbn1, dw2, dbn2)


def residual_block_backward(
    x: ArrayLike,
    params: BlockParams,
    g: ArrayLike,
    *,
    stride: int = 1,
    residual: bool = True,
    epsilon: float = bn.EPSILON,
) -> tuple[jax.Array, BlockParams]:
    """Gradient of :func:`residual_block` in training mode, by hand.

    With ``r = g * [z2 + S(x) > 0]``:

    - ``da2, (dgamma2, dbeta2) = batch_norm_backward(a2, bn2, r)`` (the compact formula);
    - ``dh, dw2 = conv2d_backward(h, w2, da2)``; ``dz1 = dh * [z1 > 0]``;
    - ``da1, (dgamma1, dbeta1) = batch_norm_backward(a1, bn1, dz1)``;
    - ``dx_F, dw1 = conv2d_backward(x, w1, da1)`` (``da1`` put back at the kept pixels first when
      ``stride=2``);
    - ``dx = dx_F + S^T(r)``: for the identity shortcut ``S^T(r) = r``, the "+1 path".

    Returns:
      ``(dx [N, H, W, C_in], BlockParams(dw1, dbn1, dw2, dbn2))``.
    """
    _check(x, params, stride)
    x, g = jnp.asarray(x), jnp.asarray(g)
    _, saved = _forward_saving(x, params, stride, residual, epsilon)
    return _backward(saved, g, stride, residual)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _block_rule(x, params, stride, residual, epsilon):
    return residual_block(x, params, stride=stride, residual=residual, epsilon=epsilon)


def _block_fwd(x, params, stride, residual, epsilon):
    return _forward_saving(x, params, stride, residual, epsilon)


def _block_bwd(stride, residual, epsilon, saved, g):
    return _backward(saved, g, stride, residual)


_block_rule.defvjp(_block_fwd, _block_bwd)


def residual_block_hand(
    x: ArrayLike,
    params: BlockParams,
    *,
    stride: int = 1,
    residual: bool = True,
    stats: BlockStats | None = None,
    epsilon: float = bn.EPSILON,
) -> jax.Array:
    """:func:`residual_block` in training mode whose gradient is :func:`residual_block_backward`.

    With ``stats`` (evaluation mode, not trained through) it is :func:`residual_block`.
    """
    if stats is not None:
        return residual_block(x, params, stride=stride, residual=residual, stats=stats)
    _check(x, params, stride)
    return _block_rule(jnp.asarray(x), params, stride, residual, epsilon)


def gradient_checks(*, key: jax.Array) -> list:
    """The block's hand gradient (formula and ``custom_vjp`` rule) vs ``jax.grad`` vs finite
    differences, through ``sum(y * G)``: a residual block keeping its shape (the identity, the
    +1 path), a widening one (stride 2, option A) and a plain block (no shortcut)."""
    from jaxdl.gradcheck import check_gradient, standard_normal

    dtype = jnp.result_type(float)
    checks = []
    for i, (label, c_in, c_out, stride, residual) in enumerate(
        (
            ("identity shortcut", 2, 2, 1, True),
            ("stride 2, option A", 2, 3, 2, True),
            ("plain, no shortcut", 2, 2, 1, False),
        )
    ):
        kp, kx, kg, kb = jax.random.split(jax.random.fold_in(key, i), 4)
        params = init_block(kp, c_in, c_out, dtype)
        shifts = 0.3 * standard_normal(kb, (2, c_out), dtype)
        params = params._replace(
            bn1=params.bn1._replace(shift=shifts[0]), bn2=params.bn2._replace(shift=shifts[1])
        )
        x = standard_normal(kx, (2, 4, 4, c_in), dtype)
        g = standard_normal(kg, (2, 4 // stride, 4 // stride, c_out), dtype)
        options = dict(stride=stride, residual=residual, epsilon=1e-3)

        def reference(p, g=g, options=options):
            return jnp.sum(residual_block(p[0], p[1], **options) * g)

        def hand(p, g=g, options=options):
            return jnp.sum(residual_block_hand(p[0], p[1], **options) * g)

        name = f"nn.residual_block {label}"
        checks += [
            check_gradient(
                name,
                reference,
                lambda p, g=g, options=options: residual_block_backward(p[0], p[1], g, **options),
                (x, params),
            ),
            check_gradient(f"{name} custom_vjp", reference, jax.grad(hand), (x, params)),
        ]
    return checks


register("residual_block", residual_block, residual_block_hand)
