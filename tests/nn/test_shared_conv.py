"""The shared-weight, per-unit-bias convolution: the patch forward is the library convolution,
the hand gradient and its custom_vjp rule are jax.grad's (float64), bad shapes are refused.

The finite-difference checks run in ``jaxdl check`` (the zip-code chapter's gradient_checks,
computed once for the suite in tests/cli/test_run.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jaxdl.nn import shared_conv as sc
from tests.strategies import float_arrays

# The zip-code net's H1 setting on a smaller image (8x8 -> 4x4), and a 3x3 kernel at stride 2
# with padding 1 over an odd-sized two-channel input: one compiled program per setting.
SETTINGS = {
    "h1": dict(x=(1, 8, 8, 1), w=(5, 5, 1, 3), stride=2, pad=2),
    "odd": dict(x=(2, 7, 6, 2), w=(3, 3, 2, 3), stride=2, pad=1),
}


def _opts(s):
    return dict(stride=s["stride"], pad=s["pad"], pad_value=-1.0)


def _out(s):
    return tuple(
        sc.output_size(s["x"][i], s["w"][i - 1], stride=s["stride"], pad=s["pad"]) for i in (1, 2)
    ) + (s["w"][3],)


@pytest.fixture(scope="module")
def compiled():
    fns = {}
    for name, s in SETTINGS.items():
        opts = _opts(s)
        fns[name] = dict(
            fwd=jax.jit(lambda x, w, b, o=opts: sc.shared_conv(x, w, b, **o)),
            ref=jax.jit(lambda x, w, o=opts: sc.reference_conv(x, w, **o)),
            grad=jax.jit(lambda x, w, g, o=opts: sc.shared_conv_backward(x, w, g, **o)),
            auto=jax.jit(
                jax.grad(
                    lambda x, w, b, g, o=opts: jnp.sum(sc.shared_conv(x, w, b, **o) * g), (0, 1, 2)
                )
            ),
            hand=jax.jit(
                jax.grad(
                    lambda x, w, b, g, o=opts: jnp.sum(sc.shared_conv_hand(x, w, b, **o) * g),
                    (0, 1, 2),
                )
            ),
        )
    return fns


def _draw(data, s):
    return (
        data.draw(float_arrays(s["x"], -2, 2)),
        data.draw(float_arrays(s["w"], -2, 2)),
        data.draw(float_arrays(_out(s), -2, 2)),
        data.draw(float_arrays((s["x"][0], *_out(s)), -2, 2)),
    )


@pytest.mark.parametrize("name", SETTINGS)
@given(data=st.data())
def test_forward_is_the_library_convolution_plus_a_bias_per_unit(compiled, name, data):
    x, w, b, _ = _draw(data, SETTINGS[name])
    f = compiled[name]
    np.testing.assert_allclose(f["fwd"](x, w, b), f["ref"](x, w) + b[None], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", SETTINGS)
@given(data=st.data())
def test_hand_gradient_and_custom_vjp_are_jax_grad(compiled, name, data):
    x, w, b, g = _draw(data, SETTINGS[name])
    f = compiled[name]
    auto = f["auto"](x, w, b, g)
    for hand in (f["grad"](x, w, g), f["hand"](x, w, b, g)):
        for h, a in zip(hand, auto, strict=True):
            np.testing.assert_allclose(h, a, rtol=1e-10, atol=1e-10)


def test_the_padding_has_no_gradient_but_enters_the_kernel_gradient():
    # a zero image padded with -1: the border units see the padding, so dw depends on pad_value
    x, w = jnp.zeros((1, 4, 4, 1)), jnp.ones((3, 3, 1, 1))
    g = jnp.ones((1, 2, 2, 1))
    dx, dw, db = sc.shared_conv_backward(x, w, g, stride=2, pad=1, pad_value=-1.0)
    assert dx.shape == x.shape and db.shape == (2, 2, 1)
    # xp's row 0 and column 0 are padding (-1): of the 4 windows, 3 see it under w[0, 0]
    assert float(dw[0, 0, 0, 0]) == -3.0 and float(dw[1, 1, 0, 0]) == 0.0
    assert float(dw[0, 1, 0, 0]) == -2.0  # two windows of the top row (v = 0, 1) cover padding


def test_bad_shapes_are_refused_with_the_shapes():
    x, w = jnp.zeros((1, 8, 8, 1)), jnp.zeros((5, 5, 1, 3))
    with pytest.raises(ValueError, match="one entry per output unit"):
        sc.shared_conv(x, w, jnp.zeros(3))
    with pytest.raises(ValueError, match="channels"):
        sc.shared_conv(jnp.zeros((1, 8, 8, 2)), w, jnp.zeros((4, 4, 3)))
    with pytest.raises(ValueError, match=r"\[B, H, W, C\]"):
        sc.shared_conv(jnp.zeros((8, 8)), w, jnp.zeros((4, 4, 3)))
