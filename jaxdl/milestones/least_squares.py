"""Least squares (Adrien-Marie Legendre, 1805).

Legendre fitted comet orbits by choosing the parameters that make the sum of squared errors as
small as possible. The seed writes his criterion for a line ``y = m x + b`` as a Python loop,
``compute_error_for_line_given_points(b, m, coordinates)``: the mean of ``(y - (m x + b))**2``,
which is 22.0 for ``(1, 2, [[3, 6], [6, 9], [12, 18]])``. Here it is :func:`line_error`, one
vectorised, jitted expression, with its gradient worked out by hand beside it.

For a line, or any model linear in its parameters ``theta`` (a design matrix ``X`` ``[N, F]``
with a column of ones for the intercept), the minimum has a closed form: the solution of the
normal equations ``X^T X theta = X^T y``. :func:`solve` computes it from the singular value
decomposition and refuses rank-deficient input (a ``ValueError`` reporting the rank) instead of
returning one of infinitely many minimisers as if it were *the* answer. At the solution the
gradient vanishes and, the error being a convex quadratic, no other point is lower: the tests
check both with Hypothesis, and :func:`run` checks the second at random nearby points.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxdl.gradcheck import GradCheck, check_gradient, standard_normal
from jaxdl.milestones import Milestone
from jaxdl.report import Report
from jaxdl.validate import SEED, check_limits, require_int, require_positive_int

MILESTONE = Milestone(
    "least-squares",
    1805,
    "Legendre",
    "fit a line by minimising squared error",
)

#: The seed's example for the error function: ``line_error(1, 2, SEED_EXAMPLE)`` is 22.0.
SEED_EXAMPLE = ((3.0, 6.0), (6.0, 9.0), (12.0, 18.0))

#: Seed 000's data: price of wheat per kg (x) and the average price of bread (y).
WHEAT_AND_BREAD = ((0.5, 5.0), (0.6, 5.5), (0.8, 6.0), (1.1, 6.8), (1.4, 7.0))

#: Seed 001's multivariate regression: rows ``(x0 = 1, x1, x2)`` of the design matrix ...
SEED_001_X = ((1.0, 0.0, 3.0), (1.0, 1.0, 3.0), (1.0, 2.0, 3.0), (1.0, 3.0, 2.0), (1.0, 4.0, 4.0))
#: ... and the outputs ``y``.
SEED_001_Y = (95.364, 97.217205, 75.195834, 60.105519, 49.342380)


class Line(NamedTuple):
    """A line ``y = m x + b``; also the parameters that linear regression learns."""

    b: jax.Array  # [] intercept
    m: jax.Array  # [] slope


def _float() -> jnp.dtype:
    return jnp.result_type(float)


def as_points(points: ArrayLike) -> jax.Array:
    """``points`` as a float array ``[N, 2]`` of ``(x, y)`` rows; ``ValueError`` otherwise."""
    points = jnp.asarray(points, dtype=_float())
    if points.ndim != 2 or points.shape[1] != 2 or points.shape[0] == 0:
        raise ValueError(
            f"points must have shape [N, 2] with N >= 1 (one (x, y) row per point), "
            f"got shape {points.shape}"
        )
    return points


def as_design(x: ArrayLike, y: ArrayLike) -> tuple[jax.Array, jax.Array]:
    """A design matrix ``[N, F]`` and targets ``[N]`` as float arrays; ``ValueError`` naming both
    shapes when they do not fit together."""
    x = jnp.asarray(x, dtype=_float())
    y = jnp.asarray(y, dtype=_float())
    if x.ndim != 2 or y.ndim != 1 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError(
            f"design matrix x must be [N, F] and targets y must be [N] with N >= 1; "
            f"got x of shape {x.shape} and y of shape {y.shape}"
        )
    return x, y


# --- Legendre's criterion for a line, and its gradient by hand ---------------------------------


@jax.jit
def _line_error(b: jax.Array, m: jax.Array, points: jax.Array) -> jax.Array:
    x, y = points[:, 0], points[:, 1]
    return jnp.mean((y - (m * x + b)) ** 2)


def line_error(b: ArrayLike, m: ArrayLike, points: ArrayLike) -> jax.Array:
    """The seed's ``compute_error_for_line_given_points``: ``mean((y - (m x + b))**2)``.

    Args:
      b: intercept, a scalar.
      m: slope, a scalar.
      points: ``[N, 2]`` rows ``(x, y)``.

    Returns:
      The mean squared error of the line over the points, a scalar.
    """
    return _line_error(b, m, as_points(points))


@jax.jit
def _line_error_grad(b: jax.Array, m: jax.Array, points: jax.Array) -> tuple[jax.Array, jax.Array]:
    x, y = points[:, 0], points[:, 1]
    n = points.shape[0]
    residual = y - (m * x + b)
    return -(2 / n) * jnp.sum(residual), -(2 / n) * jnp.sum(x * residual)


def line_error_grad(b: ArrayLike, m: ArrayLike, points: ArrayLike) -> tuple[jax.Array, jax.Array]:
    """Gradient of :func:`line_error` with respect to ``(b, m)``, derived by hand.

    With the residual ``r_i = y_i - (m x_i + b)``, the chain rule gives
    ``d/db = -(2/N) sum(r_i)`` and ``d/dm = -(2/N) sum(x_i r_i)``: exactly the seed's
    ``step_gradient`` sums (``b_gradient += -(2/N) * (y - (m*x + b))`` and so on).

    Returns:
      ``(d_b, d_m)``, two scalars.
    """
    return _line_error_grad(b, m, as_points(points))


# --- The same criterion for several features -----------------------------------------------------


@jax.jit
def _design_mse(theta: jax.Array, x: jax.Array, y: jax.Array) -> jax.Array:
    return jnp.mean((x @ theta - y) ** 2)


def design_mse(theta: ArrayLike, x: ArrayLike, y: ArrayLike) -> jax.Array:
    """Mean squared error ``mean((X theta - y)**2)`` of a linear model.

    Args:
      theta: parameters ``[F]``.
      x: design matrix ``[N, F]`` (a column of ones gives an intercept).
      y: targets ``[N]``.
    """
    x, y = as_design(x, y)
    theta = _check_theta(theta, x)
    return _design_mse(theta, x, y)


@jax.jit
def _design_mse_grad(theta: jax.Array, x: jax.Array, y: jax.Array) -> jax.Array:
    return (2 / x.shape[0]) * (x.T @ (x @ theta - y))


def design_mse_grad(theta: ArrayLike, x: ArrayLike, y: ArrayLike) -> jax.Array:
    """Gradient of :func:`design_mse` by hand: ``(2/N) X^T (X theta - y)``, shape ``[F]``.

    Setting it to zero gives the normal equations ``X^T X theta = X^T y``.
    """
    x, y = as_design(x, y)
    theta = _check_theta(theta, x)
    return _design_mse_grad(theta, x, y)


def _check_theta(theta: ArrayLike, x: jax.Array) -> jax.Array:
    theta = jnp.asarray(theta, dtype=_float())
    if theta.shape != (x.shape[1],):
        raise ValueError(
            f"theta must have shape [F] = ({x.shape[1]},) for a design matrix of shape "
            f"{x.shape}, got shape {theta.shape}"
        )
    return theta


# --- The closed form -----------------------------------------------------------------------------


@jax.jit
def _svd_solve(x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    u, s, vt = jnp.linalg.svd(x, full_matrices=False)
    return vt.T @ ((u.T @ y) / s), s


def matrix_rank(singular_values: ArrayLike, shape: tuple[int, int]) -> int:
    """Numerical rank from singular values, with NumPy's tolerance ``s_max * max(N, F) * eps``."""
    s = np.asarray(singular_values)
    tol = s.max(initial=0.0) * max(shape) * np.finfo(s.dtype).eps
    return int(np.sum(s > tol))


def solve(x: ArrayLike, y: ArrayLike) -> jax.Array:
    """The least-squares parameters: ``argmin_theta mean((X theta - y)**2)``, in closed form.

    Computed as ``theta = V diag(1/s) U^T y`` from the thin SVD ``X = U diag(s) V^T``, which
    solves the normal equations without forming ``X^T X`` (and squaring its condition number).

    Args:
      x: design matrix ``[N, F]``; put a column of ones in it for an intercept.
      y: targets ``[N]``.

    Returns:
      ``theta`` ``[F]``.

    Raises:
      ValueError: on bad shapes, non-finite data, or a rank-deficient design matrix (fewer
        independent columns than columns: the minimiser is not unique). The message reports
        the rank.
    """
    x, y = as_design(x, y)
    if not (np.isfinite(np.asarray(x)).all() and np.isfinite(np.asarray(y)).all()):
        raise ValueError("least squares needs finite data; x or y contains NaN or infinity")
    theta, s = _svd_solve(x, y)
    rank = matrix_rank(s, x.shape)
    if rank < x.shape[1]:
        raise ValueError(
            f"design matrix of shape {x.shape} has rank {rank} < {x.shape[1]} columns: "
            "the least-squares solution is not unique; remove or combine linearly dependent "
            "columns (or add data points)"
        )
    return theta


def design_for_line(points: ArrayLike) -> tuple[jax.Array, jax.Array]:
    """The design matrix ``[N, 2]`` with columns ``(1, x)`` and the targets ``[N]`` of a line fit."""
    points = as_points(points)
    return jnp.stack([jnp.ones_like(points[:, 0]), points[:, 0]], axis=1), points[:, 1]


def fit_line(points: ArrayLike) -> Line:
    """The least-squares line through ``points`` ``[N, 2]``.

    Raises:
      ValueError: if all ``x`` are equal or there is a single point (rank 1: every line through
        the mean fits equally well), or on bad input as :func:`solve` says.
    """
    x, y = design_for_line(points)
    try:
        b, m = solve(x, y)
    except ValueError as error:
        raise ValueError(f"cannot fit a unique line: {error}") from None
    return Line(b=b, m=m)


# --- The milestone interface ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Config:
    """Legendre's fit of the wheat/bread data, checked against random nearby lines."""

    nearby: int = dataclasses.field(
        default=1000,
        metadata={
            "bounds": (1, 100_000),
            "help": "random nearby lines checked to have higher error",
        },
    )
    seed: int = dataclasses.field(
        default=0, metadata={"bounds": SEED, "help": "seed for the nearby lines"}
    )

    def __post_init__(self):
        check_limits(self)
        require_positive_int("nearby", self.nearby)
        require_int("seed", self.seed)


def gradient_checks(*, key: jax.Array) -> list[GradCheck]:
    """Both hand gradients vs ``jax.grad`` vs finite differences at random data and parameters."""
    k_points, k_line, k_x, k_y, k_theta = jax.random.split(key, 5)
    points = standard_normal(k_points, (9, 2))
    line = standard_normal(k_line, (2,))
    x = standard_normal(k_x, (9, 3))
    y = standard_normal(k_y, (9,))
    theta = standard_normal(k_theta, (3,))
    return [
        _line_check("least-squares: line_error_grad", points, line),
        _design_check("least-squares: design_mse_grad", theta, x, y),
    ]


def _line_check(name: str, points: jax.Array, line: jax.Array) -> GradCheck:
    return check_gradient(
        name,
        lambda p: line_error(p[0], p[1], points),
        lambda p: jnp.stack(line_error_grad(p[0], p[1], points)),
        line,
    )


def _design_check(name: str, theta: jax.Array, x: jax.Array, y: jax.Array) -> GradCheck:
    return check_gradient(
        name,
        lambda t: design_mse(t, x, y),
        lambda t: design_mse_grad(t, x, y),
        theta,
    )


def run(config: Config = Config()) -> Report:
    """The seed's error example, the wheat/bread least-squares line and seed 001's fit."""
    seed_error = float(line_error(1, 2, SEED_EXAMPLE))
    wheat = as_points(WHEAT_AND_BREAD)
    line = fit_line(wheat)
    mse = line_error(line.b, line.m, wheat)
    theta = solve(SEED_001_X, SEED_001_Y)

    # No other line is lower: compare with random lines nearby (offsets up to about 1).
    offsets = jax.random.normal(jax.random.key(config.seed), (config.nearby, 2), dtype=mse.dtype)
    nearby = jax.vmap(lambda d: _line_error(line.b + d[0], line.m + d[1], wheat))(offsets)
    solution = jnp.stack([line.b, line.m])
    return Report(
        milestone="least-squares",
        config=config,
        result={
            "seed_example_error": seed_error,
            "solution": {"b": float(line.b), "m": float(line.m), "mse": float(mse)},
            "seed_001_theta": [float(t) for t in theta],
            "seed_001_mse": float(design_mse(theta, SEED_001_X, SEED_001_Y)),
            "nearby_lines_checked": config.nearby,
            "min_error_increase_nearby": float(jnp.min(nearby) - mse),
        },
        checks=[
            _line_check("line_error_grad at the solution", wheat, solution),
            _design_check(
                "design_mse_grad at seed 001's solution", theta, *as_design(SEED_001_X, SEED_001_Y)
            ),
        ],
        headline=(
            f"seed example error {seed_error:g}; least squares b = {float(line.b):.6f}, "
            f"m = {float(line.m):.6f}, MSE {float(mse):.6f}"
        ),
        plot_data={"points": np.asarray(WHEAT_AND_BREAD), "line": (float(line.b), float(line.m))},
    )


def plot(report: Report):
    """The wheat/bread data with the least-squares line and its residuals."""
    from jaxdl.plotting import new_figure

    points = report.plot_data["points"]
    b, m = report.plot_data["line"]
    xs = np.linspace(points[:, 0].min() - 0.1, points[:, 0].max() + 0.1, 2)
    fig, ax = new_figure()
    ax.vlines(
        points[:, 0], points[:, 1], m * points[:, 0] + b, color="0.6", lw=1, label="residuals"
    )
    ax.plot(points[:, 0], points[:, 1], "o", color="tab:blue", label="data")
    ax.plot(xs, m * xs + b, color="tab:green", label=f"least squares: y = {m:.3f} x + {b:.3f}")
    ax.set(
        xlabel="price of wheat per kg", ylabel="price of bread", title="Legendre's least squares"
    )
    ax.legend()
    return fig
