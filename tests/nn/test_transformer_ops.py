"""jaxdl.nn's transformer ops: every hand backward (formula and custom_vjp rule) equals jax.vjp
of its pure forward in float64 over random shapes, heads and lengths (Hypothesis), plus values
checked by hand and bad input refused.

Shapes are drawn from a few fixed configurations and every function under test is jitted once
per shape, so Hypothesis examples reuse compiled code.
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jaxdl.nn import attention, embedding, layer_norm, mlp

RTOL, ATOL = 1e-10, 1e-12


def assert_close(hand, auto):
    # The absolute tolerance scales with the array: an entry near zero that is a difference of
    # large terms carries their rounding (1e-12 on gradients of size 1e2, say).
    for h, a in zip(jax.tree.leaves(hand), jax.tree.leaves(auto), strict=True):
        scale = max(1.0, float(np.max(np.abs(a)))) if np.size(a) else 1.0
        np.testing.assert_allclose(h, a, rtol=RTOL, atol=ATOL * scale)


def _normal(seed, *shapes, scale=1.0):
    rng = np.random.default_rng(seed)
    return [jnp.asarray(scale * rng.normal(size=s)) for s in shapes]


@functools.cache
def _pair(forward, formula, *static):
    """(jitted vjp of the pure forward, jitted hand formula, jitted vjp of the rule)."""
    vjp = jax.jit(lambda *a: jax.vjp(lambda *p: forward(*p, *static), *a[:-1])[1](a[-1]))
    hand = jax.jit(lambda *a: formula(*a[:-1], *static, a[-1]))
    return vjp, hand


def _rule_vjp(rule, *static):
    return jax.jit(lambda *a: jax.vjp(lambda *p: rule(*p, *static), *a[:-1])[1](a[-1]))


# ------------------------------------------------------------------------------- attention

# (B, T, C, H): one head and several, one position and several (the mask's corner cases).
ATTENTION_SHAPES = [(1, 1, 4, 1), (2, 5, 6, 3), (3, 7, 8, 2)]
_attention_rule = {
    h: _rule_vjp(attention.causal_self_attention_hand, h) for *_, h in ATTENTION_SHAPES
}


@given(
    shape=st.sampled_from(ATTENTION_SHAPES),
    seed=st.integers(0, 2**16),
    scale=st.sampled_from([0.3, 1.0, 3.0]),
)
def test_attention_backward_equals_vjp(shape, seed, scale):
    b, t, c, h = shape
    x, w_qkv, w_proj, g = _normal(seed, (b, t, c), (c, 3 * c), (c, c), (b, t, c))
    w_qkv = scale * w_qkv
    vjp, hand = _pair(attention.causal_self_attention, attention.causal_self_attention_backward, h)
    expected = vjp(x, w_qkv, w_proj, g)
    assert_close(hand(x, w_qkv, w_proj, g), expected)
    assert_close(_attention_rule[h](x, w_qkv, w_proj, g), expected)


def test_attention_is_causal_and_its_maps_are_distributions():
    x, w_qkv, w_proj = _normal(0, (2, 6, 8), (8, 24), (8, 8))
    p = attention.attention_weights(x, w_qkv, 2)
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-12)
    assert np.all(np.triu(np.asarray(p), 1) == 0)  # nothing read from the future
    # Changing the last position changes no earlier output.
    y = attention.causal_self_attention(x, w_qkv, w_proj, 2)
    y2 = attention.causal_self_attention(x.at[:, -1].add(1.0), w_qkv, w_proj, 2)
    np.testing.assert_array_equal(y[:, :-1], y2[:, :-1])
    # One position attends to itself alone: the output is its value, projected.
    v = x[:, :1] @ w_qkv[:, 16:]
    np.testing.assert_allclose(
        attention.causal_self_attention(x[:, :1], w_qkv, w_proj, 2), v @ w_proj, rtol=1e-12
    )


def test_attention_rejects_bad_shapes_and_heads():
    x, w_qkv, w_proj = _normal(0, (2, 3, 6), (6, 18), (6, 6))
    with pytest.raises(ValueError, match="heads must be a positive integer dividing the width 6"):
        attention.causal_self_attention(x, w_qkv, w_proj, 4)
    with pytest.raises(ValueError, match=r"needs w_qkv \(6, 18\)"):
        attention.causal_self_attention(x, w_proj, w_proj, 2)
    with pytest.raises(ValueError, match="rank 3"):
        attention.causal_self_attention(x[0], w_qkv, w_proj, 2)


# ------------------------------------------------------------------------------ layer norm

LN_SHAPES = [(1, 1, 1), (2, 3, 5), (4, 16)]
_ln_rule = _rule_vjp(layer_norm.layer_norm_hand)


@given(
    shape=st.sampled_from(LN_SHAPES),
    seed=st.integers(0, 2**16),
    scale=st.sampled_from([1e-2, 1.0, 1e2]),
)
def test_layer_norm_backward_equals_vjp(shape, seed, scale):
    x, w, g = _normal(seed, shape, shape[-1:], shape)
    x = scale * x + 3.0
    vjp, hand = _pair(layer_norm.layer_norm, layer_norm.layer_norm_backward)
    expected = vjp(x, w, g)
    np.testing.assert_allclose(hand(x, w, g)[0], expected[0], rtol=1e-9, atol=1e-9 / scale)
    np.testing.assert_allclose(hand(x, w, g)[1], expected[1], rtol=1e-9, atol=1e-9)
    for a, b in zip(_ln_rule(x, w, g), expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9 / scale)


def test_layer_norm_value_and_bad_shapes():
    y = layer_norm.layer_norm(jnp.array([[1.0, 2.0, 3.0]]), jnp.array([1.0, 1.0, 2.0]))
    r = 1 / math.sqrt(2 / 3 + layer_norm.EPS)
    np.testing.assert_allclose(y, [[-r, 0.0, 2 * r]], rtol=1e-12)
    with pytest.raises(ValueError, match=r"weight \(2,\) must be \[C\]"):
        layer_norm.layer_norm(jnp.ones((2, 3)), jnp.ones(2))


# ------------------------------------------------------------------------------ GELU, MLP

MLP_SHAPES = [(1, 1, 2), (2, 3, 4)]
_mlp_rule = _rule_vjp(mlp.mlp_hand)


@given(
    shape=st.sampled_from(MLP_SHAPES),
    seed=st.integers(0, 2**16),
    scale=st.sampled_from([0.3, 1.0, 4.0]),
)
def test_mlp_backward_equals_vjp(shape, seed, scale):
    b, t, c = shape
    x, w_fc, w_proj, g = _normal(seed, (b, t, c), (c, 4 * c), (4 * c, c), (b, t, c))
    x = scale * x
    vjp, hand = _pair(mlp.mlp, mlp.mlp_backward)
    expected = vjp(x, w_fc, w_proj, g)
    assert_close(hand(x, w_fc, w_proj, g), expected)
    assert_close(_mlp_rule(x, w_fc, w_proj, g), expected)


@given(seed=st.integers(0, 2**16), scale=st.sampled_from([0.1, 1.0, 6.0]))
def test_gelu_slope_equals_grad(seed, scale):
    (x,) = _normal(seed, (9,), scale=scale)
    assert_close(mlp.gelu_slope(x), _gelu_grad(x))
    assert_close(jax.grad(lambda z: jnp.sum(mlp.gelu_hand(z)))(x), _gelu_grad(x))


_gelu_grad = jax.jit(jax.vmap(jax.grad(mlp.gelu)))


def test_gelu_values():
    # x Φ(x): Φ(0) = 1/2, Φ(1) = 0.8413447460685429; odd part x/2 cancels.
    np.testing.assert_allclose(
        mlp.gelu(jnp.array([0.0, 1.0, -1.0])),
        [0.0, 0.8413447460685429, -0.15865525393145707],
        rtol=1e-14,
    )
    np.testing.assert_allclose(mlp.gelu_slope(0.0), 0.5)


# -------------------------------------------------------------------- embedding and head

_embed_rule = jax.jit(
    lambda wte, wpe, ids, g: jax.vjp(lambda a, b: embedding.embed_hand(a, b, ids), wte, wpe)[1](g)
)
_embed_vjp = jax.jit(
    lambda wte, wpe, ids, g: jax.vjp(lambda a, b: embedding.embed(a, b, ids), wte, wpe)[1](g)
)
_embed_hand = jax.jit(embedding.embed_backward)


@given(
    t=st.sampled_from([1, 3, 5]),
    seed=st.integers(0, 2**16),
    ids=st.lists(st.integers(0, 4), min_size=10, max_size=10),
)
def test_embedding_backward_is_a_scatter_add(t, seed, ids):
    wte, wpe, g = _normal(seed, (5, 3), (6, 3), (2, t, 3))
    ids = jnp.asarray(np.reshape(ids, (2, 5))[:, :t], jnp.int32)
    expected = _embed_vjp(wte, wpe, ids, g)
    assert_close(_embed_hand(wte, wpe, ids, g), expected)
    assert_close(_embed_rule(wte, wpe, ids, g), expected)
    # Row v of the token table's gradient is the sum over the positions that read v.
    d_wte = np.asarray(expected[0])
    for v in range(5):
        np.testing.assert_allclose(d_wte[v], np.asarray(g)[np.asarray(ids) == v].sum(0), atol=1e-12)
    np.testing.assert_array_equal(expected[1][t:], 0.0)


_head_vjp, _head_hand = _pair(embedding.lm_head, embedding.lm_head_backward)
_head_rule = _rule_vjp(embedding.lm_head_hand)


@given(seed=st.integers(0, 2**16))
def test_lm_head_backward_equals_vjp(seed):
    h, wte, g = _normal(seed, (2, 3, 4), (7, 4), (2, 3, 7))
    expected = _head_vjp(h, wte, g)
    assert_close(_head_hand(h, wte, g), expected)
    assert_close(_head_rule(h, wte, g), expected)


def test_embedding_rejects_bad_input():
    wte, wpe = jnp.ones((5, 3)), jnp.ones((4, 3))
    with pytest.raises(ValueError, match="6 positions but the position embedding has 4"):
        embedding.embed(wte, wpe, jnp.zeros((1, 6), jnp.int32))
    with pytest.raises(ValueError, match="must be integers"):
        embedding.embed(wte, wpe, jnp.zeros((1, 2)))
    with pytest.raises(ValueError, match="same width"):
        embedding.embed(wte, jnp.ones((4, 2)), jnp.zeros((1, 2), jnp.int32))
    with pytest.raises(ValueError, match="must share C"):
        embedding.lm_head(jnp.ones((1, 2, 4)), wte)
