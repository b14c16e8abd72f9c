"""The Flax NNX twin: same parameters in, same logits and same gradients out."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import losses
from jaxdl.models import deep_cnn, flax_cnn


@pytest.mark.parametrize("train", [False, True])
def test_twin_gives_equal_logits_and_gradients(train):
    params = deep_cnn.init_params(jax.random.key(0), dtype=jnp.float64)
    params = jax.tree.map(lambda p: p + 0.01, params)
    graphdef, state = flax_cnn.from_params(params)
    x = jax.random.uniform(jax.random.key(1), (3, 28, 28, 1), jnp.float64)
    labels = jnp.array([0, 4, 9])
    key = jax.random.key(2)

    def ours(params):
        return losses.softmax_cross_entropy(deep_cnn.apply(params, x, key=key, train=train), labels)

    def theirs(state):
        logits = flax_cnn.apply(graphdef, state, x, key=key, train=train)
        return losses.softmax_cross_entropy(logits, labels)

    np.testing.assert_allclose(
        deep_cnn.apply(params, x, key=key, train=train),
        flax_cnn.apply(graphdef, state, x, key=key, train=train),
        rtol=1e-12,
        atol=1e-14,
    )
    ours_grads = jax.jit(jax.grad(ours))(params)
    theirs_grads = flax_cnn.to_params(jax.jit(jax.grad(theirs))(state))
    for name in params:
        for p in ("w", "b"):
            np.testing.assert_allclose(
                ours_grads[name][p], theirs_grads[name][p], rtol=1e-10, atol=1e-14
            )


def test_twin_has_the_same_shapes_and_round_trips():
    graphdef, state = flax_cnn.init(jax.random.key(0))
    params = flax_cnn.to_params(state)
    reference = deep_cnn.init_params(jax.random.key(0))
    assert jax.tree.map(jnp.shape, params) == jax.tree.map(jnp.shape, reference)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(params))
    _, state2 = flax_cnn.from_params(reference)
    assert jax.tree.all(jax.tree.map(jnp.array_equal, flax_cnn.to_params(state2), reference))
    with pytest.raises(ValueError, match="key"):
        flax_cnn.apply(graphdef, state, jnp.zeros((1, 28, 28, 1), jnp.float32), train=True)
