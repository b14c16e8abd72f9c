"""Activation functions with their hand-derived derivatives (seed 001's cheat sheet).

Each ``f`` acts elementwise and its twin ``f_grad`` returns the elementwise derivative
``f'(x)``, so that by the chain rule the gradient of ``sum(f(x) * g)`` is ``f_grad(x) * g``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike


def heaviside(x: ArrayLike) -> jax.Array:
    """Rosenblatt's step: ``0 if x < 0 else 1`` (so ``heaviside(0) == 1``, as in seed 000)."""
    x = jnp.asarray(x)
    return jnp.where(x < 0, 0.0, 1.0).astype(jnp.result_type(x, jnp.float32))


def heaviside_grad(x: ArrayLike) -> jax.Array:
    """Derivative of the step: ``0`` everywhere except the jump at 0, where it is undefined.

    This is why the perceptron cannot be trained by gradient descent through its activation;
    its learning rule uses the error instead (see :mod:`jaxdl.milestones.perceptron`).
    """
    return jnp.zeros_like(jnp.asarray(x, dtype=jnp.result_type(x, jnp.float32)))


def sigmoid(x: ArrayLike) -> jax.Array:
    """Logistic sigmoid ``1 / (1 + exp(-x))``."""
    return jax.nn.sigmoid(x)


def sigmoid_grad(x: ArrayLike) -> jax.Array:
    """Derivative of the sigmoid: ``s (1 - s)`` with ``s = sigmoid(x)``."""
    return sigmoid_slope(sigmoid(x))


def sigmoid_slope(output: ArrayLike) -> jax.Array:
    """The sigmoid's slope written in terms of its *output* ``s``: ``s (1 - s)``.

    Trask calls this the "confidence" of a unit: close to 0 when the unit is sure (output near
    0 or 1), largest (1/4) when it is undecided.
    """
    s = jnp.asarray(output)
    return s * (1.0 - s)


def tanh(x: ArrayLike) -> jax.Array:
    """Hyperbolic tangent."""
    return jnp.tanh(x)


def tanh_grad(x: ArrayLike) -> jax.Array:
    """Derivative of tanh: ``1 - tanh(x)**2``."""
    return 1.0 - jnp.tanh(x) ** 2


def relu(x: ArrayLike) -> jax.Array:
    """Rectified linear unit ``max(0, x)``, written ``0 if x <= 0 else x``.

    That form makes the autodiff derivative at the kink 0, like :func:`relu_grad`
    (``jnp.maximum`` would give 1/2), and lets a NaN through: ``NaN <= 0`` is false, so a NaN
    input gives a NaN output instead of a finite 0 that would hide it.
    """
    x = jnp.asarray(x)
    return jnp.where(x <= 0, jnp.zeros_like(x), x)


def relu_grad(x: ArrayLike) -> jax.Array:
    """Derivative of ReLU: ``0 if x <= 0 else 1`` (0 chosen at the kink, like ``jax.grad``)."""
    x = jnp.asarray(x)
    return jnp.where(x <= 0, 0.0, 1.0).astype(jnp.result_type(x, jnp.float32))


def softplus(x: ArrayLike) -> jax.Array:
    """Softplus ``log(1 + exp(x))``, a smooth ReLU."""
    return jax.nn.softplus(x)


def softplus_grad(x: ArrayLike) -> jax.Array:
    """Derivative of softplus: the sigmoid."""
    return sigmoid(x)


#: Every activation with its derivative, by name (used by ``jaxdl check`` and the tests).
ACTIVATIONS = {
    "heaviside": (heaviside, heaviside_grad),
    "sigmoid": (sigmoid, sigmoid_grad),
    "tanh": (tanh, tanh_grad),
    "relu": (relu, relu_grad),
    "softplus": (softplus, softplus_grad),
}


def gradient_checks(*, key: jax.Array) -> list:
    """Each differentiable activation's derivative vs ``jax.grad`` vs finite differences.

    Points are drawn away from the kinks (ReLU and the step at 0), where no derivative exists.
    """
    from jaxdl.gradcheck import check_gradient

    x = jax.random.uniform(key, (16,), minval=0.1, maxval=3.0)
    x = x * jnp.where(jnp.arange(16) % 2 == 0, 1.0, -1.0)
    return [
        check_gradient(
            f"activations.{name}",
            lambda v, f=f: jnp.sum(f(v)),
            grad,
            x,
        )
        for name, (f, grad) in ACTIVATIONS.items()
    ]
