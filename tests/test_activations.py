import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import assume, given
from jax.test_util import check_grads

from jaxdl import activations
from tests.strategies import few_shapes, float_arrays

SMOOTH = ["sigmoid", "tanh", "softplus"]


@pytest.mark.parametrize("name", list(activations.ACTIVATIONS))
@given(x=float_arrays(few_shapes(), -6, 6))
def test_derivative_matches_autodiff(name, x):
    f, f_grad = activations.ACTIVATIONS[name]
    if name in ("relu", "heaviside"):
        assume(np.all(np.abs(x) > 1e-3))  # stay away from the kink / the jump
    auto = jax.grad(lambda v: jnp.sum(f(v)))(x)
    np.testing.assert_allclose(f_grad(x), auto, rtol=1e-10, atol=1e-12)
    if name != "heaviside":
        check_grads(lambda v: jnp.sum(f(v)), (jnp.asarray(x),), order=1, modes=["rev"])


def test_cheat_sheet_values():
    assert float(activations.heaviside(0.0)) == 1.0  # the seed: 0 if x < 0 else 1
    assert float(activations.heaviside(-1e-9)) == 0.0
    assert float(activations.sigmoid(0.0)) == 0.5
    assert float(activations.sigmoid_grad(0.0)) == 0.25
    assert float(activations.sigmoid_slope(0.9)) == pytest.approx(0.09)
    assert float(activations.relu(-2.0)) == 0.0 and float(activations.relu(3.0)) == 3.0
    assert float(activations.softplus(0.0)) == pytest.approx(np.log(2.0))
    assert float(activations.tanh_grad(0.0)) == 1.0


def test_gradient_checks_pass():
    assert all(c.passed for c in activations.gradient_checks(key=jax.random.key(0)))


def test_relu_lets_nan_through():
    x = jnp.array([jnp.nan, -1.0, 0.0, 2.0])
    out = activations.relu(x)
    assert np.isnan(out[0]) and out[1:].tolist() == [0.0, 0.0, 2.0]
    assert activations.relu_grad(x)[1:].tolist() == [0.0, 0.0, 1.0]
    assert float(jax.grad(lambda v: jnp.sum(activations.relu(v)))(jnp.zeros(1))[0]) == 0.0
