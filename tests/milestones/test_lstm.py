import json

import jax
import numpy as np
import pytest

from jaxdl.cli import main
from jaxdl.milestones import lstm
from tests.scripts import load_script


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
