"""Linear regression (the experimental economists of the 1950s).

Least squares plus gradient descent is linear regression; in the 1950s and 60s economists ran
it from punched cards, a day per regression. The seed fits the price of bread to the price of
wheat: its ``step_gradient`` sums ``-(2/N) (y - (m x + b))`` and ``-(2/N) x (y - (m x + b))``
(the hand gradient of the mean squared error, :func:`jaxdl.milestones.least_squares.line_error_grad`)
and moves ``(b, m)`` against them. From ``(b, m) = (1, 1)`` with ``lr = 0.01``, 100 steps reach
b = 3.304462..., m = 2.966063... (MSE 0.11706): not yet the least-squares line (b = 4.107299...,
m = 2.218978..., MSE 0.034745), which the same descent reaches after about 1e5 steps.

Here the seed's loop is one :func:`jax.lax.scan` returning the whole trajectory; the same fit
runs through any ``optax`` optimizer (:func:`jaxdl.optim.gradient_descent` or ``optax.sgd``, with
``jax.grad`` for the gradient) and gives the same trajectory.

Seed 001 adds the multivariate version trained one sample at a time (stochastic gradient
descent) until the cost stops changing. Its printed code has two bugs: the cost loop reads the
stale index ``i`` instead of its own ``lp`` (so the "cost" is one sample's error, five times),
and ``if abs(error1-error0) epsilon`` lost its ``<``. Fixed (cost over all samples, stop when
``|error1 - error0| < epsilon``), it stops after 2608 passes at theta = (97.72, -13.22, 1.34),
near but not at the least-squares (98.104, -13.029, 1.133): a constant step stops near the
optimum. :func:`sgd_until_converged` runs it as one :func:`jax.lax.while_loop`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.typing import ArrayLike

from jaxdl.errors import DivergenceError, first_non_finite
from jaxdl.gradcheck import GradCheck, check_gradient, standard_normal
from jaxdl.milestones import Milestone
from jaxdl.milestones import least_squares as ls
from jaxdl.milestones.least_squares import Line
from jaxdl.report import Report
from jaxdl.training import trainer
from jaxdl.validate import (
    LEARNING_RATE_CEILING,
    STEPS,
    check_limits,
    require_positive_float,
    require_positive_int,
)

MILESTONE = Milestone(
    "linear-regression",
    1950,
    "(1950s)",
    "fit a line by gradient descent",
)

# --- The seed's step, on the device ------------------------------------------------------------


def step_gradient(line: Line, points: ArrayLike, learning_rate: float) -> Line:
    """One step of the seed's ``step_gradient``: ``(b, m) <- (b, m) - lr * grad MSE(b, m)``.

    The gradient is the hand-derived :func:`~jaxdl.milestones.least_squares.line_error_grad`.
    """
    d_b, d_m = ls.line_error_grad(line.b, line.m, points)
    return Line(b=line.b - learning_rate * d_b, m=line.m - learning_rate * d_m)


class FitPath(NamedTuple):
    """A gradient-descent trajectory: the start, then the line after each step."""

    b: jax.Array  # [steps + 1] intercepts
    m: jax.Array  # [steps + 1] slopes
    mse: jax.Array  # [steps + 1] mean squared error of each line

    @property
    def final(self) -> Line:
        return Line(b=self.b[-1], m=self.m[-1])


@functools.partial(jax.jit, static_argnames="steps")
def _fit_path(points: jax.Array, start: Line, learning_rate: jax.Array, steps: int) -> FitPath:
    def step(line, _):
        d_b, d_m = ls._line_error_grad(line.b, line.m, points)
        line = Line(b=line.b - learning_rate * d_b, m=line.m - learning_rate * d_m)
        return line, line

    _, lines = jax.lax.scan(step, start, length=steps)
    return _with_start(points, start, lines)


def _with_start(points: jax.Array, start: Line, lines: Line) -> FitPath:
    b = jnp.concatenate([start.b[None], lines.b])
    m = jnp.concatenate([start.m[None], lines.m])
    mse = jax.vmap(ls._line_error, in_axes=(0, 0, None))(b, m, points)
    return FitPath(b=b, m=m, mse=mse)


def _finite_points(points: ArrayLike) -> jax.Array:
    points = ls.as_points(points)
    if not np.isfinite(np.asarray(points)).all():
        raise ValueError("points must be finite; they contain NaN or infinity")
    return points


def _start_line(start: tuple[float, float] | Line) -> Line:
    b, m = start
    dtype = jnp.result_type(float)
    return Line(b=jnp.asarray(b, dtype), m=jnp.asarray(m, dtype))


def _check_diverged(path: FitPath) -> FitPath:
    """Raise :class:`DivergenceError` if the descent blew up, else return ``path``.

    On a quadratic like the MSE, a step below ``2 / L`` (``L`` the largest curvature) never
    raises the error, so an error above the starting one means the step is too big even while
    the numbers are still finite.
    """
    bad_step = first_non_finite(jnp.stack([path.b, path.m, path.mse], axis=1))
    mse = np.asarray(path.mse)
    rose = mse > mse[0] + 1e-9 * (1 + mse[0])
    rise_step = int(np.argmax(rose)) if rose.any() else None
    if bad_step is not None and (rise_step is None or bad_step <= rise_step):
        raise DivergenceError("(b, m)", bad_step)
    if rise_step is not None:
        raise DivergenceError("mse", rise_step, reason="rose above its starting value")
    return path


def fit(
    points: ArrayLike,
    *,
    start: tuple[float, float] | Line = (1.0, 1.0),
    learning_rate: float,
    steps: int,
) -> FitPath:
    """The seed's ``gradient_descent_runner``: ``steps`` gradient steps on the line's MSE.

    Args:
      points: ``[N, 2]`` rows ``(x, y)``.
      start: the starting ``(b, m)``.
      learning_rate: step size, finite and positive.
      steps: number of steps, at least 1.

    Returns:
      The trajectory, :class:`FitPath` with arrays ``[steps + 1]``.

    Raises:
      DivergenceError: if ``b``, ``m`` or the error becomes non-finite, or the error rises above
        its starting value (with the first such step).
      ValueError: on bad points, a non-positive learning rate or step count.
    """
    require_positive_float("learning rate", learning_rate)
    require_positive_int("steps", steps)
    points = _finite_points(points)
    path = _fit_path(points, _start_line(start), jnp.asarray(learning_rate, points.dtype), steps)
    return _check_diverged(path)


def fit_with_optimizer(
    points: ArrayLike,
    optimizer: optax.GradientTransformation,
    *,
    start: tuple[float, float] | Line = (1.0, 1.0),
    steps: int,
) -> FitPath:
    """The same fit through an ``optax`` optimizer, with the gradient from :func:`jax.grad`.

    With :func:`jaxdl.optim.gradient_descent` or ``optax.sgd`` at the same learning rate it
    follows the same trajectory as :func:`fit` (the tests prove it). Compiles once per call.
    """
    require_positive_int("steps", steps)
    points = _finite_points(points)
    start = _start_line(start)
    run = trainer.train(_line_error_and_line, start, optimizer, trainer.fixed(points), steps=steps,
                        has_aux=True)  # fmt: skip
    lines = jax.tree.map(lambda before, last: jnp.concatenate([before[1:], last[None]]),
                         Line(*map(jnp.asarray, run.aux)), run.state.params)  # fmt: skip
    return _check_diverged(_with_start(points, start, lines))


def _line_error_and_line(line: Line, points: jax.Array) -> tuple[jax.Array, Line]:
    """The seed's error of ``line``, and the line itself (so the trainer returns the path)."""
    return ls._line_error(line.b, line.m, points), line


# --- Seed 001: several features, one sample at a time, until the cost settles -----------------


def sample_gradient(theta: ArrayLike, x: ArrayLike, y: ArrayLike) -> jax.Array:
    """Gradient by hand of one sample's cost ``(y - x . theta)**2 / 2``: ``-(y - x . theta) x``.

    Seed 001's update ``theta_j += alpha * diff * x_j`` is ``theta -= alpha * sample_gradient``.

    Args:
      theta: parameters ``[F]``.
      x: one sample's features ``[F]``.
      y: its target, a scalar.
    """
    theta, x, y = jnp.asarray(theta), jnp.asarray(x), jnp.asarray(y)
    return -(y - x @ theta) * x


def sample_cost(theta: ArrayLike, x: ArrayLike, y: ArrayLike) -> jax.Array:
    """One sample's cost ``(y - x . theta)**2 / 2`` (seed 001 sums it over the samples)."""
    theta, x, y = jnp.asarray(theta), jnp.asarray(x), jnp.asarray(y)
    return (y - x @ theta) ** 2 / 2


class SGDResult(NamedTuple):
    """Outcome of :func:`sgd_until_converged`."""

    theta: jax.Array  # [F] parameters when it stopped
    passes: int  # passes over the data (the seed's cnt)
    error: float  # cost sum((y - X theta)**2) / 2 over all samples when it stopped
    converged: bool  # False if it stopped at max_passes instead


class _SGDState(NamedTuple):
    theta: jax.Array  # [F]
    error0: jax.Array  # [] cost after the previous pass
    error1: jax.Array  # [] cost after this pass
    passes: jax.Array  # [] passes so far


@functools.partial(jax.jit, static_argnames="max_passes")
def _sgd_loop(x, y, learning_rate, epsilon, max_passes: int) -> _SGDState:
    def one_pass(theta):
        def sample_step(theta, sample):
            xi, yi = sample
            return theta - learning_rate * sample_gradient(theta, xi, yi), None

        theta, _ = jax.lax.scan(sample_step, theta, (x, y))
        return theta

    def cost(theta):
        return jnp.sum((y - x @ theta) ** 2) / 2  # every sample (the seed read a stale index)

    def keep_going(state: _SGDState) -> jax.Array:
        changing = jnp.abs(state.error1 - state.error0) >= epsilon
        finite = jnp.isfinite(state.error1) & jnp.all(jnp.isfinite(state.theta))
        return (state.passes == 0) | (changing & finite & (state.passes < max_passes))

    def body(state: _SGDState) -> _SGDState:
        theta = one_pass(state.theta)
        return _SGDState(theta, state.error1, cost(theta), state.passes + 1)

    zero = jnp.zeros([], x.dtype)
    start = _SGDState(jnp.zeros(x.shape[1], x.dtype), zero, zero, jnp.zeros([], jnp.int32))
    return jax.lax.while_loop(keep_going, body, start)


def sgd_until_converged(
    x: ArrayLike,
    y: ArrayLike,
    *,
    learning_rate: float = 0.01,
    epsilon: float = 1e-4,
    max_passes: int = 100_000,
) -> SGDResult:
    """Seed 001's per-sample gradient descent with its stopping rule, bugs fixed.

    Starting from ``theta = 0``, each pass visits the samples in order and applies
    ``theta <- theta + learning_rate * (y_i - x_i . theta) x_i``; after each pass the cost
    ``sum((y - X theta)**2) / 2`` over all samples is compared with the previous pass's (0
    before the first) and the loop stops when they differ by less than ``epsilon``.

    Args:
      x: design matrix ``[N, F]`` (seed 001 puts a column of ones first).
      y: targets ``[N]``.
      learning_rate: the seed's ``alpha``.
      epsilon: stop when the cost changes by less than this.
      max_passes: give up (``converged=False``) after this many passes.

    Raises:
      DivergenceError: if theta or the cost becomes non-finite (with the pass number).
      ValueError: on bad shapes or settings.
    """
    require_positive_float("learning rate", learning_rate)
    require_positive_float("epsilon", epsilon)
    require_positive_int("max_passes", max_passes)
    x, y = ls.as_design(x, y)
    state = _sgd_loop(x, y, jnp.asarray(learning_rate, x.dtype), epsilon, max_passes)
    passes = int(state.passes)
    error1 = float(state.error1)
    if not (math.isfinite(error1) and np.isfinite(np.asarray(state.theta)).all()):
        raise DivergenceError("theta", passes)
    converged = abs(error1 - float(state.error0)) < epsilon
    return SGDResult(theta=state.theta, passes=passes, error=error1, converged=converged)


# --- The milestone interface ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Config:
    """The seed's wheat/bread regression by gradient descent."""

    steps: int = dataclasses.field(
        default=100, metadata={"bounds": STEPS, "help": "number of descent steps"}
    )
    learning_rate: float = dataclasses.field(
        default=0.01,
        metadata={"ceiling": LEARNING_RATE_CEILING, "help": "step size", "flag": "--lr"},
    )
    start_b: float = dataclasses.field(default=1.0, metadata={"help": "starting intercept b"})
    start_m: float = dataclasses.field(default=1.0, metadata={"help": "starting slope m"})

    def __post_init__(self):
        check_limits(self)
        require_positive_int("steps", self.steps)
        require_positive_float("learning rate", self.learning_rate)
        for name in ("start_b", "start_m"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"{name} must be finite, got {value!r}")


def _line_check(name: str, points: jax.Array, line: jax.Array) -> GradCheck:
    return check_gradient(
        name,
        lambda p: ls.line_error(p[0], p[1], points),
        lambda p: jnp.stack(ls.line_error_grad(p[0], p[1], points)),
        line,
    )


def _sample_check(name: str, theta: jax.Array, x: jax.Array, y: jax.Array) -> GradCheck:
    return check_gradient(
        name, lambda t: sample_cost(t, x, y), lambda t: sample_gradient(t, x, y), theta
    )


def gradient_checks(*, key: jax.Array) -> list[GradCheck]:
    """The step gradient and seed 001's per-sample gradient vs ``jax.grad`` vs finite differences."""
    k_points, k_line, k_theta, k_x, k_y = jax.random.split(key, 5)
    return [
        _line_check(
            "linear-regression: step_gradient",
            standard_normal(k_points, (11, 2)),
            standard_normal(k_line, (2,)),
        ),
        _sample_check(
            "linear-regression: sample_gradient",
            standard_normal(k_theta, (3,)),
            standard_normal(k_x, (3,)),
            standard_normal(k_y, ()),
        ),
    ]


def run(config: Config = Config()) -> Report:
    """Fit the wheat/bread line by gradient descent and compare with least squares; run seed
    001's per-sample descent too."""
    points = ls.as_points(ls.WHEAT_AND_BREAD)
    path = fit(
        points,
        start=(config.start_b, config.start_m),
        learning_rate=config.learning_rate,
        steps=config.steps,
    )
    best = ls.fit_line(points)
    best_mse = float(ls.line_error(best.b, best.m, points))
    b, m, mse = float(path.b[-1]), float(path.m[-1]), float(path.mse[-1])
    x001, y001 = ls.as_design(ls.SEED_001_X, ls.SEED_001_Y)
    sgd = sgd_until_converged(x001, y001)
    theta_ls = ls.solve(x001, y001)
    return Report(
        milestone="linear-regression",
        config=config,
        result={
            "b": b,
            "m": m,
            "mse": mse,
            "start_mse": float(path.mse[0]),
            "least_squares": {"b": float(best.b), "m": float(best.m), "mse": best_mse},
            "distance_to_least_squares": max(abs(b - float(best.b)), abs(m - float(best.m))),
            "seed_001_sgd": {
                "passes": sgd.passes,
                "theta": [float(t) for t in sgd.theta],
                "error": sgd.error,
                "converged": sgd.converged,
                "least_squares_theta": [float(t) for t in theta_ls],
            },
        },
        checks=[
            _line_check("step_gradient at the start", points, jnp.stack([path.b[0], path.m[0]])),
            _line_check("step_gradient at the end", points, jnp.stack([path.b[-1], path.m[-1]])),
            _sample_check(
                "sample_gradient at seed 001's first sample", sgd.theta, x001[0], y001[0]
            ),
        ],
        headline=(
            f"b = {b:.6f}, m = {m:.6f}, MSE {mse:.5f} after {config.steps} steps "
            f"(least squares b = {float(best.b):.6f}, m = {float(best.m):.6f})"
        ),
        plot_data={
            "points": np.asarray(points),
            "line": (b, m),
            "least_squares": (float(best.b), float(best.m), best_mse),
            "mse": np.asarray(path.mse),
        },
    )


def plot(report: Report):
    """Left: the data, the fitted line and the least-squares line. Right: the MSE per step."""
    from jaxdl.plotting import new_figure

    data = report.plot_data
    points = data["points"]
    b, m = data["line"]
    best_b, best_m, best_mse = data["least_squares"]
    xs = np.linspace(points[:, 0].min() - 0.1, points[:, 0].max() + 0.1, 2)
    fig, (left, right) = new_figure(2)
    left.plot(points[:, 0], points[:, 1], "o", color="tab:blue", label="data")
    steps = len(data["mse"]) - 1
    left.plot(xs, m * xs + b, color="tab:orange", label=f"descent, {steps} steps")
    left.plot(xs, best_m * xs + best_b, "--", color="tab:green", label="least squares")
    left.set(xlabel="price of wheat per kg", ylabel="price of bread", title="Linear regression")
    left.legend()
    right.semilogy(np.arange(steps + 1), data["mse"], color="tab:orange", label="descent")
    right.axhline(best_mse, ls="--", color="tab:green", label="least-squares minimum")
    right.set(xlabel="step", ylabel="mean squared error", title="Error along the descent")
    right.legend()
    return fig
