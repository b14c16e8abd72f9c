import functools

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jax.test_util import check_grads

from jaxdl.milestones import elman_rnn
from tests.scripts import load_script

# A few fixed (T, B, I, H, O) shapes: each compiles once, Hypothesis varies the values.
SHAPES = [(1, 1, 1, 1, 1), (2, 3, 2, 4, 1), (7, 2, 3, 3, 2)]

_seq_loss = jax.jit(elman_rnn.elman_sequence_loss)
_seq_hand = jax.jit(elman_rnn.elman_sequence_loss_grad)
_seq_auto = jax.jit(jax.grad(elman_rnn.elman_sequence_loss))
_last_loss = jax.jit(elman_rnn.elman_last_step_mse)
_last_hand = jax.jit(elman_rnn.elman_last_step_mse_grad)
_last_auto = jax.jit(jax.grad(elman_rnn.elman_last_step_mse))


def _problem(shape, seed, scale):
    return _draw(jax.random.key(seed), jnp.float64(scale), shape)


@functools.partial(jax.jit, static_argnums=2)
def _draw(key, scale, shape):
    t, b, i, h, o = shape
    k_p, k_x, k_y, k_w = jax.random.split(key, 4)
    params = elman_rnn.init_elman(key=k_p, inputs=i, hidden=h, outputs=o, dtype=jnp.float64)
    # Larger recurrent weights too, so that saturated and chaotic regimes are both exercised.
    params = params._replace(w_hh=scale * params.w_hh, b_h=0.3 * jax.random.normal(k_w, (h,)))
    xs = jax.random.normal(k_x, (t, b, i), jnp.float64)
    ys = jax.random.bernoulli(k_y, 0.5, (t, b, o)).astype(jnp.float64)
    return params, xs, ys


def _assert_close(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-10, atol=1e-13)


@given(
    shape=st.sampled_from(SHAPES),
    seed=st.integers(0, 2**16),
    scale=st.sampled_from([0.5, 1.0, 2.0]),
)
def test_hand_bptt_equals_jax_grad(shape, seed, scale):
    params, xs, ys = _problem(shape, seed, scale)
    _assert_close(_seq_hand(params, xs, ys), _seq_auto(params, xs, ys))
    last = ys[-1]
    _assert_close(_last_hand(params, xs, last), _last_auto(params, xs, last))


def test_hand_bptt_finite_differences():
    # jax's finite-difference checker on the loss whose jax.grad the hand BPTT matches above;
    # gradcheck.check_gradient (hand vs finite differences) runs in test_elman_learns...
    params, xs, ys = _problem(SHAPES[2], 3, 1.0)
    check_grads(jax.jit(lambda p: elman_rnn.elman_sequence_loss(p, xs, ys)), (params,), 1, ["rev"])
    hand = _seq_hand(params, xs, ys)
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    direction = jax.random.normal(jax.random.key(0), flat.shape, jnp.float64)
    eps = 1e-6
    numeric = (
        _seq_loss(unravel(flat + eps * direction), xs, ys)
        - _seq_loss(unravel(flat - eps * direction), xs, ys)
    ) / (2 * eps)
    assert float(numeric) == pytest.approx(
        float(direction @ jax.flatten_util.ravel_pytree(hand)[0]), rel=1e-7
    )


def test_bptt_rejects_wrong_shapes():
    params, xs, ys = _problem(SHAPES[1], 0, 1.0)
    with pytest.raises(ValueError, match=r"d_outputs must have shape \(2, 3, 1\)"):
        elman_rnn.elman_bptt(params, xs, ys[:1])
    with pytest.raises(ValueError, match=r"xs must have shape \[T, B, 2\]"):
        elman_rnn.elman_forward(params, xs[..., :1])
    with pytest.raises(ValueError, match="predictions have shape"):
        elman_rnn.elman_sequence_loss(params, xs, ys[..., 0])


def test_temporal_xor_stream():
    xs, ys = elman_rnn.temporal_xor(key=jax.random.key(0), batch=4, triplets=5)
    assert xs.shape == ys.shape == (14, 4, 1) and xs.dtype == jnp.float32
    stream = np.concatenate([np.asarray(xs[:1]), np.asarray(ys)])[:, :, 0].astype(int)
    np.testing.assert_array_equal(stream[2::3], stream[0::3] ^ stream[1::3])
    np.testing.assert_array_equal(np.asarray(xs[1:]), np.asarray(ys[:-1]))
    assert elman_rnn.predictable_mask(7).tolist() == [False, True, False, False, True, False, False]


def test_elman_learns_the_xor_bits_only():
    report = elman_rnn.run(elman_rnn.Config())
    r = report.result
    # Elman's finding: error falls on every third bit and stays at chance on the others.
    assert r["error_on_xor_bits"] < 0.1
    assert 0.45 < r["error_on_random_bits"] < 0.55
    assert r["final_loss"] < r["first_loss"]
    assert report.checks_passed and len(report.checks) == 2


@pytest.mark.parametrize(
    "module, args",
    [
        (elman_rnn, dict(hidden=0)),
        (elman_rnn, dict(learning_rate=-1.0)),
        (elman_rnn, dict(clip=float("nan"))),
    ],
)
def test_bad_configs(module, args):
    with pytest.raises(ValueError):
        module.Config(**args)


def test_demo_prints_the_error_dips(capsys):
    demo = load_script("demos", "elman_rnn")
    demo.main([])
    out = capsys.readouterr().out
    assert float(out.split("XOR bits: ")[1].split()[0]) < 0.1
    assert 0.45 < float(out.split("random bits: ")[1].split()[0]) < 0.55
