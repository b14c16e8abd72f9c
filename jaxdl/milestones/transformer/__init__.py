"""The Transformer (Vaswani et al., 2017), decoder-only as GPT (Radford et al., 2018) made it.

A stack of blocks reads a text one character at a time and predicts the next character at every
position. Each block lets every position look back at the ones before it (causal multi-head
self-attention) and then transforms each position on its own (a 4x MLP with GELU), each step
behind a layer norm and added back onto a residual stream::

    x = W_te[ids] + W_pe[0..T)                           token and position embeddings
    for each block:  x = x + attention(layer_norm(x))
                     x = x + mlp(layer_norm(x))
    logits = layer_norm(x) W_teᵀ                          the head tied to the token table
    loss = mean over every position of -log softmax(logits)[next character]

**Every layer's backward by hand.** Each op lives in :mod:`jaxdl.nn` (embedding and tied head,
layer norm, attention, GELU and MLP) as a pure forward, its backward pass derived by hand beside
it (llm.c's ``layernorm_forward``/``layernorm_backward`` pairing) and a ``jax.custom_vjp`` rule
built from the two; the cross-entropy is :func:`jaxdl.losses.softmax_cross_entropy` over every
position. :data:`HAND` builds the model from the rules, so ``jax.value_and_grad`` of the loss runs
the hand math; :data:`AUTODIFF` builds it from the pure forwards for ``jax.grad`` to judge.
:func:`gpt_backward` also walks the whole backward pass explicitly, layer by layer in reverse,
as llm.c's ``gpt2_backward`` does; the tests hold all three equal in float64.

**The reference run** (``--paper``) is nanoGPT's CPU configuration of its README on tiny
Shakespeare: 4 layers, 4 heads, width 128, context 64, batch 12, 2000 AdamW steps (learning
rate 1e-3, 100 warm-up steps, cosine decay to 1e-4, betas (0.9, 0.99), weight decay 0.1 on the
matrices, gradient clipping at 1), no dropout, no biases: about 0.80M parameters as nanoGPT
counts them (without the position table). nanoGPT reports a validation loss of 1.88.
The run trains with the shared trainer (:func:`jaxdl.training.trainer.train`) on random windows
of the training text drawn on the device from a carried key, and reports the validation loss
both as nanoGPT's command estimates it (the mean over 20 random batches) and over 200 batches.

The chapter is a package: :mod:`~jaxdl.milestones.transformer.model` (the GPT, its forward
from one set of ops and its whole backward by hand), :mod:`~jaxdl.milestones.transformer.training`
(nanoGPT's optimizer and loss estimate, the run on the shared trainer) and
:mod:`~jaxdl.milestones.transformer.sampling`; the text and its random windows are
:mod:`jaxdl.data.text`'s. This module is the chapter's interface (``Config``, ``run``,
``plot``, ``gradient_checks``) and offers every name a reader of the chapter uses.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.data.text import CharData, TextBatch, load_text, random_windows, window_feed
from jaxdl.gradcheck import GradCheck, check_gradient
from jaxdl.milestones import Milestone
from jaxdl.nn import blocks, embedding
from jaxdl.report import Report
from jaxdl.training.rundir import check_creatable
from jaxdl.validate import (
    BATCH,
    LEARNING_RATE_CEILING,
    SEED,
    STEPS,
    check_limits,
    require_positive_float,
    require_positive_int,
)

from .model import (
    AUTODIFF,
    ENGINE_BY_PLATFORM,
    ENGINES,
    GPT,
    HAND,
    Blocks,
    count_parameters,
    default_engine,
    forward,
    gpt_backward,
    init_gpt,
    loss,
    loss_function,
    ops,
)
from .sampling import sample
from .training import (
    NANOGPT_EVAL_BATCHES,
    NANOGPT_VAL_LOSS,
    STEADY_EVAL_BATCHES,
    Trained,
    decay_mask,
    estimate_loss,
    nanogpt_adamw,
    nanogpt_schedule,
    train_gpt,
)

MILESTONE = Milestone(
    "transformer",
    2017,
    "Vaswani et al.; Radford et al. 2018 (GPT)",
    "a GPT learns Shakespeare, every layer's backward by hand",
    month=6,
)

#: nanoGPT's CPU configuration (its README), the reference run's settings.
PAPER = dict(steps=2000, batch=12, context=64, layers=4, heads=4, width=128, learning_rate=1e-3)


#: The smallest softmax temperature: logits of order 10 divided by it stay far from float32's
#: overflow (a subnormal temperature made every draw degenerate, silently).
MIN_TEMPERATURE = 1e-6


@dataclasses.dataclass(frozen=True)
class Config:
    """A character-level GPT on tiny Shakespeare (or ``--text PATH``)."""

    steps: int = dataclasses.field(
        default=200, metadata={"bounds": STEPS, "help": "optimizer steps"}
    )
    batch: int = dataclasses.field(
        default=16, metadata={"bounds": BATCH, "help": "windows per step"}
    )
    context: int = dataclasses.field(
        default=32,
        metadata={"bounds": (1, 4096), "help": "characters per window (the context length)"},
    )
    layers: int = dataclasses.field(
        default=2, metadata={"bounds": (1, 64), "help": "Transformer blocks"}
    )
    heads: int = dataclasses.field(
        default=4, metadata={"bounds": (1, 64), "help": "attention heads per block"}
    )
    width: int = dataclasses.field(
        default=64, metadata={"bounds": (1, 2048), "help": "embedding width C"}
    )
    learning_rate: float = dataclasses.field(
        default=2e-3,
        metadata={
            "ceiling": LEARNING_RATE_CEILING,
            "help": "AdamW peak learning rate",
            "flag": "--lr",
        },
    )
    engine: Literal["default", "hand", "gpt_backward", "autodiff"] = dataclasses.field(
        default="default",
        metadata={
            "help": "backward pass: the layers' hand rules chained by jax.grad, the whole "
            "backward walked by hand, autodiff, or the platform's default"
        },
    )
    seed: int = dataclasses.field(default=0, metadata={"bounds": SEED, "help": "PRNG seed"})
    text: str | None = dataclasses.field(
        default=None,
        metadata={
            "help": "train on this UTF-8 text file instead of tiny Shakespeare",
            "metavar": "PATH",
        },
    )
    paper: bool = dataclasses.field(
        default=False,
        metadata={
            "help": "nanoGPT's CPU run: 4 layers, 4 heads, width 128, context 64, batch 12, "
            "2000 steps (overrides those options; a few minutes)"
        },
    )
    eval_every: int | None = dataclasses.field(
        default=None,
        metadata={
            "help": "estimate the losses (and, with --out, save a checkpoint) every N steps "
            "(default: at the end only; every 250 steps with --paper)",
            "metavar": "N",
        },
    )
    out: str | None = dataclasses.field(
        default=None,
        metadata={
            "help": "save a checkpoint to this directory after every evaluation (see --eval-every)",
            "metavar": "DIR",
        },
    )
    resume: bool = dataclasses.field(
        default=False,
        metadata={"help": "continue the run saved in --out from its newest good checkpoint"},
    )
    sample: bool = dataclasses.field(
        default=False, metadata={"help": "generate text after training"}
    )
    prompt: str = dataclasses.field(
        default="\n", metadata={"help": "with --sample: the text to continue"}
    )
    sample_length: int = dataclasses.field(
        default=300,
        metadata={"bounds": (1, 100_000), "help": "with --sample: characters to generate"},
    )
    temperature: float = dataclasses.field(
        default=0.8, metadata={"help": "with --sample: softmax temperature"}
    )
    top_k: int = dataclasses.field(
        default=200,
        metadata={
            "bounds": (1, 100_000),
            "help": "with --sample: draw among the k likeliest characters",
        },
    )

    def __post_init__(self):
        check_limits(self)
        if self.width % self.heads:
            raise ValueError(f"heads ({self.heads}) must divide width ({self.width})")
        require_positive_float("learning rate", self.learning_rate)
        require_positive_float("temperature", self.temperature)
        if self.temperature < MIN_TEMPERATURE:  # logits / temperature would overflow
            raise ValueError(
                f"temperature must be at least {MIN_TEMPERATURE:g} (below, the logits divided by "
                f"it overflow; top_k=1 draws the likeliest character), got {self.temperature!r}"
            )
        if not self.prompt:
            raise ValueError("prompt must hold at least one character")
        if self.prompt != "\n" and not self.sample:
            raise ValueError("`prompt` needs sample=True (it is only used when sampling)")
        if self.eval_every is not None:
            require_positive_int("eval_every", self.eval_every)
        if self.resume and self.out is None:
            raise ValueError("resume=True needs `out`, the directory of the run to continue")

    def settings(self) -> dict:
        """The model and training settings, nanoGPT's when ``paper`` is set."""
        names = ("steps", "batch", "context", "layers", "heads", "width", "learning_rate")
        chosen = {n: getattr(self, n) for n in names}
        return {**chosen, **PAPER} if self.paper else chosen


@functools.partial(jax.jit, static_argnums=(1,))
def _tiny_gpt(key: jax.Array, dtype) -> tuple[GPT, TextBatch]:
    k_p, k_g, k_ids = jax.random.split(key, 3)
    params = init_gpt(key=k_p, vocab=7, context=5, layers=2, width=8, dtype=dtype)
    # Gains away from one and larger weights, so no term of the gradient is negligible.
    params = jax.tree.map(
        lambda x, k: x + 0.3 * jax.random.normal(k, x.shape, dtype) if x.ndim != 3 else 10 * x,
        params,
        jax.tree.unflatten(jax.tree.structure(params), list(jax.random.split(k_g, 9))),
    )
    ids = jax.random.randint(k_ids, (2, 6), 0, 7)
    return params, TextBatch(ids[:, :5], ids[:, 1:])


def model_checks(*, key: jax.Array, walk: bool = True) -> list[GradCheck]:
    """The whole model: the hand engine (``jax.grad`` through the rules) and, with ``walk``, the
    explicit :func:`gpt_backward`, vs ``jax.grad`` of the pure model vs finite differences."""
    params, batch = _tiny_gpt(key, jnp.result_type(float))

    def reference(p):
        return loss(p, batch, heads=2)

    checks = [
        check_gradient(
            "transformer: whole GPT, hand rules",
            reference,
            jax.grad(lambda p: loss(p, batch, heads=2, ops=HAND)),
            params,
            key=key,
        )
    ]
    if walk:
        checks.append(
            check_gradient(
                "transformer: whole GPT, gpt_backward",
                reference,
                lambda p: gpt_backward(p, batch, heads=2)[1],
                params,
                key=key,
            )
        )
    return checks


def gradient_checks(*, key: jax.Array) -> list[GradCheck]:
    """The whole model: each engine's backward vs ``jax.grad`` vs finite differences. Every
    layer's own rule (embedding, layer norm, attention, GELU, MLP, tied head) is checked by its
    :mod:`jaxdl.nn` module, which ``jaxdl check`` runs too."""
    return model_checks(key=key)


def _engine(config: Config) -> str:
    return default_engine() if config.engine == "default" else config.engine


def run(config: Config = Config()) -> Report:
    """Train the GPT (a small one by default; nanoGPT's with ``paper``), report its losses."""
    s = config.settings()
    key = jax.random.key(config.seed)
    k_train, k_sample, k_check = jax.random.split(key, 3)
    if config.out is not None:  # refused before any work; locked once the text is read
        check_creatable(config.out, option="`out`")
    data = load_text(config.text, context=s["context"])
    prompt = data.chars.encode(config.prompt) if config.sample else None  # refused before work
    engine = _engine(config)
    trained = train_gpt(
        data,
        key=k_train,
        engine=engine,
        eval_every=config.eval_every or (250 if config.paper else s["steps"]),
        progress=config.paper,
        run_dir=config.out,
        resume=config.resume,
        **s,
    )
    val_20 = trained.evals["val"][-1]  # nanoGPT's estimate: 20 random batches at the end
    result = _losses_and_speed(trained, data, engine, tokens_per_step=s["batch"] * s["context"])
    if config.paper:
        result |= _beside_nanogpt(trained.params, data, jax.random.fold_in(k_train, 1), s)
        headline = (
            f"nanoGPT's CPU run: val loss {val_20:.3f} (20 batches; nanoGPT 1.88), "
            f"{result['val_loss_200']:.3f} over 200, {trained.seconds:.0f} s"
        )
    else:
        headline = (
            f"{s['layers']}-block GPT, {s['steps']} steps on {data.source}: val loss "
            f"{math.log(len(data.chars)):.2f} (uniform guess) -> {val_20:.2f}; "
            "hand backward = jax.grad"
        )
    if config.sample:
        result["sample"] = _sample_text(trained.params, data, prompt, config, k_sample)
    line = _first_line(data)
    maps = attention_maps(trained.params, data.chars.encode(line), heads=s["heads"])
    return Report(
        milestone="transformer",
        config=config,
        result=result,
        checks=model_checks(key=k_check, walk=False),
        headline=headline,
        plot_data={
            "losses": trained.losses,
            "evals": trained.evals,
            "line": line,
            "maps": maps,
            "params": trained.params,
        },
    )


def _losses_and_speed(trained, data: CharData, engine: str, *, tokens_per_step: int) -> dict:
    """The run's result before any comparison: its size, losses and speed."""
    tokens = len(trained.losses) * tokens_per_step
    return {
        "text": data.source,
        "vocabulary": len(data.chars),
        "parameters": count_parameters(trained.params),
        "engine": engine,
        "uniform_loss": math.log(len(data.chars)),
        "final_train_loss": float(np.mean(trained.losses[-20:])),
        "val_loss": trained.evals["val"][-1],
        "train_seconds": trained.seconds,
        "tokens_per_second": tokens / trained.seconds if trained.seconds else None,
        "evals": trained.evals,
    }


def _beside_nanogpt(params: GPT, data: CharData, key: jax.Array, s: dict) -> dict:
    """The validation loss over 200 random batches (``key``), and nanoGPT's published run."""
    kw = dict(heads=s["heads"], batch=s["batch"], context=s["context"])
    whole = jnp.asarray(np.concatenate([data.train, data.validation]))
    val_200 = estimate_loss(params, whole, key, len(data.train), len(whole), batches=200, **kw)
    nanogpt = {
        "val_loss": NANOGPT_VAL_LOSS,
        "estimate": "mean over 20 random validation batches",
        "time": "about 3 minutes on a laptop CPU (its README)",
    }
    return {"val_loss_200": float(val_200), "nanogpt": nanogpt}


def _sample_text(params: GPT, data: CharData, prompt, config: Config, key: jax.Array) -> str:
    """The prompt and the characters the model draws after it."""
    ids = sample(
        params,
        prompt,
        key=key,
        heads=config.settings()["heads"],
        length=config.sample_length,
        temperature=config.temperature,
        top_k=config.top_k,
    )
    return config.prompt + data.chars.decode(ids)


def _first_line(data: CharData, limit: int = 40) -> str:
    """A line of the validation text for the attention maps (at most ``limit`` characters)."""
    text = data.chars.decode(data.validation[:2000])
    lines = [ln for ln in text.split("\n") if len(ln) >= 12]
    return (lines[1] if len(lines) > 1 else text)[:limit]


def attention_maps(params: GPT, ids: np.ndarray, *, heads: int) -> np.ndarray:
    """Every block's attention maps over one line: ``[L, H, T, T]`` (``T`` at most the
    context)."""
    ids = jnp.asarray(ids[: params.wpe.shape[0]], jnp.int32)[None, :]
    return np.asarray(_attention_maps(params, ids, heads=heads))


@functools.partial(jax.jit, static_argnames=("heads",))
def _attention_maps(params: GPT, ids: jax.Array, *, heads: int) -> jax.Array:
    x = embedding.embed(params.wte, params.wpe, ids)
    return blocks.attention_maps(x, params.blocks, heads=heads, mask="causal")[:, 0]


def plot(report: Report):
    """Training loss per step with the estimates along the way (and nanoGPT's 1.88 for the
    reference run), beside one head's attention map over a line of the text."""
    from jaxdl.plotting import new_figure

    fig, (ax, ax_map) = new_figure(2, size=(7.4, 3.6))
    losses, evals = report.plot_data["losses"], report.plot_data["evals"]
    ax.plot(np.arange(1, len(losses) + 1), losses, color="0.7", lw=0.6, label="train (batch)")
    if evals["step"]:
        ax.plot(evals["step"], evals["train"], "o-", ms=3, color="tab:blue", label="train (est.)")
        ax.plot(evals["step"], evals["val"], "o-", ms=3, color="tab:orange", label="val (est.)")
    if report.config.paper:
        ax.axhline(NANOGPT_VAL_LOSS, ls="--", color="0.3", label="nanoGPT val 1.88")
    ax.set(xlabel="step", ylabel="cross-entropy (nats)", title="loss", ylim=(1.0, None))
    ax.legend(fontsize=8)
    draw_attention(ax_map, report.plot_data["maps"][-1, 0], report.plot_data["line"])
    ax_map.set_title("last block, head 0", fontsize=9)
    return fig


def draw_attention(ax, weights: np.ndarray, line: str) -> None:
    """One attention map ``[T, T]`` on ``ax``, the characters of ``line`` on both axes."""
    t = weights.shape[0]
    ax.imshow(weights, cmap="Blues", vmin=0, vmax=1)
    labels = [repr(c)[1:-1] if c != " " else "␣" for c in line[:t]]
    # one character per row and column: as large as 32 of them fit beside each other
    ax.set_xticks(range(t), labels, fontsize=7, family="monospace")
    ax.set_yticks(range(t), labels, fontsize=7, family="monospace")
    ax.tick_params(length=1, pad=1)
    ax.set(xlabel="reads position", ylabel="at position")


__all__ = [
    "AUTODIFF",
    "ENGINES",
    "ENGINE_BY_PLATFORM",
    "GPT",
    "HAND",
    "MILESTONE",
    "NANOGPT_EVAL_BATCHES",
    "NANOGPT_VAL_LOSS",
    "PAPER",
    "STEADY_EVAL_BATCHES",
    "Blocks",
    "CharData",
    "Config",
    "TextBatch",
    "Trained",
    "attention_maps",
    "count_parameters",
    "decay_mask",
    "default_engine",
    "draw_attention",
    "estimate_loss",
    "forward",
    "gpt_backward",
    "gradient_checks",
    "init_gpt",
    "load_text",
    "loss",
    "loss_function",
    "model_checks",
    "nanogpt_adamw",
    "nanogpt_schedule",
    "ops",
    "plot",
    "random_windows",
    "run",
    "sample",
    "train_gpt",
    "window_feed",
]
