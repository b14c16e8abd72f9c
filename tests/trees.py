"""Comparing pytrees leaf by leaf in tests."""

from __future__ import annotations

import jax
import numpy as np


def assert_trees_match(a, b, *, rtol: float = 0.0, atol: float = 0.0) -> None:
    """Same structure, and every leaf equal (bit for bit unless tolerances are given)."""
    leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
    assert jax.tree.structure(a) == jax.tree.structure(b), "the trees differ in structure"
    for x, y in zip(leaves_a, leaves_b, strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)
