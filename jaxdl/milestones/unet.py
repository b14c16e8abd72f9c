"""A U-Net (Ronneberger, Fischer & Brox, 2015) with seed 004's masked and symmetric loss.

Seed 004's coursework trains a U-Net whose loss is binary cross-entropy that ignores NaN labels
plus ``alpha`` times the mean squared difference between a hidden feature map and its
transpose (below). The seed ships no data for it, so this chapter runs on a
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

Masked and symmetric losses (seed 004's U-Net loss), each with its hand gradient.

The seed trains a U-Net with binary cross-entropy that **ignores NaN labels** (pixels nobody
labelled) plus ``alpha`` times a **symmetry penalty**: the mean squared difference between a
hidden feature map and its transpose.

.. code-block:: text

    m      = not isnan(y)                    (1 where labelled)
    n      = max(sum(m), 1)
    BCE_m  = -Σ m (y log a + (1 - y) log(1 - a)) / n
    S(F)   = mean((F - Fᵀ)²)                 (Fᵀ swaps the two spatial axes)
    loss   = BCE_m(a, y) + alpha S(F)

Gradients by hand: ``dBCE_m/da = m (a - y) / (a (1 - a) n)``, and since ``D = F - Fᵀ`` is
antisymmetric, ``dS/dF = 2 (D - Dᵀ) / N = 4 D / N`` with ``N`` the number of entries.

**The NaN-gradient trap.** ``jnp.where(m, loss_per_pixel, 0)`` gives the right *value* but not a
finite *gradient*: reverse mode multiplies the zero cotangent of the unused branch by that
branch's derivative, and ``0 * NaN = NaN`` (``0 * inf = NaN`` too, for ``log(0)`` at a masked
pixel whose prediction is exactly 0 or 1). So both the labels *and* the inputs are replaced
with harmless values (``y -> 0``, ``a -> 1/2``) at masked pixels *before* the logarithm; then
masked pixels contribute exactly zero gradient, wherever the NaNs are. With no label at all the
loss is 0 and so is its gradient.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.typing import ArrayLike

from jaxdl.backward import with_gradient
from jaxdl.gradcheck import GradCheck
from jaxdl.losses import check_same_shape
from jaxdl.milestones import Milestone
from jaxdl.models import unet
from jaxdl.report import Report
from jaxdl.training import trainer
from jaxdl.validate import (
    BATCH,
    LEARNING_RATE_CEILING,
    NOISE_CEILING,
    PENALTY_CEILING,
    SEED,
    STEPS,
    check_limits,
    require_positive_float,
    require_positive_int,
)

MILESTONE = Milestone(
    "unet",
    2015,
    "Ronneberger, Fischer & Brox",
    "U-Net with masked BCE and a symmetry penalty",
    month=5,
)


def _mask_and_guard(
    values: jax.Array, labels: jax.Array, neutral: float
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    mask = ~jnp.isnan(labels)
    y = jnp.where(mask, labels, 0.0)
    safe = jnp.where(mask, values, neutral)  # the input guard: no log(0) behind the mask
    count = jnp.maximum(jnp.sum(mask), 1).astype(values.dtype)
    return mask, y, safe, count


def masked_bce(probabilities: ArrayLike, labels: ArrayLike) -> jax.Array:
    """Binary cross-entropy averaged over the labelled entries; NaN labels are ignored.

    Args:
      probabilities: predictions ``a`` in (0, 1), any shape (e.g. ``[B, H, W, 1]``).
      labels: same shape, 0 or 1, NaN where unlabelled.

    Returns:
      ``-Σ_labelled (y log a + (1 - y) log(1 - a)) / #labelled`` (0 when nothing is labelled).
    """
    check_same_shape(probabilities, labels)
    a = jnp.asarray(probabilities)
    mask, y, a, count = _mask_and_guard(a, jnp.asarray(labels, a.dtype), 0.5)
    per = y * jnp.log(a) + (1.0 - y) * jnp.log1p(-a)
    return -jnp.sum(jnp.where(mask, per, 0.0)) / count


def masked_bce_grad(probabilities: ArrayLike, labels: ArrayLike) -> jax.Array:
    """Gradient of :func:`masked_bce`: ``m (a - y) / (a (1 - a) n)``, exactly 0 where masked."""
    check_same_shape(probabilities, labels)
    a = jnp.asarray(probabilities)
    mask, y, a, count = _mask_and_guard(a, jnp.asarray(labels, a.dtype), 0.5)
    return jnp.where(mask, (a - y) / (a * (1.0 - a) * count), 0.0)


def masked_bce_with_logits(logits: ArrayLike, labels: ArrayLike) -> jax.Array:
    """:func:`masked_bce` of ``sigmoid(z)``, computed stably from the logits ``z``.

    ``-(y log σ(z) + (1 - y) log(1 - σ(z))) = softplus(z) - y z``; used for training, where a
    saturated sigmoid would make the probability form overflow.
    """
    check_same_shape(logits, labels)
    z = jnp.asarray(logits)
    mask, y, z, count = _mask_and_guard(z, jnp.asarray(labels, z.dtype), 0.0)
    return jnp.sum(jnp.where(mask, jax.nn.softplus(z) - y * z, 0.0)) / count


def masked_bce_with_logits_grad(logits: ArrayLike, labels: ArrayLike) -> jax.Array:
    """Gradient of :func:`masked_bce_with_logits`: ``m (σ(z) - y) / n``."""
    check_same_shape(logits, labels)
    z = jnp.asarray(logits)
    mask, y, z, count = _mask_and_guard(z, jnp.asarray(labels, z.dtype), 0.0)
    return jnp.where(mask, (jax.nn.sigmoid(z) - y) / count, 0.0)


def _check_square_map(features: jax.Array) -> None:
    if features.ndim != 4 or features.shape[1] != features.shape[2]:
        raise ValueError(
            f"features must have shape [B, H, W, C] with H == W to compare with their transpose, "
            f"got {features.shape}"
        )


def transpose_map(features: ArrayLike) -> jax.Array:
    """Swap the spatial axes of a ``[B, H, W, C]`` map: ``out[b, i, j, c] = F[b, j, i, c]``."""
    features = jnp.asarray(features)
    _check_square_map(features)
    return jnp.swapaxes(features, 1, 2)


def symmetry_mse(features: ArrayLike) -> jax.Array:
    """Mean squared difference between a ``[B, H, W, C]`` map and its transpose (0 iff symmetric)."""
    features = jnp.asarray(features)
    return jnp.mean((features - transpose_map(features)) ** 2)


def symmetry_mse_grad(features: ArrayLike) -> jax.Array:
    """Gradient of :func:`symmetry_mse`: ``4 (F - Fᵀ) / N``."""
    features = jnp.asarray(features)
    return 4.0 * (features - transpose_map(features)) / features.size


def _check_alpha(alpha) -> None:
    if not isinstance(alpha, jax.Array):
        import math

        if (
            isinstance(alpha, bool)
            or not isinstance(alpha, int | float)
            or not math.isfinite(alpha)
        ):
            raise ValueError(f"alpha must be a finite number, got {alpha!r}")
        if alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {alpha!r}")


def masked_symmetric_loss(
    probabilities: ArrayLike, labels: ArrayLike, features: ArrayLike, *, alpha: float
) -> jax.Array:
    """The seed's U-Net loss: ``masked_bce(a, y) + alpha * symmetry_mse(F)``."""
    _check_alpha(alpha)
    return masked_bce(probabilities, labels) + alpha * symmetry_mse(features)


def masked_symmetric_loss_grad(
    probabilities: ArrayLike, labels: ArrayLike, features: ArrayLike, *, alpha: float
) -> tuple[jax.Array, jax.Array]:
    """Gradient of :func:`masked_symmetric_loss` with respect to ``(probabilities, features)``."""
    _check_alpha(alpha)
    return masked_bce_grad(probabilities, labels), alpha * symmetry_mse_grad(features)


@functools.partial(jax.jit, static_argnums=1)
def _check_point(key: jax.Array, dtype):
    k_a, k_y, k_m, k_f = jax.random.split(key, 4)
    a = jax.random.uniform(k_a, (2, 3, 3, 1), dtype, minval=0.05, maxval=0.95)
    labels = jax.random.bernoulli(k_y, 0.5, a.shape).astype(dtype)
    labels = jnp.where(jax.random.bernoulli(k_m, 1 / 3, a.shape), jnp.nan, labels)
    z = jnp.log(a) - jnp.log1p(-a)
    features = jax.random.normal(k_f, (2, 4, 4, 3), dtype)
    return a, labels, z, features


def gradient_checks(*, key: jax.Array) -> list[GradCheck]:
    """The masked BCE and symmetry penalty's hand gradients: hand vs ``jax.grad`` vs finite differences, with a third of the labels NaN."""
    from jaxdl.gradcheck import check_gradient

    a, labels, z, features = _check_point(key, jnp.result_type(float))
    return [
        check_gradient(
            "unet: masked_bce",
            jax.jit(lambda p: masked_bce(p, labels)),
            jax.jit(lambda p: masked_bce_grad(p, labels)),
            a,
        ),
        check_gradient(
            "unet: masked_bce_with_logits",
            jax.jit(lambda p: masked_bce_with_logits(p, labels)),
            jax.jit(lambda p: masked_bce_with_logits_grad(p, labels)),
            z,
        ),
        check_gradient(
            "unet: symmetry_mse",
            jax.jit(symmetry_mse),
            jax.jit(symmetry_mse_grad),
            features,
        ),
        check_gradient(
            "unet: masked_symmetric_loss",
            jax.jit(lambda p: masked_symmetric_loss(p[0], labels, p[1], alpha=0.7)),
            jax.jit(lambda p: masked_symmetric_loss_grad(p[0], labels, p[1], alpha=0.7)),
            (a, features),
        ),
    ]


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

    alpha: float = dataclasses.field(
        default=10.0, metadata={"ceiling": PENALTY_CEILING, "help": "weight of the penalty"}
    )
    steps: int = dataclasses.field(
        default=150, metadata={"bounds": STEPS, "help": "training steps"}
    )
    batch: int = dataclasses.field(default=8, metadata={"bounds": BATCH, "help": "images per step"})
    size: int = dataclasses.field(
        default=16, metadata={"bounds": (2, 1_024), "help": "image side (even)"}
    )
    base: int = dataclasses.field(
        default=8, metadata={"bounds": (1, 1_024), "help": "U-Net channels at full size"}
    )
    noise: float = dataclasses.field(
        default=0.6, metadata={"ceiling": NOISE_CEILING, "help": "input noise std"}
    )
    missing: float = dataclasses.field(
        default=0.3, metadata={"help": "fraction of labels set to NaN"}
    )
    learning_rate: float = dataclasses.field(
        default=0.01,
        metadata={"ceiling": LEARNING_RATE_CEILING, "help": "Adam step size", "flag": "--lr"},
    )
    seed: int = dataclasses.field(default=0, metadata={"bounds": SEED, "help": "PRNG seed"})

    def __post_init__(self):
        check_limits(self)
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


#: The two loss terms with their hand gradients as ``custom_vjp`` rules (``jax.grad`` of the
#: objective pulls them back through the network).
masked_bce_with_logits_hand = with_gradient(masked_bce_with_logits, masked_bce_with_logits_grad)
symmetry_mse_hand = with_gradient(symmetry_mse, symmetry_mse_grad)


@functools.cache
def _objective(graphdef):
    """``loss(state, (x, y, alpha))`` for the network ``graphdef``: masked BCE + alpha S(F)."""

    def loss(state, batch):
        x, y, alpha = batch
        logits, features = unet.apply(graphdef, state, x)
        return masked_bce_with_logits_hand(logits, y) + alpha * symmetry_mse_hand(features)

    return loss


@functools.cache
def _task_batches(batch: int, size: int):
    """Feed ``(key, noise, missing, alpha) -> (same, (x, y, alpha))``: a fresh task per step."""

    def next_batch(state):
        key, noise, missing, alpha = state
        key, k_data = jax.random.split(key)
        x, y, _ = symmetric_task(key=k_data, batch=batch, size=size, noise=noise, missing=missing)
        return (key, noise, missing, alpha), (x, y, alpha)

    return next_batch


@functools.cache
def _adam(learning_rate: float) -> optax.GradientTransformation:
    return optax.adam(learning_rate)


def train(config: Config, *, alpha: float, key: jax.Array) -> tuple[object, object, jax.Array]:
    """Train a fresh U-Net with penalty weight ``alpha``; returns ``(graphdef, state, losses)``."""
    k_init, k_data = jax.random.split(key)
    graphdef, state = unet.init(k_init, base=config.base)
    hyper = tuple(jnp.asarray(v, F32) for v in (config.noise, config.missing, alpha))
    run = trainer.train(
        _objective(graphdef),
        state,
        _adam(float(config.learning_rate)),
        trainer.Feed((k_data, *hyper), _task_batches(config.batch, config.size)),
        steps=config.steps,
    )
    return graphdef, run.state.params, run.losses


@functools.partial(jax.jit, static_argnames=("graphdef",))
def _evaluate(graphdef, state, x, target):
    logits, features = unet.apply(graphdef, state, x)
    p = jax.nn.sigmoid(logits)
    return {
        "output_symmetry_error": jnp.mean((p - transpose_map(p)) ** 2),
        "feature_symmetry_error": symmetry_mse(features),
        "pixel_accuracy": jnp.mean((p > 0.5) == (target > 0.5)),
    }, p[0, ..., 0]


def evaluate(graphdef, state, x: jax.Array, target: jax.Array) -> dict[str, float]:
    """Symmetry error of the output probabilities and of the features; pixel accuracy."""
    metrics, _ = _evaluate(graphdef, state, x, target)
    return {k: float(v) for k, v in metrics.items()}


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
        result=outcomes | {"symmetry_error_ratio": after / before if before else None},
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
    from jaxdl.plotting import COLUMN_WIDTH, new_figure

    fig, axes = new_figure(ncols=4, size=(COLUMN_WIDTH, COLUMN_WIDTH / 4 + 0.4))
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
