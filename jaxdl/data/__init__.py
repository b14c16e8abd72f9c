"""Data for the milestones: MNIST with every byte checked, and batches that keep shapes fixed.

``mnist(split, source="sample" | "download" | DIR)`` loads validated uint8 arrays (see
:mod:`jaxdl.data.mnist` for sources, mirrors, checksums, cache and licence);
:func:`to_float_images`, :func:`train_validation_split` and :func:`epoch_batches` turn them
into device batches of fixed shape.
"""

from jaxdl.data.batches import (
    Batch,
    epoch_arrays,
    epoch_batches,
    to_float_images,
    train_validation_split,
)
from jaxdl.data.idx import MnistDataError
from jaxdl.data.mnist import (
    MIRRORS,
    DownloadError,
    FileCheck,
    default_cache_dir,
    fetch,
    mnist,
    mnist_with_checks,
    sample_metadata,
)

__all__ = [
    "MIRRORS",
    "Batch",
    "DownloadError",
    "FileCheck",
    "MnistDataError",
    "default_cache_dir",
    "epoch_arrays",
    "epoch_batches",
    "fetch",
    "mnist",
    "mnist_with_checks",
    "sample_metadata",
    "to_float_images",
    "train_validation_split",
]
