"""The perceptron (Frank Rosenblatt, 1958) and its limit (Minsky & Papert, 1969).

A perceptron takes a weighted sum of its inputs and fires when the sum is not negative:
``prediction = heaviside(w . x)`` with the step ``0 if s < 0 else 1``. A constant third input
``1`` (the *bias input*, ``[x1, x2, 1]``) lets the threshold be learned like any other weight.
Rosenblatt's learning rule nudges the weights towards every example it gets wrong::

    error = target - prediction          # -1, 0 or +1
    w    <- w + lr * error * x

Seed 000 runs it on the OR gate: ``weights = random.rand(3)``, ``lr = 0.2`` and 100 examples
picked at random; the trained perceptron computes OR. Here that loop is one
:func:`jax.lax.scan` inside one ``jit`` (:func:`train`), with the random picks drawn from an
explicit key, and it returns the mistake trace beside the weights. :func:`train_until_converged`
is the classical epoch-style variant: pass over the data in order until a whole pass makes no
mistake, or stop at an epoch cap and say *not converged*.

**The seed's bug.** Its printing loop reads ``for x, _ in training_data: result = dot(x, w);
print("{}: {} -> {}".format(input[:2], result, 1_or_0(result)))``: ``w`` is never defined (the
weights are called ``weights``), and ``input`` is the stale last example of the training loop,
so even with ``w`` fixed it prints the same input four times. :func:`seed_printout` prints what
was meant: each input, its weighted sum with the trained weights, and the prediction. (Also,
``1_or_0`` is not a valid Python name; it is :func:`jaxdl.activations.heaviside` here.)

**Novikoff (1962).** If unit vector ``u`` separates the data with margin
``gamma = min_i y_i u . x_i > 0`` (labels ``y = +-1``) and every ``|x_i| <= R``, the perceptron
started from zero weights makes at most ``(R / gamma)**2`` mistakes, however long it cycles
through the data. The tests check this on random separable data.

**Minsky & Papert (1969): XOR.** No weights classify XOR. With the step above we would need
``w3 < 0`` (input 00 -> 0), ``w2 + w3 >= 0`` (01 -> 1), ``w1 + w3 >= 0`` (10 -> 1) and
``w1 + w2 + w3 < 0`` (11 -> 0). Adding the middle two gives ``w1 + w2 + 2 w3 >= 0``, so
``w1 + w2 + w3 >= -w3 > 0``: a contradiction. XOR is not linearly separable, so from any start
and after any number of steps at least one of the four points is wrong, and epoch training
runs into its cap.

**The link to gradients.** With labels ``y = 2 t - 1`` in ``{-1, +1}``, the *perceptron
criterion* ``J(w) = sum_i max(0, -y_i w . x_i)`` is zero on correctly classified points and
``-y_i w . x_i`` on misclassified ones, so ``grad J = -sum_{mistakes} y_i x_i``. On a
misclassified point ``error = t - prediction = y``, so Rosenblatt's update ``lr * error * x`` is
exactly ``-lr * grad J``: the perceptron is stochastic gradient descent on ``J``
(checked against :func:`jax.grad` in :func:`gradient_checks`, away from the kink
``w . x = 0``).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxdl.activations import heaviside
from jaxdl.gradcheck import GradCheck, check_gradient, standard_normal
from jaxdl.milestones import Milestone
from jaxdl.report import Report
from jaxdl.validate import (
    EPOCHS,
    LEARNING_RATE_CEILING,
    SEED,
    STEPS,
    check_limits,
    require_int,
    require_positive_float,
    require_positive_int,
)

MILESTONE = Milestone(
    "perceptron",
    1958,
    "Rosenblatt; Minsky & Papert 1969",
    "learn OR, fail on XOR",
)

Gate = Literal["or", "and", "xor"]

#: The four inputs of a two-input logic gate, in the seed's order.
GATE_INPUTS = ((0, 0), (0, 1), (1, 0), (1, 1))

#: Each gate's outputs for :data:`GATE_INPUTS`.
GATE_TARGETS: dict[str, tuple[int, int, int, int]] = {
    "or": (0, 1, 1, 1),
    "and": (0, 0, 0, 1),
    "xor": (0, 1, 1, 0),
}


class GateData(NamedTuple):
    """A logic gate as training data."""

    inputs: jax.Array  # [4, 3] rows [x1, x2, 1] (bias input last)
    targets: jax.Array  # [4] 0 or 1


class Trace(NamedTuple):
    """What :func:`train` returns: the weights and everything that happened on the way."""

    weights: jax.Array  # [D] after the last step
    path: jax.Array  # [steps + 1, D] the start, then the weights after each step
    picks: jax.Array  # [steps] index of the example picked at each step
    errors: jax.Array  # [steps] target - prediction at each step: -1, 0 or +1

    @property
    def mistakes(self) -> int:
        """How many of the picks were misclassified (each one moved the weights)."""
        return int(jnp.sum(self.errors != 0))


class EpochResult(NamedTuple):
    """What :func:`train_until_converged` returns."""

    weights: jax.Array  # [D] when it stopped
    epochs: jax.Array  # [] passes over the data made (the last clean pass included)
    mistakes: jax.Array  # [] mistakes over all passes (each one an update)
    last_epoch_mistakes: jax.Array  # [] mistakes in the last pass: 0 exactly when converged
    converged: jax.Array  # [] bool: a whole pass made no mistake before the cap


# --------------------------------------------------------------------------------------------
# Data and validation


def add_bias(inputs: ArrayLike) -> jax.Array:
    """Append the constant bias input: ``[N, F] -> [N, F + 1]`` with a last column of ones."""
    inputs = _float_array(inputs)
    if inputs.ndim != 2:
        raise ValueError(f"inputs must have shape [N, F], got shape {inputs.shape}")
    return jnp.concatenate([inputs, jnp.ones((inputs.shape[0], 1), inputs.dtype)], axis=1)


def gate_data(gate: str) -> GateData:
    """The truth table of ``gate`` (``"or"``, ``"and"`` or ``"xor"``) with the bias input."""
    if gate not in GATE_TARGETS:
        raise ValueError(f"unknown gate {gate!r}; choose one of {', '.join(GATE_TARGETS)}")
    return GateData(add_bias(GATE_INPUTS), jnp.asarray(GATE_TARGETS[gate], dtype=jnp.int32))


def _float_array(x: ArrayLike) -> jax.Array:
    return jnp.asarray(x, dtype=jnp.result_type(float))


def check_data(weights: ArrayLike, inputs: ArrayLike, targets: ArrayLike):
    """Validate a training problem and return it as arrays ``(weights, inputs, targets)``.

    Raises:
      ValueError: unless ``inputs`` is a finite ``[N, D]`` array with ``N >= 1``, ``targets``
        is ``[N]`` with every entry 0 or 1, and ``weights`` is a finite ``[D]`` vector.
    """
    weights, inputs = _float_array(weights), _float_array(inputs)
    raw_targets = np.asarray(targets)
    if inputs.ndim != 2 or inputs.shape[0] == 0:
        raise ValueError(f"inputs must have shape [N, D] with N >= 1, got shape {inputs.shape}")
    if raw_targets.shape != inputs.shape[:1]:
        raise ValueError(
            f"targets must have shape [N] = {inputs.shape[:1]} to match inputs of shape "
            f"{inputs.shape}, got shape {raw_targets.shape}"
        )
    if weights.shape != inputs.shape[1:]:
        raise ValueError(
            f"weights must have shape [D] = {inputs.shape[1:]} to match inputs of shape "
            f"{inputs.shape}, got shape {weights.shape}"
        )
    if not np.isin(raw_targets, (0, 1)).all():
        raise ValueError(
            f"targets must be 0 or 1 (the step activation's outputs), got {raw_targets.tolist()}"
        )
    if not (jnp.isfinite(inputs).all() and jnp.isfinite(weights).all()):
        raise ValueError("inputs and weights must be finite (found NaN or infinity)")
    return weights, inputs, jnp.asarray(raw_targets, dtype=jnp.int32)


# --------------------------------------------------------------------------------------------
# The model and Rosenblatt's rule


def init_weights(*, key: jax.Array, num_inputs: int = 3) -> jax.Array:
    """The seed's start, ``random.rand(3)``: uniform in ``[0, 1)``, shape ``[num_inputs]``."""
    require_positive_int("num_inputs", num_inputs)
    return jax.random.uniform(key, (num_inputs,), dtype=jnp.result_type(float))


def weighted_sum(weights: ArrayLike, inputs: ArrayLike) -> jax.Array:
    """``s = x . w`` for each row: ``[D], [N, D] -> [N]`` (or ``[D], [D] -> []``)."""
    return jnp.asarray(inputs) @ jnp.asarray(weights)


def predict(weights: ArrayLike, inputs: ArrayLike) -> jax.Array:
    """The perceptron's output ``heaviside(x . w)``: 0 if the sum is negative, else 1."""
    return heaviside(weighted_sum(weights, inputs))


def update(
    weights: jax.Array, x: jax.Array, target: ArrayLike, learning_rate: ArrayLike
) -> tuple[jax.Array, jax.Array]:
    """One step of Rosenblatt's rule on one example ``x`` ``[D]`` with ``target`` 0 or 1.

    Returns:
      ``(weights + learning_rate * error * x, error)`` with ``error = target - prediction``.
    """
    error = jnp.asarray(target, weights.dtype) - predict(weights, x).astype(weights.dtype)
    return weights + learning_rate * error * x, error


def accuracy(weights: ArrayLike, inputs: ArrayLike, targets: ArrayLike) -> jax.Array:
    """Fraction of the rows of ``inputs`` ``[N, D]`` whose prediction equals ``targets`` ``[N]``."""
    return jnp.mean(predict(weights, inputs) == jnp.asarray(targets))


@functools.partial(jax.jit, static_argnames=("steps",))
def _train(weights, inputs, targets, key, learning_rate, steps):
    picks = jax.random.randint(key, (steps,), 0, inputs.shape[0])

    def step(w, i):
        w, error = update(w, inputs[i], targets[i], learning_rate)
        return w, (w, error)

    final, (path, errors) = jax.lax.scan(step, weights, picks)
    return Trace(final, jnp.concatenate([weights[None], path]), picks, errors.astype(jnp.int32))


def train(
    weights: ArrayLike,
    inputs: ArrayLike,
    targets: ArrayLike,
    *,
    key: jax.Array,
    learning_rate: float = 0.2,
    steps: int = 100,
) -> Trace:
    """The seed's training loop: ``steps`` examples picked at random, one update each.

    Runs as one jitted :func:`jax.lax.scan` (one compilation per ``steps`` and data shape).

    Args:
      weights: the start ``[D]``.
      inputs: examples ``[N, D]`` (add the bias input first, see :func:`add_bias`).
      targets: ``[N]`` labels, each 0 or 1.
      key: PRNG key for the random picks.
      learning_rate: finite and positive (the seed uses 0.2).
      steps: number of picks, at least 1 (the seed uses 100).

    Returns:
      A :class:`Trace`: final weights, the whole weight path, the picks and the errors.

    Raises:
      ValueError: on bad shapes, non-binary targets, non-finite data or bad settings.
    """
    require_positive_float("learning rate", learning_rate)
    require_positive_int("steps", steps)
    weights, inputs, targets = check_data(weights, inputs, targets)
    return _train(weights, inputs, targets, key, learning_rate, steps)


@jax.jit
def _train_epochs(weights, inputs, targets, learning_rate, max_epochs):
    def one_pass(w):
        def step(w, example):
            w, error = update(w, *example, learning_rate)
            return w, error != 0

        w, wrong = jax.lax.scan(step, w, (inputs, targets))
        return w, jnp.sum(wrong, dtype=jnp.int32)

    def keep_going(state):
        _, epoch, _, last, _ = state
        return (epoch < max_epochs) & (last != 0)

    def body(state):
        w, epoch, total, _, _ = state
        w, wrong = one_pass(w)
        return w, epoch + 1, total + wrong, wrong, wrong == 0

    zero = jnp.zeros((), jnp.int32)
    state = (weights, zero, zero, jnp.ones((), jnp.int32), jnp.zeros((), bool))
    return EpochResult(*jax.lax.while_loop(keep_going, body, state))


def train_until_converged(
    weights: ArrayLike,
    inputs: ArrayLike,
    targets: ArrayLike,
    *,
    learning_rate: float = 0.2,
    max_epochs: int = 1000,
) -> EpochResult:
    """The classical perceptron: cycle through the data in order until a pass makes no mistake.

    Data that is not linearly separable (XOR) never gets a clean pass: training stops after
    ``max_epochs`` passes with ``converged`` False. That is an answer, not an error.

    Args:
      weights: the start ``[D]`` (Novikoff's bound assumes zeros).
      inputs: examples ``[N, D]``; targets: ``[N]`` labels 0 or 1.
      learning_rate: finite and positive.
      max_epochs: the cap on passes over the data, at least 1.

    Returns:
      An :class:`EpochResult` (one ``jax.lax.while_loop``; the cap does not trigger recompiles).
    """
    require_positive_float("learning rate", learning_rate)
    require_positive_int("max_epochs", max_epochs)
    weights, inputs, targets = check_data(weights, inputs, targets)
    return _train_epochs(weights, inputs, targets, learning_rate, max_epochs)


# --------------------------------------------------------------------------------------------
# The perceptron criterion: the learning rule as gradient descent


def signed_labels(targets: ArrayLike) -> jax.Array:
    """Labels 0/1 as -1/+1: ``y = 2 t - 1``."""
    return 2 * jnp.asarray(targets) - 1


def perceptron_criterion(weights: ArrayLike, inputs: ArrayLike, labels: ArrayLike) -> jax.Array:
    """``J(w) = sum_i max(0, -y_i w . x_i)`` for ``inputs`` ``[N, D]`` and labels ``y`` ``[N]`` +-1.

    Zero on correctly classified points, the distance-like ``-y w . x`` on the others.
    """
    margins = jnp.asarray(labels) * weighted_sum(weights, inputs)
    return jnp.sum(jnp.maximum(0.0, -margins))


def perceptron_criterion_grad(
    weights: ArrayLike, inputs: ArrayLike, labels: ArrayLike
) -> jax.Array:
    """Gradient of :func:`perceptron_criterion` by hand: ``-sum_{i: y_i w.x_i < 0} y_i x_i``.

    Undefined on the kink ``w . x_i = 0``; stay off it when comparing with autodiff.
    """
    labels = jnp.asarray(labels)
    wrong = labels * weighted_sum(weights, inputs) < 0
    return -(jnp.where(wrong, labels, 0) @ jnp.asarray(inputs))


def batch_update(
    weights: ArrayLike, inputs: ArrayLike, targets: ArrayLike, learning_rate: ArrayLike
) -> jax.Array:
    """Rosenblatt's rule summed over a batch: ``w + lr * sum_i (t_i - prediction_i) x_i``.

    Off the kink this equals ``w - lr * grad J(w)`` with ``J`` the :func:`perceptron_criterion`
    of the labels ``2 t - 1``.
    """
    weights = jnp.asarray(weights)
    errors = jnp.asarray(targets) - predict(weights, inputs)
    return weights + learning_rate * (errors @ jnp.asarray(inputs))


def _off_the_kink(key: jax.Array, num_points: int, dim: int):
    """Random weights, inputs and +-1 labels with every ``|w . x| >= |w| / 2`` (no kink)."""
    k_w, k_x, k_y = jax.random.split(key, 3)
    dtype = jnp.result_type(float)
    w = standard_normal(k_w, (dim,), dtype)
    x = standard_normal(k_x, (num_points, dim), dtype)
    side = jnp.where(x @ w < 0, -1.0, 1.0)
    x = x + 0.5 * side[:, None] * (w / jnp.linalg.norm(w))[None, :]
    y = jnp.where(jax.random.bernoulli(k_y, 0.5, (num_points,)), 1, -1)
    return w, x, y


def gradient_checks(*, key: jax.Array) -> list[GradCheck]:
    """The criterion's hand gradient, and Rosenblatt's rule as ``-grad / lr``, both checked.

    Random weights and points (about half of them misclassified), pushed off the kink.
    """
    w, x, y = _off_the_kink(key, 16, 3)
    t = (y + 1) // 2
    lr = 0.2

    def criterion(v):
        return perceptron_criterion(v, x, y)

    return [
        check_gradient(
            "perceptron: criterion gradient",
            criterion,
            lambda v: perceptron_criterion_grad(v, x, y),
            w,
        ),
        check_gradient(
            "perceptron: update = -lr * gradient",
            criterion,
            lambda v: (v - batch_update(v, x, t, lr)) / lr,
            w,
        ),
    ]


# --------------------------------------------------------------------------------------------
# The seed's experiment


def seed_printout(weights: ArrayLike, inputs: ArrayLike) -> list[str]:
    """What the seed's printing loop meant: ``"[x1 x2]: weighted sum -> prediction"`` per input.

    ``inputs`` are ``[N, D]`` rows with the bias input last (it is not printed).
    """
    weights, inputs = _float_array(weights), _float_array(inputs)
    sums = np.asarray(weighted_sum(weights, inputs))
    outputs = np.asarray(predict(weights, inputs)).astype(int)
    return [
        f"{np.asarray(x[:-1]).astype(int)}: {s} -> {o}"
        for x, s, o in zip(inputs, sums, outputs, strict=True)
    ]


@dataclasses.dataclass(frozen=True)
class Config:
    """Seed 000's perceptron: random start in [0, 1), lr 0.2, 100 random picks."""

    gate: Gate = dataclasses.field(default="or", metadata={"help": "logic gate to learn"})
    steps: int = dataclasses.field(
        default=100, metadata={"bounds": STEPS, "help": "number of random picks"}
    )
    learning_rate: float = dataclasses.field(
        default=0.2,
        metadata={"ceiling": LEARNING_RATE_CEILING, "help": "step size", "flag": "--lr"},
    )
    seed: int = dataclasses.field(
        default=0, metadata={"bounds": SEED, "help": "PRNG seed (start and picks)"}
    )
    max_epochs: int = dataclasses.field(
        default=100,
        metadata={"bounds": EPOCHS, "help": "cap on passes for the train-until-converged run"},
    )

    def __post_init__(self):
        check_limits(self)
        if self.gate not in GATE_TARGETS:
            raise ValueError(f"unknown gate {self.gate!r}; choose one of {', '.join(GATE_TARGETS)}")
        require_positive_int("steps", self.steps)
        require_positive_float("learning rate", self.learning_rate)
        require_positive_int("max_epochs", self.max_epochs)
        require_int("seed", self.seed)


def run(config: Config = Config()) -> Report:
    """Train on ``config.gate`` the seed's way, then the epoch way from the same start.

    ``converged`` means the trained weights classify all four points (a pass over the data
    would make no mistake). The result also holds the mistake trace and the epoch-style run.
    """
    data = gate_data(config.gate)
    key_init, key_picks, key_checks = jax.random.split(jax.random.key(config.seed), 3)
    start = init_weights(key=key_init)
    trace = train(
        start,
        data.inputs,
        data.targets,
        key=key_picks,
        learning_rate=config.learning_rate,
        steps=config.steps,
    )
    correct = int(jnp.sum(predict(trace.weights, data.inputs) == data.targets))
    converged = correct == len(GATE_INPUTS)
    epochs = train_until_converged(
        start,
        data.inputs,
        data.targets,
        learning_rate=config.learning_rate,
        max_epochs=config.max_epochs,
    )
    verdict = "converged" if converged else "not converged"
    headline = (
        f"{config.gate.upper()}: {correct}/4 correct after {config.steps} random picks ({verdict})"
    )
    return Report(
        milestone="perceptron",
        config=config,
        result={
            "gate": config.gate,
            "weights": trace.weights,
            "accuracy": correct / len(GATE_INPUTS),
            "converged": converged,
            "mistakes": trace.mistakes,
            "predictions": predict(trace.weights, data.inputs).astype(jnp.int32),
            "targets": data.targets,
            "start": start,
            "errors": trace.errors,
            "epoch_training": {
                "converged": bool(epochs.converged),
                "epochs": int(epochs.epochs),
                "mistakes": int(epochs.mistakes),
                "weights": epochs.weights,
            },
        },
        checks=gradient_checks(key=key_checks),
        headline=headline,
        plot_data={"path": trace.path},
    )


def plot(report: Report):
    """The gate's four points coloured by label, the learned decision line and region."""
    from jaxdl.plotting import new_figure

    result = report.result
    w = np.asarray(result["weights"], dtype=float)
    targets = np.asarray(result["targets"])
    points = np.asarray(GATE_INPUTS, dtype=float)
    fig, ax = new_figure(size=(4.6, 4.2))
    lo, hi = -0.5, 1.5
    grid = np.linspace(lo, hi, 201)
    g1, g2 = np.meshgrid(grid, grid)
    fires = (w[0] * g1 + w[1] * g2 + w[2] >= 0).astype(float)
    ax.contourf(g1, g2, fires, levels=[-0.5, 0.5, 1.5], colors=["tab:blue", "tab:red"], alpha=0.12)
    if abs(w[1]) >= abs(w[0]) and w[1] != 0:
        ax.plot(grid, -(w[0] * grid + w[2]) / w[1], color="0.2", label="w . [x1, x2, 1] = 0")
    elif w[0] != 0:
        ax.plot(-(w[1] * grid + w[2]) / w[0], grid, color="0.2", label="w . [x1, x2, 1] = 0")
    for label, color in ((0, "tab:blue"), (1, "tab:red")):
        chosen = points[targets == label]
        ax.scatter(
            chosen[:, 0], chosen[:, 1], s=90, color=color, edgecolor="k", label=f"target {label}"
        )
    wrong = np.asarray(result["predictions"]) != targets
    if wrong.any():
        ax.scatter(
            points[wrong, 0], points[wrong, 1], s=260, facecolor="none", edgecolor="k",
            linewidth=1.5, label="misclassified",
        )  # fmt: skip
    verdict = "converged" if result["converged"] else "not converged"
    ax.set(
        xlim=(lo, hi),
        ylim=(lo, hi),
        xlabel="x1",
        ylabel="x2",
        aspect="equal",
        title=f"Perceptron on {result['gate'].upper()}: {verdict} "
        f"({round(4 * result['accuracy'])}/4)",
    )
    ax.legend(loc="upper left", fontsize="small")
    return fig


__all__ = [
    "GATE_INPUTS",
    "GATE_TARGETS",
    "Config",
    "EpochResult",
    "GateData",
    "Trace",
    "accuracy",
    "add_bias",
    "batch_update",
    "check_data",
    "gate_data",
    "gradient_checks",
    "init_weights",
    "perceptron_criterion",
    "perceptron_criterion_grad",
    "plot",
    "predict",
    "run",
    "seed_printout",
    "signed_labels",
    "train",
    "train_until_converged",
    "update",
    "weighted_sum",
]
