"""Auto-Encoding Variational Bayes (Diederik Kingma & Max Welling, 2013).

A generative model ``p(x | z) p(z)`` with a latent code ``z ~ N(0, I)`` and a neural decoder
cannot be fitted by maximum likelihood directly: ``log p(x)`` integrates over every ``z``. The
paper trains an *encoder* ``q(z | x) = N(mu(x), diag(sigma(x)**2))`` beside the decoder and
maximises the evidence lower bound (ELBO) of every training digit::

    log p(x) >= E_q[log p(x | z)] - KL(q(z | x) || p(z))

Two tricks make the bound trainable by gradient descent, and both have their backward pass by
hand here, each a ``jax.custom_vjp`` rule proven against ``jax.grad`` in float64:

- :func:`reparameterize`: ``z = mu + sigma * eps`` with ``eps ~ N(0, I)`` drawn outside the
  model, so the sample is a differentiable function of ``mu`` and ``log sigma**2``
  (:func:`reparameterize_backward`);
- :func:`gaussian_kl`: the KL term in closed form,
  ``-1/2 sum(1 + log sigma**2 - mu**2 - sigma**2)`` (:func:`gaussian_kl_backward`);

and the Bernoulli decoder's negative log-likelihood :func:`bernoulli_nll` (the
cross-entropy of the pixels against the decoder's logits) with :func:`bernoulli_nll_backward`.

**The paper's experiments** (section 5). MNIST binarised; encoder and decoder each one hidden
layer of tanh units (500 in the paper), a Bernoulli decoder, mini-batches of 100, one sample
of ``eps`` per digit. Figure 2 plots the lower bound against the number of training examples
seen, on the training and test sets, for latent sizes 3, 5, 10, 20 and 200; Figure 4 draws the
learned two-dimensional manifold: the decoder's mean at a grid of ``z`` through the inverse
Gaussian CDF. The paper prints no table for Figure 2, only its curves.

What this chapter chooses: :data:`HIDDEN` tanh units, weights from ``N(0, 1 / fan_in)`` (the
paper's ``N(0, 0.01)`` trains slowly at this length), digits binarised at 0.5, Adam at
:data:`LEARNING_RATE` (the paper: AdaGrad). The default run is a miniature on the shipped
8000 training digits, latent sizes (2, 10); ``--paper`` runs 500 hidden units, latent sizes 3, 5,
10 and 20 and a 2-D model for the manifold, longer (minutes).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.typing import ArrayLike

from jaxdl.backward import AUTODIFF, HAND, Ops
from jaxdl.gradcheck import GradCheck, check_gradient, normal_draws, vjp_checks
from jaxdl.milestones import Milestone
from jaxdl.report import Report
from jaxdl.training import trainer
from jaxdl.validate import EPOCHS, SEED, WIDTH, check_limits

MILESTONE = Milestone(
    "vae",
    2013,
    "Kingma & Welling",
    "variational autoencoder: reparameterisation and the KL term by hand; the bound and manifold",
    month=12,
)

#: Mini-batch size and examples seen per sample of ``eps`` (the paper's ``M = 100``, ``L = 1``).
BATCH = 100
HIDDEN = 200
PAPER_HIDDEN = 500
LEARNING_RATE = 1e-3
LATENTS = (2, 10)
PAPER_LATENTS = (2, 3, 5, 10, 20)
#: Default passes over the training digits, and with ``--paper``.
PASSES = 12
PAPER_PASSES = 100
#: The manifold's grid side (the paper's Figure 4 shows 20 x 20 at its largest).
GRID = 15


# ------------------------------------------------------------------- the hand-derived pieces


def reparameterize(mu: ArrayLike, logvar: ArrayLike, eps: ArrayLike) -> jax.Array:
    """``z = mu + exp(logvar / 2) * eps``: a draw of ``N(mu, exp(logvar))`` from ``eps ~ N(0, 1)``.

    All three ``[B, Z]``.
    """
    mu, logvar, eps = jnp.asarray(mu), jnp.asarray(logvar), jnp.asarray(eps)
    if not mu.shape == logvar.shape == eps.shape:
        raise ValueError(
            f"reparameterize: mu {mu.shape}, logvar {logvar.shape} and eps {eps.shape} differ"
        )
    return mu + jnp.exp(0.5 * logvar) * eps


def reparameterize_backward(
    mu: ArrayLike, logvar: ArrayLike, eps: ArrayLike, g: ArrayLike
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Gradient of :func:`reparameterize` given ``g = dL/dz``, with ``sigma = exp(logvar / 2)``::

        dL/dmu = g          dL/dlogvar = g * eps * sigma / 2          dL/deps = g * sigma

    (``d sigma / d logvar = sigma / 2``). The sample moves with ``mu`` one for one, and with
    the standard deviation in the direction of its own noise.
    """
    logvar, eps, g = jnp.asarray(logvar), jnp.asarray(eps), jnp.asarray(g)
    sigma = jnp.exp(0.5 * logvar)
    return g, 0.5 * g * eps * sigma, g * sigma


@jax.custom_vjp
def reparameterize_hand(mu: jax.Array, logvar: jax.Array, eps: jax.Array) -> jax.Array:
    """:func:`reparameterize` whose gradient is :func:`reparameterize_backward`."""
    return reparameterize(mu, logvar, eps)


def _reparameterize_fwd(mu, logvar, eps):
    sigma = jnp.exp(0.5 * logvar)
    return mu + sigma * eps, (sigma, eps)


def _reparameterize_bwd(saved, g):
    sigma, eps = saved
    return g, 0.5 * g * eps * sigma, g * sigma


reparameterize_hand.defvjp(_reparameterize_fwd, _reparameterize_bwd)


def gaussian_kl(mu: ArrayLike, logvar: ArrayLike) -> jax.Array:
    """``KL(N(mu, exp(logvar)) || N(0, I))`` summed over the latent, averaged over the batch.

    Per example (the paper's appendix B): ``-1/2 sum_j (1 + logvar_j - mu_j**2 - exp(logvar_j))``.

    Args:
      mu, logvar: ``[B, Z]``.

    Returns:
      Scalar, in nats.
    """
    mu, logvar = jnp.asarray(mu), jnp.asarray(logvar)
    if mu.shape != logvar.shape or mu.ndim != 2:
        raise ValueError(f"gaussian_kl: mu {mu.shape} and logvar {logvar.shape} must be [B, Z]")
    return -0.5 * jnp.mean(jnp.sum(1 + logvar - mu * mu - jnp.exp(logvar), axis=1))


def gaussian_kl_backward(
    mu: ArrayLike, logvar: ArrayLike, g: ArrayLike
) -> tuple[jax.Array, jax.Array]:
    """Gradient of :func:`gaussian_kl` given ``g = dL/dKL`` (a scalar), ``B`` the batch::

        dKL/dmu = mu / B          dKL/dlogvar = (exp(logvar) - 1) / (2 B)

    The KL pulls every mean towards 0 and every variance towards 1 (where ``exp(logvar) = 1``).
    """
    mu, logvar = jnp.asarray(mu), jnp.asarray(logvar)
    b = mu.shape[0]
    return g * mu / b, g * 0.5 * (jnp.exp(logvar) - 1) / b


@jax.custom_vjp
def gaussian_kl_hand(mu: jax.Array, logvar: jax.Array) -> jax.Array:
    """:func:`gaussian_kl` whose gradient is :func:`gaussian_kl_backward`."""
    return gaussian_kl(mu, logvar)


gaussian_kl_hand.defvjp(
    lambda mu, logvar: (gaussian_kl(mu, logvar), (mu, logvar)),
    lambda saved, g: gaussian_kl_backward(*saved, g),
)


def bernoulli_nll(logits: ArrayLike, x: ArrayLike) -> jax.Array:
    """``-log p(x | z)`` of a Bernoulli decoder, summed over pixels, averaged over the batch.

    Per pixel ``-(x log s + (1 - x) log(1 - s))`` with ``s = sigmoid(logits)``, written stably as
    ``softplus(logits) - x * logits``.

    Args:
      logits: ``[B, D]``, the decoder's outputs before the sigmoid.
      x: ``[B, D]``, the pixels in ``[0, 1]`` (``{0, 1}`` when binarised).
    """
    logits, x = jnp.asarray(logits), jnp.asarray(x)
    if logits.shape != x.shape:
        raise ValueError(f"bernoulli_nll: logits {logits.shape} and x {x.shape} differ")
    return jnp.mean(jnp.sum(jax.nn.softplus(logits) - x * logits, axis=1))


def bernoulli_nll_backward(
    logits: ArrayLike, x: ArrayLike, g: ArrayLike
) -> tuple[jax.Array, jax.Array]:
    """Gradient of :func:`bernoulli_nll` given ``g`` (a scalar), ``B`` the batch::

        d/dlogits = (sigmoid(logits) - x) / B          d/dx = -logits / B

    (``d softplus(l) / dl = sigmoid(l)``): each pixel's error, its probability less its value.
    """
    logits, x = jnp.asarray(logits), jnp.asarray(x)
    b = logits.shape[0]
    return g * (jax.nn.sigmoid(logits) - x) / b, -g * logits / b


@jax.custom_vjp
def bernoulli_nll_hand(logits: jax.Array, x: jax.Array) -> jax.Array:
    """:func:`bernoulli_nll` whose gradient is :func:`bernoulli_nll_backward`."""
    return bernoulli_nll(logits, x)


bernoulli_nll_hand.defvjp(
    lambda logits, x: (bernoulli_nll(logits, x), (logits, x)),
    lambda saved, g: bernoulli_nll_backward(*saved, g),
)


class Pieces(NamedTuple):
    """The chapter's three ops with one choice of backward pass (and ``nn``'s dense layer)."""

    ops: Ops
    reparameterize: Callable
    gaussian_kl: Callable
    bernoulli_nll: Callable


PIECES = {
    "hand": Pieces(HAND, reparameterize_hand, gaussian_kl_hand, bernoulli_nll_hand),
    "autodiff": Pieces(AUTODIFF, reparameterize, gaussian_kl, bernoulli_nll),
}


# ---------------------------------------------------------------------------- the model


class Dense(NamedTuple):
    """One affine layer."""

    w: jax.Array  # [F_in, F_out]
    b: jax.Array  # [F_out]


class VAE(NamedTuple):
    """Encoder ``x -> tanh -> (mu, logvar)`` and decoder ``z -> tanh -> logits``."""

    enc_hidden: Dense  # [784, H]
    enc_mu: Dense  # [H, Z]
    enc_logvar: Dense  # [H, Z]
    dec_hidden: Dense  # [Z, H]
    dec_out: Dense  # [H, 784]


def init_vae(key: jax.Array, latent: int, hidden: int = HIDDEN, dtype=jnp.float32) -> VAE:
    """Weights ``N(0, 1 / fan_in)``, zero biases."""
    shapes = ((784, hidden), (hidden, latent), (hidden, latent), (latent, hidden), (hidden, 784))
    keys = jax.random.split(key, len(shapes))
    layers = [
        Dense(jax.random.normal(k, s, dtype) / math.sqrt(s[0]), jnp.zeros(s[1:], dtype))
        for k, s in zip(keys, shapes, strict=True)
    ]
    return VAE(*layers)


def encode(params: VAE, x: jax.Array, ops: Ops = AUTODIFF) -> tuple[jax.Array, jax.Array]:
    """``q(z | x)``: its mean and log-variance, each ``[B, Z]``."""
    h = jnp.tanh(ops.dense(x, *params.enc_hidden))
    return ops.dense(h, *params.enc_mu), ops.dense(h, *params.enc_logvar)


def decode(params: VAE, z: jax.Array, ops: Ops = AUTODIFF) -> jax.Array:
    """The decoder's logits ``[B, 784]`` at ``z [B, Z]`` (``sigmoid`` of them: pixel means)."""
    return ops.dense(jnp.tanh(ops.dense(z, *params.dec_hidden)), *params.dec_out)


class NoisyBatch(NamedTuple):
    """Binarised digits and the key of their ``eps``."""

    x: jax.Array  # [B, 784] in {0, 1}
    key: jax.Array  # [] PRNG key for eps


class Terms(NamedTuple):
    """The two terms of the negative ELBO, per example (batch means)."""

    reconstruction: jax.Array  # [] -E_q log p(x | z), one sample
    kl: jax.Array  # [] KL(q(z | x) || p(z))


def negative_elbo(
    params: VAE, batch: NoisyBatch, backward: str = "hand"
) -> tuple[jax.Array, Terms]:
    """``-ELBO`` per example (one draw of ``eps`` per digit) and its two terms."""
    p = PIECES[backward]
    mu, logvar = encode(params, batch.x, p.ops)
    eps = jax.random.normal(batch.key, mu.shape, mu.dtype)
    z = p.reparameterize(mu, logvar, eps)
    rec = p.bernoulli_nll(decode(params, z, p.ops), batch.x)
    kl = p.gaussian_kl(mu, logvar)
    return rec + kl, Terms(rec, kl)


def loss_hand(params: VAE, batch: NoisyBatch) -> tuple[jax.Array, Terms]:
    """:func:`negative_elbo` through the hand rules (what trains)."""
    return negative_elbo(params, batch, "hand")


def loss_autodiff(params: VAE, batch: NoisyBatch) -> tuple[jax.Array, Terms]:
    """:func:`negative_elbo` through the pure forwards (``jax.grad``'s reference)."""
    return negative_elbo(params, batch, "autodiff")


@jax.jit
def bound(params: VAE, x: jax.Array, key: jax.Array) -> tuple[jax.Array, Terms]:
    """The ELBO per example over all of ``x [N, 784]`` (one ``eps`` per digit), and its terms."""
    value, terms = negative_elbo(params, NoisyBatch(x, key), "autodiff")
    return -value, terms


def binarize(images: np.ndarray) -> np.ndarray:
    """uint8 ``[N, 28, 28]`` -> float32 ``[N, 784]`` in ``{0, 1}`` (pixels above half)."""
    return (np.asarray(images).reshape(len(images), -1) > 127).astype(np.float32)


def load(data: str) -> tuple[jax.Array, jax.Array]:
    """Binarised training and test digits of ``data`` (``sample`` or a directory)."""
    from jaxdl.data import mnist

    train, test = mnist("train", data), mnist("test", data)
    return jnp.asarray(binarize(train.images)), jnp.asarray(binarize(test.images))


@functools.cache
def _with_noise_key(next_batch: Callable) -> Callable:
    def next_with_key(state):
        inner, key = state
        inner, x = next_batch(inner)
        key, k = jax.random.split(key)
        return (inner, key), NoisyBatch(x, k)

    return next_with_key


@functools.cache
def _adam(learning_rate: float) -> optax.GradientTransformation:
    return optax.adam(learning_rate)


class Curve(NamedTuple):
    """One latent size's run (Figure 2)."""

    latent: int
    examples: np.ndarray  # [E] training examples seen at each evaluation
    train_bound: np.ndarray  # [E] ELBO per digit on the training set
    test_bound: np.ndarray  # [E] ELBO per digit on the test set
    test_kl: float  # the final KL term on the test set
    params: VAE


def train_vae(
    latent: int,
    train: jax.Array,
    test: jax.Array,
    *,
    hidden: int,
    passes: int,
    key: jax.Array,
    evaluations: int = 6,
    progress: bool = False,
) -> Curve:
    """Train one VAE on ``passes`` worth of random batches of 100, measuring both bounds
    ``evaluations`` times (and at the start)."""
    k_init, k_feed, k_noise, k_eval = jax.random.split(key, 4)
    per_pass = train.shape[0] // BATCH
    steps = passes * per_pass
    chunk = max(1, steps // evaluations)
    inner = trainer.sampled(train, batch_size=BATCH, key=k_feed)
    feed = trainer.Feed((inner.state, k_noise), _with_noise_key(inner.next))
    records = []

    def measure(params: VAE, done: int) -> None:
        train_b, _ = bound(params, train, k_eval)
        test_b, terms = bound(params, test, k_eval)
        records.append((done * BATCH, float(train_b), float(test_b), float(terms.kl)))

    params = init_vae(k_init, latent, hidden)
    measure(params, 0)
    run = trainer.train(
        loss_hand,
        params,
        _adam(LEARNING_RATE),
        feed,
        steps=steps,
        has_aux=True,
        chunk_steps=chunk,
        progress=trainer.Progress(f"VAE, {latent}-d latent") if progress else None,
        hooks=[lambda state, _, done: measure(state.params, done)],
    )
    r = np.asarray(records)
    return Curve(latent, r[:, 0].astype(int), r[:, 1], r[:, 2], float(r[-1, 3]), run.state.params)


def manifold(params: VAE, grid: int = GRID) -> np.ndarray:
    """Figure 4: the decoder's mean image at ``z`` on a ``grid x grid`` lattice of the unit
    square mapped through the inverse Gaussian CDF; ``[grid * 28, grid * 28]`` in [0, 1]."""
    if params.enc_mu.w.shape[1] != 2:
        raise ValueError("the manifold needs a 2-dimensional latent space")
    u = jnp.linspace(0.05, 0.95, grid)
    z1, z2 = jnp.meshgrid(jax.scipy.stats.norm.ppf(u), -jax.scipy.stats.norm.ppf(u))
    z = jnp.stack([z1.ravel(), z2.ravel()], axis=1).astype(params.enc_mu.w.dtype)
    images = np.asarray(jax.nn.sigmoid(decode(params, z))).reshape(grid, grid, 28, 28)
    return images.transpose(0, 2, 1, 3).reshape(grid * 28, grid * 28)


def reconstructions(params: VAE, x: jax.Array) -> np.ndarray:
    """Each digit of ``x [N, 784]`` and the decoder's mean at its encoder's mean:
    ``[2, N, 28, 28]``."""
    mu, _ = encode(params, x)
    rec = jax.nn.sigmoid(decode(params, mu))
    return np.stack([np.asarray(x), np.asarray(rec)]).reshape(2, -1, 28, 28)


def active_units(params: VAE, x: jax.Array, threshold: float = 0.01) -> np.ndarray:
    """The KL of each latent coordinate averaged over ``x`` ``[Z]``; units above ``threshold``
    nats are *active* (the rest the decoder ignores: their posterior is the prior)."""
    mu, logvar = encode(params, x)
    per_unit = -0.5 * jnp.mean(1 + logvar - mu * mu - jnp.exp(logvar), axis=0)
    return np.asarray(per_unit)


# --------------------------------------------------------------------------- the chapter


@dataclasses.dataclass(frozen=True)
class Config:
    """Figure 2 and Figure 4 in miniature on the shipped digits (``--paper``: bigger, longer)."""

    passes: int = dataclasses.field(
        default=PASSES, metadata={"bounds": EPOCHS, "help": "passes over the training digits"}
    )
    hidden: int = dataclasses.field(
        default=HIDDEN, metadata={"bounds": WIDTH, "help": "tanh units of encoder and decoder"}
    )
    data: str = dataclasses.field(
        default="sample",
        metadata={"help": "sample (the shipped 8000/2000 digits) or a directory of IDX files"},
    )
    paper: bool = dataclasses.field(
        default=False,
        metadata={
            "help": f"latent sizes {PAPER_LATENTS}, {PAPER_HIDDEN} hidden units, "
            f"{PAPER_PASSES} passes (minutes; a progress bar)"
        },
    )
    seed: int = dataclasses.field(default=0, metadata={"bounds": SEED, "help": "PRNG seed"})

    def __post_init__(self):
        check_limits(self)

    def plan(self) -> tuple[tuple[int, ...], int, int]:
        """``(latent sizes, hidden units, passes)`` of the run: the paper's with ``paper``
        (an explicit ``passes`` or ``hidden`` wins)."""
        if not self.paper:
            return LATENTS, self.hidden, self.passes
        hidden = PAPER_HIDDEN if self.hidden == HIDDEN else self.hidden
        passes = PAPER_PASSES if self.passes == PASSES else self.passes
        return PAPER_LATENTS, hidden, passes


def gradient_checks(*, key: jax.Array) -> list[GradCheck]:
    """The three hand rules (formula and ``custom_vjp``) and the whole ELBO through them vs
    ``jax.grad`` vs finite differences (float64; a VAE with 4 hidden units, 3 latents)."""
    k_draw, k_net, k_x, k_eps = jax.random.split(key, 4)
    normal = normal_draws(k_draw, pool=256)
    mu, logvar, eps, g = normal((4, 3)), normal((4, 3), 0.7), normal((4, 3)), normal((4, 3))
    logits, x = normal((3, 5), 2.0), jax.random.uniform(k_x, (3, 5), mu.dtype)
    checks = vjp_checks(
        "vae: reparameterize",
        reparameterize,
        reparameterize_backward,
        reparameterize_hand,
        (mu, logvar, eps),
        g,
    )
    one = jnp.ones([], mu.dtype)
    checks += vjp_checks(
        "vae: gaussian_kl", gaussian_kl, gaussian_kl_backward, gaussian_kl_hand, (mu, logvar), one
    )
    checks += vjp_checks(
        "vae: bernoulli_nll",
        bernoulli_nll,
        bernoulli_nll_backward,
        bernoulli_nll_hand,
        (logits, x),
        one,
    )
    net = init_vae(k_net, 3, 4, mu.dtype)
    batch = NoisyBatch((jax.random.uniform(k_x, (3, 784)) > 0.5).astype(mu.dtype), k_eps)
    checks.append(
        check_gradient(
            "vae: the ELBO through the hand rules, custom_vjp",
            lambda p: loss_autodiff(p, batch)[0],
            jax.jit(jax.grad(lambda p: loss_hand(p, batch)[0])),
            net,
        )
    )
    return checks


def run(config: Config = Config()) -> Report:
    """Train one VAE per latent size; Figure 2's bounds, Figure 4's manifold, reconstructions."""
    latents, hidden, passes = config.plan()
    train, test = load(config.data)
    key = jax.random.key(config.seed)
    curves = [
        train_vae(
            z,
            train,
            test,
            hidden=hidden,
            passes=passes,
            key=jax.random.fold_in(key, z),
            progress=config.paper,
        )
        for z in latents
    ]
    two_d = next(c for c in curves if c.latent == 2)
    widest = curves[-1]
    kl_per_unit = active_units(widest.params, test)
    result = {
        "train_size": int(train.shape[0]),
        "hidden": hidden,
        "passes": passes,
        "examples_seen": int(curves[0].examples[-1]),
        "figure_2": {
            str(c.latent): {
                "train_bound": float(c.train_bound[-1]),
                "test_bound": float(c.test_bound[-1]),
                "test_kl": c.test_kl,
            }
            for c in curves
        },
        "active_units": {
            "latent": widest.latent,
            "active": int(np.sum(kl_per_unit > 0.01)),
            "kl_per_unit": kl_per_unit,
        },
        "paper": "Figure 2 has no table: curves of the bound for 3 to 200 latent dimensions",
    }
    final = result["figure_2"]
    return Report(
        milestone="vae",
        config=config,
        result=result,
        checks=[],
        headline="test ELBO per digit after "
        f"{result['examples_seen']} examples: "
        + ", ".join(f"{z}-d {row['test_bound']:.1f}" for z, row in final.items())
        + " nats",
        plot_data={
            "curves": curves,
            "manifold": manifold(two_d.params),
            "reconstructions": reconstructions(widest.params, test[:8]),
        },
    )


def plot(report: Report):
    """Figure 2 (the bound against examples seen), Figure 4 (the 2-D manifold) and
    reconstructions of test digits by the widest latent."""
    from matplotlib.ticker import NullFormatter

    from jaxdl.plotting import COLUMN_WIDTH, new_figure

    data = report.plot_data
    fig, (ax_b, ax_m, ax_r) = new_figure(3, size=(COLUMN_WIDTH, 2.9))
    for i, c in enumerate(data["curves"]):  # from the first evaluation after step 0
        color = f"C{i}"
        ax_b.plot(c.examples[1:], c.train_bound[1:], "-", color=color, label=f"{c.latent}-d")
        ax_b.plot(c.examples[1:], c.test_bound[1:], "--", color=color)
    ax_b.set_xscale("log")
    ax_b.xaxis.set_minor_formatter(NullFormatter())  # 2x10^4, 3x10^4, ... would overlap
    ax_b.set(xlabel="training digits seen", ylabel="ELBO (nats)", title="Fig. 2: bound")
    ax_b.legend(fontsize=7, title="train -, test --", title_fontsize=7, loc="lower right")
    ax_m.imshow(data["manifold"], cmap="gray")
    ax_m.set(title="Fig. 4: 2-d manifold")
    ax_m.axis("off")
    rec = data["reconstructions"]
    ax_r.imshow(
        np.concatenate([np.concatenate(list(row), axis=0) for row in rec], axis=1), cmap="gray"
    )
    ax_r.set(title="digit | reconstruction")
    ax_r.axis("off")
    return fig
