"""jaxdl.nn.residual: the block's hand backward (formula and custom_vjp rule) against jax.grad
(Hypothesis, float64) for the identity shortcut, the option-A shortcut and a plain block; the
+1 path; option A's shape; bad input."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jaxdl.nn import residual
from tests.strategies import float_arrays

# (c_in, c_out, stride, residual): identity, option A (stride 2, widening), plain
CASES = [(2, 2, 1, True), (2, 3, 2, True), (2, 2, 1, False)]


@functools.partial(jax.jit, static_argnums=(3, 4))
def _gradients(x, params, g, stride, res):
    options = dict(stride=stride, residual=res, epsilon=1e-3)

    def pure(x, p):
        return jnp.sum(residual.residual_block(x, p, **options) * g)

    def rule(x, p):
        return jnp.sum(residual.residual_block_hand(x, p, **options) * g)

    auto = jax.grad(pure, argnums=(0, 1))(x, params)
    formula = residual.residual_block_backward(x, params, g, **options)
    return auto, formula, jax.grad(rule, argnums=(0, 1))(x, params)


def _assert_match(hand, auto):
    scale = 1.0 + max(float(jnp.max(jnp.abs(a))) for a in jax.tree.leaves(auto))
    for h, a in zip(jax.tree.leaves(hand), jax.tree.leaves(auto), strict=True):
        np.testing.assert_allclose(h, a, rtol=1e-9, atol=1e-10 * scale)


@pytest.mark.parametrize("case", CASES, ids=["identity", "option-A", "plain"])
@given(data=st.data())
def test_hand_backward_equals_autodiff(case, data):
    c_in, c_out, stride, res = case
    seed = data.draw(st.integers(0, 2**16))
    params = residual.init_block(jax.random.key(seed), c_in, c_out, jnp.float64)
    shift = data.draw(float_arrays((2, c_out), -1, 1))
    scale = data.draw(float_arrays((2, c_out), 0.2, 2))
    params = params._replace(
        bn1=params.bn1._replace(scale=scale[0], shift=shift[0]),
        bn2=params.bn2._replace(scale=scale[1], shift=shift[1]),
    )
    x = data.draw(float_arrays((2, 4, 4, c_in), -3, 3))
    g = data.draw(float_arrays((2, 4 // stride, 4 // stride, c_out), -2, 2))
    auto, formula, rule = _gradients(x, params, g, stride, res)
    _assert_match(formula, auto)
    _assert_match(rule, auto)


def test_the_plus_one_path():
    """With the residual branch silenced (gamma2 = beta2 = 0) and every output positive, the
    block is relu(x) = x and its input gradient is exactly g: the identity path alone."""
    params = residual.init_block(jax.random.key(0), 2, 2, jnp.float64)
    params = params._replace(bn2=params.bn2._replace(scale=jnp.zeros(2)))
    x = 1.0 + jax.random.uniform(jax.random.key(1), (2, 4, 4, 2))
    g = jax.random.normal(jax.random.key(2), x.shape)

    @jax.jit
    def run(x, params, g):
        y = residual.residual_block(x, params)
        dx, _ = residual.residual_block_backward(x, params, g)
        dx_plain, _ = residual.residual_block_backward(x, params, g, residual=False)
        return y, dx, dx_plain

    y, dx, dx_plain = run(x, params, g)
    np.testing.assert_allclose(y, x)
    np.testing.assert_allclose(dx, g, atol=1e-14)
    # the plain block has no such path: its input gradient vanishes with the branch
    assert float(jnp.max(jnp.abs(dx_plain))) == 0.0


def test_option_a_shortcut_subsamples_and_zero_pads():
    x = jnp.arange(2 * 4 * 4 * 2, dtype=jnp.float64).reshape(2, 4, 4, 2)
    s = residual.shortcut(x, 5, 2)
    assert s.shape == (2, 2, 2, 5)
    np.testing.assert_array_equal(s[..., :2], x[:, ::2, ::2, :])
    np.testing.assert_array_equal(s[..., 2:], 0.0)
    g = jnp.ones(s.shape)
    back = residual.shortcut_backward(g, x.shape, 2)
    assert float(back.sum()) == 2 * 2 * 2 * 2  # only kept pixels, only real channels


def _block_shape(c_in, c_out, stride, x_shape):
    """The block's output shape, traced abstractly (no compilation): checks run at trace time."""

    def block(key, x):
        return residual.residual_block(x, residual.init_block(key, c_in, c_out), stride=stride)

    x = jax.ShapeDtypeStruct(x_shape, jnp.float32)
    return jax.eval_shape(block, jax.random.key(0), x).shape


def test_strided_block_shapes():
    assert _block_shape(2, 4, 2, (3, 8, 8, 2)) == (3, 4, 4, 4)
    assert _block_shape(3, 3, 1, (3, 8, 8, 3)) == (3, 8, 8, 3)


@pytest.mark.parametrize(
    "c_in, c_out, stride, x_shape, match",
    [
        (2, 3, 1, (2, 4, 4, 2), "C_out must equal C_in"),
        (2, 2, 3, (2, 4, 4, 2), "stride must be 1 or 2"),
        (2, 3, 2, (2, 5, 4, 2), "even map"),
        (2, 2, 1, (2, 4, 4, 3), "needs w1"),
        (2, 2, 1, (4, 4, 2), r"\[N, H, W, C\]"),
    ],
)
def test_bad_input(c_in, c_out, stride, x_shape, match):
    with pytest.raises(ValueError, match=match):
        _block_shape(c_in, c_out, stride, x_shape)
