"""Denoising diffusion (Jonathan Ho, Ajay Jain & Pieter Abbeel, 2020; after Jascha
Sohl-Dickstein et al., 2015).

Destroy the data slowly with noise, then learn to undo one small step at a time. The *forward
process* adds Gaussian noise over ``T = 1000`` steps with variances ``β_t`` growing linearly
from ``1e-4`` to ``0.02`` (DDPM's schedule)::

    q(x_t | x_{t-1}) = N(√(1 - β_t) x_{t-1}, β_t I)

and, with ``α_t = 1 - β_t`` and ``ᾱ_t = Π_{s<=t} α_s``, any step in closed form::

    q(x_t | x_0) = N(√ᾱ_t x_0, (1 - ᾱ_t) I),   i.e.   x_t = √ᾱ_t x_0 + √(1 - ᾱ_t) ε

By ``t = T`` nothing of ``x_0`` is left (``ᾱ_T ≈ 4e-5``). A network ``ε_θ(x_t, t)`` learns to
tell the noise ``ε`` from the data: DDPM's simplified loss ``E ‖ε - ε_θ(x_t, t)‖²`` over ``x_0``,
``t`` uniform and ``ε ~ N(0, I)``. *Ancestral sampling* runs the reverse chain from pure noise::

    x_{t-1} = (x_t - β_t / √(1 - ᾱ_t) ε_θ(x_t, t)) / √α_t + σ_t z,   σ_t² = β_t, z ~ N(0, I)

(no noise at the last step). Each piece is a pure function here: :func:`schedule`,
:func:`q_sample`, :func:`loss`, :func:`sample`.

**Every layer's backward by hand.** The ε-network is an MLP over ``[x_t, e(t)]``: the
sinusoidal step embedding (:mod:`jaxdl.nn.time_embedding`), dense layers
(:mod:`jaxdl.nn.affine`) and SiLU (:mod:`jaxdl.nn.silu`), each a ``custom_vjp`` rule beside its
pure forward, and the squared error's gradient ``2 (ε_θ - ε) / n`` by hand
(:func:`jaxdl.losses.mse_grad`). It trains through the shared trainer.

**The experiment** is Sohl-Dickstein et al.'s two-dimensional swiss roll (their Figure 1): train
the ε-network, then draw the reverse process step by step, from a cloud of noise back to the
roll. Sampling with fewer steps (a subsequence of the ``T`` steps, the schedule recomputed for
it) shows what the number of steps buys.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdl import backward
from jaxdl.backward import BACKWARDS, Backward, default_backward
from jaxdl.gradcheck import GradCheck, check_gradient, normal_draws, standard_normal
from jaxdl.milestones import Milestone
from jaxdl.report import Report
from jaxdl.training import trainer
from jaxdl.validate import (
    LEARNING_RATE_CEILING,
    SEED,
    STEPS,
    check_limits,
    require_positive_float,
)

from . import paper, unet
from .process import (  # noqa: F401  (the chapter's process, read from here too)
    BETA_1,
    BETA_T,
    F32,
    Batch,
    Schedule,
    T,
    ancestral_chain,
    chain_end,
    noise_loss,
    noising_feed,
    q_sample,
    q_step,
    respaced,
    reverse_step,
    schedule,
)

MILESTONE = Milestone(
    "diffusion",
    2020,
    "Ho, Jain & Abbeel; Sohl-Dickstein et al. 2015",
    "learn to undo noise one step at a time, then sample from pure noise",
    month=6,
)

#: The paper's CIFAR-10 FID (its Table 1), quoted beside our swiss roll and not comparable.
PAPER_CIFAR10_FID = 3.17
#: Steps at which the figure draws the reverse process (x_T first, x_0 last).
SHOWN = (1000, 750, 500, 250, 100, 0)
#: Sampling steps compared in the figure's last panel and the report.
STEP_COUNTS = (1000, 10)


# --------------------------------------------------------------------------------------------
# The ε-network
# --------------------------------------------------------------------------------------------


class EpsNet(NamedTuple):
    """An MLP ``ε_θ(x_t, t)``: ``[x_t, e(t)]`` through hidden SiLU layers to 2 outputs."""

    layers: tuple[tuple[jax.Array, jax.Array], ...]  # (w [F_in, F_out], b [F_out]) per layer


def init_net(key: jax.Array, *, width: int, depth: int, embed: int, dtype=F32) -> EpsNet:
    """He-normal hidden layers (``√(2 / fan_in)``; SiLU is ReLU-like), a zero output layer (the
    untrained net predicts no noise)."""
    sizes = [2 + embed] + [width] * depth + [2]
    keys = jax.random.split(key, len(sizes) - 1)
    layers = []
    for i, (k, f_in, f_out) in enumerate(zip(keys, sizes[:-1], sizes[1:], strict=True)):
        last = i == len(sizes) - 2
        std = 0.0 if last else math.sqrt(2.0 / f_in)
        layers.append((std * jax.random.normal(k, (f_in, f_out), dtype), jnp.zeros(f_out, dtype)))
    return EpsNet(tuple(layers))


def eps_net(
    params: EpsNet, x: jax.Array, t: jax.Array, *, ops: backward.Ops = backward.AUTODIFF
) -> jax.Array:
    """``ε_θ(x_t, t)`` ``[B, 2]`` for points ``x [B, 2]`` at steps ``t [B]``."""
    embed = params.layers[0][0].shape[0] - x.shape[1]
    e = ops.time_embedding(t.astype(x.dtype), embed)
    h = jnp.concatenate([x, e], axis=1)
    for w, b in params.layers[:-1]:
        h = ops.silu(ops.dense(h, w, b))
    return ops.dense(h, *params.layers[-1])


def loss(
    params: EpsNet, batch: Batch, *, sched: Schedule, ops: backward.Ops = backward.AUTODIFF
) -> jax.Array:
    """DDPM's simplified loss: the mean of ``(ε - ε_θ(√ᾱ_t x_0 + √(1 - ᾱ_t) ε, t))²`` over the
    batch's points and coordinates."""
    x_t = q_sample(sched, batch.x0, batch.t, batch.eps)
    return noise_loss(eps_net(params, x_t, batch.t, ops=ops), batch.eps, ops=ops)


@functools.cache
def loss_function(backward_: str):
    """``loss(params, batch)`` with the schedule and a backward pass fixed (one object per
    choice, so the trainer's compiled programs are shared)."""
    return functools.partial(loss, sched=schedule(), ops=backward.ops(backward_))


#: Points per training step (drawn with replacement), with their steps and noise.
BATCH_SIZE = 256


def diffusion_feed(data: jax.Array, *, key: jax.Array) -> trainer.Feed:
    """Every step, :data:`BATCH_SIZE` points of ``data`` with a step ``t`` uniform in ``1..T``
    and fresh noise each, drawn on the device (:func:`noising_feed`)."""
    return noising_feed(data, batch_size=BATCH_SIZE, key=key)


@functools.cache
def _adam(learning_rate: float, steps: int) -> optax.GradientTransformation:
    return optax.adam(optax.cosine_decay_schedule(learning_rate, steps, alpha=0.1))


# --------------------------------------------------------------------------------------------
# Sampling
# --------------------------------------------------------------------------------------------


def sample(
    params: EpsNet, *, key: jax.Array, n: int, count: int = T
) -> tuple[np.ndarray, np.ndarray]:
    """Ancestral sampling of ``n`` points through ``count`` evenly spaced steps
    (:func:`respaced`), from ``x_T ~ N(0, I)`` to ``x_0``, as one compiled ``lax.scan``.

    Returns:
      ``(path [count + 1, n, 2], times [count + 1])``: the points from ``x_T`` to ``x_0`` and
      the step each row is at (``T`` first, ``0`` last).
    """
    steps, sched = respaced(schedule(dtype=params.layers[0][0].dtype), count)
    k_start, k_steps = jax.random.split(key)
    x_top = jax.random.normal(k_start, (n, 2), sched.beta.dtype)
    path = ancestral_chain(eps_net, params, sched, jnp.asarray(steps, jnp.int32), x_top, k_steps)
    return np.asarray(path), np.concatenate([steps[::-1], [0]])


# --------------------------------------------------------------------------------------------
# The data and a score
# --------------------------------------------------------------------------------------------


def swiss_roll(n: int, *, key: jax.Array, dtype=F32) -> jax.Array:
    """``n`` points of Sohl-Dickstein et al.'s 2-D swiss roll: ``(u cos u, u sin u) / 5`` for
    ``u`` uniform in ``[1.5π, 4.5π]`` (one and a half turns; about unit spread)."""
    u = 1.5 * math.pi * (1 + 2 * jax.random.uniform(key, (n,), dtype))
    return jnp.stack([u * jnp.cos(u), u * jnp.sin(u)], axis=1) / 5


def chamfer(a: np.ndarray, b: np.ndarray) -> float:
    """Mean distance from each point of ``a`` to its nearest in ``b`` and back, averaged: small
    when the samples lie on the data (first term) and cover it (second)."""
    d = np.sqrt(((np.asarray(a)[:, None, :] - np.asarray(b)[None, :, :]) ** 2).sum(-1))
    return float(0.5 * (d.min(1).mean() + d.min(0).mean()))


# --------------------------------------------------------------------------------------------
# The chapter's interface
# --------------------------------------------------------------------------------------------


#: The tour's defaults that ``--paper`` replaces with its own when they are left unchanged.
TOUR_STEPS, TOUR_LEARNING_RATE = 3000, 3e-3


@dataclasses.dataclass(frozen=True)
class Config:
    """DDPM on the swiss roll; with ``paper``, on MNIST digits (see the module docstring)."""

    steps: int = dataclasses.field(
        default=TOUR_STEPS,
        metadata={
            "bounds": STEPS,
            "help": f"optimizer steps of 256 points (--paper: of {paper.BATCH_SIZE} digits, "
            f"{paper.PAPER_STEPS})",
        },
    )
    width: int = dataclasses.field(
        default=64, metadata={"bounds": (1, 4096), "help": "hidden units per layer"}
    )
    depth: int = dataclasses.field(
        default=3, metadata={"bounds": (1, 32), "help": "hidden layers of the ε-network"}
    )
    embed: int = dataclasses.field(
        default=32, metadata={"bounds": (2, 1024), "help": "width of the step embedding (even)"}
    )
    samples: int = dataclasses.field(
        default=500,
        metadata={
            "bounds": (2, 2000),
            "help": "points to generate (the Chamfer distance compares every pair: at most "
            "2000); --paper: digits per Fréchet distance (at most half the test digits)",
        },
    )
    learning_rate: float = dataclasses.field(
        default=TOUR_LEARNING_RATE,
        metadata={
            "ceiling": LEARNING_RATE_CEILING,
            "help": f"Adam step size (--paper: its peak, {paper.LEARNING_RATE:g})",
            "flag": "--lr",
        },
    )
    backward: Backward = dataclasses.field(
        default="auto",
        metadata={"help": "hand (the custom_vjp rules), autodiff, or auto: the platform's"},
    )
    base: int = dataclasses.field(
        default=paper.BASE,
        metadata={"bounds": (2, 256), "help": "--paper: the U-Net's base width (even)"},
    )
    classifier_steps: int = dataclasses.field(
        default=paper.CLASSIFIER_STEPS,
        metadata={"bounds": STEPS, "help": "--paper: training steps of the feature classifier"},
    )
    grid_steps: int = dataclasses.field(
        default=T,
        metadata={
            "bounds": (1, T),
            "help": f"--paper: sampling steps of the figure's {paper.GRID} digits "
            f"({T}: DDPM's whole chain)",
        },
    )
    data: str = dataclasses.field(
        default="sample",
        metadata={
            "help": "--paper: sample (the shipped 8000/2000 digits) or a directory of IDX files"
        },
    )
    out: str | None = dataclasses.field(
        default=None,
        metadata={
            "help": f"--paper: save a checkpoint here every {paper.CHUNK} steps",
            "metavar": "DIR",
        },
    )
    resume: bool = dataclasses.field(
        default=False,
        metadata={"help": "continue the run saved in --out from its newest good checkpoint"},
    )
    # after every field that reads the module paper's constants (this name hides it here)
    paper: bool = dataclasses.field(
        default=False,
        metadata={
            "help": "MNIST digits with a small U-Net: samples beside their nearest training "
            "digits, Fréchet distances in a CNN's features per sampling-step count (minutes; "
            "progress bar)"
        },
    )
    seed: int = dataclasses.field(default=0, metadata={"bounds": SEED, "help": "PRNG seed"})

    def __post_init__(self):
        check_limits(self)
        if self.embed % 2:
            raise ValueError(f"embed must be even (sines and cosines), got {self.embed}")
        require_positive_float("learning rate", self.learning_rate)
        if self.backward not in BACKWARDS:
            raise ValueError(f"backward must be one of {BACKWARDS}, got {self.backward!r}")
        if self.base % unet.GROUPS:
            raise ValueError(
                f"base must be a multiple of {unet.GROUPS} (the group norm's groups), "
                f"got {self.base}"
            )
        if self.out is not None and not self.paper:
            raise ValueError("out holds the paper run's checkpoints: give it with paper=True")
        if self.resume and self.out is None:
            raise ValueError("resume needs out, the directory of the run to continue")

    def paper_settings(self) -> dict:
        """The U-Net's training settings: the paper run's, with the steps and the learning
        rate taken from this config where they differ from the tour's defaults."""
        steps = paper.PAPER_STEPS if self.steps == TOUR_STEPS else self.steps
        lr = paper.LEARNING_RATE if self.learning_rate == TOUR_LEARNING_RATE else self.learning_rate
        return dict(data=self.data, steps=steps, batch=paper.BATCH_SIZE, base=self.base,
                    embed=self.embed, learning_rate=lr)  # fmt: skip


def _tiny(key: jax.Array) -> tuple[EpsNet, Batch]:
    """A width-5 ε-network with every weight drawn (no zero layer), four points (float64 when
    x64 is on)."""
    normal = normal_draws(key, pool=256)
    sizes = (2 + 4, 5, 5, 2)
    layers = tuple(
        (normal((a, b), 0.6), normal((b,), 0.3)) for a, b in zip(sizes[:-1], sizes[1:], strict=True)
    )
    batch = Batch(normal((4, 2)), jnp.array([1, 10, 500, 1000]), normal((4, 2)))
    return EpsNet(layers), batch


def _tiny_unet(key: jax.Array) -> tuple[unet.UNet, Batch]:
    """The U-Net at base width 8 over two 8x8 images (8, 4 and 2 pixels a side), every
    parameter moved off its initial zeros and ones (float64 when x64 is on)."""
    k_init, k_move, k_data = jax.random.split(key, 3)
    dtype = jnp.result_type(float)
    params = unet.init_unet(key=k_init, base=8, embed=4, dtype=dtype)
    leaves, tree = jax.tree.flatten(params)
    moves = jax.random.split(k_move, len(leaves))
    leaves = [
        a + 0.3 * standard_normal(k, a.shape, dtype) for a, k in zip(leaves, moves, strict=True)
    ]
    normal = normal_draws(k_data, pool=256)
    batch = Batch(normal((2, 8, 8, 1)), jnp.array([3, 700]), normal((2, 8, 8, 1)))
    return jax.tree.unflatten(tree, leaves), batch


def mlp_check(*, key: jax.Array) -> GradCheck:
    """The swiss roll's whole ε-loss: ``jax.grad`` through the hand rules (step embedding,
    dense, SiLU, the squared error) vs ``jax.grad`` of the pure forwards vs finite
    differences."""
    params, batch = _tiny(key)
    sched = schedule(dtype=jnp.result_type(float))
    return check_gradient(
        "diffusion: whole ε-loss, hand rules",
        lambda p: loss(p, batch, sched=sched),
        jax.jit(jax.grad(lambda p: loss(p, batch, sched=sched, ops=backward.HAND))),
        params,
    )


def unet_check(*, key: jax.Array) -> GradCheck:
    """The digits' whole ε-loss through the U-Net, the same three ways (its convolutions, group
    norms, max-pooling and upsampling too)."""
    params, batch = _tiny_unet(key)
    sched = schedule(dtype=jnp.result_type(float))
    return check_gradient(
        "diffusion: whole U-Net ε-loss, hand rules",
        lambda p: unet.loss(p, batch, sched=sched),
        jax.jit(jax.grad(lambda p: unet.loss(p, batch, sched=sched, ops=backward.HAND))),
        params,
        key=key,
    )


def gradient_checks(*, key: jax.Array) -> list[GradCheck]:
    """Both whole ε-losses (:func:`mlp_check`, :func:`unet_check`). Each op's own rule is
    checked by its :mod:`jaxdl.nn` module."""
    k_mlp, k_unet = jax.random.split(key)
    return [mlp_check(key=k_mlp), unet_check(key=k_unet)]


def run_paper(config: Config) -> Report:
    """DDPM on digits (:mod:`~jaxdl.milestones.diffusion.paper`): train the U-Net (and the
    classifier whose features the Fréchet distances use), sample, measure."""
    from jaxdl.data.digits import float_images
    from jaxdl.training.rundir import check_creatable

    if config.out is not None:  # refused before any work
        check_creatable(config.out, option="out")
    train, test = float_images(config.data)
    settings = config.paper_settings()
    k_train, k_classifier, k_sample = jax.random.split(jax.random.key(config.seed), 3)
    backward_ = default_backward() if config.backward == "auto" else config.backward
    trained = paper.train_unet(
        paper.to_signed(train.images),
        key=k_train,
        settings=settings,
        backward_=backward_,
        progress=True,
        run_dir=config.out,
        resume=config.resume,
    )
    begin = time.perf_counter()
    classifier = paper.train_classifier(train, key=k_classifier, steps=config.classifier_steps)
    result, plot_data = paper.measure(
        trained.params,
        classifier,
        train,
        test,
        key=k_sample,
        samples=config.samples,
        grid_steps=config.grid_steps,
    )
    result = {
        "data": f"{len(train.labels)} training / {len(test.labels)} test digits ({config.data})",
        **{k: v for k, v in settings.items() if k != "data"},
        "parameters": int(sum(np.size(a) for a in jax.tree.leaves(trained.params))),
        "first_loss": float(trained.losses[0]),
        "final_loss": float(np.mean(trained.losses[-100:])),
        "train_seconds": trained.seconds,
        "measure_seconds": time.perf_counter() - begin,
        **result,
        "paper_cifar10_fid": PAPER_CIFAR10_FID,
    }
    fd = {row["sampling_steps"]: row["frechet"] for row in result["frechet_by_sampling_steps"]}
    headline = (
        "digits: Fréchet distance in CNN features "
        + ", ".join(f"{v:.2f} ({k} steps)" for k, v in fd.items())
        + f"; held-out real digits {result['frechet_held_out_real']:.2f}"
    )
    plot_data["losses"] = trained.losses
    plot_data["params"] = trained.params
    return Report("diffusion", config, result, [], headline, plot_data)


def run(config: Config = Config()) -> Report:
    """Train the ε-network on the swiss roll, sample with 1000 steps and fewer (with ``paper``,
    :func:`run_paper`)."""
    if config.paper:
        return run_paper(config)
    key = jax.random.key(config.seed)
    k_data, k_init, k_feed, k_sample, k_test = jax.random.split(key, 5)
    data = swiss_roll(10_000, key=k_data)
    backward_ = default_backward() if config.backward == "auto" else config.backward
    params = init_net(k_init, width=config.width, depth=config.depth, embed=config.embed)
    begin = time.perf_counter()
    trained = trainer.train(
        loss_function(backward_),
        params,
        _adam(config.learning_rate, config.steps),
        diffusion_feed(data, key=k_feed),
        steps=config.steps,
        chunk_steps=min(config.steps, 500),
    )
    seconds = time.perf_counter() - begin
    params = trained.state.params
    reference = np.asarray(swiss_roll(config.samples, key=k_test))
    rows, paths = [], {}
    for count in STEP_COUNTS:
        path, times = sample(params, key=k_sample, n=config.samples, count=count)
        paths[count] = (path, times)
        rows.append({"sampling_steps": count, "chamfer": chamfer(path[-1], reference)})
    full, times = paths[T]
    snapshots = np.stack([full[list(times).index(t)] for t in SHOWN])
    noise = np.asarray(jax.random.normal(k_sample, (config.samples, 2)))
    result = {
        "steps": config.steps,
        "final_loss": float(np.mean(trained.losses[-100:])),
        "first_loss": float(trained.losses[0]),
        "train_seconds": seconds,
        "chamfer_by_sampling_steps": rows,
        "chamfer_noise": chamfer(noise, reference),
        "chamfer_data": chamfer(np.asarray(swiss_roll(config.samples, key=k_init)), reference),
        "alpha_bar_T": float(schedule().alpha_bar[-1]),
        "paper_cifar10_fid": PAPER_CIFAR10_FID,
    }
    c = {r["sampling_steps"]: r["chamfer"] for r in rows}
    headline = (
        f"swiss roll: loss {result['first_loss']:.2f} -> {result['final_loss']:.2f}; samples' "
        f"Chamfer distance {c[T]:.3f} with {T} steps, {c[STEP_COUNTS[-1]]:.3f} with "
        f"{STEP_COUNTS[-1]} (noise {result['chamfer_noise']:.3f}, data {result['chamfer_data']:.3f})"
    )
    plot_data = {"snapshots": snapshots, "few": paths[STEP_COUNTS[-1]][0][-1]}
    plot_data |= {"reference": reference, "losses": trained.losses, "params": params}
    return Report("diffusion", config, result, [], headline, plot_data)


def report_from_json(obj: dict) -> Report:
    """A :class:`~jaxdl.report.Report` back from ``jaxdl run diffusion --paper --json`` output
    (enough for :func:`plot`; the checks are not restored)."""
    return Report(obj["milestone"], Config(**obj["config"]), dict(obj["result"]), [], "")


def plot(report: Report):
    """Sohl-Dickstein et al.'s Figure 1 for our run: the reverse process from ``x_T`` (noise)
    to ``x_0``, step by step, then the samples drawn with only a few steps (the paper run's
    figure: :func:`jaxdl.milestones.diffusion.paper.plot`)."""
    from jaxdl.plotting import COLUMN_WIDTH, new_figure

    if "frechet_by_sampling_steps" in report.result:
        return paper.plot(report)

    data = report.plot_data
    snaps = data["snapshots"]
    labels = [f"t = {s}" for s in SHOWN]
    fig, axes = new_figure(len(snaps) + 1, size=(COLUMN_WIDTH, 1.9))
    ref = data["reference"]
    for ax, points, label in zip(axes[:-1], snaps, labels, strict=True):
        ax.scatter(ref[:, 0], ref[:, 1], s=1, color="0.85")
        ax.scatter(points[:, 0], points[:, 1], s=1, color="tab:blue")
        ax.set_title(label, fontsize=8)
    few = data["few"]
    axes[-1].scatter(ref[:, 0], ref[:, 1], s=1, color="0.85")
    axes[-1].scatter(few[:, 0], few[:, 1], s=1, color="tab:orange")
    axes[-1].set_title(f"{STEP_COUNTS[-1]} steps", fontsize=8)
    for ax in axes:
        ax.set(xlim=(-3.2, 3.2), ylim=(-3.2, 3.2), aspect="equal", xticks=[], yticks=[])
    return fig
