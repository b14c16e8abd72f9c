"""The deep CNN again, in Flax (NNX, the current API): the "concise" twin of :mod:`deep_cnn`.

Everything Flax has is used as is (``nnx.Conv``, ``nnx.max_pool``, ``nnx.Linear``,
``nnx.Dropout``); Flax has no local response normalisation, so :func:`tf_lrn` writes
TensorFlow's with ``lax.reduce_window`` (independently of :func:`jaxdl.nn.lrn.lrn`, which uses a
banded matmul). ``nnx.Dropout`` draws the same mask as :func:`jaxdl.nn.dropout.dropout` for the same
key, so both models agree even in training mode.

The model is kept pure with ``nnx.split`` / ``nnx.merge``: :func:`apply` takes the graph
definition and a state pytree, so it can be jitted and differentiated like any JAX function.
:func:`from_params` and :func:`to_params` convert between the two parameter layouts (they are
the same arrays: Flax's ``kernel``/``bias`` are jaxdl's ``w``/``b``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx
from jax import lax

from jaxdl.models import check_dropout_key, check_images, deep_cnn
from jaxdl.nn import lrn

_LAYERS = ("conv1", "conv2", "fc1", "fc2", "fc3")


def tf_lrn(x: jax.Array) -> jax.Array:
    """TensorFlow's LRN with TFLearn's defaults, summing squares with ``lax.reduce_window``."""
    r = lrn.LRN_DEPTH_RADIUS
    sq = lax.reduce_window(
        x * x, 0.0, lax.add, (1, 1, 1, 2 * r + 1), (1, 1, 1, 1), ((0, 0), (0, 0), (0, 0), (r, r))
    )
    return x / (lrn.LRN_BIAS + lrn.LRN_ALPHA * sq) ** lrn.LRN_BETA


class DeepCNN(nnx.Module):
    """TFLearn's MNIST convnet as an NNX module (same layers and shapes as :mod:`deep_cnn`)."""

    def __init__(self, *, rngs: nnx.Rngs, param_dtype=jnp.float32):
        conv = dict(kernel_size=(3, 3), padding="SAME", param_dtype=param_dtype, rngs=rngs)
        self.conv1 = nnx.Conv(1, 32, **conv)
        self.conv2 = nnx.Conv(32, 64, **conv)
        self.fc1 = nnx.Linear(7 * 7 * 64, 128, param_dtype=param_dtype, rngs=rngs)
        self.fc2 = nnx.Linear(128, 256, param_dtype=param_dtype, rngs=rngs)
        self.fc3 = nnx.Linear(256, 10, param_dtype=param_dtype, rngs=rngs)
        self.dropout = nnx.Dropout(rate=1.0 - deep_cnn.KEEP_PROB)

    def __call__(self, x: jax.Array, *, key: jax.Array | None = None, train: bool = False):
        """Logits ``[B, 10]`` for ``x [B, 28, 28, 1]``; dropout only when ``train`` (needs key)."""
        check_images(x)
        check_dropout_key(train, key)
        keys = jax.random.split(key) if train else (None, None)
        pool = dict(window_shape=(2, 2), strides=(2, 2), padding="SAME")
        h = tf_lrn(nnx.max_pool(nnx.relu(self.conv1(x)), **pool))
        h = tf_lrn(nnx.max_pool(nnx.relu(self.conv2(h)), **pool))
        h = jnp.tanh(self.fc1(h.reshape(h.shape[0], -1)))
        h = self.dropout(h, deterministic=not train, rngs=keys[0])
        h = jnp.tanh(self.fc2(h))
        h = self.dropout(h, deterministic=not train, rngs=keys[1])
        return self.fc3(h)


def init(key: jax.Array, *, dtype=jnp.float32) -> tuple[nnx.GraphDef, nnx.State]:
    """A freshly initialised twin, split into ``(graphdef, state)``."""
    return nnx.split(DeepCNN(rngs=nnx.Rngs(key), param_dtype=dtype))


def from_params(params: deep_cnn.Params) -> tuple[nnx.GraphDef, nnx.State]:
    """The twin holding exactly ``params`` (from :func:`deep_cnn.init_params`), split."""
    dtype = params["conv1"]["w"].dtype
    model = DeepCNN(rngs=nnx.Rngs(0), param_dtype=dtype)
    for name in _LAYERS:
        layer = getattr(model, name)
        layer.kernel.set_value(jnp.asarray(params[name]["w"]))
        layer.bias.set_value(jnp.asarray(params[name]["b"]))
    return nnx.split(model)


def to_params(state: nnx.State) -> deep_cnn.Params:
    """The twin's state as jaxdl's ``{layer: {"w", "b"}}`` dict."""
    return {
        name: {"w": state[name]["kernel"].get_value(), "b": state[name]["bias"].get_value()}
        for name in _LAYERS
    }


def apply(
    graphdef: nnx.GraphDef,
    state: nnx.State,
    x: jax.Array,
    *,
    key: jax.Array | None = None,
    train: bool = False,
) -> jax.Array:
    """Pure forward pass: merge ``(graphdef, state)`` into a module and call it."""
    return nnx.merge(graphdef, state)(x, key=key, train=train)
