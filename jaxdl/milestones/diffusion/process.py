"""DDPM's two processes as pure functions, for data of any shape: the forward process that
destroys the data (:func:`schedule`, :func:`q_sample`, :func:`q_step`), the training draws and
the simplified loss on them (:func:`noising_feed`, :func:`noise_loss`), and the reverse process
that a trained ε-network runs from noise (:func:`respaced`, :func:`reverse_step`,
:func:`ancestral_chain`). The swiss roll's MLP and the digits' U-Net both use them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import backward, losses
from jaxdl.data.batches import Feed

F32 = jnp.float32
#: DDPM's schedule: T steps, β linear from BETA_1 to BETA_T.
T = 1000
BETA_1, BETA_T = 1e-4, 0.02


class Schedule(NamedTuple):
    """The noise schedule, index ``t - 1`` for step ``t = 1..T``."""

    beta: jax.Array  # [T] β_t
    alpha: jax.Array  # [T] α_t = 1 - β_t
    alpha_bar: jax.Array  # [T] ᾱ_t = Π_{s<=t} α_s


def schedule(steps: int = T, beta_1: float = BETA_1, beta_t: float = BETA_T, dtype=F32) -> Schedule:
    """DDPM's linear schedule: ``β_t`` from ``beta_1`` to ``beta_t`` over ``steps`` steps."""
    beta = jnp.linspace(beta_1, beta_t, steps, dtype=jnp.float64 if jax.config.x64_enabled else F32)
    alpha = 1.0 - beta
    return Schedule(*(a.astype(dtype) for a in (beta, alpha, jnp.cumprod(alpha))))


def _per_example(values: jax.Array, like: jax.Array) -> jax.Array:
    """``values [B]`` as ``[B, 1, ..., 1]``, to scale examples shaped like ``like``."""
    return values.reshape(values.shape + (1,) * (like.ndim - 1))


def q_sample(sched: Schedule, x0: jax.Array, t: jax.Array, eps: jax.Array) -> jax.Array:
    """``x_t = √ᾱ_t x_0 + √(1 - ᾱ_t) ε``: a draw of ``q(x_t | x_0)`` for steps ``t [B]`` in
    ``1..T`` and examples ``x0, eps [B, ...]`` (points ``[B, 2]``, images ``[B, H, W, C]``)."""
    a = _per_example(sched.alpha_bar[t - 1], x0)
    return jnp.sqrt(a) * x0 + jnp.sqrt(1.0 - a) * eps


def q_step(sched: Schedule, x: jax.Array, t: jax.Array, z: jax.Array) -> jax.Array:
    """One forward step ``x_t = √(1 - β_t) x_{t-1} + √β_t z`` (to check the closed form)."""
    b = _per_example(sched.beta[t - 1], x)
    return jnp.sqrt(1.0 - b) * x + jnp.sqrt(b) * z


class Batch(NamedTuple):
    """One training step's draws."""

    x0: jax.Array  # [B, ...] data (points [B, 2], images [B, H, W, C])
    t: jax.Array  # [B] int32 steps in 1..T
    eps: jax.Array  # [B, ...] the noise, shaped like x0


@functools.cache
def _draws(batch_size: int) -> Callable:
    def next_batch(state):
        key, data = state
        key, k_i, k_t, k_e = jax.random.split(key, 4)
        x0 = data[jax.random.randint(k_i, (batch_size,), 0, data.shape[0])]
        t = jax.random.randint(k_t, (batch_size,), 1, T + 1)
        return (key, data), Batch(x0, t, jax.random.normal(k_e, x0.shape, x0.dtype))

    return next_batch


def noising_feed(data: jax.Array, *, batch_size: int, key: jax.Array) -> Feed:
    """Every step, ``batch_size`` examples of ``data [N, ...]`` (drawn with replacement), a step
    ``t`` uniform in ``1..T`` and fresh noise for each, drawn on the device. The feed's state
    is ``(key, data)``: its key is all a checkpoint needs to continue it."""
    return Feed((key, data), _draws(batch_size))


@jax.custom_vjp
def _mse_hand(predictions: jax.Array, targets: jax.Array) -> jax.Array:
    return losses.mse(predictions, targets)


_mse_hand.defvjp(
    lambda p, y: (losses.mse(p, y), (p, y)),
    lambda s, g: (g * losses.mse_grad(*s), jnp.zeros_like(s[1])),
)


def noise_loss(predicted: jax.Array, eps: jax.Array, *, ops: backward.Ops) -> jax.Array:
    """DDPM's simplified loss on one batch: the mean of ``(ε - ε_θ)²`` over every coordinate,
    its gradient ``2 (ε_θ - ε) / n`` by hand (:func:`jaxdl.losses.mse_grad`) under the hand
    rules."""
    return (_mse_hand if ops is backward.HAND else losses.mse)(predicted, eps)


def respaced(sched: Schedule, count: int) -> tuple[np.ndarray, Schedule]:
    """``count`` of the ``T`` steps, evenly spaced and ending at step ``T``, and the schedule
    of the shorter chain through them: ``ᾱ`` kept at those steps, ``β_i = 1 - ᾱ_{τ_i} /
    ᾱ_{τ_{i-1}}`` (Nichol & Dhariwal 2021), so that every ``q(x_τ | x_0)`` is unchanged and
    the trained network serves as it is. ``count = T`` gives the schedule itself."""
    total = sched.beta.shape[0]
    steps = np.unique(np.round(np.linspace(0, total, count + 1)[1:]).astype(int))
    a_bar = sched.alpha_bar[steps - 1]
    previous = jnp.concatenate([jnp.ones((1,), a_bar.dtype), a_bar[:-1]])
    alpha = a_bar / previous
    return steps, Schedule(1.0 - alpha, alpha, a_bar)


def reverse_step(
    sched: Schedule, i: jax.Array, x: jax.Array, eps: jax.Array, z: jax.Array
) -> jax.Array:
    """One step of ancestral sampling, from ``x`` at the schedule's index ``i`` (step ``i + 1``
    of the full chain) to the index before::

        x ← (x - β_i / √(1 - ᾱ_i) ε) / √α_i + σ_i z,    σ_i = √β_i, and 0 at i = 0

    ``eps`` is the network's prediction ``ε_θ(x, t)``, ``z`` a standard normal draw."""
    shrink = sched.beta[i] / jnp.sqrt(1.0 - sched.alpha_bar[i])
    mean = (x - shrink * eps) / jnp.sqrt(sched.alpha[i])
    return mean + jnp.where(i > 0, jnp.sqrt(sched.beta[i]), 0.0) * z


@functools.partial(jax.jit, static_argnames=("net",))
def ancestral_chain(
    net: Callable, params, sched: Schedule, steps: jax.Array, x_top: jax.Array, key: jax.Array
) -> jax.Array:
    """The reverse chain from ``x_top`` (``x_T``, any shape ``[n, ...]``) through the schedule
    ``sched`` at the steps ``steps [K]`` (ascending, from :func:`respaced`), as one compiled
    ``lax.scan``; ``net(params, x, t)`` predicts the noise. Returns every state
    ``[K + 1, n, ...]``, from ``x_T`` to ``x_0``.
    """
    n = x_top.shape[0]

    def step(x, inputs):
        i, k = inputs  # from x at step steps[i] to x at the step before it (0 after the last)
        eps = net(params, x, jnp.full((n,), steps[i], jnp.int32))
        x = reverse_step(sched, i, x, eps, jax.random.normal(k, x.shape, x.dtype))
        return x, x

    indices = jnp.arange(steps.shape[0])[::-1]
    _, path = jax.lax.scan(step, x_top, (indices, jax.random.split(key, steps.shape[0])))
    return jnp.concatenate([x_top[None], path])


@functools.partial(jax.jit, static_argnames=("net",))
def _chain_end(net, params, sched: Schedule, steps, count, x_top, key):
    n = x_top.shape[0]
    keys = jax.random.split(key, steps.shape[0])

    def step(j, x):
        i = count - 1 - j  # from the last valid index down to 0
        eps = net(params, x, jnp.full((n,), steps[i], jnp.int32))
        return reverse_step(sched, i, x, eps, jax.random.normal(keys[i], x.shape, x.dtype))

    return jax.lax.fori_loop(0, count, step, x_top)


def chain_end(
    net: Callable, params, sched: Schedule, steps: np.ndarray, x_top: jax.Array, key: jax.Array
) -> jax.Array:
    """``x_0`` alone of the reverse chain of :func:`ancestral_chain` (its own noise draws), for
    many samples: no path kept. The schedule and steps are padded to the full ``T`` and the
    count of steps is a traced loop bound, so every count runs one compiled program."""
    count = len(steps)
    pad = max(T - count, 0)
    padded = Schedule(*(jnp.pad(a, (0, pad), constant_values=1.0) for a in sched))
    steps = jnp.asarray(np.pad(np.asarray(steps), (0, pad)), jnp.int32)
    return _chain_end(net, params, padded, steps, jnp.int32(count), x_top, key)
