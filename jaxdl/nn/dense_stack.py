"""The dense stack: a multilayer perceptron's forward pass and its backpropagation, by hand.

Seed 001 derives backpropagation for ``Linear - ReLU - Linear - MSE`` one piece at a time:
``mse_grad`` starts the chain, ``lin_grad`` turns the gradient at a layer's output into the
gradients of its weights, bias and input, and ``relu_grad`` passes it back through the
activation. :func:`forward_backward` is that derivation for two layers; :func:`forward` and
:func:`backward` are the same three pieces in a loop over layers of any depth, widths and
activations: :func:`mlp_loss_grad` here, the backprop chapter's general net and the Keras-style
``Sequential`` of the tabular chapter are built on them.
The tests prove both against :func:`jax.grad` and finite differences.

Layout: rows are examples. A layer maps ``x [N, n_in]`` to ``x @ w + b`` ``[N, n_out]``.
Hidden layers apply an activation; the output layer is linear (a regression head).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxdl.activations import ACTIVATIONS, relu, relu_grad
from jaxdl.losses import check_same_shape, mse, mse_grad
from jaxdl.nn.affine import dense, dense_backward
from jaxdl.validate import require_positive_int


class Layer(NamedTuple):
    """One fully connected layer ``x @ w + b``."""

    w: jax.Array  # [n_in, n_out]
    b: jax.Array  # [n_out]


#: An MLP is a tuple of layers, input side first.
MLP = tuple[Layer, ...]


def linear(x: ArrayLike, layer: Layer) -> jax.Array:
    """``x @ w + b``: ``[N, n_in] -> [N, n_out]`` (:func:`jaxdl.nn.affine.dense` on a :class:`Layer`)."""
    return dense(x, layer.w, layer.b)


def linear_backward(x: ArrayLike, layer: Layer, grad_out: jax.Array) -> tuple[jax.Array, Layer]:
    """Seed 001's ``lin_grad``: from ``g = dL/d(x @ w + b)`` ``[N, n_out]`` to the layer's inputs.

    ``dL/dx = g wᵀ`` ``[N, n_in]``, ``dL/dw = xᵀ g`` ``[n_in, n_out]``, ``dL/db = sum_n g``
    ``[n_out]`` (the bias is added to every row, so its gradient sums over rows); computed by
    :func:`jaxdl.nn.affine.dense_backward`.

    Returns:
      ``(dL/dx, Layer(dL/dw, dL/db))``.
    """
    dx, dw, db = dense_backward(x, layer.w, grad_out)
    return dx, Layer(w=dw, b=db)


def check_chain(params: Sequence[Layer], x: ArrayLike, y: ArrayLike | None = None) -> None:
    """``ValueError`` unless ``x`` flows through every layer (and ``y`` matches the output).

    Names the first mismatch: data columns vs the first layer's inputs, one layer's outputs vs
    the next layer's inputs, a bias vs its layer's width, or target rows vs data rows.
    """
    x_shape = jnp.shape(x)
    if len(params) == 0:
        raise ValueError("an MLP needs at least one layer, got none")
    if len(x_shape) != 2:
        raise ValueError(f"data must be a matrix [examples, features], got shape {x_shape}")
    width = x_shape[1]
    for i, layer in enumerate(params):
        w_shape, b_shape = jnp.shape(layer.w), jnp.shape(layer.b)
        if len(w_shape) != 2 or w_shape[0] != width:
            source = "data has" if i == 0 else f"layer {i - 1} outputs"
            raise ValueError(
                f"shapes do not chain: {source} {width} columns but layer {i} has weights of "
                f"shape {w_shape} (expected ({width}, n_out))"
            )
        if b_shape != (w_shape[1],):
            raise ValueError(
                f"layer {i}: bias has shape {b_shape} but the weights {w_shape} need "
                f"({w_shape[1]},)"
            )
        width = w_shape[1]
    if y is not None:
        y_shape = jnp.shape(y)
        if y_shape != (x_shape[0], width):
            raise ValueError(
                f"targets have shape {y_shape} but {x_shape[0]} examples through this MLP give "
                f"outputs of shape ({x_shape[0]}, {width}); y needs one row per row of X"
            )


def _activation(name: str):
    if name not in ACTIVATIONS or name == "heaviside":
        known = sorted(set(ACTIVATIONS) - {"heaviside"})
        raise ValueError(f"unknown or non-differentiable activation {name!r}; use one of {known}")
    return ACTIVATIONS[name]


def init_mlp(*, key: jax.Array, sizes: Sequence[int], dtype=jnp.float32) -> MLP:
    """Random MLP with layer widths ``sizes = (n_in, hidden..., n_out)``.

    Weights are ``normal / sqrt(n_in)`` (LeCun), biases zero.

    Raises:
      ValueError: fewer than two sizes, or any width below 1.
    """
    sizes = tuple(sizes)
    if len(sizes) < 2:
        raise ValueError(f"sizes needs an input and an output width, got {sizes}")
    for i, size in enumerate(sizes):
        require_positive_int(f"layer width sizes[{i}]", size)
    keys = jax.random.split(key, len(sizes) - 1)
    return tuple(
        Layer(
            w=jax.random.normal(k, (n_in, n_out), dtype) / np.sqrt(n_in).astype(dtype),
            b=jnp.zeros((n_out,), dtype),
        )
        for k, n_in, n_out in zip(keys, sizes[:-1], sizes[1:], strict=True)
    )


def forward(
    params: Sequence[Layer], x: ArrayLike, activations: Sequence[str | None]
) -> tuple[jax.Array, tuple[jax.Array, ...], tuple[jax.Array, ...]]:
    """The dense stack's forward pass, keeping what backpropagation needs.

    Args:
      params: the layers, input side first.
      x: inputs ``[N, n_in]``.
      activations: one name per layer below the last (``None`` for linear); the last layer is
        linear, so its output is the logits a loss head reads.

    Returns:
      ``(output [N, n_out], inputs, pre_activations)``: ``inputs[i]`` is what layer ``i`` read,
      ``pre_activations[i]`` its ``x @ w + b`` (the last one is the output itself).
    """
    h = jnp.asarray(x)
    inputs, pre = [], []
    for i, layer in enumerate(params):
        inputs.append(h)
        z = linear(h, layer)
        pre.append(z)
        act = activations[i] if i < len(params) - 1 else None
        h = z if act is None else _activation(act)[0](z)
    return h, tuple(inputs), tuple(pre)


def backward(
    params: Sequence[Layer],
    activations: Sequence[str | None],
    inputs: Sequence[jax.Array],
    pre_activations: Sequence[jax.Array],
    grad_output: jax.Array,
) -> MLP:
    """Backpropagation from ``g = dL/d(output)`` down through every layer, by hand.

    For each layer from the last: ``(dx, d_layer) = linear_backward(input_i, layer_i, g)`` and,
    below it, ``g = dx * f'(z)`` with ``f`` and ``z`` the previous layer's activation and
    pre-activation (what :func:`forward` kept).
    """
    g = grad_output
    grads: list[Layer | None] = [None] * len(params)
    for i in reversed(range(len(params))):
        dx, grads[i] = linear_backward(inputs[i], params[i], g)
        if i > 0:
            act = activations[i - 1]
            g = dx if act is None else dx * _activation(act)[1](pre_activations[i - 1])
    return tuple(grads)


def _hidden(activation: str, params: Sequence[Layer]) -> tuple[str, ...]:
    return (activation,) * (len(params) - 1)


def mlp_forward(
    params: Sequence[Layer], x: ArrayLike, *, activation: str = "relu"
) -> tuple[jax.Array, tuple[jax.Array, ...], tuple[jax.Array, ...]]:
    """:func:`forward` with the same ``activation`` on every hidden layer."""
    _activation(activation)
    return forward(params, x, _hidden(activation, params))


def mlp_predict(params: Sequence[Layer], x: ArrayLike, *, activation: str = "relu") -> jax.Array:
    """The MLP's output ``[N, n_out]``."""
    return mlp_forward(params, x, activation=activation)[0]


def mlp_loss(
    params: Sequence[Layer], x: ArrayLike, y: ArrayLike, *, activation: str = "relu"
) -> jax.Array:
    """Mean squared error of the MLP's output against ``y`` ``[N, n_out]``."""
    return mse(mlp_predict(params, x, activation=activation), y)


def mlp_loss_grad(
    params: Sequence[Layer], x: ArrayLike, y: ArrayLike, *, activation: str = "relu"
) -> MLP:
    """Gradient of :func:`mlp_loss` by backpropagation, one layer at a time from the output.

    ``g = mse_grad(output, y)``; then for each layer from the last: ``(dx, d_layer) =
    linear_backward(input, layer, g)`` and, below the first layer, ``g = dx * f'(z)`` where ``z``
    is the previous layer's pre-activation.
    """
    check_chain(params, x, y)
    output, inputs, pre = mlp_forward(params, x, activation=activation)
    return backward(params, _hidden(activation, params), inputs, pre, mse_grad(output, y))


# Seed 001, written out the way the seed does it: Linear - ReLU - Linear - MSE.


def forward_backward(params: Sequence[Layer], x: ArrayLike, y: ArrayLike) -> tuple[jax.Array, MLP]:
    """Seed 001's ``forward_backward`` for ``Linear - ReLU - Linear - MSE``, step by step.

    Forward: ``l1 = x w1 + b1``, ``l2 = relu(l1)``, ``out = l2 w2 + b2``, ``loss = mse(out, y)``.
    Backward, in reverse: ``out.g = mse_grad``, ``lin_grad`` gives ``l2.g, w2.g, b2.g``,
    ``l1.g = relu_grad(l1) * l2.g``, ``lin_grad`` gives ``w1.g, b1.g``.

    Args:
      params: two layers ``(Layer(w1 [n_in, H], b1 [H]), Layer(w2 [H, n_out], b2 [n_out]))``.
      x: inputs ``[N, n_in]``.
      y: targets ``[N, n_out]``.

    Returns:
      ``(loss, (grad of layer 1, grad of layer 2))``.
    """
    if len(params) != 2:
        raise ValueError(f"Linear-ReLU-Linear has exactly 2 layers, got {len(params)}")
    check_chain(params, x, y)
    first, second = params
    l1 = linear(x, first)
    l2 = relu(l1)
    out = linear(l2, second)
    check_same_shape(out, y)
    loss = mse(out, y)
    out_g = mse_grad(out, y)
    l2_g, second_g = linear_backward(l2, second, out_g)
    l1_g = relu_grad(l1) * l2_g
    _, first_g = linear_backward(x, first, l1_g)
    return loss, (first_g, second_g)


def gradient_checks(*, key: jax.Array) -> list:
    """The general MLP (depth 3, tanh and ReLU) and seed 001's two-layer net vs autodiff."""
    from jaxdl.gradcheck import check_gradient, standard_normal

    k_params, k_x, k_y, k_seed = jax.random.split(key, 4)
    dtype = jnp.result_type(float)
    x = standard_normal(k_x, (6, 3), dtype)
    y = standard_normal(k_y, (6, 2), dtype)
    # nonzero biases keep ReLU pre-activations off the kink at exactly 0
    params = jax.tree.map(
        lambda a: a + 0.3, init_mlp(key=k_params, sizes=(3, 5, 4, 2), dtype=dtype)
    )
    checks = [
        check_gradient(
            f"dense stack: depth-3 {name} backprop",
            jax.jit(lambda p, name=name: mlp_loss(p, x, y, activation=name)),
            jax.jit(lambda p, name=name: mlp_loss_grad(p, x, y, activation=name)),
            params,
        )
        for name in ("tanh", "relu")
    ]
    two = jax.tree.map(lambda a: a + 0.3, init_mlp(key=k_seed, sizes=(3, 4, 2), dtype=dtype))
    checks.append(
        check_gradient(
            "dense stack: seed 001 Linear-ReLU-Linear-MSE",
            jax.jit(lambda p: mlp_loss(p, x, y, activation="relu")),
            jax.jit(lambda p: forward_backward(p, x, y)[1]),
            two,
        )
    )
    return checks
