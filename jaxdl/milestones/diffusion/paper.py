"""DDPM on MNIST digits (``jaxdl run diffusion --paper``): a small U-Net learns the noise, the
reverse process draws digits from pure noise, and three things are measured.

- **Not memorised.** Each generated digit beside its nearest training digit (Euclidean distance
  in pixel space, :func:`nearest_training_digits`), and the mean of that distance beside the
  same for real digits the network never saw: copies of the training set would sit at zero.
- **A score people can compare.** The Fréchet distance (:func:`frechet_distance`) between
  generated and test digits in the feature space of a classifier: the deep-CNN chapter's net
  (:mod:`jaxdl.models.deep_cnn`), trained here on the same training digits, its penultimate
  layer's 256 tanh units (``fc2``) as the features. It is the recipe of the FID (Heusel et al.
  2017) with this classifier in place of the Inception network, so it is *not* comparable with
  the paper's CIFAR-10 FID of 3.17. To judge the number, the same distance between real digits
  held out from both trainings and the test digits is its floor at this sample size.
- **Steps against quality.** The same trained network sampled with fewer steps (the respaced
  schedules of :func:`~jaxdl.milestones.diffusion.process.respaced`), the distance per count.

With ``run_dir`` the training checkpoints itself through the shared run directory
(:class:`jaxdl.training.resume.RunDirectory`) after every chunk of steps, with the trainer's
:class:`~jaxdl.training.pieces.Checkpoint` hook, and a resumed run ends bit-identical to one
never stopped.
"""

from __future__ import annotations

import functools
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdl import backward
from jaxdl.data.batches import Batch
from jaxdl.models import deep_cnn
from jaxdl.optim import init_train_state
from jaxdl.training import trainer
from jaxdl.training.pieces import Checkpoint
from jaxdl.training.resume import RunDirectory

from . import unet
from .process import T, chain_end, noising_feed, respaced, schedule

#: The U-Net's training (steps, digits per step, base width, step-embedding width, Adam's peak).
PAPER_STEPS, BATCH_SIZE, BASE, EMBED, LEARNING_RATE = 1200, 32, 8, 32, 2e-3
#: Steps per compiled chunk of training (and between checkpoints).
CHUNK = 100
#: Sampling steps whose Fréchet distances the run reports (respaced chains of the T steps).
SAMPLING_STEPS = (10, 30, 100)
#: Digits shown in the figure, sampled with all T steps, each beside its nearest training digit.
GRID = 16
#: Steps of the classifier whose features the Fréchet distance compares (Adam, batches of 64).
#: The sizes above are cut to run in minutes on a 2-core CPU (``docs/chapters/diffusion.md``).
CLASSIFIER_STEPS = 200
#: Digits generated per compiled sampling chain.
SAMPLE_CHUNK = 250


def to_signed(images: jax.Array) -> jax.Array:
    """Images in [0, 1] to DDPM's [-1, 1] (``2 x - 1``)."""
    return 2.0 * jnp.asarray(images) - 1.0


def to_unit(images: np.ndarray) -> np.ndarray:
    """Generated images in [-1, 1] (clipped there) back to [0, 1]."""
    return (np.clip(np.asarray(images), -1.0, 1.0) + 1.0) / 2.0


# --------------------------------------------------------------------------------------------
# Training, with checkpoints
# --------------------------------------------------------------------------------------------


class Trained(NamedTuple):
    """A training run's outcome."""

    params: unet.UNet
    losses: np.ndarray  # [steps] each step's batch loss (a resumed run's from its checkpoint)
    seconds: float  # wall time of this process's steps (compilation included on a cold cache)


@functools.cache
def loss_function(backward_: str):
    """The U-Net's ε-loss with the schedule and a backward pass fixed (one object per choice)."""
    return functools.partial(unet.loss, sched=schedule(), ops=backward.ops(backward_))


@functools.cache
def optimizer(learning_rate: float, steps: int) -> optax.GradientTransformation:
    """Adam (DDPM's optimizer), the gradient clipped at global norm 1 (as DDPM's), a linear
    warm-up over the first 5% of the steps and a cosine decay to a tenth (our short run's
    stand-in for DDPM's averaged weights)."""
    lr = optax.warmup_cosine_decay_schedule(
        0.0, learning_rate, max(1, steps // 20), max(steps, 2), learning_rate / 10
    )
    return optax.chain(optax.clip_by_global_norm(1.0), optax.adam(lr))


def train_unet(
    images: jax.Array,
    *,
    key: jax.Array,
    settings: dict,
    backward_: str,
    progress: bool = False,
    run_dir: str | None = None,
    resume: bool = False,
    chunk: int = CHUNK,
) -> Trained:
    """Train the U-Net on ``images [N, 28, 28, 1]`` in [-1, 1] through the shared trainer, in
    compiled chunks of ``chunk`` steps.

    ``settings`` holds ``steps``, ``batch``, ``base``, ``embed`` and ``learning_rate`` (and
    ``data``, the source's name, which a resumed run must match). With ``run_dir`` a
    checkpoint (the train state, the feed's key and the losses so far) is saved after every
    chunk; ``resume`` continues the run saved there to the parameters and losses of a run never
    stopped, and refuses one whose settings differ. ``seconds`` times this process's steps.
    """
    s = settings
    k_init, k_feed = jax.random.split(key)
    params = unet.init_unet(key=k_init, base=s["base"], embed=s["embed"])
    opt = optimizer(s["learning_rate"], s["steps"])
    feed = noising_feed(images, batch_size=s["batch"], key=k_feed)
    state, checkpoint = init_train_state(params, opt), None
    if run_dir is not None:
        defining = {**s, "backward": backward_, "chunk": chunk,
                    "key": np.asarray(jax.random.key_data(key)).tolist()}  # fmt: skip
        checkpoint = Checkpoint(RunDirectory(run_dir, defining, resume=resume), steps=s["steps"])
    try:
        if resume:
            state, feed_state, _ = checkpoint.restore(state, feed.state)
            feed = feed._replace(state=feed_state)
        remaining = s["steps"] - int(state.step)
        if remaining <= 0:
            return Trained(state.params, checkpoint.losses, 0.0)
        bar = trainer.Progress("U-Net on digits") if progress else None
        hooks = () if checkpoint is None else (checkpoint,)
        begin = time.perf_counter()
        run = trainer.train(loss_function(backward_), state, opt, feed, steps=remaining,
                            chunk_steps=chunk, progress=bar, hooks=hooks)  # fmt: skip
    finally:
        if checkpoint is not None:
            checkpoint.directory.close()
    losses = run.losses if checkpoint is None else checkpoint.losses
    return Trained(run.state.params, losses, time.perf_counter() - begin)


# --------------------------------------------------------------------------------------------
# Sampling and the measures
# --------------------------------------------------------------------------------------------


def generate(params: unet.UNet, *, key: jax.Array, n: int, count: int = T) -> np.ndarray:
    """``n`` digits ``[n, 28, 28, 1]`` in [-1, 1] by ancestral sampling through ``count``
    evenly spaced steps (:func:`~jaxdl.milestones.diffusion.process.chain_end`: one compiled
    program for every count), :data:`SAMPLE_CHUNK` (or ``n``, if fewer) at a time, each chunk
    from its own noise (``key`` folded with the chunk's index: every count starts from the
    same)."""
    steps, sched = respaced(schedule(), count)
    size = min(n, SAMPLE_CHUNK)
    out = []
    for i in range(-(-n // size)):
        k_top, k_chain = jax.random.split(jax.random.fold_in(key, i))
        x_top = jax.random.normal(k_top, (size, 28, 28, 1), jnp.float32)
        x0 = chain_end(unet.eps_unet, params, sched, steps, x_top, k_chain)
        out.append(np.asarray(x0))
    return np.concatenate(out)[:n]


def nearest_training_digits(
    images: np.ndarray, training: np.ndarray, *, block: int = 10_000
) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``images [n, ...]``, the index of the nearest of ``training [m, ...]`` in
    Euclidean distance over the pixels, and that distance (``‖a‖² + ‖b‖² - 2 a·b`` in float64,
    ``block`` training digits at a time)."""
    a = np.asarray(images, np.float64).reshape(len(images), -1)
    best = np.full(len(a), np.inf)
    index = np.zeros(len(a), np.int64)
    for start in range(0, len(training), block):
        b = np.asarray(training[start : start + block], np.float64).reshape(-1, a.shape[1])
        d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
        near = np.argmin(d2, axis=1)
        closer = d2[np.arange(len(a)), near] < best
        best = np.where(closer, d2[np.arange(len(a)), near], best)
        index = np.where(closer, start + near, index)
    return index, np.sqrt(np.maximum(best, 0.0))


def trace_sqrt_product(s1: np.ndarray, s2: np.ndarray) -> float:
    """``Tr((S1 S2)^{1/2})`` for symmetric positive semi-definite ``S1``, ``S2``.

    ``S1 S2 = R (R S2)`` with ``R = S1^{1/2}`` (from ``eigh`` of ``S1``, negative rounding
    errors clipped to zero), and ``AB`` and ``BA`` have the same eigenvalues, so ``S1 S2`` has
    those of the symmetric positive semi-definite ``R S2 R``: its square root's trace is the sum
    of their square roots (``eigvalsh``, clipped at zero). No non-symmetric square root (no
    ``scipy.linalg.sqrtm``, whose complex round-off FID code must discard) is ever formed.
    """
    w, v = np.linalg.eigh(np.asarray(s1, np.float64))
    root = (v * np.sqrt(np.maximum(w, 0.0))) @ v.T
    middle = root @ np.asarray(s2, np.float64) @ root
    eig = np.linalg.eigvalsh(0.5 * (middle + middle.T))
    return float(np.sum(np.sqrt(np.maximum(eig, 0.0))))


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """The Fréchet distance between Gaussians fitted to two sets of features ``[n, D]``::

        d² = ‖μ_a - μ_b‖² + Tr(S_a) + Tr(S_b) - 2 Tr((S_a S_b)^{1/2})

    with the means ``μ`` and the unbiased covariances ``S`` (``n - 1``) of each set, in float64,
    the last term by :func:`trace_sqrt_product`. Returned as ``d²``, as the FID is. Zero for
    identical sets; it grows with the sets' size difference in mean and spread.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(
            f"frechet_distance: features must be [n, D] with equal D and n >= 2, got "
            f"{a.shape} and {b.shape}"
        )
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    diff = a.mean(0) - b.mean(0)
    value = diff @ diff + np.trace(s_a) + np.trace(s_b) - 2.0 * trace_sqrt_product(s_a, s_b)
    return float(max(value, 0.0))


def _cnn_loss(params, batch: Batch) -> jax.Array:
    return deep_cnn.loss(params, batch.images, batch.labels, backward="hand")


@functools.cache
def _adam(learning_rate: float) -> optax.GradientTransformation:
    return optax.adam(learning_rate)


def train_classifier(train: Batch, *, key: jax.Array, steps: int) -> dict:
    """The deep-CNN chapter's net (its loss, L2 penalty included; dropout off) trained with
    Adam at 0.001 (its chapter's) for ``steps`` batches of 64 drawn from ``train`` (images in
    [0, 1])."""
    k_init, k_feed = jax.random.split(key)
    run = trainer.train(
        _cnn_loss,
        deep_cnn.init_params(k_init),
        _adam(1e-3),
        trainer.sampled(train, batch_size=64, key=k_feed),
        steps=steps,
        chunk_steps=min(steps, 200),
    )
    return run.state.params


@jax.jit
def _features_and_logits(params, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    out = deep_cnn.layer_outputs(params, x)
    return out["fc2"], out["fc3"]


def features(params, images: np.ndarray, size: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """The classifier's penultimate activations (``fc2``, ``[n, 256]``) and logits
    (``[n, 10]``) for ``images [n, 28, 28, 1]`` in [0, 1], ``size`` at a time (the last batch
    padded, so one compiled program serves every call)."""
    images = np.asarray(images, np.float32)
    n = len(images)
    size = min(size, n)
    padded = np.concatenate([images, np.zeros(((-n) % size, *images.shape[1:]), np.float32)])
    parts = [_features_and_logits(params, padded[i : i + size]) for i in range(0, n, size)]
    return tuple(np.concatenate([np.asarray(p[j]) for p in parts])[:n] for j in (0, 1))


# --------------------------------------------------------------------------------------------
# The experiment
# --------------------------------------------------------------------------------------------


def split_test(test: Batch) -> tuple[Batch, Batch]:
    """The test digits cut in two halves: the reference set the distances are measured to, and
    real digits held out from every training (the distance's floor)."""
    half = len(test.labels) // 2
    return (
        Batch(test.images[:half], test.labels[:half]),
        Batch(test.images[half : 2 * half], test.labels[half : 2 * half]),
    )


def measure(
    params: unet.UNet,
    classifier,
    train: Batch,
    test: Batch,
    *,
    key: jax.Array,
    samples: int,
    grid_steps: int = T,
) -> tuple[dict, dict]:
    """The Fréchet distances per count of :data:`SAMPLING_STEPS` and for held-out real digits,
    the nearest training digits, and :data:`GRID` digits sampled with ``grid_steps`` steps
    (all ``T`` by default).

    Returns ``(result, plot_data)``; ``train`` and ``test`` hold images in [0, 1].
    """
    reference, held_out = split_test(test)
    n = min(samples, len(held_out.labels))
    ref_features, ref_logits = features(classifier, reference.images)
    real_features, _ = features(classifier, held_out.images[:n])
    rows, last = [], None
    for count in SAMPLING_STEPS:
        begin = time.perf_counter()
        last = to_unit(generate(params, key=key, n=n, count=count))
        seconds = time.perf_counter() - begin
        fake_features, fake_logits = features(classifier, last)
        rows.append({"sampling_steps": count, "seconds": seconds,
                     "frechet": frechet_distance(fake_features, ref_features)})  # fmt: skip
    training = np.asarray(train.images)
    _, fake_near = nearest_training_digits(last, training)
    _, real_near = nearest_training_digits(np.asarray(held_out.images[:n]), training)
    grid = to_unit(generate(params, key=jax.random.fold_in(key, 1), n=GRID, count=grid_steps))
    index, grid_near = nearest_training_digits(grid, training)
    result = {
        "digits_compared": n,
        "reference_digits": int(len(reference.labels)),
        "classifier_test_accuracy": float(
            np.mean(np.argmax(ref_logits, 1) == np.asarray(reference.labels))
        ),
        "frechet_by_sampling_steps": rows,
        "frechet_held_out_real": frechet_distance(real_features, ref_features),
        "nearest_training_distance_generated": float(fake_near.mean()),
        "nearest_training_distance_held_out_real": float(real_near.mean()),
        "generated_classes": np.bincount(np.argmax(fake_logits, 1), minlength=10).tolist(),
        "grid_sampling_steps": grid_steps,
        "grid_nearest_distances": grid_near.tolist(),
        "grid_nearest_index": index.tolist(),
        "grid": np.round(255 * grid[..., 0]).astype(np.uint8).tolist(),  # the figure's digits
    }
    plot_data = {"grid": grid[..., 0], "nearest": training[index, ..., 0]}
    return result, plot_data


def _grid_and_nearest(report) -> tuple[np.ndarray, np.ndarray]:
    """The figure's generated digits and their nearest training digits, ``[n, 28, 28]`` in
    [0, 1]: from the run's plot data, or (a report read back from its JSON) from the result,
    the training digits loaded again from ``report.config.data``."""
    if "grid" in report.plot_data:
        return report.plot_data["grid"], report.plot_data["nearest"]
    from jaxdl.data.mnist import mnist

    images = mnist("train", report.config.data).images
    index = np.asarray(report.result["grid_nearest_index"])
    return np.asarray(report.result["grid"]) / 255.0, np.asarray(images[index]) / 255.0


def plot(report):
    """Generated digits (all T sampling steps by default), each with its nearest training digit
    to its right,
    and the Fréchet distance against the number of sampling steps beside that of real digits.
    Reads the result (and the plot data when there), so a report read back from the run's
    JSON plots too."""
    from jaxdl.plotting import COLUMN_WIDTH, new_figure

    r = report.result
    fig, (left, right) = new_figure(2, size=(COLUMN_WIDTH, 3.4))
    pairs = np.concatenate(_grid_and_nearest(report), axis=2)  # [n, 28, 56]
    cols = 4
    rows = -(-len(pairs) // cols)
    canvas = np.ones((rows * 29 - 1, cols * 58 - 2))
    for k, pair in enumerate(pairs):
        i, j = divmod(k, cols)
        canvas[i * 29 : i * 29 + 28, j * 58 : j * 58 + 56] = 1.0 - pair
    left.imshow(canvas, cmap="gray", vmin=0, vmax=1)
    left.set(xticks=[], yticks=[])
    left.set_title(f"generated ({r['grid_sampling_steps']} steps) | nearest training", fontsize=8)
    table = r["frechet_by_sampling_steps"]
    counts = [row["sampling_steps"] for row in table]
    right.plot(counts, [row["frechet"] for row in table], "o-", label="generated")
    right.axhline(r["frechet_held_out_real"], color="0.4", ls="--", label="real (held out)")
    right.set_xscale("log")
    right.set_xticks(counts, [str(c) for c in counts], minor=False)
    right.set_xticks([], minor=True)
    right.set(xlabel="sampling steps", ylabel="Fréchet distance to test digits")
    right.set_ylim(bottom=0)
    right.legend(fontsize=7)
    right.set_title("CNN features (not Inception)", fontsize=8)
    return fig
