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

from jaxdl import recurrent as rec
from jaxdl.cli import main
from jaxdl.milestones import elman_rnn, lstm

# A few fixed (T, B, I, H, O) shapes: each compiles once, Hypothesis varies the values.
SHAPES = [(1, 1, 1, 1, 1), (2, 3, 2, 4, 1), (7, 2, 3, 3, 2)]

_seq_loss = jax.jit(rec.elman_sequence_loss)
_seq_hand = jax.jit(rec.elman_sequence_loss_grad)
_seq_auto = jax.jit(jax.grad(rec.elman_sequence_loss))
_last_loss = jax.jit(rec.elman_last_step_mse)
_last_hand = jax.jit(rec.elman_last_step_mse_grad)
_last_auto = jax.jit(jax.grad(rec.elman_last_step_mse))


def _problem(shape, seed, scale):
    return _draw(jax.random.key(seed), jnp.float64(scale), shape)


@functools.partial(jax.jit, static_argnums=2)
def _draw(key, scale, shape):
    t, b, i, h, o = shape
    k_p, k_x, k_y, k_w = jax.random.split(key, 4)
    params = rec.init_elman(key=k_p, inputs=i, hidden=h, outputs=o, dtype=jnp.float64)
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
    check_grads(jax.jit(lambda p: rec.elman_sequence_loss(p, xs, ys)), (params,), 1, ["rev"])
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
        rec.elman_bptt(params, xs, ys[:1])
    with pytest.raises(ValueError, match=r"xs must have shape \[T, B, 2\]"):
        rec.elman_forward(params, xs[..., :1])
    with pytest.raises(ValueError, match="predictions have shape"):
        rec.elman_sequence_loss(params, xs, ys[..., 0])


def test_temporal_xor_stream():
    xs, ys = rec.temporal_xor(key=jax.random.key(0), batch=4, triplets=5)
    assert xs.shape == ys.shape == (14, 4, 1) and xs.dtype == jnp.float32
    stream = np.concatenate([np.asarray(xs[:1]), np.asarray(ys)])[:, :, 0].astype(int)
    np.testing.assert_array_equal(stream[2::3], stream[0::3] ^ stream[1::3])
    np.testing.assert_array_equal(np.asarray(xs[1:]), np.asarray(ys[:-1]))
    assert rec.predictable_mask(7).tolist() == [False, True, False, False, True, False, False]


def test_elman_learns_the_xor_bits_only():
    report = elman_rnn.run(elman_rnn.Config())
    r = report.result
    # Elman's finding: error falls on every third bit and stays at chance on the others.
    assert r["error_on_xor_bits"] < 0.1
    assert 0.45 < r["error_on_random_bits"] < 0.55
    assert r["final_loss"] < r["first_loss"]
    assert report.checks_passed and len(report.checks) == 2


def test_adding_problem_data():
    xs, ys = rec.adding_problem(key=jax.random.key(0), batch=8, length=10)
    assert xs.shape == (10, 8, 2) and ys.shape == (8, 1)
    marks = np.asarray(xs[..., 1])
    np.testing.assert_array_equal(marks.sum(0), 2)
    np.testing.assert_array_equal(marks[:5].sum(0), 1)
    np.testing.assert_allclose(ys[:, 0], (xs[..., 0] * xs[..., 1]).sum(0), rtol=1e-6)
    with pytest.raises(ValueError, match="length must be an integer >= 2"):
        rec.adding_problem(key=jax.random.key(0), batch=8, length=1)


def test_lstm_beats_elman_and_baseline_with_clipping(tmp_path, capsys):
    plot = tmp_path / "lstm.png"
    assert main(["run", "lstm", "--json", "--plot", str(plot)]) == 0
    r = json.loads(capsys.readouterr().out)["result"]
    assert r["baseline_mse"] == pytest.approx(1 / 6)
    assert r["lstm_test_mse"] < 0.02  # learned the long dependency
    assert r["elman_test_mse"] > 0.12  # stuck near answering the mean
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_training_applies_global_norm_clipping():
    # The optimizer is clip -> Adam: a huge gradient reaches Adam with global norm 1.
    opt = rec._clipped_adam(0.1, 1.0)
    grads = {"w": jnp.full((4,), 100.0)}
    _, state = opt.update(grads, opt.init(grads))
    adam_state = state[1][0]
    assert float(jnp.linalg.norm(adam_state.mu["w"])) == pytest.approx(0.1)  # (1 - b1) * 1


def _write_csv(path, rows, header="text,label"):
    path.write_text(header + "\n" + "".join(f"{t},{y}\n" for t, y in rows))
    return path


def _reviews(n=80):
    rng = np.random.default_rng(0)
    good, bad = ["great", "lovely", "superb"], ["awful", "boring", "terrible"]
    filler = ["the", "film", "plot", "was", "and"]
    rows = []
    for i in range(n):
        label = i % 2
        words = list(rng.choice(filler, 4)) + [rng.choice(good if label else bad)]
        rng.shuffle(words)
        rows.append((" ".join(words), "positive" if label else "negative"))
    return rows


def test_sentiment_from_csv(tmp_path, capsys):
    rows = _reviews()
    path = _write_csv(tmp_path / "reviews.csv", rows)
    assert main(["run", "lstm", "--json", "--csv", str(path)]) == 0
    s = json.loads(capsys.readouterr().out)["result"]["sentiment"]
    assert s["examples"] == 80 and s["n_test"] == 16
    assert s["vocabulary"] == 2 + 11
    assert s["train_accuracy"] > 0.95 and s["test_accuracy"] > 0.9


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "is empty"),
        ("words,label\nhello,1\n", "lacks column"),
        ("text,label\nhello,4\n", "not binary"),
        ("text,label\n", "no rows"),
        ("text,label\n!!!,1\n???,0\n", "empty vocabulary"),
    ],
)
def test_sentiment_bad_csv_exits_2(tmp_path, capsys, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    assert main(["run", "lstm", "--csv", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "module, args",
    [
        (elman_rnn, dict(hidden=0)),
        (elman_rnn, dict(learning_rate=-1.0)),
        (elman_rnn, dict(clip=float("nan"))),
        (lstm, dict(length=1)),
        (lstm, dict(steps=0)),
    ],
)
def test_bad_configs(module, args):
    with pytest.raises(ValueError):
        module.Config(**args)


def test_train_sentiment_bad_input():
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        rec.train_sentiment(["a b", "c d"], [0, 2], key=jax.random.key(0))
    with pytest.raises(ValueError, match="2 texts but 1 labels"):
        rec.train_sentiment(["a b", "c d"], [0], key=jax.random.key(0))


def test_demo_prints_all_three_experiments(tmp_path, capsys):
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("demo_recurrent", root / "demos" / "recurrent.py")
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    path = _write_csv(tmp_path / "r.csv", _reviews())
    demo.main(["--csv", str(path)])
    out = capsys.readouterr().out
    xor_error = float(out.split("XOR bits: ")[1].split()[0])
    lstm_mse = float(out.split("LSTM (1997): ")[1].split()[0])
    assert xor_error < 0.1 and lstm_mse < 0.02
    assert "always 1.0:  0.1667" in out
    assert "Sentiment: 80 texts, vocabulary 13, train accuracy 1.000" in out
