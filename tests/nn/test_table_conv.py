"""The connection-table convolution: the table spreads the kernel into a full one (and the
gradient gathers it back), the hand gradient and the custom_vjp rule are jax.grad's."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given

from jaxdl.nn import shared_conv as sc
from jaxdl.nn import table_conv as tc
from tests.strategies import float_arrays

TABLE = ((0, 1), (1, 3), (2, 0))  # 3 output maps, each reading 2 of 4 input maps
OPTS = dict(stride=2, pad=1, pad_value=-1.0)
X, W, B, G = (2, 6, 6, 4), (3, 3, 2, 3), (3, 3, 3), (2, 3, 3, 3)

_fwd = jax.jit(lambda x, w, b: tc.table_conv(x, w, b, TABLE, **OPTS))
_grad = jax.jit(lambda x, w, g: tc.table_conv_backward(x, w, g, TABLE, **OPTS))
_auto = jax.jit(
    jax.grad(lambda x, w, b, g: jnp.sum(tc.table_conv(x, w, b, TABLE, **OPTS) * g), (0, 1, 2))
)
_hand = jax.jit(
    jax.grad(lambda x, w, b, g: jnp.sum(tc.table_conv_hand(x, w, b, TABLE, **OPTS) * g), (0, 1, 2))
)


@given(
    x=float_arrays(X, -2, 2),
    w=float_arrays(W, -2, 2),
    b=float_arrays(B, -2, 2),
    g=float_arrays(G, -2, 2),
)
def test_hand_gradient_and_custom_vjp_are_jax_grad(x, w, b, g):
    auto = _auto(x, w, b, g)
    for hand in (_grad(x, w, g), _hand(x, w, b, g)):
        for h, a in zip(hand, auto, strict=True):
            np.testing.assert_allclose(h, a, rtol=1e-10, atol=1e-10)


@given(x=float_arrays(X, -2, 2), w=float_arrays(W, -2, 2))
def test_each_output_map_reads_only_its_input_maps(x, w):
    y = _fwd(x, w, jnp.zeros(B))
    for o, row in enumerate(TABLE):
        alone = sc.reference_conv(x[..., list(row)], w[..., o : o + 1], **OPTS)
        np.testing.assert_allclose(y[..., o : o + 1], alone, rtol=1e-12, atol=1e-12)


def test_spread_and_gather_are_transposes():
    w = jax.random.normal(jax.random.key(0), W)
    full = tc.spread(w, TABLE, 4)
    assert full.shape == (3, 3, 4, 3)
    assert float(jnp.abs(full[:, :, 3, 0]).max()) == 0.0  # map 0 does not read input 3
    np.testing.assert_array_equal(full[:, :, 3, 1], w[:, :, 1, 1])
    d = jax.random.normal(jax.random.key(1), full.shape)
    np.testing.assert_allclose(jnp.sum(full * d), jnp.sum(w * tc.gather(d, TABLE)), rtol=1e-12)


@pytest.mark.parametrize(
    "table, message",
    [
        (((0, 0), (1, 2), (2, 3)), "distinct"),
        (((0, 4), (1, 2), (2, 3)), "distinct input maps in 0..3"),
        (((0, 1), (1,), (2, 3)), "one length"),
    ],
)
def test_bad_tables_are_refused(table, message):
    with pytest.raises(ValueError, match=message):
        tc.table_conv(jnp.zeros(X), jnp.zeros(W), jnp.zeros(B), table, **OPTS)


def test_kernel_must_fit_the_table():
    with pytest.raises(ValueError, match=r"\[kh, kw, 2, 3\]"):
        tc.table_conv(jnp.zeros(X), jnp.zeros((3, 3, 4, 3)), jnp.zeros(B), TABLE, **OPTS)
