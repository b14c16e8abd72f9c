"""The ε-network for digits: a small U-Net in DDPM's form, built from the switch's ops.

::

    e = dense(silu(dense(embedding(t))))                     the step, [B, 4C]
    h = conv3x3(x_t)                                         [B, 28, 28, C]
    down    block(C),  kept as skip 1, max-pool              [B, 14, 14, C]
            block(2C), kept as skip 2, max-pool              [B, 7, 7, 2C]
    middle  block(2C)                                        [B, 7, 7, 2C]
    up      upsample, [h, skip 2], block(2C)                 [B, 14, 14, 2C]
            upsample, [h, skip 1], block(C)                  [B, 28, 28, C]
    ε = conv3x3(silu(group_norm(h)))                         [B, 28, 28, 1]

and each residual block (DDPM's ``ResnetBlock``) adds the step's embedding between its two
convolutions::

    h = conv3x3(silu(group_norm(x))) + dense(silu(e))        (one value per channel)
    block(x, e) = skip(x) + conv3x3(silu(group_norm(h)))     skip: 1x1 conv, or x itself

Every op is one of the switch's (:mod:`jaxdl.backward`): the step embedding, dense and
convolution layers, SiLU, group normalisation (:mod:`jaxdl.nn.group_norm`), 2x2 max-pooling
and upsampling (:mod:`jaxdl.nn.upsample`), each a ``custom_vjp`` rule beside its pure forward.
DDPM's CIFAR-10 net is the same pattern at four resolutions with two blocks each,
self-attention at 16x16, dropout and strided convolutions to go down; this one keeps two
resolutions, one block each, and the 2015 U-Net's max-pooling, to train on a CPU in minutes.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxdl import backward

from .process import Batch, Schedule, noise_loss, q_sample

F32 = jnp.float32
#: Channels per level, as multiples of the base width ``C`` (finest level first).
MULTIPLIERS = (1, 2)
#: Groups of every group normalisation (each width of the net is a multiple of it): at the
#: base width 8, four channels a group, as DDPM's 32 groups of 128. One channel a group
#: (instance norm) would take every channel's mean over the image away before the output
#: layer, and with it the net's hold on the image's overall brightness.
GROUPS = 2


class Block(NamedTuple):
    """One residual block's parameters (``C_in`` channels in, ``C_out`` out)."""

    norm_1: tuple  # (gain [C_in], bias [C_in])
    conv_1: tuple  # (w [3, 3, C_in, C_out], b [C_out])
    time: tuple  # (w [4C, C_out], b [C_out]): the step's share, one value per channel
    norm_2: tuple  # (gain [C_out], bias [C_out])
    conv_2: tuple  # (w [3, 3, C_out, C_out], b [C_out]), zero at init: the block starts as skip
    skip: tuple  # (w [1, 1, C_in, C_out], b [C_out]); () where C_in = C_out (the identity)


class UNet(NamedTuple):
    """The U-Net's parameters."""

    time: tuple  # ((w [E, 4C], b [4C]), (w [4C, 4C], b [4C])): the step embedding's MLP
    conv_in: tuple  # (w [3, 3, 1, C], b [C])
    down: tuple  # a Block per level, finest first
    middle: Block  # at the coarsest level
    up: tuple  # a Block per level, coarsest first (each reads its level's skip)
    norm_out: tuple  # (gain [C], bias [C])
    conv_out: tuple  # (w [3, 3, C, 1], b [1]), zero at init: the untrained net predicts ε = 0


def _widths(base: int) -> list[tuple[int, int]]:
    """``(C_in, C_out)`` of the down blocks, finest first (each level's skip has ``C_out``)."""
    outs = [m * base for m in MULTIPLIERS]
    return list(zip([base, *outs[:-1]], outs, strict=True))


@functools.partial(jax.jit, static_argnames=("base", "embed", "dtype"))
def init_unet(*, key: jax.Array, base: int, embed: int, dtype=F32) -> UNet:
    """LeCun-normal weights (``1 / √fan_in``), zero biases, unit gains; the second convolution
    of every block and the output convolution zero (DDPM's near-zero ``init_scale``), so each
    block starts as its skip and the net as ``ε_θ = 0``."""
    keys = iter(jax.random.split(key, 32))

    def layer(*shape, zero=False):
        w = jax.random.normal(next(keys), shape, dtype) / math.sqrt(math.prod(shape[:-1]))
        return (jnp.zeros(shape, dtype) if zero else w, jnp.zeros(shape[-1:], dtype))

    def norm(c):
        return jnp.ones((c,), dtype), jnp.zeros((c,), dtype)

    def block(c_in, c_out):
        skip = () if c_in == c_out else layer(1, 1, c_in, c_out)
        return Block(norm(c_in), layer(3, 3, c_in, c_out), layer(4 * base, c_out),
                     norm(c_out), layer(3, 3, c_out, c_out, zero=True), skip)  # fmt: skip

    widths = _widths(base)
    deepest = widths[-1][1]
    up, below = [], deepest
    for _, c_out in reversed(widths):
        up.append(block(below + c_out, c_out))  # the upsampled map and the level's skip
        below = c_out
    return UNet(
        time=(layer(embed, 4 * base), layer(4 * base, 4 * base)),
        conv_in=layer(3, 3, 1, base),
        down=tuple(block(c_in, c_out) for c_in, c_out in widths),
        middle=block(deepest, deepest),
        up=tuple(up),
        norm_out=norm(base),
        conv_out=layer(3, 3, base, 1, zero=True),
    )


def residual_block(
    p: Block, x: jax.Array, e: jax.Array, *, groups: int, ops: backward.Ops
) -> jax.Array:
    """``skip(x) + conv(silu(gn(conv(silu(gn(x))) + dense(silu(e)))))`` (the module's)."""
    h = ops.conv2d(ops.silu(ops.group_norm(x, *p.norm_1, groups)), *p.conv_1)
    step = ops.dense(ops.silu(e), *p.time)
    h = h + step.reshape(step.shape[0], 1, 1, step.shape[1])
    h = ops.conv2d(ops.silu(ops.group_norm(h, *p.norm_2, groups)), *p.conv_2)
    return (ops.conv2d(x, *p.skip) if p.skip else x) + h


def eps_unet(
    params: UNet,
    x: jax.Array,
    t: jax.Array,
    *,
    groups: int = GROUPS,
    ops: backward.Ops = backward.AUTODIFF,
) -> jax.Array:
    """``ε_θ(x_t, t)`` ``[B, H, W, 1]`` for images ``x [B, H, W, 1]`` (sides divisible by 4)
    at steps ``t [B]``."""
    embed = params.time[0][0].shape[0]
    e = ops.time_embedding(t.astype(x.dtype), embed)
    e = ops.dense(ops.silu(ops.dense(e, *params.time[0])), *params.time[1])
    h = ops.conv2d(x, *params.conv_in)
    skips = []
    for block in params.down:
        h = residual_block(block, h, e, groups=groups, ops=ops)
        skips.append(h)
        h = ops.max_pool(h)
    h = residual_block(params.middle, h, e, groups=groups, ops=ops)
    for block, skip in zip(params.up, reversed(skips), strict=True):
        h = jnp.concatenate([ops.upsample(h), skip], axis=-1)
        h = residual_block(block, h, e, groups=groups, ops=ops)
    h = ops.silu(ops.group_norm(h, *params.norm_out, groups))
    return ops.conv2d(h, *params.conv_out)


def loss(
    params: UNet,
    batch: Batch,
    *,
    sched: Schedule,
    groups: int = GROUPS,
    ops: backward.Ops = backward.AUTODIFF,
) -> jax.Array:
    """DDPM's simplified loss on images: the mean of ``(ε - ε_θ(x_t, t))²`` over the batch's
    pixels."""
    x_t = q_sample(sched, batch.x0, batch.t, batch.eps)
    predicted = eps_unet(params, x_t, batch.t, groups=groups, ops=ops)
    return noise_loss(predicted, batch.eps, ops=ops)
