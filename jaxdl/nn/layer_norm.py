"""Layer normalisation without a bias (Ba, Kiros & Hinton 2016; GPT-2's, as nanoGPT's
``bias=False``), with its backward pass by hand.

Over the last axis of ``x`` (the ``C`` features of one position)::

    μ = mean(x)      σ² = mean((x - μ)²)      r = 1 / sqrt(σ² + ε)
    x̂ = (x - μ) r    y = x̂ * w

``layer_norm`` is the pure forward (the reference :func:`jax.grad` differentiates),
``layer_norm_backward`` the backward derived by hand, ``layer_norm_hand`` the same forward with that
backward as its ``jax.custom_vjp`` rule.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxdl.backward import register
from jaxdl.gradcheck import normal_draws, vjp_checks

#: PyTorch's ``F.layer_norm`` default, which nanoGPT uses.
EPS = 1e-5


def _check(x: ArrayLike, w: ArrayLike) -> None:
    if jnp.ndim(x) < 1 or jnp.shape(w) != jnp.shape(x)[-1:]:
        raise ValueError(
            f"layer_norm: weight {jnp.shape(w)} must be [C] for input {jnp.shape(x)} [..., C]"
        )


def normalise(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(x̂, r)``: the normalised input and the reciprocal standard deviation ``[..., 1]``."""
    mu = jnp.mean(x, axis=-1, keepdims=True)
    centred = x - mu
    rstd = jax.lax.rsqrt(jnp.mean(centred * centred, axis=-1, keepdims=True) + EPS)
    return centred * rstd, rstd


def layer_norm(x: ArrayLike, w: ArrayLike) -> jax.Array:
    """``y = (x - mean(x)) / sqrt(var(x) + ε) * w`` over the last axis.

    Args:
      x: ``[..., C]``.
      w: the gain ``[C]`` (ones at initialisation).

    Returns:
      ``[..., C]``.
    """
    _check(x, w)
    x, w = jnp.asarray(x), jnp.asarray(w)
    return normalise(x)[0] * _gain(w, x.ndim)


def _gain(w: jax.Array, rank: int) -> jax.Array:
    """``w [C]`` as ``[1, ..., 1, C]`` (no silent rank promotion)."""
    return w.reshape((1,) * (rank - 1) + w.shape)


def layer_norm_backward_saved(
    x_hat: jax.Array, rstd: jax.Array, w: jax.Array, g: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """The backward pass from the saved ``x̂`` and ``r`` (see :func:`layer_norm_backward`)."""
    dw = jnp.sum((g * x_hat).reshape(-1, g.shape[-1]), axis=0)
    d_hat = g * _gain(w, g.ndim)
    mean_d = jnp.mean(d_hat, axis=-1, keepdims=True)
    mean_dx = jnp.mean(d_hat * x_hat, axis=-1, keepdims=True)
    return rstd * (d_hat - mean_d - x_hat * mean_dx), dw


def layer_norm_backward(x: ArrayLike, w: ArrayLike, g: ArrayLike) -> tuple[jax.Array, jax.Array]:
    """Gradient of :func:`layer_norm` with respect to ``x`` and ``w``, given ``g = ∂L/∂y``.

    ``∂L/∂w = Σ_positions g * x̂``. For ``x``, with ``d = g * w = ∂L/∂x̂`` and ``C`` features:
    ``x̂_i = (x_i - μ) r`` depends on ``x_j`` through ``x_i`` itself, through ``μ``
    (``∂μ/∂x_j = 1/C``) and through ``r`` (``∂r/∂x_j = -r³ (x_j - μ) / C``), so::

        ∂L/∂x_j = r (d_j - mean(d) - x̂_j mean(d * x̂))

    (the mean over the ``C`` features of one position): the gradient of ``x̂`` with its mean
    and its component along ``x̂`` removed, scaled by ``r``.

    Returns:
      ``(dx [..., C], dw [C])``.
    """
    _check(x, w)
    x, w, g = jnp.asarray(x), jnp.asarray(w), jnp.asarray(g)
    x_hat, rstd = normalise(x)
    return layer_norm_backward_saved(x_hat, rstd, w, g)


@jax.custom_vjp
def _layer_norm_rule(x: jax.Array, w: jax.Array) -> jax.Array:
    return layer_norm(x, w)


def _layer_norm_fwd(x, w):
    x_hat, rstd = normalise(x)
    return x_hat * _gain(w, x.ndim), (x_hat, rstd, w)


def _layer_norm_bwd(saved, g):
    return layer_norm_backward_saved(*saved, g)


_layer_norm_rule.defvjp(_layer_norm_fwd, _layer_norm_bwd)


def layer_norm_hand(x: ArrayLike, w: ArrayLike) -> jax.Array:
    """:func:`layer_norm` whose gradient is :func:`layer_norm_backward` (a ``jax.custom_vjp`` rule).

    The forward saves ``x̂`` and ``r`` (llm.c saves the mean and ``r``) so the backward pass
    needs no second normalisation.
    """
    _check(x, w)
    return _layer_norm_rule(jnp.asarray(x), jnp.asarray(w))


register("layer_norm", layer_norm, layer_norm_hand)


def gradient_checks(*, key: jax.Array) -> list:
    """The hand layer norm vs ``jax.grad`` vs finite differences (formula and rule)."""
    normal = normal_draws(key, pool=256)
    x, w, g = normal((2, 3, 5), 2.0), 1.0 + normal((5,), 0.3), normal((2, 3, 5))
    return vjp_checks("nn.layer_norm", layer_norm, layer_norm_backward, layer_norm_hand, (x, w), g)
