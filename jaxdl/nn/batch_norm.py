"""Batch normalization (Ioffe & Szegedy, 2015): the forward pass, its backward by hand, the rule.

Training mode (the paper's Algorithm 1) normalises each channel over the mini-batch, and for
convolutional feature maps ``[N, H, W, C]`` over the batch *and* every location (section 3.2),
so ``m = N`` values per channel for ``[N, C]`` and ``m = N H W`` for ``[N, H, W, C]``:

    mu = (1/m) sum x,   var = (1/m) sum (x - mu)**2,   xhat = (x - mu) / sqrt(var + eps),
    y = gamma xhat + beta

Evaluation mode (Algorithm 2) replaces the batch's ``mu`` and ``var`` by population statistics,
``E[x] = E_B[mu_B]`` and ``Var[x] = m / (m - 1) E_B[var_B]`` averaged over training batches
(:func:`population_statistics`), so that the output of an example no longer depends on the
other examples of its batch: the layer becomes a fixed affine map.

The backward pass in the compact form: with ``s = sqrt(var + eps)``, every path through the
batch mean and the batch variance collapses into one expression,

    dbeta = sum g,   dgamma = sum g xhat,
    dx = gamma / (m s) * (m g - sum g - xhat sum(g xhat))

(sums over the ``m`` values of each channel). :func:`batch_norm_backward` is that formula,
:func:`batch_norm_hand` the ``jax.custom_vjp`` rule built from it (it keeps ``xhat`` and ``1/s``
from the forward pass, not ``x``), and :func:`gradient_checks` compares both with ``jax.grad``
of the pure :func:`batch_norm` and with finite differences. Evaluation mode has its own
forward, backward and rule (:func:`batch_norm_eval`, :func:`batch_norm_eval_backward`,
:func:`batch_norm_eval_hand`).

``eps`` is where the paper puts it (inside the square root, added to the variance) and the
paper leaves its value open; :data:`EPSILON` is 1e-5, the value of PyTorch and Flax.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxdl.backward import register

#: Added to the variance inside the square root (Algorithm 1); the paper gives no value.
EPSILON = 1e-5


class BatchNormParams(NamedTuple):
    """The learned scale and shift of one batch-normalization layer."""

    scale: jax.Array  # [C] gamma, 1 at initialisation
    shift: jax.Array  # [C] beta, 0 at initialisation


class BatchNormStats(NamedTuple):
    """Population statistics used in evaluation mode (Algorithm 2)."""

    mean: jax.Array  # [C] E[x]
    var: jax.Array  # [C] Var[x] (unbiased: m / (m - 1) times the mean batch variance)


def init_params(channels: int, dtype=jnp.float32) -> BatchNormParams:
    """``gamma = 1``, ``beta = 0``: at first the layer only normalises."""
    return BatchNormParams(jnp.ones((channels,), dtype), jnp.zeros((channels,), dtype))


def _check(x: ArrayLike, params: BatchNormParams, epsilon: float) -> tuple[int, int]:
    """``(C, m)``: channels and values per channel; ``ValueError`` on bad shapes or epsilon."""
    shape = jnp.shape(x)
    if len(shape) not in (2, 4):
        raise ValueError(
            f"batch norm input must be [N, C] or [N, H, W, C], got shape {tuple(shape)}"
        )
    channels = shape[-1]
    for name, value in zip(("scale", "shift"), params, strict=True):
        if jnp.shape(value) != (channels,):
            raise ValueError(
                f"batch norm {name} must have shape ({channels},) for an input with "
                f"{channels} channels, got {jnp.shape(value)}"
            )
    if not (isinstance(epsilon, int | float) and math.isfinite(epsilon) and epsilon > 0):
        raise ValueError(f"batch norm epsilon must be a positive number, got {epsilon!r}")
    return channels, math.prod(shape[:-1])


def _axes(x: jax.Array) -> tuple[int, ...]:
    return tuple(range(x.ndim - 1))


def per_channel(v: ArrayLike, ndim: int) -> jax.Array:
    """``[C]`` -> ``[1, ..., 1, C]`` of rank ``ndim``, to broadcast explicitly."""
    v = jnp.asarray(v)
    return v.reshape((1,) * (ndim - 1) + v.shape)


def batch_statistics(x: ArrayLike) -> tuple[jax.Array, jax.Array]:
    """The mini-batch mean and (biased, ``1/m``) variance of each channel, ``([C], [C])``."""
    x = jnp.asarray(x)
    mean = jnp.mean(x, axis=_axes(x))
    return mean, jnp.mean(jnp.square(x - per_channel(mean, x.ndim)), axis=_axes(x))


def _check_training(x: ArrayLike, params: BatchNormParams, epsilon: float) -> int:
    _, m = _check(x, params, epsilon)
    if m < 2:
        raise ValueError(
            f"batch norm in training mode needs at least 2 values per channel, got an input of "
            f"shape {tuple(jnp.shape(x))}: a batch of one example normalises every unit to 0 "
            "(x - mean = 0); train with batches of 2 or more, or use evaluation mode "
            "(batch_norm_eval with population statistics)"
        )
    return m


def normalise(x: jax.Array, epsilon: float) -> tuple[jax.Array, jax.Array]:
    """``(xhat, 1/s)`` with ``s = sqrt(var + eps)`` per channel."""
    mean, var = batch_statistics(x)
    inv_s = per_channel(jax.lax.rsqrt(var + epsilon), x.ndim)
    return (x - per_channel(mean, x.ndim)) * inv_s, inv_s


def batch_norm(x: ArrayLike, params: BatchNormParams, *, epsilon: float = EPSILON) -> jax.Array:
    """Training-mode batch normalization: ``gamma (x - mu_B) / sqrt(var_B + eps) + beta``.

    Args:
      x: ``[N, C]`` (a dense layer's outputs) or ``[N, H, W, C]`` (feature maps, normalised
        over batch and space), at least 2 values per channel.
      params: ``gamma`` and ``beta``, each ``[C]``.
      epsilon: added to the variance.

    Returns:
      ``y``, the shape of ``x``.

    Raises:
      ValueError: bad shapes, a non-positive epsilon, or one value per channel (batch size 1).
    """
    _check_training(x, params, epsilon)
    x = jnp.asarray(x)
    xhat, _ = normalise(x, epsilon)
    return per_channel(params.scale, x.ndim) * xhat + per_channel(params.shift, x.ndim)


def batch_norm_backward_saved(
    xhat: jax.Array, inv_s: jax.Array, scale: jax.Array, g: jax.Array
) -> tuple[jax.Array, BatchNormParams]:
    """The backward pass from the saved ``x̂`` and ``1/s`` (see :func:`batch_norm_backward`)."""
    axes, n = _axes(g), g.ndim
    m = math.prod(g.shape[:-1])
    sum_g = jnp.sum(g, axis=axes)
    sum_g_xhat = jnp.sum(g * xhat, axis=axes)
    dx = (per_channel(scale, n) * inv_s / m) * (
        m * g - per_channel(sum_g, n) - xhat * per_channel(sum_g_xhat, n)
    )
    return dx, BatchNormParams(sum_g_xhat, sum_g)


def batch_norm_backward(
    x: ArrayLike, params: BatchNormParams, g: ArrayLike, *, epsilon: float = EPSILON
) -> tuple[jax.Array, BatchNormParams]:
    """Gradient of :func:`batch_norm`, the compact form.

    With ``s = sqrt(var_B + eps)``, ``xhat = (x - mu_B) / s`` and sums over the ``m`` values
    of each channel:

    - ``dbeta = sum g``, ``dgamma = sum g xhat``;
    - ``dx = gamma / (m s) * (m g - sum g - xhat sum(g xhat))``.

    Derivation: ``dxhat = gamma g``; ``mu_B`` and ``var_B`` depend on every ``x``, and
    ``dvar = -1/2 sum dxhat (x - mu) s**-3``, ``dmu = -sum dxhat / s`` (the ``dvar`` term
    through ``mu`` vanishes since ``sum (x - mu) = 0``); so
    ``dx = dxhat / s + dvar 2 (x - mu) / m + dmu / m``, which is the line above once
    ``(x - mu) / s`` is written ``xhat``.

    Args:
      x: forward input ``[N, C]`` or ``[N, H, W, C]``.
      params: ``gamma``, ``beta``.
      g: upstream gradient, the shape of ``x``.

    Returns:
      ``(dx, BatchNormParams(dgamma, dbeta))``.
    """
    _check_training(x, params, epsilon)
    x, g = jnp.asarray(x), jnp.asarray(g)
    xhat, inv_s = normalise(x, epsilon)
    return batch_norm_backward_saved(xhat, inv_s, jnp.asarray(params.scale), g)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def _batch_norm_rule(x, scale, shift, epsilon):
    return batch_norm(x, BatchNormParams(scale, shift), epsilon=epsilon)


def _batch_norm_fwd(x, scale, shift, epsilon):
    xhat, inv_s = normalise(x, epsilon)
    y = per_channel(scale, x.ndim) * xhat + per_channel(shift, x.ndim)
    return y, (xhat, inv_s, scale)


def _batch_norm_bwd(epsilon, saved, g):
    dx, dparams = batch_norm_backward_saved(*saved, g)
    return dx, dparams.scale, dparams.shift


_batch_norm_rule.defvjp(_batch_norm_fwd, _batch_norm_bwd)


def batch_norm_hand(
    x: ArrayLike, params: BatchNormParams, *, epsilon: float = EPSILON
) -> jax.Array:
    """:func:`batch_norm` whose gradient is :func:`batch_norm_backward` (a ``jax.custom_vjp`` rule).

    The forward pass keeps ``xhat`` and ``1/s`` for the backward pass (not ``x``, ``mu`` or
    ``var``): the compact formula needs nothing else.
    """
    _check_training(x, params, epsilon)
    return _batch_norm_rule(
        jnp.asarray(x), jnp.asarray(params.scale), jnp.asarray(params.shift), epsilon
    )


# --------------------------------------------------------------------------------------------
# Evaluation mode
# --------------------------------------------------------------------------------------------


def _check_stats(stats: BatchNormStats, channels: int) -> None:
    for name, value in zip(("mean", "var"), stats, strict=True):
        if jnp.shape(value) != (channels,):
            raise ValueError(
                f"batch norm population {name} must have shape ({channels},), got "
                f"{jnp.shape(value)}"
            )


def batch_norm_eval(
    x: ArrayLike,
    params: BatchNormParams,
    stats: BatchNormStats,
    *,
    epsilon: float = EPSILON,
) -> jax.Array:
    """Evaluation-mode batch normalization: ``gamma (x - E[x]) / sqrt(Var[x] + eps) + beta``.

    Each example is normalised with the population statistics, whatever else is in its batch
    (any batch size, 1 included).

    Args:
      x: ``[N, C]`` or ``[N, H, W, C]``.
      params: ``gamma``, ``beta`` ``[C]``.
      stats: ``E[x]``, ``Var[x]`` ``[C]`` (:func:`population_statistics`).

    Returns:
      ``y``, the shape of ``x``.
    """
    channels, _ = _check(x, params, epsilon)
    _check_stats(stats, channels)
    x = jnp.asarray(x)
    n = x.ndim
    inv_s = per_channel(jax.lax.rsqrt(jnp.asarray(stats.var) + epsilon), n)
    centred = x - per_channel(stats.mean, n)
    return per_channel(params.scale, n) * centred * inv_s + per_channel(params.shift, n)


def _eval_backward(x, scale, mean, var, g, epsilon):
    axes, n = _axes(g), g.ndim
    inv_s = jax.lax.rsqrt(var + epsilon)
    centred = x - per_channel(mean, n)
    sum_g = jnp.sum(g, axis=axes)
    sum_g_centred = jnp.sum(g * centred, axis=axes)
    dx = g * per_channel(scale * inv_s, n)
    dparams = BatchNormParams(sum_g_centred * inv_s, sum_g)
    dstats = BatchNormStats(-scale * inv_s * sum_g, -0.5 * scale * inv_s**3 * sum_g_centred)
    return dx, dparams, dstats


def batch_norm_eval_backward(
    x: ArrayLike,
    params: BatchNormParams,
    stats: BatchNormStats,
    g: ArrayLike,
    *,
    epsilon: float = EPSILON,
) -> tuple[jax.Array, BatchNormParams, BatchNormStats]:
    """Gradient of :func:`batch_norm_eval`: with fixed statistics the layer is affine.

    With ``s = sqrt(Var + eps)``: ``dx = gamma g / s`` (no path through other examples),
    ``dgamma = sum g (x - E) / s``, ``dbeta = sum g``, and for completeness the statistics'
    gradients ``dE = -gamma sum g / s`` and ``dVar = -gamma / 2 sum g (x - E) / s**3``.

    Returns:
      ``(dx, BatchNormParams(dgamma, dbeta), BatchNormStats(dmean, dvar))``.
    """
    channels, _ = _check(x, params, epsilon)
    _check_stats(stats, channels)
    return _eval_backward(
        jnp.asarray(x),
        jnp.asarray(params.scale),
        jnp.asarray(stats.mean),
        jnp.asarray(stats.var),
        jnp.asarray(g),
        epsilon,
    )


@functools.partial(jax.custom_vjp, nondiff_argnums=(5,))
def _batch_norm_eval_rule(x, scale, shift, mean, var, epsilon):
    return batch_norm_eval(
        x, BatchNormParams(scale, shift), BatchNormStats(mean, var), epsilon=epsilon
    )


def _batch_norm_eval_fwd(x, scale, shift, mean, var, epsilon):
    return _batch_norm_eval_rule(x, scale, shift, mean, var, epsilon), (x, scale, mean, var)


def _batch_norm_eval_bwd(epsilon, saved, g):
    x, scale, mean, var = saved
    dx, dparams, dstats = _eval_backward(x, scale, mean, var, g, epsilon)
    return dx, dparams.scale, dparams.shift, dstats.mean, dstats.var


_batch_norm_eval_rule.defvjp(_batch_norm_eval_fwd, _batch_norm_eval_bwd)


def batch_norm_eval_hand(
    x: ArrayLike,
    params: BatchNormParams,
    stats: BatchNormStats,
    *,
    epsilon: float = EPSILON,
) -> jax.Array:
    """:func:`batch_norm_eval` whose gradient is :func:`batch_norm_eval_backward` (custom_vjp)."""
    channels, _ = _check(x, params, epsilon)
    _check_stats(stats, channels)
    return _batch_norm_eval_rule(
        jnp.asarray(x),
        jnp.asarray(params.scale),
        jnp.asarray(params.shift),
        jnp.asarray(stats.mean),
        jnp.asarray(stats.var),
        epsilon,
    )


def population_statistics(
    means: ArrayLike, variances: ArrayLike, batch_size: int
) -> BatchNormStats:
    """Algorithm 2's inference statistics from the statistics of several training batches.

    ``E[x] = E_B[mu_B]`` and ``Var[x] = m / (m - 1) E_B[var_B]``, the unbiased estimate, where
    ``m`` is the number of values per channel in one batch.

    Args:
      means: ``[K, C]``, each batch's ``mu_B``.
      variances: ``[K, C]``, each batch's (biased) ``var_B``.
      batch_size: ``m``, at least 2.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
        raise ValueError(f"batch_size must be an integer, got {batch_size!r}")
    if batch_size < 2:
        raise ValueError(
            f"batch_size must be at least 2 for an unbiased variance, got {batch_size}"
        )
    means, variances = jnp.asarray(means), jnp.asarray(variances)
    if means.ndim != 2 or means.shape != variances.shape:
        raise ValueError(
            f"means and variances must both be [K, C], got {means.shape} and {variances.shape}"
        )
    return BatchNormStats(
        jnp.mean(means, axis=0), batch_size / (batch_size - 1) * jnp.mean(variances, axis=0)
    )


# --------------------------------------------------------------------------------------------
# Checks for ``jaxdl check``
# --------------------------------------------------------------------------------------------


def gradient_checks(*, key: jax.Array) -> list:
    """Both modes' hand gradients (formula and ``custom_vjp`` rule) vs ``jax.grad`` vs finite
    differences, through ``sum(y * G)`` for a random upstream ``G``: training mode on the
    smallest batch ``[2, 3]`` and on a feature map ``[2, 3, 2, 4]``, evaluation mode on
    ``[5, 3]``."""
    from jaxdl.gradcheck import standard_normal

    dtype = jnp.result_type(float)
    eps = 1e-3
    checks = []
    for i, (mode, label, shape) in enumerate(
        (
            ("train", "batch of 2", (2, 3)),
            ("train", "[N, H, W, C]", (2, 3, 2, 4)),
            ("eval", "[N, C]", (5, 3)),
        )
    ):
        kx, kg, ks, kb, km, kv = jax.random.split(jax.random.fold_in(key, i), 6)
        c = shape[-1]
        x = 2.0 * standard_normal(kx, shape, dtype) + 0.5
        g = standard_normal(kg, shape, dtype)
        params = BatchNormParams(
            1.0 + 0.5 * standard_normal(ks, (c,), dtype), standard_normal(kb, (c,), dtype)
        )
        if mode == "train":
            checks += _train_mode_checks(f"nn.batch_norm {label}", x, g, params, eps)
            continue
        stats = BatchNormStats(
            standard_normal(km, (c,), dtype), jax.random.uniform(kv, (c,), dtype, 0.5, 2.0)
        )
        checks += _eval_mode_checks(f"nn.batch_norm_eval {label}", x, g, params, stats, eps)
    return checks


def _train_mode_checks(name: str, x, g, params, eps: float) -> list:
    """Training mode: the formula's gradient and the ``custom_vjp`` rule's, through
    ``sum(y * g)``."""
    from jaxdl.gradcheck import check_gradient

    def train(p):
        return jnp.sum(batch_norm(p[0], p[1], epsilon=eps) * g)

    def train_hand(p):
        return jnp.sum(batch_norm_hand(p[0], p[1], epsilon=eps) * g)

    return [
        check_gradient(name, train, lambda p: batch_norm_backward(*p, g, epsilon=eps), (x, params)),
        check_gradient(f"{name} custom_vjp", train, jax.grad(train_hand), (x, params)),
    ]


def _eval_mode_checks(name: str, x, g, params, stats, eps: float) -> list:
    """Evaluation mode (running statistics, also differentiated): the formula's gradient and
    the ``custom_vjp`` rule's, through ``sum(y * g)``."""
    from jaxdl.gradcheck import check_gradient

    def evaluate(p):
        return jnp.sum(batch_norm_eval(*p, epsilon=eps) * g)

    def evaluate_hand(p):
        return jnp.sum(batch_norm_eval_hand(*p, epsilon=eps) * g)

    return [
        check_gradient(
            name,
            evaluate,
            lambda p: batch_norm_eval_backward(*p, g, epsilon=eps),
            (x, params, stats),
        ),
        check_gradient(f"{name} custom_vjp", evaluate, jax.grad(evaluate_hand), (x, params, stats)),
    ]


register("batch_norm", batch_norm, batch_norm_hand)
register("batch_norm_eval", batch_norm_eval, batch_norm_eval_hand)
