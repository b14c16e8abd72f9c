"""A U-Net (Ronneberger, Fischer & Brox, 2015) with seed 004's masked and symmetric loss.

Seed 004's coursework trains a U-Net whose loss is binary cross-entropy that ignores NaN labels
plus ``alpha`` times the mean squared difference between a hidden feature map and its
transpose (:mod:`jaxdl.masked_losses`). The seed ships no data for it, so this chapter runs on a
**synthetic** task, generated on the fly and documented here:

- a clean image ``S`` is a sum of Gaussian blobs placed in mirror pairs, at ``(a, b)`` and
  ``(b, a)``, so ``S`` equals its transpose;
- the target mask is ``S > 0.5`` (symmetric), and a fraction ``missing`` of its pixels is
  replaced with NaN (unlabelled);
- the network sees ``S`` plus independent Gaussian noise, which is *not* symmetric.

Trained with ``alpha = 0`` the U-Net follows the noise and its output is visibly asymmetric;
with the penalty the same net, same data and same steps produces a more symmetric output (the
run reports both). The hand gradient of the loss with respect to the logits and the feature
map is pulled back through the network with :func:`jax.vjp`, so the hand formulas drive the
training.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdl import masked_losses as ml
from jaxdl.config import require_positive_float, require_positive_int
from jaxdl.gradcheck import GradCheck
from jaxdl.models import unet
from jaxdl.report import Report

F32 = jnp.float32


@functools.partial(jax.jit, static_argnames=("batch", "size", "blobs"))
def symmetric_task(
    *,
    key: jax.Array,
    batch: int,
    size: int,
    noise: float,
    missing: float,
    blobs: int = 3,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The synthetic symmetric-target task (see the module docstring).

    Returns:
      ``(images, labels, clean_labels)``, each ``[batch, size, size, 1]`` float32; ``labels``
      has NaN where unlabelled, ``clean_labels`` is the full symmetric target.
    """
    k_c, k_w, k_n, k_m = jax.random.split(key, 4)
    centres = jax.random.uniform(k_c, (batch, blobs, 2), F32, 0.0, size - 1.0)
    width = jax.random.uniform(k_w, (batch, blobs), F32, 1.2, 2.5)
    grid = jnp.arange(size, dtype=F32)
    i, j = grid[:, None], grid[None, :]

    def blob(a, b, w):
        return jnp.exp(-((i - a) ** 2 + (j - b) ** 2) / (2.0 * w**2))

    pair = jax.vmap(jax.vmap(lambda c, w: blob(c[0], c[1], w) + blob(c[1], c[0], w)))
    clean = jnp.sum(pair(centres, width), axis=1)[..., None]  # [B, H, W, 1], symmetric
    target = (clean > 0.5).astype(F32)
    images = clean + noise * jax.random.normal(k_n, clean.shape, F32)
    labels = jnp.where(jax.random.bernoulli(k_m, missing, clean.shape), jnp.nan, target)
    return images, labels, target


@dataclasses.dataclass(frozen=True)
class Config:
    """U-Net on the synthetic symmetric-target task, with and without the symmetry penalty."""

    alpha: float = dataclasses.field(default=10.0, metadata={"help": "weight of the penalty"})
    steps: int = dataclasses.field(default=150, metadata={"help": "training steps"})
    batch: int = dataclasses.field(default=8, metadata={"help": "images per step"})
    size: int = dataclasses.field(default=16, metadata={"help": "image side (even)"})
    base: int = dataclasses.field(default=8, metadata={"help": "U-Net channels at full size"})
    noise: float = dataclasses.field(default=0.6, metadata={"help": "input noise std"})
    missing: float = dataclasses.field(
        default=0.3, metadata={"help": "fraction of labels set to NaN"}
    )
    learning_rate: float = dataclasses.field(
        default=0.01, metadata={"help": "Adam step size", "flag": "--lr"}
    )
    seed: int = dataclasses.field(default=0, metadata={"help": "PRNG seed"})

    def __post_init__(self):
        for name in ("steps", "batch", "size", "base"):
            require_positive_int(name, getattr(self, name))
        if self.size % 2:
            raise ValueError(f"size must be even (one 2x2 pooling level), got {self.size}")
        require_positive_float("alpha", self.alpha)
        require_positive_float("learning rate", self.learning_rate)
        if not (math.isfinite(self.noise) and self.noise >= 0):
            raise ValueError(f"noise must be a finite number >= 0, got {self.noise!r}")
        if not 0.0 <= self.missing < 1.0:
            raise ValueError(f"missing must be in [0, 1), got {self.missing!r}")


@functools.partial(jax.jit, static_argnames=("graphdef", "steps", "batch", "size"))
def _train(graphdef, state, key, alpha, lr, noise, missing, *, steps, batch, size):
    opt = optax.adam(lr)

    def step(carry, _):
        state, opt_state, key = carry
        key, k_data = jax.random.split(key)
        x, y, _ = symmetric_task(key=k_data, batch=batch, size=size, noise=noise, missing=missing)
        (logits, features), pullback = jax.vjp(lambda s: unet.apply(graphdef, s, x), state)
        loss = ml.masked_bce_with_logits(logits, y) + alpha * ml.symmetry_mse(features)
        # The hand gradient of the loss, pulled back through the network.
        d_logits = ml.masked_bce_with_logits_grad(logits, y)
        d_features = alpha * ml.symmetry_mse_grad(features)
        (grads,) = pullback((d_logits, d_features))
        updates, opt_state = opt.update(grads, opt_state, state)
        return (optax.apply_updates(state, updates), opt_state, key), loss

    (state, _, _), losses = jax.lax.scan(step, (state, opt.init(state), key), length=steps)
    return state, losses


def train(config: Config, *, alpha: float, key: jax.Array) -> tuple[object, object, jax.Array]:
    """Train a fresh U-Net with penalty weight ``alpha``; returns ``(graphdef, state, losses)``."""
    k_init, k_data = jax.random.split(key)
    graphdef, state = unet.init(k_init, base=config.base)
    state, losses = _train(
        graphdef,
        state,
        k_data,
        jnp.asarray(alpha, F32),
        jnp.asarray(config.learning_rate, F32),
        jnp.asarray(config.noise, F32),
        jnp.asarray(config.missing, F32),
        steps=config.steps,
        batch=config.batch,
        size=config.size,
    )
    return graphdef, state, losses


@functools.partial(jax.jit, static_argnames=("graphdef",))
def _evaluate(graphdef, state, x, target):
    logits, features = unet.apply(graphdef, state, x)
    p = jax.nn.sigmoid(logits)
    return {
        "output_symmetry_error": jnp.mean((p - ml.transpose_map(p)) ** 2),
        "feature_symmetry_error": ml.symmetry_mse(features),
        "pixel_accuracy": jnp.mean((p > 0.5) == (target > 0.5)),
    }, p[0, ..., 0]


def evaluate(graphdef, state, x: jax.Array, target: jax.Array) -> dict[str, float]:
    """Symmetry error of the output probabilities and of the features; pixel accuracy."""
    metrics, _ = _evaluate(graphdef, state, x, target)
    return {k: float(v) for k, v in metrics.items()}


def gradient_checks(*, key: jax.Array) -> list[GradCheck]:
    """The masked BCE and symmetry penalty's hand gradients (from :mod:`jaxdl.masked_losses`)."""
    return [c._replace(name="unet: " + c.name) for c in ml.gradient_checks(key=key)]


def run(config: Config = Config()) -> Report:
    """Train the same U-Net with ``alpha = 0`` and with ``config.alpha``; compare symmetry."""
    key = jax.random.key(config.seed)
    k_train, k_test, k_check = jax.random.split(key, 3)
    x, _, target = symmetric_task(
        key=k_test, batch=64, size=config.size, noise=config.noise, missing=config.missing
    )
    outcomes, curves, examples = {}, {}, {}
    for name, alpha in (("without_penalty", 0.0), ("with_penalty", config.alpha)):
        graphdef, state, losses = train(config, alpha=alpha, key=k_train)
        metrics, example = _evaluate(graphdef, state, x, target)
        outcomes[name] = {k: float(v) for k, v in metrics.items()}
        curves[name] = np.asarray(losses)
        examples[name] = np.asarray(example)
    before = outcomes["without_penalty"]["output_symmetry_error"]
    after = outcomes["with_penalty"]["output_symmetry_error"]
    return Report(
        milestone="unet",
        config=config,
        result=outcomes | {"symmetry_error_ratio": after / before},
        checks=gradient_checks(key=k_check),
        headline=(
            f"output symmetry error {before:.4f} without the penalty, {after:.4f} with "
            f"alpha={config.alpha:g} (synthetic task)"
        ),
        plot_data={
            "curves": curves,
            "examples": examples,
            "image": np.asarray(x[0, ..., 0]),
            "target": np.asarray(target[0, ..., 0]),
        },
    )


def plot(report: Report):
    """Input, target and both predictions for one test image."""
    from jaxdl.plotting import new_figure

    fig, axes = new_figure(ncols=4, size=(12, 3.4))
    panels = [
        ("noisy input", report.plot_data["image"]),
        ("symmetric target", report.plot_data["target"]),
        ("alpha = 0", report.plot_data["examples"]["without_penalty"]),
        (f"alpha = {report.config.alpha:g}", report.plot_data["examples"]["with_penalty"]),
    ]
    for ax, (title, image) in zip(axes, panels, strict=True):
        ax.imshow(image, cmap="gray")
        ax.set(title=title, xticks=[], yticks=[])
    return fig
