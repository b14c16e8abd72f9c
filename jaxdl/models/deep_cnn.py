"""TFLearn's MNIST convnet (seed 000's "deep" network), built from :mod:`jaxdl.nn`.

::

    input [B, 28, 28, 1]
    conv1   3x3, 32, ReLU, 'same'       [B, 28, 28, 32]   L2 0.001 on the kernel
    pool1   max 2x2, stride 2, 'same'   [B, 14, 14, 32]
    lrn1    depth radius 5              [B, 14, 14, 32]
    conv2   3x3, 64, ReLU, 'same'       [B, 14, 14, 64]   L2 0.001 on the kernel
    pool2   max 2x2, stride 2           [B, 7, 7, 64]
    lrn2                                [B, 7, 7, 64]
    fc1     128, tanh; dropout keep 0.8 [B, 128]
    fc2     256, tanh; dropout keep 0.8 [B, 256]
    fc3     10 (logits; softmax in the loss)

455,946 parameters. Initialisation follows TFLearn's defaults: conv kernels ``uniform_scaling``
(uniform in ``±sqrt(3 / fan_in)``), dense weights a normal with standard deviation 0.02
truncated at two standard deviations, all biases zero.

The backward pass is chosen with ``backward``: ``"hand"`` builds the network from the
``custom_vjp`` layers of :mod:`jaxdl.nn` (``jax.grad`` then runs the hand-derived
gradients), ``"autodiff"`` from the pure forwards (``jax.grad`` differentiates them itself).
``"auto"`` (the default) takes :func:`jaxdl.nn.default_backward` for the platform. Besides,
:func:`loss_and_grad` writes the whole backward pass out by hand, layer by layer, from the
``*_grad`` functions; the tests prove all three equal.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxdl import activations, losses, nn
from jaxdl.models import check_dropout_key, check_images, objective, summarize
from jaxdl.nn.affine import conv2d_backward, dense_backward
from jaxdl.nn.dropout import dropout_backward
from jaxdl.nn.lrn import lrn_backward
from jaxdl.nn.pooling import max_pool_backward

KEEP_PROB = 0.8
#: (name, kernel shape) of the convolutions and (name, weight shape) of the dense layers.
CONV_SHAPES = {"conv1": (3, 3, 1, 32), "conv2": (3, 3, 32, 64)}
DENSE_SHAPES = {"fc1": (7 * 7 * 64, 128), "fc2": (128, 256), "fc3": (256, 10)}
NUM_PARAMETERS = 455_946
#: Every backward pass (:mod:`jaxdl.backward`): hand rules, autodiff, the platform's pick.
BACKWARDS = nn.BACKWARDS
#: Its step gains from the batch split over every CPU core (benchmarks/every_core.py).
SPLITS_BATCH = True

Params = dict[str, dict[str, jax.Array]]


def init_params(key: jax.Array, *, dtype=jnp.float32) -> Params:
    """TFLearn-initialised parameters ``{layer: {"w": ..., "b": ...}}`` in ``dtype``.

    Args:
      key: PRNG key.
      dtype: parameter dtype (float32 for training; float64 for gradient tests).

    Returns:
      ``conv1``/``conv2`` with ``w [3, 3, C_in, C_out]``, ``b [C_out]``; ``fc1``..``fc3`` with
      ``w [F_in, F_out]``, ``b [F_out]``.
    """
    drawn = _draw_params(key, dtype)  # jit sorts dict keys; restore layer order, "w" first
    return {name: {"w": drawn[name]["w"], "b": drawn[name]["b"]} for name in LAYER_NAMES}


LAYER_NAMES = (*CONV_SHAPES, *DENSE_SHAPES)


@functools.partial(jax.jit, static_argnums=1)  # one compile, not one per eager random op
def _draw_params(key: jax.Array, dtype) -> Params:
    keys = jax.random.split(key, len(CONV_SHAPES) + len(DENSE_SHAPES))
    params: Params = {}
    for k, (name, shape) in zip(keys[:2], CONV_SHAPES.items(), strict=True):
        limit = math.sqrt(3.0 / math.prod(shape[:-1]))
        w = jax.random.uniform(k, shape, dtype, minval=-limit, maxval=limit)
        params[name] = {"w": w, "b": jnp.zeros(shape[-1], dtype)}
    for k, (name, shape) in zip(keys[2:], DENSE_SHAPES.items(), strict=True):
        w = 0.02 * jax.random.truncated_normal(k, -2.0, 2.0, shape, dtype)
        params[name] = {"w": w, "b": jnp.zeros(shape[-1], dtype)}
    return params


def _forward(
    params: Params, x: ArrayLike, keys: tuple | None, ops: nn.Ops = nn.AUTODIFF
) -> dict[str, jax.Array]:
    """Every layer's output, in order; ``keys`` (two dropout keys) or ``None`` for inference."""
    check_images(x)
    x = jnp.asarray(x, params["conv1"]["w"].dtype)
    out: dict[str, jax.Array] = {}
    h = out["conv1"] = activations.relu(ops.conv2d(x, **params["conv1"]))
    h = out["pool1"] = ops.max_pool(h)
    h = out["lrn1"] = ops.lrn(h)
    h = out["conv2"] = activations.relu(ops.conv2d(h, **params["conv2"]))
    h = out["pool2"] = ops.max_pool(h)
    h = out["lrn2"] = ops.lrn(h)
    h = h.reshape(h.shape[0], -1)
    h = out["fc1"] = activations.tanh(ops.dense(h, **params["fc1"]))
    if keys is not None:
        h = out["dropout1"] = ops.dropout(h, KEEP_PROB, key=keys[0])
    h = out["fc2"] = activations.tanh(ops.dense(h, **params["fc2"]))
    if keys is not None:
        h = out["dropout2"] = ops.dropout(h, KEEP_PROB, key=keys[1])
    out["fc3"] = ops.dense(h, **params["fc3"])
    return out


def _dropout_keys(key: jax.Array | None, train: bool) -> tuple | None:
    check_dropout_key(train, key)
    return tuple(jax.random.split(key)) if train else None


def apply(
    params: Params,
    x: ArrayLike,
    *,
    key: jax.Array | None = None,
    train: bool = False,
    backward: nn.Backward | nn.Ops = "auto",
) -> jax.Array:
    """Logits ``[B, 10]`` for images ``x [B, 28, 28, 1]``.

    Args:
      params: from :func:`init_params`.
      x: images, float, ``[B, 28, 28, 1]`` (cast to the parameters' dtype).
      key: PRNG key for dropout; required when ``train`` is true.
      train: apply dropout (keep 0.8) after fc1 and fc2.
      backward: ``"hand"``, ``"autodiff"`` or ``"auto"`` (the platform's default): which
        gradient ``jax.grad`` of a function of the logits runs. The values are the same.

    Returns:
      Unnormalised class scores ``[B, 10]``.
    """
    ops = nn.ops(backward)
    return _forward(params, x, _dropout_keys(key, train), ops)["fc3"]


def layer_outputs(params: Params, x: ArrayLike) -> dict[str, jax.Array]:
    """Every layer's activation for ``x`` in inference mode, ``{name: [B, ...]}``, input first."""
    return {"input": jnp.asarray(x), **_forward(params, x, None)}


def summary(params: Params):
    """Parameters per array and in total (455,946); see :class:`jaxdl.models.Summary`."""
    return summarize(params)


def l2_penalty(params: Params, *, backward: nn.Backward | nn.Ops = "auto") -> jax.Array:
    """TFLearn's ``0.001 * sum(w**2) / 2`` over the two conv kernels."""
    ops = nn.ops(backward)
    return ops.l2_penalty([params[name]["w"] for name in CONV_SHAPES])


def loss(
    params: Params,
    x: ArrayLike,
    labels: ArrayLike,
    *,
    key: jax.Array | None = None,
    train: bool = False,
    backward: nn.Backward | nn.Ops = "auto",
) -> jax.Array:
    """Mean softmax cross-entropy of :func:`apply` plus :func:`l2_penalty`.

    ``backward`` as in :func:`apply`; ``jax.grad(loss)`` is the same gradient either way.
    """
    logits = apply(params, x, key=key, train=train, backward=backward)
    return objective(logits, labels, l2_penalty(params, backward=backward), backward=backward)


def loss_and_grad(
    params: Params,
    x: ArrayLike,
    labels: ArrayLike,
    *,
    key: jax.Array | None = None,
    train: bool = False,
) -> tuple[jax.Array, Params]:
    """:func:`loss` and its gradient, by hand: the backward pass written out layer by layer.

    Each step applies one layer's hand-derived vector-Jacobian product (:mod:`jaxdl.nn`),
    from the logits ``(softmax - onehot) / B`` back to the first kernel; the L2 term adds
    ``0.001 w`` to the conv kernels. Equal to ``jax.value_and_grad(loss)`` with either
    ``backward`` (tested); ``benchmarks/deep_cnn_speed.py --variants`` times the three.
    """
    (value, _), grads = loss_logits_and_grad(params, x, labels, key=key, train=train)
    return value, grads


def loss_logits_and_grad(
    params: Params,
    x: ArrayLike,
    labels: ArrayLike,
    *,
    key: jax.Array | None = None,
    train: bool = False,
) -> tuple[tuple[jax.Array, jax.Array], Params]:
    """``((loss, logits [B, 10]), grads)`` by hand: the structure of
    ``jax.value_and_grad(..., has_aux=True)``, so a train step can swap one for the other."""
    keys = _dropout_keys(key, train)
    out = _forward(params, x, keys)
    x = jnp.asarray(x, params["conv1"]["w"].dtype)
    value = objective(out["fc3"], labels, l2_penalty(params, backward="autodiff"))
    grads: Params = {}

    def dense_back(name: str, inputs: jax.Array, g: jax.Array) -> jax.Array:
        dx, dw, db = dense_backward(inputs, params[name]["w"], g)
        grads[name] = {"w": dw, "b": db}
        return dx

    g = losses.softmax_cross_entropy_grad(out["fc3"], labels)
    g = dense_back("fc3", out["dropout2"] if keys else out["fc2"], g)
    if keys:
        g = dropout_backward(g, KEEP_PROB, key=keys[1])
    g = g * (1.0 - out["fc2"] ** 2)  # tanh' written in terms of the output
    g = dense_back("fc2", out["dropout1"] if keys else out["fc1"], g)
    if keys:
        g = dropout_backward(g, KEEP_PROB, key=keys[0])
    g = g * (1.0 - out["fc1"] ** 2)
    flat = out["lrn2"].reshape(out["lrn2"].shape[0], -1)
    g = dense_back("fc1", flat, g).reshape(out["lrn2"].shape)
    g = lrn_backward(out["pool2"], g)
    g = max_pool_backward(out["conv2"], g)
    g = g * activations.relu_grad(out["conv2"])  # relu' from the output: 1 where positive
    dx, dw, db = conv2d_backward(out["lrn1"], params["conv2"]["w"], g)
    grads["conv2"] = {"w": dw, "b": db}
    g = lrn_backward(out["pool1"], dx)
    g = max_pool_backward(out["conv1"], g)
    g = g * activations.relu_grad(out["conv1"])
    _, dw, db = conv2d_backward(x, params["conv1"]["w"], g)
    grads["conv1"] = {"w": dw, "b": db}
    for name, w_grad in zip(
        CONV_SHAPES,
        losses.l2_penalty_grad([params[name]["w"] for name in CONV_SHAPES]),
        strict=True,
    ):
        grads[name]["w"] = grads[name]["w"] + w_grad
    return (value, out["fc3"]), {name: grads[name] for name in params}
