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
on a labelled CSV file with ``text`` and ``label`` columns (see :mod:`jaxdl.data.text` for the format
and the public data sets that fit), and reports held-out accuracy.

**LSTM** (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000). The cell
``c_t = f_t * c_{t-1} + i_t * g_t`` carries information additively, so gradients flow across
long gaps where the Elman network's repeated ``tanh`` and ``W_hh`` products shrink them.

**Backpropagation through time, by hand.** :func:`lstm_bptt` walks the sequence backwards
carrying the error of the hidden state and of the cell (formulas in its docstring);
:func:`lstm_hidden` is a :func:`jax.custom_vjp` whose rule is that function, so every LSTM
trained here (adding problem, sentiment) runs the hand gradient, and the tests hold it to
:func:`jax.grad` of the plain forward pass (:func:`lstm_hidden_reference`) in float64.

**Training** uses optax: ``optax.chain(optax.clip_by_global_norm(clip), optax.adam(lr))``,
the whole loop one :func:`jax.lax.scan` inside one ``jit``. Clipping the global gradient norm
(Pascanu, Mikolov & Bengio 2013) is the standard guard against the exploding gradients of BPTT.

**The paper's own experiment.** ``--paper`` runs experiment 4 of the 1997 paper as it is
written (values in [-1, 1], lengths T to 1.1 T, target ``0.5 + (X1 + X2) / 4``, right when
within 0.04) until the paper's stop rule, and prints the paper's count of training sequences
and test errors beside ours (:func:`reproduce_adding_1997`).

The chapter is a package: the LSTM cell and its hand BPTT are :mod:`jaxdl.nn.recurrent`'s, the
1997 experiment is :mod:`~jaxdl.milestones.lstm.paper` and the sentiment classifier
:mod:`~jaxdl.milestones.lstm.sentiment`; this module is the adding problem and the chapter's
interface.

**Sentiment.** :func:`train_sentiment` embeds word ids (see :mod:`jaxdl.data.text`), runs an LSTM
over each review and reads the final hidden state with a logistic unit.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.backward import with_gradient
from jaxdl.gradcheck import GradCheck
from jaxdl.milestones import Milestone
from jaxdl.nn.recurrent import (
    elman_bptt_checks,
    elman_last_step_mse,
    elman_last_step_mse_grad,
    init_elman,
    init_lstm,
    lstm_bptt_checks,
    lstm_mse,
)
from jaxdl.optim import clipped_adam
from jaxdl.report import Report
from jaxdl.training import trainer
from jaxdl.validate import (
    BATCH,
    LEARNING_RATE_CEILING,
    SEED,
    STEPS,
    WIDTH,
    check_limits,
    require_int,
    require_positive_float,
    require_positive_int,
)

from .paper import (
    PAPER_BATCH,
    PAPER_LENGTH,
    PAPER_SEQUENCES_TO_SUCCESS,
    PAPER_TEST_ERRORS,
    PAPER_TEST_SEQUENCES,
    PAPER_TOLERANCE,
    AddingPaperResult,
    adding_problem_1997,
    init_lstm_1997,
    paper_summary,
    reproduce_adding_1997,
)
from .sentiment import SentimentParams, SentimentResult, sentiment_logits, train_sentiment

MILESTONE = Milestone(
    "lstm",
    1997,
    "Hochreiter & Schmidhuber",
    "LSTM remembers what the RNN forgets",
)

F32 = jnp.float32


# --------------------------------------------------------------------------------------------
# LSTM and the adding problem (Hochreiter & Schmidhuber 1997, experiment 4)
# --------------------------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnames=("batch", "length"))
def adding_problem(*, key: jax.Array, batch: int, length: int) -> tuple[jax.Array, jax.Array]:
    """The adding problem: add the two numbers that carry a marker.

    Each step shows a value drawn from U(0, 1) and a marker bit; exactly two steps are marked,
    one in each half of the sequence, so the net must remember a value across about ``length/2``
    steps. Always answering the mean 1.0 scores MSE ``Var(u1 + u2) = 2/12 = 0.1667``.

    Returns:
      ``(inputs [length, B, 2], targets [B, 1])``, float32.
    """
    require_positive_int("batch", batch)
    require_int("length", length, minimum=2)
    k_v, k_a, k_b = jax.random.split(key, 3)
    values = jax.random.uniform(k_v, (length, batch), F32)
    half = length // 2
    first = jax.random.randint(k_a, (batch,), 0, half)
    second = jax.random.randint(k_b, (batch,), half, length)
    t = jnp.arange(length)[:, None]
    marks = ((t == first[None, :]) | (t == second[None, :])).astype(F32)
    xs = jnp.stack([values, marks], axis=-1)
    return xs, jnp.sum(values * marks, axis=0)[:, None]


#: MSE of always answering 1.0 on the adding problem: the variance of a sum of two U(0, 1).
ADDING_BASELINE_MSE = 2.0 / 12.0


_lstm_mse_jit = jax.jit(lstm_mse)
_elman_last_step_mse_jit = jax.jit(elman_last_step_mse)


#: :func:`elman_last_step_mse` whose gradient is the hand BPTT :func:`elman_last_step_mse_grad`.
elman_last_step_mse_hand = with_gradient(elman_last_step_mse, elman_last_step_mse_grad)

#: The adding problem's loss per model, ``loss(params, (xs, ys))``, each with its hand gradient.
_ADDING_LOSSES = {
    "lstm": lambda params, batch: lstm_mse(params, *batch),
    "elman": lambda params, batch: elman_last_step_mse_hand(params, *batch),
}


@functools.cache
def _adding_batches(batch: int, length: int):
    """``key -> (xs, ys)``, one function per shape so the trainer's compiled loop is reused."""
    return functools.partial(adding_problem, batch=batch, length=length)


def train_adding(
    model: str,
    *,
    key: jax.Array,
    hidden: int = 16,
    steps: int = 400,
    batch: int = 32,
    length: int = 30,
    learning_rate: float = 0.01,
    clip: float = 1.0,
):
    """Train ``"lstm"`` or ``"elman"`` (hand BPTT) on fresh adding-problem batches.

    Returns:
      ``(params, losses [steps])``.
    """
    if model not in ("lstm", "elman"):
        raise ValueError(f"model must be 'lstm' or 'elman', got {model!r}")
    require_positive_int("hidden", hidden)
    require_positive_int("steps", steps)
    require_positive_float("learning rate", learning_rate)
    require_positive_float("clip", clip)
    k_init, k_data = jax.random.split(key)
    init = init_lstm if model == "lstm" else init_elman
    params = init(key=k_init, inputs=2, hidden=hidden, outputs=1)
    run = trainer.train(
        _ADDING_LOSSES[model],
        params,
        clipped_adam(float(learning_rate), float(clip)),
        trainer.fresh(_adding_batches(batch, length), key=k_data),
        steps=steps,
    )
    return run.state.params, run.losses


def adding_test_mse(model: str, params, *, key: jax.Array, batch: int = 512, length: int = 30):
    """MSE on a fresh batch of adding problems (``model`` as in :func:`train_adding`)."""
    xs, ys = adding_problem(key=key, batch=batch, length=length)
    loss = _lstm_mse_jit if model == "lstm" else _elman_last_step_mse_jit
    return float(loss(params, xs, ys))


@dataclasses.dataclass(frozen=True)
class Config:
    """The adding problem for an LSTM and an Elman network; optional sentiment CSV."""

    hidden: int = dataclasses.field(
        default=16, metadata={"bounds": WIDTH, "help": "hidden units of both nets"}
    )
    steps: int = dataclasses.field(
        default=400, metadata={"bounds": STEPS, "help": "training steps"}
    )
    batch: int = dataclasses.field(
        default=32, metadata={"bounds": BATCH, "help": "sequences per step"}
    )
    length: int = dataclasses.field(
        default=30, metadata={"bounds": (2, 100_000), "help": "sequence length"}
    )
    learning_rate: float = dataclasses.field(
        default=0.01,
        metadata={"ceiling": LEARNING_RATE_CEILING, "help": "Adam step size", "flag": "--lr"},
    )
    clip: float = dataclasses.field(
        default=1.0, metadata={"help": "optax.clip_by_global_norm threshold"}
    )
    seed: int = dataclasses.field(default=0, metadata={"bounds": SEED, "help": "PRNG seed"})
    csv: str | None = dataclasses.field(
        default=None,
        metadata={
            "help": "classify sentiment in this CSV file (columns text,label; 0/1) "
            "instead of the adding problem",
            "metavar": "PATH",
        },
    )
    sentiment_steps: int = dataclasses.field(
        default=200,
        metadata={"bounds": STEPS, "help": "training steps for the sentiment classifier"},
    )
    paper: bool = dataclasses.field(
        default=False,
        metadata={
            "help": "instead, the 1997 paper's experiment 4: the adding problem with lengths "
            "T..1.1T, trained until the paper's stop rule, tested on 2560 sequences "
            "(takes a while)"
        },
    )
    paper_length: int = dataclasses.field(
        default=PAPER_LENGTH,
        metadata={
            "bounds": (20, 10_000),
            "help": "with --paper: minimal sequence length T (>= 20)",
        },
    )
    paper_max_sequences: int = dataclasses.field(
        default=400_000,
        metadata={
            "bounds": (1, 100_000_000),
            "help": "with --paper: give up after this many sequences",
        },
    )

    def __post_init__(self):
        check_limits(self)
        for name in ("hidden", "steps", "batch", "sentiment_steps", "paper_max_sequences"):
            require_positive_int(name, getattr(self, name))
        require_positive_int("paper_length", self.paper_length)
        if self.paper_length < 20:
            raise ValueError(f"paper_length must be at least 20, got {self.paper_length}")
        require_positive_int("length", self.length)
        if self.length < 2:
            raise ValueError(f"length must be at least 2, got {self.length}")
        require_positive_float("learning rate", self.learning_rate)
        require_positive_float("clip", self.clip)


def gradient_checks(*, key: jax.Array) -> list[GradCheck]:
    """Every hand-derived gradient of the chapter: the LSTM's BPTT (weights and inputs).

    The Elman baseline's hand BPTT is checked by the ``elman-rnn`` chapter.
    """
    return lstm_bptt_checks(key=key)


def run(config: Config = Config()) -> Report:
    """Train both nets on the adding problem, or the sentiment classifier if ``csv`` is set."""

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
    if config.paper:
        return _run_paper(config, key=k_lstm, check_key=k_check)
    curves, mses = {}, {}
    for model, k in (("lstm", k_lstm), ("elman", k_elman)):
        params, losses = train_adding(model, key=k, **settings)
        curves[model] = np.asarray(losses)
        mses[model] = adding_test_mse(model, params, key=k_test, length=config.length)
    result = {
        "lstm_test_mse": mses["lstm"],
        "elman_test_mse": mses["elman"],
        "baseline_mse": ADDING_BASELINE_MSE,
    }
    headline = (
        f"adding problem, T={config.length}: LSTM MSE {mses['lstm']:.4f}, "
        f"Elman {mses['elman']:.4f}, baseline {ADDING_BASELINE_MSE:.4f}"
    )
    return Report(
        milestone="lstm",
        config=config,
        result=result,
        checks=lstm_bptt_checks(key=k_check) + elman_bptt_checks(key=k_check)[1:],
        headline=headline,
        plot_data={"curves": curves},
    )


def _run_paper(config: Config, *, key: jax.Array, check_key: jax.Array) -> Report:
    """Experiment 4 of the 1997 paper (:func:`reproduce_adding_1997`)."""
    result = reproduce_adding_1997(
        key=key,
        length=config.paper_length,
        max_sequences=config.paper_max_sequences,
        progress=True,
    )
    summary = paper_summary(result, length=config.paper_length)
    done = result.sequences_to_success
    reached = f"success after {done:,} sequences" if done else "no success"
    return Report(
        milestone="lstm",
        config=config,
        result={"paper": summary},
        checks=lstm_bptt_checks(key=check_key),
        headline=(
            f"adding problem 1997, T={config.paper_length}: {reached}, "
            f"{result.test_errors}/{PAPER_TEST_SEQUENCES} test errors"
        ),
        plot_data={"paper": result},
    )


def plot_paper(result: AddingPaperResult):
    """Training error against sequences seen, with our success point and the paper's 74,000."""
    from jaxdl.plotting import new_figure

    fig, ax = new_figure()
    sequences = PAPER_BATCH * np.arange(1, len(result.losses) + 1)
    ax.plot(sequences, result.losses, color="tab:green", lw=0.6, label="LSTM (batch MSE)")
    ax.axhline(PAPER_TOLERANCE**2, ls=":", color="0.3", label="error 0.04, squared")
    if result.sequences_to_success:
        ax.axvline(result.sequences_to_success, color="tab:green", ls="--", label="jaxdl: success")
    ax.axvline(PAPER_SEQUENCES_TO_SUCCESS, color="0.3", ls="--", label="paper: 74,000 (T=100)")
    ax.set(
        xlabel="training sequences",
        ylabel="MSE",
        yscale="log",
        title="adding problem, Hochreiter & Schmidhuber 1997",
    )
    ax.legend()
    return fig


def _run_sentiment(config: Config, *, key: jax.Array) -> Report:
    """Sentiment classification on ``config.csv`` (embedding -> LSTM -> logistic unit)."""
    from jaxdl.data.text import read_labelled_csv

    texts, labels = read_labelled_csv(config.csv)
    sentiment, vocab = train_sentiment(
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

    if "paper" in report.plot_data:
        return plot_paper(report.plot_data["paper"])
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
    ax.axhline(ADDING_BASELINE_MSE, ls=":", color="0.3", label="answer 1.0 (2/12)")
    ax.set(xlabel="step", ylabel="MSE", yscale="log", title="the adding problem")
    ax.legend()
    return fig


__all__ = [
    "ADDING_BASELINE_MSE",
    "MILESTONE",
    "PAPER_LENGTH",
    "PAPER_SEQUENCES_TO_SUCCESS",
    "PAPER_TEST_ERRORS",
    "PAPER_TEST_SEQUENCES",
    "AddingPaperResult",
    "Config",
    "SentimentParams",
    "SentimentResult",
    "adding_problem",
    "adding_problem_1997",
    "adding_test_mse",
    "gradient_checks",
    "init_lstm_1997",
    "paper_summary",
    "plot",
    "plot_paper",
    "reproduce_adding_1997",
    "run",
    "sentiment_logits",
    "train_adding",
    "train_sentiment",
]
