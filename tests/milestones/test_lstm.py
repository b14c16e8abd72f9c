import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jax.test_util import check_grads

from jaxdl.cli import main
from jaxdl.milestones import lstm
from jaxdl.milestones.lstm import paper as lstm_paper
from jaxdl.nn import recurrent
from tests.scripts import load_script
from tests.trees import assert_trees_match

# (T, B, I, H, O): each shape compiles once; Hypothesis varies values, scales and the
# per-sequence lengths (padding) within it.
SHAPES = [(1, 1, 1, 1, 1), (4, 3, 2, 3, 1), (7, 2, 1, 5, 2)]

_hand = jax.jit(recurrent.lstm_mse_grad)
_auto = jax.jit(jax.grad(recurrent.lstm_mse_reference, argnums=(0, 1)))


def _lstm_problem(shape, seed, scale, bias, lengths):
    """float64 weights and data drawn on the host (no per-shape compile for the draw)."""
    t, b, i, h, o = shape
    rng = np.random.default_rng(seed)
    params = recurrent.LSTMParams(
        w_x=rng.normal(0, 1 / np.sqrt(i), (i, 4 * h)),
        w_h=rng.normal(0, scale / np.sqrt(h), (h, 4 * h)),
        b=rng.normal(bias, 1.0, (4 * h,)),
        w_y=rng.normal(0, 1, (h, o)),
        b_y=rng.normal(0, 1, (o,)),
    )
    xs = rng.normal(0, 1, (t, b, i))
    ys = rng.normal(0, 1, (b, o))
    n = np.minimum(np.asarray(lengths[:b] + [t] * b, np.int32)[:b], t)
    return jax.tree.map(jnp.asarray, params), jnp.asarray(xs), jnp.asarray(ys), jnp.asarray(n)


def _assert_close(a, b):
    assert_trees_match(a, b, rtol=1e-10, atol=1e-13)


@given(
    shape=st.sampled_from(SHAPES),
    seed=st.integers(0, 2**16),
    scale=st.sampled_from([0.5, 1.0, 3.0]),
    bias=st.sampled_from([-2.0, 0.0, 2.0]),
    lengths=st.lists(st.integers(0, 7), min_size=4, max_size=4),
)
def test_hand_lstm_bptt_equals_jax_grad(shape, seed, scale, bias, lengths):
    params, xs, ys, n = _lstm_problem(shape, seed, scale, bias, lengths)
    assert params.w_h.dtype == jnp.float64
    hand = _hand(params, xs, ys, n)
    _assert_close(hand, _auto(params, xs, ys, n))


def test_hand_lstm_bptt_finite_differences_engine_and_padding():
    params, xs, ys, n = _lstm_problem(SHAPES[2], 1, 1.0, 0.0, [7, 3])
    check_grads(
        jax.jit(lambda p: recurrent.lstm_mse_reference(p, xs, ys, n)), (params,), 1, ["rev"]
    )
    # jax.grad through lstm_hidden runs its custom_vjp rule: the hand BPTT, not autodiff.
    engine = jax.jit(
        jax.grad(
            lambda p, x: jnp.mean((recurrent.lstm_hidden(p, x, n) @ p.w_y + p.b_y[None] - ys) ** 2),
            (0, 1),
        )
    )
    _assert_close(engine(params, xs), _hand(params, xs, ys, n))
    # A padded sequence gets exactly the gradient of its unpadded self, and none on padding.
    (_, d_xs) = _hand(params, xs, ys, n)
    np.testing.assert_array_equal(d_xs[3:, 1], 0.0)
    short = _hand(params, xs[:3, 1:], ys[1:], n[1:])
    full = _hand(params, xs[:, 1:], ys[1:], n[1:])
    _assert_close(full[0], short[0])


def test_lstm_bptt_rejects_wrong_shapes():
    params, xs, ys, n = _lstm_problem(SHAPES[1], 0, 1.0, 0.0, [4])
    trace = recurrent.lstm_trace(params, xs, n)
    with pytest.raises(ValueError, match=r"d_h must have shape \(3, 3\)"):
        recurrent.lstm_bptt(params, xs, trace, jnp.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"xs must have shape \[T, B, 2\]"):
        recurrent.lstm_trace(params, xs[..., :1])


def test_adding_problem_data():
    xs, ys = lstm.adding_problem(key=jax.random.key(0), batch=8, length=10)
    assert xs.shape == (10, 8, 2) and ys.shape == (8, 1)
    marks = np.asarray(xs[..., 1])
    np.testing.assert_array_equal(marks.sum(0), 2)
    np.testing.assert_array_equal(marks[:5].sum(0), 1)
    np.testing.assert_allclose(ys[:, 0], (xs[..., 0] * xs[..., 1]).sum(0), rtol=1e-6)
    with pytest.raises(ValueError, match="length must be an integer >= 2"):
        lstm.adding_problem(key=jax.random.key(0), batch=8, length=1)


def test_lstm_beats_elman_and_baseline_with_clipping(tmp_path, capsys):
    plot = tmp_path / "lstm.png"
    assert main(["run", "lstm", "--json", "--plot", str(plot)]) == 0
    r = json.loads(capsys.readouterr().out)["result"]
    assert r["baseline_mse"] == pytest.approx(1 / 6)
    assert r["lstm_test_mse"] < 0.02  # learned the long dependency
    assert r["elman_test_mse"] > 0.12  # stuck near answering the mean
    assert plot.read_bytes()[:4] == b"\x89PNG"


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


def test_train_sentiment_bad_input():
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        lstm.train_sentiment(["a b", "c d"], [0, 2], key=jax.random.key(0))
    with pytest.raises(ValueError, match="2 texts but 1 labels"):
        lstm.train_sentiment(["a b", "c d"], [0], key=jax.random.key(0))


@pytest.mark.parametrize("args", [dict(length=1), dict(steps=0)])
def test_bad_configs(args):
    with pytest.raises(ValueError):
        lstm.Config(**args)


def test_demo_prints_adding_and_sentiment(tmp_path, capsys):
    demo = load_script("demos", "lstm")
    path = _write_csv(tmp_path / "r.csv", _reviews())
    demo.main(["--csv", str(path)])
    out = capsys.readouterr().out
    lstm_mse = float(out.split("LSTM (1997): ")[1].split()[0])
    assert lstm_mse < 0.02
    assert "always 1.0:  0.1667" in out
    assert "Sentiment: 80 texts, vocabulary 13, train accuracy 1.000" in out


# --- the 1997 paper's experiment 4 ---


def test_adding_problem_1997_is_the_papers_task():
    t = 40
    xs, lengths, targets = lstm.adding_problem_1997(key=jax.random.key(3), batch=512, length=t)
    xs, lengths, targets = np.asarray(xs), np.asarray(lengths), np.asarray(targets)
    assert xs.shape == (44, 512, 2) and lengths.shape == (512,) and targets.shape == (512, 1)
    assert lengths.min() == t and lengths.max() == t + t // 10  # lengths T .. T + T/10
    values, marks = xs[..., 0], xs[..., 1]
    assert np.all(np.abs(values) <= 1.0) and values.min() < -0.9 and values.max() > 0.9
    assert set(np.unique(marks).tolist()) == {-1.0, 0.0, 1.0}
    live = np.arange(44)[:, None] < lengths[None, :]
    np.testing.assert_array_equal(xs[~live], 0.0)  # padding is zero
    plus = marks == 1.0
    np.testing.assert_array_equal(plus.sum(0), 2)
    first = plus.argmax(0)
    second = 43 - plus[::-1].argmax(0)
    assert first.max() <= 9 and second.max() <= t // 2 - 1  # in the first ten / first T/2 pairs
    cols = np.arange(512)
    # the first and last pairs carry -1 unless marked
    np.testing.assert_array_equal(marks[0], np.where(first == 0, 1.0, -1.0))
    np.testing.assert_array_equal(marks[lengths - 1, cols], -1.0)
    x1_first = (first == 0) & (second >= 10)  # surely X1 sits on the first pair
    assert np.all(values[0, x1_first] == 0.0) and np.any(x1_first)  # X1 = 0 then
    np.testing.assert_allclose(targets[:, 0], 0.5 + (values * plus).sum(0) / 4, rtol=1e-6)
    with pytest.raises(ValueError, match="length must be an integer >= 20"):
        lstm.adding_problem_1997(key=jax.random.key(0), batch=2, length=10)


def test_success_rule_needs_a_clean_window_and_a_small_mean():
    wrong = np.array([1, 0, 0, 0, 1, 0, 0, 0, 0])
    small = np.full(9, 0.001)
    assert lstm_paper._success_step(small, wrong, 3) == 4  # steps 1..3 clean
    assert lstm_paper._success_step(small, wrong, 4) == 9  # steps 5..8 clean
    assert lstm_paper._success_step(small, wrong, 10) is None  # too few steps yet
    big = small.copy()
    big[1:4] = 0.05  # clean but the mean error is not below 0.01
    assert lstm_paper._success_step(big, wrong, 3) == 8
    # Looking only past step counts already checked gives the same first success.
    assert lstm_paper._success_step(small, wrong, 4, since=6) == 9
    assert lstm_paper._success_step(small, wrong, 3, since=3) == 4
    assert lstm_paper._success_step(small, wrong, 3, since=4) == 8  # step 5 was wrong
    assert lstm_paper._success_step(small, wrong, 3, since=9) is None


def test_paper_run_reports_its_numbers_beside_the_papers(tmp_path, capsys):
    plot = tmp_path / "adding.png"
    argv = ["run", "lstm", "--paper", "--paper-length", "20", "--paper-max-sequences", "800"]
    assert main([*argv, "--json", "--plot", str(plot)]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    paper = report["result"]["paper"]
    assert paper["length"] == 20 and paper["minimal_lag"] == 10 and paper["tolerance"] == 0.04
    ours = paper["jaxdl"]
    assert ours["sequences_seen"] == 800 and ours["test_sequences"] == 2560
    assert ours["sequences_to_success"] is None  # 800 sequences are far too few
    assert 0 < ours["test_errors"] <= 2560 and ours["max_test_error"] >= 0.04
    # The run carries the chapter's gradient checks: the hand BPTT it trained with.
    assert [c["passed"] for c in report["checks"]] == [True, True]
    assert all(c["autodiff_error"] < 1e-12 for c in report["checks"])
    assert "LSTM 1997, adding" in captured.err  # the progress bar
    assert plot.read_bytes()[:4] == b"\x89PNG"
    # At the paper's T = 100 the paper's own numbers stand beside ours.
    fake = lstm.AddingPaperResult(80_000, 80_000, 0, 0.03, np.zeros(3), 1.0)
    summary = lstm.paper_summary(fake, length=100)
    assert summary["paper"] == {
        "sequences_to_success": 74_000,
        "test_errors": 1,
        "test_sequences": 2560,
    }
    assert summary["jaxdl"]["sequences_to_success"] == 80_000


@pytest.mark.parametrize(
    "args, message",
    [
        (dict(paper_length=19), "paper length must be an integer between 20 and"),
        (dict(paper_max_sequences=0), "paper max sequences must be an integer between 1 and"),
    ],
)
def test_bad_paper_configs(args, message):
    with pytest.raises(ValueError, match=message):
        lstm.Config(paper=True, **args)
    with pytest.raises(ValueError, match="length must be an integer >= 20"):
        lstm.reproduce_adding_1997(key=jax.random.key(0), length=19)


def test_sentiment_reads_a_large_file_in_mini_batches():
    texts = [("good fine nice " if i % 2 else "bad awful poor ") + f"w{i}" for i in range(40)]
    labels = [i % 2 for i in range(40)]
    result, _ = lstm.train_sentiment(
        texts, labels, key=jax.random.key(0), steps=6, batch_size=4, test_fraction=0.25
    )
    assert result.losses.shape == (6,) and np.isfinite(result.losses).all()
    assert result.n_train == 30 and 0.0 <= result.test_accuracy <= 1.0
