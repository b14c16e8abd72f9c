"""Group normalisation (Yuxin Wu & Kaiming He, 2018), the normalisation of DDPM's U-Net, with
its backward pass by hand.

The ``C`` channels of an image ``[B, H, W, C]`` are cut into ``G`` groups of ``C / G``
neighbouring channels. Each image's group is normalised over its ``N = H W C / G`` values, and
each channel then gets its own gain and bias::

    μ = mean(x)      σ² = mean((x - μ)²)      r = 1 / sqrt(σ² + ε)     (per image and group)
    x̂ = (x - μ) r    y = γ_c x̂ + β_c

Nothing is averaged across the images of a batch (unlike batch norm), so a network trains the
same with any batch size and needs no running statistics: what a diffusion model, trained on
small batches of noisy images, wants. ``G = 1`` is layer norm over a whole image, ``G = C``
instance norm.

The backward pass is layer norm's (:mod:`jaxdl.nn.layer_norm`) with the group in place of the
features. With ``d = g γ = ∂L/∂x̂`` and the means taken over each image's group::

    ∂L/∂x = r (d - mean(d) - x̂ mean(d x̂))
    ∂L/∂γ_c = Σ_{b, h, w} g x̂       ∂L/∂β_c = Σ_{b, h, w} g

(``x̂`` depends on every ``x`` of its group through ``μ``, ``∂μ/∂x_j = 1/N``, and through ``r``,
``∂r/∂x_j = -r³ (x_j - μ) / N``.)
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxdl.backward import register
from jaxdl.gradcheck import normal_draws, vjp_checks

#: Added to the variance (PyTorch's ``GroupNorm`` default).
EPS = 1e-5


def _check(x: ArrayLike, gain: ArrayLike, bias: ArrayLike, groups: int) -> None:
    if jnp.ndim(x) != 4:
        raise ValueError(f"group_norm: input must be [B, H, W, C], got shape {jnp.shape(x)}")
    c = jnp.shape(x)[3]
    if jnp.shape(gain) != (c,) or jnp.shape(bias) != (c,):
        raise ValueError(
            f"group_norm: gain {jnp.shape(gain)} and bias {jnp.shape(bias)} must be [C] = "
            f"[{c}] for input {jnp.shape(x)}"
        )
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1 or c % groups:
        raise ValueError(
            f"group_norm: groups must be a positive integer dividing the {c} channels, "
            f"got {groups!r}"
        )


def _grouped(x: jax.Array, groups: int) -> jax.Array:
    """``[B, H, W, C]`` as ``[B, H, W, G, C / G]``."""
    b, h, w, c = x.shape
    return x.reshape(b, h, w, groups, c // groups)


#: The axes of one image's group in the ``[B, H, W, G, C / G]`` view.
_GROUP_AXES = (1, 2, 4)


def normalise(x: jax.Array, groups: int) -> tuple[jax.Array, jax.Array]:
    """``(x̂ [B, H, W, C], r [B, 1, 1, G, 1])``: the input normalised per image and group, and
    the reciprocal standard deviations."""
    xg = _grouped(x, groups)
    centred = xg - jnp.mean(xg, axis=_GROUP_AXES, keepdims=True)
    rstd = jax.lax.rsqrt(jnp.mean(centred * centred, axis=_GROUP_AXES, keepdims=True) + EPS)
    return (centred * rstd).reshape(x.shape), rstd


def _channel(v: jax.Array) -> jax.Array:
    return v.reshape(1, 1, 1, -1)  # [C] as [1, 1, 1, C] (no silent rank promotion)


def group_norm(x: ArrayLike, gain: ArrayLike, bias: ArrayLike, groups: int) -> jax.Array:
    """``γ_c (x - μ) / sqrt(σ² + ε) + β_c``, the statistics per image and group of channels.

    Args:
      x: images ``[B, H, W, C]``.
      gain: ``γ [C]`` (ones at initialisation).
      bias: ``β [C]`` (zeros at initialisation).
      groups: ``G``, which must divide ``C``.

    Returns:
      ``[B, H, W, C]``.
    """
    _check(x, gain, bias, groups)
    x = jnp.asarray(x)
    return normalise(x, groups)[0] * _channel(jnp.asarray(gain)) + _channel(jnp.asarray(bias))


def group_norm_backward_saved(
    x_hat: jax.Array, rstd: jax.Array, gain: jax.Array, groups: int, g: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The backward pass from the saved ``x̂`` and ``r`` (see :func:`group_norm_backward`)."""
    d = _grouped(g * _channel(gain), groups)
    xh = _grouped(x_hat, groups)
    mean_d = jnp.mean(d, axis=_GROUP_AXES, keepdims=True)
    mean_dx = jnp.mean(d * xh, axis=_GROUP_AXES, keepdims=True)
    dx = (rstd * (d - mean_d - xh * mean_dx)).reshape(g.shape)
    return dx, jnp.sum(g * x_hat, axis=(0, 1, 2)), jnp.sum(g, axis=(0, 1, 2))


def group_norm_backward(
    x: ArrayLike, gain: ArrayLike, groups: int, g: ArrayLike
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Gradient of :func:`group_norm` given ``g = ∂L/∂y`` (the module's formulas).

    Returns:
      ``(dx [B, H, W, C], dgain [C], dbias [C])``.
    """
    x, gain, g = jnp.asarray(x), jnp.asarray(gain), jnp.asarray(g)
    _check(x, gain, gain, groups)
    x_hat, rstd = normalise(x, groups)
    return group_norm_backward_saved(x_hat, rstd, gain, groups, g)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def _rule(x: jax.Array, gain: jax.Array, bias: jax.Array, groups: int) -> jax.Array:
    return group_norm(x, gain, bias, groups)


def _rule_fwd(x, gain, bias, groups):
    x_hat, rstd = normalise(x, groups)
    return x_hat * _channel(gain) + _channel(bias), (x_hat, rstd, gain)


def _rule_bwd(groups, saved, g):
    return group_norm_backward_saved(*saved[:2], saved[2], groups, g)


_rule.defvjp(_rule_fwd, _rule_bwd)


def group_norm_hand(x: ArrayLike, gain: ArrayLike, bias: ArrayLike, groups: int) -> jax.Array:
    """:func:`group_norm` whose gradient is :func:`group_norm_backward` (a ``jax.custom_vjp`` rule;
    the forward saves ``x̂`` and ``r``, so the backward needs no second normalisation)."""
    _check(x, gain, bias, groups)
    return _rule(jnp.asarray(x), jnp.asarray(gain), jnp.asarray(bias), groups)


register("group_norm", group_norm, group_norm_hand)


def gradient_checks(*, key: jax.Array) -> list:
    """Group norm (3 groups of 2 channels): formula and rule vs ``jax.grad`` vs finite
    differences."""
    normal = normal_draws(key, pool=256)
    x, g = normal((2, 3, 2, 6), 2.0), normal((2, 3, 2, 6))
    gain, bias = 1.0 + normal((6,), 0.3), normal((6,), 0.3)
    return vjp_checks(
        "nn.group_norm",
        lambda *p: group_norm(*p, 3),
        lambda x_, gain_, bias_, g_: group_norm_backward(x_, gain_, 3, g_),
        lambda *p: group_norm_hand(*p, 3),
        (x, gain, bias),
        g,
    )
