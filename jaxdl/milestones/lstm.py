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

**Sentiment.** :func:`train_sentiment` embeds word ids (see :mod:`jaxdl.data.text`), runs an LSTM
over each review and reads the final hidden state with a logistic unit.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxdl.gradcheck import GradCheck, check_gradient
from jaxdl.losses import binary_cross_entropy_with_logits
from jaxdl.milestones import Milestone
from jaxdl.milestones.elman_rnn import (
    _check_sequence,
    elman_last_step_mse,
    elman_last_step_mse_grad,
    init_elman,
)
from jaxdl.nn.backward import with_gradient
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


class LSTMParams(NamedTuple):
    """Weights of a one-layer LSTM with a linear read-out; gates in the order i, f, g, o."""

    w_x: jax.Array  # [I, 4H]
    w_h: jax.Array  # [H, 4H]
    b: jax.Array  # [4H] (forget-gate bias starts at 1)
    w_y: jax.Array  # [H, O]
    b_y: jax.Array  # [O]


@functools.partial(jax.jit, static_argnames=("inputs", "hidden", "outputs", "dtype"))
def init_lstm(*, key: jax.Array, inputs: int, hidden: int, outputs: int, dtype=F32) -> LSTMParams:
    """Glorot input weights, orthogonal recurrent weights, forget bias 1 (Jozefowicz et al. 2015)."""
    for name, value in (("inputs", inputs), ("hidden", hidden), ("outputs", outputs)):
        require_positive_int(name, value)
    k_x, k_h, k_y = jax.random.split(key, 3)
    glorot = jax.nn.initializers.glorot_uniform()
    w_h = jnp.concatenate(
        [
            jax.nn.initializers.orthogonal()(k, (hidden, hidden), dtype)
            for k in jax.random.split(k_h, 4)
        ],
        axis=1,
    )
    b = jnp.zeros((4 * hidden,), dtype).at[hidden : 2 * hidden].set(1.0)
    return LSTMParams(
        w_x=glorot(k_x, (inputs, 4 * hidden), dtype),
        w_h=w_h,
        b=b,
        w_y=glorot(k_y, (hidden, outputs), dtype),
        b_y=jnp.zeros((outputs,), dtype),
    )


def _live_mask(steps: int, batch: int, lengths: ArrayLike | None) -> jax.Array:
    """``[T, B, 1]`` booleans: step ``t`` of sequence ``b`` is real (``t < lengths[b]``)."""
    if lengths is None:
        return jnp.ones((steps, batch, 1), bool)
    return (jnp.arange(steps)[:, None] < jnp.asarray(lengths)[None, :])[:, :, None]


class LSTMTrace(NamedTuple):
    """What the forward pass keeps for the backward pass (each ``[T, B, H]`` unless noted)."""

    h: jax.Array  # hidden state after each step (left unchanged on padding)
    c: jax.Array  # cell state after each step (left unchanged on padding)
    i: jax.Array  # input gate σ(z_i)
    f: jax.Array  # forget gate σ(z_f)
    g: jax.Array  # candidate tanh(z_g)
    o: jax.Array  # output gate σ(z_o)
    live: jax.Array  # [T, B, 1] bool: the step is real, not padding


def _lstm_step(params: LSTMParams, h, c, x, alive):
    """One step from ``(h, c)`` on input ``x``; returns the new ``(h, c)`` and the gates."""
    z = x @ params.w_x + h @ params.w_h + params.b[None, :]
    z_i, z_f, z_g, z_o = jnp.split(z, 4, axis=-1)
    i, f, g, o = jax.nn.sigmoid(z_i), jax.nn.sigmoid(z_f), jnp.tanh(z_g), jax.nn.sigmoid(z_o)
    c_new = f * c + i * g
    h_new = o * jnp.tanh(c_new)
    return jnp.where(alive, h_new, h), jnp.where(alive, c_new, c), (i, f, g, o)


def lstm_trace(params: LSTMParams, xs: ArrayLike, lengths: ArrayLike | None = None) -> LSTMTrace:
    """Run the LSTM over ``xs [T, B, I]`` and keep every state and gate (see :class:`LSTMTrace`).

    One step, with ``z = x_t W_x + h_{t-1} W_h + b`` split into four ``[B, H]`` blocks::

        i = σ(z_i)   f = σ(z_f)   g = tanh(z_g)   o = σ(z_o)
        c_t = f * c_{t-1} + i * g          h_t = o * tanh(c_t)         (h_0 = c_0 = 0)

    On a padding step (``t >= lengths[b]``) the state is carried over unchanged.
    """
    xs = jnp.asarray(xs)
    _check_sequence("xs", xs, params.w_x.shape[0])
    zeros = jnp.zeros((xs.shape[1], params.w_h.shape[0]), params.w_h.dtype)
    live = _live_mask(xs.shape[0], xs.shape[1], lengths)

    def step(carry, inputs):
        h, c, (i, f, g, o) = _lstm_step(params, *carry, *inputs)
        return (h, c), (h, c, i, f, g, o)

    _, (h, c, i, f, g, o) = jax.lax.scan(step, (zeros, zeros), (xs, live))
    return LSTMTrace(h, c, i, f, g, o, live)


def lstm_hidden_reference(
    params: LSTMParams, xs: ArrayLike, lengths: ArrayLike | None = None
) -> jax.Array:
    """The final hidden state ``h_T`` ``[B, H]``, differentiated by :func:`jax.grad` (the judge).

    Keeps only the running state, not the trace, so answering long sequences stays cheap.
    """
    xs = jnp.asarray(xs)
    _check_sequence("xs", xs, params.w_x.shape[0])
    zeros = jnp.zeros((xs.shape[1], params.w_h.shape[0]), params.w_h.dtype)
    live = _live_mask(xs.shape[0], xs.shape[1], lengths)

    def step(carry, inputs):
        h, c, _ = _lstm_step(params, *carry, *inputs)
        return (h, c), None

    (h, _), _ = jax.lax.scan(step, (zeros, zeros), (xs, live))
    return h


def lstm_bptt(
    params: LSTMParams, xs: ArrayLike, trace: LSTMTrace, d_h: ArrayLike
) -> tuple[LSTMParams, jax.Array]:
    """Backpropagation through time for the LSTM, by hand.

    Given ``d_h = ∂L/∂h_T`` ``[B, H]``, walk the sequence backwards carrying ``δh`` and ``δc``
    (the loss's gradient with respect to ``h_t`` and ``c_t`` through everything after step t)::

        δc  += δh * o * (1 - tanh²(c_t))          h_t = o * tanh(c_t)
        δz_o = δh * tanh(c_t) * o (1 - o)
        δz_i = δc * g * i (1 - i)                  c_t = f * c_{t-1} + i * g
        δz_f = δc * c_{t-1} * f (1 - f)
        δz_g = δc * i * (1 - g²)
        δh_{t-1} = δz W_hᵀ         δc_{t-1} = δc * f         δx_t = δz W_xᵀ
        ΔW_x += x_tᵀ δz      ΔW_h += h_{t-1}ᵀ δz      Δb += Σ_batch δz

    On a padding step ``h_t = h_{t-1}`` and ``c_t = c_{t-1}``: ``δz = 0`` and ``δh``, ``δc``
    pass through unchanged. ``δc_{t-1} = δc * f`` is the path that does not decay when the forget
    gate stays open: the "constant error carousel" of the 1997 paper.

    Args:
      params: the weights.
      xs: inputs ``[T, B, I]``.
      trace: :func:`lstm_trace` of ``params`` on ``xs``.
      d_h: gradient of the loss with respect to the final hidden state, ``[B, H]``.

    Returns:
      ``(grads, d_xs)``: the gradient for ``w_x``, ``w_h`` and ``b`` as :class:`LSTMParams` (the
      read-out fields ``w_y`` and ``b_y`` are zero: they do not touch ``h_T``) and the gradient
      with respect to the inputs ``[T, B, I]``.
    """
    xs = jnp.asarray(xs)
    d_h = jnp.asarray(d_h, trace.h.dtype)
    if d_h.shape != trace.h.shape[1:]:
        raise ValueError(f"d_h must have shape {trace.h.shape[1:]}, got {d_h.shape}")
    h_prev = jnp.concatenate([jnp.zeros_like(trace.h[:1]), trace.h[:-1]])
    c_prev = jnp.concatenate([jnp.zeros_like(trace.c[:1]), trace.c[:-1]])
    live = trace.live.astype(trace.h.dtype)

    def back(carry, inputs):
        dh, dc = carry
        x, hp, cp, c, i, f, g, o, m = inputs
        tanh_c = jnp.tanh(c)
        dc = dc + m * dh * o * (1.0 - tanh_c**2)
        dz = m * jnp.concatenate(
            [
                dc * g * i * (1.0 - i),
                dc * cp * f * (1.0 - f),
                dc * i * (1.0 - g**2),
                dh * tanh_c * o * (1.0 - o),
            ],
            axis=-1,
        )
        dh_prev = dz @ params.w_h.T + (1.0 - m) * dh
        dc_prev = dc * (m * f + (1.0 - m))
        return (dh_prev, dc_prev), (x.T @ dz, hp.T @ dz, dz.sum(0), dz @ params.w_x.T)

    inputs = (xs, h_prev, c_prev, trace.c, trace.i, trace.f, trace.g, trace.o, live)
    init = (d_h, jnp.zeros_like(d_h))
    _, (d_wx, d_wh, d_b, d_xs) = jax.lax.scan(back, init, inputs, reverse=True)
    grads = LSTMParams(
        w_x=d_wx.sum(0),
        w_h=d_wh.sum(0),
        b=d_b.sum(0),
        w_y=jnp.zeros_like(params.w_y),
        b_y=jnp.zeros_like(params.b_y),
    )
    return grads, d_xs


@jax.custom_vjp
def _lstm_hidden(params: LSTMParams, xs: jax.Array, lengths: jax.Array) -> jax.Array:
    return lstm_hidden_reference(params, xs, lengths)


def _lstm_hidden_fwd(params, xs, lengths):
    trace = lstm_trace(params, xs, lengths)
    return trace.h[-1], (params, xs, trace)


def _lstm_hidden_bwd(residuals, d_h):
    params, xs, trace = residuals
    grads, d_xs = lstm_bptt(params, xs, trace, d_h)
    return grads, d_xs, None  # lengths are integers: no gradient


_lstm_hidden.defvjp(_lstm_hidden_fwd, _lstm_hidden_bwd)


def lstm_hidden(params: LSTMParams, xs: ArrayLike, lengths: ArrayLike | None = None) -> jax.Array:
    """The LSTM's hidden state after the last step (or after ``lengths[b]`` steps): ``[B, H]``.

    Same value as :func:`lstm_hidden_reference`; its gradient (under :func:`jax.grad`, optax,
    everything that trains an LSTM here) is the hand BPTT of :func:`lstm_bptt`, a
    :func:`jax.custom_vjp` rule.

    Args:
      params: the weights.
      xs: inputs ``[T, B, I]``.
      lengths: optional ``[B]`` true lengths; steps ``t >= lengths[b]`` leave the state unchanged
        (padding is ignored).
    """
    xs = jnp.asarray(xs)
    _check_sequence("xs", xs, params.w_x.shape[0])
    if lengths is None:
        lengths = jnp.full((xs.shape[1],), xs.shape[0], jnp.int32)
    return _lstm_hidden(params, xs, jnp.asarray(lengths))


def lstm_predict(params: LSTMParams, xs: ArrayLike) -> jax.Array:
    """Linear read-out of the final hidden state: ``[B, O]``."""
    return lstm_hidden(params, xs) @ params.w_y + params.b_y[None, :]


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


def lstm_mse(params: LSTMParams, xs: ArrayLike, targets: ArrayLike) -> jax.Array:
    """Mean squared error of :func:`lstm_predict` (its gradient: the hand BPTT)."""
    return jnp.mean((lstm_predict(params, xs) - targets) ** 2)


def lstm_mse_reference(
    params: LSTMParams, xs: ArrayLike, targets: ArrayLike, lengths: ArrayLike | None = None
) -> jax.Array:
    """``mean((h_T W_y + b_y - y)²)`` through :func:`lstm_hidden_reference`; targets ``[B, O]``."""
    y = lstm_hidden_reference(params, xs, lengths) @ params.w_y + params.b_y[None, :]
    return jnp.mean((y - jnp.asarray(targets)) ** 2)


def lstm_mse_grad(
    params: LSTMParams, xs: ArrayLike, targets: ArrayLike, lengths: ArrayLike | None = None
) -> tuple[LSTMParams, jax.Array]:
    """Hand gradient of :func:`lstm_mse_reference` with respect to the weights and the inputs.

    The read-out ``y = h_T W_y + b_y`` gives ``δy = 2 (y - target) / N``, ``ΔW_y = h_Tᵀ δy``,
    ``Δb_y = Σ_batch δy`` and ``δh_T = δy W_yᵀ``, which :func:`lstm_bptt` takes back in time.

    Returns:
      ``(grads, d_xs)``: :class:`LSTMParams` and ``[T, B, I]``.
    """
    trace = lstm_trace(params, xs, lengths)
    h = trace.h[-1]
    y = h @ params.w_y + params.b_y[None, :]
    d_y = 2.0 * (y - jnp.asarray(targets)) / y.size
    grads, d_xs = lstm_bptt(params, xs, trace, d_y @ params.w_y.T)
    return grads._replace(w_y=h.T @ d_y, b_y=d_y.sum(0)), d_xs


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


# --------------------------------------------------------------------------------------------
# Sentiment classification: embedding -> LSTM -> logistic unit
# --------------------------------------------------------------------------------------------


class SentimentParams(NamedTuple):
    """Word embeddings and an LSTM whose read-out is one logit."""

    embedding: jax.Array  # [V, E]
    lstm: LSTMParams  # inputs E, outputs 1


class SentimentResult(NamedTuple):
    """Outcome of :func:`train_sentiment`."""

    params: SentimentParams
    losses: jax.Array  # [steps]
    train_accuracy: float
    test_accuracy: float  # NaN when there is no held-out example
    n_train: int
    n_test: int


def sentiment_logits(params: SentimentParams, ids: ArrayLike, lengths: ArrayLike) -> jax.Array:
    """Logit of "positive" for each text: ids ``[B, L]`` int, lengths ``[B]`` -> ``[B]``."""
    xs = jnp.swapaxes(params.embedding[jnp.asarray(ids)], 0, 1)  # [L, B, E]
    h = lstm_hidden(params.lstm, xs, lengths)
    return (h @ params.lstm.w_y + params.lstm.b_y[None, :])[:, 0]


_sentiment_logits_jit = jax.jit(sentiment_logits)


def _sentiment_loss(params: SentimentParams, batch: tuple) -> jax.Array:
    ids, lengths, labels = batch
    return binary_cross_entropy_with_logits(sentiment_logits(params, ids, lengths), labels)


def train_sentiment(
    texts: Sequence[str],
    labels: Sequence[int],
    *,
    key: jax.Array,
    test_fraction: float = 0.2,
    max_vocabulary: int = 5000,
    max_length: int = 64,
    embedding: int = 16,
    hidden: int = 16,
    steps: int = 200,
    learning_rate: float = 0.02,
    clip: float = 1.0,
    batch_size: int = 256,
):
    """Fit an embedding + LSTM classifier to ``(text, label)`` pairs; report held-out accuracy.

    The vocabulary is built from the training split only (see :mod:`jaxdl.data.text`); texts are cut
    to ``max_length`` tokens. A training split of at most ``batch_size`` texts is one batch at
    every step; a larger one is read in shuffled mini-batches of ``batch_size`` (one epoch after
    another), so memory grows with the batch, not with the file. Accuracy is scored in batches
    of the same size.

    Args:
      texts: the documents.
      labels: 0 (negative) or 1 (positive), one per text.
      key: PRNG key (split, init).
      test_fraction: share of examples held out, in [0, 1).

    Returns:
      ``(result, vocabulary)``: a :class:`SentimentResult` and the :class:`jaxdl.data.text.Vocabulary`.

    Raises:
      ValueError: on mismatched lengths, labels other than 0/1, too few examples, an empty
        vocabulary, or a bad setting.
    """
    from jaxdl.data.text import build_vocabulary, encode

    if len(texts) != len(labels):
        raise ValueError(f"got {len(texts)} texts but {len(labels)} labels")
    if len(texts) < 2:
        raise ValueError(f"need at least 2 labelled texts, got {len(texts)}")
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction!r}")
    bad = sorted({repr(v) for v in labels if v not in (0, 1)})
    if bad:
        raise ValueError(f"labels must be 0 or 1, got {', '.join(bad[:5])}")
    for name, value in (
        ("embedding", embedding), ("hidden", hidden), ("steps", steps), ("batch_size", batch_size)
    ):  # fmt: skip
        require_positive_int(name, value)
    require_positive_float("learning rate", learning_rate)
    k_split, k_emb, k_lstm = jax.random.split(key, 3)
    order = np.asarray(jax.random.permutation(k_split, len(texts)))
    n_test = int(round(test_fraction * len(texts)))
    n_test = min(n_test, len(texts) - 1)
    test_idx, train_idx = order[:n_test], order[n_test:]
    vocab = build_vocabulary([texts[i] for i in train_idx], max_size=max_vocabulary)
    ids, lengths = encode(texts, vocab, max_length=max_length)
    y = jnp.asarray(np.asarray(labels, np.float32))
    params = SentimentParams(
        embedding=0.1 * jax.random.normal(k_emb, (len(vocab), embedding), F32),
        lstm=init_lstm(key=k_lstm, inputs=embedding, hidden=hidden, outputs=1),
    )
    train = (jnp.asarray(ids[train_idx]), jnp.asarray(lengths[train_idx]), y[train_idx])
    if len(train_idx) <= batch_size:
        feed = trainer.fixed(train)
    else:
        per_epoch = len(train_idx) // batch_size
        epochs = jax.random.split(k_split, -(-steps // per_epoch))
        feed, _ = trainer.shuffled_epochs(train, batch_size=batch_size, keys=epochs)
    run = trainer.train(
        _sentiment_loss, params, clipped_adam(float(learning_rate), float(clip)), feed, steps=steps
    )
    params, losses = run.state.params, run.losses

    def accuracy(idx) -> float:
        if len(idx) == 0:
            return float("nan")
        right = 0
        for start in range(0, len(idx), batch_size):
            rows = idx[start : start + batch_size]
            logits = _sentiment_logits_jit(params, ids[rows], lengths[rows])
            right += int(jnp.sum((logits > 0) == (y[rows] > 0.5)))
        return right / len(idx)

    result = SentimentResult(
        params, losses, accuracy(train_idx), accuracy(test_idx), len(train_idx), len(test_idx)
    )
    return result, vocab


# --------------------------------------------------------------------------------------------
# The paper's own experiment: Hochreiter & Schmidhuber 1997, experiment 4 (adding problem)
# --------------------------------------------------------------------------------------------

#: What the 1997 paper reports for T = 100 (minimal lag 50): training stopped after about
#: 74,000 sequences, then 1 wrong answer among 2560 test sequences.
PAPER_LENGTH = 100
PAPER_SEQUENCES_TO_SUCCESS = 74_000
PAPER_TEST_ERRORS = 1
PAPER_TEST_SEQUENCES = 2560
PAPER_TOLERANCE = 0.04  # a sequence is right when |output - target| < 0.04 at its end
PAPER_RECENT = 2000  # success: the last 2000 training sequences right ...
PAPER_MEAN_ERROR = 0.01  # ... and their average error below 0.01
#: Our choices (the paper trains online with a learning rate of its own, see the chapter):
#: Adam (gradient norm clipped at 1) on batches of 8, 8 cells, a forget gate that starts open (bias 5, σ(5) = 0.993) and an
#: input gate that starts nearly shut (bias -1), the paper's remedy against state drift.
PAPER_BATCH = 8
PAPER_HIDDEN = 8
PAPER_LEARNING_RATE = 0.003
PAPER_FORGET_BIAS = 5.0
PAPER_INPUT_BIAS = -1.0


@functools.partial(jax.jit, static_argnames=("batch", "length"))
def adding_problem_1997(
    *, key: jax.Array, batch: int, length: int
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The adding problem exactly as the 1997 paper states it (minimal length ``T = length``).

    Each sequence has a random length in ``[T, T + T/10]``; each step is a pair (value from
    U(-1, 1), marker). One of the first ten pairs is marked 1.0 (its value ``X1``), then one of
    the first ``T/2 - 1`` still unmarked pairs (``X2``); the first and the last pair carry marker
    -1 unless marked, and ``X1`` is set to 0 when the first pair is the marked one. The target is
    ``0.5 + (X1 + X2) / 4``, in [0, 1].

    Returns:
      ``(inputs [T + T//10, B, 2], lengths [B], targets [B, 1])``, float32; steps past a
      sequence's length are zero padding.
    """
    if isinstance(length, bool) or not isinstance(length, int) or length < 20:
        raise ValueError(f"length must be an integer >= 20, got {length!r}")
    require_positive_int("batch", batch)
    k_len, k_v, k_a, k_b = jax.random.split(key, 4)
    steps = length + length // 10
    i32 = jnp.int32  # explicit, so that the draws are the same with and without x64
    lengths = jax.random.randint(k_len, (batch,), length, steps + 1, i32)
    first = jax.random.randint(k_a, (batch,), 0, 10, i32)
    j = jax.random.randint(k_b, (batch,), 0, length // 2 - 1, i32)
    second = j + (j >= first)  # the j-th pair that is not the first marked one
    t = jnp.arange(steps)[:, None]
    marked = (t == first[None, :]) | (t == second[None, :])
    ends = (t == 0) | (t == lengths[None, :] - 1)
    marks = jnp.where(marked, 1.0, jnp.where(ends, -1.0, 0.0)).astype(F32)
    values = jax.random.uniform(k_v, (steps, batch), F32, -1.0, 1.0)
    values = jnp.where((t == 0) & (first == 0)[None, :], 0.0, values)
    values = jnp.where(t < lengths[None, :], values, 0.0)
    targets = 0.5 + jnp.sum(jnp.where(marked, values, 0.0), axis=0) / 4.0
    return jnp.stack([values, marks], axis=-1), lengths, targets[:, None]


def init_lstm_1997(*, key: jax.Array, hidden: int = PAPER_HIDDEN) -> LSTMParams:
    """:func:`init_lstm` for the adding problem, with the gate biases of ``PAPER_*_BIAS``."""
    params = init_lstm(key=key, inputs=2, hidden=hidden, outputs=1)
    b = params.b.at[:hidden].set(PAPER_INPUT_BIAS).at[hidden : 2 * hidden].set(PAPER_FORGET_BIAS)
    return params._replace(b=b)


def _final_errors(params: LSTMParams, xs, lengths, targets) -> tuple[jax.Array, jax.Array]:
    """``(mse, |output - target| [B])`` at each sequence's end."""
    y = lstm_hidden(params, xs, lengths) @ params.w_y + params.b_y[None, :]
    return jnp.mean((y - targets) ** 2), jnp.abs(y - targets)[:, 0]


_PAPER_OPTIMIZER = clipped_adam(PAPER_LEARNING_RATE, 1.0)


def _paper_loss(params: LSTMParams, batch: tuple) -> tuple[jax.Array, jax.Array]:
    """The batch's MSE, and (aux) how many of its answers miss by the paper's tolerance or more."""
    mse, errors = _final_errors(params, *batch)
    return mse, jnp.sum(errors >= PAPER_TOLERANCE)


@functools.cache
def _paper_batches(length: int):
    """``key -> (xs, lengths, targets)``: one function per length (its compiled loop is reused)."""
    return functools.partial(adding_problem_1997, batch=PAPER_BATCH, length=length)


@functools.partial(jax.jit, static_argnames=("length",))
def _adding_1997_test(params: LSTMParams, key: jax.Array, *, length: int) -> jax.Array:
    xs, lengths, targets = adding_problem_1997(key=key, batch=PAPER_TEST_SEQUENCES, length=length)
    return _final_errors(params, xs, lengths, targets)[1]


class AddingPaperResult(NamedTuple):
    """Outcome of :func:`reproduce_adding_1997`."""

    sequences_to_success: int | None  # training sequences until the paper's stop rule held
    sequences_seen: int
    test_errors: int  # of PAPER_TEST_SEQUENCES fresh sequences, |error| >= 0.04
    max_test_error: float
    losses: np.ndarray  # [steps] training MSE of each batch
    seconds: float  # wall-clock time of the training


def _success_step(
    losses: np.ndarray, wrong: np.ndarray, window: int, *, since: int = 0
) -> int | None:
    """First step count ``n > since`` whose last ``window`` steps had no wrong answer and a
    mean MSE below 0.01 (``since`` skips the ends already looked at)."""
    first = max(since + 1, window)  # step counts n = first .. len(wrong)
    if len(wrong) < first:
        return None
    tail = slice(first - window, len(wrong))
    wrong_sum = np.convolve(wrong[tail], np.ones(window, np.int64), "valid")
    mean_loss = np.convolve(losses[tail], np.full(window, 1.0 / window), "valid")
    ok = np.flatnonzero((wrong_sum == 0) & (mean_loss < PAPER_MEAN_ERROR))
    return int(ok[0]) + first if len(ok) else None


def reproduce_adding_1997(
    *,
    key: jax.Array,
    length: int = PAPER_LENGTH,
    max_sequences: int = 400_000,
    progress: bool = False,
) -> AddingPaperResult:
    """Train an LSTM on :func:`adding_problem_1997` until the paper's stop rule, then test it.

    Stop rule (the paper's): the last 2000 training sequences all answered within 0.04 and
    their mean squared error below 0.01; the count of training sequences at that point is the
    "sequences to success". Then 2560 fresh sequences are answered. Training runs in chunks of
    one compiled :func:`jax.lax.scan` each; the rule is checked on the host between chunks.

    Args:
      key: PRNG key.
      length: the minimal sequence length ``T`` (the paper: 100, 500, 1000).
      max_sequences: give up after this many training sequences (``sequences_to_success`` is
        then ``None``).
      progress: show a tqdm bar on stderr (sequences, loss).
    """
    require_positive_int("max_sequences", max_sequences)
    if isinstance(length, bool) or not isinstance(length, int) or length < 20:
        raise ValueError(f"length must be an integer >= 20, got {length!r}")
    k_init, k_train, k_test = jax.random.split(key, 3)
    window = -(-PAPER_RECENT // PAPER_BATCH)
    chunk = 50
    steps = -(-max_sequences // (chunk * PAPER_BATCH)) * chunk  # whole chunks, as many as needed
    progress_bar = trainer.Progress("LSTM 1997, adding", unit="seq", per_step=PAPER_BATCH)
    start = time.perf_counter()
    run = trainer.train(
        _paper_loss,
        init_lstm_1997(key=k_init),
        _PAPER_OPTIMIZER,
        trainer.fresh(_paper_batches(length), key=k_train),
        steps=steps,
        has_aux=True,
        chunk_steps=chunk,
        stop=lambda losses, wrong, since: _success_step(losses, wrong, window, since=since),
        progress=progress_bar if progress else None,
    )
    seconds = time.perf_counter() - start
    state, losses, done = run.state, run.losses, run.stopped_at
    test = np.asarray(_adding_1997_test(state.params, k_test, length=length))
    return AddingPaperResult(
        sequences_to_success=None if done is None else done * PAPER_BATCH,
        sequences_seen=len(losses) * PAPER_BATCH,
        test_errors=int(np.sum(test >= PAPER_TOLERANCE)),
        max_test_error=float(test.max()),
        losses=losses,
        seconds=seconds,
    )


def paper_summary(result: AddingPaperResult, *, length: int) -> dict:
    """The paper's numbers beside ours, JSON-ready: the ``"paper"`` object of the report."""
    paper = (
        {
            "sequences_to_success": PAPER_SEQUENCES_TO_SUCCESS,
            "test_errors": PAPER_TEST_ERRORS,
            "test_sequences": PAPER_TEST_SEQUENCES,
        }
        if length == PAPER_LENGTH
        else {"note": "the paper's table has T = 100, 500 and 1000; compare at T = 100"}
    )
    return {
        "experiment": "Hochreiter & Schmidhuber 1997, experiment 4 (adding problem)",
        "length": length,
        "minimal_lag": length // 2,
        "tolerance": PAPER_TOLERANCE,
        "paper": paper,
        "jaxdl": {
            "sequences_to_success": result.sequences_to_success,
            "sequences_seen": result.sequences_seen,
            "test_errors": result.test_errors,
            "test_sequences": PAPER_TEST_SEQUENCES,
            "max_test_error": result.max_test_error,
            "seconds": result.seconds,
            "model": (
                f"LSTM with forget gate, {PAPER_HIDDEN} cells, hand BPTT, Adam "
                f"{PAPER_LEARNING_RATE}, batches of {PAPER_BATCH}"
            ),
        },
    }


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


@functools.partial(jax.jit, static_argnums=(1,))
def _check_point(key: jax.Array, dtype):
    k_p, k_b, k_x, k_y, k_n = jax.random.split(key, 5)
    params = init_lstm(key=k_p, inputs=2, hidden=3, outputs=2, dtype=dtype)
    params = params._replace(b=params.b + jax.random.normal(k_b, params.b.shape, dtype))
    xs = jax.random.normal(k_x, (6, 3, 2), dtype)
    targets = jax.random.normal(k_y, (3, 2), dtype)
    lengths = jax.random.randint(k_n, (3,), 1, 7)
    return params, xs, targets, lengths


def bptt_checks(*, key: jax.Array) -> list[GradCheck]:
    """The hand LSTM BPTT vs ``jax.grad`` vs finite differences: weights, and inputs."""
    params, xs, targets, lengths = _check_point(key, jnp.result_type(float))
    return [
        check_gradient(
            "lstm: BPTT, squared error at the last step (weights)",
            lambda p: lstm_mse_reference(p, xs, targets, lengths),
            lambda p: lstm_mse_grad(p, xs, targets, lengths)[0],
            params,
        ),
        check_gradient(
            "lstm: BPTT to the inputs, padded sequences",
            lambda x: lstm_mse_reference(params, x, targets, lengths),
            lambda x: lstm_mse_grad(params, x, targets, lengths)[1],
            xs,
        ),
    ]


def gradient_checks(*, key: jax.Array) -> list[GradCheck]:
    """Every hand-derived gradient of the chapter: the LSTM's BPTT (weights and inputs).

    The Elman baseline's hand BPTT is checked by the ``elman-rnn`` chapter.
    """
    return bptt_checks(key=key)


def run(config: Config = Config()) -> Report:
    """Train both nets on the adding problem, or the sentiment classifier if ``csv`` is set."""
    from jaxdl.milestones.elman_rnn import bptt_checks as elman_bptt_checks

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
        checks=bptt_checks(key=k_check) + elman_bptt_checks(key=k_check)[1:],
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
        checks=bptt_checks(key=check_key),
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
