"""Hypothesis strategies shared by the test modules."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


def finite_floats(low: float = -10.0, high: float = 10.0) -> st.SearchStrategy[float]:
    """Bounded float64 values, never NaN or infinite."""
    return st.floats(low, high, allow_nan=False, allow_infinity=False, width=64)


def float_arrays(shape, low: float = -10.0, high: float = 10.0) -> st.SearchStrategy[np.ndarray]:
    """float64 arrays of ``shape`` (a tuple or a strategy of tuples) with bounded entries."""
    return hnp.arrays(np.float64, shape, elements=finite_floats(low, high))


def small_shapes(min_dims: int = 1, max_dims: int = 3, max_side: int = 5):
    """Array shapes with every side between 1 and ``max_side``."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=1, max_side=max_side)


#: A few fixed shapes for elementwise functions: every new shape is a new XLA compilation, so
#: drawing from a small set keeps property tests fast while still covering ranks 1 to 3.
FEW_SHAPES = ((1,), (7,), (3, 4), (2, 1, 3))


def few_shapes() -> st.SearchStrategy[tuple[int, ...]]:
    """One of :data:`FEW_SHAPES`."""
    return st.sampled_from(FEW_SHAPES)
