import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdl import optim


def _trajectory(optimizer, steps=25):
    params = {"w": jnp.array([1.5, -0.5]), "b": jnp.array(0.3)}

    def loss(p):
        return jnp.sum((p["w"] - jnp.array([0.2, 0.7])) ** 2) + jnp.cos(3 * p["b"])

    state = optimizer.init(params)
    path = []
    for _ in range(steps):
        updates, state = optimizer.update(jax.grad(loss)(params), state, params)
        params = optax.apply_updates(params, updates)
        path.append(params)
    return path


def test_same_updates_as_optax():
    ours, reference = optim.gradient_descent(0.05), optax.sgd(0.05)
    for a, b in zip(_trajectory(ours), _trajectory(reference), strict=True):
        for leaf_a, leaf_b in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
            np.testing.assert_allclose(leaf_a, leaf_b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("bad", [0.0, -0.1, float("nan"), float("inf")])
def test_bad_learning_rate(bad):
    with pytest.raises(ValueError, match="learning rate"):
        optim.gradient_descent(bad)


def test_clipped_adam_clips_the_global_norm_before_adam():
    # The optimizer is clip -> Adam: a huge gradient reaches Adam with global norm 1.
    opt = optim.clipped_adam(0.1, 1.0)
    grads = {"w": jnp.full((4,), 100.0)}
    _, state = opt.update(grads, opt.init(grads))
    adam_state = state[1][0]
    assert float(jnp.linalg.norm(adam_state.mu["w"])) == pytest.approx(0.1)  # (1 - b1) * 1
