"""Seed 004's MNIST multilayer perceptron, built from :mod:`jaxdl.nn`.

The seed trains "an MLP" on MNIST without fixing its sizes; jaxdl uses the common Keras-style
choice::

    input [B, 28, 28, 1] -> flatten [B, 784]
    fc1   512, ReLU; dropout keep 0.8   [B, 512]
    fc2   256, ReLU; dropout keep 0.8   [B, 256]
    fc3   10 (logits)

535,818 parameters, Glorot-uniform weights and zero biases, no weight penalty
(:func:`l2_penalty` returns 0 so the trainer can treat both models alike).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxdl import activations, nn
from jaxdl.models import check_dropout_key, check_images, summarize

KEEP_PROB = 0.8
DENSE_SHAPES = {"fc1": (784, 512), "fc2": (512, 256), "fc3": (256, 10)}
NUM_PARAMETERS = 535_818
#: Every backward pass (:mod:`jaxdl.backward`): hand rules, autodiff, the platform's pick.
BACKWARDS = nn.BACKWARDS
#: Its step is slower split over the CPU's cores than on one (benchmarks/every_core.py).
SPLITS_BATCH = False

Params = dict[str, dict[str, jax.Array]]


def init_params(key: jax.Array, *, dtype=jnp.float32) -> Params:
    """Glorot-uniform weights ``w [F_in, F_out]`` and zero biases ``b [F_out]`` in ``dtype``."""
    params: Params = {}
    glorot = jax.nn.initializers.glorot_uniform()
    for k, (name, shape) in zip(jax.random.split(key, 3), DENSE_SHAPES.items(), strict=True):
        params[name] = {"w": glorot(k, shape, dtype), "b": jnp.zeros(shape[-1], dtype)}
    return params


def _forward(
    params: Params, x: ArrayLike, keys: tuple | None, ops: nn.Ops = nn.AUTODIFF
) -> dict[str, jax.Array]:
    check_images(x)
    x = jnp.asarray(x, params["fc1"]["w"].dtype)
    out: dict[str, jax.Array] = {}
    h = x.reshape(x.shape[0], -1)
    h = out["fc1"] = activations.relu(ops.dense(h, **params["fc1"]))
    if keys is not None:
        h = out["dropout1"] = ops.dropout(h, KEEP_PROB, key=keys[0])
    h = out["fc2"] = activations.relu(ops.dense(h, **params["fc2"]))
    if keys is not None:
        h = out["dropout2"] = ops.dropout(h, KEEP_PROB, key=keys[1])
    out["fc3"] = ops.dense(h, **params["fc3"])
    return out


def apply(
    params: Params,
    x: ArrayLike,
    *,
    key: jax.Array | None = None,
    train: bool = False,
    backward: nn.Backward | nn.Ops = "auto",
) -> jax.Array:
    """Logits ``[B, 10]`` for images ``x [B, 28, 28, 1]``; dropout only when ``train`` (needs key).

    ``backward``: ``"hand"`` (the dense and dropout layers' ``custom_vjp`` rules), ``"autodiff"``,
    or ``"auto"`` for the platform's default (:func:`jaxdl.nn.default_backward`).
    """
    check_dropout_key(train, key)
    keys = tuple(jax.random.split(key)) if train else None
    ops = nn.ops(backward)
    return _forward(params, x, keys, ops)["fc3"]


def layer_outputs(params: Params, x: ArrayLike) -> dict[str, jax.Array]:
    """Every layer's activation for ``x`` in inference mode, ``{name: [B, ...]}``, input first."""
    return {"input": jnp.asarray(x), **_forward(params, x, None)}


def summary(params: Params):
    """Parameters per array and in total (535,818); see :class:`jaxdl.models.Summary`."""
    return summarize(params)


def l2_penalty(params: Params, *, backward: nn.Backward | nn.Ops = "auto") -> jax.Array:
    """No weight penalty for the MLP: a zero of the parameters' dtype (``backward`` is unused)."""
    del backward
    return jnp.zeros((), params["fc1"]["w"].dtype)
