"""Models built from :mod:`jaxdl.layers`, each a module with the same pure interface.

- ``init_params(key, *, dtype=jnp.float32) -> params``: a dict pytree ``{layer: {"w", "b"}}``.
- ``apply(params, x, *, key=None, train=False) -> logits [B, 10]`` for images ``[B, 28, 28, 1]``;
  dropout is active only when ``train=True``, which needs ``key``.
- ``layer_outputs(params, x) -> {name: activation}``: every layer's output (inference mode), for
  seed 004's per-layer inspection.
- ``summary(params) -> Summary``: parameters per array and in total.
- ``l2_penalty(params) -> scalar``: the regulariser the trainer adds to the loss.

Models: :mod:`jaxdl.models.deep_cnn` (TFLearn's MNIST convnet), :mod:`jaxdl.models.mnist_mlp` (seed
004's MNIST MLP) and :mod:`jaxdl.models.flax_cnn` (the Flax NNX twin of the convnet).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

#: Model modules by command-line name.
MODELS = {"deep-cnn": "jaxdl.models.deep_cnn", "mlp": "jaxdl.models.mnist_mlp"}

IMAGE_SHAPE = (28, 28, 1)
NUM_CLASSES = 10


def get(name: str):
    """The model module called ``name`` (``"deep-cnn"`` or ``"mlp"``)."""
    import importlib

    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(MODELS)}")
    return importlib.import_module(MODELS[name])


class Summary(NamedTuple):
    """Parameter count per array and in total."""

    rows: list[tuple[str, tuple[int, ...], int]]  # (name like "conv1.w", shape, count)
    total: int

    def format(self) -> str:
        """A table like Keras' ``model.summary()``."""
        width = max(len(name) for name, _, _ in self.rows)
        lines = [f"{'layer':<{width}}  {'shape':<20} {'params':>10}"]
        lines += [f"{n:<{width}}  {str(s):<20} {c:>10,}" for n, s, c in self.rows]
        lines.append(f"{'total':<{width}}  {'':<20} {self.total:>10,}")
        return "\n".join(lines)


def summarize(params: dict[str, dict[str, Any]]) -> Summary:
    """Rows ``(layer.param, shape, count)`` in the order of ``params``, and the total."""
    rows = [
        (f"{layer}.{name}", tuple(array.shape), math.prod(array.shape))
        for layer, arrays in params.items()
        for name, array in arrays.items()
    ]
    return Summary(rows, sum(count for _, _, count in rows))


def check_images(x: jax.Array) -> None:
    """``ValueError`` unless ``x`` is a batch of MNIST images ``[B, 28, 28, 1]``."""
    if jnp.ndim(x) != 4 or tuple(jnp.shape(x)[1:]) != IMAGE_SHAPE:
        raise ValueError(f"images must have shape [B, 28, 28, 1], got {jnp.shape(x)}")


def check_dropout_key(train: bool, key: jax.Array | None) -> None:
    """``ValueError`` when dropout is asked for (``train=True``) without a key."""
    if train and key is None:
        raise ValueError("train=True applies dropout and needs a PRNG key: pass key=...")
