"""The LSTM chapter's second use: a sentiment classifier (word embeddings -> LSTM -> logistic
unit) trained on a labelled CSV file (``jaxdl run lstm --csv PATH``; the format and the public
data sets that fit are in :mod:`jaxdl.data.text`), its LSTM trained through the hand BPTT.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxdl.data.text import build_vocabulary, encode
from jaxdl.losses import binary_cross_entropy_with_logits
from jaxdl.nn.recurrent import LSTMParams, init_lstm, lstm_hidden
from jaxdl.optim import clipped_adam
from jaxdl.training import trainer
from jaxdl.validate import require_positive_float, require_positive_int

F32 = jnp.float32


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
    _check_sentiment_inputs(texts, labels, test_fraction)
    _check_settings(embedding=embedding, hidden=hidden, steps=steps, batch_size=batch_size)
    require_positive_float("learning rate", learning_rate)
    k_split, k_emb, k_lstm = jax.random.split(key, 3)
    test_idx, train_idx = _split(k_split, len(texts), test_fraction)
    vocab = build_vocabulary([texts[i] for i in train_idx], max_size=max_vocabulary)
    ids, lengths = encode(texts, vocab, max_length=max_length)
    y = jnp.asarray(np.asarray(labels, np.float32))
    params = init_sentiment(k_emb, k_lstm, words=len(vocab), embedding=embedding, hidden=hidden)
    train = (jnp.asarray(ids[train_idx]), jnp.asarray(lengths[train_idx]), y[train_idx])
    feed = _feed(train, batch_size=batch_size, steps=steps, key=k_split)
    run = trainer.train(
        _sentiment_loss, params, clipped_adam(float(learning_rate), float(clip)), feed, steps=steps
    )
    scored = (run.state.params, ids, lengths, y, batch_size)
    accuracies = _accuracy(*scored, train_idx), _accuracy(*scored, test_idx)
    sizes = len(train_idx), len(test_idx)
    return SentimentResult(run.state.params, run.losses, *accuracies, *sizes), vocab


def _split(key: jax.Array, n: int, test_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """``(test, train)`` indices: a permutation drawn with ``key``, at least one to train on."""
    order = np.asarray(jax.random.permutation(key, n))
    n_test = min(int(round(test_fraction * n)), n - 1)
    return order[:n_test], order[n_test:]


def init_sentiment(
    k_embedding: jax.Array, k_lstm: jax.Array, *, words: int, embedding: int, hidden: int
) -> SentimentParams:
    """Embeddings drawn from N(0, 0.1^2) and an LSTM with one output (its logit)."""
    return SentimentParams(
        embedding=0.1 * jax.random.normal(k_embedding, (words, embedding), F32),
        lstm=init_lstm(key=k_lstm, inputs=embedding, hidden=hidden, outputs=1),
    )


def _check_settings(**sizes: int) -> None:
    for name, value in sizes.items():
        require_positive_int(name, value)


def _feed(train: tuple, *, batch_size: int, steps: int, key: jax.Array) -> trainer.Feed:
    """The whole training split at every step when it fits one batch; else shuffled
    mini-batches, one epoch after another (each epoch's key split off ``key``)."""
    n = train[0].shape[0]
    if n <= batch_size:
        return trainer.fixed(train)
    epochs = jax.random.split(key, -(-steps // (n // batch_size)))
    return trainer.shuffled_epochs(train, batch_size=batch_size, keys=epochs)[0]


def _check_sentiment_inputs(texts, labels, test_fraction: float) -> None:
    if len(texts) != len(labels):
        raise ValueError(f"got {len(texts)} texts but {len(labels)} labels")
    if len(texts) < 2:
        raise ValueError(f"need at least 2 labelled texts, got {len(texts)}")
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction!r}")
    bad = sorted({repr(v) for v in labels if v not in (0, 1)})
    if bad:
        raise ValueError(f"labels must be 0 or 1, got {', '.join(bad[:5])}")


def _accuracy(params, ids, lengths, y, batch_size: int, idx) -> float:
    """The share of the texts ``idx`` classified right, scored ``batch_size`` at a time (NaN
    for none)."""
    if len(idx) == 0:
        return float("nan")
    right = 0
    for start in range(0, len(idx), batch_size):
        rows = idx[start : start + batch_size]
        logits = _sentiment_logits_jit(params, ids[rows], lengths[rows])
        right += int(jnp.sum((logits > 0) == (y[rows] > 0.5)))
    return right / len(idx)
