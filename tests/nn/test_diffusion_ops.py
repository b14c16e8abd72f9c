"""DDPM's new ops: SiLU, the sinusoidal step embedding, group normalisation and upsampling, each
hand backward (formula and custom_vjp rule) equal to jax.vjp of its pure forward in float64
(Hypothesis) and to finite differences, values checked by hand, bad input refused."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from jaxdl.nn import group_norm, silu, time_embedding, upsample

FLOATS = st.floats(-30.0, 30.0, allow_nan=False, allow_infinity=False)


@jax.jit
def _silu_vjp(x, g):
    return jax.vjp(silu.silu, x)[1](g)


@jax.jit
def _silu_rule_vjp(x, g):
    return jax.vjp(silu.silu_hand, x)[1](g)


@given(x=arrays(np.float64, (3, 4), elements=FLOATS), g=arrays(np.float64, (3, 4), elements=FLOATS))
def test_silu_backward_equals_vjp(x, g):
    (expected,) = _silu_vjp(x, g)
    np.testing.assert_allclose(silu.silu_backward(x, g)[0], expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(_silu_rule_vjp(x, g)[0], expected, rtol=1e-12, atol=1e-12)


def test_silu_values_by_hand():
    np.testing.assert_allclose(silu.silu(jnp.array([0.0, 1.0])), [0.0, 1 / (1 + math.exp(-1))])
    assert float(silu.silu_slope(0.0)) == 0.5  # σ(0) (1 + 0)
    # the minimum, where the slope vanishes: x = -1.2785 (1 + x (1 - σ(x)) = 0)
    assert abs(float(silu.silu_slope(-1.278464542761074))) < 1e-12
    np.testing.assert_allclose(silu.silu(40.0), 40.0)


WIDTHS = (2, 8, 32)


def _embedding_fns(width):
    vjp = jax.jit(lambda t, g: jax.vjp(lambda s: time_embedding.time_embedding(s, width), t)[1](g))
    rule = jax.jit(
        lambda t, g: jax.vjp(lambda s: time_embedding.time_embedding_hand(s, width), t)[1](g)
    )
    return vjp, rule


_FNS = {w: _embedding_fns(w) for w in WIDTHS}


@given(
    width=st.sampled_from(WIDTHS),
    t=arrays(np.float64, (5,), elements=st.floats(0.0, 1000.0)),
    seed=st.integers(0, 2**16),
)
def test_time_embedding_backward_equals_vjp(width, t, seed):
    g = np.random.default_rng(seed).normal(size=(5, width))
    vjp, rule = _FNS[width]
    (expected,) = vjp(t, g)
    hand = time_embedding.time_embedding_backward(t, width, g)[0]
    np.testing.assert_allclose(hand, expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(rule(t, g)[0], expected, rtol=1e-10, atol=1e-10)


def test_time_embedding_values_by_hand():
    w = time_embedding.frequencies(8)
    np.testing.assert_allclose([w[0], w[-1]], [1.0, 1e-4])
    e = time_embedding.time_embedding(jnp.array([0, 2]), 8)  # integer steps pass as data
    np.testing.assert_allclose(e[0], [0, 0, 0, 0, 1, 1, 1, 1])
    np.testing.assert_allclose([e[1, 0], e[1, 4]], [math.sin(2.0), math.cos(2.0)])
    np.testing.assert_allclose(np.sum(np.asarray(e) ** 2, axis=1), 4.0)  # sin² + cos² per pair
    hand = time_embedding.time_embedding_hand(jnp.array([0, 2]), 8)
    np.testing.assert_array_equal(hand, e)


@pytest.mark.parametrize("width", [0, 3, 2.0, True])
def test_time_embedding_refuses_bad_widths(width):
    with pytest.raises(ValueError, match="even integer"):
        time_embedding.time_embedding(jnp.array([1.0]), width)


def test_time_embedding_refuses_steps_that_are_not_a_vector():
    with pytest.raises(ValueError, match=r"steps must be \[B\]"):
        time_embedding.time_embedding(jnp.ones((2, 1)), 4)


# (B, H, W, C, G): one group (layer norm over the image), one channel per group (instance
# norm), and groups of several channels; a 1x1 image with several channels per group.
GROUP_SHAPES = [(1, 2, 3, 4, 1), (2, 3, 2, 4, 4), (3, 4, 4, 6, 3), (2, 1, 1, 8, 2)]


@functools.cache
def _group_fns(groups):
    def vjp(x, gain, bias, g):
        return jax.vjp(lambda *p: group_norm.group_norm(*p, groups), x, gain, bias)[1](g)

    def rule(x, gain, bias, g):
        return jax.vjp(lambda *p: group_norm.group_norm_hand(*p, groups), x, gain, bias)[1](g)

    def hand(x, gain, bias, g):
        return group_norm.group_norm_backward(x, gain, groups, g)

    return jax.jit(vjp), jax.jit(hand), jax.jit(rule)


def _assert_trees_close(hand, expected):
    for h, e in zip(hand, expected, strict=True):
        scale = max(1.0, float(np.max(np.abs(e))))
        np.testing.assert_allclose(h, e, rtol=1e-10, atol=1e-11 * scale)


@given(
    shape=st.sampled_from(GROUP_SHAPES),
    seed=st.integers(0, 2**16),
    scale=st.sampled_from([0.01, 1.0, 100.0]),
    shift=st.sampled_from([0.0, 5.0]),
)
def test_group_norm_backward_equals_vjp(shape, seed, scale, shift):
    b, h, w, c, groups = shape
    rng = np.random.default_rng(seed)
    x = shift + scale * rng.normal(size=(b, h, w, c))
    gain, bias = 1 + 0.5 * rng.normal(size=c), rng.normal(size=c)
    g = rng.normal(size=(b, h, w, c))
    vjp, hand, rule = _group_fns(groups)
    expected = vjp(x, gain, bias, g)
    _assert_trees_close(hand(x, gain, bias, g), expected)
    _assert_trees_close(rule(x, gain, bias, g), expected)


@pytest.mark.parametrize("module", [group_norm, upsample])
def test_rules_agree_with_finite_differences(module):
    # gradient_checks: formula and rule vs jax.grad, and jax.grad vs central differences
    checks = module.gradient_checks(key=jax.random.key(0))
    assert checks and all(check.passed for check in checks), checks


def test_group_norm_values_by_hand():
    # One image, two groups of two channels; each group's four values are 1, 2, 3, 4 or a
    # constant: normalised to (v - 2.5) / sqrt(1.25 + eps), and a constant group to 0.
    x = jnp.array([[1.0, 2.0, 7.0, 7.0], [3.0, 4.0, 7.0, 7.0]]).reshape(1, 1, 2, 4)
    y = group_norm.group_norm(x, jnp.ones(4), jnp.zeros(4), 2)
    r = 1 / math.sqrt(1.25 + group_norm.EPS)
    np.testing.assert_allclose(y[0, 0, :, :2], (np.array([[1, 2], [3, 4]]) - 2.5) * r, rtol=1e-6)
    np.testing.assert_array_equal(y[0, 0, :, 2:], 0.0)
    # gain and bias act per channel; images of a batch never share statistics
    y2 = group_norm.group_norm(jnp.concatenate([x, 10 * x]), jnp.full(4, 2.0), jnp.ones(4), 2)
    np.testing.assert_allclose(y2[0], 2 * y[0] + 1, rtol=1e-6)
    np.testing.assert_allclose(y2[1], 2 * y[0] + 1, rtol=1e-4)


@pytest.mark.parametrize(
    "shapes, groups, match",
    [
        (((2, 3, 4), (4,), (4,)), 2, r"\[B, H, W, C\]"),
        (((1, 2, 2, 4), (3,), (4,)), 2, "must be \\[C\\]"),
        (((1, 2, 2, 4), (4,), (4,)), 3, "dividing the 4 channels"),
        (((1, 2, 2, 4), (4,), (4,)), 0, "positive integer"),
        (((1, 2, 2, 4), (4,), (4,)), 2.0, "positive integer"),
    ],
)
def test_group_norm_refuses_bad_input(shapes, groups, match):
    x, gain, bias = (jnp.ones(s) for s in shapes)
    for op in (group_norm.group_norm, group_norm.group_norm_hand):
        with pytest.raises(ValueError, match=match):
            op(x, gain, bias, groups)


@jax.jit
def _upsample_vjp(x, g):
    return jax.vjp(upsample.upsample, x)[1](g)


@jax.jit
def _upsample_rule_vjp(x, g):
    return jax.vjp(upsample.upsample_hand, x)[1](g)


@given(
    shape=st.sampled_from([(1, 1, 1, 1), (2, 3, 2, 4), (1, 7, 7, 3)]),
    seed=st.integers(0, 2**16),
)
def test_upsample_backward_equals_vjp(shape, seed):
    rng = np.random.default_rng(seed)
    b, h, w, c = shape
    x, g = rng.normal(size=shape), rng.normal(size=(b, 2 * h, 2 * w, c))
    (expected,) = _upsample_vjp(x, g)
    np.testing.assert_allclose(upsample.upsample_backward(g)[0], expected, rtol=1e-12)
    np.testing.assert_allclose(_upsample_rule_vjp(x, g)[0], expected, rtol=1e-12)


def test_upsample_values_by_hand():
    x = jnp.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 2, 1)
    y = upsample.upsample(x)[0, ..., 0]
    np.testing.assert_array_equal(y, [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])
    (dx,) = upsample.upsample_backward(jnp.ones((1, 4, 4, 1)))
    np.testing.assert_array_equal(dx, 4.0)  # every pixel feeds four copies


def test_upsample_refuses_bad_input():
    for op in (upsample.upsample, upsample.upsample_hand):
        with pytest.raises(ValueError, match=r"rank 4"):
            op(jnp.ones((2, 3, 4)))
    with pytest.raises(ValueError, match="even"):
        upsample.upsample_backward(jnp.ones((1, 3, 4, 1)))
