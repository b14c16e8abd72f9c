"""Batch normalization (Sergey Ioffe & Christian Szegedy, 2015).

A deep net's layers chase moving targets: each layer's inputs change whenever the layers below
it are updated ("internal covariate shift"). Batch normalization fixes the first two moments of
every unit's input during training by normalising it over the mini-batch, then lets the net
scale and shift it back (:mod:`jaxdl.nn.batch_norm`, where the forward pass, the compact hand
backward and its ``custom_vjp`` rule live).

**The paper's experiment (section 4.1, Figure 1).** MNIST; three fully connected hidden layers of
100 sigmoid units, weights initialised to small random Gaussian values, a 10-way softmax with
cross-entropy, steps of 60 examples, trained with and without batch normalization after each
hidden layer's linear map (before its sigmoid). Figure 1(a) is test accuracy against steps;
1(b, c) the 15th, 50th and 85th percentiles of the input to one sigmoid of the last hidden layer
over training, without and with BN. Here both nets start from the same weights and see the same
batches; every ``eval_every`` steps the hook measures test accuracy (in evaluation mode: BN with
Algorithm 2's population statistics from ``stat_batches`` training batches) and the three
percentiles of unit 0 of the last hidden layer over the test digits.

What the paper leaves open and this chapter chooses: plain SGD with ``learning_rate``
(:data:`LEARNING_RATE`), the initial weights' standard deviation (:data:`INIT_STD`), and
``eps`` (1e-5). The default run is :data:`STEPS` steps on the shipped sample (8000 training and
2000 test digits); ``--paper`` runs the paper's 50,000 steps, ``--data DIR`` reads the full set.

**What people ask about.** :func:`batch_statistics_noise`: how far one batch's mean and variance
stray from the population's as the batch shrinks (the noise shrinks like ``1/sqrt(m)``); and the
difference between training and evaluation mode: the report scores the BN net on test batches
sorted by class in training mode (each batch normalised by its own statistics, which forgetting
evaluation mode does) against evaluation mode.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdl import losses  # noqa: F401  (the switch's softmax_cross_entropy)
from jaxdl.backward import AUTODIFF, BACKWARDS, HAND, Backward, Ops, default_backward
from jaxdl.data.batches import Batch
from jaxdl.data.digits import flattened
from jaxdl.gradcheck import GradCheck, check_gradient
from jaxdl.milestones import Milestone
from jaxdl.nn import batch_norm as bn
from jaxdl.report import Report
from jaxdl.training import trainer
from jaxdl.validate import LEARNING_RATE_CEILING, SEED, check_limits, require_positive_float

MILESTONE = Milestone(
    "batch-norm",
    2015,
    "Ioffe & Szegedy",
    "batch normalization: Figure 1's sigmoid net with and without BN",
    month=2,
)

#: Hidden widths (the paper's 3 x 100) and classes.
HIDDEN = (100, 100, 100)
CLASSES = 10
#: Steps of 60 examples (the paper's batch) and of the paper's run.
BATCH = 60
PAPER_STEPS = 50_000
#: This chapter's choices where the paper is silent (see the module docstring).
INIT_STD = 0.05
#: The largest standard deviation of the initial weights. Beyond it the first layer's sums
#: reach 1e4 on inputs in [0, 1], so every sigmoid saturates, and larger ones only overflow to
#: a NaN loss.
INIT_STD_CEILING = (100.0, "initial weights that large saturate every unit; larger ones overflow")
LEARNING_RATE = 1.0
STEPS = 2000
#: Figure 1 (panels b and c) follows the input distribution of this sigmoid, unit 0 of the last
#: hidden layer.
TRACKED_UNIT = 0
PERCENTILES = (15, 50, 85)


class Layer(NamedTuple):
    """One fully connected layer ``x w + b``; the BN net's hidden layers have no ``b``."""

    w: jax.Array  # [F_in, F_out]
    b: jax.Array | None  # [F_out], or None where batch norm's shift takes its place


class Net(NamedTuple):
    """The 784-100-100-100-10 net, with or without batch normalization."""

    layers: tuple[Layer, ...]  # 3 hidden sigmoid layers, then the softmax layer
    norms: tuple[bn.BatchNormParams, ...]  # one per hidden layer, or () without BN


def init_net(key: jax.Array, *, batch_norm: bool, std: float = INIT_STD, dtype=None) -> Net:
    """Weights from ``N(0, std**2)`` (small, as the paper), zero biases; BN: gamma 1, beta 0.

    With batch normalization the hidden layers drop their bias (its effect is cancelled by the
    mean subtraction; the paper, section 3.2), and BN's shift ``beta`` takes its place.
    """
    dtype = dtype or jnp.result_type(float)
    widths = (28 * 28, *HIDDEN, CLASSES)
    keys = jax.random.split(key, len(widths) - 1)
    net_layers = []
    for i, (k, f_in, f_out) in enumerate(zip(keys, widths[:-1], widths[1:], strict=True)):
        w = std * jax.random.normal(k, (f_in, f_out), dtype)
        hidden = i < len(HIDDEN)
        b = None if (batch_norm and hidden) else jnp.zeros((f_out,), dtype)
        net_layers.append(Layer(w, b))
    norms = tuple(bn.init_params(h, dtype) for h in HIDDEN) if batch_norm else ()
    return Net(tuple(net_layers), norms)


def _affine(ops: Ops, u: jax.Array, layer: Layer) -> jax.Array:
    b = jnp.zeros(layer.w.shape[1:], layer.w.dtype) if layer.b is None else layer.b
    return ops.dense(u, layer.w, b)


def forward(
    net: Net,
    x: jax.Array,
    *,
    stats: tuple[bn.BatchNormStats, ...] | None = None,
    ops: Ops = HAND,
) -> tuple[jax.Array, tuple[jax.Array, ...]]:
    """Logits ``[B, 10]`` and every hidden layer's sigmoid input ``[B, 100]`` (after BN).

    Args:
      net: the parameters.
      x: ``[B, 784]``.
      stats: ``None`` for training mode (BN with the batch's statistics), or the population
        statistics of every BN layer for evaluation mode. Ignored without BN.
      ops: ``jaxdl.nn.HAND`` (the hand gradients as ``custom_vjp`` rules) or
        ``jaxdl.nn.AUTODIFF`` (the pure forwards).
    """
    u, sigmoid_inputs = x, []
    for i, layer in enumerate(net.layers[:-1]):
        z = _affine(ops, u, layer)
        if net.norms:
            if stats is None:
                z = ops.batch_norm(z, net.norms[i])
            else:
                z = ops.batch_norm_eval(z, net.norms[i], stats[i])
        sigmoid_inputs.append(z)
        u = jax.nn.sigmoid(z)
    return _affine(ops, u, net.layers[-1]), tuple(sigmoid_inputs)


def _loss(ops: Ops, net: Net, batch: Batch) -> jax.Array:
    logits, _ = forward(net, batch.images, ops=ops)
    return ops.softmax_cross_entropy(logits, batch.labels)


def loss_hand(net: Net, batch: Batch) -> jax.Array:
    """Mean softmax cross-entropy in training mode, backward by the hand rules."""
    return _loss(HAND, net, batch)


def loss_autodiff(net: Net, batch: Batch) -> jax.Array:
    """The same loss from the pure forwards, for ``jax.grad`` to differentiate."""
    return _loss(AUTODIFF, net, batch)


LOSSES = {"hand": loss_hand, "autodiff": loss_autodiff}


def _loss_for(backward: Backward):
    return LOSSES[default_backward() if backward == "auto" else backward]


def batch_norm_inputs(net: Net, x: jax.Array) -> tuple[jax.Array, ...]:
    """Each BN layer's input ``x w`` (before normalisation) in training mode."""
    u, inputs = x, []
    for i, layer in enumerate(net.layers[:-1]):
        z = _affine(AUTODIFF, u, layer)
        inputs.append(z)
        u = jax.nn.sigmoid(bn.batch_norm(z, net.norms[i]))
    return tuple(inputs)


@jax.jit
def population_statistics(net: Net, batches: jax.Array) -> tuple[bn.BatchNormStats, ...]:
    """Algorithm 2: every BN layer's ``E[x]`` and unbiased ``Var[x]`` from training batches.

    The net runs in training mode over each batch of ``batches [K, m, 784]``; the layers'
    batch means and variances are averaged over the ``K`` batches.
    """

    def one(x):
        return tuple(bn.batch_statistics(z) for z in batch_norm_inputs(net, x))

    per_batch = jax.lax.map(one, batches)
    m = batches.shape[1]
    return tuple(bn.population_statistics(mean, var, m) for mean, var in per_batch)


@jax.jit
def _evaluate(net: Net, stat_batches: jax.Array, test: Batch) -> tuple[jax.Array, jax.Array]:
    stats = population_statistics(net, stat_batches) if net.norms else None
    logits, inputs = forward(net, test.images, stats=stats, ops=AUTODIFF)
    accuracy = jnp.mean(jnp.argmax(logits, axis=1) == test.labels, dtype=logits.dtype)
    tracked = inputs[-1][:, TRACKED_UNIT]
    return accuracy, jnp.percentile(tracked, jnp.asarray(PERCENTILES, tracked.dtype))


@functools.cache
def _sgd(learning_rate: float) -> optax.GradientTransformation:
    return optax.sgd(learning_rate)


class Curves(NamedTuple):
    """One net's Figure 1 measurements at each evaluated step."""

    steps: np.ndarray  # [E]
    test_accuracy: np.ndarray  # [E]
    percentiles: np.ndarray  # [E, 3] the 15th, 50th, 85th percentile of the tracked input
    losses: np.ndarray  # [steps] training loss per step


def train_net(
    net: Net,
    train: Batch,
    test: Batch,
    *,
    steps: int,
    eval_every: int,
    learning_rate: float,
    key: jax.Array,
    stat_batches: int = 20,
    backward: Backward = "auto",
    progress: str | None = None,
) -> tuple[Net, Curves]:
    """Train ``net`` with SGD on random batches of 60, measuring Figure 1 every ``eval_every``.

    Returns the trained net and its :class:`Curves` (step 0 included).
    """
    k_feed, k_stats = jax.random.split(key)
    index = jax.random.randint(k_stats, (stat_batches, BATCH), 0, train.images.shape[0])
    stat_x = train.images[index]  # fixed training batches for Algorithm 2 at every evaluation
    records = []

    def measure(params: Net, done: int) -> None:
        accuracy, pct = _evaluate(params, stat_x, test)
        records.append((done, float(accuracy), np.asarray(pct)))

    measure(net, 0)
    run = trainer.train(
        _loss_for(backward),
        net,
        _sgd(learning_rate),
        trainer.sampled(Batch(train.images, train.labels), batch_size=BATCH, key=k_feed),
        steps=steps,
        chunk_steps=eval_every,
        progress=None if progress is None else trainer.Progress(progress),
        hooks=[lambda state, _, done: measure(state.params, done)],
    )
    return run.state.params, Curves(
        np.array([r[0] for r in records]),
        np.array([r[1] for r in records]),
        np.stack([r[2] for r in records]),
        run.losses,
    )


def train_mode_accuracy(net: Net, test: Batch, *, batch: int = BATCH, sort: bool = True) -> float:
    """Test accuracy when the BN net is (wrongly) left in training mode.

    Each batch of ``batch`` test digits is normalised with its own statistics. Sorted by class
    (``sort``), a batch is mostly one digit, so normalisation removes what the digits have in
    common: the very signal that tells the class. Unsorted, the batches are taken in order.
    """
    labels = np.asarray(test.labels)
    order = np.argsort(labels, kind="stable") if sort else np.arange(len(labels))
    n = (len(order) // batch) * batch
    x = test.images[order[:n]].reshape(n // batch, batch, -1)
    y = test.labels[order[:n]].reshape(n // batch, batch)
    return float(_train_mode_accuracy(net, x, y))


@jax.jit
def _train_mode_accuracy(net, x, y):
    logits = jax.lax.map(lambda xb: forward(net, xb, ops=AUTODIFF)[0], x)
    return jnp.mean(jnp.argmax(logits, axis=-1) == y, dtype=logits.dtype)


def eval_mode_accuracy(net: Net, train: Batch, test: Batch, *, key: jax.Array) -> float:
    """Test accuracy in evaluation mode (Algorithm 2's statistics from 20 training batches)."""
    index = jax.random.randint(key, (20, BATCH), 0, train.images.shape[0])
    accuracy, _ = _evaluate(net, train.images[index], test)
    return float(accuracy)


def batch_statistics_noise(
    values: jax.Array, batch_sizes: tuple[int, ...], *, key: jax.Array, draws: int = 500
) -> list[dict]:
    """How much one batch's mean and variance stray from the population's, per batch size.

    ``values [N]``: one unit's input over a data set. For each ``m`` in ``batch_sizes``,
    ``draws`` batches of ``m`` values are drawn; the result gives the standard deviation of the
    batch means (``~ sigma / sqrt(m)``) and of the batch variances, and the mean batch variance
    relative to the population's (``(m - 1) / m``: the bias Algorithm 2's ``m / (m - 1)``
    removes).
    """
    values = jnp.asarray(values)
    sigma2 = float(jnp.var(values))
    rows = []
    for m in batch_sizes:
        key, k = jax.random.split(key)
        batches = values[jax.random.randint(k, (draws, m), 0, values.shape[0])]
        mean, var = jnp.mean(batches, axis=1), jnp.var(batches, axis=1)
        rows.append(
            {
                "batch_size": m,
                "std_of_batch_mean": float(jnp.std(mean)),
                "sigma_over_sqrt_m": math.sqrt(sigma2 / m),
                "std_of_batch_var": float(jnp.std(var)),
                "mean_batch_var_over_var": float(jnp.mean(var)) / sigma2,
                "biased_factor": (m - 1) / m,
            }
        )
    return rows


@dataclasses.dataclass(frozen=True)
class Config:
    """Figure 1 of the paper on the shipped MNIST sample (or ``--data DIR``)."""

    steps: int = dataclasses.field(
        default=STEPS,
        metadata={"bounds": (1, 10_000_000), "help": "SGD steps of 60 (the paper's: 50000)"},
    )
    eval_every: int = dataclasses.field(
        default=200,
        metadata={"bounds": (1, 10_000_000), "help": "steps between measurements of Figure 1"},
    )
    learning_rate: float = dataclasses.field(
        default=LEARNING_RATE,
        metadata={
            "ceiling": LEARNING_RATE_CEILING,
            "help": "SGD step size (both nets)",
            "flag": "--lr",
        },
    )
    init_std: float = dataclasses.field(
        default=INIT_STD,
        metadata={"help": "standard deviation of the initial weights", "ceiling": INIT_STD_CEILING},
    )
    data: str = dataclasses.field(
        default="sample",
        metadata={"help": "sample (the shipped 8000/2000 digits) or a directory of IDX files"},
    )
    backward: Backward = dataclasses.field(
        default="auto",
        metadata={
            "help": "hand (the custom_vjp rules), autodiff, or auto: the platform's choice "
            "(hand on CPU, measured by benchmarks/bn_resnet_speed.py)"
        },
    )
    paper: bool = dataclasses.field(
        default=False,
        metadata={"help": "the paper's 50000 steps, measured every 1000 (minutes; a progress bar)"},
    )
    seed: int = dataclasses.field(default=0, metadata={"bounds": SEED, "help": "PRNG seed"})

    def __post_init__(self):
        check_limits(self)
        if not 1 <= self.eval_every <= self.steps:
            raise ValueError(
                f"eval every must be between 1 and steps ({self.steps}), got {self.eval_every}"
            )
        require_positive_float("learning rate", self.learning_rate)
        require_positive_float("init std", self.init_std)
        if self.backward not in BACKWARDS:
            raise ValueError(f"backward must be one of {BACKWARDS}, got {self.backward!r}")

    def schedule(self) -> tuple[int, int]:
        """``(steps, eval_every)`` of the run: the paper's with ``paper``."""
        return (PAPER_STEPS, 1000) if self.paper else (self.steps, self.eval_every)


def gradient_checks(*, key: jax.Array) -> list[GradCheck]:
    """The whole BN net: ``jax.grad`` of the loss built from the hand rules vs the pure
    forwards vs finite differences (float64, a batch of 4 digits made of noise). The op's own
    checks are :func:`jaxdl.nn.batch_norm.gradient_checks`, which ``jaxdl check`` runs too."""
    k_net, k_x = jax.random.split(key)
    dtype = jnp.result_type(float)
    net = init_net(k_net, batch_norm=True, std=0.3, dtype=dtype)
    net = net._replace(norms=tuple(p._replace(shift=p.shift + 0.1) for p in net.norms))
    batch = Batch(jax.random.uniform(k_x, (4, 784), dtype), jnp.array([1, 7, 3, 7]))
    whole = check_gradient(
        "batch-norm: 3 x 100 sigmoid net with BN, custom_vjp",
        lambda p: loss_autodiff(p, batch),
        jax.jit(jax.grad(lambda p: loss_hand(p, batch))),
        net,
    )
    return [whole]


def accuracy_table(curves: dict[str, Curves], at: tuple[int, ...]) -> list[dict]:
    """Test accuracy of both nets at the measured steps nearest to each of ``at`` (step 0
    left out, each step once)."""
    measured = next(iter(curves.values())).steps
    picked = sorted({int(measured[1:][np.argmin(np.abs(measured[1:] - s))]) for s in at})
    rows = []
    for step in picked:
        i = int(np.flatnonzero(measured == step)[0])
        rows.append(
            {"step": step} | {name: float(c.test_accuracy[i]) for name, c in curves.items()}
        )
    return rows


def run(config: Config = Config()) -> Report:
    """Train both nets from the same weights on the same batches; Figure 1's numbers."""
    steps, eval_every = config.schedule()
    dtype = jnp.result_type(float)
    train, test = flattened(config.data, dtype)
    key = jax.random.key(config.seed)
    k_init, k_train, k_eval, k_noise = jax.random.split(key, 4)
    plain = init_net(k_init, batch_norm=False, std=config.init_std, dtype=dtype)
    with_bn = init_net(k_init, batch_norm=True, std=config.init_std, dtype=dtype)
    curves, nets = {}, {}
    for name, net in (("without_bn", plain), ("with_bn", with_bn)):
        nets[name], curves[name] = train_net(
            net,
            train,
            test,
            steps=steps,
            eval_every=eval_every,
            learning_rate=config.learning_rate,
            key=k_train,
            backward=config.backward,
            progress=f"{name.replace('_', ' ')}" if config.paper else None,
        )
    marks = sorted({max(1, steps // 10), steps // 4, steps // 2, steps})
    table = accuracy_table(curves, tuple(marks))
    trained = nets["with_bn"]
    inputs = batch_norm_inputs(trained, test.images)[-1][:, TRACKED_UNIT]
    noise = batch_statistics_noise(inputs, (2, 8, 60, 240), key=k_noise)
    modes = {
        "eval_mode": eval_mode_accuracy(trained, train, test, key=k_eval),
        "train_mode_class_sorted_batches": train_mode_accuracy(trained, test),
    }
    final = {name: float(c.test_accuracy[-1]) for name, c in curves.items()}
    result = {
        "steps": steps,
        "train_size": int(train.images.shape[0]),
        "test_size": int(test.images.shape[0]),
        "test_accuracy": table,
        "final_test_accuracy": final,
        "percentiles_final": {
            name: dict(zip(("p15", "p50", "p85"), map(float, c.percentiles[-1]), strict=True))
            for name, c in curves.items()
        },
        "bn_modes_test_accuracy": modes,
        "batch_statistics_noise": noise,
    }
    return Report(
        milestone="batch-norm",
        config=config,
        result=result,
        checks=[],
        headline=(
            f"test accuracy after {steps} steps: {final['with_bn']:.2%} with BN, "
            f"{final['without_bn']:.2%} without"
        ),
        plot_data={"curves": curves, "nets": nets},
    )


def plot(report: Report):
    """Figure 1: (a) test accuracy against steps; (b, c) the tracked sigmoid input's percentiles."""
    from jaxdl.plotting import new_figure

    curves = report.plot_data["curves"]
    fig, (ax_a, ax_b, ax_c) = new_figure(3)
    styles = {
        "without_bn": ("--", "tab:gray", "without BN"),
        "with_bn": ("-", "tab:blue", "with BN"),
    }
    for name, c in curves.items():
        ls, color, label = styles[name]
        ax_a.plot(c.steps, c.test_accuracy, ls, color=color, label=label)
    ax_a.set(xlabel="steps", ylabel="test accuracy", title="(a) test accuracy")
    ax_a.legend()
    for ax, name, title in (
        (ax_b, "without_bn", "(b) without BN"),
        (ax_c, "with_bn", "(c) with BN"),
    ):
        c = curves[name]
        for j, p in enumerate(PERCENTILES):
            ax.plot(c.steps, c.percentiles[:, j], color="tab:blue", lw=1.5 if p == 50 else 1.0)
            # each line named at its end, inside the panel: "85th" above "50th" above "15th"
            ax.annotate(
                f"{p}th",
                (c.steps[-1], c.percentiles[-1, j]),
                xytext=(-2, 3),
                textcoords="offset points",
                ha="right",
                va="bottom",
                fontsize=8,
            )
        ax.set(xlabel="steps", title=title)
    ax_b.set_ylabel("sigmoid input (percentiles)")
    low = min(min(c.percentiles[:, 0].min() for c in curves.values()), -1.0)
    high = max(max(c.percentiles[:, 2].max() for c in curves.values()), 1.0)
    for ax in (ax_b, ax_c):
        ax.set_ylim(low - 0.2, high + 0.5)
    return fig
