"""MNIST digits as each chapter's network takes them.

:func:`jaxdl.data.mnist` reads the digits (uint8 ``[N, 28, 28]``, labels 0-9) from the shipped
sample, a download or a directory; the chapters differ in what their networks read:

- the MNIST recipe (``jaxdl train``) and the Vision Transformer: float images
  ``[N, 28, 28, 1]`` in [0, 1] (:func:`jaxdl.data.batches.to_float_images`, :func:`float_images`);
- the batch-norm chapter's MLP: rows of 784 values in [0, 1] (:func:`flattened`);
- the ResNet chapter: padded to CIFAR's 32x32 and average-pooled to a side (:func:`pooled`);
- the 1989 zip-code net: 16x16 in [-1, 1] with ±1 targets, the stand-in for the zip-code set
  (:class:`Digits`, :func:`shrink`, :func:`load_digits`).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxdl.data.batches import Batch, to_float_images
from jaxdl.data.mnist import mnist


def flattened(source: str, dtype) -> tuple[Batch, Batch]:
    """The training and test digits of ``source`` (``sample`` or a directory) as rows of 784
    values in [0, 1] (the batch-norm chapter's MLP takes them so)."""

    def flat(split):
        images, labels = mnist(split, source)
        x = np.asarray(images, np.float64).reshape(len(images), -1) / 255.0
        return Batch(jnp.asarray(x, dtype), jnp.asarray(labels, jnp.int32))

    return flat("train"), flat("test")


def pooled(images: np.ndarray, labels: np.ndarray, side: int, dtype=jnp.float32) -> Batch:
    """uint8 ``[N, 28, 28]`` -> ``[N, side, side, 1]`` in [0, 1]: padded to 32x32 (CIFAR's
    size), then average-pooled to ``side`` (the ResNet chapter's input)."""
    x = np.pad(np.asarray(images, np.float32) / 255.0, ((0, 0), (2, 2), (2, 2)))
    f = 32 // side
    x = x.reshape(len(x), side, f, side, f).mean(axis=(2, 4))[..., None]
    return Batch(jnp.asarray(x, dtype), jnp.asarray(labels, jnp.int32))


def _whole_batches(test: Batch, size: int = 500) -> Batch:
    """``test`` cut to a multiple of ``size`` (a chapter that evaluates in batches of 500)."""
    keep = (len(test.labels) // size) * size
    return Batch(test.images[:keep], test.labels[:keep])


def load_pooled(source: str, side: int) -> tuple[Batch, Batch]:
    """The training and test digits of ``source`` at ``side`` pixels (:func:`pooled`), the test
    split cut to a multiple of 500 (the chapter evaluates in batches of 500)."""
    train, test = mnist("train", source), _whole_batches(mnist("test", source))
    return pooled(train.images, train.labels, side), pooled(test.images, test.labels, side)


def float_images(source: str) -> tuple[Batch, Batch]:
    """The training and test digits of ``source`` as float32 ``[N, 28, 28, 1]`` in [0, 1] with
    int32 labels, the test split cut to a multiple of 500."""
    train, test = mnist("train", source), _whole_batches(mnist("test", source))
    return tuple(
        Batch(to_float_images(part.images), jnp.asarray(part.labels, jnp.int32))
        for part in (train, test)
    )


class Digits(NamedTuple):
    """Digits as the network takes them."""

    images: jax.Array  # [N, 16, 16, 1]  in [-1, 1], ink +1
    labels: jax.Array  # [N]  0-9
    targets: jax.Array  # [N, 10]  +1 for the label, -1 elsewhere


@functools.cache
def _area_matrix(size_in: int, size_out: int) -> np.ndarray:
    """``A [size_out, size_in]``: row ``i`` averages the input pixels under output pixel ``i``.

    Output pixel ``i`` covers ``[i r, (i + 1) r)`` with ``r = size_in / size_out``; ``A[i, j]`` is
    the length of its overlap with input pixel ``[j, j + 1)``, divided by ``r``.
    """
    r = size_in / size_out
    a = np.zeros((size_out, size_in))
    for i in range(size_out):
        for j in range(size_in):
            a[i, j] = max(0.0, min((i + 1) * r, j + 1) - max(i * r, j)) / r
    return a


def shrink(images: ArrayLike, size: int = 16) -> np.ndarray:
    """uint8 ``[N, H, W]`` (0 background, 255 ink) -> float64 ``[N, size, size, 1]`` in [-1, 1].

    Area averaging, a fixed linear map: each output pixel is the mean of the 28x28 image over
    the 1.75 x 1.75 square it covers, ``A X Aᵀ`` with :func:`_area_matrix` (so a blank image
    stays -1 everywhere and ink keeps its total). Then ``2 v / 255 - 1``.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ValueError(
            f"images must be uint8 [N, H, W] as mnist() returns them, got "
            f"{images.dtype} {list(images.shape)}"
        )
    ah = _area_matrix(images.shape[1], size)
    aw = _area_matrix(images.shape[2], size)
    small = np.einsum("ih,nhw,jw->nij", ah, images.astype(np.float64), aw)
    return (2.0 * small / 255.0 - 1.0)[..., None]


def digits(images: ArrayLike, labels: ArrayLike, dtype=None) -> Digits:
    """:class:`Digits` from uint8 MNIST images and labels (:func:`shrink`, targets +-1)."""
    dtype = dtype or jnp.result_type(float)
    labels = np.asarray(labels).astype(np.int32)
    targets = np.where(np.arange(10)[None, :] == labels[:, None], 1.0, -1.0)
    return Digits(
        jnp.asarray(shrink(images), dtype), jnp.asarray(labels), jnp.asarray(targets, dtype)
    )


def load_digits(source: str, *, train_size: int, test_size: int) -> tuple[Digits, Digits]:
    """The stand-in for the zip-code set: the first ``train_size`` training digits and the first
    ``test_size`` test digits of ``source`` (``"sample"``, ``"download"`` or an IDX directory, as
    :func:`jaxdl.data.mnist` reads it), fewer where the source has fewer (the sample has 2000
    test digits), shrunk to 16x16.
    """
    train, test = mnist("train", source), mnist("test", source)
    return (
        digits(train.images[:train_size], train.labels[:train_size]),
        digits(test.images[:test_size], test.labels[:test_size]),
    )
