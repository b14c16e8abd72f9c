"""Generative Adversarial Nets (Ian Goodfellow et al., 2014).

Two networks play a game: a generator ``G`` turns noise ``z`` into a digit, a discriminator
``D`` scores how likely a digit is to be real. ``D`` is trained to tell real digits from
generated ones, ``G`` to fool it (the paper's value function)::

    min_G max_D  E_x[log D(x)] + E_z[log(1 - D(G(z)))]

The paper's Algorithm 1 alternates one step of ``D`` and one of ``G``. It notes that early in
training ``D`` rejects ``G``'s samples with confidence and ``log(1 - D(G(z)))`` saturates, and
recommends that ``G`` maximise ``log D(G(z))`` instead (the *non-saturating* loss).

Both generator losses and the discriminator's loss have their backward pass written by hand
here, from the loss back through ``D``'s layers and on into ``G``'s
(:func:`generator_loss_grad`, :func:`discriminator_loss_grad`); each drives the training as a
``jax.custom_vjp`` rule (:func:`jaxdl.backward.with_gradient`) and is proven against
``jax.grad`` in float64.

**The paper's number.** Table 1 estimates the test log-likelihood of MNIST under the generator
with a Gaussian Parzen window fitted to its samples, ``sigma`` chosen on validation digits:
225 +- 2 nats. :func:`parzen_log_likelihood` computes the same estimate on our samples. The
estimate is known to be a weak measure of a generative model (Theis, van den Oord & Bethge
2016): it rewards blur and can rank a model that memorises the training set above a good one.

What this chapter chooses: MLPs (the paper's discriminator used maxout units), ReLU generator
with a sigmoid output, a tanh discriminator, Adam at 1e-3 with ``b1 = 0.5`` (the ``b1`` of
Radford et al.'s later recipe; at its step 2e-4 the default run collapses to one or two digits;
the paper used momentum SGD), batches of :data:`BATCH`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdl.activations import relu
from jaxdl.backward import with_gradient
from jaxdl.data.digits import flattened
from jaxdl.gradcheck import GradCheck, check_gradient
from jaxdl.milestones import Milestone
from jaxdl.report import Report
from jaxdl.training import trainer
from jaxdl.validate import SEED, STEPS, WIDTH, check_limits

MILESTONE = Milestone(
    "gan",
    2014,
    "Goodfellow et al.",
    "generator against discriminator, both backward passes by hand; Parzen estimate, modes",
    month=6,
)

GeneratorLoss = Literal["non_saturating", "minimax"]
BATCH = 64
LATENT = 64
HIDDEN = 256
LEARNING_RATE, B1 = 1e-3, 0.5
STEPS_DEFAULT = 3000
PAPER_STEPS = 40_000
#: The paper's Table 1: Gaussian Parzen window log-likelihood on MNIST's test set (nats).
PAPER_PARZEN = (225.0, 2.0)
#: The ``sigma`` values the Parzen window tries on the validation digits.
SIGMAS = (0.05, 0.08, 0.1, 0.12, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)
#: Training digits held out as the validation set that chooses ``sigma``.
VALIDATION = 500


class Dense(NamedTuple):
    """One affine layer."""

    w: jax.Array  # [F_in, F_out]
    b: jax.Array  # [F_out]


class Generator(NamedTuple):
    """``z [B, Z] -> relu -> sigmoid -> x [B, 784]``."""

    hidden: Dense  # [Z, H]
    out: Dense  # [H, 784]


class Discriminator(NamedTuple):
    """``x [B, 784] -> tanh -> a [B, 1]``, the logit of ``D(x)``."""

    hidden: Dense  # [784, H]
    out: Dense  # [H, 1]


class GAN(NamedTuple):
    """Both players."""

    g: Generator
    d: Discriminator


def _dense(key, f_in, f_out, dtype):
    return Dense(
        jax.random.normal(key, (f_in, f_out), dtype) / math.sqrt(f_in), jnp.zeros((f_out,), dtype)
    )


def init_gan(key: jax.Array, hidden: int = HIDDEN, latent: int = LATENT, dtype=jnp.float32) -> GAN:
    """Weights ``N(0, 1 / fan_in)``, zero biases."""
    k = jax.random.split(key, 4)
    g = Generator(_dense(k[0], latent, hidden, dtype), _dense(k[1], hidden, 784, dtype))
    d = Discriminator(_dense(k[2], 784, hidden, dtype), _dense(k[3], hidden, 1, dtype))
    return GAN(g, d)


def _affine(x, layer: Dense):
    return x @ layer.w + layer.b[None, :]


def generate(g: Generator, z: jax.Array) -> jax.Array:
    """``G(z)``: ``[B, 784]`` pixel values in ``(0, 1)``."""
    return jax.nn.sigmoid(_affine(relu(_affine(z, g.hidden)), g.out))


def discriminate(d: Discriminator, x: jax.Array) -> jax.Array:
    """The logit ``a`` of ``D(x) = sigmoid(a)``, ``[B]``."""
    return _affine(jnp.tanh(_affine(x, d.hidden)), d.out)[:, 0]


# ----------------------------------------------------------------------------- the losses


def discriminator_loss(d: Discriminator, fake: jax.Array, real: jax.Array) -> jax.Array:
    """``-mean log D(real) - mean log(1 - D(fake))`` = ``mean softplus(-a_real) +
    mean softplus(a_fake)``: ``D``'s side of the game, for fixed samples of ``G``."""
    return jnp.mean(jax.nn.softplus(-discriminate(d, real))) + jnp.mean(
        jax.nn.softplus(discriminate(d, fake))
    )


def generator_loss(g: Generator, d: Discriminator, z: jax.Array, kind: GeneratorLoss) -> jax.Array:
    """``G``'s side for a fixed ``D``, with ``a = D``'s logit at ``G(z)``:

    - ``minimax``: ``mean log(1 - D(G(z))) = -mean softplus(a)`` (the value function);
    - ``non_saturating``: ``-mean log D(G(z)) = mean softplus(-a)`` (the paper's advice).
    """
    a = discriminate(d, generate(g, z))
    if kind == "minimax":
        return -jnp.mean(jax.nn.softplus(a))
    return jnp.mean(jax.nn.softplus(-a))


def _d_backward(d: Discriminator, x: jax.Array, da: jax.Array):
    """Back through ``D`` from ``dL/da [B]``: ``(grads of D, dL/dx [B, 784])``."""
    u = jnp.tanh(_affine(x, d.hidden))
    d_out = Dense(u.T @ da[:, None], jnp.sum(da, keepdims=True))
    du = da[:, None] @ d.out.w.T  # [B, H]
    dpre = du * (1 - u * u)  # tanh' = 1 - tanh**2
    d_hidden = Dense(x.T @ dpre, jnp.sum(dpre, axis=0))
    return Discriminator(d_hidden, d_out), dpre @ d.hidden.w.T


def discriminator_loss_grad(d: Discriminator, fake: jax.Array, real: jax.Array) -> Discriminator:
    """Gradient of :func:`discriminator_loss` with respect to ``D``'s parameters, by hand.

    With ``s = sigmoid``, ``d softplus(a) / da = s(a)``: on real digits
    ``dL/da = -s(-a) / B`` (push ``D(real)`` up), on fakes ``dL/da = s(a) / B`` (push
    ``D(fake)`` down); both then flow back through ``D``'s two layers.
    """
    a_real, a_fake = discriminate(d, real), discriminate(d, fake)
    g_real, _ = _d_backward(d, real, -jax.nn.sigmoid(-a_real) / real.shape[0])
    g_fake, _ = _d_backward(d, fake, jax.nn.sigmoid(a_fake) / fake.shape[0])
    return jax.tree.map(jnp.add, g_real, g_fake)


def generator_loss_grad(
    g: Generator, d: Discriminator, z: jax.Array, kind: GeneratorLoss
) -> Generator:
    """Gradient of :func:`generator_loss` with respect to ``G``'s parameters, by hand, through
    ``D`` (held fixed) into ``G``.

    At ``D``'s logit ``a``: ``minimax`` has ``dL/da = -s(a) / B``, which vanishes where ``D``
    rejects the sample (``a << 0``, early in training); ``non_saturating`` has
    ``dL/da = -s(-a) / B``, close to ``-1 / B`` there. Then back through ``D`` to the pixels
    ``x = G(z)``, through ``G``'s sigmoid (``x (1 - x)``), its output layer, its ReLU (``h > 0``)
    and its hidden layer.
    """
    pre_h = _affine(z, g.hidden)
    h = relu(pre_h)
    x = jax.nn.sigmoid(_affine(h, g.out))
    a = discriminate(d, x)
    b = z.shape[0]
    da = -jax.nn.sigmoid(a) / b if kind == "minimax" else -jax.nn.sigmoid(-a) / b
    _, dx = _d_backward(d, x, da)
    dpre_x = dx * x * (1 - x)
    d_out = Dense(h.T @ dpre_x, jnp.sum(dpre_x, axis=0))
    dpre_h = (dpre_x @ g.out.w.T) * (pre_h > 0)
    return Generator(Dense(z.T @ dpre_h, jnp.sum(dpre_h, axis=0)), d_out)


#: The losses whose gradients are the hand backward passes (``custom_vjp``); the data
#: arguments (the other player, the samples) get zero cotangents: each player's step holds the
#: other fixed.
discriminator_loss_hand = with_gradient(discriminator_loss, discriminator_loss_grad)
GENERATOR_LOSSES_HAND = {
    kind: with_gradient(
        functools.partial(generator_loss, kind=kind),
        functools.partial(generator_loss_grad, kind=kind),
    )
    for kind in ("non_saturating", "minimax")
}


class Batch(NamedTuple):
    """Real digits and the noise for the fakes."""

    real: jax.Array  # [B, 784]
    z: jax.Array  # [B, Z]


class Losses(NamedTuple):
    """Both players' losses at a step."""

    d: jax.Array  # []
    g: jax.Array  # []


@functools.cache
def game_loss(kind: GeneratorLoss):
    """``loss(gan, batch)``: ``D``'s loss (``G``'s samples held fixed) plus ``G``'s (``D`` held
    fixed), each through its hand backward. Its gradient holds both players' gradients; the
    optimizer :func:`alternate` applies ``D``'s at even steps and ``G``'s at odd ones."""
    g_loss_hand = GENERATOR_LOSSES_HAND[kind]

    def loss(params: GAN, batch: Batch):
        fake = jax.lax.stop_gradient(generate(params.g, batch.z))
        l_d = discriminator_loss_hand(params.d, fake, batch.real)
        l_g = g_loss_hand(params.g, params.d, batch.z)
        return l_d + l_g, Losses(l_d, l_g)

    return loss


class AlternateState(NamedTuple):
    """State of :func:`alternate`."""

    count: jax.Array  # [] int32: even steps move D, odd steps G
    d: optax.OptState
    g: optax.OptState


def alternate(
    d_opt: optax.GradientTransformation, g_opt: optax.GradientTransformation
) -> optax.GradientTransformation:
    """Algorithm 1 with ``k = 1``: an update of ``D`` by ``d_opt``, then one of ``G`` by
    ``g_opt``, in turn; the resting player's parameters and optimizer state stay as they are."""

    def init_fn(params: GAN):
        return AlternateState(jnp.zeros([], jnp.int32), d_opt.init(params.d), g_opt.init(params.g))

    def update_fn(grads: GAN, state: AlternateState, params: GAN):
        def d_step():
            u, s = d_opt.update(grads.d, state.d, params.d)
            return GAN(jax.tree.map(jnp.zeros_like, grads.g), u), s, state.g

        def g_step():
            u, s = g_opt.update(grads.g, state.g, params.g)
            return GAN(u, jax.tree.map(jnp.zeros_like, grads.d)), state.d, s

        updates, s_d, s_g = jax.lax.cond(state.count % 2 == 0, d_step, g_step)
        return updates, AlternateState(state.count + 1, s_d, s_g)

    return optax.GradientTransformation(init_fn, update_fn)


@functools.cache
def optimizer(learning_rate: float = LEARNING_RATE, b1: float = B1):
    """Adam for each player, alternating."""
    return alternate(optax.adam(learning_rate, b1), optax.adam(learning_rate, b1))


@functools.cache
def _with_noise(next_batch, latent: int):
    def next_with_noise(state):
        inner, key = state
        inner, real = next_batch(inner)
        key, k = jax.random.split(key)
        return (inner, key), Batch(
            real, jax.random.uniform(k, (real.shape[0], latent), real.dtype, -1.0, 1.0)
        )

    return next_with_noise


def noise(key: jax.Array, n: int, latent: int = LATENT, dtype=jnp.float32) -> jax.Array:
    """``n`` noise vectors, uniform on ``[-1, 1]`` (the paper's generator drew uniform noise)."""
    return jax.random.uniform(key, (n, latent), dtype, -1.0, 1.0)


# ------------------------------------------------------------------------- the measures


def parzen_log_likelihoods(
    samples: jax.Array, x: jax.Array, sigmas: tuple[float, ...], chunk: int = 500
) -> np.ndarray:
    """Log-likelihood of every row of ``x [N, D]`` under a Gaussian Parzen window on
    ``samples [S, D]``, for each of ``sigmas``: ``[len(sigmas), N]``, where

    ``log p(x) = logsumexp_i(-|x - s_i|**2 / (2 sigma**2)) - log S - D/2 log(2 pi sigma**2)``.

    The squared distances are computed once (in chunks of ``x``) for every ``sigma``.
    """
    samples, x = jnp.asarray(samples), jnp.asarray(x)
    s = jnp.asarray(sigmas, samples.dtype)
    parts = [np.asarray(_parzen(samples, x[i : i + chunk], s)) for i in range(0, len(x), chunk)]
    return np.concatenate(parts, axis=1)


def parzen_log_likelihood(samples: jax.Array, x: jax.Array, sigma: float) -> tuple[float, float]:
    """The mean log-likelihood of ``x`` under the window of ``sigma``, and its standard error
    (as the paper's Table 1 reports it)."""
    values = parzen_log_likelihoods(samples, x, (sigma,))[0]
    return float(values.mean()), float(values.std() / math.sqrt(len(values)))


@jax.jit
def _parzen(samples, x, sigmas):
    d2 = (
        jnp.sum(x * x, axis=1)[:, None]
        - 2 * x @ samples.T
        + jnp.sum(samples * samples, axis=1)[None, :]
    )
    n, dim = samples.shape

    def one(sigma):
        return (
            jax.nn.logsumexp(-d2 / (2 * sigma**2), axis=1)
            - math.log(n)
            - 0.5 * dim * jnp.log(2 * math.pi * sigma**2)
        )

    return jax.lax.map(one, sigmas)


def choose_sigma(samples: jax.Array, validation: jax.Array) -> tuple[float, dict]:
    """The ``sigma`` of :data:`SIGMAS` with the best validation log-likelihood (as the paper)."""
    values = parzen_log_likelihoods(samples, validation, SIGMAS).mean(axis=1)
    scores = {s: float(v) for s, v in zip(SIGMAS, values, strict=True)}
    return max(scores, key=scores.get), scores


class Classifier(NamedTuple):
    """Softmax regression that reads the class of a digit (for the samples' histogram)."""

    w: jax.Array  # [784, 10]
    b: jax.Array  # [10]


def _classifier_loss(c: Classifier, batch):
    x, y = batch
    logits = _affine(x, Dense(c.w, c.b))
    return jnp.mean(
        jax.nn.logsumexp(logits, axis=1) - jnp.take_along_axis(logits, y[:, None], 1)[:, 0]
    )


def train_classifier(x: jax.Array, y: jax.Array, *, key: jax.Array) -> Classifier:
    """Softmax regression on the training digits (500 Adam steps of 128; about 90% right on
    the test digits)."""
    c = Classifier(jnp.zeros((784, 10), x.dtype), jnp.zeros((10,), x.dtype))
    run = trainer.train(
        _classifier_loss,
        c,
        _classifier_opt(),
        trainer.sampled((x, y), batch_size=128, key=key),
        steps=500,
    )
    return run.state.params


@functools.cache
def _classifier_opt():
    return optax.adam(0.01)


def classify(c: Classifier, x: jax.Array) -> np.ndarray:
    """The class of every digit of ``x``."""
    return np.asarray(jnp.argmax(_affine(x, Dense(c.w, c.b)), axis=1))


def nearest(x: jax.Array, train: jax.Array) -> np.ndarray:
    """The index of the training digit nearest to each row of ``x`` (Euclidean)."""
    d2 = jnp.sum(train * train, axis=1)[None, :] - 2 * x @ train.T
    return np.asarray(jnp.argmin(d2, axis=1))


def gradient_at_the_start(params: GAN, d: Discriminator, *, key: jax.Array) -> dict:
    """``|dL_G/dtheta_G|`` of both generator losses at ``G``'s initial parameters against a
    trained ``D`` (which rejects those samples): the minimax loss's gradient nearly vanishes."""
    z = noise(key, 256, params.g.hidden.w.shape[0], params.g.hidden.w.dtype)
    out = {}
    for kind in ("minimax", "non_saturating"):
        grads = generator_loss_grad(params.g, d, z, kind)
        out[kind] = float(optax.tree.norm(grads))
    out["mean_D_of_fakes"] = float(jnp.mean(jax.nn.sigmoid(discriminate(d, generate(params.g, z)))))
    return out


# --------------------------------------------------------------------------- the chapter


def load(data: str) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Training digits (less :data:`VALIDATION` held out), their labels, validation and test
    digits, all ``[N, 784]`` float32 in [0, 1]."""
    train, test = flattened(data, jnp.float32)
    x = train.images
    return (x[VALIDATION:], train.labels[VALIDATION:], x[:VALIDATION], test.images)


@dataclasses.dataclass(frozen=True)
class Config:
    """An MLP GAN on the shipped MNIST sample (``--paper``: longer, 10,000 Parzen samples)."""

    steps: int = dataclasses.field(
        default=STEPS_DEFAULT,
        metadata={"bounds": STEPS, "help": "optimizer steps, D and G in turn"},
    )
    hidden: int = dataclasses.field(
        default=HIDDEN, metadata={"bounds": WIDTH, "help": "hidden units of G and of D"}
    )
    generator_loss: GeneratorLoss = dataclasses.field(
        default="non_saturating",
        metadata={"help": "G's loss: the paper's advice or the value function itself"},
    )
    samples: int = dataclasses.field(
        default=2000,
        metadata={"bounds": (10, 100_000), "help": "samples of the Parzen window (paper: 10000)"},
    )
    data: str = dataclasses.field(
        default="sample",
        metadata={"help": "sample (the shipped 8000/2000 digits) or a directory of IDX files"},
    )
    paper: bool = dataclasses.field(
        default=False,
        metadata={"help": f"{PAPER_STEPS} steps and 10000 Parzen samples (minutes)"},
    )
    seed: int = dataclasses.field(default=0, metadata={"bounds": SEED, "help": "PRNG seed"})

    def __post_init__(self):
        check_limits(self)
        if self.steps < 2:
            raise ValueError(f"steps must be at least 2 (one of D, one of G), got {self.steps}")

    def plan(self) -> tuple[int, int]:
        """``(steps, Parzen samples)``: the paper's with ``paper``."""
        if self.paper:
            return (PAPER_STEPS if self.steps == STEPS_DEFAULT else self.steps), 10_000
        return self.steps, self.samples


def gradient_checks(*, key: jax.Array) -> list[GradCheck]:
    """Both generator losses and the discriminator's: the hand backward (and its custom_vjp)
    vs ``jax.grad`` vs finite differences (float64; 6 hidden units, a latent of 3)."""
    k_net, k_z, k_x = jax.random.split(key, 3)
    dtype = jnp.result_type(float)
    net = init_gan(k_net, hidden=6, latent=3, dtype=dtype)
    net = jax.tree.map(lambda p: p + 0.05, net)  # off ReLU's kink at a zero bias
    z = noise(k_z, 4, 3, dtype)
    real = jax.random.uniform(k_x, (4, 784), dtype)
    fake = generate(net.g, z)
    checks = [
        check_gradient(
            "gan: discriminator_loss_grad",
            lambda d: discriminator_loss(d, fake, real),
            lambda d: discriminator_loss_grad(d, fake, real),
            net.d,
        ),
        check_gradient(
            "gan: discriminator loss custom_vjp",
            lambda d: discriminator_loss(d, fake, real),
            jax.grad(lambda d: discriminator_loss_hand(d, fake, real)),
            net.d,
        ),
    ]
    for kind in ("non_saturating", "minimax"):
        checks.append(
            check_gradient(
                f"gan: generator_loss_grad ({kind}), through D",
                lambda g, kind=kind: generator_loss(g, net.d, z, kind),
                lambda g, kind=kind: generator_loss_grad(g, net.d, z, kind),
                net.g,
            )
        )
        checks.append(
            check_gradient(
                f"gan: generator loss ({kind}) custom_vjp",
                lambda g, kind=kind: generator_loss(g, net.d, z, kind),
                jax.grad(lambda g, kind=kind: GENERATOR_LOSSES_HAND[kind](g, net.d, z)),
                net.g,
            )
        )
    return checks


def train_gan(
    start: GAN,
    train: jax.Array,
    *,
    steps: int,
    key: jax.Array,
    kind: GeneratorLoss = "non_saturating",
    learning_rate: float = LEARNING_RATE,
    chunk_steps: int | None = None,
    hooks=(),
    progress: bool = False,
) -> trainer.Trained:
    """Algorithm 1 through the shared trainer: ``steps`` steps, ``D`` and ``G`` in turn, on
    random batches of :data:`BATCH` real digits and as many noise vectors."""
    k_feed, k_noise = jax.random.split(key)
    inner = trainer.sampled(train, batch_size=BATCH, key=k_feed)
    latent = start.g.hidden.w.shape[0]
    feed = trainer.Feed((inner.state, k_noise), _with_noise(inner.next, latent))
    return trainer.train(
        game_loss(kind),
        start,
        optimizer(learning_rate),
        feed,
        steps=steps,
        has_aux=True,
        chunk_steps=chunk_steps,
        progress=trainer.Progress("GAN") if progress else None,
        hooks=hooks,
    )


def run(config: Config = Config()) -> Report:
    """Train the GAN; samples over training, the Parzen estimate, the class histogram."""
    steps, n_samples = config.plan()
    train, labels, validation, test = load(config.data)
    key = jax.random.key(config.seed)
    k_init, k_train, k_grid, k_parzen, k_cls, k_start = jax.random.split(key, 6)
    start = init_gan(k_init, config.hidden)
    grid_z = noise(k_grid, 10)
    snapshots = []  # the same 10 noise vectors, decoded along training

    def snapshot(state, _, done):
        snapshots.append((done, np.asarray(generate(state.params.g, grid_z))))

    run_ = train_gan(
        start,
        train,
        steps=steps,
        key=k_train,
        kind=config.generator_loss,
        chunk_steps=max(2, (steps // 4) // 2 * 2),
        hooks=[snapshot],
        progress=config.paper,
    )
    final = run_.state.params
    last = generate(final.g, grid_z)  # the last row of samples, beside their nearest digits
    samples = generate(final.g, noise(k_parzen, n_samples))
    parzen, sigma_scores = _parzen_beside_paper(samples, validation, test, n_samples)
    classifier = train_classifier(train, labels, key=k_cls)
    histogram = np.bincount(classify(classifier, samples), minlength=10)
    start_grads = gradient_at_the_start(start, final.d, key=k_start)
    aux = run_.aux
    result = {
        "steps": steps,
        "train_size": int(train.shape[0]),
        "final_losses": {"d": float(aux.d[-1]), "g": float(aux.g[-1])},
        "parzen": parzen,
        "class_histogram": histogram.tolist(),
        "generator_gradient_at_start": start_grads,
    }
    return Report(
        milestone="gan",
        config=config,
        result=result,
        checks=[],
        headline=(
            f"Parzen log-likelihood {parzen['ours']:.0f} +- {parzen['ours_standard_error']:.0f} "
            "nats (paper 225 +- 2), "
            f"sample classes {histogram.min()}-{histogram.max()} of {n_samples}"
        ),
        plot_data={
            "snapshots": snapshots,
            "neighbours": np.asarray(train[nearest(last, train)]),
            "losses": aux,
            "histogram": histogram,
            "sigma_scores": sigma_scores,
        },
    )


def _parzen_beside_paper(samples, validation, test, n_samples: int) -> tuple[dict, object]:
    """The Parzen-window log-likelihood of the test digits under the samples, its bandwidth
    chosen on the validation digits, beside the paper's; and every bandwidth's score."""
    sigma, sigma_scores = choose_sigma(samples, validation)
    parzen, parzen_se = parzen_log_likelihood(samples, test, sigma)
    return {
        "ours": parzen,
        "ours_standard_error": parzen_se,
        "sigma": sigma,
        "samples": n_samples,
        "paper": PAPER_PARZEN[0],
        "paper_standard_error": PAPER_PARZEN[1],
    }, sigma_scores


def plot(report: Report):
    """Samples of the same noise over training (rows), the last with the nearest training digit
    beside each (the paper's Figure 2, rightmost column), and the class histogram."""
    from jaxdl.plotting import COLUMN_WIDTH, new_figure

    data = report.plot_data
    fig, (ax_s, ax_h) = new_figure(2, size=(COLUMN_WIDTH, 3.4))
    rows = [np.concatenate(list(x.reshape(-1, 28, 28)), axis=1) for _, x in data["snapshots"]]
    rows.append(np.concatenate(list(data["neighbours"].reshape(-1, 28, 28)), axis=1))
    ax_s.imshow(np.concatenate(rows, axis=0), cmap="gray")
    ax_s.set_title("samples over training; last: nearest training digit", fontsize=9)
    ax_s.set_yticks([14 + 28 * i for i in range(len(rows))])
    ax_s.set_yticklabels([str(s) for s, _ in data["snapshots"]] + ["nearest"], fontsize=7)
    ax_s.set_xticks([])
    ax_h.bar(range(10), data["histogram"], color="tab:blue")
    ax_h.axhline(data["histogram"].sum() / 10, ls=":", color="0.4", label="uniform")
    ax_h.set(xlabel="class read by a classifier", ylabel="samples", title="modes")
    ax_h.set_xticks(range(10))
    ax_h.legend(fontsize=8)
    return fig
