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


@given(
    z=float_arrays((8,), -30, 30), y=st.lists(st.sampled_from([0.0, 1.0]), min_size=8, max_size=8)
)
def test_binary_cross_entropy_with_logits(z, y):
    y = np.asarray(y)
    s = 1 / (1 + np.exp(-z))
    with np.errstate(divide="ignore"):
        naive = -np.mean(y * np.log(s) + (1 - y) * np.log1p(-s))
    if np.max(np.abs(z)) < 8:  # where the naive formula is itself accurate
        assert float(losses.binary_cross_entropy_with_logits(z, y)) == pytest.approx(
            naive, rel=1e-9, abs=1e-12
        )
    np.testing.assert_allclose(
        losses.binary_cross_entropy_with_logits_grad(z, y),
        jax.grad(losses.binary_cross_entropy_with_logits)(jnp.asarray(z), y),
        rtol=1e-10,
        atol=1e-15,
    )
    # Confidently wrong answers cost a lot but stay finite.
    assert np.isfinite(
        float(losses.binary_cross_entropy_with_logits(jnp.array([80.0]), jnp.array([0.0])))
    )


def test_uniform_logits_cost_log_2():
    assert float(
        losses.binary_cross_entropy_with_logits(jnp.zeros(4), jnp.array([0.0, 1.0, 1.0, 0.0]))
    ) == pytest.approx(np.log(2))


# --- inputs that used to give silently wrong answers ------------------------------------------


def test_binary_cross_entropy_is_finite_where_a_probability_is_exactly_the_label():
    a = jnp.array([1.0, 0.0, 0.5])
    y = jnp.array([1.0, 0.0, 1.0])
    assert float(losses.binary_cross_entropy(a, y)) == pytest.approx(np.log(2) / 3, rel=1e-12)
    grad = losses.binary_cross_entropy_grad(a, y)
    np.testing.assert_allclose(grad, [-1 / 3, 1 / 3, -2 / 3], rtol=1e-12)
    np.testing.assert_allclose(jax.grad(losses.binary_cross_entropy)(a, y), grad, rtol=1e-12)
    # float32 sigmoid(20) rounds to exactly 1
    a32 = jax.nn.sigmoid(jnp.array([20.0, -3.0], jnp.float32))
    y32 = jnp.array([1.0, 0.0], jnp.float32)
    assert np.isfinite(float(losses.binary_cross_entropy(a32, y32)))


def test_bce_from_logits_is_finite_for_huge_logits():
    big = losses.binary_cross_entropy_with_logits(jnp.array([1e4, -1e4]), jnp.array([0.0, 1.0]))
    assert float(big) == pytest.approx(1e4)


@pytest.mark.parametrize(
    "a, y, message",
    [
        ([0.5, 0.5], [1.0, 2.0], "targets must lie in [0, 1]; found 2.0 at index (1,)"),
        ([0.5, 0.5], [-1.0, 0.0], "targets must lie in [0, 1]; found -1.0"),
        ([0.5, 1.5], [1.0, 0.0], "probabilities must lie in [0, 1]; found 1.5"),
        ([0.5, np.nan], [1.0, 0.0], "probabilities must lie in [0, 1]; found nan"),
    ],
)
def test_bce_refuses_values_outside_the_unit_interval(a, y, message):
    for loss in (losses.binary_cross_entropy, losses.binary_cross_entropy_grad):
        with pytest.raises(ValueError) as info:
            loss(jnp.asarray(a), jnp.asarray(y))
        assert message in str(info.value)


@pytest.mark.parametrize(
    "loss",
    [losses.sse, losses.mse, losses.mse_grad, losses.half_sse, losses.binary_cross_entropy,
     losses.binary_cross_entropy_with_logits],
    ids=lambda f: f.__name__,
)  # fmt: skip
def test_an_empty_batch_is_refused(loss):
    with pytest.raises(ValueError, match=r"empty batch: predictions and targets have shape \(0,"):
        loss(jnp.zeros((0, 3)), jnp.zeros((0, 3)))
