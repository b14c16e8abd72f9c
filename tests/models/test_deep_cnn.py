"""The TFLearn deep CNN: architecture, parameter count, modes, the hand backward pass."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxdl import losses, nn
from jaxdl.models import deep_cnn

KEY = jax.random.key(0)


@pytest.fixture(scope="module")
def params():
    return deep_cnn.init_params(KEY)


@pytest.fixture(scope="module")
def images():
    return jax.random.uniform(jax.random.key(1), (3, 28, 28, 1), jnp.float32)


def test_parameter_count_and_summary(params):
    s = deep_cnn.summary(params)
    assert s.total == deep_cnn.NUM_PARAMETERS == 455_946
    assert s.rows[0] == ("conv1.w", (3, 3, 1, 32), 288)
    assert s.rows[4] == ("fc1.w", (3136, 128), 401_408)
    assert [name for name, _, _ in s.rows][-1] == "fc3.b"
    assert "455,946" in s.format()


def test_params_are_float32_under_x64_and_tflearn_initialised(params):
    assert jax.config.jax_enable_x64  # the test suite's setting: float32 must be explicit
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(params))
    assert float(jnp.max(jnp.abs(params["conv1"]["w"]))) <= (3.0 / 9) ** 0.5
    assert float(jnp.max(jnp.abs(params["fc1"]["w"]))) <= 0.04  # truncated at 2 x 0.02
    assert all(float(jnp.sum(jnp.abs(params[n]["b"]))) == 0.0 for n in params)


def test_layer_outputs_shapes(params, images):
    shapes = {k: v.shape for k, v in deep_cnn.layer_outputs(params, images).items()}
    assert shapes == {
        "input": (3, 28, 28, 1),
        "conv1": (3, 28, 28, 32),
        "pool1": (3, 14, 14, 32),
        "lrn1": (3, 14, 14, 32),
        "conv2": (3, 14, 14, 64),
        "pool2": (3, 7, 7, 64),
        "lrn2": (3, 7, 7, 64),
        "fc1": (3, 128),
        "fc2": (3, 256),
        "fc3": (3, 10),
    }
    np.testing.assert_array_equal(
        deep_cnn.layer_outputs(params, images)["fc3"], deep_cnn.apply(params, images)
    )


def test_dropout_only_in_training(params, images):
    eval_logits = deep_cnn.apply(params, images)
    assert eval_logits.shape == (3, 10) and eval_logits.dtype == jnp.float32
    np.testing.assert_array_equal(eval_logits, deep_cnn.apply(params, images, key=KEY))
    a = deep_cnn.apply(params, images, key=jax.random.key(5), train=True)
    b = deep_cnn.apply(params, images, key=jax.random.key(5), train=True)
    c = deep_cnn.apply(params, images, key=jax.random.key(6), train=True)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, eval_logits) and not np.allclose(a, c)


def test_bad_input(params, images):
    with pytest.raises(ValueError, match="train=True.*key"):
        deep_cnn.apply(params, images, train=True)
    with pytest.raises(ValueError, match=r"\[B, 28, 28, 1\].*\(3, 28, 28\)"):
        deep_cnn.apply(params, images[..., 0])


def test_l2_penalty_is_on_the_conv_kernels_only(params):
    expected = 0.001 * 0.5 * sum(float(jnp.sum(params[n]["w"] ** 2)) for n in ("conv1", "conv2"))
    assert float(deep_cnn.l2_penalty(params)) == pytest.approx(expected, rel=1e-6)


def test_untrained_loss_is_near_log_10(params, images):
    loss = losses.softmax_cross_entropy(deep_cnn.apply(params, images), jnp.arange(3))
    assert float(loss) == pytest.approx(np.log(10), abs=0.1)


@functools.partial(jax.jit, static_argnames="train")
def _three_backward_passes(params, x, labels, key, train):
    """Written-out backward, custom_vjp layers, and autodiff of the pure forwards."""
    kwargs = dict(key=key, train=train)
    written = deep_cnn.loss_logits_and_grad(params, x, labels, **kwargs)
    hand = jax.value_and_grad(deep_cnn.loss)(params, x, labels, backward="hand", **kwargs)
    auto = jax.value_and_grad(deep_cnn.loss)(params, x, labels, backward="autodiff", **kwargs)
    return written, hand, auto, deep_cnn.apply(params, x, **kwargs)


@settings(max_examples=3)  # each example is a whole float64 network; compiled once
@given(seed=st.integers(0, 2**31 - 1), train=st.booleans())
def test_hand_backward_passes_equal_jax_grad_of_the_pure_forward(seed, train):
    k_params, k_x, k_drop = jax.random.split(jax.random.key(seed), 3)
    params = deep_cnn.init_params(k_params, dtype=jnp.float64)
    params = jax.tree.map(lambda p: p + 0.05, params)  # nonzero biases exercise every path
    x = jax.random.uniform(k_x, (2, 28, 28, 1), jnp.float64)  # continuous: no ties, no kinks
    labels = jnp.array([seed % 10, (seed // 10) % 10])
    written, hand, auto, logits = _three_backward_passes(params, x, labels, k_drop, train=train)
    (written_value, written_logits), written_grads = written
    np.testing.assert_allclose(written_logits, logits, rtol=1e-13)
    for value, grads in ((written_value, written_grads), hand):
        assert float(value) == pytest.approx(float(auto[0]), rel=1e-12)
        for g, a in zip(jax.tree.leaves(grads), jax.tree.leaves(auto[1]), strict=True):
            np.testing.assert_allclose(g, a, rtol=1e-10, atol=1e-13)


def test_backward_switch_defaults_per_platform():
    assert nn.default_backward("cpu") == "hand"
    assert nn.default_backward("no-such-platform") == "autodiff"
    with pytest.raises(ValueError, match="backward must be one of"):
        deep_cnn.loss(
            deep_cnn.init_params(KEY), jnp.zeros((1, 28, 28, 1)), jnp.zeros(1, int), backward="x"
        )
