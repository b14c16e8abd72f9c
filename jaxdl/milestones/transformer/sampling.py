"""Text from a trained GPT, one character at a time (nanoGPT's ``sample.py``)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.validate import require_positive_float, require_positive_int

from .model import GPT, forward


@functools.partial(jax.jit, static_argnames=("heads", "length", "top_k"))
def _sample(params, prompt, key, temperature, *, heads, length, top_k):
    context = params.wpe.shape[0]
    n = prompt.shape[0]
    buffer = jnp.zeros((n + length,), jnp.int32).at[:n].set(prompt)

    def step(carry, k):
        buffer, pos = carry  # pos: the index of the character to write
        start = jnp.maximum(pos - context, 0)
        window = jax.lax.dynamic_slice(buffer, (start,), (min(context, n + length),))
        logits = forward(params, window[None, :], heads=heads)[0, pos - 1 - start]
        logits = logits / temperature
        if top_k is not None and top_k < logits.shape[0]:
            kth = jax.lax.top_k(logits, top_k)[0][-1]
            logits = jnp.where(logits < kth, -jnp.inf, logits)
        char = jax.random.categorical(k, logits).astype(jnp.int32)
        return (buffer.at[pos].set(char), pos + 1), None

    (buffer, _), _ = jax.lax.scan(step, (buffer, jnp.int32(n)), jax.random.split(key, length))
    return buffer[n:]


def sample(
    params: GPT,
    prompt: np.ndarray,
    *,
    key: jax.Array,
    heads: int,
    length: int,
    temperature: float = 0.8,
    top_k: int | None = 200,
) -> np.ndarray:
    """``length`` character ids drawn one at a time after ``prompt`` (ids, at least one).

    Each step runs the model over the last ``context`` characters and draws the next from
    ``softmax(logits / temperature)`` restricted to the ``top_k`` likeliest (nanoGPT's
    ``sample.py`` defaults: 0.8 and 200). Seeded by ``key``: the same key gives the same text.
    The whole generation is one compiled ``lax.scan`` over a fixed-size buffer (no key-value
    cache: at this context the full window costs little; see the chapter).
    """
    require_positive_int("length", length)
    require_positive_float("temperature", temperature)
    if top_k is not None:
        require_positive_int("top_k", top_k)
    prompt = np.asarray(prompt, np.int32).reshape(-1)
    if prompt.size == 0:
        raise ValueError("the prompt must hold at least one character")
    if prompt.size > params.wpe.shape[0]:
        prompt = prompt[-params.wpe.shape[0] :]
    out = _sample(
        params,
        jnp.asarray(prompt),
        key,
        jnp.asarray(temperature, params.wte.dtype),
        heads=heads,
        length=length,
        top_k=top_k,
    )
    return np.asarray(out)
