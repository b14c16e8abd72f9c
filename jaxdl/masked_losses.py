"""Masked and symmetric losses (seed 004's U-Net loss), each with its hand gradient.

The seed trains a U-Net with binary cross-entropy that **ignores NaN labels** (pixels nobody
labelled) plus ``alpha`` times a **symmetry penalty**: the mean squared difference between a
hidden feature map and its transpose.

.. code-block:: text

    m      = not isnan(y)                    (1 where labelled)
    n      = max(sum(m), 1)
    BCE_m  = -Σ m (y log a + (1 - y) log(1 - a)) / n
    S(F)   = mean((F - Fᵀ)²)                 (Fᵀ swaps the two spatial axes)
    loss   = BCE_m(a, y) + alpha S(F)

Gradients by hand: ``dBCE_m/da = m (a - y) / (a (1 - a) n)``, and since ``D = F - Fᵀ`` is
antisymmetric, ``dS/dF = 2 (D - Dᵀ) / N = 4 D / N`` with ``N`` the number of entries.

**The NaN-gradient trap.** ``jnp.where(m, loss_per_pixel, 0)`` gives the right *value* but not a
finite *gradient*: reverse mode multiplies the zero cotangent of the unused branch by that
branch's derivative, and ``0 * NaN = NaN`` (``0 * inf = NaN`` too, for ``log(0)`` at a masked
pixel whose prediction is exactly 0 or 1). So both the labels *and* the inputs are replaced
with harmless values (``y -> 0``, ``a -> 1/2``) at masked pixels *before* the logarithm; then
masked pixels contribute exactly zero gradient, wherever the NaNs are. With no label at all the
loss is 0 and so is its gradient.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxdl.losses import check_same_shape


def _mask_and_guard(
    values: jax.Array, labels: jax.Array, neutral: float
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    mask = ~jnp.isnan(labels)
    y = jnp.where(mask, labels, 0.0)
    safe = jnp.where(mask, values, neutral)  # the input guard: no log(0) behind the mask
    count = jnp.maximum(jnp.sum(mask), 1).astype(values.dtype)
    return mask, y, safe, count


def masked_bce(probabilities: ArrayLike, labels: ArrayLike) -> jax.Array:
    """Binary cross-entropy averaged over the labelled entries; NaN labels are ignored.

    Args:
      probabilities: predictions ``a`` in (0, 1), any shape (e.g. ``[B, H, W, 1]``).
      labels: same shape, 0 or 1, NaN where unlabelled.

    Returns:
      ``-Σ_labelled (y log a + (1 - y) log(1 - a)) / #labelled`` (0 when nothing is labelled).
    """
    check_same_shape(probabilities, labels)
    a = jnp.asarray(probabilities)
    mask, y, a, count = _mask_and_guard(a, jnp.asarray(labels, a.dtype), 0.5)
    per = y * jnp.log(a) + (1.0 - y) * jnp.log1p(-a)
    return -jnp.sum(jnp.where(mask, per, 0.0)) / count


def masked_bce_grad(probabilities: ArrayLike, labels: ArrayLike) -> jax.Array:
    """Gradient of :func:`masked_bce`: ``m (a - y) / (a (1 - a) n)``, exactly 0 where masked."""
    check_same_shape(probabilities, labels)
    a = jnp.asarray(probabilities)
    mask, y, a, count = _mask_and_guard(a, jnp.asarray(labels, a.dtype), 0.5)
    return jnp.where(mask, (a - y) / (a * (1.0 - a) * count), 0.0)


def masked_bce_with_logits(logits: ArrayLike, labels: ArrayLike) -> jax.Array:
    """:func:`masked_bce` of ``sigmoid(z)``, computed stably from the logits ``z``.

    ``-(y log σ(z) + (1 - y) log(1 - σ(z))) = softplus(z) - y z``; used for training, where a
    saturated sigmoid would make the probability form overflow.
    """
    check_same_shape(logits, labels)
    z = jnp.asarray(logits)
    mask, y, z, count = _mask_and_guard(z, jnp.asarray(labels, z.dtype), 0.0)
    return jnp.sum(jnp.where(mask, jax.nn.softplus(z) - y * z, 0.0)) / count


def masked_bce_with_logits_grad(logits: ArrayLike, labels: ArrayLike) -> jax.Array:
    """Gradient of :func:`masked_bce_with_logits`: ``m (σ(z) - y) / n``."""
    check_same_shape(logits, labels)
    z = jnp.asarray(logits)
    mask, y, z, count = _mask_and_guard(z, jnp.asarray(labels, z.dtype), 0.0)
    return jnp.where(mask, (jax.nn.sigmoid(z) - y) / count, 0.0)


def _check_square_map(features: jax.Array) -> None:
    if features.ndim != 4 or features.shape[1] != features.shape[2]:
        raise ValueError(
            f"features must have shape [B, H, W, C] with H == W to compare with their transpose, "
            f"got {features.shape}"
        )


def transpose_map(features: ArrayLike) -> jax.Array:
    """Swap the spatial axes of a ``[B, H, W, C]`` map: ``out[b, i, j, c] = F[b, j, i, c]``."""
    features = jnp.asarray(features)
    _check_square_map(features)
    return jnp.swapaxes(features, 1, 2)


def symmetry_mse(features: ArrayLike) -> jax.Array:
    """Mean squared difference between a ``[B, H, W, C]`` map and its transpose (0 iff symmetric)."""
    features = jnp.asarray(features)
    return jnp.mean((features - transpose_map(features)) ** 2)


def symmetry_mse_grad(features: ArrayLike) -> jax.Array:
    """Gradient of :func:`symmetry_mse`: ``4 (F - Fᵀ) / N``."""
    features = jnp.asarray(features)
    return 4.0 * (features - transpose_map(features)) / features.size


def _check_alpha(alpha) -> None:
    if not isinstance(alpha, jax.Array):
        import math

        if (
            isinstance(alpha, bool)
            or not isinstance(alpha, int | float)
            or not math.isfinite(alpha)
        ):
            raise ValueError(f"alpha must be a finite number, got {alpha!r}")
        if alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {alpha!r}")


def masked_symmetric_loss(
    probabilities: ArrayLike, labels: ArrayLike, features: ArrayLike, *, alpha: float
) -> jax.Array:
    """The seed's U-Net loss: ``masked_bce(a, y) + alpha * symmetry_mse(F)``."""
    _check_alpha(alpha)
    return masked_bce(probabilities, labels) + alpha * symmetry_mse(features)


def masked_symmetric_loss_grad(
    probabilities: ArrayLike, labels: ArrayLike, features: ArrayLike, *, alpha: float
) -> tuple[jax.Array, jax.Array]:
    """Gradient of :func:`masked_symmetric_loss` with respect to ``(probabilities, features)``."""
    _check_alpha(alpha)
    return masked_bce_grad(probabilities, labels), alpha * symmetry_mse_grad(features)


@functools.partial(jax.jit, static_argnums=1)
def _check_point(key: jax.Array, dtype):
    k_a, k_y, k_m, k_f = jax.random.split(key, 4)
    a = jax.random.uniform(k_a, (2, 3, 3, 1), dtype, minval=0.05, maxval=0.95)
    labels = jax.random.bernoulli(k_y, 0.5, a.shape).astype(dtype)
    labels = jnp.where(jax.random.bernoulli(k_m, 1 / 3, a.shape), jnp.nan, labels)
    z = jnp.log(a) - jnp.log1p(-a)
    features = jax.random.normal(k_f, (2, 4, 4, 3), dtype)
    return a, labels, z, features


def gradient_checks(*, key: jax.Array) -> list:
    """Hand vs ``jax.grad`` vs finite differences, with a third of the labels NaN."""
    from jaxdl.gradcheck import check_gradient

    a, labels, z, features = _check_point(key, jnp.result_type(float))
    return [
        check_gradient(
            "masked_losses.masked_bce",
            jax.jit(lambda p: masked_bce(p, labels)),
            jax.jit(lambda p: masked_bce_grad(p, labels)),
            a,
        ),
        check_gradient(
            "masked_losses.masked_bce_with_logits",
            jax.jit(lambda p: masked_bce_with_logits(p, labels)),
            jax.jit(lambda p: masked_bce_with_logits_grad(p, labels)),
            z,
        ),
        check_gradient(
            "masked_losses.symmetry_mse",
            jax.jit(symmetry_mse),
            jax.jit(symmetry_mse_grad),
            features,
        ),
        check_gradient(
            "masked_losses.masked_symmetric_loss",
            jax.jit(lambda p: masked_symmetric_loss(p[0], labels, p[1], alpha=0.7)),
            jax.jit(lambda p: masked_symmetric_loss_grad(p[0], labels, p[1], alpha=0.7)),
            (a, features),
        ),
    ]
