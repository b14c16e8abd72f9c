"""Residual networks (Kaiming He, Xiangyu Zhang, Shaoqing Ren & Jian Sun, 2015).

With batch normalization, deep plain nets no longer fail to start training, yet a deeper plain
net ends with a *higher training error* than a shallower one (the paper's Figures 1 and 6): the
"degradation problem", which is not overfitting, since the training error itself is worse. A
residual block learns ``F(x)`` and outputs ``relu(F(x) + x)``; its backward pass has a "+1 path"
(:mod:`jaxdl.nn.residual`, where the block, its hand backward and its ``custom_vjp`` rule live),
and with shortcuts the deeper net wins.

**The experiment.** The paper's CIFAR-10 nets (section 4.2): a 3x3 convolution, then three stages
of ``n`` blocks on maps of 32, 16 and 8 pixels with 16, 32 and 64 filters (each block two 3x3
convolutions, each followed by BN), global average pooling and a 10-way softmax: ``6n + 2``
layers. Plain nets are the same stacks without shortcuts; where a stage widens the maps, the
shortcut is option A (identity at every second pixel, zero-padded channels).

CIFAR-10 is not shipped, and a 56-layer net on it takes hours on a CPU. This chapter runs the same
comparison in the cheapest form that still shows the effect: MNIST digits (the shipped sample, or
``--data DIR``), padded to 32x32 (CIFAR's size) and average-pooled to ``side`` (default 8), so
the stages work on maps of 8, 4 and 2 pixels (``--side 32``: the paper's 32, 16 and 8); the
widths are the paper's divided by ``width_divisor`` (default 4: 4, 8 and 16 filters); SGD with momentum 0.9 as the paper (its learning rate 0.1, no weight decay, no data
augmentation), batches of :data:`BATCH`, the same steps for every net. The shallow and deep nets
have ``n = n_shallow`` and ``n = n_deep`` blocks per stage (default 1 and 3: 8 and 20 layers).
All four nets see the same batches. The training error is each step's error on its own batch (in
training mode, as the paper's thin curves), smoothed over :data:`SMOOTH` steps; the test error
uses evaluation mode, with Algorithm 2's population statistics from 10 training batches.

The default run is a miniature for the tour; ``--paper`` runs the paper's depths 20 and 56
(``n = 3`` and ``9``) for longer (minutes, a progress bar), ``--steps`` sets any budget.
The paper's own CIFAR-10 test errors (Table 6 and Figure 6) are reported beside ours
(:data:`PAPER_CIFAR10_TEST_ERROR`).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdl.activations import relu
from jaxdl.backward import BACKWARDS, Backward, default_backward, ops
from jaxdl.data.batches import Batch
from jaxdl.data.digits import load_pooled
from jaxdl.gradcheck import GradCheck, check_gradient
from jaxdl.milestones import Milestone
from jaxdl.nn import batch_norm as bn
from jaxdl.nn import residual
from jaxdl.nn.affine import conv2d
from jaxdl.report import Report
from jaxdl.training import trainer
from jaxdl.validate import LEARNING_RATE_CEILING, SEED, STEPS, check_limits, require_positive_float

MILESTONE = Milestone(
    "resnet",
    2015,
    "He, Zhang, Ren & Sun",
    "residual blocks cure the degradation of deep plain nets",
    month=12,
)

#: The paper's CIFAR-10 widths per stage (16, 32, 64 filters).
PAPER_WIDTHS = (16, 32, 64)
#: Test error (%) on CIFAR-10 as the paper gives it: ResNets from Table 6, plain nets read
#: off Figure 6 (left), where the paper states no table value.
PAPER_CIFAR10_TEST_ERROR = {
    "resnet-20": 8.75,
    "resnet-32": 7.51,
    "resnet-44": 7.17,
    "resnet-56": 6.97,
    "resnet-110": 6.43,
}
#: The paper's Figure 6 (left), plain nets: test error read off the figure, approximately.
PAPER_PLAIN_FIGURE_6 = "plain-20 about 9-10%, plain-56 above 13% (read off Figure 6, left)"
BATCH = 32
LEARNING_RATE = 0.1
MOMENTUM = 0.9
SMOOTH = 50
SIDES = (8, 16, 32)  # the input's side: 28x28 padded to 32x32, then pooled to this
PAPER_STEPS = 2000


class Stage(NamedTuple):
    """``n`` blocks on one map size: the first (which may widen, stride 2) and the rest."""

    first: residual.BlockParams
    rest: residual.BlockParams | None  # the other n - 1 blocks, leaves stacked [n - 1, ...]


class Net(NamedTuple):
    """A CIFAR-style net: stem convolution, three stages of ``n`` blocks, a linear read-out.

    Within a stage the blocks after the first have the same shapes, so they run as one
    :func:`jax.lax.scan` over their stacked parameters: one compiled block per stage and kind,
    however deep the net (the 56-layer net compiles as fast as the 20-layer one).
    """

    stem_w: jax.Array  # [3, 3, 1, C0]
    stem_bn: bn.BatchNormParams  # [C0]
    stages: tuple[Stage, Stage, Stage]
    head: tuple[jax.Array, jax.Array]  # w [C2, 10], b [10]


def depth(net: Net) -> int:
    """Blocks per stage, ``n``."""
    rest = net.stages[0].rest
    return 1 + (0 if rest is None else rest.w1.shape[0])


def init_net(key: jax.Array, n: int, widths: tuple[int, int, int], dtype=jnp.float32) -> Net:
    """He initialisation for the convolutions, BN ``gamma 1, beta 0``, a zero read-out bias."""
    k_stem, k_head, *k_stages = jax.random.split(key, 5)
    c0 = widths[0]
    stem_w = (2.0 / 9) ** 0.5 * jax.random.normal(k_stem, (3, 3, 1, c0), dtype)
    stages, c_in = [], c0
    for k, c_out in zip(k_stages, widths, strict=True):
        k_first, *k_rest = jax.random.split(k, n)
        rest = None
        if n > 1:
            blocks = [residual.init_block(kr, c_out, c_out, dtype) for kr in k_rest]
            rest = jax.tree.map(lambda *leaves: jnp.stack(leaves), *blocks)
        stages.append(Stage(residual.init_block(k_first, c_in, c_out, dtype), rest))
        c_in = c_out
    head_w = (1.0 / c_in) ** 0.5 * jax.random.normal(k_head, (c_in, 10), dtype)
    return Net(stem_w, bn.init_params(c0, dtype), tuple(stages), (head_w, jnp.zeros(10, dtype)))


def _stride(stage: int) -> int:
    return 1 if stage == 0 else 2


def forward(net: Net, x: jax.Array, *, residual_: bool, hand: bool = True, stats=None):
    """Logits ``[B, 10]``: in training mode (``stats=None``) or evaluation mode.

    ``hand`` trains with the custom_vjp rules (the stem's conv and BN, every block, the
    read-out); otherwise the pure forwards for ``jax.grad`` to differentiate. Evaluation mode
    (``stats`` from :func:`population_statistics`) uses the pure forwards.
    """
    zeros = jnp.zeros(net.stem_w.shape[-1:], net.stem_w.dtype)
    op = ops("hand" if hand and stats is None else "autodiff")
    if stats is None:
        h = relu(op.batch_norm(op.conv2d(x, net.stem_w, zeros), net.stem_bn))
        block = op.residual_block
        for i, stage in enumerate(net.stages):
            h = block(h, stage.first, stride=_stride(i), residual=residual_)
            if stage.rest is not None:
                h, _ = jax.lax.scan(
                    lambda h, p: (block(h, p, residual=residual_), None), h, stage.rest
                )
    else:
        stem_stats, stage_stats = stats
        a = conv2d(x, net.stem_w, zeros)
        h = relu(bn.batch_norm_eval(a, net.stem_bn, stem_stats))
        for i, (stage, (first, rest)) in enumerate(zip(net.stages, stage_stats, strict=True)):
            h = residual.residual_block(
                h, stage.first, stride=_stride(i), residual=residual_, stats=first
            )
            if stage.rest is not None:

                def step(h, ps):
                    return residual.residual_block(h, ps[0], residual=residual_, stats=ps[1]), None

                h, _ = jax.lax.scan(step, h, (stage.rest, rest))
    pooled = jnp.mean(h, axis=(1, 2))
    return op.dense(pooled, *net.head)


def _loss(net: Net, batch: Batch, *, residual_: bool, hand: bool):
    logits = forward(net, batch.images, residual_=residual_, hand=hand)
    ce = ops("hand" if hand else "autodiff").softmax_cross_entropy
    error = jnp.mean(jnp.argmax(logits, axis=1) != batch.labels, dtype=logits.dtype)
    return ce(logits, batch.labels), error


#: ``loss(net, batch) -> (cross-entropy, training error of the batch)`` per (shortcuts, rules).
LOSSES = {
    (res, backward): functools.partial(_loss, residual_=res, hand=backward == "hand")
    for res in (True, False)
    for backward in ("hand", "autodiff")
}


def _population(mean: jax.Array, var: jax.Array, m: int) -> bn.BatchNormStats:
    """Algorithm 2 over axis 0 (the training batches), for any trailing shape."""
    if mean.ndim == 2:
        return bn.population_statistics(mean, var, m)
    return jax.vmap(bn.population_statistics, in_axes=(1, 1, None))(mean, var, m)


@functools.partial(jax.jit, static_argnames="residual_")
def population_statistics(net: Net, batches: jax.Array, *, residual_: bool):
    """Algorithm 2 of the BN paper for every BN layer: averages over training ``batches``
    ``[K, m, side, side, 1]``, the variance made unbiased (``m / (m - 1)``, ``m = N H W``).

    Returns ``(stem statistics, ((first block's, the rest's stacked), ...) per stage)``.
    """
    zeros = jnp.zeros(net.stem_w.shape[-1:], net.stem_w.dtype)

    def one(x):
        a = conv2d(x, net.stem_w, zeros)
        h = relu(bn.batch_norm(a, net.stem_bn))
        out = [bn.batch_statistics(a)]
        for i, stage in enumerate(net.stages):
            first = residual.block_statistics(h, stage.first, stride=_stride(i))
            h = residual.residual_block(h, stage.first, stride=_stride(i), residual=residual_)
            rest = None
            if stage.rest is not None:

                def step(h, p):
                    stats = residual.block_statistics(h, p)
                    return residual.residual_block(h, p, residual=residual_), stats

                h, rest = jax.lax.scan(step, h, stage.rest)
            out.append((first, rest))
        return out

    per_batch = jax.lax.map(one, batches)
    m, side = batches.shape[1], batches.shape[2]
    stem = _population(*per_batch[0], m * side * side)
    stages = []
    for (first, rest), stage in zip(per_batch[1:], net.stages, strict=True):
        side = side // 2 if stages else side
        size = m * side * side

        def block_stats(s, size=size):
            return residual.BlockStats(_population(*s[0], size), _population(*s[1], size))

        stages.append((block_stats(first), None if stage.rest is None else block_stats(rest)))
    return stem, tuple(stages)


@functools.partial(jax.jit, static_argnames="residual_")
def _test_error(net: Net, stat_batches: jax.Array, test: Batch, *, residual_: bool):
    stats = population_statistics(net, stat_batches, residual_=residual_)
    logits = jax.lax.map(
        lambda x: forward(net, x, residual_=residual_, stats=stats),
        test.images.reshape(-1, 500, *test.images.shape[1:]),
    ).reshape(-1, 10)
    return jnp.mean(jnp.argmax(logits, axis=1) != test.labels, dtype=logits.dtype)


@functools.cache
def _optimizer(learning_rate: float) -> optax.GradientTransformation:
    return optax.sgd(learning_rate, momentum=MOMENTUM)


def smooth(values: np.ndarray, window: int = SMOOTH) -> np.ndarray:
    """Trailing mean over ``window`` steps (shorter at the start)."""
    values = np.asarray(values, np.float64)
    c = np.cumsum(np.concatenate([[0.0], values]))
    i = np.arange(1, len(values) + 1)
    lo = np.maximum(0, i - window)
    return (c[i] - c[lo]) / (i - lo)


class Curve(NamedTuple):
    """One net's run."""

    name: str  # "plain-20", "resnet-20", ...
    layers: int  # 6 n + 2
    training_error: np.ndarray  # [steps] each step's batch error
    losses: np.ndarray  # [steps]
    test_error: float


def train_one(
    n: int,
    residual_: bool,
    train: Batch,
    test: Batch,
    *,
    widths: tuple[int, int, int],
    steps: int,
    learning_rate: float,
    key: jax.Array,
    backward: Backward = "auto",
    progress: bool = False,
) -> Curve:
    """Train one net of ``6 n + 2`` layers; all nets with the same ``key`` see the same batches."""
    k_init, k_feed, k_stats = jax.random.split(key, 3)
    net = init_net(jax.random.fold_in(k_init, n), n, widths)
    name = f"{'resnet' if residual_ else 'plain'}-{6 * n + 2}"
    run = trainer.train(
        LOSSES[(residual_, default_backward() if backward == "auto" else backward)],
        net,
        _optimizer(learning_rate),
        trainer.sampled(Batch(train.images, train.labels), batch_size=BATCH, key=k_feed),
        steps=steps,
        has_aux=True,
        chunk_steps=min(steps, 100),
        progress=trainer.Progress(name) if progress else None,
    )
    index = jax.random.randint(k_stats, (10, 100), 0, train.images.shape[0])
    error = _test_error(run.state.params, train.images[index], test, residual_=residual_)
    return Curve(name, 6 * n + 2, np.asarray(run.aux), run.losses, float(error))


@dataclasses.dataclass(frozen=True)
class Config:
    """Plain vs residual, shallow vs deep, on pooled MNIST digits (see the module docstring)."""

    steps: int = dataclasses.field(
        default=300,
        metadata={"bounds": STEPS, "help": "SGD steps of 32 digits, the same for every net"},
    )
    n_shallow: int = dataclasses.field(
        default=1,
        metadata={"bounds": (1, 18), "help": "blocks per stage of the shallow nets (6n + 2)"},
    )
    n_deep: int = dataclasses.field(
        default=3,
        metadata={"bounds": (1, 18), "help": "blocks per stage of the deep nets (6n + 2)"},
    )
    side: int = dataclasses.field(
        default=8,
        metadata={"help": "input side in pixels: 32 as CIFAR, 16 or 8 (digits pooled)"},
    )
    width_divisor: int = dataclasses.field(
        default=4,
        metadata={"bounds": (1, 16), "help": "the paper's widths 16/32/64 divided by this"},
    )
    learning_rate: float = dataclasses.field(
        default=LEARNING_RATE,
        metadata={
            "ceiling": LEARNING_RATE_CEILING,
            "help": "SGD step size (momentum 0.9)",
            "flag": "--lr",
        },
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
        metadata={
            "help": f"the paper's depths 20 and 56 for {PAPER_STEPS} steps (many minutes on a "
            "CPU; a progress bar)"
        },
    )
    seed: int = dataclasses.field(default=0, metadata={"bounds": SEED, "help": "PRNG seed"})

    def __post_init__(self):
        check_limits(self)
        if self.n_deep <= self.n_shallow:
            raise ValueError(
                f"n deep ({self.n_deep}) must be larger than n shallow ({self.n_shallow})"
            )
        if self.side not in SIDES:
            raise ValueError(f"side must be one of {SIDES}, got {self.side!r}")
        require_positive_float("learning rate", self.learning_rate)
        if self.backward not in BACKWARDS:
            raise ValueError(f"backward must be one of {BACKWARDS}, got {self.backward!r}")

    def plan(self) -> tuple[int, int, int]:
        """``(steps, n_shallow, n_deep)``: the paper's depths 20 and 56 with ``paper``."""
        if self.paper:
            return max(self.steps, PAPER_STEPS), 3, 9
        return self.steps, self.n_shallow, self.n_deep

    def widths(self) -> tuple[int, int, int]:
        return tuple(max(1, w // self.width_divisor) for w in PAPER_WIDTHS)


def gradient_checks(*, key: jax.Array) -> list[GradCheck]:
    """A whole 8-layer ResNet with widths 2/3/4: ``jax.grad`` of the loss built from the hand
    rules vs the pure forwards vs finite differences (float64, two digits of noise at 8x8).
    The block's own checks are :func:`jaxdl.nn.residual.gradient_checks` (``jaxdl check``)."""
    k_net, k_x = jax.random.split(key)
    dtype = jnp.result_type(float)
    net = init_net(k_net, 1, (2, 3, 4), dtype)
    batch = Batch(jax.random.uniform(k_x, (2, 8, 8, 1), dtype), jnp.array([3, 8]))
    whole = check_gradient(
        "resnet: 8-layer ResNet, custom_vjp blocks",
        lambda p: LOSSES[(True, "autodiff")](p, batch)[0],
        jax.jit(jax.grad(lambda p: LOSSES[(True, "hand")](p, batch)[0])),
        net,
    )
    return [whole]


def run(config: Config = Config()) -> Report:
    """Train plain and residual nets at two depths; final training and test errors."""
    steps, n_shallow, n_deep = config.plan()
    train, test = load_pooled(config.data, config.side)
    key = jax.random.key(config.seed)
    curves = [
        train_one(
            n,
            res,
            train,
            test,
            widths=config.widths(),
            steps=steps,
            learning_rate=config.learning_rate,
            key=key,
            backward=config.backward,
            progress=config.paper,
        )
        for res in (False, True)
        for n in (n_shallow, n_deep)
    ]
    window = min(SMOOTH * 4, steps)
    table = _error_table(curves, window)
    by = {row["net"]: row for row in table}
    plain = [r for r in table if r["net"].startswith("plain")]
    res = [r for r in table if r["net"].startswith("resnet")]
    degradation = plain[1]["final_training_error"] > plain[0]["final_training_error"]
    resnet_deeper_wins = res[1]["final_training_error"] <= res[0]["final_training_error"]
    result = {
        "steps": steps,
        "widths": list(config.widths()),
        "input": f"{config.side}x{config.side} MNIST digits, {int(train.images.shape[0])} train / "
        f"{int(test.images.shape[0])} test",
        "errors": table,
        "training_error_window": window,
        "deeper_plain_trains_worse": degradation,
        "deeper_resnet_trains_better": resnet_deeper_wins,
        "paper_cifar10_test_error_percent": PAPER_CIFAR10_TEST_ERROR,
        "paper_plain_cifar10": PAPER_PLAIN_FIGURE_6,
    }
    p0, p1, r0, r1 = (c.name for c in curves)
    headline = (
        f"training error after {steps} steps: {p0} {by[p0]['final_training_error']:.1%}, "
        f"{p1} {by[p1]['final_training_error']:.1%}; {r0} {by[r0]['final_training_error']:.1%}, "
        f"{r1} {by[r1]['final_training_error']:.1%}"
    )
    return Report(
        milestone="resnet",
        config=config,
        result=result,
        checks=[],
        headline=headline,
        plot_data={"curves": curves},
    )


def _error_table(curves: list, window: int) -> list[dict]:
    """One row per net: its training error and loss averaged over the last ``window`` steps,
    and its test error."""
    return [
        {
            "net": c.name,
            "layers": c.layers,
            "final_training_error": float(np.mean(c.training_error[-window:])),
            "final_training_loss": float(np.mean(c.losses[-window:])),
            "test_error": c.test_error,
        }
        for c in curves
    ]


def plot(report: Report):
    """Figure 6 in miniature: training error (smoothed) against steps, plain left, ResNet right."""
    from jaxdl.plotting import new_figure

    curves = report.plot_data["curves"]
    fig, axes = new_figure(2)
    for ax, kind in zip(axes, ("plain", "resnet"), strict=True):
        for c, style in zip(
            [c for c in curves if c.name.startswith(kind)], ("--", "-"), strict=True
        ):
            line = smooth(c.training_error) * 100
            ax.plot(
                np.arange(1, len(line) + 1),
                line,
                style,
                label=f"{c.name} (test {c.test_error:.1%})",
            )
        ax.set(xlabel="steps", ylabel="training error (%)", title=f"{kind} nets", ylim=(0, None))
        ax.legend()
    return fig
