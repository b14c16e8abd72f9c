"""Gradient descent (Peter Debye, 1909).

Debye approximated an integral by walking towards the saddle point of its integrand; the seed
tells the idea with a curve, ``error(x) = x**5 - 2 x**3 - 2``, and its slope worked out by hand,
``slope(x) = 5 x**4 - 6 x**2``. Starting at 0.5 and repeating ``x <- x - lr * slope(x)`` with
``lr = 0.01`` for 60 steps reaches x = 1.092837..., close to the true local minimum
``sqrt(6/5) = 1.095445...`` (where the slope ``x**2 (5 x**2 - 6)`` vanishes).

The seed's Python loop becomes one :func:`jax.lax.scan` inside one ``jit``, returning the whole
path; a step size that blows up is reported as a :class:`~jaxdl.errors.DivergenceError` naming
the step, never printed as a result.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxdl.errors import DivergenceError, first_non_finite
from jaxdl.gradcheck import GradCheck, check_gradient
from jaxdl.milestones import Milestone
from jaxdl.report import Report
from jaxdl.validate import (
    LEARNING_RATE_CEILING,
    STEPS,
    check_limits,
    require_positive_float,
    require_positive_int,
)

MILESTONE = Milestone(
    "gradient-descent",
    1909,
    "Debye",
    "walk downhill along the slope",
)

#: Where Debye's curve has its local minimum: the slope x**2 (5 x**2 - 6) is zero there.
LOCAL_MINIMUM = math.sqrt(6 / 5)


def debye_error(x: ArrayLike) -> jax.Array:
    """The seed's error curve ``x**5 - 2 x**3 - 2`` (elementwise)."""
    x = jnp.asarray(x)
    return x**5 - 2 * x**3 - 2


def debye_slope(x: ArrayLike) -> jax.Array:
    """Its slope by hand: ``d/dx (x**5 - 2 x**3 - 2) = 5 x**4 - 6 x**2``."""
    x = jnp.asarray(x)
    return 5 * x**4 - 6 * x**2


@functools.partial(jax.jit, static_argnames=("slope", "steps"))
def _descent_path(slope: Callable, x0: jax.Array, learning_rate: float, steps: int) -> jax.Array:
    def step(x, _):
        x = x - learning_rate * slope(x)
        return x, x

    _, xs = jax.lax.scan(step, x0, length=steps)
    return jnp.concatenate([x0[None], xs])


def descend(
    slope: Callable[[jax.Array], jax.Array],
    x0: ArrayLike,
    *,
    learning_rate: float,
    steps: int,
) -> jax.Array:
    """Repeat ``x <- x - learning_rate * slope(x)`` ``steps`` times, on the device.

    Args:
      slope: the derivative (or gradient) of the function to minimise; pass a function object
        that stays the same between calls, or each call compiles anew.
      x0: the starting point, a scalar or an array.
      learning_rate: step size, finite and positive.
      steps: number of updates, at least 1.

    Returns:
      The path ``[steps + 1, *x0.shape]``: the start, then the point after each step.

    Raises:
      DivergenceError: if any point of the path is not finite (with the first such step).
      ValueError: on a non-positive learning rate or step count.
    """
    require_positive_float("learning rate", learning_rate)
    require_positive_int("steps", steps)
    x0 = jnp.asarray(x0, dtype=jnp.result_type(float))
    path = _descent_path(slope, x0, learning_rate, steps)
    bad_step = first_non_finite(path)
    if bad_step is not None:
        raise DivergenceError("x", bad_step)
    return path


@functools.cache
def _grad_of(fn: Callable) -> Callable:
    # One gradient function per objective, so repeated minimisations reuse the compiled scan.
    return jax.grad(fn)


def minimize(
    fn: Callable[[jax.Array], jax.Array], x0: ArrayLike, *, learning_rate: float, steps: int
) -> jax.Array:
    """Gradient descent on any scalar function, with the slope from :func:`jax.grad`.

    Same contract as :func:`descend`; returns the path.
    """
    return descend(_grad_of(fn), x0, learning_rate=learning_rate, steps=steps)


@dataclasses.dataclass(frozen=True)
class Config:
    """Debye's descent as the seed runs it."""

    start: float = dataclasses.field(default=0.5, metadata={"help": "starting point x0"})
    learning_rate: float = dataclasses.field(
        default=0.01,
        metadata={"ceiling": LEARNING_RATE_CEILING, "help": "step size", "flag": "--lr"},
    )
    steps: int = dataclasses.field(
        default=60, metadata={"bounds": STEPS, "help": "number of descent steps"}
    )

    def __post_init__(self):
        check_limits(self)
        require_positive_float("learning rate", self.learning_rate)
        require_positive_int("steps", self.steps)
        if not math.isfinite(self.start):
            raise ValueError(f"start must be finite, got {self.start!r}")


def gradient_checks(*, key: jax.Array) -> list[GradCheck]:
    """Debye's hand slope vs ``jax.grad`` vs finite differences at random points in [-2, 2]."""
    x = jax.random.uniform(key, (32,), minval=-2.0, maxval=2.0)
    return [check_gradient("gradient-descent: debye_slope", _total_error, debye_slope, x)]


def _total_error(x: jax.Array) -> jax.Array:
    return jnp.sum(debye_error(x))


def run(config: Config = Config()) -> Report:
    """Descend Debye's curve; the result holds the final ``x`` and ``error`` and the whole path."""
    path = descend(
        debye_slope, config.start, learning_rate=config.learning_rate, steps=config.steps
    )
    x = float(path[-1])
    return Report(
        milestone="gradient-descent",
        config=config,
        result={
            "x": x,
            "error": float(debye_error(x)),
            "local_minimum": LOCAL_MINIMUM,
            "distance_to_minimum": abs(x - LOCAL_MINIMUM),
            "path": path,
        },
        checks=[check_gradient("debye_slope along the path", _total_error, debye_slope, path)],
        headline=f"x = {x:.6f} after {config.steps} steps (minimum sqrt(6/5) = {LOCAL_MINIMUM:.6f})",
    )


def plot(report: Report):
    """Debye's curve with the descent path drawn on it."""
    import numpy as np

    from jaxdl.plotting import new_figure

    path = np.asarray(report.result["path"])
    lo, hi = min(path.min(), -0.6) - 0.1, max(path.max(), LOCAL_MINIMUM) + 0.3
    xs = np.linspace(lo, hi, 400)
    fig, ax = new_figure()
    ax.plot(xs, np.asarray(debye_error(xs)), color="0.3", label="error(x) = x^5 - 2x^3 - 2")
    ax.plot(path, np.asarray(debye_error(path)), "o-", ms=3, color="tab:orange", label="descent")
    ax.axvline(LOCAL_MINIMUM, ls=":", color="tab:green", label="sqrt(6/5)")
    ax.set(xlabel="x", ylabel="error", title=f"Debye's descent, {len(path) - 1} steps")
    ax.legend()
    return fig
