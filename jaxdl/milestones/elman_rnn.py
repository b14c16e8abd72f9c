"""Elman's simple recurrent network (Jeffrey Elman, "Finding Structure in Time", 1990).

Elman fed a network one bit at a time from a stream in which every third bit is the XOR of the
two before it, and asked it to predict the next bit. Only the XOR bits can be predicted; the
network's error, averaged over many streams, dips on exactly those positions and stays at
chance (0.5 mean absolute error) on the others. Memory comes from "context units" holding the
previous hidden state.

Here the network is ``h_t = tanh(x_t W_xh + h_{t-1} W_hh + b_h)``, ``o_t = h_t W_hy + b_y``,
trained with the hand-written backpropagation through time below (:func:`elman_bptt`, held to
:func:`jax.grad` by the tests), Adam and ``optax.clip_by_global_norm``, all steps in one
:func:`jax.lax.scan`: 8 units and Adam on fresh streams learn the structure in a few hundred
steps.

**The paper's own setting.** ``--paper`` runs what Elman ran: 2 logistic hidden units and 2
context units starting at 0.5, his learning rule (plain backpropagation with the context as
one more input, :func:`srn_step_grad`), a weight change after every bit, 600 passes through one
3000-bit stream; then the RMS error at each of 12 consecutive inputs over 1200 trials, his
Fig. 3. Many networks train side by side under :func:`jax.vmap`, so the report can say how
many of them find the structure (:func:`reproduce_elman_1990`).

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
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxdl import interrupts
from jaxdl.backward import with_gradient
from jaxdl.errors import DivergenceError, first_non_finite
from jaxdl.gradcheck import GradCheck, check_gradient
from jaxdl.milestones import Milestone
from jaxdl.nn.recurrent import (
    ElmanParams,
    elman_bptt_checks,
    elman_forward,
    elman_sequence_loss,
    elman_sequence_loss_grad,
    init_elman,
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
    require_positive_float,
    require_positive_int,
)

MILESTONE = Milestone(
    "elman-rnn",
    1990,
    "Elman",
    "a recurrent net finds structure in time",
)

F32 = jnp.float32


# --------------------------------------------------------------------------------------------
# Elman network with hand-written backpropagation through time
# --------------------------------------------------------------------------------------------


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


#: :func:`elman_sequence_loss` whose gradient is the hand BPTT :func:`elman_sequence_loss_grad`.
elman_sequence_loss_hand = with_gradient(elman_sequence_loss, elman_sequence_loss_grad)


def _temporal_xor_loss(params: ElmanParams, batch: tuple[jax.Array, jax.Array]) -> jax.Array:
    return elman_sequence_loss_hand(params, *batch)


@functools.cache
def _temporal_xor_streams(batch: int, triplets: int):
    """``key -> (xs, ys)``, one function per shape so the trainer's compiled loop is reused."""
    return functools.partial(temporal_xor, batch=batch, triplets=triplets)


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
    run = trainer.train(
        _temporal_xor_loss,
        params,
        clipped_adam(float(learning_rate), float(clip)),
        trainer.fresh(_temporal_xor_streams(batch, triplets), key=k_data),
        steps=steps,
    )
    return run.state.params, run.losses


# --------------------------------------------------------------------------------------------
# The paper's own setting: 2 hidden units, Elman's learning rule, 600 passes over 3000 bits
# --------------------------------------------------------------------------------------------

#: The 1990 setting (section "Exclusive-OR" and Fig. 3 of "Finding Structure in Time").
PAPER_BITS = 3000  # one stream, shown again on every pass
PAPER_PASSES = 600
PAPER_HIDDEN = 2  # and 2 context units, 1 input, 1 output
PAPER_CONTEXT = 0.5  # the context units' starting activation
PAPER_TRIALS = 1200  # Fig. 3 averages the error over 1200 trials ...
PAPER_POSITIONS = 12  # ... of 12 consecutive inputs
#: Not given in the paper (our choices): online steps of this size, weights from U(-0.5, 0.5).
PAPER_LEARNING_RATE = 0.1
PAPER_INIT_SCALE = 0.5
#: A network "finds the structure" when its RMS error on the XOR bits is at least this much
#: below its RMS error on the random bits.
PAPER_DIP = 0.05


def xor_stream(*, key: jax.Array, bits: int) -> jax.Array:
    """One stream of ``bits`` bits (float32 0/1): two random bits, then their XOR, repeated."""
    triplets = -(-bits // 3)
    pairs = jax.random.bernoulli(key, 0.5, (triplets, 2)).astype(jnp.int32)
    stream = jnp.concatenate([pairs, pairs[:, :1] ^ pairs[:, 1:]], axis=1).reshape(-1)
    return stream[:bits].astype(F32)


def srn_step(params: ElmanParams, x: ArrayLike, context: ArrayLike) -> tuple[jax.Array, jax.Array]:
    """One step of Elman's network with logistic units, as in 1990.

    ``h = σ(x W_xh + context W_hh + b_h)`` and ``y = σ(h W_hy + b_y)``; the next step's
    context is a copy of ``h``.

    Args:
      params: the weights (``ElmanParams``; ``w_hh`` holds the context-to-hidden weights).
      x: the input ``[I]``.
      context: the context units ``[H]``.

    Returns:
      ``(h [H], y [O])``.
    """
    h = jax.nn.sigmoid(
        jnp.asarray(x) @ params.w_xh + jnp.asarray(context) @ params.w_hh + params.b_h
    )
    return h, jax.nn.sigmoid(h @ params.w_hy + params.b_y)


def srn_step_loss(
    params: ElmanParams, x: ArrayLike, context: ArrayLike, target: ArrayLike
) -> jax.Array:
    """Elman's cost for one step: ``½ Σ (y - target)²``."""
    _, y = srn_step(params, x, context)
    return 0.5 * jnp.sum((y - jnp.asarray(target)) ** 2)


def srn_step_grad(
    params: ElmanParams, x: ArrayLike, context: ArrayLike, target: ArrayLike
) -> ElmanParams:
    """Hand gradient of :func:`srn_step_loss`: plain backpropagation, the context an input.

    Elman's rule does not propagate error back through the copy into the context units: the
    context is one more input, so the gradient is that of a two-layer network::

        δy = (y - target) * y (1 - y)       δh = (δy W_hyᵀ) * h (1 - h)
        ΔW_hy = h ⊗ δy   Δb_y = δy   ΔW_xh = x ⊗ δh   ΔW_hh = context ⊗ δh   Δb_h = δh
    """
    x, context = jnp.asarray(x), jnp.asarray(context)
    h, y = srn_step(params, x, context)
    d_y = (y - jnp.asarray(target)) * y * (1.0 - y)
    d_h = (params.w_hy @ d_y) * h * (1.0 - h)
    return ElmanParams(
        w_xh=jnp.outer(x, d_h),
        w_hh=jnp.outer(context, d_h),
        b_h=d_h,
        w_hy=jnp.outer(h, d_y),
        b_y=d_y,
    )


def _init_srn(key: jax.Array, hidden: int) -> ElmanParams:
    k = jax.random.split(key, 5)
    shapes = ((1, hidden), (hidden, hidden), (hidden,), (hidden, 1), (1,))
    return ElmanParams(
        *(
            jax.random.uniform(k_, s, F32, -PAPER_INIT_SCALE, PAPER_INIT_SCALE)
            for k_, s in zip(k, shapes, strict=True)
        )
    )


def _srn_pass(params: ElmanParams, stream: jax.Array, learning_rate: float):
    """One pass through the stream, a weight update after every bit; returns (params, mean ½e²)."""
    hidden = params.w_hh.shape[0]

    def bit(carry, pair):
        p, context = carry
        x, target = pair
        grads = srn_step_grad(p, x[None], context, target[None])
        h, y = srn_step(p, x[None], context)
        p = jax.tree.map(lambda w, g: w - learning_rate * g, p, grads)
        return (p, h), 0.5 * (y[0] - target) ** 2

    context = jnp.full((hidden,), PAPER_CONTEXT, F32)
    (params, _), errors = jax.lax.scan(bit, (params, context), (stream[:-1], stream[1:]))
    return params, errors.mean()


@functools.partial(jax.jit, static_argnames=("passes",))
def _srn_passes(params, streams, learning_rate, *, passes):
    """``passes`` passes for every network at once: vmap over the leading (seed) axis."""

    def one_net(p, stream):
        def one_pass(p, _):
            return _srn_pass(p, stream, learning_rate)

        return jax.lax.scan(one_pass, p, length=passes)

    return jax.vmap(one_net)(params, streams)


@functools.partial(jax.jit, static_argnames=("trials",))
def _figure3_errors(params: ElmanParams, key: jax.Array, *, trials: int) -> jax.Array:
    """Signed errors ``y - target`` on a fresh stream, ``[trials, 12]`` (one network)."""
    stream = xor_stream(key=key, bits=trials * PAPER_POSITIONS + 1)
    hidden = params.w_hh.shape[0]

    def bit(context, x):
        h, y = srn_step(params, x[None], context)
        return h, y[0]

    _, ys = jax.lax.scan(bit, jnp.full((hidden,), PAPER_CONTEXT, F32), stream[:-1])
    return (ys - stream[1:]).reshape(trials, PAPER_POSITIONS)


class ElmanPaperResult(NamedTuple):
    """Outcome of :func:`reproduce_elman_1990` for ``S`` networks (seeds)."""

    rms_by_position: np.ndarray  # [S, 12] RMS error predicting input k+1 from inputs <= k
    half_squared_by_position: np.ndarray  # [S, 12] mean ½e² at the same positions
    pass_errors: np.ndarray  # [S, passes] mean ½e² over each training pass
    seconds: float  # wall-clock time of the training


def reproduce_elman_1990(
    *,
    key: jax.Array,
    seeds: int = 32,
    passes: int = PAPER_PASSES,
    bits: int = PAPER_BITS,
    trials: int = PAPER_TRIALS,
    learning_rate: float = PAPER_LEARNING_RATE,
    progress: bool = False,
) -> ElmanPaperResult:
    """Elman's temporal-XOR run, for ``seeds`` networks at once (each its own weights and stream).

    1 input, 2 hidden, 2 context and 1 output unit, all logistic; the context starts at 0.5 on
    every pass; weights change after every bit by :func:`srn_step_grad`; ``passes`` passes
    through one ``bits``-bit stream. Then each network reads a fresh stream of
    ``12 * trials`` bits and its error is collected by position within 12 consecutive inputs.

    Args:
      key: PRNG key.
      seeds: networks trained side by side with :func:`jax.vmap`.
      passes, bits, trials, learning_rate: the setting (defaults: the paper's, and our step).
      progress: show a tqdm bar on stderr (passes done).
    """
    for name, value in (("seeds", seeds), ("passes", passes), ("trials", trials)):
        require_positive_int(name, value)
    require_positive_int("bits", bits)
    if bits < 3:
        raise ValueError(f"bits must be at least 3 (one XOR triplet), got {bits}")
    require_positive_float("learning rate", learning_rate)
    k_init, k_stream, k_test = jax.random.split(key, 3)
    params = jax.vmap(lambda k: _init_srn(k, PAPER_HIDDEN))(jax.random.split(k_init, seeds))
    streams = jax.vmap(lambda k: xor_stream(key=k, bits=bits))(jax.random.split(k_stream, seeds))
    chunk = max(1, min(passes, 25))
    errors, done = [], 0
    start = time.perf_counter()
    bar = trainer.ProgressBar(
        trainer.Progress("Elman 1990", unit="pass") if progress else None, passes
    )
    with bar:
        while done < passes:
            interrupts.check()
            n = min(chunk, passes - done)
            params, pass_errors = _srn_passes(params, streams, jnp.float32(learning_rate), passes=n)
            errors.append(np.asarray(pass_errors))
            bad = first_non_finite(errors[-1].T)
            if bad is not None:
                raise DivergenceError("the error of a pass", done + bad + 1)
            done += n
            bar.advance(n, half_sq_error=float(errors[-1][:, -1].mean()))
    seconds = time.perf_counter() - start
    signed = jax.vmap(lambda p, k: _figure3_errors(p, k, trials=trials))(
        params, jax.random.split(k_test, seeds)
    )
    signed = np.asarray(signed, np.float64)  # [S, trials, 12]
    return ElmanPaperResult(
        rms_by_position=np.sqrt(np.mean(signed**2, axis=1)),
        half_squared_by_position=np.mean(0.5 * signed**2, axis=1),
        pass_errors=np.concatenate(errors, axis=1),
        seconds=seconds,
    )


def paper_summary(result: ElmanPaperResult) -> dict:
    """The paper's Fig. 3 beside ours, JSON-ready: the ``"paper"`` object of the report."""
    rms = result.rms_by_position
    xor = predictable_mask(PAPER_POSITIONS)  # position k predicts bit k+1
    rms_xor, rms_random = rms[:, xor].mean(1), rms[:, ~xor].mean(1)
    found = rms_xor <= rms_random - PAPER_DIP
    return {
        "experiment": "Elman 1990, temporal XOR (Finding Structure in Time, Fig. 3)",
        "paper": {
            "setting": {
                "bits": PAPER_BITS,
                "passes": PAPER_PASSES,
                "hidden": PAPER_HIDDEN,
                "context_start": PAPER_CONTEXT,
                "trials": PAPER_TRIALS,
            },
            "error_measure": "RMS error by position over 12 consecutive inputs",
            "finding": "the error dips on every third (XOR, predictable) bit",
        },
        "jaxdl": {
            "networks": int(rms.shape[0]),
            "passes": int(result.pass_errors.shape[1]),
            "rms_by_position": rms.mean(0),
            "rms_xor_bits": float(rms_xor.mean()),
            "rms_random_bits": float(rms_random.mean()),
            "half_squared_xor_bits": float(result.half_squared_by_position[:, xor].mean()),
            "half_squared_random_bits": float(result.half_squared_by_position[:, ~xor].mean()),
            "dip_rate": float(found.mean()),
            "dip_criterion": f"RMS on XOR bits at least {PAPER_DIP} below RMS on random bits",
            "best_rms_xor_bits": float(rms_xor.min()),
            "seconds": result.seconds,
        },
    }


@dataclasses.dataclass(frozen=True)
class Config:
    """Elman's temporal-XOR experiment."""

    hidden: int = dataclasses.field(
        default=8, metadata={"bounds": WIDTH, "help": "hidden (context) units"}
    )
    steps: int = dataclasses.field(
        default=300, metadata={"bounds": STEPS, "help": "training steps"}
    )
    batch: int = dataclasses.field(
        default=32, metadata={"bounds": BATCH, "help": "streams per step"}
    )
    triplets: int = dataclasses.field(
        default=8, metadata={"bounds": (1, 100_000), "help": "bit triplets per stream"}
    )
    learning_rate: float = dataclasses.field(
        default=0.03,
        metadata={"ceiling": LEARNING_RATE_CEILING, "help": "Adam step size", "flag": "--lr"},
    )
    clip: float = dataclasses.field(
        default=1.0, metadata={"help": "optax.clip_by_global_norm threshold"}
    )
    seed: int = dataclasses.field(default=0, metadata={"bounds": SEED, "help": "PRNG seed"})
    paper: bool = dataclasses.field(
        default=False,
        metadata={
            "help": "instead, the 1990 paper's own run: 2 hidden units, Elman's learning rule, "
            "passes over one 3000-bit stream; its Fig. 3 beside ours (takes a while)"
        },
    )
    paper_passes: int = dataclasses.field(
        default=PAPER_PASSES,
        metadata={"bounds": (1, 100_000), "help": "with --paper: passes through the stream"},
    )
    paper_seeds: int = dataclasses.field(
        default=32,
        metadata={
            "bounds": (1, 10_000),
            "help": "with --paper: networks trained side by side (vmap)",
        },
    )

    def __post_init__(self):
        check_limits(self)
        for name in ("hidden", "steps", "batch", "triplets", "paper_passes", "paper_seeds"):
            require_positive_int(name, getattr(self, name))
        require_positive_float("learning rate", self.learning_rate)
        require_positive_float("clip", self.clip)


def _float() -> jnp.dtype:
    return jnp.result_type(float)  # float64 under jax_enable_x64, float32 otherwise


def srn_rule_check(*, key: jax.Array) -> GradCheck:
    """Elman's 1990 rule (:func:`srn_step_grad`) vs ``jax.grad`` vs finite differences."""
    k_p, k_x, k_c, k_t = jax.random.split(key, 4)
    dtype = _float()
    params = jax.tree.map(lambda w: w.astype(dtype), _init_srn(k_p, 3))
    params = jax.tree.map(lambda w: 4.0 * w, params)  # larger weights: saturating units too
    x = jax.random.bernoulli(k_x, 0.5, (1,)).astype(dtype)
    context = jax.random.uniform(k_c, (3,), dtype)
    target = jax.random.bernoulli(k_t, 0.5, (1,)).astype(dtype)
    return check_gradient(
        "elman-rnn: Elman's 1990 rule (context as input), ½e²",
        lambda p: srn_step_loss(p, x, context, target),
        lambda p: srn_step_grad(p, x, context, target),
        params,
    )


def gradient_checks(*, key: jax.Array) -> list[GradCheck]:
    """Every hand-derived gradient of the chapter: BPTT for both losses, and Elman's rule."""
    k_bptt, k_rule = jax.random.split(key)
    return elman_bptt_checks(key=k_bptt) + [srn_rule_check(key=k_rule)]


def run(config: Config = Config()) -> Report:
    """Train on temporal XOR; report the error on predictable and unpredictable positions.

    With ``config.paper``, run the 1990 setting instead (:func:`reproduce_elman_1990`).
    """
    key = jax.random.key(config.seed)
    if config.paper:
        return _run_paper(config, key=key)
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
        checks=elman_bptt_checks(key=k_check),
        headline=(
            f"mean |error| {predictable:.3f} on XOR bits vs {unpredictable:.3f} on random bits"
        ),
        plot_data={"losses": np.asarray(losses), "errors": errors},
    )


def _run_paper(config: Config, *, key: jax.Array) -> Report:
    k_run, k_check = jax.random.split(key)
    result = reproduce_elman_1990(
        key=k_run, seeds=config.paper_seeds, passes=config.paper_passes, progress=True
    )
    summary = paper_summary(result)
    ours = summary["jaxdl"]
    return Report(
        milestone="elman-rnn",
        config=config,
        result={"paper": summary},
        checks=[srn_rule_check(key=k_check)],
        headline=(
            f"1990 setting, {ours['networks']} nets: RMS {ours['rms_xor_bits']:.3f} on XOR bits "
            f"vs {ours['rms_random_bits']:.3f} on random bits; dip in "
            f"{100 * ours['dip_rate']:.0f}% of nets"
        ),
        plot_data={"paper": result},
    )


def plot_paper(result: ElmanPaperResult):
    """Our Fig. 3 (RMS error at 12 consecutive inputs, each network and the mean); training."""
    from jaxdl.plotting import new_figure

    fig, (ax_fig3, ax_train) = new_figure(ncols=2)
    positions = np.arange(1, PAPER_POSITIONS + 1)
    for rms in result.rms_by_position:
        ax_fig3.plot(positions, rms, color="tab:orange", alpha=0.15, lw=0.8)
    ax_fig3.plot(positions, result.rms_by_position.mean(0), "o-", color="tab:red", label="mean")
    ax_fig3.axhline(0.5, ls=":", color="0.3", label="answer 0.5 (chance)")
    ax_fig3.set(
        xlabel="input k (predicting bit k+1)",
        ylabel="RMS error",
        title="Elman 1990 Fig. 3 setting",
        xticks=positions,
    )
    ax_fig3.legend()
    passes = np.arange(1, result.pass_errors.shape[1] + 1)
    ax_train.plot(passes, result.pass_errors.mean(0), color="tab:blue")
    ax_train.set(xlabel="pass through the stream", ylabel="mean ½e²", title="training")
    return fig


def plot(report: Report):
    """Training loss, and the error at each position of the stream (Elman's figure 3)."""
    from jaxdl.plotting import new_figure

    if "paper" in report.plot_data:
        return plot_paper(report.plot_data["paper"])
    fig, (ax_loss, ax_err) = new_figure(ncols=2)
    ax_loss.plot(report.plot_data["losses"], color="tab:blue")
    ax_loss.set(xlabel="step", ylabel="cross-entropy", title="training loss")
    errors = report.plot_data["errors"][:12]
    ax_err.plot(np.arange(1, len(errors) + 1), errors, "o-", color="tab:orange")
    ax_err.set(
        xlabel="position of predicted bit", ylabel="mean |error|", title="error dips on XOR bits"
    )
    return fig
