"""A tiny model with the jaxdl.models.Model interface, for tests.

A linear layer over the flattened image, then dropout on the logits when training: small enough
to train in milliseconds, and random enough (dropout) to test that keys are reproducible.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.models import summarize

IMAGE_SHAPE = (4, 4, 1)
BACKWARDS = ("auto",)  # one backward pass: autodiff
CLASSES = 3


def init_params(key, *, dtype=jnp.float32):
    k_w, _ = jax.random.split(key)
    size = int(np.prod(IMAGE_SHAPE))
    return {
        "w": (jax.random.normal(k_w, (size, CLASSES)) * 0.1).astype(dtype),
        "b": jnp.zeros((CLASSES,), dtype),
    }


def apply(params, x, *, key=None, train=False, backward="auto"):
    logits = x.reshape(x.shape[0], -1) @ params["w"] + params["b"][None, :]
    if train and key is not None:
        keep = jax.random.bernoulli(key, 0.8, logits.shape)
        logits = jnp.where(keep, logits / 0.8, 0.0)
    return logits


def l2_penalty(params, *, backward="auto"):
    return 1e-3 * jnp.sum(params["w"] ** 2) / 2


def summary(params):
    return summarize({"linear": params})


def make_data(n, *, seed=0):
    """Separable random data: the class is the argmax of three fixed projections."""
    rng = np.random.default_rng(seed)
    images = rng.normal(size=(n, *IMAGE_SHAPE)).astype(np.float32)
    projection = np.random.default_rng(123).normal(size=(int(np.prod(IMAGE_SHAPE)), CLASSES))
    labels = np.argmax(images.reshape(n, -1) @ projection, axis=1).astype(np.int32)
    return images, labels


class LinearMnist:
    """Softmax regression on 28x28 images with the model interface: fast stand-in for the CLI."""

    BACKWARDS = ("auto",)

    @staticmethod
    def init_params(key, *, dtype=jnp.float32):
        return {"w": jnp.zeros((784, 10), dtype), "b": jnp.zeros((10,), dtype)}

    @staticmethod
    def apply(params, x, *, key=None, train=False, backward="auto"):
        del key, train
        return x.reshape(x.shape[0], -1) @ params["w"] + params["b"][None, :]

    @staticmethod
    def l2_penalty(params, *, backward="auto"):
        return jnp.zeros([])

    @staticmethod
    def summary(params):
        return summarize({"linear": params})
