import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jax.test_util import check_grads

from jaxdl import losses
from jaxdl.gradcheck import check_gradient
from tests.strategies import few_shapes, float_arrays

PAIRS = [
    (losses.sse, losses.sse_grad),
    (losses.half_sse, losses.half_sse_grad),
    (losses.mse, losses.mse_grad),
]


@pytest.mark.parametrize("loss, grad", PAIRS, ids=lambda f: getattr(f, "__name__", ""))
@given(data=st.data())
def test_hand_gradient_matches_autodiff_and_finite_differences(loss, grad, data):
    shape = data.draw(few_shapes())
    predictions = data.draw(float_arrays(shape))
    targets = data.draw(float_arrays(shape))
    np.testing.assert_allclose(
        grad(predictions, targets), jax.grad(loss)(predictions, targets), rtol=1e-10, atol=1e-12
    )
    check_grads(lambda p: loss(p, targets), (jnp.asarray(predictions),), order=1, modes=["rev"])
    result = check_gradient(
        loss.__name__,
        lambda p: loss(p, targets),
        lambda p: grad(p, targets),
        jnp.asarray(predictions),
    )
    assert result.passed, result


def test_values_on_a_case_computed_by_hand():
    p, t = jnp.array([1.0, 2.0, 4.0]), jnp.array([0.0, 2.0, 1.0])
    assert float(losses.sse(p, t)) == 10.0
    assert float(losses.half_sse(p, t)) == 5.0
    assert float(losses.mse(p, t)) == pytest.approx(10.0 / 3)


@pytest.mark.parametrize("loss, grad", PAIRS)
def test_mismatched_shapes_name_both(loss, grad):
    with pytest.raises(ValueError, match=r"\(4, 1\).*\(4,\)"):
        loss(jnp.zeros((4, 1)), jnp.zeros(4))
    with pytest.raises(ValueError, match=r"\(4, 1\).*\(4,\)"):
        grad(jnp.zeros((4, 1)), jnp.zeros(4))
