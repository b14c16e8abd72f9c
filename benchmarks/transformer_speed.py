"""Training speed of the GPT: jaxdl's engines vs a PyTorch twin, same process, same weights.

Each contender runs the same train step at nanoGPT's CPU configuration (4 layers, 4 heads,
width 128, context 64, batch 12, float32): forward, backward, gradient clipping at 1 and an
AdamW step, on the same batch of tiny Shakespeare. The figure is tokens per second
(``batch * context`` per step). Each contender runs its steps as its own training loop does:
jaxdl's ``--steps`` steps as one compiled program (a ``lax.scan``, as jaxdl's trainer runs each
chunk of a run), PyTorch's one by one from Python (as nanoGPT's loop does).

- ``jaxdl``: the model as shipped (the platform's default engine,
  :func:`jaxdl.milestones.transformer.default_engine`);
- ``jaxdl hand``: the hand backward passes as ``custom_vjp`` rules;
- ``jaxdl autodiff``: ``jax.grad`` of the pure forwards;
- ``jaxdl gpt_backward``: the whole backward pass walked by hand
  (:func:`~jaxdl.milestones.transformer.gpt_backward`) as one ``custom_vjp`` rule of the loss;
- ``pytorch``: the same network in PyTorch eager, written below as nanoGPT writes it
  (``F.scaled_dot_product_attention`` with ``is_causal=True``, ``F.layer_norm`` without bias,
  exact ``F.gelu``, tied head, ``torch.optim.AdamW`` with weight decay on the matrices). PyTorch
  is optional: measured only when importable (``pip install torch==2.13.0``; never a dependency).

With PyTorch present, the twin first loads jaxdl's initial weights and both compute the loss
and every gradient on the same batch; the largest differences are printed and must be within
1e-5 (float32), as llm.c's ``test_gpt2`` checks its C backward against PyTorch.

The contenders take turns (each round runs ``--steps`` steps of each, in rotating order), so
they meet the same load on a shared machine; each ``jaxdl / X`` ratio is the median of the
per-round ratios. The load average is printed before and after.

Usage::

    python benchmarks/transformer_speed.py [--steps 20] [--rounds 5] [--no-torch]
                                           [--torch-threads N] [--profile]

``--profile`` also times the step's parts on their own, each forward and its hand backward at
the step's shapes (the four blocks' attention, MLP and layer norms, the head over the
vocabulary with the cross-entropy, the embedding) and the optimizer's update: where the time of
a step goes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import machine
from jaxdl.milestones import transformer as tr
from jaxdl.optim import apply_gradients, init_train_state

CONFIG = dict(batch=12, context=64, layers=4, heads=4, width=128)
LEARNING_RATE = 1e-3
TOLERANCE = 1e-5


def make_batch(seed: int = 0) -> tuple[tr.TextBatch, int]:
    """One batch of random windows of tiny Shakespeare, and the vocabulary size."""
    data = tr.load_text(None, context=CONFIG["context"])
    batch = tr.random_windows(
        jnp.asarray(data.train),
        jax.random.key(seed),
        batch=CONFIG["batch"],
        context=CONFIG["context"],
    )
    return batch, len(data.chars)


def initial_params(vocab: int) -> tr.GPT:
    return tr.init_gpt(
        key=jax.random.key(0),
        vocab=vocab,
        context=CONFIG["context"],
        layers=CONFIG["layers"],
        width=CONFIG["width"],
    )


# ----------------------------------------------------------------------------- contenders


def jaxdl_steps(engine: str, steps: int) -> Callable:
    """The jitted ``run(state, batch) -> (state, loss)`` of ``steps`` train steps for one
    engine, in one program, as jaxdl's trainer runs each chunk of a training run (a
    ``lax.scan`` over the steps: :func:`jaxdl.training.trainer.train`); the state is donated."""
    heads = CONFIG["heads"]
    opt = tr.nanogpt_adamw(LEARNING_RATE)
    value_and_grad = jax.value_and_grad(tr.loss_function(heads, engine))

    def step(state, batch):
        loss, grads = value_and_grad(state.params, batch)
        return apply_gradients(state, grads, opt), loss

    def run(state, batch):
        state, losses = jax.lax.scan(lambda st, _: step(st, batch), state, length=steps)
        return state, losses[-1]

    return jax.jit(run, donate_argnums=0)


def torch_twin(params: tr.GPT, heads: int):
    """``(torch, model)``: the GPT in PyTorch with jaxdl's weights, or ``None`` without torch."""
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return None

    def tensor(x):
        return torch.nn.Parameter(torch.from_numpy(np.array(x, np.float32)))

    class GPT(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe, self.ln_f = (
                tensor(params.wte),
                tensor(params.wpe),
                tensor(params.ln_f),
            )
            b = params.blocks
            self.ln_1, self.w_qkv, self.w_attn = tensor(b.ln_1), tensor(b.w_qkv), tensor(b.w_attn)
            self.ln_2, self.w_fc, self.w_mlp = tensor(b.ln_2), tensor(b.w_fc), tensor(b.w_mlp)

        def forward(self, ids, targets):
            bsz, t = ids.shape
            c = self.wte.shape[1]
            x = self.wte[ids] + self.wpe[:t]
            for i in range(self.w_qkv.shape[0]):
                h = F.layer_norm(x, (c,), self.ln_1[i], None, 1e-5)
                q, k, v = (h @ self.w_qkv[i]).split(c, dim=2)
                q, k, v = (z.view(bsz, t, heads, c // heads).transpose(1, 2) for z in (q, k, v))
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
                x = x + y.transpose(1, 2).reshape(bsz, t, c) @ self.w_attn[i]
                h = F.layer_norm(x, (c,), self.ln_2[i], None, 1e-5)
                x = x + F.gelu(h @ self.w_fc[i]) @ self.w_mlp[i]
            logits = F.layer_norm(x, (c,), self.ln_f, None, 1e-5) @ self.wte.T
            return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))

    return torch, GPT()


def torch_step(torch, model) -> Callable:
    decay = [model.wte, model.wpe, model.w_qkv, model.w_attn, model.w_fc, model.w_mlp]
    keep = [model.ln_1, model.ln_2, model.ln_f]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": keep, "weight_decay": 0.0}],
        lr=LEARNING_RATE,
        betas=(0.9, 0.99),
    )

    def step(ids, targets):
        loss = model(ids, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    return step


def compare_with_torch(torch, model, params: tr.GPT, batch: tr.TextBatch) -> float:
    """Largest difference of the loss and of any gradient entry, jaxdl (default engine) vs torch.

    Both start from the same weights (the twin's were copied from ``params``).
    """
    loss, grads = jax.value_and_grad(tr.loss_function(CONFIG["heads"], tr.default_engine()))(
        params, batch
    )
    ids = torch.from_numpy(np.array(batch.inputs, np.int64))
    targets = torch.from_numpy(np.array(batch.targets, np.int64))
    model.zero_grad(set_to_none=True)
    t_loss = model(ids, targets)
    t_loss.backward()
    worst = abs(float(loss) - t_loss.item())
    print(f"  loss: jaxdl {float(loss):.7f}, pytorch {t_loss.item():.7f}")
    pairs = {
        "wte": (grads.wte, model.wte),
        "wpe": (grads.wpe, model.wpe),
        "ln_f": (grads.ln_f, model.ln_f),
        **{name: (getattr(grads.blocks, name), getattr(model, name)) for name in tr.Blocks._fields},
    }
    for name, (g, p) in pairs.items():
        diff = float(np.max(np.abs(np.asarray(g) - p.grad.numpy())))
        scale = float(np.max(np.abs(np.asarray(g))))
        print(f"  d{name:<7} max |jaxdl - pytorch| {diff:.2e}  (max |grad| {scale:.2e})")
        worst = max(worst, diff)
    model.zero_grad(set_to_none=True)
    return worst


# ------------------------------------------------------------------------------- timing


def prepare_jax(
    engine: str, params: tr.GPT, batch, steps: int
) -> tuple[float, Callable[[int], float]]:
    """``(compile seconds, run)``; ``run(steps)`` times ``steps`` steps (seconds), the program
    of :func:`jaxdl_steps` for ``engine``."""
    program = jaxdl_steps(engine, steps)
    state = init_train_state(jax.tree.map(jnp.copy, params), tr.nanogpt_adamw(LEARNING_RATE))
    start = time.perf_counter()
    state, loss = program(state, batch)
    loss.block_until_ready()
    compile_s = time.perf_counter() - start
    state, loss = program(state, batch)
    loss.block_until_ready()

    def run(n: int) -> float:
        nonlocal state
        if n != steps:
            raise ValueError(f"this program runs {steps} steps, asked for {n}")
        start = time.perf_counter()
        state, loss = program(state, batch)
        loss.block_until_ready()
        seconds = time.perf_counter() - start
        if not np.isfinite(float(loss)):
            raise RuntimeError("non-finite loss in the benchmark")
        return seconds

    return compile_s, run


def prepare_torch(torch, model, batch) -> Callable[[int], float]:
    step = torch_step(torch, model)
    ids = torch.from_numpy(np.array(batch.inputs, np.int64))
    targets = torch.from_numpy(np.array(batch.targets, np.int64))
    for _ in range(3):
        step(ids, targets)

    def run(steps: int) -> float:
        start = time.perf_counter()
        for _ in range(steps):
            loss = step(ids, targets)
        loss.item()
        return time.perf_counter() - start

    return run


def _part(fn: Callable, *args) -> Callable[[], object]:
    """A jitted forward-and-backward of ``fn(*args)`` (a cotangent of ones), as a thunk."""

    def both(*a):
        out, pull = jax.vjp(fn, *a)
        return pull(jax.tree.map(jnp.ones_like, out))

    jitted = jax.jit(both)
    return lambda: jitted(*args)


def profile(params: tr.GPT, batch: tr.TextBatch, steps: int, rounds: int) -> dict[str, float]:
    """Milliseconds per step of each part of the default engine's step (the hand rules)."""
    from jaxdl.backward import HAND as ops

    b, t, c, heads = CONFIG["batch"], CONFIG["context"], CONFIG["width"], CONFIG["heads"]
    layers, w = CONFIG["layers"], params.blocks
    x = jax.random.normal(jax.random.key(3), (b, t, c), jnp.float32)
    opt = tr.nanogpt_adamw(LEARNING_RATE)
    state = init_train_state(params, opt)
    grads = jax.grad(tr.loss_function(CONFIG["heads"], tr.default_engine()))(params, batch)
    update = jax.jit(lambda s, g: apply_gradients(s, g, opt))
    parts = {  # name: (how many per step, thunk)
        "attention": (layers, _part(
            lambda x, q, o: ops.self_attention(x, q, o, heads, mask="causal"),
            x, w.w_qkv[0], w.w_attn[0])),
        "MLP": (layers, _part(ops.mlp, x, w.w_fc[0], w.w_mlp[0])),
        "layer norm": (2 * layers + 1, _part(ops.layer_norm, x, w.ln_1[0])),
        "head and cross-entropy": (1, _part(
            lambda x, wte: ops.softmax_cross_entropy(
                ops.lm_head(x, wte).reshape(b * t, -1), batch.targets.reshape(-1)),
            x, params.wte)),
        "embedding": (1, _part(
            lambda wte, wpe: ops.embed(wte, wpe, batch.inputs), params.wte, params.wpe)),
        "optimizer update": (1, lambda: update(state, grads)),
    }  # fmt: skip
    _, run_step = prepare_jax(tr.default_engine(), params, batch, steps)
    runs = {"whole step": run_step}
    for name, (_, thunk) in parts.items():
        jax.block_until_ready(thunk())

        def run(n: int, thunk=thunk) -> float:
            start = time.perf_counter()
            for _ in range(n):
                out = thunk()
            jax.block_until_ready(out)
            return time.perf_counter() - start

        runs[name] = run
    seconds = interleaved(runs, steps, rounds)
    per_step = {
        name: 1000 * statistics.median(s) / steps * (parts[name][0] if name in parts else 1)
        for name, s in seconds.items()
    }
    whole = per_step["whole step"]
    for name, ms in per_step.items():
        count = f"x{parts[name][0]}" if name in parts else ""
        print(f"  {name:<24}{count:>4} {ms:7.2f} ms  {100 * ms / whole:5.1f}% of the step")
    return per_step


def interleaved(runs: dict[str, Callable[[int], float]], steps: int, rounds: int) -> dict:
    """Seconds per round for each contender, taking turns in rotating order."""
    names = list(runs)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            seconds[name].append(runs[name](steps))
    return seconds


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="steps per contender per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of turns (median reported)")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if present")
    parser.add_argument("--no-walk", action="store_true", help="skip the gpt_backward contender")
    parser.add_argument(
        "--profile", action="store_true", help="also time the step's parts on their own"
    )
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        help="PyTorch's intra-op threads (default: its own choice)",
    )
    args = parser.parse_args(argv)
    if args.steps < 1 or args.rounds < 1:
        parser.error("--steps and --rounds must be positive")
    if args.torch_threads is not None and args.torch_threads < 1:
        parser.error("--torch-threads must be positive")

    batch, vocab = make_batch()
    params = initial_params(vocab)
    twin = None if args.no_torch else torch_twin(params, CONFIG["heads"])
    if twin is not None:
        torch, model = twin
        if args.torch_threads is not None:
            torch.set_num_threads(args.torch_threads)
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    before = machine.snapshot()
    print(
        f"jax {jax.__version__} on {jax.devices()[0].platform}, {os.cpu_count()} CPUs, default "
        f"engine {tr.default_engine()!r}; {CONFIG}; {args.rounds} rounds of {args.steps} steps "
        f"per contender"
    )
    if twin is not None:
        worst = compare_with_torch(torch, model, params, batch)
        verdict = "equal" if worst <= TOLERANCE else "DIFFERENT"
        print(
            f"same weights, same batch: largest difference {worst:.2e} ({verdict} to {TOLERANCE})"
        )
    engines = [("jaxdl", tr.default_engine())] + [
        (f"jaxdl {engine}", engine)
        for engine in tr.ENGINES
        if engine != tr.default_engine() and not (args.no_walk and engine == "gpt_backward")
    ]
    runs: dict[str, Callable[[int], float]] = {}
    for name, engine in engines:
        compile_s, runs[name] = prepare_jax(engine, params, batch, args.steps)
        print(f"{name:<20} compiled in {compile_s:.1f} s")
    if twin is not None:
        runs["pytorch"] = prepare_torch(torch, model, batch)
    seconds = interleaved(runs, args.steps, args.rounds)
    tokens = args.steps * CONFIG["batch"] * CONFIG["context"]
    rates = {name: tokens / statistics.median(s) for name, s in seconds.items()}
    for name, rate in rates.items():
        print(f"{name:<20} {rate:9.0f} tokens/s  (median of {args.rounds})")
    for name in rates:
        if name != "jaxdl":
            ratios = [o / j for j, o in zip(seconds["jaxdl"], seconds[name], strict=True)]
            print(
                f"jaxdl / {name:<20} {statistics.median(ratios):6.2f}x  "
                f"(rounds {min(ratios):.2f}-{max(ratios):.2f})"
            )
    if args.profile:
        print("where a step goes (each part alone, forward and hand backward):")
        profile(params, batch, args.steps, args.rounds)
    print(machine.verdict(before))
    return rates


if __name__ == "__main__":
    main()
