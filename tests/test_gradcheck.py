import jax
import jax.numpy as jnp
import pytest
from hypothesis import given

from jaxdl.gradcheck import check_gradient, numerical_gradient
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
