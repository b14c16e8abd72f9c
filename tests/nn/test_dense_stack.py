import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from jax.test_util import check_grads

from jaxdl.gradcheck import check_gradient
from jaxdl.nn import dense_stack
from tests.strategies import float_arrays

# Few distinct shapes keep compilation bounded: widths from {1, 3}, batches from {1, 4}.
WIDTHS = st.sampled_from([1, 3])


@st.composite
def mlp_problems(draw, activations=("relu", "tanh", "sigmoid", "softplus")):
    depth = draw(st.integers(1, 3))
    sizes = [draw(WIDTHS) for _ in range(depth + 1)]
    batch = draw(st.sampled_from([1, 4]))
    params = tuple(
        dense_stack.Layer(
            w=draw(float_arrays((n_in, n_out), -2, 2)), b=draw(float_arrays((n_out,), -1, 1))
        )
        for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)
    )
    x = draw(float_arrays((batch, sizes[0]), -2, 2))
    y = draw(float_arrays((batch, sizes[-1]), -2, 2))
    return params, jnp.asarray(x), jnp.asarray(y), draw(st.sampled_from(activations))


def _pre_activations_away_from_zero(params, x, activation, margin=1e-3):
    if activation != "relu":
        return True
    _, _, pre = dense_stack.mlp_forward(params, x, activation=activation)
    return all(float(jnp.min(jnp.abs(z))) > margin for z in pre[:-1])


@given(problem=mlp_problems())
def test_general_backprop_matches_autodiff_and_finite_differences(problem):
    params, x, y, activation = problem
    assume(_pre_activations_away_from_zero(params, x, activation))
    hand = dense_stack.mlp_loss_grad(params, x, y, activation=activation)
    auto = jax.grad(dense_stack.mlp_loss)(params, x, y, activation=activation)
    for h, a in zip(jax.tree.leaves(hand), jax.tree.leaves(auto), strict=True):
        np.testing.assert_allclose(h, a, rtol=1e-10, atol=1e-12)
    # finite differences judge jax.grad (random directions: no new shapes per architecture),
    # and the hand gradient equals jax.grad to 1e-10 above
    check_grads(
        lambda p: dense_stack.mlp_loss(p, x, y, activation=activation),
        (params,),
        order=1,
        modes=["rev"],
    )


def test_general_backprop_three_way_on_a_deep_net():
    params = dense_stack.init_mlp(key=jax.random.key(0), sizes=(2, 3, 3, 3, 1), dtype=jnp.float64)
    params = jax.tree.map(lambda a: a + 0.1, params)  # nonzero biases
    x = jax.random.normal(jax.random.key(1), (4, 2), jnp.float64)
    y = jax.random.normal(jax.random.key(2), (4, 1), jnp.float64)
    check = check_gradient(
        "mlp depth 4",
        jax.jit(lambda p: dense_stack.mlp_loss(p, x, y, activation="tanh")),
        jax.jit(lambda p: dense_stack.mlp_loss_grad(p, x, y, activation="tanh")),
        params,
    )
    assert check.passed, check


# One shape for seed 001's net: jit once, reuse for every Hypothesis example.
_FORWARD_BACKWARD, _MLP_LOSS = jax.jit(dense_stack.forward_backward), jax.jit(dense_stack.mlp_loss)
_MLP_AUTO, _MLP_GRAD = jax.jit(jax.grad(dense_stack.mlp_loss)), jax.jit(dense_stack.mlp_loss_grad)


@st.composite
def two_layer_problems(draw):
    first = dense_stack.Layer(
        w=draw(float_arrays((3, 4), -2, 2)), b=draw(float_arrays((4,), -1, 1))
    )
    second = dense_stack.Layer(
        w=draw(float_arrays((4, 2), -2, 2)), b=draw(float_arrays((2,), -1, 1))
    )
    x = jnp.asarray(draw(float_arrays((5, 3), -2, 2)))
    y = jnp.asarray(draw(float_arrays((5, 2), -2, 2)))
    return (first, second), x, y


@given(problem=two_layer_problems())
def test_seed_001_forward_backward_matches_autodiff(problem):
    params, x, y = problem
    assume(_pre_activations_away_from_zero(params, x, "relu"))
    loss, grads = _FORWARD_BACKWARD(params, x, y)
    np.testing.assert_allclose(loss, _MLP_LOSS(params, x, y), rtol=1e-12)
    auto = _MLP_AUTO(params, x, y)
    for h, a in zip(jax.tree.leaves(grads), jax.tree.leaves(auto), strict=True):
        np.testing.assert_allclose(h, a, rtol=1e-10, atol=1e-12)
    check_grads(_MLP_LOSS, (params, x, y), order=1, modes=["rev"])
    # the general loop gives the same numbers as the written-out seed version
    looped = _MLP_GRAD(params, x, y)
    for h, g in zip(jax.tree.leaves(grads), jax.tree.leaves(looped), strict=True):
        np.testing.assert_allclose(h, g, rtol=1e-12, atol=1e-14)


@given(
    g=float_arrays((4, 2), -3, 3),
    x=float_arrays((4, 3), -3, 3),
    w=float_arrays((3, 2), -3, 3),
    b=float_arrays((2,), -3, 3),
)
def test_linear_grad_is_the_vjp_of_linear(g, x, w, b):
    layer = dense_stack.Layer(jnp.asarray(w), jnp.asarray(b))
    dx, d_layer = dense_stack.linear_backward(x, layer, jnp.asarray(g))
    _, vjp = jax.vjp(dense_stack.linear, jnp.asarray(x), layer)
    auto_dx, auto_layer = vjp(jnp.asarray(g))
    np.testing.assert_allclose(dx, auto_dx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(d_layer.w, auto_layer.w, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(d_layer.b, auto_layer.b, rtol=1e-12, atol=1e-12)


def test_init_mlp_shapes():
    params = dense_stack.init_mlp(key=jax.random.key(0), sizes=(3, 5, 2))
    assert [p.w.shape for p in params] == [(3, 5), (5, 2)]
    assert [p.b.shape for p in params] == [(5,), (2,)]
    assert params[0].w.dtype == jnp.float32


@pytest.mark.parametrize("sizes", [(3,), (3, 0, 1), (3, -2), (2, 2.5)])
def test_bad_widths(sizes):
    with pytest.raises(ValueError, match="width|sizes"):
        dense_stack.init_mlp(key=jax.random.key(0), sizes=sizes)


def test_shapes_that_do_not_chain_are_named():
    params = dense_stack.init_mlp(key=jax.random.key(0), sizes=(3, 4, 1), dtype=jnp.float64)
    x, y = jnp.zeros((5, 3)), jnp.zeros((5, 1))
    with pytest.raises(ValueError, match="data has 2 columns"):
        dense_stack.mlp_loss_grad(params, jnp.zeros((5, 2)), y)
    broken = (params[0], dense_stack.Layer(jnp.zeros((3, 1)), jnp.zeros(1)))
    with pytest.raises(ValueError, match="layer 0 outputs 4 columns"):
        dense_stack.mlp_loss_grad(broken, x, y)
    with pytest.raises(ValueError, match=r"targets have shape \(4, 1\)"):
        dense_stack.mlp_loss_grad(params, x, jnp.zeros((4, 1)))
    with pytest.raises(ValueError, match="bias"):
        dense_stack.check_chain((dense_stack.Layer(jnp.zeros((3, 2)), jnp.zeros(3)),), x)
    with pytest.raises(ValueError, match="activation"):
        dense_stack.mlp_loss_grad(params, x, y, activation="heaviside")


def test_its_gradient_checks_pass_and_jaxdl_check_runs_them():
    from jaxdl import nn

    checks = dense_stack.gradient_checks(key=jax.random.key(0))
    assert len(checks) == 3 and all(c.passed for c in checks)
    assert dense_stack in nn.OP_MODULES  # found on the file system, no list to edit
