"""Training parity: jaxdl's GPT and nanoGPT's recipe in PyTorch, step by step, same start.

As llm.c's ``test_gpt2`` checks its training against PyTorch, this script starts a PyTorch twin
of the Transformer chapter's GPT from jaxdl's initial weights, feeds both the same batches (drawn
by jaxdl's own feed, :func:`jaxdl.data.text.window_feed`, and handed to torch as the same
arrays), and trains both with nanoGPT's recipe. The torch side is written as nanoGPT's
``model.py`` and ``train.py`` write it: ``nn.Linear(bias=False)`` layers, nanoGPT's bias-free
``LayerNorm``, ``F.scaled_dot_product_attention(is_causal=True)``, ``nn.GELU()``, the head tied
to the token table; ``configure_optimizers``' two parameter groups (``p.dim() >= 2`` decays),
``torch.optim.AdamW(betas=(0.9, 0.99))``, ``get_lr`` set on every group before each step,
``clip_grad_norm_(model.parameters(), 1.0)``.

Three modes (nanoGPT's CPU configuration of its README: 4 layers, 4 heads, width 128, context
64, batch 12, learning rate 1e-3, 100 warm-up steps, cosine to 1e-4 at step 2000):

``python benchmarks/gpt_parity.py``
    the first 20 steps, one line per step: both losses, both learning rates, both global
    gradient norms (before clipping) and the largest difference of any parameter. It fails
    (exit status 1) unless they agree to float32 rounding (the tolerances below).

``python benchmarks/gpt_parity.py --curves --out DIR [--plot] [--seed 0 1 2]``
    jaxdl's own run (:func:`~jaxdl.milestones.transformer.train_gpt` as
    ``jaxdl run transformer --paper --seed S`` calls it; with ``--x64``, exactly that run: the
    command line turns on ``jax_enable_x64``, which changes the draws of the batches) beside the twin trained by nanoGPT's loop
    from the same start on the same batches, each estimated every 250 steps on the same random
    validation batches (20, nanoGPT's ``--eval_iters=20``) and at the end on 200; writes
    ``DIR/gpt_parity_seed{S}.json`` (and ``.png`` with ``--plot``).

``python benchmarks/gpt_parity.py --curves --torch-draws --out DIR [--seed 1337]``
    the twin alone, trained by nanoGPT's loop with torch's own draws (initialisation, batches,
    estimates) seeded by ``torch.manual_seed``, as nanoGPT's ``train.py`` draws them: the
    distribution jaxdl's seeds should match; writes ``DIR/nanogpt_own_seed{S}.json``.

**The tolerances.** Both sides compute in float32, where one rounding is a relative 6e-8, and
reduce sums in different orders, so they differ by a few roundings. The loss (about 4 here) is
held to 2e-5 absolute, the learning rate and the gradient norm to 1e-5 relative, and every
parameter to 1e-5 absolute. Rounding alone leaves the losses within about 1e-6 and the
parameters within about 3e-7: Adam divides each gradient entry by its own size, so an entry
whose gradient is near Adam's epsilon (1e-8), mostly rounding error from cancellation, moves by
a fraction of the first step's learning rate (1e-5) differently on the two sides, and stays so.
A difference in the *recipe* moves far more within 20 steps; measured by changing jaxdl's side
alone (seed 0): the schedule one step ahead, loss 6e-2 and parameters 6e-4 apart; no clipping,
2e-2 and 5e-4; Adam's epsilon 1e-6, 2e-4 and 7e-4; weight decay on the gains too, 9e-5 and
2e-4; beta2 0.999 instead of 0.99, 2e-3 and 4e-5. Over whole runs of 2000 steps the two stay
together: over seeds 0 to 4, no step's batch loss differed by more than 7e-6 and no parameter
by more than 2.3e-5 at the end, and every estimate agreed to the four decimals printed.

PyTorch is not a jaxdl dependency: install it beside jaxdl to run this
(``pip install torch``, the CPU build suffices). Use ``--threads 1`` on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdl import machine
from jaxdl.data.text import random_windows, window_feed
from jaxdl.milestones import transformer as tr
from jaxdl.optim import apply_gradients, init_train_state

#: nanoGPT's CPU command (its README) on top of ``config/train_shakespeare_char.py``.
NANOGPT = dict(
    batch_size=12,
    block_size=64,
    n_layer=4,
    n_head=4,
    n_embd=128,
    learning_rate=1e-3,
    max_iters=2000,
    lr_decay_iters=2000,
    min_lr=1e-4,
    warmup_iters=100,
    weight_decay=1e-1,
    beta1=0.9,
    beta2=0.99,
    grad_clip=1.0,
    eval_interval=250,
    eval_iters=20,
)
LOSS_TOLERANCE = 2e-5  # absolute, on a loss near 4
RELATIVE_TOLERANCE = 1e-5  # learning rate and gradient norm
PARAM_TOLERANCE = 1e-5  # absolute, largest parameter difference after the checked steps


# --------------------------------------------------------------------------------------------
# nanoGPT's model.py, reduced to the CPU configuration (no biases, no dropout)
# --------------------------------------------------------------------------------------------


def nanogpt_model(torch, *, vocab: int, context: int, layers: int, heads: int, width: int):
    """nanoGPT's ``GPT`` class (its ``model.py``, ``bias=False``, ``dropout=0``)."""
    nn, F = torch.nn, torch.nn.functional

    class LayerNorm(nn.Module):
        def __init__(self, ndim):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(ndim))
            self.bias = None

        def forward(self, x):
            return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)

    class CausalSelfAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.c_attn = nn.Linear(width, 3 * width, bias=False)
            self.c_proj = nn.Linear(width, width, bias=False)

        def forward(self, x):
            b, t, c = x.size()
            q, k, v = self.c_attn(x).split(width, dim=2)
            k = k.view(b, t, heads, c // heads).transpose(1, 2)
            q = q.view(b, t, heads, c // heads).transpose(1, 2)
            v = v.view(b, t, heads, c // heads).transpose(1, 2)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0, is_causal=True)
            y = y.transpose(1, 2).contiguous().view(b, t, c)
            return self.c_proj(y)

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.c_fc = nn.Linear(width, 4 * width, bias=False)
            self.gelu = nn.GELU()
            self.c_proj = nn.Linear(4 * width, width, bias=False)

        def forward(self, x):
            return self.c_proj(self.gelu(self.c_fc(x)))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1 = LayerNorm(width)
            self.attn = CausalSelfAttention()
            self.ln_2 = LayerNorm(width)
            self.mlp = MLP()

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            return x + self.mlp(self.ln_2(x))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.transformer = nn.ModuleDict(
                dict(
                    wte=nn.Embedding(vocab, width),
                    wpe=nn.Embedding(context, width),
                    h=nn.ModuleList([Block() for _ in range(layers)]),
                    ln_f=LayerNorm(width),
                )
            )
            self.lm_head = nn.Linear(width, vocab, bias=False)
            self.transformer.wte.weight = self.lm_head.weight  # weight tying
            self.apply(self._init_weights)
            for pn, p in self.named_parameters():
                if pn.endswith("c_proj.weight"):
                    torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * layers))

        def _init_weights(self, module):
            if isinstance(module, nn.Linear | nn.Embedding):
                torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

        def forward(self, idx, targets):
            t = idx.size(1)
            pos = torch.arange(0, t, dtype=torch.long)
            x = self.transformer.wte(idx) + self.transformer.wpe(pos)
            for block in self.transformer.h:
                x = block(x)
            logits = self.lm_head(self.transformer.ln_f(x))
            return F.cross_entropy(
                logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1
            )

        def configure_optimizers(self, weight_decay, learning_rate, betas):
            param_dict = {pn: p for pn, p in self.named_parameters() if p.requires_grad}
            decay_params = [p for n, p in param_dict.items() if p.dim() >= 2]
            nodecay_params = [p for n, p in param_dict.items() if p.dim() < 2]
            optim_groups = [
                {"params": decay_params, "weight_decay": weight_decay},
                {"params": nodecay_params, "weight_decay": 0.0},
            ]
            return torch.optim.AdamW(optim_groups, lr=learning_rate, betas=betas)

    return GPT()


def get_lr(it: int, c: dict = NANOGPT) -> float:
    """nanoGPT's ``get_lr`` (``train.py``), verbatim but for the config dict."""
    if it < c["warmup_iters"]:
        return c["learning_rate"] * (it + 1) / (c["warmup_iters"] + 1)
    if it > c["lr_decay_iters"]:
        return c["min_lr"]
    decay_ratio = (it - c["warmup_iters"]) / (c["lr_decay_iters"] - c["warmup_iters"])
    assert 0 <= decay_ratio <= 1
    coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))
    return c["min_lr"] + coeff * (c["learning_rate"] - c["min_lr"])


# --------------------------------------------------------------------------------------------
# Weights across: jaxdl's GPT <-> nanoGPT's state dict
# --------------------------------------------------------------------------------------------


def load_jaxdl_weights(torch, model, params: tr.GPT) -> None:
    """Copy jaxdl's parameters into the twin (``nn.Linear`` stores ``[out, in]``: transposed)."""

    def put(p, x):
        with torch.no_grad():
            p.copy_(torch.from_numpy(np.array(x, np.float32)))

    t = model.transformer
    put(t.wte.weight, params.wte)  # also lm_head.weight: the same tensor
    put(t.wpe.weight, params.wpe)
    put(t.ln_f.weight, params.ln_f)
    b = params.blocks
    for i, block in enumerate(t.h):
        put(block.ln_1.weight, b.ln_1[i])
        put(block.attn.c_attn.weight, np.asarray(b.w_qkv[i]).T)
        put(block.attn.c_proj.weight, np.asarray(b.w_attn[i]).T)
        put(block.ln_2.weight, b.ln_2[i])
        put(block.mlp.c_fc.weight, np.asarray(b.w_fc[i]).T)
        put(block.mlp.c_proj.weight, np.asarray(b.w_mlp[i]).T)


def twin_as_jaxdl(model) -> tr.GPT:
    """The twin's parameters laid out as jaxdl's :class:`~jaxdl.milestones.transformer.GPT`."""
    t = model.transformer

    def get(p, transpose=False):
        x = p.detach().numpy()
        return x.T if transpose else x

    def stack(f):
        return np.stack([f(block) for block in t.h])

    return tr.GPT(
        wte=get(t.wte.weight),
        wpe=get(t.wpe.weight),
        blocks=tr.Blocks(
            ln_1=stack(lambda b: get(b.ln_1.weight)),
            w_qkv=stack(lambda b: get(b.attn.c_attn.weight, True)),
            w_attn=stack(lambda b: get(b.attn.c_proj.weight, True)),
            ln_2=stack(lambda b: get(b.ln_2.weight)),
            w_fc=stack(lambda b: get(b.mlp.c_fc.weight, True)),
            w_mlp=stack(lambda b: get(b.mlp.c_proj.weight, True)),
        ),
        ln_f=get(t.ln_f.weight),
    )


def largest_difference(a: tr.GPT, b: tr.GPT) -> float:
    return max(
        float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64))))
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )


# --------------------------------------------------------------------------------------------
# nanoGPT's training step (train.py's loop body, without gradient accumulation or AMP)
# --------------------------------------------------------------------------------------------


def nanogpt_trainer(torch, model, c: dict = NANOGPT):
    """``step(iter_num, X, Y) -> (loss, lr, grad norm)``: one iteration of nanoGPT's loop."""
    optimizer = model.configure_optimizers(
        c["weight_decay"], c["learning_rate"], (c["beta1"], c["beta2"])
    )

    def step(iter_num, X, Y):
        lr = get_lr(iter_num, c)
        for param_group in optimizer.param_groups:
            param_group["lr"] = lr
        loss = model(X, Y)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), c["grad_clip"])
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.item(), lr, float(norm)

    return step


def to_torch(torch, batch: tr.TextBatch):
    return (
        torch.from_numpy(np.asarray(batch.inputs, np.int64)),
        torch.from_numpy(np.asarray(batch.targets, np.int64)),
    )


# --------------------------------------------------------------------------------------------
# Both sides from one seed, as `jaxdl run transformer --paper --seed S` starts
# --------------------------------------------------------------------------------------------


def recipe(steps: int = NANOGPT["max_iters"]) -> dict:
    """nanoGPT's settings for a run of ``steps`` (the decay ends there; warm-up as jaxdl's
    :func:`~.transformer.train_gpt` shortens it, ``min(100, steps // 20)``)."""
    return dict(NANOGPT, max_iters=steps, lr_decay_iters=steps,
                warmup_iters=min(NANOGPT["warmup_iters"], steps // 20),
                eval_interval=min(NANOGPT["eval_interval"], steps))  # fmt: skip


def settings(c: dict = NANOGPT) -> dict:
    """jaxdl's settings (:data:`~.transformer.PAPER`'s names) for nanoGPT's ``c``."""
    return dict(
        steps=c["max_iters"],
        batch=c["batch_size"],
        context=c["block_size"],
        layers=c["n_layer"],
        heads=c["n_head"],
        width=c["n_embd"],
        learning_rate=c["learning_rate"],
    )


def keys(seed: int) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """``(k_train, k_init, k_feed, k_eval)``: the keys of :func:`~.transformer.run` and
    :func:`~.transformer.train_gpt` for ``seed``."""
    k_train = jax.random.split(jax.random.key(seed), 3)[0]
    return (k_train, *jax.random.split(k_train, 3))


def batches(data, k_feed, steps: int, s: dict) -> tr.TextBatch:
    """The ``steps`` training batches :func:`~.transformer.train_gpt` draws: ``[steps, B, T]``."""
    feed = window_feed(jnp.asarray(data.train), key=k_feed, batch=s["batch"], context=s["context"])

    @jax.jit
    def draw(state):
        return jax.lax.scan(lambda st, _: feed.next(st), state, length=steps)[1]

    return draw(feed.state)


def jaxdl_step(s: dict, engine: str):
    """One jitted jaxdl step: ``(state, batch) -> (state, loss, lr, grad norm)``."""
    opt = tr.nanogpt_adamw(
        s["learning_rate"],
        steps=s["steps"],
        warmup=min(100, s["steps"] // 20),
        min_learning_rate=s["learning_rate"] / 10,
    )
    schedule = tr.nanogpt_schedule(
        s["learning_rate"],
        warmup=min(100, s["steps"] // 20),
        decay_steps=s["steps"],
        min_learning_rate=s["learning_rate"] / 10,
    )
    value_and_grad = jax.value_and_grad(tr.loss_function(s["heads"], engine))

    @jax.jit
    def step(state, batch):
        loss, grads = value_and_grad(state.params, batch)
        lr = schedule(state.step)
        return apply_gradients(state, grads, opt), loss, lr, optax.global_norm(grads)

    return opt, step


def same_start(torch, data, k_init: jax.Array, s: dict):
    """``(params, model)``: jaxdl's initial GPT and the PyTorch twin holding its weights."""
    vocab = len(data.chars)
    sizes = {k: s[k] for k in ("context", "layers", "width")}
    params = tr.init_gpt(key=k_init, vocab=vocab, **sizes)
    model = nanogpt_model(torch, vocab=vocab, heads=s["heads"], **sizes)
    load_jaxdl_weights(torch, model, params)
    return params, model


def parity_steps(torch, seed: int, steps: int, engine: str) -> dict:
    """The step-by-step comparison; returns the largest differences."""
    s = settings()
    data = tr.load_text(None, context=s["context"])
    _, k_init, k_feed, _ = keys(seed)
    params, model = same_start(torch, data, k_init, s)
    start = largest_difference(params, twin_as_jaxdl(model))
    opt, j_step = jaxdl_step(s, engine)
    t_step = nanogpt_trainer(torch, model)
    state = init_train_state(params, opt)
    xs = batches(data, k_feed, steps, s)
    print(f"seed {seed}, engine {engine!r}: same initial weights (largest difference {start:.1e})")
    print(
        f"{'step':>4} {'loss jaxdl':>11} {'loss torch':>11} {'lr jaxdl':>11} {'lr torch':>11} "
        f"{'|g| jaxdl':>10} {'|g| torch':>10} {'max|dp|':>9}"
    )
    worst = dict(loss=0.0, lr=0.0, norm=0.0, params=start)
    rows = []
    for i in range(steps):
        batch = jax.tree.map(lambda a, i=i: a[i], xs)
        state, j_loss, j_lr, j_norm = j_step(state, batch)
        t_loss, t_lr, t_norm = t_step(i, *to_torch(torch, batch))
        j_loss, j_lr, j_norm = float(j_loss), float(j_lr), float(j_norm)
        dp = largest_difference(state.params, twin_as_jaxdl(model))
        print(
            f"{i:>4} {j_loss:11.7f} {t_loss:11.7f} {j_lr:11.4e} {t_lr:11.4e} "
            f"{j_norm:10.6f} {t_norm:10.6f} {dp:9.2e}"
        )
        rows.append(dict(step=i, loss=(j_loss, t_loss), lr=(j_lr, t_lr), norm=(j_norm, t_norm),
                         max_param_diff=dp))  # fmt: skip
        worst["loss"] = max(worst["loss"], abs(j_loss - t_loss))
        worst["lr"] = max(worst["lr"], abs(j_lr - t_lr) / t_lr)
        worst["norm"] = max(worst["norm"], abs(j_norm - t_norm) / t_norm)
        worst["params"] = max(worst["params"], dp)
    return dict(worst=worst, rows=rows)


def parity_run(
    torch, seed: int, engine: str, out: Path | None, plot: bool, steps: int = 2000
) -> dict:
    """jaxdl's ``--paper`` training beside the twin on the same batches; both curves."""
    c = recipe(steps)
    s = settings(c)
    data = tr.load_text(None, context=s["context"])
    k_train, k_init, k_feed, k_eval = keys(seed)
    print(f"seed {seed}: jaxdl's run ({engine!r}, {s['steps']} steps) ... load {_load()}")
    begin = time.perf_counter()
    trained = tr.train_gpt(data, key=k_train, engine=engine, eval_every=c["eval_interval"], **s)
    j_seconds = time.perf_counter() - begin
    params, model = same_start(torch, data, k_init, s)
    xs = jax.tree.map(np.asarray, batches(data, k_feed, s["steps"], s))
    # train_gpt's estimates draw from both parts of one array (its _Estimates): the same here.
    whole = jnp.asarray(np.concatenate([data.train, data.validation]))
    n = len(data.train)

    @torch.no_grad()
    def estimate(key, lo, hi, count):
        model.eval()
        out = []
        for k in jax.random.split(key, count):
            windows = random_windows(whole, k, batch=s["batch"], context=s["context"], start=lo,
                                     stop=hi)  # fmt: skip
            out.append(model(*to_torch(torch, windows)).item())
        model.train()
        return float(np.mean(out))

    evals = {"step": [], "train": [], "val": []}

    def add(done):
        k = jax.random.fold_in(k_eval, done)
        evals["step"].append(done)
        evals["train"].append(estimate(k, 0, n, c["eval_iters"]))
        evals["val"].append(estimate(k, n, len(whole), c["eval_iters"]))

    print(f"seed {seed}: the twin by nanoGPT's loop ... load {_load()}")
    t_step = nanogpt_trainer(torch, model, c)
    losses = []
    begin = time.perf_counter()
    for iter_num in range(s["steps"]):
        if iter_num % c["eval_interval"] == 0:
            add(iter_num)
        batch = tr.TextBatch(xs.inputs[iter_num], xs.targets[iter_num])
        losses.append(t_step(iter_num, *to_torch(torch, batch))[0])
    add(s["steps"])
    t_seconds = time.perf_counter() - begin
    k_val = jax.random.fold_in(k_train, 1)  # the 200-batch estimate of transformer.run
    kw = dict(heads=s["heads"], batch=s["batch"], context=s["context"])
    j_200 = float(tr.estimate_loss(trained.params, whole, k_val, n, len(whole), batches=200, **kw))
    t_200 = estimate(k_val, n, len(whole), 200)
    j_l, t_l = np.asarray(trained.losses), np.asarray(losses)
    apart = largest_difference(trained.params, twin_as_jaxdl(model))
    result = {
        "seed": seed,
        "largest_loss_difference": float(np.max(np.abs(j_l - t_l))),
        "largest_parameter_difference_at_end": apart,
        "engine": engine,
        "settings": s,
        "jaxdl": {"losses": [float(x) for x in trained.losses], "evals": trained.evals,
                  "val_20": trained.evals["val"][-1], "val_200": j_200, "seconds": j_seconds},
        "nanogpt_twin": {"losses": losses, "evals": evals, "val_20": evals["val"][-1],
                         "val_200": t_200, "seconds": t_seconds},
        "load_average_end": _load(),
    }  # fmt: skip
    print(f"{'step':>5} {'val jaxdl':>10} {'val twin':>10} {'train jaxdl':>12} {'train twin':>11}")
    for i, step in enumerate(evals["step"]):
        print(
            f"{step:>5} {trained.evals['val'][i]:10.4f} {evals['val'][i]:10.4f} "
            f"{trained.evals['train'][i]:12.4f} {evals['train'][i]:11.4f}"
        )
    print(f"200 val batches: jaxdl {j_200:.4f}, twin {t_200:.4f}")
    print(f"the whole run, estimates included: jaxdl {j_seconds:.1f} s, the twin by nanoGPT's "
          f"loop {t_seconds:.1f} s: jaxdl {t_seconds / j_seconds:.2f}x as fast")  # fmt: skip
    print(f"largest difference of a step's loss {result['largest_loss_difference']:.1e}, "
          f"of a parameter at the end {apart:.1e}")  # fmt: skip
    for lo, hi in ((0, 100), (100, 500), (500, 1000), (1000, 1500), (1500, 2000)):
        if hi <= len(j_l):
            print(f"mean batch loss, steps {lo + 1}-{hi}: jaxdl {j_l[lo:hi].mean():.4f}, "
                  f"twin {t_l[lo:hi].mean():.4f}")  # fmt: skip
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"gpt_parity_seed{seed}.json"
        path.write_text(json.dumps(result, indent=1))
        print(f"wrote {path}")
        if plot:
            _plot(result, out / f"gpt_parity_seed{seed}.png")
    return result


def nanogpt_own_run(torch, seed: int, out: Path | None, steps: int = 2000) -> dict:
    """nanoGPT's loop with its own draws: ``torch.manual_seed(seed)``, the twin's own
    initialisation (nanoGPT's ``_init_weights``), ``get_batch``'s ``torch.randint`` and
    ``estimate_loss``'s random batches, as ``train.py`` draws them (no jaxdl in the loop)."""
    c = recipe(steps)
    data = tr.load_text(None, context=c["block_size"])
    train_data = torch.from_numpy(data.train.astype(np.int64))
    val_data = torch.from_numpy(data.validation.astype(np.int64))
    torch.manual_seed(seed)
    model = nanogpt_model(torch, vocab=len(data.chars), context=c["block_size"],
                          layers=c["n_layer"], heads=c["n_head"], width=c["n_embd"])  # fmt: skip

    def get_batch(split):
        d = train_data if split == "train" else val_data
        ix = torch.randint(len(d) - c["block_size"], (c["batch_size"],))
        x = torch.stack([d[i : i + c["block_size"]] for i in ix])
        y = torch.stack([d[i + 1 : i + 1 + c["block_size"]] for i in ix])
        return x, y

    @torch.no_grad()
    def estimate_loss(eval_iters):
        model.eval()
        out = {}
        for split in ("train", "val"):
            losses = torch.zeros(eval_iters)
            for k in range(eval_iters):
                losses[k] = model(*get_batch(split)).item()
            out[split] = losses.mean().item()
        model.train()
        return out

    print(f"seed {seed}: nanoGPT's loop, its own draws ... load {_load()}")
    t_step = nanogpt_trainer(torch, model, c)
    evals = {"step": [], "train": [], "val": []}
    X, Y = get_batch("train")
    begin = time.perf_counter()
    for iter_num in range(steps + 1):
        if iter_num % c["eval_interval"] == 0 or iter_num == steps:
            e = estimate_loss(c["eval_iters"])
            evals["step"].append(iter_num)
            evals["train"].append(e["train"])
            evals["val"].append(e["val"])
            print(f"step {iter_num}: train loss {e['train']:.4f}, val loss {e['val']:.4f}")
        if iter_num == steps:
            break
        t_step(iter_num, X, Y)
        X, Y = get_batch("train")
    val_200 = estimate_loss(200)["val"]
    result = {"seed": seed, "evals": evals, "val_20": evals["val"][-1], "val_200": val_200,
              "seconds": time.perf_counter() - begin, "load_average_end": _load()}  # fmt: skip
    print(f"seed {seed}: val loss {evals['val'][-1]:.4f} (20 batches), {val_200:.4f} (200)")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"nanogpt_own_seed{seed}.json"
        path.write_text(json.dumps(result, indent=1))
        print(f"wrote {path}")
    return result


def _plot(result: dict, path: Path) -> None:
    """Both runs' curves (they overlap), and how far apart each step's loss is."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax_d) = plt.subplots(1, 2, figsize=(9.6, 3.6))
    style = {"jaxdl": dict(color="tab:blue", lw=2.4), "nanogpt_twin": dict(color="tab:red", lw=0.8)}
    for name, kw in style.items():
        r = result[name]
        losses = np.asarray(r["losses"])
        smooth = np.convolve(losses, np.ones(50) / 50, mode="valid")
        ax.plot(np.arange(50, len(losses) + 1), smooth, label=f"{name}: train (50-step mean)", **kw)
        ax.plot(r["evals"]["step"], r["evals"]["val"], "o--", ms=4 if name == "jaxdl" else 2,
                label=f"{name}: val (20 batches)", **kw)  # fmt: skip
    ax.set(xlabel="step", ylabel="cross-entropy (nats)", ylim=(1.3, 3.0),
           title=f"same start, same batches (seed {result['seed']})")  # fmt: skip
    ax.legend(fontsize=7)
    gap = np.abs(
        np.asarray(result["jaxdl"]["losses"]) - np.asarray(result["nanogpt_twin"]["losses"])
    )
    ax_d.semilogy(np.arange(1, len(gap) + 1), np.maximum(gap, 1e-9), ".", ms=1, color="0.3")
    ax_d.set(xlabel="step", ylabel="|loss jaxdl - loss twin|", ylim=(1e-9, 1e-3),
             title="each step's batch loss, apart by float32 rounding")  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="steps to check (default 20), or with --curves to train (2000)",
    )
    parser.add_argument("--curves", action="store_true",
                        help="train both whole runs and compare their curves")  # fmt: skip
    parser.add_argument("--seed", type=int, nargs="+", default=[0], help="jaxdl seeds")
    parser.add_argument("--engine", default=None, help="jaxdl's engine (default: the platform's)")
    parser.add_argument("--threads", type=int, default=None, help="torch's intra-op threads")
    parser.add_argument("--out", type=Path, default=None, help="directory for the curves' JSON")
    parser.add_argument("--plot", action="store_true", help="also a PNG of the curves")
    parser.add_argument(
        "--x64",
        action="store_true",
        help="turn on jax_enable_x64 as `jaxdl run` does: the GPT still computes in float32, "
        "but jax.random.randint then draws 64-bit integers, so a seed draws other batches; "
        "with it, the jaxdl side is exactly `jaxdl run transformer --paper --seed S`",
    )
    parser.add_argument(
        "--torch-draws",
        action="store_true",
        help="with --curves: the twin alone, nanoGPT's loop with torch's own initialisation, "
        "batches and estimates seeded by torch.manual_seed (no jaxdl draws)",
    )
    args = parser.parse_args(argv)
    steps = args.steps if args.steps is not None else (2000 if args.curves else 20)
    if steps < 1 or (not args.curves and steps > NANOGPT["max_iters"]):
        parser.error(f"--steps must lie in 1..{NANOGPT['max_iters']} (more with --curves)")
    if args.plot and args.out is None:
        parser.error("--plot needs --out")
    if args.torch_draws and not args.curves:
        parser.error("--torch-draws needs --curves")
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed: pip install torch (the CPU build suffices)")
        return 2
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.x64:
        jax.config.update("jax_enable_x64", True)
    engine = args.engine or tr.default_engine()
    print(f"jax {jax.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"load average {_load()}")  # fmt: skip
    if args.curves:
        before = machine.snapshot()
        for seed in args.seed:
            if args.torch_draws:
                nanogpt_own_run(torch, seed, args.out, steps)
            else:
                parity_run(torch, seed, engine, args.out, args.plot, steps)
        print(machine.verdict(before))
        return 0
    failed = False
    for seed in args.seed:
        worst = parity_steps(torch, seed, steps, engine)["worst"]
        ok = (
            worst["loss"] <= LOSS_TOLERANCE
            and worst["lr"] <= RELATIVE_TOLERANCE
            and worst["norm"] <= RELATIVE_TOLERANCE
            and worst["params"] <= PARAM_TOLERANCE
        )
        failed |= not ok
        print(
            f"largest differences over {steps} steps: loss {worst['loss']:.1e} "
            f"(tolerance {LOSS_TOLERANCE:.0e}), learning rate {worst['lr']:.1e} and gradient "
            f"norm {worst['norm']:.1e} relative (tolerance {RELATIVE_TOLERANCE:.0e}), parameters "
            f"{worst['params']:.1e} (tolerance {PARAM_TOLERANCE:.0e}): "
            + ("AGREE" if ok else "DIFFERENT")
        )
    print(f"load average {_load()}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
