import functools
import json

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jax.test_util import check_grads

from jaxdl.cli import main
from jaxdl.milestones import elman_rnn
from jaxdl.nn import recurrent
from tests.scripts import load_script
from tests.trees import assert_trees_match

# A few fixed (T, B, I, H, O) shapes: each compiles once, Hypothesis varies the values.
SHAPES = [(1, 1, 1, 1, 1), (2, 3, 2, 4, 1), (7, 2, 3, 3, 2)]

_seq_loss = jax.jit(recurrent.elman_sequence_loss)
_seq_hand = jax.jit(recurrent.elman_sequence_loss_grad)
_seq_auto = jax.jit(jax.grad(recurrent.elman_sequence_loss))
_last_loss = jax.jit(recurrent.elman_last_step_mse)
_last_hand = jax.jit(recurrent.elman_last_step_mse_grad)
_last_auto = jax.jit(jax.grad(recurrent.elman_last_step_mse))


def _problem(shape, seed, scale):
    return _draw(jax.random.key(seed), jnp.float64(scale), shape)


@functools.partial(jax.jit, static_argnums=2)
def _draw(key, scale, shape):
    t, b, i, h, o = shape
    k_p, k_x, k_y, k_w = jax.random.split(key, 4)
    params = recurrent.init_elman(key=k_p, inputs=i, hidden=h, outputs=o, dtype=jnp.float64)
    # Larger recurrent weights too, so that saturated and chaotic regimes are both exercised.
    params = params._replace(w_hh=scale * params.w_hh, b_h=0.3 * jax.random.normal(k_w, (h,)))
    xs = jax.random.normal(k_x, (t, b, i), jnp.float64)
    ys = jax.random.bernoulli(k_y, 0.5, (t, b, o)).astype(jnp.float64)
    return params, xs, ys


def _assert_close(a, b):
    assert_trees_match(a, b, rtol=1e-10, atol=1e-13)


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
    check_grads(jax.jit(lambda p: recurrent.elman_sequence_loss(p, xs, ys)), (params,), 1, ["rev"])
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
        recurrent.elman_bptt(params, xs, ys[:1])
    with pytest.raises(ValueError, match=r"xs must have shape \[T, B, 2\]"):
        recurrent.elman_forward(params, xs[..., :1])
    with pytest.raises(ValueError, match="predictions have shape"):
        recurrent.elman_sequence_loss(params, xs, ys[..., 0])


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


# --- the 1990 paper's own setting ---


def test_xor_stream_every_third_bit_is_the_xor():
    stream = np.asarray(elman_rnn.xor_stream(key=jax.random.key(0), bits=3000)).astype(int)
    assert stream.shape == (3000,) and set(stream.tolist()) == {0, 1}
    np.testing.assert_array_equal(stream[2::3], stream[0::3] ^ stream[1::3])
    assert 0.4 < stream[0::3].mean() < 0.6  # the first bits of the triplets are coin flips


@given(
    seed=st.integers(0, 2**16),
    scale=st.sampled_from([0.5, 4.0]),
    x=st.sampled_from([0.0, 1.0]),
    target=st.sampled_from([0.0, 1.0]),
)
def test_elmans_rule_equals_jax_grad_with_the_context_held_fixed(seed, scale, x, target):
    rng = np.random.default_rng(seed)
    params = recurrent.ElmanParams(
        *(scale * rng.uniform(-1, 1, s) for s in ((1, 2), (2, 2), (2,), (2, 1), (1,)))
    )
    context = rng.uniform(0, 1, (2,))
    args = (jnp.array([x]), jnp.asarray(context), jnp.array([target]))
    hand = _srn_hand(params, *args)
    _assert_close(hand, _srn_auto(params, *args))
    assert hand.w_hh.shape == (2, 2) and float(jnp.abs(hand.b_y[0])) <= 0.25


_srn_hand = jax.jit(elman_rnn.srn_step_grad)
_srn_auto = jax.jit(jax.grad(elman_rnn.srn_step_loss))


def test_paper_run_finds_the_dip_and_reports_it_beside_the_paper(tmp_path, capsys):
    plot = tmp_path / "fig3.png"
    argv = ["run", "elman-rnn", "--paper", "--paper-passes", "150", "--paper-seeds", "2"]
    assert main([*argv, "--json", "--plot", str(plot)]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    paper = report["result"]["paper"]
    assert paper["paper"]["setting"] == {
        "bits": 3000,
        "passes": 600,
        "hidden": 2,
        "context_start": 0.5,
        "trials": 1200,
    }
    ours = paper["jaxdl"]
    assert ours["networks"] == 2 and ours["passes"] == 150
    rms = np.asarray(ours["rms_by_position"])
    assert rms.shape == (12,)
    # Elman's Fig. 3: low error predicting every third bit (positions 2, 5, 8, 11), chance
    # (0.5) elsewhere.
    assert ours["rms_xor_bits"] < ours["rms_random_bits"] - 0.05
    assert 0.45 < ours["rms_random_bits"] < 0.6
    np.testing.assert_allclose(rms[1::3].mean(), ours["rms_xor_bits"], rtol=1e-12)
    assert ours["dip_rate"] == 1.0
    assert ours["half_squared_random_bits"] == pytest.approx(0.125, abs=0.03)
    assert [c["name"] for c in report["checks"]] == [
        "elman-rnn: Elman's 1990 rule (context as input), ½e²"
    ]
    assert "Elman 1990" in captured.err and "150/150" in captured.err  # the progress bar
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_paper_run_bad_settings():
    with pytest.raises(ValueError, match="paper passes must be an integer between 1 and"):
        elman_rnn.Config(paper=True, paper_passes=0)
    with pytest.raises(ValueError, match="bits must be at least 3"):
        elman_rnn.reproduce_elman_1990(key=jax.random.key(0), seeds=1, passes=1, bits=2)
