"""The Transformer chapter trains with nanoGPT's recipe, checked against nanoGPT's own text
without PyTorch: its ``get_lr`` transcribed line by line, its ``p.dim() >= 2`` decay rule over
its own parameter names and shapes, and ``torch.optim.AdamW`` after ``clip_grad_norm_`` written
out in NumPy from PyTorch's formulas. (``benchmarks/gpt_parity.py`` runs the real PyTorch
recipe beside jaxdl's, step by step, where PyTorch is installed.)
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.milestones import transformer as tr
from jaxdl.optim import apply_gradients, init_train_state

# nanoGPT's CPU command on top of config/train_shakespeare_char.py.
LEARNING_RATE, MIN_LR, WARMUP_ITERS, LR_DECAY_ITERS = 1e-3, 1e-4, 100, 2000
WEIGHT_DECAY, BETAS, EPS, GRAD_CLIP = 0.1, (0.9, 0.99), 1e-8, 1.0


def get_lr(it, *, warmup_iters=WARMUP_ITERS, lr_decay_iters=LR_DECAY_ITERS):
    """nanoGPT's ``train.py``, verbatim."""
    learning_rate, min_lr = LEARNING_RATE, MIN_LR
    # 1) linear warmup for warmup_iters steps
    if it < warmup_iters:
        return learning_rate * (it + 1) / (warmup_iters + 1)
    # 2) if it > lr_decay_iters, return min learning rate
    if it > lr_decay_iters:
        return min_lr
    # 3) in between, use cosine decay down to min learning rate
    decay_ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
    assert 0 <= decay_ratio <= 1
    coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))  # coeff ranges 0..1
    return min_lr + coeff * (learning_rate - min_lr)


@pytest.mark.parametrize("steps", [2000, 200])
def test_schedule_is_nanogpts_get_lr_at_every_step(steps):
    # train_gpt's settings for a run of `steps`; nanoGPT's with the same warm-up and decay end.
    warmup = min(100, steps // 20)
    schedule = tr.nanogpt_schedule(
        LEARNING_RATE, warmup=warmup, decay_steps=steps, min_learning_rate=LEARNING_RATE / 10
    )
    its = np.arange(steps + 50)
    expected = [get_lr(int(i), warmup_iters=warmup, lr_decay_iters=steps) for i in its]
    # The schedule computes in float32: a few roundings from the float64 transcription (an
    # off-by-one would differ by 1% in the warm-up, by 1e-3 in the cosine).
    np.testing.assert_allclose(np.asarray(schedule(jnp.asarray(its))), expected, rtol=1e-6)


def nanogpt_parameters(gpt: tr.GPT) -> dict[str, tuple[tuple[int, ...], object]]:
    """nanoGPT's ``named_parameters()`` for ``gpt``'s sizes: name -> (shape, jaxdl's array, or
    ``None`` when ``gpt`` holds shapes only).

    ``nn.Linear`` stores ``[out, in]`` (jaxdl's ``[in, out]`` transposed); the head is tied to
    ``transformer.wte.weight`` and is listed once, under that name.
    """
    out = {
        "transformer.wte.weight": (gpt.wte.shape, gpt.wte),
        "transformer.wpe.weight": (gpt.wpe.shape, gpt.wpe),
    }
    b = gpt.blocks
    for i in range(b.ln_1.shape[0]):
        h = f"transformer.h.{i}."
        for name, x, linear in (("ln_1", b.ln_1, False), ("attn.c_attn", b.w_qkv, True),
                                ("attn.c_proj", b.w_attn, True), ("ln_2", b.ln_2, False),
                                ("mlp.c_fc", b.w_fc, True), ("mlp.c_proj", b.w_mlp, True)):  # fmt: skip
            shape = x.shape[:0:-1] if linear else x.shape[1:]
            out[h + name + ".weight"] = (shape, x[i] if hasattr(x, "__getitem__") else None)
    out["transformer.ln_f.weight"] = (gpt.ln_f.shape, gpt.ln_f)
    return out


def _nanogpt_shaped():
    return jax.eval_shape(
        lambda: tr.init_gpt(key=jax.random.key(0), vocab=65, context=64, layers=4, width=128)
    )


def test_decay_mask_is_nanogpts_dim_rule():
    shapes = _nanogpt_shaped()
    named = nanogpt_parameters(shapes)
    decayed = {n for n, (shape, _) in named.items() if len(shape) >= 2}  # p.dim() >= 2
    # What nanoGPT's configure_optimizers prints for its CPU configuration.
    assert len(decayed) == 18 and len(named) - len(decayed) == 9
    assert sum(math.prod(named[n][0]) for n in decayed) == 802_944
    # jaxdl's mask, leaf by leaf, with the blocks' leading layer axis spread out.
    mask = tr.decay_mask(shapes)
    flags = {
        "transformer.wte.weight": mask.wte,
        "transformer.wpe.weight": mask.wpe,
        "transformer.ln_f.weight": mask.ln_f,
    }
    for i in range(4):
        h = f"transformer.h.{i}."
        for name, field in (("ln_1", "ln_1"), ("attn.c_attn", "w_qkv"), ("attn.c_proj", "w_attn"),
                            ("ln_2", "ln_2"), ("mlp.c_fc", "w_fc"), ("mlp.c_proj", "w_mlp")):  # fmt: skip
            flags[h + name + ".weight"] = getattr(mask.blocks, field)
    assert set(flags) == set(named)
    assert {n for n, f in flags.items() if f} == decayed


def torch_adamw_step(params, grads, state, lr, step):
    """``clip_grad_norm_(params, 1.0)`` then one ``torch.optim.AdamW`` step (PyTorch's
    ``_single_tensor_adamw``), in NumPy, over nanoGPT's two parameter groups."""
    norms = [np.linalg.norm(g.ravel()) for g in grads.values()]
    total = np.linalg.norm(norms)
    clip_coef = min(GRAD_CLIP / (total + 1e-6), 1.0)  # clip_grad_norm_'s 1e-6
    (beta1, beta2), out = BETAS, {}
    bias_correction1, bias_correction2 = 1 - beta1**step, 1 - beta2**step
    for name, p in params.items():
        g = grads[name] * clip_coef
        weight_decay = WEIGHT_DECAY if p.ndim >= 2 else 0.0
        p = p * (1 - lr * weight_decay)
        m, v = state[name]
        m = beta1 * m + (1 - beta1) * g  # exp_avg.lerp_(grad, 1 - beta1)
        v = beta2 * v + (1 - beta2) * g * g
        denom = np.sqrt(v) / math.sqrt(bias_correction2) + EPS
        out[name] = p - (lr / bias_correction1) * m / denom
        state[name] = (m, v)
    return out


_update = jax.jit(lambda state, grads: apply_gradients(state, grads, tr.nanogpt_adamw(1e-3)))


def test_adamw_steps_are_torchs_formula():
    params = tr.init_gpt(
        key=jax.random.key(1), vocab=7, context=5, layers=2, width=8, dtype=jnp.float64
    )
    params = params._replace(ln_f=params.ln_f + 0.1)  # gains away from one: decay would show
    state = init_train_state(params, tr.nanogpt_adamw(1e-3))

    def numpy_named(gpt):
        return {n: np.array(x, np.float64) for n, (_, x) in nanogpt_parameters(gpt).items()}

    reference = numpy_named(params)
    moments = {n: (np.zeros_like(p), np.zeros_like(p)) for n, p in reference.items()}
    rng = np.random.default_rng(0)
    # Gradients with global norms above the clip (3), below it (0.5), and above again.
    for step, scale in enumerate([3.0, 0.5, 2.0]):
        grads = jax.tree.map(lambda x: rng.normal(size=x.shape), params)
        norm = math.sqrt(sum(float(np.sum(np.square(g))) for g in jax.tree.leaves(grads)))
        grads = jax.tree.map(lambda g, s=scale / norm: jnp.asarray(g * s), grads)
        state = _update(state, grads)
        reference = torch_adamw_step(reference, numpy_named(grads), moments, get_lr(step), step + 1)
        got = numpy_named(state.params)
        for name in reference:
            # Equal to float64 rounding but for clip_grad_norm_'s 1e-6 (optax divides by the
            # norm alone): a relative 3e-7 in a clipped step's gradient, which Adam's
            # m / sqrt(v) cancels within that step but not in the moments it leaves to the
            # next: at most lr * 3e-7 * (1 - beta1) = 3e-11, far below what any difference
            # in the recipe would move (of the order of lr = 1e-5 here).
            np.testing.assert_allclose(got[name], reference[name], rtol=0, atol=3e-11,
                                       err_msg=f"{name} after step {step}")  # fmt: skip
