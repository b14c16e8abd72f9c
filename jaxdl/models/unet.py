"""A small U-Net (Ronneberger, Fischer & Brox 2015) in Flax NNX, for seed 004's masked loss.

Two resolution levels: an encoder (two 3x3 convolutions, ReLU), a 2x2 max-pool, a bottleneck
(two 3x3 convolutions at half resolution), a 2x2 transposed convolution back up, concatenation
with the encoder's output (the skip connection that gives the U its shape), two more 3x3
convolutions, and a 1x1 convolution to one logit per pixel.

``__call__`` returns the logits **and** the last hidden feature map, because seed 004's loss
penalises the asymmetry of a hidden map (see :mod:`jaxdl.milestones.unet`). The model is kept pure
with ``nnx.split`` / ``nnx.merge``: :func:`apply` takes ``(graphdef, state, x)``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import nnx

from jaxdl.validate import require_positive_int


class UNet(nnx.Module):
    """U-Net with ``base`` channels at full resolution and ``2 * base`` at half resolution."""

    def __init__(
        self, *, rngs: nnx.Rngs, in_channels: int = 1, base: int = 8, param_dtype=jnp.float32
    ):
        require_positive_int("in_channels", in_channels)
        require_positive_int("base", base)
        conv = dict(kernel_size=(3, 3), padding="SAME", param_dtype=param_dtype, rngs=rngs)
        self.down1 = nnx.Conv(in_channels, base, **conv)
        self.down2 = nnx.Conv(base, base, **conv)
        self.mid1 = nnx.Conv(base, 2 * base, **conv)
        self.mid2 = nnx.Conv(2 * base, 2 * base, **conv)
        self.up = nnx.ConvTranspose(
            2 * base, base, kernel_size=(2, 2), strides=(2, 2), param_dtype=param_dtype, rngs=rngs
        )
        self.up1 = nnx.Conv(2 * base, base, **conv)
        self.up2 = nnx.Conv(base, base, **conv)
        self.head = nnx.Conv(base, 1, kernel_size=(1, 1), param_dtype=param_dtype, rngs=rngs)
        self.in_channels = in_channels

    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Logits ``[B, H, W, 1]`` and the last hidden feature map ``[B, H, W, base]``.

        Args:
          x: images ``[B, H, W, in_channels]`` with even ``H`` and ``W``.
        """
        check_unet_input(x, self.in_channels)
        skip = nnx.relu(self.down2(nnx.relu(self.down1(x))))
        h = nnx.max_pool(skip, window_shape=(2, 2), strides=(2, 2))
        h = nnx.relu(self.mid2(nnx.relu(self.mid1(h))))
        h = jnp.concatenate([self.up(h), skip], axis=-1)
        features = nnx.relu(self.up2(nnx.relu(self.up1(h))))
        return self.head(features), features


def check_unet_input(x: jax.Array, in_channels: int) -> None:
    """``ValueError`` unless ``x`` is ``[B, H, W, in_channels]`` with even ``H`` and ``W``."""
    shape = jnp.shape(x)
    if len(shape) != 4 or shape[3] != in_channels or shape[1] % 2 or shape[2] % 2 or 0 in shape:
        raise ValueError(
            f"U-Net input must have shape [B, H, W, {in_channels}] with even H and W, got {shape}"
        )


def init(
    key: jax.Array, *, in_channels: int = 1, base: int = 8, dtype=jnp.float32
) -> tuple[nnx.GraphDef, nnx.State]:
    """A freshly initialised U-Net, split into ``(graphdef, state)`` (float32 by default).

    The weights are drawn inside one ``jit`` (eager initialisation would compile every
    initializer separately); the graph definition comes from an abstract model.
    """

    graphdef, _ = nnx.split(
        nnx.eval_shape(lambda: _build(jax.random.key(0), in_channels, base, dtype))
    )
    return graphdef, _init_state(key, in_channels, base, dtype)


def _build(key: jax.Array, in_channels: int, base: int, dtype) -> UNet:
    return UNet(rngs=nnx.Rngs(key), in_channels=in_channels, base=base, param_dtype=dtype)


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _init_state(key: jax.Array, in_channels: int, base: int, dtype) -> nnx.State:
    return nnx.split(_build(key, in_channels, base, dtype))[1]


@functools.partial(jax.jit, static_argnums=0)
def apply(graphdef: nnx.GraphDef, state: nnx.State, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Pure forward pass: ``(logits [B, H, W, 1], features [B, H, W, base])``, jitted."""
    return nnx.merge(graphdef, state)(x)
