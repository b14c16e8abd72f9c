"""Generated IDX files for the data tests (random pixels: test fixtures, not MNIST)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from jaxdl.data.idx import encode_idx
from jaxdl.data.mnist import FILES


def random_split(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images [count, 28, 28] and labels [count] in 0-9, from ``seed``."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
    labels = (np.arange(count) % 10).astype(np.uint8)
    return images, labels


def gz(array: np.ndarray) -> bytes:
    return gzip.compress(encode_idx(array), compresslevel=1, mtime=0)


def write_idx(path: Path, array: np.ndarray, *, compress: bool) -> Path:
    path.write_bytes(gz(array) if compress else encode_idx(array))
    return path


def small_mnist_files(counts=(("train", 30), ("test", 10))) -> dict[str, tuple[np.ndarray, bytes]]:
    """``{"train-images-idx3-ubyte.gz": (array, gz bytes), ...}`` for a small fake MNIST."""
    files = {}
    for seed, (split, count) in enumerate(counts):
        images, labels = random_split(count, seed)
        files[FILES[(split, "images")] + ".gz"] = (images, gz(images))
        files[FILES[(split, "labels")] + ".gz"] = (labels, gz(labels))
    return files


def write_directory(directory: Path, files, *, compress: bool, dotted: bool = False) -> Path:
    """Write ``small_mnist_files()`` into ``directory``, gzipped or not, dotted names or not."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, (array, _) in files.items():
        base = name.removesuffix(".gz")
        if dotted:
            base = base.replace("-idx", ".idx")
        write_idx(directory / (base + (".gz" if compress else "")), array, compress=compress)
    return directory
