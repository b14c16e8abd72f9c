"""The trainable MNIST models, each a module satisfying :class:`Model`.

What the trainer (:mod:`jaxdl.training`) needs of a model is the :class:`Model` protocol:
``init_params``, ``apply``, ``l2_penalty`` and ``summary``. The convnet and the MLP also offer
``layer_outputs(params, x) -> {name: activation}`` (every layer's output in inference mode, for
seed 004's per-layer inspection). ``apply`` and ``l2_penalty`` take the one backward switch,
``backward="auto" | "hand" | "autodiff"`` (:mod:`jaxdl.backward`): the hand-derived
``custom_vjp`` ops or the pure forwards under ``jax.grad`` (same values; ``"auto"``, the
default, picks per platform). :func:`objective` is the training objective, written once.

Models: :mod:`jaxdl.models.deep_cnn` (TFLearn's MNIST convnet), :mod:`jaxdl.models.mnist_mlp` (seed
004's MNIST MLP) and :mod:`jaxdl.models.flax_cnn` (the Flax NNX twin of the convnet).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np

#: Model modules by command-line name.
MODELS = {"deep-cnn": "jaxdl.models.deep_cnn", "mlp": "jaxdl.models.mnist_mlp"}

IMAGE_SHAPE = (28, 28, 1)
NUM_CLASSES = 10


class Model(Protocol):
    """What :func:`jaxdl.training.fit` needs of a model (a module, or any object with these)."""

    #: The ``backward`` values ``apply`` and ``l2_penalty`` accept (``("auto",)``: one pass).
    BACKWARDS: tuple[str, ...]

    #: Whether a step gains from splitting its batch over several devices (measured per model
    #: by ``benchmarks/every_core.py``); ``devices=0`` (the default) splits only then. A model
    #: without the attribute stays on one device.
    SPLITS_BATCH: bool

    def init_params(self, key: jax.Array, *, dtype: Any = jnp.float32) -> Any:
        """Fresh parameters: a pytree, usually ``{layer: {"w": ..., "b": ...}}``."""

    def apply(
        self,
        params: Any,
        x: jax.Array,
        *,
        key: jax.Array | None = None,
        train: bool = False,
        backward: str = "auto",
    ) -> jax.Array:
        """Logits ``[B, classes]`` for images ``[B, *image_shape]``; dropout only when
        ``train=True``, which needs ``key``; ``backward`` as in :func:`jaxdl.nn.ops`."""

    def l2_penalty(self, params: Any, *, backward: str = "auto") -> jax.Array:
        """The regulariser added to the training objective (a scalar; 0 for none)."""

    def summary(self, params: Any) -> Summary:
        """Parameters per array and in total."""


def objective(
    logits: jax.Array, labels: jax.Array, penalty: jax.Array, *, backward: str = "auto"
) -> jax.Array:
    """The training objective: mean softmax cross-entropy of ``logits [B, C]`` against integer
    ``labels [B]``, plus the model's ``penalty`` (cast to the loss's dtype).

    ``backward`` picks the cross-entropy's gradient (:func:`jaxdl.nn.ops`).
    """
    from jaxdl import nn

    loss = nn.ops(backward).softmax_cross_entropy(logits, labels)
    return loss + jnp.asarray(penalty).astype(loss.dtype)


def get(name: str) -> Model:
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
    """``ValueError`` unless ``x`` is a batch of MNIST images ``[B, 28, 28, 1]`` in floats.

    Shape, an empty batch and an integer dtype (uint8 0..255, where the models were trained on
    [0, 1]: accuracy 0.907 instead of 0.9625, silently) are refused always, at no cost under
    ``jit``; NaN or infinite pixels when ``x`` is concrete (a call from the host, not a step
    of the jitted training loop, whose data :func:`jaxdl.training.fit` checked once).
    """
    if jnp.ndim(x) != 4 or tuple(jnp.shape(x)[1:]) != IMAGE_SHAPE:
        raise ValueError(f"images must have shape [B, 28, 28, 1], got {jnp.shape(x)}")
    if jnp.shape(x)[0] == 0:
        raise ValueError("empty batch: images have shape (0, 28, 28, 1)")
    dtype = jnp.result_type(x)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(
            f"images are {dtype}; the models take float images in [0, 1]: convert with "
            "jaxdl.data.to_float_images (divides uint8 by 255)"
        )
    if not isinstance(x, jax.core.Tracer):
        finite = np.isfinite(np.asarray(x)).reshape(jnp.shape(x)[0], -1).all(axis=1)
        if not finite.all():
            bad = np.flatnonzero(~finite)
            raise ValueError(
                f"images hold NaN or infinite pixels ({bad.size} images, the first at index "
                f"{bad[0]})"
            )


def check_dropout_key(train: bool, key: jax.Array | None) -> None:
    """``ValueError`` when dropout is asked for (``train=True``) without a key."""
    if train and key is None:
        raise ValueError("train=True applies dropout and needs a PRNG key: pass key=...")
