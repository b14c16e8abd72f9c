"""Elman's simple recurrent network (Jeffrey Elman, "Finding Structure in Time", 1990).

Elman fed a network one bit at a time from a stream in which every third bit is the XOR of the
two before it, and asked it to predict the next bit. Only the XOR bits can be predicted; the
network's error, averaged over many streams, dips on exactly those positions and stays at
chance (0.5 mean absolute error) on the others. Memory comes from "context units" holding the
previous hidden state.

Here the network is ``h_t = tanh(x_t W_xh + h_{t-1} W_hh + b_h)``, ``o_t = h_t W_hy + b_y``,
trained with the hand-written backpropagation through time of :mod:`jaxdl.recurrent`
(:func:`~jaxdl.recurrent.elman_bptt`, held to :func:`jax.grad` by the tests), Adam and
``optax.clip_by_global_norm``, all steps in one :func:`jax.lax.scan`. Elman used 2 hidden units
and plain backpropagation over 600 passes of a 3000-bit stream; 8 units and Adam on fresh
streams learn the same structure in a few hundred steps.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import recurrent
from jaxdl.config import require_positive_float, require_positive_int
from jaxdl.gradcheck import GradCheck, check_gradient
from jaxdl.report import Report


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
    params = recurrent.init_elman(key=k_p, inputs=2, hidden=hidden, outputs=1, dtype=dtype)
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
            jax.jit(lambda p: recurrent.elman_sequence_loss(p, xs, seq_targets)),
            jax.jit(lambda p: recurrent.elman_sequence_loss_grad(p, xs, seq_targets)),
            params,
        ),
        check_gradient(
            "elman-rnn: BPTT, squared error at the last step",
            jax.jit(lambda p: recurrent.elman_last_step_mse(p, xs, last_targets)),
            jax.jit(lambda p: recurrent.elman_last_step_mse_grad(p, xs, last_targets)),
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
    params, losses = recurrent.train_temporal_xor(
        key=k_train,
        hidden=config.hidden,
        steps=config.steps,
        batch=config.batch,
        triplets=config.triplets,
        learning_rate=config.learning_rate,
        clip=config.clip,
    )
    xs, ys = recurrent.temporal_xor(key=k_test, batch=512, triplets=config.triplets)
    errors = np.asarray(recurrent.per_position_error(params, xs, ys))
    mask = recurrent.predictable_mask(len(errors))
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
