"""LeCun et al. (1989): backpropagation applied to handwritten zip-code recognition.

The first real-world network trained by backpropagation read the digits of zip codes that the
U.S. Postal Service had scanned in Buffalo: 7291 training and 2007 test digits, each normalised
to 16x16 grey levels in [-1, 1]. Its architecture is the ancestor of every convolutional net:

- **H1**: 12 feature maps of 8x8 units; each unit sees a 5x5 window of the input (padded with
  -1, the background), the windows 2 pixels apart; the 25 weights are shared by the 64 units of
  a map, but every unit has its own bias: 300 weights + 768 biases = 1068 parameters
  (:mod:`jaxdl.nn.shared_conv`).
- **H2**: 12 maps of 4x4, 5x5 windows at stride 2 over H1 (padded with -1), each map reading
  8 of H1's 12 maps through a connection table (:mod:`jaxdl.nn.table_conv`): 2400 weights +
  192 biases = 2592. The paper does not say which 8; we use lecun1989-repro's block table
  (:data:`H2_TABLE`): maps 0-3 read H1 maps 0-7, maps 4-7 read 4-11, maps 8-11 read 0-3 and 8-11.
- **H3**: 30 units fully connected to H2 (5790); **output**: 10 units (310). Every unit is a
  tanh; the targets are +1 for the right class and -1 for the others; the loss is the mean
  squared error. 9760 parameters in all (:data:`PARAMETERS_PER_LAYER`).

It was trained on line, one digit at a time in a fixed order, for 23 passes, and not by plain
gradient descent: by "a special version of Newton's algorithm that uses a positive, diagonal
approximation of the Hessian" (Becker & LeCun 1988), the stochastic diagonal
Levenberg-Marquardt method. Each weight gets its own step ``eps / (mu + h_kk)``, where ``h_kk``
is a running estimate of the diagonal of the Gauss-Newton matrix, computed by a second backward
pass that is the gradient's backward pass with every quantity squared
(:func:`curvature`): squared weights, squared inputs, squared slopes, and the loss's second
derivative ``2 / 10`` at the top. Where a weight reaches the outputs along one path only (the
output and H3 layers), that estimate is the exact Gauss-Newton diagonal; below, it drops the
cross terms between paths (:func:`gauss_newton_diagonal` measures by how much).

The zip-code set is not public. The stand-in is MNIST, as the package ships it: the first 7291
digits of the training sample and the 2000 test digits, each 28x28 image shrunk to 16x16 by
area averaging (:func:`shrink`) and scaled to [-1, 1] (ink +1, background -1). Any IDX set can
replace it (``data=DIR``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxdl.data.digits import Digits, load_digits
from jaxdl.errors import DivergenceError, first_non_finite
from jaxdl.gradcheck import GradCheck, check_gradient
from jaxdl.losses import mse, mse_grad
from jaxdl.milestones import Milestone
from jaxdl.nn.affine import dense, dense_backward
from jaxdl.nn.shared_conv import shared_conv, shared_conv_backward, shared_conv_hand
from jaxdl.nn.table_conv import table_conv, table_conv_backward, table_conv_hand
from jaxdl.report import Report
from jaxdl.validate import (
    LEARNING_RATE_CEILING,
    SEED,
    check_limits,
    require_int,
    require_positive_float,
)

MILESTONE = Milestone(
    "zip-code",
    1989,
    "LeCun et al.; Becker & LeCun 1988",
    "a shared-weight net reads zip codes, trained by diagonal Newton",
)

# --------------------------------------------------------------------------------------------
# The paper's numbers and the 2022 reproduction's
# --------------------------------------------------------------------------------------------

#: LeCun et al. 1989 after 23 passes: 10 training and 102 test digits wrong.
PAPER = {
    "train_error": 0.0014,
    "test_error": 0.0500,
    "train_mse": 2.5e-3,
    "test_mse": 1.8e-2,
}
#: Karpathy's lecun1989-repro (2022), plain SGD, 23 passes, MNIST shrunk to 16x16.
REPRO_2022 = {
    "train_error": 0.0062,
    "test_error": 0.0409,
    "train_mse": 4.07e-3,
    "test_mse": 2.84e-2,
}
PAPER_PASSES = 23
PAPER_TRAIN, PAPER_TEST = 7291, 2007

#: H2's connection table: the 8 H1 maps each H2 map reads (lecun1989-repro's block scheme).
H2_TABLE: tuple[tuple[int, ...], ...] = (
    (tuple(range(0, 8)),) * 4 + (tuple(range(4, 12)),) * 4 + ((0, 1, 2, 3, 8, 9, 10, 11),) * 4
)
PAD_VALUE = -1.0  # the background level: H1 and H2 see -1 beyond the image's edge
STRIDE, PAD = 2, 2
#: The paper's count for each layer (weights + biases).
PARAMETERS_PER_LAYER = {"h1": 1068, "h2": 2592, "h3": 5790, "out": 310}
PARAMETERS = sum(PARAMETERS_PER_LAYER.values())  # 9760

Init = Literal["F", "sqrt"]
Method = Literal["sgd", "newton"]
METHODS: tuple[Method, ...] = ("sgd", "newton")


class Params(NamedTuple):
    """The 9760 parameters (layout ``HWIO`` kernels, per-unit biases)."""

    h1_w: jax.Array  # [5, 5, 1, 12]  shared by the 64 units of each map
    h1_b: jax.Array  # [8, 8, 12]  one bias per unit
    h2_w: jax.Array  # [5, 5, 8, 12]  8 connected H1 maps per H2 map (H2_TABLE)
    h2_b: jax.Array  # [4, 4, 12]
    h3_w: jax.Array  # [192, 30]
    h3_b: jax.Array  # [30]
    out_w: jax.Array  # [30, 10]
    out_b: jax.Array  # [10]


def layer_sizes(params: Params) -> dict[str, int]:
    """Parameters per layer, ``{"h1": 1068, "h2": 2592, "h3": 5790, "out": 310}``."""
    p = params
    sizes = ((p.h1_w, p.h1_b), (p.h2_w, p.h2_b), (p.h3_w, p.h3_b), (p.out_w, p.out_b))
    return {
        name: int(np.size(w) + np.size(b))
        for name, (w, b) in zip(PARAMETERS_PER_LAYER, sizes, strict=True)
    }


def init_params(*, key: jax.Array, init: Init = "sqrt", dtype=None) -> Params:
    """Weights uniform in ``+-2.4 / F`` (``init="F"``) or ``+-2.4 / sqrt(F)`` (``"sqrt"``).

    ``F`` is the fan-in of the unit the weight leads to (25, 200, 192, 30). The paper prints
    "2.4/F_i"; read literally, the weights of H2 and H3 start near 0.01 and the signal shrinks
    about tenfold at each layer, so plain SGD hardly moves the lower layers for the first
    passes. ``sqrt(F)`` keeps each unit's summed input near unit scale (the rule LeCun et al.
    1998 recommend), and it is what lecun1989-repro uses; it is our default, and the chapter's
    exercise runs the other. Biases start at 0.
    """
    dtype = dtype or jnp.result_type(float)
    shapes = {
        "h1_w": ((5, 5, 1, 12), 25),
        "h2_w": ((5, 5, 8, 12), 200),
        "h3_w": ((192, 30), 192),
        "out_w": ((30, 10), 30),
    }
    if init not in ("F", "sqrt"):
        raise ValueError(f"init must be 'F' or 'sqrt', got {init!r}")
    keys = dict(zip(shapes, jax.random.split(key, len(shapes)), strict=True))
    weights = {}
    for name, (shape, fan_in) in shapes.items():
        bound = 2.4 / (fan_in if init == "F" else math.sqrt(fan_in))
        weights[name] = jax.random.uniform(keys[name], shape, dtype, -bound, bound)
    zeros = functools.partial(jnp.zeros, dtype=dtype)
    return Params(
        h1_b=zeros((8, 8, 12)), h2_b=zeros((4, 4, 12)), h3_b=zeros(30), out_b=zeros(10), **weights
    )


# --------------------------------------------------------------------------------------------
# The network, forward and backward by hand
# --------------------------------------------------------------------------------------------


class Activations(NamedTuple):
    """Every layer's input and output on the way up (what both backward passes need)."""

    x: jax.Array  # [B, 16, 16, 1]
    h1: jax.Array  # [B, 8, 8, 12]
    h2: jax.Array  # [B, 4, 4, 12]
    h3: jax.Array  # [B, 30]
    out: jax.Array  # [B, 10]


_CONV = dict(stride=STRIDE, pad=PAD, pad_value=PAD_VALUE)


def forward(params: Params, x: ArrayLike, *, hand: bool = False) -> Activations:
    """Feed ``x [B, 16, 16, 1]`` up through H1, H2, H3 and the output (tanh units).

    ``hand=True`` uses the convolutions whose ``custom_vjp`` rules are the hand gradients.
    """
    x = jnp.asarray(x)
    conv = shared_conv_hand if hand else shared_conv
    tconv = table_conv_hand if hand else table_conv
    h1 = jnp.tanh(conv(x, params.h1_w, params.h1_b, **_CONV))
    h2 = jnp.tanh(tconv(h1, params.h2_w, params.h2_b, H2_TABLE, **_CONV))
    h3 = jnp.tanh(dense(h2.reshape(h2.shape[0], -1), params.h3_w, params.h3_b))
    out = jnp.tanh(dense(h3, params.out_w, params.out_b))
    return Activations(x, h1, h2, h3, out)


def predict(params: Params, x: ArrayLike) -> jax.Array:
    """The 10 outputs ``[B, 10]`` in (-1, 1); the answer is the largest."""
    return forward(params, x).out


def loss(params: Params, x: ArrayLike, targets: ArrayLike) -> jax.Array:
    """Mean squared error over the batch and the 10 outputs (the paper's MSE)."""
    return mse(predict(params, x), targets)


def _backward(params: Params, acts: Activations, slopes: Activations, top: jax.Array, pad):
    """The backward pass, layer by layer: ``g`` at each layer's outputs times the slope gives
    the gradient at its summed inputs, which each layer's ``*_grad`` turns into the gradient of
    its parameters and of its inputs. Called with squared arguments it is :func:`curvature`."""
    conv = dict(stride=STRIDE, pad=PAD, pad_value=pad)
    g = top * slopes.out
    d_h3, d_out_w, d_out_b = dense_backward(acts.h3, params.out_w, g)
    g = d_h3 * slopes.h3
    flat = acts.h2.reshape(acts.h2.shape[0], -1)
    d_flat, d_h3_w, d_h3_b = dense_backward(flat, params.h3_w, g)
    g = d_flat.reshape(acts.h2.shape) * slopes.h2
    d_h1, d_h2_w, d_h2_b = table_conv_backward(acts.h1, params.h2_w, g, H2_TABLE, **conv)
    g = d_h1 * slopes.h1
    _, d_h1_w, d_h1_b = shared_conv_backward(acts.x, params.h1_w, g, **conv)
    return Params(d_h1_w, d_h1_b, d_h2_w, d_h2_b, d_h3_w, d_h3_b, d_out_w, d_out_b)


def _slopes(acts: Activations) -> Activations:
    """tanh's slope at every unit, from its output: ``1 - y**2`` (the input slot unused)."""
    return Activations(acts.x, *(1.0 - a**2 for a in acts[1:]))


def loss_grad(params: Params, x: ArrayLike, targets: ArrayLike) -> Params:
    """Gradient of :func:`loss` by backpropagation (the hand formulas of every layer).

    At the top ``dE/dy = 2 (y - t) / (10 B)`` (:func:`jaxdl.losses.mse_grad`); through a tanh
    unit multiply by its slope ``1 - y**2``; through a layer, that layer's ``*_grad``.
    """
    acts = forward(params, x)
    return _backward(params, acts, _slopes(acts), mse_grad(acts.out, targets), PAD_VALUE)


def curvature(params: Params, x: ArrayLike) -> Params:
    """The backpropagated diagonal Gauss-Newton estimate of :func:`loss`, per parameter.

    Becker & LeCun's recursion, with ``a`` a unit's summed input and ``y = f(a)`` its output:

    - at the outputs, ``d2E/dy2 = 2 / (10 B)`` (the MSE's second derivative; exact);
    - through a unit, ``d2E/da2 = f'(a)**2 d2E/dy2`` (the ``f''`` term dropped: Gauss-Newton);
    - down a layer, ``d2E/dy_j2 = sum_i w_ij**2 d2E/da_i2`` (the cross terms
      ``w_ij w_kj d2E/da_i da_k`` dropped);
    - for a weight, ``d2E/dw_ij2 = sum (x_j**2 d2E/da_i2)`` over the connections that share it,
      and for a bias the sum of ``d2E/da_i2`` (cross terms between shared copies dropped).

    Each line is the gradient's backward step with the quantities squared, so this is
    :func:`loss_grad`'s backward pass called with ``w**2``, ``x**2``, ``(1 - y**2)**2`` and the
    padding level squared. Every entry is >= 0.
    """
    acts = forward(params, x)
    squared = jax.tree.map(jnp.square, params)
    acts2 = jax.tree.map(jnp.square, acts)
    slopes2 = jax.tree.map(jnp.square, _slopes(acts))
    top = jnp.full_like(acts.out, 2.0 / acts.out.size)
    return _backward(squared, acts2, slopes2, top, PAD_VALUE**2)


def gauss_newton_diagonal(params: Params, x: ArrayLike) -> Params:
    """The exact diagonal of the Gauss-Newton matrix of :func:`loss`, by autodiff.

    ``G = Jᵀ (d2E/dy2) J`` with ``J`` the Jacobian of the outputs ``[B, 10]`` in the parameters
    and ``d2E/dy2 = 2 / (10 B)``: ``G_kk = 2 / (10 B) sum_{n, o} J[n, o, k]**2``.
    """
    x = jnp.asarray(x)
    jac = jax.jacrev(lambda p: predict(p, x))(params)
    scale = 2.0 / (x.shape[0] * 10)
    return jax.tree.map(lambda j: scale * jnp.sum(j**2, axis=(0, 1)), jac)


def error_rate(outputs: ArrayLike, labels: ArrayLike) -> jax.Array:
    """Fraction of digits whose largest output is not their label."""
    outputs = jnp.asarray(outputs)
    return jnp.mean((jnp.argmax(outputs, axis=-1) != jnp.asarray(labels)).astype(outputs.dtype))


# --------------------------------------------------------------------------------------------
# Training: one digit at a time, all passes in one jit
# --------------------------------------------------------------------------------------------


class Hyper(NamedTuple):
    """Step sizes (traced: changing them does not recompile)."""

    learning_rate: jax.Array  # SGD: w -= learning_rate * g
    epsilon: jax.Array  # Newton: w -= epsilon / (mu + h) * g
    mu: jax.Array  # Levenberg-Marquardt damping
    gamma: jax.Array  # h <- (1 - gamma) h + gamma h_new


class Curves(NamedTuple):
    """Measured on both sets before training and after each pass."""

    train_error: jax.Array  # [passes + 1]
    test_error: jax.Array  # [passes + 1]
    train_mse: jax.Array  # [passes + 1]
    test_mse: jax.Array  # [passes + 1]


class TrainResult(NamedTuple):
    """What :func:`train` returns."""

    params: Params  # after the last pass
    curves: Curves
    curvature: Params  # the running h_kk at the end (zeros for SGD)


EVAL_CHUNK = 128  # digits per forward pass when measuring a whole set (fits the CPU's cache)


def _predict_in_chunks(params: Params, images: jax.Array) -> jax.Array:
    """:func:`predict` on a whole set, :data:`EVAL_CHUNK` digits at a time (the same outputs:
    each digit's forward pass does not depend on the others)."""
    n = images.shape[0]
    chunks = -(-n // EVAL_CHUNK)
    padded = jnp.pad(images, ((0, chunks * EVAL_CHUNK - n),) + ((0, 0),) * (images.ndim - 1))
    padded = padded.reshape(chunks, EVAL_CHUNK, *images.shape[1:])
    outputs = jax.lax.map(functools.partial(predict, params), padded)
    return outputs.reshape(chunks * EVAL_CHUNK, -1)[:n]


def _evaluate(params: Params, train: Digits, test: Digits) -> tuple[jax.Array, ...]:
    out_train = _predict_in_chunks(params, train.images)
    out_test = _predict_in_chunks(params, test.images)
    return (
        error_rate(out_train, train.labels),
        error_rate(out_test, test.labels),
        mse(out_train, train.targets),
        mse(out_test, test.targets),
    )


def sgd_step(params: Params, x: jax.Array, t: jax.Array, hyper: Hyper) -> Params:
    """One plain stochastic gradient step on one digit ``x [1, 16, 16, 1]``."""
    g = loss_grad(params, x, t)
    return jax.tree.map(lambda p, d: p - hyper.learning_rate * d, params, g)


def newton_step(
    params: Params, h: Params, x: jax.Array, t: jax.Array, hyper: Hyper
) -> tuple[Params, Params]:
    """One step of the stochastic diagonal Levenberg-Marquardt method on one digit.

    ``h <- (1 - gamma) h + gamma h_new`` (:func:`curvature` of this digit), then each parameter
    moves by ``-epsilon / (mu + h_kk) * g_k``: the Newton step for a diagonal Hessian, damped by
    ``mu`` where the curvature is small.
    """
    acts = forward(params, x)
    slopes = _slopes(acts)
    g = _backward(params, acts, slopes, mse_grad(acts.out, t), PAD_VALUE)
    h_new = _backward(
        jax.tree.map(jnp.square, params),
        jax.tree.map(jnp.square, acts),
        jax.tree.map(jnp.square, slopes),
        jnp.full_like(acts.out, 2.0 / acts.out.size),
        PAD_VALUE**2,
    )
    h = jax.tree.map(lambda a, b: (1 - hyper.gamma) * a + hyper.gamma * b, h, h_new)
    params = jax.tree.map(lambda p, d, c: p - hyper.epsilon / (hyper.mu + c) * d, params, g, h)
    return params, h


@functools.partial(jax.jit, static_argnames=("method",))
def _one_pass(params, h, train: Digits, hyper: Hyper, method: Method):
    """One pass over ``train``, one digit at a time in order: ``(params, h)`` after it."""

    def example(carry, xt):
        params, h = carry
        x, t = xt
        if method == "sgd":
            return (sgd_step(params, x[None], t[None], hyper), h), None
        return newton_step(params, h, x[None], t[None], hyper), None

    (params, h), _ = jax.lax.scan(example, (params, h), (train.images, train.targets))
    return params, h


def _measuring_device() -> jax.Device:
    """Where the passes' measurements run: the last device, a core of its own when the CPU is
    presented as one device per core (:mod:`jaxdl.host_devices`), so a pass's measurement runs
    while the next pass trains; with one device, the same device, in turn."""
    return jax.local_devices()[-1]


def train(
    params: Params,
    train_digits: Digits,
    test_digits: Digits,
    *,
    method: Method,
    passes: int,
    learning_rate: float = 0.03,
    epsilon: float = 0.0,
    mu: float = 0.0,
    gamma: float = 0.0,
) -> TrainResult:
    """Train on line, one digit at a time in the order given, for ``passes`` passes.

    Each pass is one compiled program (a :func:`jax.lax.scan` over the digits), dispatched
    without waiting; the errors and MSEs on both sets are measured before training and after
    each pass, on a device of their own where there are several (:func:`_measuring_device`),
    so the measurement of one pass runs beside the training of the next.

    Raises:
      ValueError: unknown method, non-positive passes or step sizes.
      DivergenceError: if a measured MSE is not finite (with its pass).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    require_int("passes", passes, minimum=1, maximum=10_000)
    if method == "sgd":
        require_positive_float("learning rate", learning_rate)
    else:
        require_positive_float("epsilon", epsilon)
        require_positive_float("mu", mu)
        if not 0.0 < gamma <= 1.0:
            raise ValueError(f"gamma must be in (0, 1], got {gamma!r}")
    dtype = train_digits.images.dtype
    hyper = Hyper(*(jnp.asarray(v, dtype) for v in (learning_rate, epsilon, mu, gamma)))
    h = jax.tree.map(jnp.zeros_like, params)
    measuring = _measuring_device()
    sets = jax.device_put((train_digits, test_digits), measuring)
    measured = [_evaluate_jit(jax.device_put(params, measuring), *sets)]
    for _ in range(passes):  # dispatched ahead: the host waits only at the end
        params, h = _one_pass(params, h, train_digits, hyper, method)
        measured.append(_evaluate_jit(jax.device_put(params, measuring), *sets))
    curves = Curves(*(jnp.stack(column) for column in zip(*measured, strict=True)))
    bad = first_non_finite(curves.train_mse)
    if bad is not None:
        raise DivergenceError("train MSE", bad)
    return TrainResult(params, curves, h)


_evaluate_jit = jax.jit(_evaluate)


def misclassified(params: Params, data: Digits) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the digits the network gets wrong, and its answers for them."""
    answers = np.asarray(jnp.argmax(_predict_jit(params, data.images), axis=-1))
    wrong = np.flatnonzero(answers != np.asarray(data.labels))
    return wrong, answers[wrong]


_predict_jit = jax.jit(predict)


def passes_to(curve: ArrayLike, level: float) -> int | None:
    """The first pass after which ``curve`` (measured before training and after each pass) is at
    or below ``level``, or ``None``."""
    reached = np.flatnonzero(np.asarray(curve)[1:] <= level)
    return int(reached[0]) + 1 if reached.size else None


# --------------------------------------------------------------------------------------------
# How far the backpropagated diagonal is from the exact Gauss-Newton diagonal
# --------------------------------------------------------------------------------------------


def curvature_accuracy(params: Params, x: ArrayLike) -> dict[str, dict[str, float]]:
    """Per layer, the backpropagated diagonal ``c`` against the exact ``G`` (both per digit, then
    over the digits of ``x``): the median of ``c / G`` and ``max |c - G| / max G``.

    Exact (ratio 1, error at rounding level) for H3 and the output; H1 and H2 show what the
    dropped cross terms cost.
    """
    c_all, g_all = _per_digit_curvatures(params, jnp.asarray(x))
    out = {}
    for layer, w, b in (("h1", 0, 1), ("h2", 2, 3), ("h3", 4, 5), ("out", 6, 7)):
        c = np.concatenate([np.asarray(c_all[i]).reshape(len(x), -1) for i in (w, b)], axis=1)
        g = np.concatenate([np.asarray(g_all[i]).reshape(len(x), -1) for i in (w, b)], axis=1)
        keep = g > 1e-12 * g.max()
        out[layer] = {
            "median_ratio": float(np.median(c[keep] / g[keep])),
            "max_relative_error": float(np.max(np.abs(c - g).max(axis=1) / g.max(axis=1))),
        }
    return out


@jax.jit
def _per_digit_curvatures(params: Params, x: jax.Array) -> tuple[Params, Params]:
    """:func:`curvature` and :func:`gauss_newton_diagonal` of each digit of ``x`` (one program)."""
    c = jax.vmap(lambda v: curvature(params, v[None]))(x)
    g = jax.vmap(lambda v: gauss_newton_diagonal(params, v[None]))(x)
    return c, g


_curvature_jit = jax.jit(curvature)
_gauss_newton_jit = jax.jit(gauss_newton_diagonal)


# --------------------------------------------------------------------------------------------
# The chapter's interface
# --------------------------------------------------------------------------------------------

#: Our step sizes for the diagonal Newton method (the paper gives none; see the chapter).
NEWTON_EPSILON, NEWTON_MU, NEWTON_GAMMA = 1e-4, 2e-3, 0.01


@dataclasses.dataclass(frozen=True)
class Config:
    """The zip-code network on the MNIST stand-in, trained both ways."""

    passes: int = dataclasses.field(
        default=2, metadata={"help": "passes through the training digits (the paper: 23)"}
    )
    paper: bool = dataclasses.field(
        default=False,
        metadata={"help": "the paper's run: 23 passes (overrides --passes)"},
    )
    method: Literal["both", "sgd", "newton"] = dataclasses.field(
        default="both",
        metadata={"help": "plain SGD, the paper's diagonal Newton method, or both"},
    )
    init: Init = dataclasses.field(
        default="sqrt", metadata={"help": "weights uniform in +-2.4/sqrt(F) or +-2.4/F"}
    )
    learning_rate: float = dataclasses.field(
        default=0.03,
        metadata={"ceiling": LEARNING_RATE_CEILING, "help": "SGD step size", "flag": "--lr"},
    )
    epsilon: float = dataclasses.field(
        default=NEWTON_EPSILON,
        metadata={
            "help": "Newton: global step, eps / (mu + h_kk)",
            "ceiling": (1.0, "10000 times the paper's 1e-4: Newton's step leaves its useful range"),
        },
    )
    mu: float = dataclasses.field(default=NEWTON_MU, metadata={"help": "Newton: damping mu"})
    gamma: float = dataclasses.field(
        default=NEWTON_GAMMA, metadata={"help": "Newton: h_kk running-average rate in (0, 1]"}
    )
    data: str = dataclasses.field(
        default="sample", metadata={"help": "sample, download, or a directory of IDX files"}
    )
    train_size: int = dataclasses.field(
        default=PAPER_TRAIN, metadata={"help": "training digits, the first of the source"}
    )
    test_size: int = dataclasses.field(
        default=PAPER_TEST, metadata={"help": "test digits, the first of the source"}
    )
    seed: int = dataclasses.field(
        default=0, metadata={"bounds": SEED, "help": "seed of the initial weights"}
    )

    def __post_init__(self):
        check_limits(self)
        require_int("passes", self.passes, minimum=1, maximum=10_000)
        require_int("train size", self.train_size, minimum=1, maximum=1_000_000)
        require_int("test size", self.test_size, minimum=1, maximum=1_000_000)
        for name in ("learning_rate", "epsilon", "mu"):
            require_positive_float(name.replace("_", " "), getattr(self, name))
        if not (isinstance(self.gamma, float | int) and 0.0 < self.gamma <= 1.0):
            raise ValueError(f"gamma must be in (0, 1], got {self.gamma!r}")
        if self.method not in ("both", *METHODS):
            raise ValueError(f"method must be 'both', 'sgd' or 'newton', got {self.method!r}")
        if self.init not in ("F", "sqrt"):
            raise ValueError(f"init must be 'F' or 'sqrt', got {self.init!r}")

    @property
    def total_passes(self) -> int:
        """23 with ``paper``, else ``passes``."""
        return PAPER_PASSES if self.paper else self.passes


def _row(curves: Curves, train_n: int, test_n: int) -> dict[str, float | int]:
    last = {name: float(np.asarray(v)[-1]) for name, v in curves._asdict().items()}
    return {
        **last,
        "train_misses": round(last["train_error"] * train_n),
        "test_misses": round(last["test_error"] * test_n),
    }


def table_rows(result: dict) -> list[tuple[str, dict]]:
    """The comparison table of a :func:`run` result: ``[(who, row), ...]``."""
    return [(who, row) for who, row in result["table"].items()]


def format_table(result: dict) -> str:
    """The table as Markdown: paper, lecun1989-repro, and each jaxdl method."""
    lines = ["| | train error | test error | train MSE | test MSE |", "|---|---|---|---|---|"]
    for who, row in table_rows(result):
        lines.append(
            f"| {who} | {100 * row['train_error']:.2f}% | {100 * row['test_error']:.2f}% "
            f"| {row['train_mse']:.2e} | {row['test_mse']:.2e} |"
        )
    return "\n".join(lines)


LABELS = {"sgd": "jaxdl, SGD", "newton": "jaxdl, diagonal Newton"}


def _train_method(config: Config, method: str, params0, train_digits, test_digits):
    """:func:`train` with ``method`` and the configuration's passes and step sizes."""
    return train(
        params0,
        train_digits,
        test_digits,
        method=method,
        passes=config.total_passes,
        learning_rate=config.learning_rate,
        epsilon=config.epsilon,
        mu=config.mu,
        gamma=config.gamma,
    )


def run(config: Config = Config()) -> Report:
    """Train the 1989 network with plain SGD and with the paper's diagonal Newton method, from
    the same initial weights, on the same digits in the same order; print the paper's numbers
    and lecun1989-repro's beside ours."""
    train_digits, test_digits = load_digits(
        config.data, train_size=config.train_size, test_size=config.test_size
    )
    params0 = init_params(key=jax.random.key(config.seed), init=config.init)
    methods = METHODS if config.method == "both" else (config.method,)
    passes = config.total_passes
    n_train, n_test = len(train_digits.labels), len(test_digits.labels)
    table = {"paper (1989)": PAPER, "lecun1989-repro, SGD (2022)": REPRO_2022}
    curves = {}
    for method in methods:
        res = _train_method(config, method, params0, train_digits, test_digits)
        curves[method] = {k: np.asarray(v) for k, v in res.curves._asdict().items()}
        table[LABELS[method]] = _row(res.curves, n_train, n_test)
    final = res.params  # of the last method
    wrong, answers = misclassified(final, test_digits)
    accuracy = curvature_accuracy(final, train_digits.images[:4])
    checks = [_curvature_check(final, train_digits.images[:1], name="at the trained weights")]
    result = {
        "data": (
            f"{n_train} training and {n_test} test digits from {config.data!r} (MNIST stand-in), "
            "28x28 shrunk to 16x16 by area averaging, scaled to [-1, 1]"
        ),
        "train_digits": n_train,
        "test_digits": n_test,
        "passes": passes,
        "parameters": PARAMETERS,
        "table": table,
        "passes_to_paper_test_error": {
            m: passes_to(curves[m]["test_error"], PAPER["test_error"]) for m in methods
        },
        "curvature_vs_gauss_newton": accuracy,
        "curves": curves,
        "h1_kernels": np.asarray(final.h1_w[:, :, 0, :]),  # [5, 5, 12], of the last method
        "misclassified_test_digits": {
            "index": wrong,
            "label": np.asarray(test_digits.labels)[wrong],
            "answer": answers,
        },
    }
    summary = ", ".join(
        f"{'SGD' if m == 'sgd' else 'Newton'} {100 * table[LABELS[m]]['test_error']:.2f}%"
        for m in methods
    )
    return Report(
        milestone="zip-code",
        config=config,
        result=result,
        checks=checks,
        headline=f"test error after {passes} passes: {summary} (paper 5.00% after 23)",
        plot_data={"test_images": np.asarray(test_digits.images)[..., 0]},
    )


# --------------------------------------------------------------------------------------------
# Gradient checks for `jaxdl check`
# --------------------------------------------------------------------------------------------

_EXACT_LAYERS = ("h3_w", "h3_b", "out_w", "out_b")


def _curvature_check(params: Params, x: jax.Array, *, name: str) -> GradCheck:
    """The backpropagated curvature of H3 and the output equals the exact Gauss-Newton
    diagonal: checked as the gradient of ``sum_k c_k G_kk`` in ``c`` (a linear form whose
    gradient is the diagonal autodiff computes) against the hand recursion."""
    exact = {k: v for k, v in _gauss_newton_jit(params, x)._asdict().items() if k in _EXACT_LAYERS}
    hand = {k: v for k, v in _curvature_jit(params, x)._asdict().items() if k in _EXACT_LAYERS}
    ones = jax.tree.map(jnp.ones_like, exact)

    def form(c):
        return sum(jnp.sum(c[k] * exact[k]) for k in _EXACT_LAYERS)

    return check_gradient(
        f"zip-code: backpropagated curvature = Gauss-Newton diagonal, H3 and output ({name})",
        form,
        lambda c: hand,
        ones,
    )


def gradient_checks(*, key: jax.Array) -> list[GradCheck]:
    """The whole network's hand math, in float64 at random weights and inputs (the two new ops,
    :mod:`jaxdl.nn.shared_conv` and :mod:`jaxdl.nn.table_conv`, are checked from their modules,
    in :data:`jaxdl.nn.OP_MODULES`):

    - the whole network's backpropagation (:func:`loss_grad`), and ``jax.grad`` through the
      network built from the ``custom_vjp`` ops, against ``jax.grad`` of the pure forward;
    - the second-order rule: :func:`curvature` equals the exact Gauss-Newton diagonal
      (:func:`gauss_newton_diagonal`) on the layers where no cross terms exist (H3, output).
    """
    k_params, k_x, k_t = jax.random.split(key, 3)
    checks = []
    dtype = jnp.result_type(float)
    params = init_params(key=k_params, dtype=dtype)
    params = params._replace(
        **{k: v + 0.1 for k, v in params._asdict().items() if k.endswith("_b")}
    )  # nonzero biases: every path matters
    x = jax.random.uniform(k_x, (2, 16, 16, 1), dtype, -1.0, 1.0)
    t = jnp.where(jax.random.uniform(k_t, (2, 10)) < 0.1, 1.0, -1.0).astype(dtype)
    checks.append(
        check_gradient(
            "zip-code: loss_grad (backpropagation through the whole network)",
            lambda p: loss(p, x, t),
            lambda p: loss_grad(p, x, t),
            params,
        )
    )
    checks.append(
        check_gradient(
            "zip-code: jax.grad through the custom_vjp ops",
            lambda p: loss(p, x, t),
            jax.grad(lambda p: mse(forward(p, x, hand=True).out, t)),
            params,
        )
    )
    checks.append(_curvature_check(params, x[:1], name="random weights"))
    return checks


# --------------------------------------------------------------------------------------------
# The figure
# --------------------------------------------------------------------------------------------


def report_from_json(obj: dict) -> Report:
    """A :class:`~jaxdl.report.Report` back from ``jaxdl run zip-code --json`` output (enough for
    :func:`plot`; the checks are not restored)."""
    config = Config(**obj["config"])
    result = dict(obj["result"])
    result["curves"] = {
        m: {k: np.asarray(v) for k, v in c.items()} for m, c in result["curves"].items()
    }
    return Report(milestone=obj["milestone"], config=config, result=result, checks=[], headline="")


def plot(report: Report):
    """Both error curves over the passes, the learned H1 kernels, and misclassified digits.

    Reads ``report.result`` (so a report rebuilt by :func:`report_from_json` plots too; the test
    digits are then loaded again from ``report.config``).
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    from jaxdl.plotting import COLUMN_WIDTH

    result = report.result
    images = report.plot_data.get("test_images")
    if images is None:
        config = report.config
        _, test = load_digits(config.data, train_size=1, test_size=config.test_size)
        images = np.asarray(test.images)[..., 0]
    methods = list(result["curves"])
    fig = Figure(figsize=(COLUMN_WIDTH, 7.2), layout="constrained")
    top, middle, bottom = fig.subfigures(3, 1, height_ratios=[2.2, 1.1, 1.3])
    ax = top.subplots()
    colors = {"sgd": "tab:blue", "newton": "tab:orange"}
    for method in methods:
        curves = result["curves"][method]
        passes = np.arange(len(curves["test_error"]))  # 0: the initial weights
        label = LABELS[method].removeprefix("jaxdl, ")
        test_error = 100 * np.asarray(curves["test_error"])
        train_error = 100 * np.asarray(curves["train_error"])
        ax.plot(passes, test_error, "-o", ms=3, color=colors[method], label=f"{label}, test")
        ax.plot(passes, train_error, "--", color=colors[method], label=f"{label}, train")
    ax.axhline(100 * PAPER["test_error"], ls=":", color="0.3", label="paper, test (5.00%)")
    ax.axhline(100 * PAPER["train_error"], ls="-.", color="0.6", label="paper, train (0.14%)")
    ax.set(
        xlabel="pass",
        ylabel="error (%)",
        yscale="log",
        title=f"zip-code network on the MNIST stand-in, {result['passes']} passes",
    )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize="small", ncols=2)
    kernels = np.asarray(result["h1_kernels"])  # [5, 5, 12]
    bound = np.abs(kernels).max()
    for i, a in enumerate(middle.subplots(1, 12)):
        a.imshow(kernels[:, :, i], cmap="RdBu_r", vmin=-bound, vmax=bound)
        a.set_axis_off()
    last = LABELS[methods[-1]]
    middle.suptitle(f"H1's 12 learned 5x5 kernels ({last})", fontsize="medium")
    wrong = result["misclassified_test_digits"]
    index, answer = np.asarray(wrong["index"], int), np.asarray(wrong["answer"], int)
    labels = np.asarray(wrong["label"], int)
    for i, a in enumerate(bottom.subplots(1, 10)):
        a.set_axis_off()
        if i < len(index):
            a.imshow(images[index[i]], cmap="gray_r", vmin=-1, vmax=1)
            a.set_title(f"{labels[i]}→{answer[i]}", fontsize="small")
    bottom.suptitle(
        f"{len(index)} test digits misclassified ({last}); the first 10, label→answer",
        fontsize="medium",
    )
    return fig
