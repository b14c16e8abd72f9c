"""Adam (Diederik Kingma & Jimmy Ba, 2014), and the update rules it descends from.

Every trained chapter of jaxdl hands its gradients to ``optax.adam``. This chapter writes that
rule, and its ancestors, by hand, each a pure ``init``/``update`` pair in optax's
``GradientTransformation`` shape, and proves each equal to optax's own:

- :func:`heavy_ball`: Polyak's (1964) momentum, ``v <- g + mu v``, step ``-lr v``
  (``optax.sgd(lr, momentum)``);
- :func:`nesterov`: Nesterov's accelerated gradient in Sutskever et al.'s (2013) form, step
  ``-lr (g + mu v)`` (``optax.sgd(lr, momentum, nesterov=True)``);
- :func:`adagrad`: Duchi, Hazan & Singer (2011), each coordinate's step divided by the root of
  its summed squared gradients (``optax.adagrad``);
- :func:`rmsprop`: Tieleman & Hinton (2012), the sum replaced by a moving average
  (``optax.rmsprop``);
- :func:`adam`: a moving average of the gradient over the root of a moving average of its
  square, both corrected for their start at zero (``optax.adam``); :func:`adamw` adds
  Loshchilov & Hutter's decoupled weight decay (``optax.adamw``) and :func:`amsgrad` Reddi, Kale
  & Kumar's (2018) running maximum of the second moment (``optax.amsgrad``).

**The paper's experiments.** Figure 1: multiclass logistic regression with an L2 penalty on
MNIST, mini-batches of 128, the step size decayed as ``alpha / sqrt(t)``; Adam against AdaGrad
and SGD with Nesterov momentum, the training cost against passes over the data. Figure 2(a)
(``--paper``): a net of two hidden layers of 1000 ReLU units with dropout, the same optimizers
plus RMSProp. The paper prints no number for either figure, only curves, and says that Adam
converges like SGD with Nesterov momentum on the logistic regression, both faster than AdaGrad,
and fastest of all on the MLP. The step sizes it used are not given ("a dense grid"); this
chapter's are :data:`FIGURE_1_STEP_SIZES` and :data:`FIGURE_2_STEP_SIZES`, chosen by
:func:`step_size_grid`.

**Reddi, Kale & Kumar's counterexample** (:func:`reddi_problem`): an online problem on
``[-1, 1]`` whose gradient is ``C`` once every three steps and ``-1`` otherwise; the best point is
``-1``, and Adam with ``b1 = 0`` and ``b2 = 1 / (1 + C**2)`` walks to ``+1``. AMSGrad, whose
denominator never shrinks, finds ``-1``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdl import losses, nn  # noqa: F401  (the ops and losses the nets take from the switch)
from jaxdl.activations import relu
from jaxdl.backward import AUTODIFF, HAND, Ops
from jaxdl.data.batches import Batch
from jaxdl.data.digits import flattened
from jaxdl.gradcheck import GradCheck, check_gradient
from jaxdl.milestones import Milestone
from jaxdl.report import Report
from jaxdl.training import trainer
from jaxdl.validate import EPOCHS, SEED, WIDTH, check_limits, require_positive_float

MILESTONE = Milestone(
    "adam",
    2014,
    "Kingma & Ba",
    "Adam and its ancestors written as optax rules; the paper's Figure 1",
    month=12,
)

LearningRate = float | Callable[[jax.Array], jax.Array]

#: Mini-batch size of Figures 1 and 2.
BATCH = 128
#: Figure 1's L2 penalty on the weights (the paper does not give its value).
L2 = 1e-4
#: The grid of ``alpha`` that :func:`step_size_grid` searches.
ALPHAS = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
#: ``alpha`` of each optimizer in Figure 1 (step ``alpha / sqrt(t)``): the lowest final training
#: cost of :func:`step_size_grid` over :data:`ALPHAS` at 45 passes of the shipped sample (seed 0;
#: Adam 0.188, SGD Nesterov 0.190, AdaGrad 0.228).
FIGURE_1_STEP_SIZES = {"adam": 0.3, "adagrad": 3.0, "sgd_nesterov": 3.0}
#: Figure 2(a)'s constant step sizes (``--paper``): the customary ones, not searched (a grid of
#: the 1000-unit net takes an hour on a 2-core CPU).
FIGURE_2_STEP_SIZES = {"adam": 0.001, "adagrad": 0.01, "rmsprop": 0.001, "sgd_nesterov": 0.1}
#: Passes of Figure 1 (the paper's x-axis ends at 45) and of Figure 2(a) with ``--paper``
#: (the paper's ends at 200, on the full set).
PAPER_PASSES = 45
MLP_PASSES = 20
#: Figure 2(a)'s net: two hidden layers of 1000 ReLU units, dropout (keep 0.5; the input 0.8).
HIDDEN = 1000
KEEP_HIDDEN, KEEP_INPUT = 0.5, 0.8
#: Reddi et al.'s problem: the gradient is ``C`` at every third step, ``-1`` otherwise.
REDDI_C = 3.0


# ------------------------------------------------------------------------------------ rules


def _require_rate(learning_rate: LearningRate) -> None:
    if not callable(learning_rate):
        require_positive_float("learning rate", learning_rate)


def _descend(learning_rate: LearningRate, count: jax.Array, directions: optax.Updates):
    """``-lr * direction`` for a constant step, ``-lr(count) * direction`` for a schedule.

    ``count`` is the number of updates made before this one (optax's
    ``scale_by_schedule`` counts the same way: the first step uses ``lr(0)``).
    """
    if callable(learning_rate):
        step = -1 * learning_rate(count)
        return jax.tree.map(lambda d: jnp.array(step, dtype=d.dtype) * d, directions)
    return jax.tree.map(lambda d: -learning_rate * d, directions)


class MomentumState(NamedTuple):
    """State of :func:`heavy_ball` and :func:`nesterov`."""

    count: jax.Array  # [] int32, updates so far
    velocity: optax.Updates  # v, same tree as params


def heavy_ball(learning_rate: LearningRate, momentum: float = 0.9) -> optax.GradientTransformation:
    """Polyak's heavy ball: ``v <- g + momentum v``, step ``-lr v`` (``optax.sgd(lr, momentum)``).

    Written with ``v`` in gradient units (optax's ``trace``), so that a changing step size
    scales the whole velocity; with a constant ``lr`` it is Polyak's
    ``x <- x - lr g + momentum (x - x_prev)``.
    """
    _require_rate(learning_rate)

    def init_fn(params):
        return MomentumState(jnp.zeros([], jnp.int32), jax.tree.map(jnp.zeros_like, params))

    def update_fn(grads, state, params=None):
        del params
        v = jax.tree.map(lambda g, v: g + momentum * v, grads, state.velocity)
        return _descend(learning_rate, state.count, v), MomentumState(state.count + 1, v)

    return optax.GradientTransformation(init_fn, update_fn)


def nesterov(learning_rate: LearningRate, momentum: float = 0.9) -> optax.GradientTransformation:
    """Nesterov momentum: ``v <- g + momentum v``, step ``-lr (g + momentum v)``.

    The gradient is taken at the current point but the step looks one velocity ahead (Sutskever,
    Martens, Dahl & Hinton's 2013 form of Nesterov's 1983 method);
    ``optax.sgd(lr, momentum, nesterov=True)``.
    """
    _require_rate(learning_rate)

    def init_fn(params):
        return MomentumState(jnp.zeros([], jnp.int32), jax.tree.map(jnp.zeros_like, params))

    def update_fn(grads, state, params=None):
        del params
        v = jax.tree.map(lambda g, v: g + momentum * v, grads, state.velocity)
        ahead = jax.tree.map(lambda g, v: g + momentum * v, grads, v)
        return _descend(learning_rate, state.count, ahead), MomentumState(state.count + 1, v)

    return optax.GradientTransformation(init_fn, update_fn)


class AdagradState(NamedTuple):
    """State of :func:`adagrad`."""

    count: jax.Array  # [] int32
    sum_of_squares: optax.Updates  # s = s0 + sum of g**2 so far, same tree as params


def adagrad(
    learning_rate: LearningRate, initial_accumulator_value: float = 0.1, eps: float = 1e-7
) -> optax.GradientTransformation:
    """AdaGrad: ``s <- s + g**2``, step ``-lr g / sqrt(s + eps)`` per coordinate.

    A coordinate that has seen large gradients takes small steps; a rare feature keeps a large
    step. ``s`` starts at ``initial_accumulator_value`` (optax's 0.1); the reciprocal root is
    ``lax.rsqrt``, as optax computes it (``1 / sqrt`` rounds differently).
    """
    _require_rate(learning_rate)

    def init_fn(params):
        s0 = jax.tree.map(lambda p: jnp.full_like(p, initial_accumulator_value), params)
        return AdagradState(jnp.zeros([], jnp.int32), s0)

    def update_fn(grads, state, params=None):
        del params
        s = jax.tree.map(lambda g, s: g * g + s, grads, state.sum_of_squares)
        scaled = jax.tree.map(
            lambda g, s: jnp.where(s > 0, jax.lax.rsqrt(s + eps), 0.0) * g, grads, s
        )
        return _descend(learning_rate, state.count, scaled), AdagradState(state.count + 1, s)

    return optax.GradientTransformation(init_fn, update_fn)


class RMSPropState(NamedTuple):
    """State of :func:`rmsprop`."""

    count: jax.Array  # [] int32
    nu: optax.Updates  # moving average of g**2, same tree as params


def rmsprop(
    learning_rate: LearningRate, decay: float = 0.9, eps: float = 1e-8
) -> optax.GradientTransformation:
    """RMSProp: ``nu <- (1 - decay) g**2 + decay nu``, step ``-lr g / sqrt(nu + eps)``.

    AdaGrad's sum forgets nothing, so its steps only shrink; a moving average forgets. As
    ``optax.rmsprop``: ``nu`` starts at zero and ``eps`` sits inside the root.
    """
    _require_rate(learning_rate)

    def init_fn(params):
        return RMSPropState(jnp.zeros([], jnp.int32), jax.tree.map(jnp.zeros_like, params))

    def update_fn(grads, state, params=None):
        del params
        nu = jax.tree.map(lambda g, n: (1 - decay) * (g * g) + decay * n, grads, state.nu)
        scaled = jax.tree.map(lambda g, n: jax.lax.rsqrt(n + eps) * g, grads, nu)
        return _descend(learning_rate, state.count, scaled), RMSPropState(state.count + 1, nu)

    return optax.GradientTransformation(init_fn, update_fn)


class AdamState(NamedTuple):
    """State of :func:`adam`, :func:`adamw` and :func:`amsgrad`."""

    count: jax.Array  # [] int32, t - 1: updates so far
    mu: optax.Updates  # m, moving average of g, same tree as params
    nu: optax.Updates  # v, moving average of g**2
    nu_max: optax.Updates | None  # AMSGrad's running maximum of v_hat, or None


@functools.partial(jax.jit, inline=True)
def _debias(moment: optax.Updates, decay: float, t: jax.Array) -> optax.Updates:
    """``moment / (1 - decay**t)``: the bias correction. Compiled as one small program, as
    optax compiles it, so that the power rounds the same way (eagerly it may differ in the last
    bit)."""
    correction = 1 - decay**t
    return jax.tree.map(lambda m: m / correction.astype(m.dtype), moment)


def adam(
    learning_rate: LearningRate,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    *,
    weight_decay: float = 0.0,
    amsgrad: bool = False,
    bias_correction: bool = True,
) -> optax.GradientTransformation:
    """Adam (Algorithm 1 of the paper), from its formulas; ``optax.adam`` by default.

    At step ``t = 1, 2, ...``::

        m <- b1 m + (1 - b1) g            v <- b2 v + (1 - b2) g**2
        m_hat = m / (1 - b1**t)           v_hat = v / (1 - b2**t)
        step = -lr m_hat / (sqrt(v_hat) + eps)

    Both averages start at zero, so early on they are biased towards zero: with a constant
    gradient ``m = (1 - b1**t) g``, which the division by ``1 - b1**t`` undoes exactly (and the
    same for ``v``). ``bias_correction=False`` leaves it out (the paper's Figure 4 ablation).

    Args:
      learning_rate: ``alpha``, a constant or a schedule of the update count.
      b1, b2, eps: the paper's beta_1, beta_2 and epsilon (its defaults).
      weight_decay: AdamW (Loshchilov & Hutter): ``lr * weight_decay * params`` is added to the
        step outside Adam's scaling, not to the gradient (``optax.adamw``).
      amsgrad: AMSGrad (Reddi et al.): divide by the running maximum of ``v_hat`` instead
        (``optax.amsgrad``, which takes the maximum of the corrected ``v_hat``).
      bias_correction: divide by ``1 - b**t`` (Adam) or not.
    """
    _require_rate(learning_rate)

    def init_fn(params):
        zeros = jax.tree.map(jnp.zeros_like, params)
        return AdamState(jnp.zeros([], jnp.int32), zeros, zeros, zeros if amsgrad else None)

    def update_fn(grads, state, params=None):
        t = state.count + 1
        mu = jax.tree.map(lambda g, m: (1 - b1) * g + b1 * m, grads, state.mu)
        nu = jax.tree.map(lambda g, v: (1 - b2) * (g * g) + b2 * v, grads, state.nu)
        if bias_correction:
            mu_hat, nu_hat = _debias(mu, b1, t), _debias(nu, b2, t)
        else:
            mu_hat, nu_hat = mu, nu
        nu_max = None
        if amsgrad:
            nu_max = jax.tree.map(jnp.maximum, state.nu_max, nu_hat)
            nu_hat = nu_max
        direction = jax.tree.map(lambda m, v: m / (jnp.sqrt(v) + eps), mu_hat, nu_hat)
        if weight_decay:
            if params is None:
                raise ValueError("AdamW's decay needs the parameters: update(grads, state, params)")
            direction = jax.tree.map(lambda d, p: d + weight_decay * p, direction, params)
        step = _descend(learning_rate, state.count, direction)
        return step, AdamState(t, mu, nu, nu_max)

    return optax.GradientTransformation(init_fn, update_fn)


def adamw(
    learning_rate: LearningRate,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 1e-4,
) -> optax.GradientTransformation:
    """AdamW: :func:`adam` with decoupled weight decay (``optax.adamw``, the same default 1e-4).

    An L2 penalty added to the loss enters ``m`` and ``v`` and so gets divided by
    ``sqrt(v_hat)``: heavily-used weights are barely decayed. Decoupled decay shrinks every
    weight by the same fraction ``lr * weight_decay`` per step.
    """
    require_positive_float("weight decay", weight_decay)
    return adam(learning_rate, b1, b2, eps, weight_decay=weight_decay)


def amsgrad(
    learning_rate: LearningRate, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8
) -> optax.GradientTransformation:
    """AMSGrad: :func:`adam` divided by the largest ``v_hat`` so far (``optax.amsgrad``)."""
    return adam(learning_rate, b1, b2, eps, amsgrad=True)


#: Each hand rule with its optax twin, as ``name: (ours, optax's)`` factories of the step size
#: and the rule's own hyper-parameters (what the tests draw).
OPTAX_TWINS: dict[str, tuple[Callable, Callable]] = {
    "heavy_ball": (heavy_ball, lambda lr, momentum=0.9: optax.sgd(lr, momentum)),
    "nesterov": (nesterov, lambda lr, momentum=0.9: optax.sgd(lr, momentum, nesterov=True)),
    "adagrad": (adagrad, optax.adagrad),
    "rmsprop": (rmsprop, optax.rmsprop),
    "adam": (adam, optax.adam),
    "adamw": (adamw, optax.adamw),
    "amsgrad": (amsgrad, optax.amsgrad),
}


@functools.cache
def inverse_sqrt_decay(alpha: float) -> Callable[[jax.Array], jax.Array]:
    """The paper's schedule ``alpha_t = alpha / sqrt(t)``, ``t = count + 1`` (one per alpha)."""
    require_positive_float("step size", alpha)

    def schedule(count):
        return alpha / jnp.sqrt(count + 1.0)

    return schedule


@functools.cache
def optimizer(name: str, alpha: float, decay: bool) -> optax.GradientTransformation:
    """The experiments' optimizers by name (memoised: the trainer compiles once per rule).

    ``decay``: the step ``alpha / sqrt(t)`` (Figure 1), else constant ``alpha`` (Figure 2).
    """
    rate = inverse_sqrt_decay(alpha) if decay else alpha
    rules = {
        "adam": adam,
        "adagrad": adagrad,
        "rmsprop": rmsprop,
        "sgd_nesterov": nesterov,
        "amsgrad": amsgrad,
    }
    if name not in rules:
        raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(rules)}")
    return rules[name](rate)


# ---------------------------------------------------------------------- Figure 1: the model


class Logistic(NamedTuple):
    """Multiclass logistic regression ``softmax(x w + b)``."""

    w: jax.Array  # [784, 10]
    b: jax.Array  # [10]


def init_logistic(dtype=None) -> Logistic:
    """Zero weights (the problem is convex: every optimizer starts from the same point)."""
    dtype = dtype or jnp.result_type(float)
    return Logistic(jnp.zeros((784, 10), dtype), jnp.zeros((10,), dtype))


def _logistic_loss(ops: Ops, params: Logistic, batch: Batch) -> jax.Array:
    logits = ops.dense(batch.images, params.w, params.b)
    return ops.softmax_cross_entropy(logits, batch.labels) + ops.l2_penalty([params.w], L2)


def logistic_loss(params: Logistic, batch: Batch) -> jax.Array:
    """Mean cross-entropy plus ``L2 / 2 * |w|**2``; backward by the hand rules of
    :mod:`jaxdl.nn.affine` and :mod:`jaxdl.losses` (``custom_vjp``)."""
    return _logistic_loss(HAND, params, batch)


def logistic_loss_autodiff(params: Logistic, batch: Batch) -> jax.Array:
    """The same loss from the pure forwards, for ``jax.grad`` to differentiate."""
    return _logistic_loss(AUTODIFF, params, batch)


class MLP(NamedTuple):
    """Figure 2(a)'s net: 784-H-H-10, ReLU, dropout on the input and hidden layers."""

    layers: tuple[tuple[jax.Array, jax.Array], ...]  # ((w [F_in, F_out], b [F_out]), ...) x 3


def init_mlp(key: jax.Array, hidden: int = HIDDEN, dtype=jnp.float32, inputs: int = 784) -> MLP:
    """He-initialised weights ``N(0, 2 / F_in)``, zero biases (float32, like the deep chapters)."""
    widths = (inputs, hidden, hidden, 10)
    keys = jax.random.split(key, 3)
    layers = tuple(
        (math.sqrt(2 / a) * jax.random.normal(k, (a, b), dtype), jnp.zeros((b,), dtype))
        for k, a, b in zip(keys, widths[:-1], widths[1:], strict=True)
    )
    return MLP(layers)


class DropoutBatch(NamedTuple):
    """A batch and the key of its dropout masks."""

    images: jax.Array  # [B, 784]
    labels: jax.Array  # [B]
    key: jax.Array  # [] PRNG key


def _mlp_loss(ops: Ops, params: MLP, batch: DropoutBatch) -> jax.Array:
    keys = jax.random.split(batch.key, 3)
    u = ops.dropout(batch.images, KEEP_INPUT, key=keys[0])
    for i, (w, b) in enumerate(params.layers[:-1]):
        u = ops.dropout(relu(ops.dense(u, w, b)), KEEP_HIDDEN, key=keys[i + 1])
    w, b = params.layers[-1]
    return ops.softmax_cross_entropy(ops.dense(u, w, b), batch.labels)


def mlp_loss(params: MLP, batch: DropoutBatch) -> jax.Array:
    """Cross-entropy of the net with dropout, backward by the hand rules."""
    return _mlp_loss(HAND, params, batch)


def mlp_loss_autodiff(params: MLP, batch: DropoutBatch) -> jax.Array:
    """The same loss from the pure forwards."""
    return _mlp_loss(AUTODIFF, params, batch)


@functools.cache
def _with_dropout_key(next_batch: Callable) -> Callable:
    """A feed's ``next`` that also hands each step a fresh key for its dropout masks."""

    def next_with_key(state):
        inner, key = state
        inner, batch = next_batch(inner)
        key, k = jax.random.split(key)
        return (inner, key), DropoutBatch(batch.images, batch.labels, k)

    return next_with_key


class Curve(NamedTuple):
    """One optimizer's run: the training cost of every pass."""

    name: str
    alpha: float
    cost_per_pass: np.ndarray  # [passes] mean mini-batch cost over each pass
    test_accuracy: float


def train_logistic(
    name: str, alpha: float, train: Batch, test: Batch, *, passes: int, key: jax.Array
) -> Curve:
    """Figure 1's run of one optimizer: ``passes`` shuffled passes in batches of 128."""
    feed, per_pass = trainer.shuffled_epochs(
        train, batch_size=BATCH, keys=jax.random.split(key, passes)
    )
    run = trainer.train(
        logistic_loss,
        init_logistic(train.images.dtype),
        optimizer(name, alpha, True),
        feed,
        steps=passes * per_pass,
    )
    params = run.state.params
    logits = AUTODIFF.dense(test.images, params.w, params.b)
    accuracy = float(jnp.mean(jnp.argmax(logits, axis=1) == test.labels, dtype=logits.dtype))
    cost = run.losses.reshape(passes, per_pass).mean(axis=1)
    return Curve(name, alpha, cost, accuracy)


def train_mlp(
    name: str,
    alpha: float,
    train: Batch,
    test: Batch,
    *,
    passes: int,
    hidden: int,
    key: jax.Array,
    progress: bool = False,
) -> Curve:
    """Figure 2(a)'s run of one optimizer (float32, constant step ``alpha``)."""
    k_init, k_feed, k_drop = jax.random.split(key, 3)
    x32 = Batch(train.images.astype(jnp.float32), train.labels)
    inner, per_pass = trainer.shuffled_epochs(
        x32, batch_size=BATCH, keys=jax.random.split(k_feed, passes)
    )
    feed = trainer.Feed((inner.state, k_drop), _with_dropout_key(inner.next))
    run = trainer.train(
        mlp_loss,
        init_mlp(k_init, hidden),
        optimizer(name, alpha, False),
        feed,
        steps=passes * per_pass,
        chunk_steps=per_pass,
        progress=trainer.Progress(f"Figure 2(a), {LABELS[name]}") if progress else None,
    )
    accuracy = float(_mlp_accuracy(run.state.params, test.images.astype(jnp.float32), test.labels))
    return Curve(name, alpha, run.losses.reshape(passes, per_pass).mean(axis=1), accuracy)


@jax.jit
def _mlp_accuracy(params: MLP, x: jax.Array, y: jax.Array) -> jax.Array:
    u = x
    for w, b in params.layers[:-1]:
        u = relu(AUTODIFF.dense(u, w, b))  # no dropout (inverted dropout scaled in training)
    w, b = params.layers[-1]
    return jnp.mean(jnp.argmax(AUTODIFF.dense(u, w, b), axis=1) == y, dtype=u.dtype)


def step_size_grid(
    names: tuple[str, ...],
    train: Batch,
    test: Batch,
    *,
    passes: int,
    alphas: tuple[float, ...] = ALPHAS,
    key: jax.Array,
) -> dict[str, dict[float, float]]:
    """Figure 1's final training cost for every optimizer and ``alpha`` (the paper's "dense
    grid", coarse): how :data:`FIGURE_1_STEP_SIZES` were chosen."""
    grid: dict[str, dict[float, float]] = {}
    for name in names:
        for a in alphas:
            curve = train_logistic(name, a, train, test, passes=passes, key=key)
            grid.setdefault(name, {})[a] = float(curve.cost_per_pass[-1])
    return grid


# ------------------------------------------------------------ Reddi, Kale & Kumar (2018)


def reddi_loss(x: jax.Array, coefficient: jax.Array) -> tuple[jax.Array, jax.Array]:
    """One step's loss ``f_t(x) = coefficient * x`` (``C`` or ``-1``; its gradient is the
    coefficient), and ``x`` itself as the aux (the trainer stacks the path)."""
    return coefficient * x, x


def _reddi_next(state):
    step, c = state
    return (step + 1, c), jnp.where(step % 3 == 0, c, -1.0)


def _project(low: float, high: float) -> optax.GradientTransformation:
    """A last step that keeps the parameters in ``[low, high]`` (the problem's feasible set)."""

    def update_fn(updates, state, params):
        return jax.tree.map(lambda u, p: jnp.clip(p + u, low, high) - p, updates, params), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)


@functools.cache
def reddi_optimizer(rule: str, c: float, alpha: float) -> optax.GradientTransformation:
    """Adam or AMSGrad with Reddi et al.'s ``b1 = 0``, ``b2 = 1 / (1 + C**2)``, step
    ``alpha / sqrt(t)``, projected onto ``[-1, 1]``."""
    b2 = 1 / (1 + c * c)
    base = adam(inverse_sqrt_decay(alpha), 0.0, b2, amsgrad=rule == "amsgrad")
    return optax.chain(base, _project(-1.0, 1.0))


def reddi_problem(
    rule: str, *, c: float = REDDI_C, steps: int = 3000, alpha: float = 0.1, start: float = 0.0
) -> np.ndarray:
    """The path of ``x`` on Reddi et al.'s online problem under ``rule`` (``adam`` or
    ``amsgrad``), through the shared trainer: ``[steps + 1]``, the start and every step's end.
    The best fixed point is ``-1``."""
    if rule not in ("adam", "amsgrad"):
        raise ValueError(f"rule must be adam or amsgrad, got {rule!r}")
    if not c > 2:
        raise ValueError(f"C must exceed 2 (Reddi et al.'s Theorem 1), got {c}")
    dtype = jnp.result_type(float)
    run = trainer.train(
        reddi_loss,
        jnp.asarray(start, dtype),
        reddi_optimizer(rule, c, alpha),
        trainer.Feed((jnp.zeros([], jnp.int32), jnp.asarray(c, dtype)), _reddi_next),
        steps=steps,
        has_aux=True,
    )
    return np.append(run.aux, float(run.state.params))


# --------------------------------------------------------------------------- the chapter


@dataclasses.dataclass(frozen=True)
class Config:
    """Figure 1 on the shipped MNIST sample (``--paper``: Figure 2(a) too)."""

    passes: int = dataclasses.field(
        default=PAPER_PASSES,
        metadata={"bounds": EPOCHS, "help": "Figure 1's passes over the training digits"},
    )
    mlp_passes: int = dataclasses.field(
        default=MLP_PASSES,
        metadata={"bounds": EPOCHS, "help": "Figure 2(a)'s passes, with --paper"},
    )
    hidden: int = dataclasses.field(
        default=HIDDEN,
        metadata={"bounds": WIDTH, "help": "Figure 2(a)'s hidden width, with --paper"},
    )
    data: str = dataclasses.field(
        default="sample",
        metadata={"help": "sample (the shipped 8000/2000 digits) or a directory of IDX files"},
    )
    paper: bool = dataclasses.field(
        default=False,
        metadata={
            "help": "add Figure 2(a)'s MLP of two hidden layers of 1000 ReLU units "
            "(minutes; a progress bar)"
        },
    )
    seed: int = dataclasses.field(default=0, metadata={"bounds": SEED, "help": "PRNG seed"})

    def __post_init__(self):
        check_limits(self)


def gradient_checks(*, key: jax.Array) -> list[GradCheck]:
    """Figure 1's and Figure 2(a)'s losses: ``jax.grad`` through the hand rules vs the pure
    forwards vs finite differences (float64; 6 input pixels, hidden layers of 4, a fixed
    dropout key)."""
    k_w, k_x, k_mlp, k_drop = jax.random.split(key, 4)
    dtype = jnp.result_type(float)
    batch = Batch(jax.random.uniform(k_x, (5, 6), dtype), jnp.array([0, 3, 3, 9, 1]))
    params = Logistic(0.1 * jax.random.normal(k_w, (6, 10), dtype), jnp.arange(10.0) / 10)
    net = init_mlp(k_mlp, 4, dtype, inputs=6)
    # biases off zero: an example whose units are all dropped would sit on ReLU's kink
    net = MLP(tuple((w, b + 0.1) for w, b in net.layers))
    dropped = DropoutBatch(batch.images, batch.labels, k_drop)
    return [
        check_gradient(
            "adam: Figure 1's logistic regression, custom_vjp",
            lambda p: logistic_loss_autodiff(p, batch),
            jax.jit(jax.grad(lambda p: logistic_loss(p, batch))),
            params,
        ),
        check_gradient(
            "adam: Figure 2(a)'s MLP with dropout, custom_vjp",
            lambda p: mlp_loss_autodiff(p, dropped),
            jax.jit(jax.grad(lambda p: mlp_loss(p, dropped))),
            net,
        ),
    ]


def run(config: Config = Config()) -> Report:
    """Figure 1 (and Figure 2(a) with ``paper``), and Reddi et al.'s counterexample."""
    dtype = jnp.result_type(float)
    train, test = flattened(config.data, dtype)
    key = jax.random.key(config.seed)
    k_fig1, k_fig2 = jax.random.split(key)
    passes = config.passes
    figure_1 = [
        train_logistic(name, alpha, train, test, passes=passes, key=k_fig1)
        for name, alpha in FIGURE_1_STEP_SIZES.items()
    ]
    figure_2 = []
    if config.paper:
        mlp = functools.partial(
            train_mlp, passes=config.mlp_passes, hidden=config.hidden, key=k_fig2, progress=True
        )
        figure_2 = [mlp(name, alpha, train, test) for name, alpha in FIGURE_2_STEP_SIZES.items()]
    reddi = {rule: reddi_problem(rule) for rule in ("adam", "amsgrad")}

    def table(curves):
        return {
            c.name: {
                "alpha": c.alpha,
                "first_pass_cost": float(c.cost_per_pass[0]),
                "final_cost": float(c.cost_per_pass[-1]),
                "test_accuracy": c.test_accuracy,
            }
            for c in curves
        }

    result = {
        "train_size": int(train.images.shape[0]),
        "passes": passes,
        "figure_1": table(figure_1),
        "figure_2a": table(figure_2) if figure_2 else None,
        "reddi_final_x": {rule: float(path[-1]) for rule, path in reddi.items()},
        "paper": "no numbers: Adam converges like SGD with Nesterov momentum, both faster "
        "than AdaGrad (Figure 1); Adam fastest on the MLP (Figure 2a)",
    }
    fig1 = result["figure_1"]
    return Report(
        milestone="adam",
        config=config,
        result=result,
        checks=[],
        headline=(
            f"training cost after {passes} passes: Adam {fig1['adam']['final_cost']:.4f}, "
            f"SGD Nesterov {fig1['sgd_nesterov']['final_cost']:.4f}, "
            f"AdaGrad {fig1['adagrad']['final_cost']:.4f}"
        ),
        plot_data={"figure_1": figure_1, "figure_2a": figure_2, "reddi": reddi},
    )


LABELS = {
    "adam": "Adam",
    "adagrad": "AdaGrad",
    "rmsprop": "RMSProp",
    "sgd_nesterov": "SGD Nesterov",
    "amsgrad": "AMSGrad",
}


def plot(report: Report):
    """Figure 1 (training cost against passes), Figure 2(a) when run, and Reddi's problem."""
    from jaxdl.plotting import new_figure

    data = report.plot_data
    panels = [("Fig. 1: logistic regression", data["figure_1"])]
    if data["figure_2a"]:
        panels.append(("Fig. 2(a): MLP, dropout", data["figure_2a"]))
    fig, axes = new_figure(len(panels) + 1)
    for ax, (title, curves) in zip(axes[:-1], panels, strict=True):
        for c in curves:
            passes = np.arange(1, len(c.cost_per_pass) + 1)
            ax.plot(passes, c.cost_per_pass, label=f"{LABELS[c.name]} ({c.alpha:g})")
        ax.set(xlabel="passes over the training set", ylabel="training cost")
        ax.set_title(title, fontsize=10 if len(panels) > 1 else None)
        ax.set_yscale("log")
        ax.legend(fontsize=8)
    ax = axes[-1]
    for rule, path in data["reddi"].items():
        ax.plot(np.arange(len(path)), path, label=LABELS[rule])
    ax.axhline(-1.0, ls=":", color="0.4", label="best x = -1")
    ax.set(xlabel="step", ylabel="x")
    ax.set_title("Reddi et al.'s problem", fontsize=10 if len(panels) > 1 else None)
    ax.legend(fontsize=8)
    return fig
