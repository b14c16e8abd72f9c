"""Seed 004's MNIST MLP: same interface as the CNN."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import models
from jaxdl.models import mnist_mlp as mlp


def test_mlp_interface():
    params = mlp.init_params(jax.random.key(0))
    assert mlp.summary(params).total == mlp.NUM_PARAMETERS == 535_818
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(params))
    x = jax.random.uniform(jax.random.key(1), (4, 28, 28, 1), jnp.float32)
    logits = mlp.apply(params, x)
    assert logits.shape == (4, 10) and logits.dtype == jnp.float32
    outputs = mlp.layer_outputs(params, x)
    assert {k: v.shape for k, v in outputs.items()} == {
        "input": (4, 28, 28, 1),
        "fc1": (4, 512),
        "fc2": (4, 256),
        "fc3": (4, 10),
    }
    train = mlp.apply(params, x, key=jax.random.key(2), train=True)
    assert not np.allclose(train, logits)
    assert float(mlp.l2_penalty(params)) == 0.0
    with pytest.raises(ValueError, match="key"):
        mlp.apply(params, x, train=True)
    with pytest.raises(ValueError, match=r"\[B, 28, 28, 1\]"):
        mlp.apply(params, x.reshape(4, 784))


def test_model_registry():
    assert models.get("mlp") is mlp
    assert models.get("deep-cnn").NUM_PARAMETERS == 455_946
    with pytest.raises(ValueError, match="unknown model 'vgg'.*deep-cnn, mlp"):
        models.get("vgg")
