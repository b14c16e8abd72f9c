"""Long short-term memory (Sepp Hochreiter & Jürgen Schmidhuber, 1997).

Backpropagated error in a plain recurrent network is multiplied by ``W_hh`` and a ``tanh``
slope at every step, so it shrinks (or explodes) exponentially with the time lag (Hochreiter
1991; Bengio, Simard & Frasconi 1994). The LSTM's cell state is updated additively,
``c_t = f_t * c_{t-1} + i_t * g_t``, giving the error a path that does not decay.

The adding problem (experiment 4 of the 1997 paper) makes the point: a stream of random numbers,
two of them marked, one in each half; the answer is their sum. Answering the mean 1.0 every
time scores MSE 2/12 = 0.167. In a few hundred Adam steps on length-30 sequences the LSTM drops
far below that, while the Elman network (same width, same optimizer, hand BPTT) stays at it.
Both use ``optax.clip_by_global_norm``.

``--csv PATH`` instead trains a sentiment classifier (word embeddings -> LSTM -> logistic unit)
on a labelled CSV file with ``text`` and ``label`` columns (see :mod:`jaxdl.text` for the format
and the public data sets that fit), and reports held-out accuracy.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import numpy as np

from jaxdl import recurrent
from jaxdl.config import require_positive_float, require_positive_int
from jaxdl.gradcheck import GradCheck
from jaxdl.report import Report


@dataclasses.dataclass(frozen=True)
class Config:
    """The adding problem for an LSTM and an Elman network; optional sentiment CSV."""

    hidden: int = dataclasses.field(default=16, metadata={"help": "hidden units of both nets"})
    steps: int = dataclasses.field(default=400, metadata={"help": "training steps"})
    batch: int = dataclasses.field(default=32, metadata={"help": "sequences per step"})
    length: int = dataclasses.field(default=30, metadata={"help": "sequence length"})
    learning_rate: float = dataclasses.field(
        default=0.01, metadata={"help": "Adam step size", "flag": "--lr"}
    )
    clip: float = dataclasses.field(
        default=1.0, metadata={"help": "optax.clip_by_global_norm threshold"}
    )
    seed: int = dataclasses.field(default=0, metadata={"help": "PRNG seed"})
    csv: str | None = dataclasses.field(
        default=None,
        metadata={
            "help": "classify sentiment in this CSV file (columns text,label; 0/1) "
            "instead of the adding problem",
            "metavar": "PATH",
        },
    )
    sentiment_steps: int = dataclasses.field(
        default=200, metadata={"help": "training steps for the sentiment classifier"}
    )

    def __post_init__(self):
        for name in ("hidden", "steps", "batch", "sentiment_steps"):
            require_positive_int(name, getattr(self, name))
        require_positive_int("length", self.length)
        if self.length < 2:
            raise ValueError(f"length must be at least 2, got {self.length}")
        require_positive_float("learning rate", self.learning_rate)
        require_positive_float("clip", self.clip)


def gradient_checks(*, key: jax.Array) -> list[GradCheck]:
    """The LSTM's gradient comes from ``jax.grad``: nothing hand-derived to check here.

    The Elman baseline's hand BPTT is checked by the ``elman-rnn`` chapter.
    """
    del key
    return []


def run(config: Config = Config()) -> Report:
    """Train both nets on the adding problem, or the sentiment classifier if ``csv`` is set."""
    from jaxdl.milestones.elman_rnn import bptt_checks

    key = jax.random.key(config.seed)
    k_lstm, k_elman, k_test, k_check, k_text = jax.random.split(key, 5)
    settings = dict(
        hidden=config.hidden,
        steps=config.steps,
        batch=config.batch,
        length=config.length,
        learning_rate=config.learning_rate,
        clip=config.clip,
    )
    if config.csv is not None:
        return _run_sentiment(config, key=k_text)
    curves, mses = {}, {}
    for model, k in (("lstm", k_lstm), ("elman", k_elman)):
        params, losses = recurrent.train_adding(model, key=k, **settings)
        curves[model] = np.asarray(losses)
        mses[model] = recurrent.adding_test_mse(model, params, key=k_test, length=config.length)
    result = {
        "lstm_test_mse": mses["lstm"],
        "elman_test_mse": mses["elman"],
        "baseline_mse": recurrent.ADDING_BASELINE_MSE,
    }
    headline = (
        f"adding problem, T={config.length}: LSTM MSE {mses['lstm']:.4f}, "
        f"Elman {mses['elman']:.4f}, baseline {recurrent.ADDING_BASELINE_MSE:.4f}"
    )
    return Report(
        milestone="lstm",
        config=config,
        result=result,
        checks=bptt_checks(key=k_check)[1:],
        headline=headline,
        plot_data={"curves": curves},
    )


def _run_sentiment(config: Config, *, key: jax.Array) -> Report:
    """Sentiment classification on ``config.csv`` (embedding -> LSTM -> logistic unit)."""
    from jaxdl.text import read_labelled_csv

    texts, labels = read_labelled_csv(config.csv)
    sentiment, vocab = recurrent.train_sentiment(
        texts, labels, key=key, steps=config.sentiment_steps, clip=config.clip
    )
    test_acc = sentiment.test_accuracy
    return Report(
        milestone="lstm",
        config=config,
        result={
            "sentiment": {
                "examples": len(texts),
                "vocabulary": len(vocab),
                "train_accuracy": sentiment.train_accuracy,
                "test_accuracy": None if math.isnan(test_acc) else test_acc,
                "n_test": sentiment.n_test,
            }
        },
        checks=[],
        headline=(
            f"sentiment on {len(texts)} texts: train accuracy {sentiment.train_accuracy:.3f}, "
            f"test accuracy {test_acc:.3f} on {sentiment.n_test}"
        ),
        plot_data={"curves": {"sentiment": np.asarray(sentiment.losses)}},
    )


def plot(report: Report):
    """Training loss of both nets against the constant-answer baseline (or the sentiment loss)."""
    from jaxdl.plotting import new_figure

    fig, ax = new_figure()
    if "sentiment" in report.plot_data["curves"]:
        ax.plot(report.plot_data["curves"]["sentiment"], color="tab:purple")
        ax.set(xlabel="step", ylabel="cross-entropy", title="sentiment classifier")
        return fig
    for model, color in (("lstm", "tab:green"), ("elman", "tab:red")):
        ax.plot(
            report.plot_data["curves"][model],
            color=color,
            label={"lstm": "LSTM", "elman": "Elman RNN"}[model],
        )
    ax.axhline(recurrent.ADDING_BASELINE_MSE, ls=":", color="0.3", label="answer 1.0 (2/12)")
    ax.set(xlabel="step", ylabel="MSE", yscale="log", title="the adding problem")
    ax.legend()
    return fig
