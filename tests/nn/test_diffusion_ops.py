"""DDPM's new ops: SiLU and the sinusoidal step embedding, each hand backward (formula and
custom_vjp rule) equal to jax.vjp of its pure forward in float64 (Hypothesis), values checked by
hand, bad input refused."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from jaxdl.nn import silu, time_embedding

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
