"""Float images, the validation split and the fixed-shape epoch iterator."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jaxdl.data import batches as batches_module
from jaxdl.data import (
    epoch_arrays,
    epoch_batches,
    mnist,
    to_float_images,
    train_validation_split,
)


def test_to_float_images_scales_to_unit_interval_with_a_channel():
    images = mnist("test").images[:16]
    x = to_float_images(images)
    assert x.shape == (16, 28, 28, 1) and x.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(x[..., 0]), images / np.float32(255), rtol=1e-7)
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0


@pytest.mark.parametrize(
    "bad", [np.zeros((2, 28, 28), np.float32), np.zeros((2, 28, 28, 1), np.uint8), [1, 2]]
)
def test_to_float_images_refuses_other_input(bad):
    with pytest.raises(ValueError, match=r"expected uint8 images of shape \[N, H, W\]"):
        to_float_images(bad)


# A few sizes only: each (n, batch_size) compiles the epoch function anew.
@given(n=st.sampled_from([3, 10, 23]), batch_size=st.sampled_from([5, 7]), seed=st.integers(0, 3))
def test_an_epoch_visits_every_example_at_most_once_in_fixed_shapes(n, batch_size, seed):
    ids = np.arange(n, dtype=np.int32)
    images = np.arange(n * 4, dtype=np.uint8).reshape(n, 2, 2)
    key = jax.random.key(seed)
    padded = list(epoch_batches(ids, images, batch_size=batch_size, key=key, drop_remainder=False))
    assert len(padded) == -(-n // batch_size)
    seen = []
    for batch_ids, batch_images, mask in padded:
        assert batch_ids.shape == (batch_size,) and batch_images.shape == (batch_size, 2, 2)
        assert mask.dtype == jnp.bool_
        m = np.asarray(mask)
        seen.extend(np.asarray(batch_ids)[m].tolist())
        np.testing.assert_array_equal(np.asarray(batch_images)[m], images[np.asarray(batch_ids)[m]])
        assert not np.asarray(batch_images)[~m].any() and not np.asarray(batch_ids)[~m].any()
    assert sorted(seen) == list(range(n))  # padded: every example exactly once
    if n >= batch_size:
        dropped = list(epoch_batches(ids, batch_size=batch_size, key=key))
        assert len(dropped) == n // batch_size
        flat = np.concatenate([b for (b,) in dropped])
        assert len(set(flat.tolist())) == len(flat) == (n // batch_size) * batch_size


def test_same_key_same_order_other_key_other_order():
    ids = np.arange(100)
    a = epoch_arrays(ids, batch_size=10, key=jax.random.key(0))[0]
    b = epoch_arrays(ids, batch_size=10, key=jax.random.key(0))[0]
    c = epoch_arrays(ids, batch_size=10, key=jax.random.key(1))[0]
    assert a.shape == (10, 10)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(np.asarray(a).ravel(), ids)  # shuffled


def test_epochs_compile_once_per_configuration():
    images = jnp.asarray(mnist("test").images[:50])
    labels = jnp.asarray(mnist("test").labels[:50])
    epoch_arrays(images, labels, batch_size=8, key=jax.random.key(0))
    before = batches_module._epoch._cache_size()
    for seed in range(1, 4):
        batches = list(epoch_batches(images, labels, batch_size=8, key=jax.random.key(seed)))
        assert {b[0].shape for b in batches} == {(8, 28, 28)}
    assert batches_module._epoch._cache_size() == before


@pytest.mark.parametrize(
    ("arrays", "kwargs", "message"),
    [
        (
            (np.zeros(3), np.zeros(4)),
            {"batch_size": 2},
            r"equal leading dimensions, got shapes \[3\], \[4\]",
        ),
        ((np.zeros(3),), {"batch_size": 0}, "batch_size must be a positive integer, got 0"),
        ((np.zeros(3),), {"batch_size": 4}, "batch_size 4 exceeds the 3 examples"),
        ((np.zeros(0),), {"batch_size": 1, "drop_remainder": False}, "at least one example"),
        ((), {"batch_size": 1}, "at least one array"),
    ],
)
def test_bad_epoch_arguments_are_refused(arrays, kwargs, message):
    with pytest.raises(ValueError, match=message):
        epoch_arrays(*arrays, key=jax.random.key(0), **kwargs)


def test_validation_split_is_seeded_disjoint_and_complete():
    images, labels = mnist("test")
    train, valid = train_validation_split(
        images, labels, validation_fraction=0.1, key=jax.random.key(0)
    )
    assert train.images.shape == (1800, 28, 28) and valid.labels.shape == (200,)
    assert isinstance(train.images, np.ndarray)  # NumPy in, NumPy out
    rows = {r.tobytes() for r in images}
    assert {r.tobytes() for r in train.images}.isdisjoint(r.tobytes() for r in valid.images)
    assert {r.tobytes() for r in train.images} | {r.tobytes() for r in valid.images} == rows
    again, _ = train_validation_split(images, labels, validation_size=200, key=jax.random.key(0))
    np.testing.assert_array_equal(again.labels, train.labels)
    other, _ = train_validation_split(images, labels, validation_size=200, key=jax.random.key(1))
    assert not np.array_equal(other.labels, train.labels)


def test_validation_split_keeps_jax_arrays_on_device():
    x, y = jnp.arange(10.0), jnp.arange(10)
    train, valid = train_validation_split(x, y, validation_size=3, key=jax.random.key(0))
    assert isinstance(train.images, jax.Array) and valid.images.shape == (3,)
    np.testing.assert_array_equal(train.images, train.labels.astype(x.dtype))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one of"),
        ({"validation_fraction": 0.1, "validation_size": 3}, "exactly one of"),
        ({"validation_fraction": 1.0}, r"validation_fraction must be in \(0, 1\)"),
        ({"validation_fraction": 0.01}, "validation_size must be a positive integer, got 0"),
        ({"validation_size": 10}, "leave both parts non-empty: got 10 of 10"),
    ],
)
def test_bad_validation_split_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        train_validation_split(np.zeros(10), np.zeros(10), key=jax.random.key(0), **kwargs)


def test_epoch_arrays_work_inside_jit_for_a_scanned_training_loop():
    x = jnp.arange(12.0)

    @jax.jit
    def epoch_sum(x, key):
        (xs,) = epoch_arrays(x, batch_size=4, key=key)
        total, _ = jax.lax.scan(lambda c, b: (c + b.sum(), None), jnp.zeros((), x.dtype), xs)
        return xs, total

    xs, total = epoch_sum(x, jax.random.key(3))
    assert xs.shape == (3, 4) and float(total) == 66.0
    np.testing.assert_array_equal(xs, epoch_arrays(x, batch_size=4, key=jax.random.key(3))[0])
