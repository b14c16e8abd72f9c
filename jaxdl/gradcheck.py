"""Three-way gradient checks: a hand-derived gradient against ``jax.grad`` and finite differences.

Seed 003 estimates a rate of change from a current and a nearby point,
``(y_nearby - y_current) / (x_nearby - x_current)``. :func:`numerical_gradient` is that idea made
symmetric (central differences, error ``O(eps**2)``), applied to every coordinate of a pytree of
parameters, or to a few random directions when there are too many coordinates.

Run in float64 (``jax.config.update("jax_enable_x64", True)``) for tight comparisons; the
default tolerances adapt to the dtype of the parameters.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jax.typing import ArrayLike

PyTree = Any


class Evidence(NamedTuple):
    """The host arrays a check was judged on (flat, float64 or the parameters' dtype)."""

    point: np.ndarray  # the parameters, raveled
    value: float  # fn at the point
    hand: np.ndarray  # the hand gradient, raveled
    auto: np.ndarray  # jax.grad, raveled
    numeric: np.ndarray  # central differences: per coordinate, or along each direction
    directions: np.ndarray | None  # [K, size] unit directions, or None (every coordinate)


class GradCheck(NamedTuple):
    """Outcome of one three-way gradient check."""

    name: str
    autodiff_error: float  # max |hand - jax.grad| (inf when either side is not finite)
    finite_difference_error: float  # max |hand - central difference| (over coords or directions)
    scale: float  # 1 + max |jax.grad|: errors are judged relative to it
    rtol: float  # tolerance for the autodiff comparison, relative to scale
    fd_rtol: float  # tolerance for the finite-difference comparison, relative to scale
    problem: str = ""  # why the check fails whatever the errors (a non-finite value), or ""
    evidence: Evidence | None = None  # the arrays it was judged on (see :meth:`with_hand`)

    @property
    def max_abs_error(self) -> float:
        """The larger of the two errors."""
        return max(self.autodiff_error, self.finite_difference_error)

    @property
    def passed(self) -> bool:
        """Every value finite and both comparisons within tolerance.

        Each comparison is written so that a NaN or an infinity anywhere makes it false
        (``inf <= tol * inf`` would hold, hence the explicit finiteness test).
        """
        values = (self.autodiff_error, self.finite_difference_error, self.scale)
        return bool(
            not self.problem
            and all(math.isfinite(v) for v in values)
            and self.autodiff_error <= self.rtol * self.scale
            and self.finite_difference_error <= self.fd_rtol * self.scale
        )

    def with_hand(self, hand: ArrayLike) -> GradCheck:
        """This check judged again with another (raveled) hand gradient, e.g. a perturbed one."""
        if self.evidence is None:
            raise ValueError(f"{self.name}: this check kept no evidence to judge again")
        e = self.evidence
        return judge(
            self.name,
            e._replace(hand=np.asarray(hand)),
            rtol=self.rtol,
            fd_rtol=self.fd_rtol,
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary: ``name``, ``max_abs_error``, ``passed``, both errors, ``problem``.

        Infinite errors are written as ``None`` (JSON has no infinity).
        """

        def number(x: float) -> float | None:
            return x if math.isfinite(x) else None

        return {
            "name": self.name,
            "max_abs_error": number(self.max_abs_error),
            "passed": self.passed,
            "autodiff_error": number(self.autodiff_error),
            "finite_difference_error": number(self.finite_difference_error),
            "problem": self.problem,
        }


def _non_finite(what: str, values: np.ndarray) -> str:
    """``""`` when every entry of ``values`` is finite, else a sentence saying which is not."""
    values = np.asarray(values).ravel()
    bad = ~np.isfinite(values)
    if not bad.any():
        return ""
    first = int(np.argmax(bad))
    return (
        f"{what} has {int(bad.sum())} non-finite entries of {values.size} "
        f"(entry {first} is {values[first]})"
    )


def _max_abs(x: np.ndarray) -> float:
    """``max |x|`` (0 for an empty array), as inf when any entry is NaN or infinite."""
    x = np.asarray(x, np.float64)
    if x.size == 0:
        return 0.0
    if not np.isfinite(x).all():
        return math.inf
    return float(np.max(np.abs(x)))


def judge(name: str, evidence: Evidence, *, rtol: float, fd_rtol: float) -> GradCheck:
    """The :class:`GradCheck` of ``evidence``: both errors, the scale, and any non-finite value.

    Runs on the host in NumPy. A NaN or an infinity anywhere (the point, ``fn`` there, the hand
    gradient, ``jax.grad``, the finite differences) is a failure whose ``problem`` names it.
    """
    e = evidence
    problems = [
        _non_finite("the point", e.point),
        "" if math.isfinite(e.value) else f"fn is {e.value} at the point",
        _non_finite("the hand gradient", e.hand),
        _non_finite("jax.grad", e.auto),
        _non_finite("the finite differences", e.numeric),
    ]
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf is reported, not warned
        if e.directions is None:
            fd_difference = e.hand - e.numeric
        else:
            fd_difference = e.directions @ e.hand - e.numeric
        autodiff_difference = e.hand - e.auto
    return GradCheck(
        name=name,
        autodiff_error=_max_abs(autodiff_difference),
        finite_difference_error=_max_abs(fd_difference),
        scale=1.0 + _max_abs(e.auto),
        rtol=rtol,
        fd_rtol=fd_rtol,
        problem="; ".join(p for p in problems if p),
        evidence=e,
    )


_NOT_TRACEABLE = (
    jax.errors.ConcretizationTypeError,
    jax.errors.TracerArrayConversionError,
    jax.errors.TracerIntegerConversionError,
)


def _compiled(fn: Callable, *args: Any) -> Any:
    """``fn(*args)`` as one compiled call, or eagerly if ``fn`` needs concrete values.

    A check runs once, so one XLA compilation of the whole computation is much cheaper than
    eager dispatch, which compiles every operation separately. Functions that validate their
    inputs by value (``if jnp.any(jnp.isnan(x))``) cannot be traced and run eagerly instead.
    """
    try:
        return jax.jit(fn)(*args)
    except _NOT_TRACEABLE:
        return fn(*args)


def _default_tolerances(dtype: np.dtype) -> tuple[float, float, float]:
    """``(eps, rtol, fd_rtol)`` suited to ``dtype``."""
    if jnp.finfo(dtype).bits >= 64:
        return 1e-6, 1e-9, 1e-5
    return 1e-2, 1e-4, 5e-2


def numerical_gradient(fn: Callable[[PyTree], jax.Array], params: PyTree, *, eps: float) -> PyTree:
    """Central-difference gradient of scalar ``fn`` at ``params``, one coordinate at a time.

    ``g_i = (fn(p + eps e_i) - fn(p - eps e_i)) / (2 eps)``. Costs ``2 * size`` evaluations, run
    as one vectorised call; meant for small parameter vectors.
    """
    flat, unravel = ravel_pytree(params)

    def fn_flat(v: jax.Array) -> jax.Array:
        return fn(unravel(v))

    basis = jnp.eye(flat.size, dtype=flat.dtype) * eps
    plus = jax.vmap(lambda d: fn_flat(flat + d))(basis)
    minus = jax.vmap(lambda d: fn_flat(flat - d))(basis)
    return unravel((plus - minus) / (2 * eps))


def directional_derivatives(
    fn: Callable[[PyTree], jax.Array], params: PyTree, directions: jax.Array, *, eps: float
) -> jax.Array:
    """Central-difference derivatives of ``fn`` along each row of ``directions`` ``[K, size]``."""
    flat, unravel = ravel_pytree(params)

    def along(d: jax.Array) -> jax.Array:
        return (fn(unravel(flat + eps * d)) - fn(unravel(flat - eps * d))) / (2 * eps)

    return jax.vmap(along)(directions)


def check_gradient(
    name: str,
    fn: Callable[[PyTree], jax.Array],
    hand_grad: Callable[[PyTree], PyTree],
    params: PyTree,
    *,
    eps: float | None = None,
    rtol: float | None = None,
    fd_rtol: float | None = None,
    max_coordinates: int = 512,
    num_directions: int = 16,
    key: jax.Array | None = None,
) -> GradCheck:
    """Compare ``hand_grad(params)`` with ``jax.grad(fn)(params)`` and with finite differences.

    Args:
      name: label for reports.
      fn: scalar function of a pytree of parameters (close over the data).
      hand_grad: the hand-derived gradient, same pytree structure as ``params``.
      params: the point at which to compare.
      eps, rtol, fd_rtol: step and tolerances; defaults depend on the dtype (float64 is tight).
      max_coordinates: above this many parameters, finite differences are taken along
        ``num_directions`` random unit directions instead of every coordinate.
      key: PRNG key for those directions (a fixed key if omitted).

    Returns:
      A :class:`GradCheck` with both errors; ``.passed`` says whether they are within tolerance
      and every value (point, ``fn`` there, hand gradient, ``jax.grad``, finite differences) is
      finite; ``.problem`` names any value that is not. Parameters in float16 or bfloat16 are
      checked in float32.

    Raises:
      ValueError: ``params`` holds no parameters (empty, ``None``): a check of nothing.
    """
    leaves = jax.tree.leaves(params)
    if not leaves or sum(np.size(leaf) for leaf in leaves) == 0:
        raise ValueError(f"{name}: no parameters to check (a check of nothing cannot pass)")
    params = _at_least_float32(params)
    value, auto = _compiled(jax.value_and_grad(fn), params)
    hand = _compiled(hand_grad, params)
    hand_flat, _ = ravel_pytree(hand)
    auto_flat, _ = ravel_pytree(auto)
    params_flat, _ = ravel_pytree(params)
    if hand_flat.shape != auto_flat.shape:
        raise ValueError(
            f"{name}: hand gradient has {hand_flat.size} entries, jax.grad has {auto_flat.size}"
        )
    eps, rtol, fd_rtol = _tolerances(params_flat.dtype, eps, rtol, fd_rtol)
    numeric_flat, directions = _finite_differences(
        fn, params, eps=eps, max_coordinates=max_coordinates, num_directions=num_directions, key=key
    )
    evidence = Evidence(
        point=np.asarray(params_flat),
        value=float(np.asarray(value).real) if np.size(value) == 1 else math.nan,
        hand=np.asarray(hand_flat),
        auto=np.asarray(auto_flat),
        numeric=np.asarray(numeric_flat),
        directions=None if directions is None else np.asarray(directions),
    )
    return judge(name, evidence, rtol=rtol, fd_rtol=fd_rtol)


def _tolerances(dtype, eps, rtol, fd_rtol) -> tuple[float, float, float]:
    """``eps, rtol, fd_rtol`` as given, the dtype's defaults where ``None``."""
    defaults = _default_tolerances(dtype)
    given = (eps, rtol, fd_rtol)
    return tuple(d if g is None else g for g, d in zip(given, defaults, strict=True))


def _at_least_float32(params: PyTree) -> PyTree:
    """float16/bfloat16 parameters in float32: finite differences in 8-11 bits of mantissa judge
    nothing, so the formula is checked at the same point in float32, with float32's
    tolerances."""
    dtypes = [jnp.result_type(leaf) for leaf in jax.tree.leaves(params)]
    if any(jnp.issubdtype(d, jnp.floating) and jnp.finfo(d).bits < 32 for d in dtypes):
        return jax.tree.map(lambda leaf: jnp.asarray(leaf, jnp.float32), params)
    return params


def _finite_differences(fn, params, *, eps, max_coordinates, num_directions, key):
    """``(numeric, directions)``: central differences of ``fn`` at ``params`` along every
    coordinate (``directions`` ``None``), or, above ``max_coordinates`` parameters, along
    ``num_directions`` random unit directions drawn with ``key`` (a fixed key if ``None``)."""
    params_flat, _ = ravel_pytree(params)
    if params_flat.size <= max_coordinates:
        numeric = _compiled(lambda p: numerical_gradient(fn, p, eps=eps), params)
        return ravel_pytree(numeric)[0], None
    key = jax.random.key(0) if key is None else key
    directions = standard_normal(key, (num_directions, params_flat.size), params_flat.dtype)
    directions = directions / jnp.linalg.norm(directions, axis=1, keepdims=True)
    numeric = _compiled(lambda p, d: directional_derivatives(fn, p, d, eps=eps), params, directions)
    return numeric, directions


def check_rule(
    name: str, reference: Callable, formula: Callable, rule: Callable, at: PyTree
) -> list[GradCheck]:
    """An op's two checks: its ``*_backward`` formula, and ``jax.grad`` of its ``custom_vjp`` rule.

    ``reference`` is the pure forward reduced to a scalar (``sum(op(...) * G)`` for a random
    upstream gradient ``G``, whose gradient is exactly the op's vector-Jacobian product),
    ``formula`` the hand gradient of that scalar, ``rule`` the same scalar built from the hand
    rule; both are judged against ``jax.grad(reference)`` and finite differences.
    """
    return [
        check_gradient(name, reference, formula, at),
        check_gradient(f"{name} custom_vjp", reference, jax.grad(rule), at),
    ]


def vjp_checks(
    name: str, forward: Callable, formula: Callable, custom: Callable, at: tuple, g: jax.Array
) -> list[GradCheck]:
    """:func:`check_rule` for an op of several inputs, stated by its parts: the pure
    ``forward(*p)``, the hand ``formula(*p, g)`` (one gradient per input) and the ``custom``
    rule, all through ``sum(op(*p) * g)`` for the upstream gradient ``g``."""

    def reference(p):
        return jnp.sum(forward(*p) * g)

    return check_rule(
        name,
        reference,
        lambda p: tuple(formula(*p, g)),
        lambda p: jnp.sum(custom(*p) * g),
        at,
    )


def standard_normal(key: jax.Array, shape: tuple[int, ...], dtype=None) -> jax.Array:
    """``jax.random.normal(key, shape, dtype)``, the same numbers, compiled once per size class.

    JAX compiles its normal draw once per shape, and the checks draw at many shapes. With the
    partitionable threefry (JAX's default), element ``i`` of a draw depends only on the key and
    ``i``, so the first ``n`` numbers of a longer flat draw are the draw of ``n``: this draws
    the next power of two and cuts ``shape`` from it. Under the older, non-partitionable
    threefry it draws ``shape`` directly.
    """
    dtype = dtype or jnp.result_type(float)
    size = math.prod(shape)
    if not jax.config.jax_threefry_partitionable or size == 0:
        return jax.random.normal(key, shape, dtype)
    bucket = 1 << (size - 1).bit_length()
    return jax.random.normal(key, (bucket,), dtype)[:size].reshape(shape)


def normal_draws(key: jax.Array, dtype=None, *, pool: int = 1024) -> Callable[[tuple], jax.Array]:
    """``normal(shape)``: standard-normal arrays carved from one draw of ``pool`` numbers.

    One random-number program to compile for a whole module's checks, not one per shape.
    """
    dtype = dtype or jnp.result_type(float)
    values = np.asarray(standard_normal(key, (pool,), dtype))
    used = 0

    def normal(shape: tuple[int, ...], scale: float = 1.0) -> jax.Array:
        nonlocal used
        size = math.prod(shape)
        if used + size > pool:
            raise ValueError(f"normal_draws: {pool} numbers are not enough for {shape}")
        used += size
        return jnp.asarray(scale * values[used - size : used].reshape(shape))

    return normal
