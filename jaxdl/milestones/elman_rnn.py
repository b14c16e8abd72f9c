"""Elman's simple recurrent network (Jeffrey Elman, "Finding Structure in Time", 1990).

Elman fed a network one bit at a time from a stream in which every third bit is the XOR of the
two before it, and asked it to predict the next bit. Only the XOR bits can be predicted; the
network's error, averaged over many streams, dips on exactly those positions and stays at
chance (0.5 mean absolute error) on the others. Memory comes from "context units" holding the
previous hidden state.

Here the network is ``h_t = tanh(x_t W_xh + h_{t-1} W_hh + b_h)``, ``o_t = h_t W_hy + b_y``,
trained with the hand-written backpropagation through time of :mod:`jaxdl.recurrent`
(:func:`~jaxdl.elman_bptt`, held to :func:`jax.grad` by the tests), Adam and
``optax.clip_by_global_norm``, all steps in one :func:`jax.lax.scan`. Elman used 2 hidden units
and plain backpropagation over 600 passes of a 3000-bit stream; 8 units and Adam on fresh
streams learn the same structure in a few hundred steps.

Recurrent networks: Elman's simple recurrent network (1990) and the LSTM (1997).

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

**Training** uses optax: ``optax.chain(optax.clip_by_global_norm(clip), optax.adam(lr))``,
the whole loop one :func:`jax.lax.scan` inside one ``jit``. Clipping the global gradient norm
(Pascanu, Mikolov & Bengio 2013) is the standard guard against the exploding gradients of BPTT.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxdl.gradcheck import GradCheck, check_gradient
from jaxdl.losses import (
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_grad,
)
from jaxdl.optim import TrainState, apply_gradients, clipped_adam, init_train_state
from jaxdl.report import Report
from jaxdl.validate import require_positive_float, require_positive_int

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


def elman_sequence_loss(params: ElmanParams, xs: ArrayLike, targets: ArrayLike) -> jax.Array:
    """Binary cross-entropy at every step: the loss of the temporal-XOR task."""
    outputs, _ = elman_forward(params, xs)
    return binary_cross_entropy_with_logits(outputs, targets)


def elman_sequence_loss_grad(params: ElmanParams, xs: ArrayLike, targets: ArrayLike) -> ElmanParams:
    """Hand gradient of :func:`elman_sequence_loss`: BPTT fed with ``(σ(o_t) - y_t) / N``."""
    outputs, _ = elman_forward(params, xs)
    return elman_bptt(params, xs, binary_cross_entropy_with_logits_grad(outputs, targets))


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


@functools.partial(jax.jit, static_argnames=("steps", "batch", "triplets", "lr", "clip"))
def _train_temporal_xor(params, key, *, steps, batch, triplets, lr, clip):
    opt = clipped_adam(lr, clip)

    def step(carry: tuple[TrainState, jax.Array], _):
        state, key = carry
        key, k_data = jax.random.split(key)
        xs, ys = temporal_xor(key=k_data, batch=batch, triplets=triplets)
        loss = elman_sequence_loss(state.params, xs, ys)
        grads = elman_sequence_loss_grad(state.params, xs, ys)
        return (apply_gradients(state, grads, opt), key), loss

    (state, _), losses = jax.lax.scan(step, (init_train_state(params, opt), key), length=steps)
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


@dataclasses.dataclass(frozen=True)
class Config:
    """Elman's temporal-XOR experiment."""

    hidden: int = dataclasses.field(default=8, metadata={"help": "hidden (context) units"})
    steps: int = dataclasses.field(default=300, metadata={"help": "training steps"})
    batch: int = dataclasses.field(default=32, metadata={"help": "streams per step"})
    triplets: int = dataclasses.field(default=8, metadata={"help": "bit triplets per stream"})
    learning_rate: float = dataclasses.field(
        default=0.03, metadata={"help": "Adam step size", "flag": "--lr"}
    )
    clip: float = dataclasses.field(
        default=1.0, metadata={"help": "optax.clip_by_global_norm threshold"}
    )
    seed: int = dataclasses.field(default=0, metadata={"help": "PRNG seed"})

    def __post_init__(self):
        for name in ("hidden", "steps", "batch", "triplets"):
            require_positive_int(name, getattr(self, name))
        require_positive_float("learning rate", self.learning_rate)
        require_positive_float("clip", self.clip)


def _float() -> jnp.dtype:
    return jnp.result_type(float)  # float64 under jax_enable_x64, float32 otherwise


@functools.partial(jax.jit, static_argnums=(1, 2))
def _check_point(key: jax.Array, hidden: int, dtype):
    k_p, k_x, k_y, k_a = jax.random.split(key, 4)
    params = init_elman(key=k_p, inputs=2, hidden=hidden, outputs=1, dtype=dtype)
    xs = jax.random.normal(k_x, (6, 3, 2), dtype)
    seq_targets = jax.random.bernoulli(k_y, 0.5, (6, 3, 1)).astype(dtype)
    last_targets = jax.random.uniform(k_a, (3, 1), dtype)
    return params, xs, seq_targets, last_targets


def bptt_checks(*, key: jax.Array, hidden: int = 4) -> list[GradCheck]:
    """Hand BPTT vs ``jax.grad`` vs finite differences, for both losses it serves."""
    params, xs, seq_targets, last_targets = _check_point(key, hidden, _float())
    return [
        check_gradient(
            "elman-rnn: BPTT, cross-entropy at every step",
            jax.jit(lambda p: elman_sequence_loss(p, xs, seq_targets)),
            jax.jit(lambda p: elman_sequence_loss_grad(p, xs, seq_targets)),
            params,
        ),
        check_gradient(
            "elman-rnn: BPTT, squared error at the last step",
            jax.jit(lambda p: elman_last_step_mse(p, xs, last_targets)),
            jax.jit(lambda p: elman_last_step_mse_grad(p, xs, last_targets)),
            params,
        ),
    ]


def gradient_checks(*, key: jax.Array) -> list[GradCheck]:
    """Every hand-derived gradient of the chapter: BPTT for both losses."""
    return bptt_checks(key=key)


def run(config: Config = Config()) -> Report:
    """Train on temporal XOR; report the error on predictable and unpredictable positions."""
    key = jax.random.key(config.seed)
    k_train, k_test, k_check = jax.random.split(key, 3)
    params, losses = train_temporal_xor(
        key=k_train,
        hidden=config.hidden,
        steps=config.steps,
        batch=config.batch,
        triplets=config.triplets,
        learning_rate=config.learning_rate,
        clip=config.clip,
    )
    xs, ys = temporal_xor(key=k_test, batch=512, triplets=config.triplets)
    errors = np.asarray(per_position_error(params, xs, ys))
    mask = predictable_mask(len(errors))
    predictable, unpredictable = float(errors[mask].mean()), float(errors[~mask].mean())
    return Report(
        milestone="elman-rnn",
        config=config,
        result={
            "error_on_xor_bits": predictable,
            "error_on_random_bits": unpredictable,
            "first_loss": float(losses[0]),
            "final_loss": float(losses[-1]),
            "error_by_position": errors[:9],
        },
        checks=bptt_checks(key=k_check),
        headline=(
            f"mean |error| {predictable:.3f} on XOR bits vs {unpredictable:.3f} on random bits"
        ),
        plot_data={"losses": np.asarray(losses), "errors": errors},
    )


def plot(report: Report):
    """Training loss, and the error at each position of the stream (Elman's figure 3)."""
    from jaxdl.plotting import new_figure

    fig, (ax_loss, ax_err) = new_figure(ncols=2)
    ax_loss.plot(report.plot_data["losses"], color="tab:blue")
    ax_loss.set(xlabel="step", ylabel="cross-entropy", title="training loss")
    errors = report.plot_data["errors"][:12]
    ax_err.plot(np.arange(1, len(errors) + 1), errors, "o-", color="tab:orange")
    ax_err.set(
        xlabel="position of predicted bit", ylabel="mean |error|", title="error dips on XOR bits"
    )
    return fig
