"""The embedded sample: real MNIST digits, the right shapes, balanced, with provenance."""

from __future__ import annotations

import hashlib
import importlib.resources
import io
import json

import numpy as np
import pytest

from jaxdl.data import MnistDataError, mnist, mnist_with_checks, sample_metadata
from jaxdl.data.mnist import SAMPLE_FILE, SHA256_DECOMPRESSED, load_sample_bytes


@pytest.mark.parametrize(("split", "per_class"), [("train", 800), ("test", 200)])
def test_sample_shapes_dtypes_and_balance(split, per_class):
    data = mnist(split)
    n = 10 * per_class
    assert data.images.shape == (n, 28, 28) and data.images.dtype == np.uint8
    assert data.labels.shape == (n,) and data.labels.dtype == np.uint8
    assert np.bincount(data.labels, minlength=10).tolist() == [per_class] * 10
    assert not data.images.flags.writeable and not data.labels.flags.writeable


def test_sample_looks_like_mnist():
    images = mnist("train").images
    # Published MNIST statistics: mean 0.1307 and std 0.3081 of pixels scaled to [0, 1];
    # about 19% of pixels are ink; the top two rows are blank in over 98% of digits.
    x = images / 255.0
    assert abs(x.mean() - 0.1307) < 0.005 and abs(x.std() - 0.3081) < 0.005
    assert 0.17 < (images > 0).mean() < 0.22
    assert (images[:, :2, :] > 0).any(axis=(1, 2)).mean() < 0.02 and images.max() == 255


def test_sample_test_part_is_held_out_from_the_mnist_test_set():
    meta = sample_metadata()
    assert meta["licence"] == "CC BY-SA 3.0" and "LeCun" in meta["authors"]
    assert meta["source_files_sha256"] == SHA256_DECOMPRESSED
    raw = importlib.resources.files("jaxdl.data").joinpath(SAMPLE_FILE).read_bytes()
    assert len(raw) <= 2 * 1024 * 1024
    with np.load(io.BytesIO(raw)) as npz:
        train_index, test_index = npz["train_indices"], npz["test_indices"]
    assert len(np.unique(train_index)) == 8000 and train_index.max() < 60000
    assert len(np.unique(test_index)) == 2000 and test_index.max() < 10000
    assert np.all(np.diff(train_index.astype(int)) > 0)  # MNIST's own order


def test_sample_checks_are_reported_verified():
    _, checks = mnist_with_checks("test")
    assert [c.status for c in checks] == ["verified", "verified"]
    assert checks[0].sha256 == hashlib.sha256(mnist("test").images.tobytes()).hexdigest()


def test_tampered_sample_is_refused():
    raw = importlib.resources.files("jaxdl.data").joinpath(SAMPLE_FILE).read_bytes()
    with np.load(io.BytesIO(raw)) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["test_labels"] = arrays["test_labels"].copy()
    arrays["test_labels"][0] = (arrays["test_labels"][0] + 1) % 10
    out = io.BytesIO()
    np.savez(out, **arrays)
    with pytest.raises(MnistDataError, match="test_labels: expected sha256"):
        load_sample_bytes(out.getvalue())
    assert json.loads(str(arrays["metadata"]))["seed"] == 0
