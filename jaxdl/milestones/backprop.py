"""Backpropagation (Rumelhart, Hinton & Williams, 1986), in Andrew Trask's code.

Minsky and Papert showed in 1969 that a perceptron cannot learn XOR. A hidden layer can, once
there is a way to tell each hidden weight how to change: backpropagation. Trask's famous
eleven-line network is a 3-4-1 sigmoid net trained on XOR (the third input is a constant 1,
a bias). Each full-batch step, in his words and variables:

- feed forward: ``l1 = sigmoid(X syn0)``, ``l2 = sigmoid(l1 syn1)``;
- ``error = l2 - y``; the "confidence" of a unit is the sigmoid's slope ``l (1 - l)``;
- ``l2_delta = error * l2 (1 - l2)``, ``l1_delta = (l2_delta syn1ᵀ) * l1 (1 - l1)``;
- ``syn1 -= l1ᵀ l2_delta``, ``syn0 -= Xᵀ l1_delta``.

Those deltas are exactly the gradient of half the sum of squared errors (summed over the batch),
and the update is gradient descent with learning rate 1: :func:`loss` and :func:`loss_grad`.
Seed 003 writes the same step as ``l2_error = y - l2`` and ``syn1 += ...`` (the sign flipped
twice) on its "Litter Rip!" survey data. Here the 60000 steps run as one :func:`jax.lax.scan`
inside one ``jit``; with the seed's NumPy initialisation (:func:`seed_init_params`) and float64,
the run reproduces the seed's printed numbers.

The relatives of Trask's network live here too: seed 002's two-layer network with biases and
binary cross-entropy (``dZ2 = a2 - y``), and seed 001's "network from scratch" (the same net
with the full sum of squared errors, hence twice the gradient). Backpropagation for any depth is
in :mod:`jaxdl.nn.dense_stack`. Finally :func:`train_many` trains a thousand XOR networks at once with
:func:`jax.vmap` to answer the student's second question: does it *always* work?
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxdl.activations import sigmoid, sigmoid_slope
from jaxdl.errors import DivergenceError, first_non_finite
from jaxdl.gradcheck import GradCheck, check_gradient
from jaxdl.losses import binary_cross_entropy, check_same_shape, half_sse, half_sse_grad, sse
from jaxdl.milestones import Milestone
from jaxdl.report import Report
from jaxdl.validate import (
    LEARNING_RATE_CEILING,
    NETWORKS,
    SEED,
    STEPS,
    WIDTH,
    check_limits,
    require_finite,
    require_int,
    require_positive_float,
    require_positive_int,
)

MILESTONE = Milestone(
    "backprop",
    1986,
    "Rumelhart, Hinton & Williams",
    "a hidden layer solves XOR",
)

# The data. The third column is always 1: it plays the part of a bias input.
XOR_INPUTS = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=np.float64)
XOR_TARGETS = np.array([[0], [1], [1], [0]], dtype=np.float64)
#: Seed 003's survey: has a cat, drinks imported beer, visited LitterRip.com -> bought litter.
LITTER_INPUTS = np.array([[1, 0, 1], [0, 1, 1], [0, 0, 1], [1, 1, 1]], dtype=np.float64)
LITTER_TARGETS = np.array([[1], [1], [0], [0]], dtype=np.float64)

#: What the seeds print (np.random.seed(1), float64, 60000 steps), checked by re-running them.
SEED_XOR_OUTPUTS = (0.0026, 0.9967, 0.9970, 0.0039)
SEED_LITTER_ERRORS = (0.4964, 0.00858, 0.00579, 0.00463, 0.00396, 0.00351)
SEED_LITTER_OUTPUTS = (0.9970, 0.9967, 0.0026, 0.0039)

ErrorConvention = Literal["l2 - y", "y - l2"]


class Params(NamedTuple):
    """Trask's two weight matrices (the "synapses"; no separate biases)."""

    syn0: jax.Array  # [n_in, hidden]  input -> hidden
    syn1: jax.Array  # [hidden, 1]  hidden -> output


class TrainingSet(NamedTuple):
    """The whole training set, used as one batch every step."""

    x: jax.Array  # [N, n_in]  (last column 1: the bias input)
    y: jax.Array  # [N, 1]  targets in [0, 1]


class TrainResult(NamedTuple):
    """What :func:`train` returns."""

    params: Params  # after the last step
    mean_abs_error: jax.Array  # [steps]  mean |l2 - y| at each step, before its update (printed)
    loss: jax.Array  # [steps + 1]  half SSE after 0, 1, ..., steps updates


def dataset(name: Literal["xor", "litter"] = "xor", dtype=None) -> TrainingSet:
    """Trask's XOR data or seed 003's "Litter Rip!" survey, as a :class:`TrainingSet`."""
    data = {"xor": (XOR_INPUTS, XOR_TARGETS), "litter": (LITTER_INPUTS, LITTER_TARGETS)}
    if name not in data:
        raise ValueError(f"unknown data set {name!r}; choose 'xor' or 'litter'")
    dtype = dtype or jnp.result_type(float)
    x, y = data[name]
    return TrainingSet(x=jnp.asarray(x, dtype), y=jnp.asarray(y, dtype))


# ------------------------------------------------------------------------- initialisation


def _require_hidden(hidden: int) -> None:
    require_int("hidden width", hidden, minimum=1, maximum=WIDTH[1])


def init_params(*, key: jax.Array, n_in: int = 3, hidden: int = 4, dtype=None) -> Params:
    """Weights uniform in [-1, 1) (Trask's ``2 * random - 1``), drawn from a ``jax.random`` key.

    Raises:
      ValueError: if ``hidden`` or ``n_in`` is below 1.
    """
    _require_hidden(hidden)
    require_positive_int("number of inputs", n_in)
    dtype = dtype or jnp.result_type(float)
    k0, k1 = jax.random.split(key)
    return Params(
        syn0=jax.random.uniform(k0, (n_in, hidden), dtype, minval=-1.0, maxval=1.0),
        syn1=jax.random.uniform(k1, (hidden, 1), dtype, minval=-1.0, maxval=1.0),
    )


def seed_init_params(*, seed: int = 1, n_in: int = 3, hidden: int = 4, dtype=None) -> Params:
    """The seed's weights: ``np.random.seed(1); syn0 = 2*np.random.random((3,4)) - 1``, then syn1.

    Uses a private ``np.random.RandomState(seed)``, which draws the same stream as the global
    ``np.random.seed`` the seed calls, without touching NumPy's global state.
    """
    _require_hidden(hidden)
    require_positive_int("number of inputs", n_in)
    rng = np.random.RandomState(seed)
    syn0 = 2 * rng.random_sample((n_in, hidden)) - 1
    syn1 = 2 * rng.random_sample((hidden, 1)) - 1
    dtype = dtype or jnp.result_type(float)
    return Params(syn0=jnp.asarray(syn0, dtype), syn1=jnp.asarray(syn1, dtype))


# ------------------------------------------------------------------- the network, by hand


def dot(a: jax.Array, b: jax.Array) -> jax.Array:
    """Trask's ``np.dot`` for these tiny matrices: ``[n, k] x [k, m] -> [n, m]``.

    Written as a broadcast multiply and a sum over ``k``. On a CPU, XLA turns each ``a @ b``
    into a call to a matrix-multiply library, which for 4x3 matrices costs far more than the
    arithmetic; the multiply-and-sum form fuses with the sigmoids into a few loops, which makes
    the one-network scan several times faster. The result is the same product.

    Under :func:`jax.vmap` the balance flips: ``a @ b`` becomes one batched matrix product over
    all the networks, while the multiply-and-sum becomes a large intermediate array; so
    :func:`train_many` uses ``jnp.matmul`` (``benchmarks/backprop.py`` times both paths against
    a plain ``jit(vmap(scan))``).
    """
    return jnp.sum(a[:, :, None] * b[None, :, :], axis=1)


def forward(params: Params, x: ArrayLike, *, product=dot) -> tuple[jax.Array, jax.Array]:
    """Feed forward: ``l1 = sigmoid(x syn0)`` ``[N, hidden]``, ``l2 = sigmoid(l1 syn1)`` ``[N, 1]``.

    ``product`` computes the matrix products (:func:`dot` or ``jnp.matmul``: same values).
    """
    l1 = sigmoid(product(jnp.asarray(x), params.syn0))
    return l1, sigmoid(product(l1, params.syn1))


def predict(params: Params, x: ArrayLike) -> jax.Array:
    """The network's outputs ``l2`` ``[N, 1]`` (inputs with a NaN are refused when concrete)."""
    require_finite("inputs", x)
    return forward(params, x)[1]


def loss(params: Params, batch: TrainingSet) -> jax.Array:
    """Half the sum of squared errors over the batch: ``sum((l2 - y)**2) / 2``."""
    return half_sse(predict(params, batch.x), batch.y)


def _backward(params: Params, x, l1, l2, error, product=dot) -> Params:
    # Trask's deltas, for any starting error (the gradient of the loss at l2).
    l2_delta = error * sigmoid_slope(l2)  # [N, 1]
    l1_delta = product(l2_delta, params.syn1.T) * sigmoid_slope(l1)  # [N, hidden]
    return Params(syn0=product(x.T, l1_delta), syn1=product(l1.T, l2_delta))


def loss_grad(params: Params, batch: TrainingSet) -> Params:
    """Gradient of :func:`loss` by Trask's deltas.

    ``error = l2 - y`` (the gradient of half SSE at ``l2``), ``l2_delta = error * l2 (1 - l2)``,
    ``l1_delta = (l2_delta syn1ᵀ) * l1 (1 - l1)``; then ``d syn1 = l1ᵀ l2_delta`` and
    ``d syn0 = xᵀ l1_delta``.
    """
    l1, l2 = forward(params, batch.x)
    return _backward(params, batch.x, l1, l2, half_sse_grad(l2, batch.y))


def check_inputs(params: Params, batch: TrainingSet) -> None:
    """``ValueError`` naming the problem unless ``params`` and ``batch`` fit together.

    Checks: ``x`` is ``[N, n_in]`` with ``n_in`` matching ``syn0``'s rows; ``syn1`` is
    ``[hidden, 1]`` with ``hidden`` matching ``syn0``'s columns; ``y`` is ``[N, 1]`` with the same
    ``N`` rows as ``x``; no NaN or infinity in the data or the weights.
    """
    x_shape, y_shape = jnp.shape(batch.x), jnp.shape(batch.y)
    s0, s1 = jnp.shape(params.syn0), jnp.shape(params.syn1)
    if len(x_shape) != 2:
        raise ValueError(f"X must be a matrix [examples, inputs], got shape {x_shape}")
    if len(s0) != 2 or s0[0] != x_shape[1]:
        raise ValueError(
            f"shapes do not chain: X has {x_shape[1]} columns but syn0 has shape {s0} "
            f"(expected ({x_shape[1]}, hidden))"
        )
    if s0[1] < 1:
        raise ValueError(f"hidden width must be >= 1, got syn0 of shape {s0}")
    if s1 != (s0[1], 1):
        raise ValueError(
            f"shapes do not chain: syn0 {s0} gives {s0[1]} hidden units but syn1 has shape "
            f"{s1} (expected ({s0[1]}, 1))"
        )
    if y_shape != (x_shape[0], 1):
        raise ValueError(
            f"y has shape {y_shape} but X has {x_shape[0]} rows: y must be ({x_shape[0]}, 1), "
            "one target per row of X"
        )
    for name, value in (
        ("X", batch.x),
        ("y", batch.y),
        ("syn0", params.syn0),
        ("syn1", params.syn1),
    ):
        if not np.isfinite(np.asarray(value)).all():
            raise ValueError(f"{name} contains NaN or infinity; clean the data first")


# ------------------------------------------------------------------------------ training


def _step(params: Params, batch: TrainingSet, learning_rate, error: ErrorConvention, product=dot):
    l1, l2 = forward(params, batch.x, product=product)
    if error == "l2 - y":  # Trask's code as written: error = l2 - y; syn -= ...
        g = _backward(params, batch.x, l1, l2, l2 - batch.y, product)
        new = jax.tree.map(lambda p, d: p - learning_rate * d, params, g)
    else:  # seed 003: l2_error = y - l2; syn += ... (the same step)
        g = _backward(params, batch.x, l1, l2, batch.y - l2, product)
        new = jax.tree.map(lambda p, d: p + learning_rate * d, params, g)
    residual = l2 - batch.y
    return new, (jnp.mean(jnp.abs(residual)), 0.5 * jnp.sum(residual**2))


@functools.partial(jax.jit, static_argnames=("steps", "error"))
def _train(params: Params, batch: TrainingSet, learning_rate, steps: int, error: ErrorConvention):
    final, (mean_abs, losses) = jax.lax.scan(
        lambda p, _: _step(p, batch, learning_rate, error), params, length=steps, unroll=8
    )
    return final, mean_abs, jnp.concatenate([losses, loss(final, batch)[None]])


@functools.partial(jax.jit, static_argnames=("steps",))
def update(
    params: Params, batch: TrainingSet, learning_rate: float = 1.0, steps: int = 1
) -> Params:
    """``steps`` gradient-descent steps ``params - learning_rate * loss_grad`` (no trace kept)."""
    return jax.lax.fori_loop(
        0, steps, lambda _, p: _step(p, batch, learning_rate, "l2 - y")[0], params, unroll=8
    )


def train(
    params: Params,
    batch: TrainingSet,
    *,
    steps: int = 60000,
    learning_rate: float = 1.0,
    error: ErrorConvention = "l2 - y",
) -> TrainResult:
    """Full-batch backpropagation for ``steps`` steps, as one ``lax.scan`` in one ``jit``.

    Args:
      params: starting weights (:func:`init_params` or :func:`seed_init_params`).
      batch: the training set.
      steps: number of updates, at least 1.
      learning_rate: step size (Trask: 1).
      error: ``"l2 - y"`` (Trask's code: ``syn -= ...``) or ``"y - l2"`` (seed 003:
        ``syn += ...``); the two give the same step, bit for bit.

    Returns:
      A :class:`TrainResult`: the final weights, the mean ``|error|`` before each step, the loss.

    Raises:
      ValueError: shapes that do not chain, NaN in the data, bad settings.
      DivergenceError: if the loss becomes non-finite (naming the first such step).
    """
    require_positive_int("steps", steps)
    require_positive_float("learning rate", learning_rate)
    if error not in ("l2 - y", "y - l2"):
        raise ValueError(f"error must be 'l2 - y' or 'y - l2', got {error!r}")
    check_inputs(params, batch)
    final, mean_abs, losses = _train(params, batch, learning_rate, steps, error)
    bad = first_non_finite(losses)
    if bad is not None:
        raise DivergenceError("loss", bad)
    return TrainResult(params=final, mean_abs_error=mean_abs, loss=losses)


def seed_numpy_loop(x, y, syn0, syn1, *, steps: int = 60000, print_every: int | None = None):
    """The seed's own NumPy program (seed 003's form), kept as the reference and the baseline.

    Returns ``(syn0, syn1, printed_errors, l2)``: the final weights, the mean ``|error|``
    printed every ``print_every`` steps, and the output ``l2`` of the last iteration (what the
    seed prints).
    """

    def nonlin(v, deriv=False):
        if deriv:
            return v * (1 - v)
        return 1 / (1 + np.exp(-v))

    x, y = np.array(x, dtype=np.float64), np.array(y, dtype=np.float64)
    syn0, syn1 = np.array(syn0, dtype=np.float64), np.array(syn1, dtype=np.float64)
    printed = []
    for j in range(steps):
        l0 = x
        l1 = nonlin(np.dot(l0, syn0))
        l2 = nonlin(np.dot(l1, syn1))
        l2_error = y - l2
        if print_every and j % print_every == 0:
            printed.append(np.mean(np.abs(l2_error)))
        l2_delta = l2_error * nonlin(l2, deriv=True)
        l1_error = l2_delta.dot(syn1.T)
        l1_delta = l1_error * nonlin(l1, deriv=True)
        syn1 += l1.T.dot(l2_delta)
        syn0 += l0.T.dot(l1_delta)
    return syn0, syn1, printed, l2


# -------------------------------------------------------------- many networks at once


@functools.partial(jax.jit, static_argnames=("hidden", "steps"))
def _train_many(keys: jax.Array, batch: TrainingSet, learning_rate, hidden: int, steps: int):
    def one(key):
        params = init_params(key=key, n_in=batch.x.shape[1], hidden=hidden, dtype=batch.x.dtype)
        params = jax.lax.fori_loop(  # matmul, not dot: it batches well under vmap (see dot)
            0,
            steps,
            lambda _, p: _step(p, batch, learning_rate, "l2 - y", jnp.matmul)[0],
            params,
            unroll=8,
        )
        return forward(params, batch.x, product=jnp.matmul)[1]

    return jax.vmap(one)(keys)


def train_many(
    batch: TrainingSet,
    *,
    key: jax.Array,
    count: int = 1000,
    hidden: int = 4,
    steps: int = 60000,
    learning_rate: float = 1.0,
) -> jax.Array:
    """Train ``count`` networks from different keys in one compiled, vmapped call.

    Returns:
      Their outputs on ``batch.x``: ``[count, N, 1]``.
    """
    require_int("number of networks", count, minimum=1, maximum=NETWORKS[1])
    require_int("steps", steps, minimum=1, maximum=STEPS[1])
    require_positive_float("learning rate", learning_rate)
    _require_hidden(hidden)
    n_in = jnp.shape(batch.x)[-1]
    check_inputs(Params(jnp.zeros((n_in, hidden)), jnp.zeros((hidden, 1))), batch)
    return _train_many(jax.random.split(key, count), batch, learning_rate, int(hidden), steps)


def solved(outputs: ArrayLike, targets: ArrayLike) -> jax.Array:
    """Per network: does every output round to its target (``|l2 - y| < 0.5``)? ``[count]``."""
    outputs = jnp.asarray(outputs)
    return jnp.all(jnp.abs(outputs - jnp.asarray(targets)[None]) < 0.5, axis=(1, 2))


# ---------------------------------------------------------------------------- relatives
# Seed 002: a two-layer net with biases and binary cross-entropy, in its column layout
# (examples are columns): Z1 = w1 x + b1, a1 = sigmoid(Z1), Z2 = w2 a1 + b2, a2 = sigmoid(Z2).


class BCEParams(NamedTuple):
    """Seed 002's two-layer network (examples are columns)."""

    w1: jax.Array  # [hidden, n_in]
    b1: jax.Array  # [hidden, 1]
    w2: jax.Array  # [1, hidden]
    b2: jax.Array  # [1, 1]


def check_binary_targets(y: ArrayLike) -> None:
    """``ValueError`` unless every target is exactly 0 or 1 (cross-entropy needs labels)."""
    y = np.asarray(y)
    bad = ~((y == 0) | (y == 1))
    if bad.any():
        raise ValueError(
            f"cross-entropy needs binary targets (0 or 1); got {y[bad].ravel()[:3].tolist()} "
            "among them"
        )


def bce_forward(params: BCEParams, x: ArrayLike) -> tuple[jax.Array, jax.Array]:
    """``a1 = sigmoid(w1 x + b1)`` ``[hidden, m]``, ``a2 = sigmoid(w2 a1 + b2)`` ``[1, m]``."""
    a1 = sigmoid(params.w1 @ jnp.asarray(x) + params.b1)
    return a1, sigmoid(params.w2 @ a1 + params.b2)


def bce_loss(params: BCEParams, x: ArrayLike, y: ArrayLike) -> jax.Array:
    """Mean cross-entropy ``-mean(y log a2 + (1 - y) log(1 - a2))`` over the ``m`` examples."""
    return binary_cross_entropy(bce_forward(params, x)[1], y)


def bce_loss_grad(params: BCEParams, x: ArrayLike, y: ArrayLike) -> BCEParams:
    """Seed 002's gradients, in its order ``dZ2 -> dw2 -> db2 -> dZ1 -> dw1 -> db1``.

    ``dZ2 = a2 - y``; ``dw2 = dZ2 a1ᵀ / m``; ``db2 = mean(dZ2)``;
    ``dZ1 = w2ᵀ dZ2 * a1 (1 - a1)``; ``dw1 = dZ1 xᵀ / m``; ``db1 = mean(dZ1)`` (per unit).
    """
    x = jnp.asarray(x)
    a1, a2 = bce_forward(params, x)
    check_same_shape(a2, y)
    m = x.shape[1]
    dz2 = a2 - jnp.asarray(y)  # [1, m]: the sigmoid's slope cancels the loss's denominator
    dw2 = dz2 @ a1.T / m
    db2 = jnp.mean(dz2, axis=1, keepdims=True)
    dz1 = (params.w2.T @ dz2) * sigmoid_slope(a1)  # [hidden, m]
    dw1 = dz1 @ x.T / m
    db1 = jnp.mean(dz1, axis=1, keepdims=True)
    return BCEParams(w1=dw1, b1=db1, w2=dw2, b2=db2)


def init_bce_params(*, key: jax.Array, n_in: int = 2, hidden: int = 4, dtype=None) -> BCEParams:
    """Seed 002's network with weights ``normal`` and zero biases."""
    _require_hidden(hidden)
    dtype = dtype or jnp.result_type(float)
    k1, k2 = jax.random.split(key)
    return BCEParams(
        w1=jax.random.normal(k1, (hidden, n_in), dtype),
        b1=jnp.zeros((hidden, 1), dtype),
        w2=jax.random.normal(k2, (1, hidden), dtype),
        b2=jnp.zeros((1, 1), dtype),
    )


@functools.partial(jax.jit, static_argnames=("steps",))
def _train_bce(params: BCEParams, x, y, learning_rate, steps: int):
    def step(p, _):
        g = bce_loss_grad(p, x, y)
        return jax.tree.map(lambda a, d: a - learning_rate * d, p, g), bce_loss(p, x, y)

    final, losses = jax.lax.scan(step, params, length=steps)
    return final, jnp.concatenate([losses, bce_loss(final, x, y)[None]])


def train_bce(
    params: BCEParams, x: ArrayLike, y: ArrayLike, *, steps: int, learning_rate: float
) -> tuple[BCEParams, jax.Array]:
    """Gradient descent on seed 002's network; returns the final weights and losses ``[steps+1]``.

    Raises:
      ValueError: non-binary targets, shapes that do not chain (``x [n_in, m]``, ``y [1, m]``),
        NaN in the data.
      DivergenceError: if the loss becomes non-finite, naming the first step.
    """
    require_positive_int("steps", steps)
    require_positive_float("learning rate", learning_rate)
    x, y = jnp.asarray(x), jnp.asarray(y)
    if x.ndim != 2 or params.w1.shape[1] != x.shape[0]:
        raise ValueError(
            f"shapes do not chain: x has shape {x.shape} (inputs are rows, examples columns) "
            f"but w1 has shape {params.w1.shape} (expected (hidden, {x.shape[0]}))"
        )
    if y.shape != (1, x.shape[1]):
        raise ValueError(f"y has shape {y.shape} but x has {x.shape[1]} examples: need (1, m)")
    for name, value in (("x", x), ("y", y)):
        if not np.isfinite(np.asarray(value)).all():
            raise ValueError(f"{name} contains NaN or infinity; clean the data first")
    check_binary_targets(y)
    final, losses = _train_bce(params, x, y, learning_rate, steps)
    bad = first_non_finite(losses)
    if bad is not None:
        raise DivergenceError("loss", bad)
    return final, losses


# Seed 001's "network from scratch": Trask's net scored by the full sum of squared errors, with
# weights drawn from [0, 1) (np.random.rand). Its gradient is twice Trask's, so training it with
# learning rate 1 is Trask's step with learning rate 2.


def scratch_init_params(*, key: jax.Array, n_in: int = 3, hidden: int = 4, dtype=None) -> Params:
    """Weights uniform in [0, 1), as ``np.random.rand`` in seed 001's class."""
    _require_hidden(hidden)
    dtype = dtype or jnp.result_type(float)
    k0, k1 = jax.random.split(key)
    return Params(
        syn0=jax.random.uniform(k0, (n_in, hidden), dtype),
        syn1=jax.random.uniform(k1, (hidden, 1), dtype),
    )


def scratch_loss(params: Params, batch: TrainingSet) -> jax.Array:
    """Seed 001's cost: the sum of squared errors ``sum((y_hat - y)**2)``."""
    return sse(predict(params, batch.x), batch.y)


def scratch_loss_grad(params: Params, batch: TrainingSet) -> Params:
    """Its gradient: ``2 (y_hat - y)`` starts the chain, so it is twice :func:`loss_grad`."""
    return jax.tree.map(lambda g: 2 * g, loss_grad(params, batch))


def train_from_scratch(
    *, key: jax.Array, steps: int = 1500, batch: TrainingSet | None = None
) -> tuple[Params, jax.Array]:
    """Seed 001's run: 1500 iterations on XOR; returns the weights and the SSE ``[steps + 1]``."""
    batch = dataset("xor") if batch is None else batch
    params = scratch_init_params(key=key, n_in=jnp.shape(batch.x)[-1], dtype=batch.x.dtype)
    result = train(params, batch, steps=steps, learning_rate=2.0)
    return result.params, 2 * result.loss


# ------------------------------------------------------------------ the milestone interface


@dataclasses.dataclass(frozen=True)
class Config:
    """Trask's network as the seeds run it."""

    data: Literal["xor", "litter"] = dataclasses.field(
        default="xor", metadata={"help": "XOR (Trask's net) or seed 003's Litter Rip! survey"}
    )
    steps: int = dataclasses.field(
        default=60000, metadata={"bounds": STEPS, "help": "full-batch updates"}
    )
    hidden: int = dataclasses.field(default=4, metadata={"bounds": WIDTH, "help": "hidden units"})
    seeds: int = dataclasses.field(
        default=0,
        metadata={
            "bounds": (0, 10_000),
            "help": "also train this many networks from random keys (vmap)",
        },
    )
    init: Literal["seed", "key"] = dataclasses.field(
        default="seed",
        metadata={"help": "weights as the seed draws them (NumPy seed 1) or from --key"},
    )
    key: int = dataclasses.field(default=0, metadata={"bounds": SEED, "help": "jax.random seed"})
    learning_rate: float = dataclasses.field(
        default=1.0,
        metadata={"ceiling": LEARNING_RATE_CEILING, "help": "step size", "flag": "--lr"},
    )

    def __post_init__(self):
        check_limits(self)
        if self.data not in ("xor", "litter"):
            raise ValueError(f"data must be 'xor' or 'litter', got {self.data!r}")
        if self.init not in ("seed", "key"):
            raise ValueError(f"init must be 'seed' or 'key', got {self.init!r}")
        require_positive_int("steps", self.steps)
        _require_hidden(self.hidden)
        require_positive_float("learning rate", self.learning_rate)
        require_int("seeds", self.seeds, minimum=0)


def trace_interval(steps: int) -> int:
    """Where the error trace is sampled: every 10000 steps, or every ``steps // 6`` if shorter."""
    return 10000 if steps >= 60000 else max(1, steps // 6)


def _check(name, fn, hand_grad, params) -> GradCheck:
    # jit both sides: one compiled program each instead of hundreds of eagerly dispatched ops
    return check_gradient(name, jax.jit(fn), jax.jit(hand_grad), params)


def gradient_checks(*, key: jax.Array) -> list[GradCheck]:
    """Trask's deltas, seed 001's and seed 002's nets vs autodiff (the general MLP's backprop,
    :mod:`jaxdl.nn.dense_stack`, is an op module: ``jaxdl check`` runs its checks)."""
    k_params, k_bce = jax.random.split(key)
    batch = dataset("xor")
    params = init_params(key=k_params, hidden=4, dtype=batch.x.dtype)
    bce = init_bce_params(key=k_bce, n_in=2, hidden=4, dtype=batch.x.dtype)
    xb, yb = batch.x[:, :2].T, batch.y.T
    return [
        check_gradient(
            "backprop: Trask's deltas",
            lambda p: loss(p, batch),
            lambda p: loss_grad(p, batch),
            params,
        ),
        check_gradient(
            "backprop: seed 001 from scratch (SSE)",
            lambda p: scratch_loss(p, batch),
            lambda p: scratch_loss_grad(p, batch),
            params,
        ),
        _check(
            "backprop: seed 002 cross-entropy net",
            lambda p: bce_loss(p, xb, yb),
            lambda p: bce_loss_grad(p, xb, yb),
            bce,
        ),
    ]


def run(config: Config = Config()) -> Report:
    """Train the network; the result holds its outputs, the error trace and, with seeds, the rate."""
    batch = dataset(config.data)
    if config.init == "seed":
        params0 = seed_init_params(n_in=3, hidden=config.hidden)
    else:
        params0 = init_params(key=jax.random.key(config.key), hidden=config.hidden)
    error: ErrorConvention = "y - l2" if config.data == "litter" else "l2 - y"
    result = train(
        params0, batch, steps=config.steps, learning_rate=config.learning_rate, error=error
    )
    outputs = predict(result.params, batch.x)[:, 0]
    every = trace_interval(config.steps)
    trace = result.mean_abs_error[::every]
    body = {
        "outputs": outputs,
        "targets": batch.y[:, 0],
        "error_trace": trace,
        "error_trace_steps": np.arange(0, config.steps, every),
        "final_loss": result.loss[-1],
    }
    headline = "outputs " + ", ".join(f"{o:.4f}" for o in np.asarray(outputs))
    if config.seeds:
        rate = _success_rate(config, batch)
        body["success_rate"] = rate
        headline += f"; {rate:.1%} of {config.seeds} random starts solve it"
    checks = [
        check_gradient(
            f"Trask's deltas at the {when} weights",
            lambda p: loss(p, batch),
            lambda p: loss_grad(p, batch),
            p,
        )
        for when, p in (("initial", params0), ("trained", result.params))
    ]
    grid, surface = _output_surface(result.params, batch.x.dtype)
    return Report(
        milestone="backprop",
        config=config,
        result=body,
        checks=checks,
        headline=headline,
        plot_data={
            "loss": np.asarray(result.loss),
            "grid": grid,
            "surface": surface,
            "x": np.asarray(batch.x),
            "y": np.asarray(batch.y),
        },
    )


def _success_rate(config: Config, batch) -> float:
    """The share of ``config.seeds`` random starts that solve the task."""
    many = train_many(
        batch,
        key=jax.random.key(config.key + 1),
        count=config.seeds,
        hidden=config.hidden,
        steps=config.steps,
        learning_rate=config.learning_rate,
    )
    return float(jnp.mean(solved(many, batch.y)))


def _output_surface(params, dtype) -> tuple[np.ndarray, np.ndarray]:
    """``(grid, surface)``: the trained output over the unit square of the first two inputs
    (the third, the bias input, held at 1), on a 41 x 41 grid."""
    grid = np.linspace(0.0, 1.0, 41)
    g1, g2 = np.meshgrid(grid, grid)
    points = np.stack([g1.ravel(), g2.ravel(), np.ones(g1.size)], axis=1)
    surface = np.asarray(predict(params, jnp.asarray(points, dtype)))
    return grid, surface.reshape(g1.shape)


def plot(report: Report):
    """Left: the loss curve (log-log, so the sudden drop is visible). Right: the learned output."""
    from jaxdl.plotting import COLUMN_WIDTH, new_figure

    data = report.plot_data
    fig, (ax_loss, ax_surface) = new_figure(ncols=2, size=(COLUMN_WIDTH, 3.3))
    loss_curve = data["loss"]
    # Log steps: the plateau and the fall happen in the first few hundred of 60000 steps.
    ax_loss.loglog(np.arange(1, len(loss_curve) + 1), loss_curve, color="tab:blue")
    ax_loss.set(xlabel="step (log scale)", ylabel="half sum of squared errors", title="loss")
    image = ax_surface.contourf(
        data["grid"], data["grid"], data["surface"], levels=np.linspace(0, 1, 11), cmap="RdBu_r"
    )
    ax_surface.contour(data["grid"], data["grid"], data["surface"], levels=[0.5], colors="k")
    x, y = data["x"], data["y"][:, 0]
    ax_surface.scatter(x[:, 0], x[:, 1], c=y, cmap="RdBu_r", vmin=0, vmax=1, edgecolors="k", s=80)
    label = "XOR" if report.config.data == "xor" else "Litter Rip!"
    ax_surface.set(xlabel="input 1", ylabel="input 2", title=f"learned output, {label}")
    fig.colorbar(image, ax=ax_surface, label="l2")
    return fig
