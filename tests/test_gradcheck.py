import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxdl.gradcheck import check_gradient, numerical_gradient, standard_normal
from tests.strategies import float_arrays


@given(x=float_arrays((5,), -2, 2))
def test_numerical_gradient_of_a_cubic(x):
    g = numerical_gradient(lambda v: jnp.sum(v**3), jnp.asarray(x), eps=1e-6)
    assert jnp.allclose(g, 3 * x**2, rtol=1e-7, atol=1e-8)


def test_a_wrong_hand_gradient_fails():
    x = jnp.linspace(-1.0, 1.0, 7)
    check = check_gradient("bad", lambda v: jnp.sum(v**3), lambda v: 2 * v**2, x)
    assert not check.passed
    assert check.autodiff_error > 0.1 and check.finite_difference_error > 0.1


def test_a_wrong_gradient_on_many_parameters_fails_through_random_directions():
    params = {"w": jnp.ones((40, 30)), "b": jnp.zeros(30)}

    def fn(p):
        return jnp.sum(jnp.tanh(p["w"]) @ jnp.ones(30)) + jnp.sum(p["b"] ** 2)

    good = check_gradient("good", fn, jax.grad(fn), params)
    assert good.passed
    bad = check_gradient("bad", fn, lambda p: jax.tree.map(jnp.zeros_like, p), params)
    assert not bad.passed


def test_nan_never_passes():
    x = jnp.ones(3)
    check = check_gradient("nan", jnp.sum, lambda v: v * jnp.nan, x)
    assert not check.passed


def test_mismatched_structure_is_an_error():
    with pytest.raises(ValueError, match="entries"):
        check_gradient("size", jnp.sum, lambda v: v[:2], jnp.ones(3))


# --- nothing non-finite ever passes -----------------------------------------------------------


_Y = jnp.array([1.0, 0.0])


def _bce_by_hand(a):
    return -jnp.sum(_Y * jnp.log(a) + (1 - _Y) * jnp.log1p(-a))


@pytest.mark.parametrize(
    "name, fn, hand, point, problem",
    [
        # sqrt at 0: jax.grad is inf, so is the scale; inf <= tol * inf used to pass
        ("sqrt at 0", lambda x: jnp.sum(jnp.sqrt(x)), lambda x: jnp.array([123.0, -456.0]),
         jnp.array([0.0, 1.0]), "jax.grad"),
        ("log at 0", lambda x: jnp.sum(jnp.log(x)), lambda x: 1 / x, jnp.array([0.0, 2.0]),
         "the hand gradient"),
        ("a NaN point", lambda x: jnp.sum(x**2), lambda x: 2 * x, jnp.array([jnp.nan, 1.0]),
         "the point"),
        ("bce at a = y = 1", _bce_by_hand, lambda a: (a - _Y) / (a * (1 - a)),
         jnp.array([1.0, 0.5]), "fn is nan"),
        ("an inf hand gradient", jnp.sum, lambda x: x * jnp.inf, jnp.ones(3),
         "the hand gradient"),
    ],
)  # fmt: skip
def test_a_non_finite_value_anywhere_fails_with_the_reason(name, fn, hand, point, problem):
    check = check_gradient(name, fn, hand, point)
    assert not check.passed
    assert problem in check.problem
    assert check.as_dict()["passed"] is False
    json.dumps(check.as_dict(), allow_nan=False)  # JSON-ready: no inf, no NaN


def test_the_issue_example_fails():
    check = check_gradient(
        "x", lambda x: jnp.sum(jnp.sqrt(x)), lambda x: jnp.array([123.0, -456.0]),
        jnp.array([0.0, 1.0]),
    )  # fmt: skip
    assert not check.passed and "non-finite" in check.problem


@settings(max_examples=12)
@given(
    shape=st.lists(st.integers(0, 9), max_size=3).map(tuple),
    dtype=st.sampled_from([jnp.float32, jnp.float64]),
    seed=st.integers(0, 2**31 - 1),
)
def test_standard_normal_draws_exactly_the_numbers_of_jax_random_normal(shape, dtype, seed):
    # The checks draw their points with it (one compiled program per power-of-two size): a
    # check's points must be those of jax.random.normal, or every module's checks would move.
    key = jax.random.key(seed)
    drawn = standard_normal(key, shape, dtype)
    assert drawn.shape == shape and drawn.dtype == dtype
    assert np.array_equal(drawn, jax.random.normal(key, shape, dtype))
