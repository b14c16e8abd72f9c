from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

from jaxdl.models import unet

ROOT = Path(__file__).resolve().parents[2]


def test_shapes_and_float32_under_x64():
    graphdef, state = unet.init(jax.random.key(0))
    x = jnp.zeros((2, 8, 8, 1), jnp.float32)
    logits, features = unet.apply(graphdef, state, x)
    assert logits.shape == (2, 8, 8, 1) and features.shape == (2, 8, 8, 8)
    assert logits.dtype == jnp.float32
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(state))


@pytest.mark.parametrize("shape", [(2, 7, 8, 1), (2, 8, 8, 2), (8, 8, 1)])
def test_bad_input_shape(shape):
    graphdef, state = unet.init(jax.random.key(0))
    with pytest.raises(ValueError, match="U-Net input must have shape"):
        unet.apply(graphdef, state, jnp.zeros(shape, jnp.float32))


def test_bad_width():
    with pytest.raises(ValueError, match="base must be a positive integer"):
        unet.UNet(rngs=__import__("flax").nnx.Rngs(0), base=0)
