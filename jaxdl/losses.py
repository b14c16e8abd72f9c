"""Losses, each with its hand-derived gradient written beside it.

Every loss takes ``(predictions, targets)`` of *equal* shape and returns a scalar. The
``*_grad`` twin returns the gradient with respect to ``predictions``; the tests compare it
with :func:`jax.grad` and with finite differences.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike


def check_same_shape(predictions: ArrayLike, targets: ArrayLike) -> None:
    """Raise ``ValueError`` unless ``predictions`` and ``targets`` have the same shape.

    Silent broadcasting of a ``[N]`` target against ``[N, 1]`` predictions turns a loss over N
    points into one over N**2 pairs; this check refuses it.
    """
    p_shape, t_shape = jnp.shape(predictions), jnp.shape(targets)
    if p_shape != t_shape:
        raise ValueError(
            f"predictions have shape {p_shape} but targets have shape {t_shape}; "
            "they must be equal (reshape one of them explicitly)"
        )


def sse(predictions: ArrayLike, targets: ArrayLike) -> jax.Array:
    """Sum of squared errors, ``sum((p - t)**2)`` (seed 001's cost ``J``)."""
    check_same_shape(predictions, targets)
    return jnp.sum((jnp.asarray(predictions) - jnp.asarray(targets)) ** 2)


def sse_grad(predictions: ArrayLike, targets: ArrayLike) -> jax.Array:
    """Gradient of :func:`sse` with respect to ``predictions``: ``2 (p - t)``."""
    check_same_shape(predictions, targets)
    return 2.0 * (jnp.asarray(predictions) - jnp.asarray(targets))


def half_sse(predictions: ArrayLike, targets: ArrayLike) -> jax.Array:
    """Half the sum of squared errors, ``sum((p - t)**2) / 2``.

    The factor one half makes the gradient exactly the error ``p - t``, which is why Trask's
    backpropagation code can use ``error = l2 - y`` as its starting delta.
    """
    return 0.5 * sse(predictions, targets)


def half_sse_grad(predictions: ArrayLike, targets: ArrayLike) -> jax.Array:
    """Gradient of :func:`half_sse` with respect to ``predictions``: ``p - t``."""
    check_same_shape(predictions, targets)
    return jnp.asarray(predictions) - jnp.asarray(targets)


def mse(predictions: ArrayLike, targets: ArrayLike) -> jax.Array:
    """Mean squared error, ``mean((p - t)**2)`` (Legendre's criterion, averaged)."""
    check_same_shape(predictions, targets)
    return jnp.mean((jnp.asarray(predictions) - jnp.asarray(targets)) ** 2)


def mse_grad(predictions: ArrayLike, targets: ArrayLike) -> jax.Array:
    """Gradient of :func:`mse` with respect to ``predictions``: ``2 (p - t) / N``.

    ``N`` is the total number of elements.
    """
    check_same_shape(predictions, targets)
    p = jnp.asarray(predictions)
    return 2.0 * (p - jnp.asarray(targets)) / p.size


def binary_cross_entropy(probabilities: ArrayLike, targets: ArrayLike) -> jax.Array:
    """Mean binary cross-entropy, ``-mean(y log a + (1 - y) log(1 - a))`` (seed 002's ``L``).

    Args:
      probabilities: predicted probabilities ``a`` in (0, 1), e.g. a sigmoid output.
      targets: labels ``y`` of the same shape, 0 or 1.

    Returns:
      The scalar loss averaged over all elements.
    """
    check_same_shape(probabilities, targets)
    a, y = jnp.asarray(probabilities), jnp.asarray(targets)
    return -jnp.mean(y * jnp.log(a) + (1.0 - y) * jnp.log1p(-a))


def binary_cross_entropy_grad(probabilities: ArrayLike, targets: ArrayLike) -> jax.Array:
    """Gradient of :func:`binary_cross_entropy` with respect to ``a``: ``(a - y) / (a (1 - a) N)``.

    Times the sigmoid's slope ``a (1 - a)`` this becomes ``(a - y) / N``: seed 002's
    ``dZ2 = a2 - y`` (before averaging over the ``N`` examples).
    """
    check_same_shape(probabilities, targets)
    a, y = jnp.asarray(probabilities), jnp.asarray(targets)
    return (a - y) / (a * (1.0 - a) * a.size)


def binary_cross_entropy_with_logits(logits: ArrayLike, targets: ArrayLike) -> jax.Array:
    """:func:`binary_cross_entropy` of ``sigmoid(z)``, computed from the logits ``z``.

    ``mean(softplus(z) - y z)``: the same value as ``-mean(y log s + (1 - y) log(1 - s))`` with
    ``s = sigmoid(z)``, without the ``log 0`` that a saturated sigmoid gives in floating point.
    """
    check_same_shape(logits, targets)
    z, y = jnp.asarray(logits), jnp.asarray(targets)
    return jnp.mean(jax.nn.softplus(z) - y * z)


def binary_cross_entropy_with_logits_grad(logits: ArrayLike, targets: ArrayLike) -> jax.Array:
    """Gradient of :func:`binary_cross_entropy_with_logits` in ``z``: ``(sigmoid(z) - y) / N``."""
    check_same_shape(logits, targets)
    z, y = jnp.asarray(logits), jnp.asarray(targets)
    return (jax.nn.sigmoid(z) - y) / z.size


def gradient_checks(*, key: jax.Array) -> list:
    """Hand vs ``jax.grad`` vs finite differences for every loss, at random points."""
    from jaxdl.gradcheck import check_gradient

    k_pred, k_target = jax.random.split(key)
    predictions = jax.random.normal(k_pred, (7, 3))
    targets = jax.random.normal(k_target, (7, 3))
    labels = (targets > 0).astype(predictions.dtype)
    return [
        check_gradient(
            f"losses.{loss.__name__}",
            lambda p, loss=loss: loss(p, targets),
            lambda p, grad=grad: grad(p, targets),
            predictions,
        )
        for loss, grad in ((sse, sse_grad), (half_sse, half_sse_grad), (mse, mse_grad))
    ] + [
        check_gradient(
            "losses.binary_cross_entropy",
            lambda a: binary_cross_entropy(a, labels),
            lambda a: binary_cross_entropy_grad(a, labels),
            jax.nn.sigmoid(predictions),
        ),
        check_gradient(
            "losses.binary_cross_entropy_with_logits",
            lambda z: binary_cross_entropy_with_logits(z, labels),
            lambda z: binary_cross_entropy_with_logits_grad(z, labels),
            predictions,
        ),
    ]
