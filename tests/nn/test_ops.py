"""jaxdl.nn (and the classification losses): forward values against direct formulas, hand gradients against jax.grad and
finite differences (Hypothesis, float64), and bad input.

Shapes come from a few fixed configurations and every function under test is jitted once per
shape, so Hypothesis examples reuse compiled code.
"""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from jax.test_util import check_grads

from jaxdl import losses, nn
from jaxdl.nn import affine, dropout, lrn, pooling
from tests.strategies import float_arrays

RTOL, ATOL = 1e-10, 1e-12


def assert_close(hand, auto):
    for h, a in zip(jax.tree.leaves(hand), jax.tree.leaves(auto), strict=True):
        np.testing.assert_allclose(h, a, rtol=RTOL, atol=ATOL)


# ------------------------------------------------------------------------------------ dense

_dense_vjp = jax.jit(lambda x, w, b, g: jax.vjp(affine.dense, x, w, b)[1](g))
_dense_hand = jax.jit(affine.dense_backward)


@given(data=st.data())
def test_dense_gradient(data):
    x = data.draw(float_arrays((3, 5), -3, 3))
    w = data.draw(float_arrays((5, 4), -3, 3))
    b = data.draw(float_arrays((4,), -3, 3))
    g = data.draw(float_arrays((3, 4), -3, 3))
    assert_close(_dense_hand(x, w, g), _dense_vjp(x, w, b, g))
    check_grads(jax.jit(affine.dense), (x, w, b), order=1, modes=["rev"])


def test_dense_value_and_bad_shapes():
    x, w, b = jnp.array([[1.0, 2.0]]), jnp.array([[1.0, 0.0, 2.0], [3.0, 1.0, 0.0]]), jnp.ones(3)
    np.testing.assert_array_equal(affine.dense(x, w, b), [[8.0, 3.0, 3.0]])
    with pytest.raises(ValueError, match=r"\(1, 2\).*\(3, 3\)"):
        affine.dense(x, jnp.ones((3, 3)), b)
    with pytest.raises(ValueError, match="rank 2"):
        affine.dense(jnp.ones(2), w, b)


# ------------------------------------------------------------------------------------- conv

# (input shape, kernel shape): an odd kernel (symmetric padding) and an even one (TF pads the
# extra row/column at the end), with several channels in and out.
CONV_CASES = [((2, 5, 4, 2), (3, 3, 2, 3)), ((1, 4, 5, 1), (2, 2, 1, 2))]
_conv_vjp = jax.jit(lambda x, w, b, g: jax.vjp(affine.conv2d, x, w, b)[1](g))
_conv_hand = jax.jit(affine.conv2d_backward)


def conv_reference(x, w, b):
    """Direct loops over TensorFlow's 'SAME' padding: the definition, slowly."""
    x, w = np.asarray(x), np.asarray(w)
    n, h, v, _ = x.shape
    kh, kw, _, o = w.shape
    top, left = (kh - 1) // 2, (kw - 1) // 2
    xp = np.pad(x, ((0, 0), (top, kh - 1 - top), (left, kw - 1 - left), (0, 0)))
    y = np.zeros((n, h, v, o)) + np.asarray(b)
    for i, j in itertools.product(range(kh), range(kw)):
        y += np.einsum("nhvc,co->nhvo", xp[:, i : i + h, j : j + v], w[i, j])
    return y


@pytest.mark.parametrize("case", CONV_CASES, ids=str)
@given(data=st.data())
def test_conv2d_value_and_gradient(case, data):
    x_shape, w_shape = case
    x = data.draw(float_arrays(x_shape, -3, 3))
    w = data.draw(float_arrays(w_shape, -3, 3))
    b = data.draw(float_arrays(w_shape[-1:], -3, 3))
    g = data.draw(float_arrays(x_shape[:3] + w_shape[-1:], -3, 3))
    # atol: XLA flushes subnormal values (Hypothesis finds biases like 1e-309) to zero.
    np.testing.assert_allclose(
        affine.conv2d(x, w, b), conv_reference(x, w, b), rtol=1e-10, atol=1e-12
    )
    assert_close(_conv_hand(x, w, g), _conv_vjp(x, w, b, g))
    check_grads(jax.jit(affine.conv2d), (x, w, b), order=1, modes=["rev"])


def test_conv2d_edge_detection_kernel():
    """Seed 004's image filtering: a Laplacian kernel is zero on a flat image's interior."""
    x = jnp.ones((1, 5, 5, 1))
    w = jnp.array([[0.0, -1.0, 0.0], [-1.0, 4.0, -1.0], [0.0, -1.0, 0.0]])[:, :, None, None]
    y = affine.conv2d(x, w, jnp.zeros(1))[0, :, :, 0]
    np.testing.assert_array_equal(y[1:-1, 1:-1], 0.0)
    assert float(y[0, 0]) == 2.0  # two neighbours fall in the zero padding


def test_conv2d_bad_shapes():
    with pytest.raises(ValueError, match=r"\(1, 4, 4, 2\).*\(3, 3, 1, 8\)"):
        affine.conv2d(jnp.ones((1, 4, 4, 2)), jnp.ones((3, 3, 1, 8)), jnp.ones(8))
    with pytest.raises(ValueError, match="rank 4"):
        affine.conv2d(jnp.ones((4, 4, 1)), jnp.ones((3, 3, 1, 8)), jnp.ones(8))


# --------------------------------------------------------------------------------- max-pool

POOL_SHAPES = [(1, 4, 4, 2), (2, 5, 3, 1)]  # even sides, and odd ones ('same' pads the end)
_pool_vjp = jax.jit(lambda x, g: jax.vjp(pooling.max_pool, x)[1](g)[0])
_pool_hand = jax.jit(pooling.max_pool_backward)


@pytest.mark.parametrize("shape", POOL_SHAPES, ids=str)
@given(data=st.data())
def test_max_pool_gradient_routes_to_the_arg_max(shape, data):
    # Distinct values at least 0.2 apart (a permutation plus small jitter): no ties, and
    # finite differences never move the arg-max.
    n = math.prod(shape)
    order = np.array(data.draw(st.permutations(range(n))), dtype=np.float64)
    jitter = data.draw(float_arrays((n,), 0.0, 0.8))
    x = ((order + jitter) * data.draw(st.sampled_from([-1.0, 1.0]))).reshape(shape)
    out_shape = (shape[0], math.ceil(shape[1] / 2), math.ceil(shape[2] / 2), shape[3])
    g = data.draw(float_arrays(out_shape, -3, 3))
    assert_close(_pool_hand(x, g), _pool_vjp(x, g))
    check_grads(jax.jit(pooling.max_pool), (x,), order=1, modes=["rev"], eps=1e-3)
    # Exactly one entry per window receives each upstream value.
    assert int(jnp.sum(_pool_hand(x, jnp.ones(out_shape)))) == math.prod(out_shape)


def test_max_pool_values_and_same_padding():
    x = jnp.arange(1.0, 26.0).reshape(1, 5, 5, 1)
    y = pooling.max_pool(x)[0, :, :, 0]
    np.testing.assert_array_equal(y, [[7, 9, 10], [17, 19, 20], [22, 24, 25]])
    assert pooling.max_pool(jnp.zeros((2, 7, 7, 64))).shape == (2, 4, 4, 64)
    assert pooling.max_pool(-jnp.ones((1, 3, 3, 1)))[0, 1, 1, 0] == -1.0  # padding never wins


def test_max_pool_ties_go_to_the_first_maximum():
    g = pooling.max_pool_backward(jnp.zeros((1, 2, 2, 1)), jnp.ones((1, 1, 1, 1)))
    np.testing.assert_array_equal(g[0, :, :, 0], [[1.0, 0.0], [0.0, 0.0]])


# -------------------------------------------------------------------------------------- LRN

LRN_SHAPES = [(2, 2, 3, 7), (1, 2, 2, 13)]  # fewer channels than the 11-wide window, and more
_lrn_vjp = jax.jit(lambda x, g, alpha: jax.vjp(lambda v: lrn.lrn(v, alpha=alpha), x)[1](g)[0])
_lrn_hand = jax.jit(lambda x, g, alpha: lrn.lrn_backward(x, g, alpha=alpha))
_lrn = jax.jit(lambda x, alpha: lrn.lrn(x, alpha=alpha))


def lrn_reference(x, *, depth_radius=5, bias=1.0, alpha=1e-4, beta=0.75):
    """TensorFlow's documented formula, with explicit channel loops."""
    x = np.asarray(x)
    c = x.shape[-1]
    y = np.empty_like(x)
    for k in range(c):
        window = x[..., max(0, k - depth_radius) : k + depth_radius + 1]
        y[..., k] = x[..., k] / (bias + alpha * np.sum(window**2, axis=-1)) ** beta
    return y


@pytest.mark.parametrize("shape", LRN_SHAPES, ids=str)
@given(data=st.data(), alpha=st.sampled_from([1e-4, 1e-2, 0.5]))
def test_lrn_value_and_gradient(shape, data, alpha):
    # Large activations and alpha make the cross-channel term matter, not just the 1/d scale.
    x = data.draw(float_arrays(shape, -10, 10))
    g = data.draw(float_arrays(shape, -3, 3))
    np.testing.assert_allclose(_lrn(x, alpha), lrn_reference(x, alpha=alpha), 1e-12, 1e-300)
    assert_close(_lrn_hand(x, g, alpha), _lrn_vjp(x, g, alpha))
    check_grads(lambda v: _lrn(v, alpha), (x,), order=1, modes=["rev"])


def test_lrn_alpha_is_not_divided_by_the_window():
    """One active channel: y = 2 / (1 + 1e-4 * 2**2)**0.75 (PyTorch would use 1e-4 / 11)."""
    x = jnp.zeros((1, 1, 1, 32)).at[0, 0, 0, 3].set(2.0)
    y = lrn.lrn(x)
    assert float(y[0, 0, 0, 3]) == pytest.approx(2.0 / (1.0 + 4e-4) ** 0.75, rel=1e-14)
    assert float(jnp.sum(jnp.abs(y))) == pytest.approx(float(y[0, 0, 0, 3]), rel=1e-14)


# ---------------------------------------------------------------------------------- dropout

_drop_vjp = jax.jit(
    lambda x, g, keep, key: jax.vjp(lambda v: dropout.dropout(v, keep, key=key), x)[1](g)[0],
    static_argnums=2,
)
_drop_hand = jax.jit(
    lambda g, keep, key: dropout.dropout_backward(g, keep, key=key), static_argnums=1
)
_drop = jax.jit(lambda x, keep, key: dropout.dropout(x, keep, key=key), static_argnums=1)


@given(
    data=st.data(),
    keep=st.sampled_from([0.8, 1.0]),
    seed=st.integers(0, 2**31 - 1),
)
def test_dropout_gradient_is_the_mask(data, keep, seed):
    key = jax.random.key(seed)
    x = data.draw(float_arrays((4, 6), -3, 3))
    g = data.draw(float_arrays((4, 6), -3, 3))
    assert_close(_drop_hand(g, keep, key), _drop_vjp(x, g, keep, key))
    check_grads(lambda v: _drop(v, keep, key), (x,), order=1, modes=["rev"])


def test_dropout_keeps_the_right_fraction_and_scales():
    x = jnp.ones((200, 500), jnp.float32)
    y = dropout.dropout(x, 0.8, key=jax.random.key(0))
    kept = y != 0
    assert float(jnp.mean(kept)) == pytest.approx(0.8, abs=0.005)  # keep, not drop, 0.8
    np.testing.assert_allclose(y[kept], 1.25, rtol=1e-6)
    assert y.dtype == jnp.float32
    np.testing.assert_array_equal(dropout.dropout(x, 1.0, key=jax.random.key(0)), x)


@pytest.mark.parametrize("keep", [0.0, -0.1, 1.5])
def test_dropout_rejects_bad_keep_probability(keep):
    with pytest.raises(ValueError, match=r"keep_prob must be in \(0, 1\]"):
        dropout.dropout(jnp.ones(3), keep, key=jax.random.key(0))


# ------------------------------------------------------------------- softmax cross-entropy

_ce_grad = jax.jit(jax.grad(losses.softmax_cross_entropy))
_ce_hand = jax.jit(losses.softmax_cross_entropy_grad)
_ce = jax.jit(losses.softmax_cross_entropy)


@given(
    logits=float_arrays((6, 10), -10, 10),
    labels=hnp.arrays(np.int32, (6,), elements=st.integers(0, 9)),
)
def test_softmax_cross_entropy_gradient(logits, labels):
    assert_close(_ce_hand(logits, labels), _ce_grad(logits, labels))
    check_grads(lambda z: _ce(z, labels), (logits,), order=1, modes=["rev"])


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_uniform_logits_give_exactly_log_10(dtype):
    loss = losses.softmax_cross_entropy(jnp.zeros((5, 10), dtype), jnp.arange(5))
    assert loss.dtype == dtype
    assert float(loss) == pytest.approx(math.log(10), rel=3e-7 if dtype == jnp.float32 else 1e-15)
    # And the mean is over the batch: the same loss for any batch size.
    assert float(losses.softmax_cross_entropy(jnp.full((1, 10), 3.0, dtype), jnp.array([9]))) == (
        pytest.approx(math.log(10), rel=1e-6)
    )


def test_softmax_cross_entropy_value_by_hand():
    logits = jnp.array([[0.0, math.log(3.0)], [0.0, 0.0]])
    loss = losses.softmax_cross_entropy(logits, jnp.array([1, 0]))
    assert float(loss) == pytest.approx((-math.log(0.75) + math.log(2.0)) / 2, rel=1e-14)


@pytest.mark.parametrize(
    "logits, labels, match",
    [
        (jnp.zeros((4, 10)), jnp.zeros((4, 1), int), r"labels \[B\].*\(4, 10\).*\(4, 1\)"),
        (jnp.zeros(10), jnp.zeros((), int), r"\[B, K\]"),
        (jnp.zeros((2, 10)), jnp.zeros(2), "integer"),
        (jnp.zeros((2, 10)), jnp.array([0, 10]), r"\[0, 10\).*0 to 10"),
        (jnp.zeros((2, 10)), jnp.array([-1, 3]), r"\[0, 10\).*-1 to 3"),
    ],
)
def test_softmax_cross_entropy_bad_input(logits, labels, match):
    with pytest.raises(ValueError, match=match):
        losses.softmax_cross_entropy(logits, labels)
    with pytest.raises(ValueError, match=match):
        losses.softmax_cross_entropy_grad(logits, labels)


# ------------------------------------------------------------------------------- L2 penalty


_l2 = jax.jit(losses.l2_penalty)


@given(w1=float_arrays((3, 3, 1, 2), -3, 3), w2=float_arrays((2, 2), -3, 3))
def test_l2_penalty_gradient(w1, w2):
    assert_close(losses.l2_penalty_grad([w1, w2]), jax.grad(_l2)([w1, w2]))
    check_grads(_l2, ([w1, w2],), order=1, modes=["rev"])


def test_l2_penalty_is_tflearns():
    w = jnp.array([[1.0, 2.0], [3.0, 0.0]])
    assert float(losses.l2_penalty([w, jnp.ones(2)])) == pytest.approx(0.001 * 16.0 / 2)


# ---------------------------------------------------------------- the custom_vjp rules
# jax.grad of a HAND layer runs its custom_vjp rule (the hand formula); jax.grad of the pure
# forward is autodiff. They must agree wherever the function is differentiable.


def _vjps(name, **kw):
    """Jitted ``(args, g) -> (hand cotangents, autodiff cotangents)`` for layer ``name``."""

    def pair(args, g):
        hand = jax.vjp(lambda *a: getattr(nn.HAND, name)(*a, **kw), *args)[1](g)
        auto = jax.vjp(lambda *a: getattr(nn.AUTODIFF, name)(*a, **kw), *args)[1](g)
        return hand, auto

    return jax.jit(pair)


_CUSTOM = {
    "dense": _vjps("dense"),
    "conv2d": _vjps("conv2d"),
    "max_pool": _vjps("max_pool"),
    "lrn": _vjps("lrn", alpha=0.5),
}


@pytest.mark.parametrize("case", CONV_CASES, ids=str)
@given(data=st.data())
def test_custom_vjp_dense_and_conv2d_equal_autodiff(case, data):
    x_shape, w_shape = case
    args = tuple(data.draw(float_arrays(s, -3, 3)) for s in (x_shape, w_shape, w_shape[-1:]))
    g = data.draw(float_arrays(x_shape[:3] + w_shape[-1:], -3, 3))
    assert_close(*_CUSTOM["conv2d"](args, g))
    args = tuple(data.draw(float_arrays(s, -3, 3)) for s in ((3, 5), (5, 4), (4,)))
    assert_close(*_CUSTOM["dense"](args, data.draw(float_arrays((3, 4), -3, 3))))


@pytest.mark.parametrize("shape", POOL_SHAPES, ids=str)
@given(data=st.data())
def test_custom_vjp_max_pool_and_lrn_equal_autodiff_off_ties(shape, data):
    n = math.prod(shape)
    order = np.array(data.draw(st.permutations(range(n))), dtype=np.float64)
    x = (order + data.draw(float_arrays((n,), 0.0, 0.8))).reshape(shape)  # distinct: no ties
    out_shape = (shape[0], math.ceil(shape[1] / 2), math.ceil(shape[2] / 2), shape[3])
    assert_close(*_CUSTOM["max_pool"]((x,), data.draw(float_arrays(out_shape, -3, 3))))
    x = data.draw(float_arrays(shape, -10, 10))
    assert_close(*_CUSTOM["lrn"]((x,), data.draw(float_arrays(shape, -3, 3))))


_custom_dropout = jax.jit(
    lambda x, g, key: tuple(
        jax.vjp(lambda v, ops=ops: ops.dropout(v, 0.8, key=key), x)[1](g)[0]
        for ops in (nn.HAND, nn.AUTODIFF)
    )
)
_custom_losses = jax.jit(
    lambda z, labels, ws: tuple(
        jax.grad(
            lambda z, ws, ops=ops: 3.0 * ops.softmax_cross_entropy(z, labels) + ops.l2_penalty(ws),
            (0, 1),
        )(z, ws)
        for ops in (nn.HAND, nn.AUTODIFF)
    )
)


@given(
    data=st.data(),
    seed=st.integers(0, 2**31 - 1),
    labels=hnp.arrays(np.int32, (6,), elements=st.integers(0, 9)),
)
def test_custom_vjp_dropout_and_losses_equal_autodiff(data, seed, labels):
    x, g = data.draw(float_arrays((4, 6), -3, 3)), data.draw(float_arrays((4, 6), -3, 3))
    assert_close(*_custom_dropout(x, g, jax.random.key(seed)))
    z = data.draw(float_arrays((6, 10), -10, 10))
    ws = [data.draw(float_arrays((3, 3, 1, 2), -3, 3)), data.draw(float_arrays((2, 2), -3, 3))]
    assert_close(*_custom_losses(z, labels, ws))


def test_custom_vjp_values_are_the_pure_forwards():
    x = jax.random.normal(jax.random.key(0), (2, 6, 6, 3))
    w, b = jax.random.normal(jax.random.key(1), (3, 3, 3, 4)), jnp.arange(4.0)
    assert_close(nn.HAND.conv2d(x, w, b), affine.conv2d(x, w, b))
    assert_close(nn.HAND.max_pool(x), pooling.max_pool(x))
    assert_close(nn.HAND.lrn(x), lrn.lrn(x))
    key = jax.random.key(2)
    assert_close(nn.HAND.dropout(x, 0.8, key=key), dropout.dropout(x, 0.8, key=key))
    with pytest.raises(ValueError, match="backward must be one of"):
        nn.ops("finite-differences")


def test_max_pool_tie_rule_first_maximum_takes_all_autodiff_splits():
    """The stated tie rule: in a window of equal maxima the hand rule sends the whole upstream
    gradient to the first in row-major order (TensorFlow's choice); ``jax.grad`` of the pure
    forward splits it equally. Both sum to the upstream gradient."""
    x = jnp.array([[0.0, 2.0, 5.0, 5.0], [2.0, 1.0, 5.0, 5.0]])[None, :, :, None]
    g = jnp.array([[[[1.0], [4.0]]]])
    hand = jax.vjp(nn.HAND.max_pool, x)[1](g)[0][0, :, :, 0]
    auto = jax.vjp(pooling.max_pool, x)[1](g)[0][0, :, :, 0]
    np.testing.assert_array_equal(hand, [[0.0, 1.0, 4.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(auto, [[0.0, 0.5, 1.0, 1.0], [0.5, 0.0, 1.0, 1.0]])
    np.testing.assert_array_equal(hand, pooling.max_pool_backward(x, g)[0, :, :, 0])


# ----------------------------------------------------------------------- ``jaxdl check``


def test_gradient_checks_all_pass():
    key = jax.random.key(0)
    checks = [
        c for module in (affine, pooling, lrn, dropout) for c in module.gradient_checks(key=key)
    ]
    checks += [c for c in losses.gradient_checks(key=key) if c.name in _CLASSIFICATION_CHECKS]
    bases = [
        "nn.dense",
        "nn.conv2d",
        "nn.conv2d, one input channel",
        "nn.max_pool",
        "nn.lrn",
        "nn.dropout",
        "losses.softmax_cross_entropy",
        "losses.l2_penalty",
    ]
    assert [c.name for c in checks] == [b for base in bases for b in (base, f"{base} custom_vjp")]
    assert all(c.passed for c in checks), [c for c in checks if not c.passed]


_CLASSIFICATION_CHECKS = {
    f"losses.{name}{suffix}"
    for name in ("softmax_cross_entropy", "l2_penalty")
    for suffix in ("", " custom_vjp")
}
