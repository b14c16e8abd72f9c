"""Recurrent cells and their backpropagation through time, written by hand: Elman's simple
recurrent network (1990) and the LSTM (Hochreiter & Schmidhuber 1997, with the forget gate of
Gers et al. 2000).

Both run time-major (a batch of sequences is ``[T, B, features]``, so :func:`jax.lax.scan`
walks the leading axis). Each cell has its forward pass, its hand BPTT beside it (the formulas
in the docstrings), the losses the chapters train (a cross-entropy at every step, a squared
error at the last) with their hand gradients, and the checks that hold each hand gradient to
:func:`jax.grad` and finite differences. The ``elman-rnn`` and ``lstm`` chapters tell their
stories with them (as equinox keeps its recurrent cells beside its layers).

**Elman network.** ``h_t = tanh(x_t W_xh + h_{t-1} W_hh + b_h)`` with ``h_0 = 0`` (Elman's
"context units" hold ``h_{t-1}``), and a linear read-out ``o_t = h_t W_hy + b_y`` at every
step. :func:`elman_bptt`, given the gradient of the loss with respect to every output
``do_t``, walks the sequence backwards:

.. code-block:: text

    dh_t  = do_t W_hyᵀ + da_{t+1} W_hhᵀ          (da_{T+1} = 0)
    da_t  = dh_t * (1 - h_t²)                     (tanh' written with its output)
    dW_hy = Σ_t h_tᵀ do_t      db_y = Σ_t Σ_b do_t
    dW_xh = Σ_t x_tᵀ da_t      dW_hh = Σ_t h_{t-1}ᵀ da_t      db_h = Σ_t Σ_b da_t

**LSTM.** The cell ``c_t = f_t * c_{t-1} + i_t * g_t`` carries information additively, so the
error has a path that does not decay; :func:`lstm_bptt` walks back carrying the error of the
hidden state and of the cell, and :func:`lstm_hidden` is a ``custom_vjp`` whose rule it is.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxdl.gradcheck import GradCheck, check_gradient
from jaxdl.losses import binary_cross_entropy_with_logits, binary_cross_entropy_with_logits_grad
from jaxdl.validate import require_positive_int

F32 = jnp.float32


def _check_sequence(name: str, xs: jax.Array, features: int) -> None:
    if xs.ndim != 3 or xs.shape[0] < 1 or xs.shape[2] != features:
        raise ValueError(
            f"{name} must have shape [T, B, {features}] (time-major, T >= 1), got {xs.shape}"
        )


# --------------------------------------------------------------------------------------------
# Elman's simple recurrent network
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
# Long short-term memory
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
        return _lstm_step_back(params, carry, inputs)

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


def _lstm_step_back(params: LSTMParams, carry, inputs):
    """One step of :func:`lstm_bptt`, from step t to t - 1: ``((δh, δc) before it, the step's
    contributions to ΔW_x, ΔW_h, Δb and δx_t)``."""
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


# --------------------------------------------------------------------------------------------
# The checks: each hand BPTT vs jax.grad vs finite differences
# --------------------------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnums=(1, 2))
def _elman_check_point(key: jax.Array, hidden: int, dtype):
    k_p, k_x, k_y, k_a = jax.random.split(key, 4)
    params = init_elman(key=k_p, inputs=2, hidden=hidden, outputs=1, dtype=dtype)
    xs = jax.random.normal(k_x, (6, 3, 2), dtype)
    seq_targets = jax.random.bernoulli(k_y, 0.5, (6, 3, 1)).astype(dtype)
    last_targets = jax.random.uniform(k_a, (3, 1), dtype)
    return params, xs, seq_targets, last_targets


def elman_bptt_checks(*, key: jax.Array, hidden: int = 4) -> list[GradCheck]:
    """Hand BPTT vs ``jax.grad`` vs finite differences, for both losses it serves."""
    params, xs, seq_targets, last_targets = _elman_check_point(key, hidden, jnp.result_type(float))
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


@functools.partial(jax.jit, static_argnums=(1,))
def _lstm_check_point(key: jax.Array, dtype):
    k_p, k_b, k_x, k_y, k_n = jax.random.split(key, 5)
    params = init_lstm(key=k_p, inputs=2, hidden=3, outputs=2, dtype=dtype)
    params = params._replace(b=params.b + jax.random.normal(k_b, params.b.shape, dtype))
    xs = jax.random.normal(k_x, (6, 3, 2), dtype)
    targets = jax.random.normal(k_y, (3, 2), dtype)
    lengths = jax.random.randint(k_n, (3,), 1, 7)
    return params, xs, targets, lengths


def lstm_bptt_checks(*, key: jax.Array) -> list[GradCheck]:
    """The hand LSTM BPTT vs ``jax.grad`` vs finite differences: weights, and inputs."""
    params, xs, targets, lengths = _lstm_check_point(key, jnp.result_type(float))
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
