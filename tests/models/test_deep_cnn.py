"""The TFLearn deep CNN: architecture, parameter count, modes, the hand backward pass."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import layers
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
    loss = layers.softmax_cross_entropy(deep_cnn.apply(params, images), jnp.arange(3))
    assert float(loss) == pytest.approx(np.log(10), abs=0.1)


@pytest.mark.parametrize("train", [False, True])
def test_hand_backward_pass_equals_jax_grad(train):
    params = deep_cnn.init_params(jax.random.key(2), dtype=jnp.float64)
    params = jax.tree.map(lambda p: p + 0.05, params)  # nonzero biases exercise every path
    x = jax.random.uniform(jax.random.key(3), (2, 28, 28, 1), jnp.float64)
    labels = jnp.array([3, 7])
    key = jax.random.key(4)

    @jax.jit
    def both(params):
        hand = deep_cnn.loss_and_grad(params, x, labels, key=key, train=train)
        auto = jax.value_and_grad(deep_cnn.loss)(params, x, labels, key=key, train=train)
        with_logits = deep_cnn.loss_logits_and_grad(params, x, labels, key=key, train=train)
        return hand, auto, with_logits[0], deep_cnn.apply(params, x, key=key, train=train)

    (value, grads), (auto_value, auto_grads), (value2, logits), expected = both(params)
    assert float(value) == pytest.approx(float(auto_value), rel=1e-12)
    assert float(value2) == pytest.approx(float(auto_value), rel=1e-12)
    np.testing.assert_allclose(logits, expected, rtol=1e-13)
    for hand, auto in zip(jax.tree.leaves(grads), jax.tree.leaves(auto_grads), strict=True):
        np.testing.assert_allclose(hand, auto, rtol=1e-10, atol=1e-13)
