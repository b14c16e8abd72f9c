"""Losses, each with its hand-derived gradient written beside it, one name each.

The regression and binary losses take ``(predictions, targets)`` of *equal* shape and return a
scalar; :func:`softmax_cross_entropy` takes logits and integer labels; :func:`l2_penalty` a list
of weights. The ``*_grad`` twin returns the gradient with respect to the first argument; the
tests compare it with :func:`jax.grad` and with finite differences. The two losses the networks
train on also have a ``*_hand`` form (the hand gradient as a ``jax.custom_vjp`` rule),
registered with the backward switch of :mod:`jaxdl.backward`.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxdl.backward import register

#: TFLearn's ``regularizer="L2"`` weight decay on the conv kernels.
L2_WEIGHT_DECAY = 0.001


def check_same_shape(predictions: ArrayLike, targets: ArrayLike) -> None:
    """Raise ``ValueError`` unless ``predictions`` and ``targets`` have the same, non-empty shape.

    Silent broadcasting of a ``[N]`` target against ``[N, 1]`` predictions turns a loss over N
    points into one over N**2 pairs; this check refuses it. An empty batch has no mean.
    """
    p_shape, t_shape = jnp.shape(predictions), jnp.shape(targets)
    if p_shape != t_shape:
        raise ValueError(
            f"predictions have shape {p_shape} but targets have shape {t_shape}; "
            "they must be equal (reshape one of them explicitly)"
        )
    if 0 in p_shape:
        raise ValueError(f"empty batch: predictions and targets have shape {p_shape}")


def _concrete(*arrays: ArrayLike) -> bool:
    """Whether every array has values on the host now (not a tracer inside ``jit``/``grad``)."""
    return not any(isinstance(a, jax.core.Tracer) for a in arrays)


def check_unit_interval(name: str, values: ArrayLike) -> None:
    """``ValueError`` unless every value lies in [0, 1] (NaN included), checked on the host.

    Skipped when ``values`` is traced: the check belongs to the call people make, once, not to
    every step of a jitted loop.
    """
    if not _concrete(values):
        return
    v = np.asarray(values)
    bad = ~((v >= 0) & (v <= 1))
    if bad.any():
        first = np.unravel_index(int(np.argmax(bad)), v.shape)
        raise ValueError(
            f"{name} must lie in [0, 1]; found {v[first]} at index {tuple(map(int, first))} "
            f"({int(bad.sum())} such values)"
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


def _check_bce(probabilities: ArrayLike, targets: ArrayLike) -> tuple[jax.Array, jax.Array]:
    check_same_shape(probabilities, targets)
    check_unit_interval("probabilities", probabilities)
    check_unit_interval("targets", targets)
    return jnp.asarray(probabilities), jnp.asarray(targets)


def _bce_terms(a: jax.Array, y: jax.Array) -> jax.Array:
    """``y log a + (1 - y) log(1 - a)``, with ``0 log 0 = 0`` in either term.

    Only the corners ``y = a = 0`` and ``y = a = 1`` are replaced (with finite gradients
    there); elsewhere the values, and the derivatives in ``a`` and in ``y``, are the formula's.
    """
    zero, one = (y == 0) & (a == 0), (y == 1) & (a == 1)
    first = jnp.where(zero, 0.0, y * jnp.log(jnp.where(zero, 1.0, a)))
    second = jnp.where(one, 0.0, (1.0 - y) * jnp.log1p(-jnp.where(one, 0.0, a)))
    return first + second


def _y_div_a(y: jax.Array, a: jax.Array) -> jax.Array:
    """``y / a``, and 0 where ``y = a = 0``."""
    corner = (y == 0) & (a == 0)
    return jnp.where(corner, 0.0, y / jnp.where(corner, 1.0, a))


def binary_cross_entropy(probabilities: ArrayLike, targets: ArrayLike) -> jax.Array:
    """Mean binary cross-entropy, ``-mean(y log a + (1 - y) log(1 - a))`` (seed 002's ``L``).

    A term whose weight is 0 counts 0 (``0 log 0 = 0``), so ``a = y = 1`` (a float32 sigmoid of
    20 is exactly 1) gives 0, not NaN. From logits, :func:`binary_cross_entropy_with_logits`
    is stable for any logit.

    Args:
      probabilities: predicted probabilities ``a`` in [0, 1], e.g. a sigmoid output.
      targets: labels ``y`` of the same shape in [0, 1] (0 or 1 for classification).

    Returns:
      The scalar loss averaged over all elements.

    Raises:
      ValueError: shapes differ, the batch is empty, or (when not traced) a value lies
        outside [0, 1] or is NaN.
    """
    a, y = _check_bce(probabilities, targets)
    return -jnp.mean(_bce_terms(a, y))


def binary_cross_entropy_grad(probabilities: ArrayLike, targets: ArrayLike) -> jax.Array:
    """Gradient of :func:`binary_cross_entropy` with respect to ``a``: ``(a - y) / (a (1 - a) N)``.

    Times the sigmoid's slope ``a (1 - a)`` this becomes ``(a - y) / N``: seed 002's
    ``dZ2 = a2 - y`` (before averaging over the ``N`` examples). Computed as
    ``(-y / a + (1 - y) / (1 - a)) / N`` with zero-weight terms dropped, so that ``a = y = 1``
    gives ``-1 / N`` rather than ``0 / 0``.
    """
    a, y = _check_bce(probabilities, targets)
    return (_y_div_a(1.0 - y, 1.0 - a) - _y_div_a(y, a)) / a.size


def binary_cross_entropy_with_logits(logits: ArrayLike, targets: ArrayLike) -> jax.Array:
    """:func:`binary_cross_entropy` of ``sigmoid(z)``, computed from the logits ``z``.

    ``-y log s(z) - (1 - y) log(1 - s(z)) = softplus(z) - y z``, with ``softplus(z) =
    logaddexp(0, z)``, which never overflows: finite and exact for any finite logit, where
    rounding ``s(z)`` to 1 first loses the loss. (The textbook ``max(z, 0) - y z +
    log1p(exp(-|z|))`` has the same value but ``jax.grad`` takes the kinks of ``max`` and ``|z|``
    at ``z = 0`` and returns a wrong derivative there.)
    """
    check_same_shape(logits, targets)
    check_unit_interval("targets", targets)
    z, y = jnp.asarray(logits), jnp.asarray(targets)
    return jnp.mean(jnp.logaddexp(0.0, z) - y * z)


def binary_cross_entropy_with_logits_grad(logits: ArrayLike, targets: ArrayLike) -> jax.Array:
    """Gradient of :func:`binary_cross_entropy_with_logits`: ``(sigmoid(z) - y) / N``."""
    check_same_shape(logits, targets)
    check_unit_interval("targets", targets)
    z, y = jnp.asarray(logits), jnp.asarray(targets)
    return (jax.nn.sigmoid(z) - y) / z.size


def _check_logits_labels(logits: ArrayLike, labels: ArrayLike) -> None:
    if jnp.ndim(logits) != 2 or jnp.shape(labels) != jnp.shape(logits)[:1]:
        raise ValueError(
            f"logits must be [B, K] and labels [B], got logits {jnp.shape(logits)} and labels "
            f"{jnp.shape(labels)}"
        )
    if not jnp.issubdtype(jnp.result_type(labels), jnp.integer):
        raise ValueError(f"labels must be integer class indices, got {jnp.result_type(labels)}")
    if not isinstance(labels, jax.core.Tracer) and jnp.size(labels):
        k = jnp.shape(logits)[1]
        values = np.asarray(labels)  # concrete: check on the host, no traced op
        low, high = int(values.min()), int(values.max())
        if low < 0 or high >= k:
            raise ValueError(f"labels must lie in [0, {k}), got values from {low} to {high}")


def softmax_cross_entropy(logits: ArrayLike, labels: ArrayLike) -> jax.Array:
    """Mean softmax cross-entropy with integer labels (TFLearn's categorical cross-entropy).

    ``L = (1/B) sum_n [logsumexp(z_n) - z_n[y_n]]``. Uniform logits over ``K`` classes give
    exactly ``log K``.

    Args:
      logits: ``[B, K]`` unnormalised scores.
      labels: ``[B]`` integer classes in ``[0, K)`` (checked when not traced).

    Returns:
      Scalar.
    """
    _check_logits_labels(logits, labels)
    logits = jnp.asarray(logits)
    picked = jnp.take_along_axis(logits, jnp.asarray(labels)[:, None], axis=1)[:, 0]
    return jnp.mean(jax.nn.logsumexp(logits, axis=1) - picked)


def softmax_cross_entropy_grad(logits: ArrayLike, labels: ArrayLike) -> jax.Array:
    """Gradient of :func:`softmax_cross_entropy` w.r.t. the logits: ``(softmax(z) - onehot)/B``."""
    _check_logits_labels(logits, labels)
    logits = jnp.asarray(logits)
    b, k = logits.shape
    onehot = jax.nn.one_hot(labels, k, dtype=logits.dtype)
    return (jax.nn.softmax(logits, axis=1) - onehot) / b


def l2_penalty(weights: list[ArrayLike], weight_decay: float = L2_WEIGHT_DECAY) -> jax.Array:
    """TFLearn's L2 regulariser ``weight_decay * sum_w sum(w**2) / 2`` over ``weights``."""
    return weight_decay * 0.5 * sum(jnp.sum(jnp.square(w)) for w in weights)


def l2_penalty_grad(weights: list[ArrayLike], weight_decay: float = L2_WEIGHT_DECAY) -> list:
    """Gradient of :func:`l2_penalty`: ``weight_decay * w`` for each ``w``."""
    return [weight_decay * jnp.asarray(w) for w in weights]


@jax.custom_vjp
def _softmax_cross_entropy_hand(logits: jax.Array, labels: jax.Array) -> jax.Array:
    return softmax_cross_entropy(logits, labels)


def _softmax_cross_entropy_fwd(logits, labels):
    return softmax_cross_entropy(logits, labels), (logits, labels)


def _softmax_cross_entropy_bwd(saved, g):
    logits, labels = saved
    return g * softmax_cross_entropy_grad(logits, labels), None


_softmax_cross_entropy_hand.defvjp(_softmax_cross_entropy_fwd, _softmax_cross_entropy_bwd)


def softmax_cross_entropy_hand(logits: ArrayLike, labels: ArrayLike) -> jax.Array:
    """:func:`softmax_cross_entropy` whose gradient is :func:`softmax_cross_entropy_grad`."""
    _check_logits_labels(logits, labels)
    return _softmax_cross_entropy_hand(jnp.asarray(logits), jnp.asarray(labels))


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _l2_penalty_hand(weights: list, weight_decay: float) -> jax.Array:
    return l2_penalty(weights, weight_decay)


def _l2_penalty_fwd(weights, weight_decay):
    return l2_penalty(weights, weight_decay), weights


def _l2_penalty_bwd(weight_decay, weights, g):
    return ([g * d for d in l2_penalty_grad(weights, weight_decay)],)


_l2_penalty_hand.defvjp(_l2_penalty_fwd, _l2_penalty_bwd)


def l2_penalty_hand(weights: list[ArrayLike], weight_decay: float = L2_WEIGHT_DECAY) -> jax.Array:
    """:func:`l2_penalty` whose gradient is :func:`l2_penalty_grad`."""
    return _l2_penalty_hand([jnp.asarray(w) for w in weights], weight_decay)


register("softmax_cross_entropy", softmax_cross_entropy, softmax_cross_entropy_hand)
register("l2_penalty", l2_penalty, l2_penalty_hand)


def gradient_checks(*, key: jax.Array) -> list:
    """Hand vs ``jax.grad`` vs finite differences for every loss, at random points."""
    from jaxdl.gradcheck import check_gradient, standard_normal

    k_pred, k_target = jax.random.split(key)
    predictions = standard_normal(k_pred, (7, 3))
    targets = standard_normal(k_target, (7, 3))
    labels = (targets > 0).astype(predictions.dtype)
    return (
        [
            check_gradient(
                f"losses.{loss.__name__}",
                lambda p, loss=loss: loss(p, targets),
                lambda p, grad=grad: grad(p, targets),
                predictions,
            )
            for loss, grad in ((sse, sse_grad), (half_sse, half_sse_grad), (mse, mse_grad))
        ]
        + [
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
        + _classification_checks(key)
    )


def _classification_checks(key: jax.Array) -> list:
    from jaxdl.gradcheck import check_rule, normal_draws

    normal = normal_draws(jax.random.fold_in(key, 2))
    logits = 3.0 * normal((6, 10))
    labels = jnp.asarray(np.floor(np.abs(np.asarray(normal((6,)))) * 1e4).astype(np.int32) % 10)
    weights = [normal((3, 3, 1, 2)), normal((2, 2))]
    return check_rule(
        "losses.softmax_cross_entropy",
        lambda z: softmax_cross_entropy(z, labels),
        lambda z: softmax_cross_entropy_grad(z, labels),
        lambda z: softmax_cross_entropy_hand(z, labels),
        logits,
    ) + check_rule("losses.l2_penalty", l2_penalty, l2_penalty_grad, l2_penalty_hand, weights)
