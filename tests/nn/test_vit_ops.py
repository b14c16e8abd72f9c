"""The Vision Transformer's ops: the patch embedding's hand backward (formula and custom_vjp
rule) and unmasked attention equal jax.vjp of their pure forwards in float64 (Hypothesis), the
patches are a permutation of the pixels, and bad input is refused."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jaxdl.nn import attention, patch_embed

RTOL, ATOL = 1e-10, 1e-12


def assert_close(hand, auto):
    for h, a in zip(jax.tree.leaves(hand), jax.tree.leaves(auto), strict=True):
        scale = max(1.0, float(np.max(np.abs(a)))) if np.size(a) else 1.0
        np.testing.assert_allclose(h, a, rtol=RTOL, atol=ATOL * scale)


def _normal(seed, *shapes, scale=1.0):
    rng = np.random.default_rng(seed)
    return [jnp.asarray(scale * rng.normal(size=s)) for s in shapes]


# (B, H, W, C, P, D): one patch and several, square and oblong images, one channel and three.
PATCH_SHAPES = [(1, 2, 2, 1, 2, 3), (2, 4, 6, 3, 2, 5), (3, 28, 28, 1, 7, 4)]


@functools.cache
def _patch_fns(patch):
    def pure(*a):
        return patch_embed.patch_embed(*a, patch)

    def vjp(*a):
        return jax.vjp(pure, *a[:-1])[1](a[-1])

    def rule(*a):
        return jax.vjp(lambda *p: patch_embed.patch_embed_hand(*p, patch), *a[:-1])[1](a[-1])

    def hand(*a):
        return patch_embed.patch_embed_backward(*a[:-1], patch, a[-1])

    return jax.jit(vjp), jax.jit(hand), jax.jit(rule)


@given(
    shape=st.sampled_from(PATCH_SHAPES),
    seed=st.integers(0, 2**16),
    scale=st.sampled_from([0.1, 1.0, 10.0]),
)
def test_patch_embed_backward_equals_vjp(shape, seed, scale):
    b, h, w, c, p, d = shape
    n = (h // p) * (w // p)
    x, wp, bp, cls, pos, g = _normal(
        seed, (b, h, w, c), (p * p * c, d), (d,), (d,), (n + 1, d), (b, n + 1, d)
    )
    x = scale * x
    vjp, hand, rule = _patch_fns(p)
    expected = vjp(x, wp, bp, cls, pos, g)
    assert_close(hand(x, wp, bp, cls, pos, g), expected)
    assert_close(rule(x, wp, bp, cls, pos, g), expected)


def test_patches_are_the_pixels_rearranged():
    x = jnp.arange(2 * 4 * 6 * 3, dtype=jnp.float64).reshape(2, 4, 6, 3)
    p = patch_embed.patchify(x, 2)
    assert p.shape == (2, 6, 12)
    np.testing.assert_array_equal(np.sort(p.ravel()), np.sort(x.ravel()))
    np.testing.assert_array_equal(p[1, 4], x[1, 2:4, 2:4].ravel())  # row 1, column 1 of the grid
    np.testing.assert_array_equal(patch_embed.unpatchify(p, 2, x.shape), x)


def test_patch_embed_value_by_hand():
    # One 2x2 patch of one channel: the token is [cls, x w + b] plus the positions.
    x = jnp.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 2, 2, 1)
    w = jnp.eye(4)[:, :2]  # reads the first two pixels
    t = patch_embed.patch_embed(x, w, jnp.array([0.5, 0.0]), jnp.array([7.0, 8.0]),
                                jnp.array([[1.0, 1.0], [0.0, 1.0]]), 2)  # fmt: skip
    np.testing.assert_allclose(t, [[[8.0, 9.0], [1.5, 3.0]]])


def test_patch_embed_rejects_bad_shapes():
    x, w, b, cls, pos = _normal(0, (1, 28, 28, 1), (49, 4), (4,), (4,), (17, 4))
    with pytest.raises(ValueError, match="patch must be a positive integer dividing"):
        patch_embed.patch_embed(x, w, b, cls, pos, 5)
    with pytest.raises(ValueError, match=r"pos \[N \+ 1, D\] = \[17, D\]"):
        patch_embed.patch_embed(x, w, b, cls, pos[:16], 7)
    with pytest.raises(ValueError, match="rank 4"):
        patch_embed.patch_embed(x[0], w, b, cls, pos, 7)


# --------------------------------------------------------------------- unmasked attention

ATTENTION_SHAPES = [(1, 1, 4, 1), (2, 5, 6, 3), (2, 17, 8, 4)]


@functools.cache
def _attention_fns(heads):
    def pure(*a):
        return attention.self_attention(*a, heads, mask="none")

    def vjp(*a):
        return jax.vjp(pure, *a[:-1])[1](a[-1])

    def rule(*a):
        hand_rule = functools.partial(attention.self_attention_hand, heads=heads, mask="none")
        return jax.vjp(hand_rule, *a[:-1])[1](a[-1])

    def hand(*a):
        return attention.causal_self_attention_backward(*a[:-1], heads, a[-1], mask="none")

    return jax.jit(vjp), jax.jit(hand), jax.jit(rule)


@given(
    shape=st.sampled_from(ATTENTION_SHAPES),
    seed=st.integers(0, 2**16),
    scale=st.sampled_from([0.3, 1.0, 3.0]),
)
def test_unmasked_attention_backward_equals_vjp(shape, seed, scale):
    b, t, c, h = shape
    x, w_qkv, w_proj, g = _normal(seed, (b, t, c), (c, 3 * c), (c, c), (b, t, c))
    vjp, hand, rule = _attention_fns(h)
    expected = vjp(x, scale * w_qkv, w_proj, g)
    assert_close(hand(x, scale * w_qkv, w_proj, g), expected)
    assert_close(rule(x, scale * w_qkv, w_proj, g), expected)


def test_unmasked_attention_reads_every_position_and_causal_stays_the_default():
    x, w_qkv, w_proj = _normal(0, (2, 6, 8), (8, 24), (8, 8))
    p = attention.attention_weights(x, w_qkv, 2, mask="none")
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-12)
    assert np.all(np.asarray(p) > 0)  # the future too
    y = attention.self_attention(x, w_qkv, w_proj, 2, mask="none")
    y2 = attention.self_attention(x.at[:, -1].add(1.0), w_qkv, w_proj, 2, mask="none")
    assert not np.allclose(y[:, 0], y2[:, 0])  # the first position reads the last
    # Permuting the positions permutes the outputs: without positions, a set, not a sequence.
    order = jnp.array([3, 0, 5, 1, 4, 2])
    np.testing.assert_allclose(
        attention.self_attention(x[:, order], w_qkv, w_proj, 2, mask="none"), y[:, order],
        rtol=1e-12,
    )  # fmt: skip
    np.testing.assert_array_equal(
        attention.causal_self_attention(x, w_qkv, w_proj, 2),
        attention.self_attention(x, w_qkv, w_proj, 2, mask="causal"),
    )
    with pytest.raises(ValueError, match="attention mask must be one of"):
        attention.self_attention(x, w_qkv, w_proj, 2, mask="future")
