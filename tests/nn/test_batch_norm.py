"""jaxdl.nn.batch_norm: values against the paper's Algorithms 1 and 2, the compact hand backward
and its custom_vjp rule against jax.grad (Hypothesis, float64) in training and evaluation mode
separately, finite differences, and bad input (batch size 1 in training).

Shapes come from a short fixed list (every new shape is a new compilation), including a batch
of 2, the smallest training batch, and a feature map normalised over batch and space.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jax.test_util import check_grads

from jaxdl.nn import batch_norm as bn
from tests.strategies import float_arrays

SHAPES = [(2, 3), (7, 4), (2, 2, 3, 2), (3, 1, 2, 1)]
EPSILONS = [1e-5, 1e-3, 0.1, 1.0]


def _params(scale, shift):
    return bn.BatchNormParams(jnp.asarray(scale), jnp.asarray(shift))


@functools.partial(jax.jit, static_argnums=3)
def _ref(x, scale, shift, eps):
    return bn.batch_norm(x, _params(scale, shift), epsilon=eps)


def _vjp(f, args, g):
    return jax.vjp(f, *args)[1](g)


@functools.partial(jax.jit, static_argnums=4)
def _train_gradients(x, scale, shift, g, eps):
    """(jax.grad of the pure forward, the formula, the custom_vjp rule): one compilation."""
    auto = _vjp(lambda *a: _ref(*a, eps), (x, scale, shift), g)
    dx, dparams = bn.batch_norm_backward(x, _params(scale, shift), g, epsilon=eps)
    rule = _vjp(
        lambda x, s, b: bn.batch_norm_hand(x, _params(s, b), epsilon=eps), (x, scale, shift), g
    )
    return auto, (dx, *dparams), rule


def _eval(x, scale, shift, mean, var, eps, hand=False):
    f = bn.batch_norm_eval_hand if hand else bn.batch_norm_eval
    return f(x, _params(scale, shift), bn.BatchNormStats(mean, var), epsilon=eps)


@functools.partial(jax.jit, static_argnums=2)
def _eval_gradients(args, g, eps):
    auto = _vjp(lambda *a: _eval(*a, eps), args, g)
    dx, dparams, dstats = bn.batch_norm_eval_backward(
        args[0], _params(*args[1:3]), bn.BatchNormStats(*args[3:]), g, epsilon=eps
    )
    rule = _vjp(lambda *a: _eval(*a, eps, hand=True), args, g)
    return auto, (dx, *dparams, *dstats), rule


def assert_grads_equal(hand, auto):
    hand, auto = jax.tree.leaves(hand), jax.tree.leaves(auto)
    assert len(hand) == len(auto)
    scale = 1.0 + max(float(jnp.max(jnp.abs(a))) for a in auto)
    for h, a in zip(hand, auto, strict=True):
        np.testing.assert_allclose(h, a, rtol=1e-10, atol=1e-11 * scale)


@st.composite
def training_case(draw):
    shape = draw(st.sampled_from(SHAPES))
    c = shape[-1]
    x = draw(float_arrays(shape, -5, 5))
    scale = draw(float_arrays((c,), -3, 3))
    shift = draw(float_arrays((c,), -3, 3))
    g = draw(float_arrays(shape, -3, 3))
    return x, scale, shift, g, draw(st.sampled_from(EPSILONS))


@given(case=training_case())
def test_training_mode_hand_gradient_equals_autodiff(case):
    x, scale, shift, g, eps = case
    auto, formula, rule = _train_gradients(x, scale, shift, g, eps)
    assert_grads_equal(formula, auto)
    assert_grads_equal(rule, auto)


@given(case=training_case(), data=st.data())
def test_eval_mode_hand_gradient_equals_autodiff(case, data):
    x, scale, shift, g, eps = case
    c = x.shape[-1]
    mean = data.draw(float_arrays((c,), -3, 3))
    var = data.draw(float_arrays((c,), 0, 5))
    auto, formula, rule = _eval_gradients((x, scale, shift, mean, var), g, eps)
    assert_grads_equal(formula, auto)
    assert_grads_equal(rule, auto)


@pytest.mark.parametrize("shape", [(2, 3), (2, 2, 3, 2)], ids=str)
def test_finite_differences(shape):
    k = jax.random.split(jax.random.key(0), 5)
    c = shape[-1]
    x = jax.random.normal(k[0], shape)
    scale, shift = 1.0 + jax.random.normal(k[1], (c,)), jax.random.normal(k[2], (c,))
    check_grads(jax.jit(lambda *a: _ref(*a, 1e-3)), (x, scale, shift), order=1, modes=["rev"])
    mean, var = jax.random.normal(k[3], (c,)), jax.random.uniform(k[4], (c,), minval=0.5)
    fd_eval = jax.jit(lambda *a: _eval(*a, 1e-3))
    check_grads(fd_eval, (x, scale, shift, mean, var), order=1, modes=["rev"])


def test_training_mode_values_follow_algorithm_1():
    x = jnp.array([[1.0, 10.0], [3.0, 10.0], [5.0, 16.0]])
    y = bn.batch_norm(x, _params([2.0, 1.0], [0.5, -1.0]), epsilon=1e-5)
    # column 0: mean 3, var 8/3; column 1: mean 12, var 8
    xhat0 = (np.array([1.0, 3.0, 5.0]) - 3.0) / np.sqrt(8 / 3 + 1e-5)
    xhat1 = (np.array([10.0, 10.0, 16.0]) - 12.0) / np.sqrt(8 + 1e-5)
    np.testing.assert_allclose(y, np.stack([2 * xhat0 + 0.5, xhat1 - 1.0], 1), rtol=1e-12)


def test_feature_maps_are_normalised_over_batch_and_space():
    x = jax.random.normal(jax.random.key(1), (3, 4, 5, 2)) * 3.0 + 7.0
    y = bn.batch_norm(x, bn.init_params(2, x.dtype), epsilon=1e-12)
    np.testing.assert_allclose(jnp.mean(y, axis=(0, 1, 2)), 0.0, atol=1e-12)
    np.testing.assert_allclose(jnp.var(y, axis=(0, 1, 2)), 1.0, rtol=1e-10)
    # one image alone (batch 1) is still many values per channel: allowed
    assert bn.batch_norm(x[:1], bn.init_params(2, x.dtype)).shape == (1, 4, 5, 2)


def test_training_output_ignores_a_shift_of_the_batch():
    x = jax.random.normal(jax.random.key(2), (6, 3))
    params = _params(jnp.array([1.0, 2.0, -1.0]), jnp.array([0.0, 1.0, 2.0]))
    np.testing.assert_allclose(
        bn.batch_norm(x + 100.0, params), bn.batch_norm(x, params), atol=1e-10
    )


def test_eval_mode_is_per_example_and_algorithm_2_is_unbiased():
    params = _params(jnp.array([2.0]), jnp.array([1.0]))
    stats = bn.BatchNormStats(jnp.array([3.0]), jnp.array([4.0]))
    x = jnp.array([[5.0], [3.0]])
    y = bn.batch_norm_eval(x, params, stats, epsilon=0.0001)
    np.testing.assert_allclose(y[:, 0], 2 * (x[:, 0] - 3) / np.sqrt(4.0001) + 1, rtol=1e-12)
    np.testing.assert_allclose(bn.batch_norm_eval(x[:1], params, stats, epsilon=1e-4), y[:1])
    pop = bn.population_statistics(jnp.array([[1.0], [3.0]]), jnp.array([[2.0], [4.0]]), 4)
    np.testing.assert_allclose(pop.mean, [2.0])
    np.testing.assert_allclose(pop.var, [4.0])  # 4/3 * mean(2, 4)


def test_batch_size_one_is_refused_in_training_mode():
    params = bn.init_params(3)
    x = jnp.ones((1, 3))
    for call in (
        lambda: bn.batch_norm(x, params),
        lambda: bn.batch_norm_hand(x, params),
        lambda: bn.batch_norm_backward(x, params, x),
        lambda: bn.batch_norm(jnp.ones((1, 1, 1, 3)), params),
    ):
        with pytest.raises(ValueError, match="at least 2 values per channel.*evaluation mode"):
            call()
    stats = bn.BatchNormStats(jnp.zeros(3), jnp.ones(3))
    assert bn.batch_norm_eval(x, params, stats).shape == (1, 3)  # evaluation mode: fine


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: bn.batch_norm(jnp.ones((4,)), bn.init_params(4)), r"\[N, C\]"),
        (lambda: bn.batch_norm(jnp.ones((4, 3)), bn.init_params(2)), r"scale must have shape"),
        (lambda: bn.batch_norm(jnp.ones((4, 3)), bn.init_params(3), epsilon=0.0), "epsilon"),
        (
            lambda: bn.batch_norm_eval(
                jnp.ones((4, 3)), bn.init_params(3), bn.BatchNormStats(jnp.zeros(2), jnp.ones(3))
            ),
            "population mean",
        ),
        (lambda: bn.population_statistics(jnp.ones((2, 3)), jnp.ones((2, 3)), 1), "at least 2"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
