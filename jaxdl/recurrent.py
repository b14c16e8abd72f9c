"""Recurrent networks: Elman's simple recurrent network (1990) and the LSTM (1997).

Everything is time-major: a batch of sequences is ``[T, B, features]`` so that
:func:`jax.lax.scan` walks the leading axis.

**Elman network.** ``h_t = tanh(x_t W_xh + h_{t-1} W_hh + b_h)`` with ``h_0 = 0`` (Elman's
"context units" hold ``h_{t-1}``), and a linear read-out ``o_t = h_t W_hy + b_y`` at every
step. Backpropagation through time is written by hand in :func:`elman_bptt`: given the
gradient of the loss with respect to every output ``do_t``, walk the sequence backwards,

.. code-block:: text

    dh_t  = do_t W_hyᵀ + da_{t+1} W_hhᵀ          (da_{T+1} = 0)
    da_t  = dh_t * (1 - h_t²)                     (tanh' written with its output)
    dW_hy = Σ_t h_tᵀ do_t      db_y = Σ_t Σ_b do_t
    dW_xh = Σ_t x_tᵀ da_t      dW_hh = Σ_t h_{t-1}ᵀ da_t      db_h = Σ_t Σ_b da_t

so any loss on the outputs (a cross-entropy at every step, a squared error at the last) gets
its parameter gradient from the same function; the tests hold it to :func:`jax.grad`.

**LSTM** (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000). The cell
``c_t = f_t * c_{t-1} + i_t * g_t`` carries information additively, so gradients flow across
long gaps where the Elman network's repeated ``tanh`` and ``W_hh`` products shrink them. Its
gradient comes from :func:`jax.grad`.

**Training** uses optax: ``optax.chain(optax.clip_by_global_norm(clip), optax.adam(lr))``,
the whole loop one :func:`jax.lax.scan` inside one ``jit``. Clipping the global gradient norm
(Pascanu, Mikolov & Bengio 2013) is the standard guard against the exploding gradients of BPTT.

**Sentiment.** :func:`train_sentiment` embeds word ids (see :mod:`jaxdl.text`), runs an LSTM
over each review and reads the final hidden state with a logistic unit.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.typing import ArrayLike

from jaxdl.config import require_positive_float, require_positive_int

F32 = jnp.float32


# --------------------------------------------------------------------------------------------
# Elman network with hand-written backpropagation through time
# --------------------------------------------------------------------------------------------


class ElmanParams(NamedTuple):
    """Weights of an Elman network."""

    w_xh: jax.Array  # [I, H] input -> hidden
    w_hh: jax.Array  # [H, H] context (previous hidden) -> hidden
    b_h: jax.Array  # [H]
    w_hy: jax.Array  # [H, O] hidden -> output
    b_y: jax.Array  # [O]


@functools.partial(jax.jit, static_argnames=("inputs", "hidden", "outputs", "dtype"))
def init_elman(*, key: jax.Array, inputs: int, hidden: int, outputs: int, dtype=F32) -> ElmanParams:
    """Glorot-uniform input and output weights, orthogonal-ish small recurrent weights, zero biases.

    Args:
      key: PRNG key.
      inputs, hidden, outputs: layer widths ``I``, ``H``, ``O``.
      dtype: parameter dtype (float32 for training, float64 for gradient checks).
    """
    for name, value in (("inputs", inputs), ("hidden", hidden), ("outputs", outputs)):
        require_positive_int(name, value)
    k_xh, k_hh, k_hy = jax.random.split(key, 3)
    glorot = jax.nn.initializers.glorot_uniform()
    return ElmanParams(
        w_xh=glorot(k_xh, (inputs, hidden), dtype),
        w_hh=jax.nn.initializers.orthogonal(scale=0.9)(k_hh, (hidden, hidden), dtype),
        b_h=jnp.zeros((hidden,), dtype),
        w_hy=glorot(k_hy, (hidden, outputs), dtype),
        b_y=jnp.zeros((outputs,), dtype),
    )


def _check_sequence(name: str, xs: jax.Array, features: int) -> None:
    if xs.ndim != 3 or xs.shape[0] < 1 or xs.shape[2] != features:
        raise ValueError(
            f"{name} must have shape [T, B, {features}] (time-major, T >= 1), got {xs.shape}"
        )


def elman_forward(params: ElmanParams, xs: ArrayLike) -> tuple[jax.Array, jax.Array]:
    """Run the Elman network over a batch of sequences.

    Args:
      params: the weights.
      xs: inputs ``[T, B, I]``.

    Returns:
      ``(outputs, hiddens)``: the linear outputs ``o_t`` ``[T, B, O]`` and hidden states
      ``h_t`` ``[T, B, H]`` (``h_0 = 0`` is not included).
    """
    xs = jnp.asarray(xs)
    _check_sequence("xs", xs, params.w_xh.shape[0])
    h0 = jnp.zeros((xs.shape[1], params.w_hh.shape[0]), params.w_hh.dtype)

    def step(h, x):
        h = jnp.tanh(x @ params.w_xh + h @ params.w_hh + params.b_h[None, :])
        return h, h

    _, hs = jax.lax.scan(step, h0, xs)
    return hs @ params.w_hy + params.b_y[None, None, :], hs


def elman_bptt(params: ElmanParams, xs: ArrayLike, d_outputs: ArrayLike) -> ElmanParams:
    """Backpropagation through time, by hand (formulas in the module docstring).

    Args:
      params: the weights.
      xs: inputs ``[T, B, I]``.
      d_outputs: gradient of the loss with respect to each output ``o_t``, ``[T, B, O]``.

    Returns:
      The gradient of the loss with respect to every weight, as :class:`ElmanParams`.
    """
    xs = jnp.asarray(xs)
    _, hs = elman_forward(params, xs)
    d_outputs = jnp.asarray(d_outputs, hs.dtype)
    expected = hs.shape[:2] + (params.w_hy.shape[1],)
    if d_outputs.shape != expected:
        raise ValueError(f"d_outputs must have shape {expected}, got {d_outputs.shape}")
    h_prev = jnp.concatenate([jnp.zeros_like(hs[:1]), hs[:-1]])  # h_{t-1}, [T, B, H]

    def back(da_next, inputs):
        do, h, hp, x = inputs
        dh = do @ params.w_hy.T + da_next @ params.w_hh.T
        da = dh * (1.0 - h**2)
        grads = (h.T @ do, x.T @ da, hp.T @ da, da.sum(0))
        return da, grads

    da0 = jnp.zeros_like(hs[0])
    _, (d_hy, d_xh, d_hh, d_bh) = jax.lax.scan(back, da0, (d_outputs, hs, h_prev, xs), reverse=True)
    return ElmanParams(
        w_xh=d_xh.sum(0),
        w_hh=d_hh.sum(0),
        b_h=d_bh.sum(0),
        w_hy=d_hy.sum(0),
        b_y=d_outputs.sum((0, 1)),
    )


def bce_with_logits(logits: ArrayLike, targets: ArrayLike) -> jax.Array:
    """Mean binary cross-entropy on logits: ``mean(softplus(o) - y o)`` (stable form)."""
    from jaxdl.losses import check_same_shape

    check_same_shape(logits, targets)
    o, y = jnp.asarray(logits), jnp.asarray(targets)
    return jnp.mean(jax.nn.softplus(o) - y * o)


def bce_with_logits_grad(logits: ArrayLike, targets: ArrayLike) -> jax.Array:
    """Gradient of :func:`bce_with_logits` with respect to the logits: ``(σ(o) - y) / N``."""
    o, y = jnp.asarray(logits), jnp.asarray(targets)
    return (jax.nn.sigmoid(o) - y) / o.size


def elman_sequence_loss(params: ElmanParams, xs: ArrayLike, targets: ArrayLike) -> jax.Array:
    """Binary cross-entropy at every step: the loss of the temporal-XOR task."""
    outputs, _ = elman_forward(params, xs)
    return bce_with_logits(outputs, targets)


def elman_sequence_loss_grad(params: ElmanParams, xs: ArrayLike, targets: ArrayLike) -> ElmanParams:
    """Hand gradient of :func:`elman_sequence_loss`: BPTT fed with ``(σ(o_t) - y_t) / N``."""
    outputs, _ = elman_forward(params, xs)
    return elman_bptt(params, xs, bce_with_logits_grad(outputs, targets))


def elman_last_step_mse(params: ElmanParams, xs: ArrayLike, targets: ArrayLike) -> jax.Array:
    """Mean squared error of the last output only: the adding problem's loss. targets ``[B, O]``."""
    outputs, _ = elman_forward(params, xs)
    return jnp.mean((outputs[-1] - targets) ** 2)


def elman_last_step_mse_grad(params: ElmanParams, xs: ArrayLike, targets: ArrayLike) -> ElmanParams:
    """Hand gradient of :func:`elman_last_step_mse`: BPTT fed with ``2 (o_T - y) / N`` at step T."""
    outputs, _ = elman_forward(params, xs)
    d_last = 2.0 * (outputs[-1] - targets) / outputs[-1].size
    d_outputs = jnp.zeros_like(outputs).at[-1].set(d_last)
    return elman_bptt(params, xs, d_outputs)


# --------------------------------------------------------------------------------------------
# Elman's temporal XOR (Finding Structure in Time, 1990, section "Exclusive-OR")
# --------------------------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnames=("batch", "triplets"))
def temporal_xor(*, key: jax.Array, batch: int, triplets: int) -> tuple[jax.Array, jax.Array]:
    """Elman's bit stream: two random bits, then their XOR, repeated.

    Args:
      key: PRNG key.
      batch: number of independent streams ``B``.
      triplets: triplets per stream; the stream has ``3 * triplets`` bits.

    Returns:
      ``(inputs, targets)``, each ``[3 * triplets - 1, B, 1]`` float32: the net sees bit ``t``
      and must predict bit ``t + 1``. Targets at positions ``1, 4, 7, ...`` (0-based) are the XOR
      bits, predictable from the two bits before them; the others are coin flips.
    """
    require_positive_int("batch", batch)
    require_positive_int("triplets", triplets)
    pairs = jax.random.bernoulli(key, 0.5, (triplets, 2, batch)).astype(jnp.int32)
    xor = pairs[:, 0] ^ pairs[:, 1]
    stream = jnp.concatenate([pairs, xor[:, None]], axis=1).reshape(3 * triplets, batch)
    stream = stream.astype(F32)[:, :, None]
    return stream[:-1], stream[1:]


def predictable_mask(length: int) -> np.ndarray:
    """``[length]`` booleans: which target positions of :func:`temporal_xor` are XOR bits."""
    return (np.arange(length) % 3) == 1


def _clipped_adam(learning_rate: float, clip: float) -> optax.GradientTransformation:
    return optax.chain(optax.clip_by_global_norm(clip), optax.adam(learning_rate))


class TrainState(NamedTuple):
    """Parameters and optimizer state, carried through the training scan."""

    params: object  # a pytree of weights
    opt_state: object  # optax state
    key: jax.Array  # PRNG key for fresh data


@functools.partial(jax.jit, static_argnames=("steps", "batch", "triplets", "lr", "clip"))
def _train_temporal_xor(params, key, *, steps, batch, triplets, lr, clip):
    opt = _clipped_adam(lr, clip)

    def step(state: TrainState, _):
        key, k_data = jax.random.split(state.key)
        xs, ys = temporal_xor(key=k_data, batch=batch, triplets=triplets)
        loss = elman_sequence_loss(state.params, xs, ys)
        grads = elman_sequence_loss_grad(state.params, xs, ys)
        updates, opt_state = opt.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        return TrainState(params, opt_state, key), loss

    state = TrainState(params, opt.init(params), key)
    state, losses = jax.lax.scan(step, state, length=steps)
    return state.params, losses


@jax.jit
def per_position_error(params: ElmanParams, xs: ArrayLike, ys: ArrayLike) -> jax.Array:
    """Mean absolute error ``|σ(o_t) - y_t|`` at each position, averaged over the batch: ``[T]``."""
    outputs, _ = elman_forward(params, xs)
    return jnp.mean(jnp.abs(jax.nn.sigmoid(outputs) - ys), axis=(1, 2))


def train_temporal_xor(
    *,
    key: jax.Array,
    hidden: int = 8,
    steps: int = 600,
    batch: int = 32,
    triplets: int = 8,
    learning_rate: float = 0.03,
    clip: float = 1.0,
) -> tuple[ElmanParams, jax.Array]:
    """Train an Elman network on fresh temporal-XOR streams with the hand BPTT gradient.

    Returns:
      ``(params, losses)``: the trained float32 weights and the loss at each step ``[steps]``.
    """
    require_positive_int("hidden", hidden)
    require_positive_int("steps", steps)
    require_positive_float("learning rate", learning_rate)
    require_positive_float("clip", clip)
    k_init, k_data = jax.random.split(key)
    params = init_elman(key=k_init, inputs=1, hidden=hidden, outputs=1)
    return _train_temporal_xor(
        params,
        k_data,
        steps=steps,
        batch=batch,
        triplets=triplets,
        lr=float(learning_rate),
        clip=float(clip),
    )


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


def lstm_hidden(params: LSTMParams, xs: ArrayLike, lengths: ArrayLike | None = None) -> jax.Array:
    """The LSTM's hidden state after the last step (or after ``lengths[b]`` steps): ``[B, H]``.

    Args:
      params: the weights.
      xs: inputs ``[T, B, I]``.
      lengths: optional ``[B]`` true lengths; steps ``t >= lengths[b]`` leave the state unchanged
        (padding is ignored).
    """
    xs = jnp.asarray(xs)
    _check_sequence("xs", xs, params.w_x.shape[0])
    hidden = params.w_h.shape[0]
    batch = xs.shape[1]
    zeros = jnp.zeros((batch, hidden), params.w_h.dtype)
    live = (
        jnp.ones((xs.shape[0], batch, 1), bool)
        if lengths is None
        else (jnp.arange(xs.shape[0])[:, None] < jnp.asarray(lengths)[None, :])[:, :, None]
    )

    def step(carry, inputs):
        h, c = carry
        x, alive = inputs
        z = x @ params.w_x + h @ params.w_h + params.b[None, :]
        i, f, g, o = jnp.split(z, 4, axis=-1)
        c_new = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h_new = jax.nn.sigmoid(o) * jnp.tanh(c_new)
        return (jnp.where(alive, h_new, h), jnp.where(alive, c_new, c)), None

    (h, _), _ = jax.lax.scan(step, (zeros, zeros), (xs, live))
    return h


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
    if isinstance(length, bool) or not isinstance(length, int) or length < 2:
        raise ValueError(f"length must be an integer >= 2, got {length!r}")
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
    """Mean squared error of :func:`lstm_predict`."""
    return jnp.mean((lstm_predict(params, xs) - targets) ** 2)


_lstm_mse_jit = jax.jit(lstm_mse)
_elman_last_step_mse_jit = jax.jit(elman_last_step_mse)


@functools.partial(jax.jit, static_argnames=("model", "steps", "batch", "length", "lr", "clip"))
def _train_adding(params, key, *, model, steps, batch, length, lr, clip):
    opt = _clipped_adam(lr, clip)
    if model == "lstm":
        loss_and_grad = jax.value_and_grad(lstm_mse)
    else:

        def loss_and_grad(p, xs, ys):
            return elman_last_step_mse(p, xs, ys), elman_last_step_mse_grad(p, xs, ys)

    def step(state: TrainState, _):
        key, k_data = jax.random.split(state.key)
        xs, ys = adding_problem(key=k_data, batch=batch, length=length)
        loss, grads = loss_and_grad(state.params, xs, ys)
        updates, opt_state = opt.update(grads, state.opt_state, state.params)
        return TrainState(optax.apply_updates(state.params, updates), opt_state, key), loss

    state, losses = jax.lax.scan(step, TrainState(params, opt.init(params), key), length=steps)
    return state.params, losses


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
    return _train_adding(
        params,
        k_data,
        model=model,
        steps=steps,
        batch=batch,
        length=length,
        lr=float(learning_rate),
        clip=float(clip),
    )


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


@functools.partial(jax.jit, static_argnames=("steps", "lr", "clip"))
def _train_sentiment(params, ids, lengths, labels, *, steps, lr, clip):
    opt = _clipped_adam(lr, clip)

    def loss_fn(p):
        return bce_with_logits(sentiment_logits(p, ids, lengths), labels)

    def step(carry, _):
        p, s = carry
        loss, grads = jax.value_and_grad(loss_fn)(p)
        updates, s = opt.update(grads, s, p)
        return (optax.apply_updates(p, updates), s), loss

    (params, _), losses = jax.lax.scan(step, (params, opt.init(params)), length=steps)
    return params, losses


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
):
    """Fit an embedding + LSTM classifier to ``(text, label)`` pairs; report held-out accuracy.

    The vocabulary is built from the training split only (see :mod:`jaxdl.text`); texts are cut
    to ``max_length`` tokens. Full-batch training, meant for data that fits in memory.

    Args:
      texts: the documents.
      labels: 0 (negative) or 1 (positive), one per text.
      key: PRNG key (split, init).
      test_fraction: share of examples held out, in [0, 1).

    Returns:
      ``(result, vocabulary)``: a :class:`SentimentResult` and the :class:`jaxdl.text.Vocabulary`.

    Raises:
      ValueError: on mismatched lengths, labels other than 0/1, too few examples, an empty
        vocabulary, or a bad setting.
    """
    from jaxdl.text import build_vocabulary, encode

    if len(texts) != len(labels):
        raise ValueError(f"got {len(texts)} texts but {len(labels)} labels")
    if len(texts) < 2:
        raise ValueError(f"need at least 2 labelled texts, got {len(texts)}")
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction!r}")
    bad = sorted({repr(v) for v in labels if v not in (0, 1)})
    if bad:
        raise ValueError(f"labels must be 0 or 1, got {', '.join(bad[:5])}")
    for name, value in (("embedding", embedding), ("hidden", hidden), ("steps", steps)):
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
    params, losses = _train_sentiment(
        params,
        ids[train_idx],
        lengths[train_idx],
        y[train_idx],
        steps=steps,
        lr=float(learning_rate),
        clip=float(clip),
    )

    def accuracy(idx) -> float:
        if len(idx) == 0:
            return float("nan")
        logits = sentiment_logits(params, ids[idx], lengths[idx])
        return float(jnp.mean((logits > 0) == (y[idx] > 0.5)))

    result = SentimentResult(
        params, losses, accuracy(train_idx), accuracy(test_idx), len(train_idx), len(test_idx)
    )
    return result, vocab
