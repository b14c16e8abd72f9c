"""Text from a trained GPT, one character at a time (nanoGPT's ``sample.py``), with or without
a key-value cache.

Without a cache, each new character reruns the model over the whole window (at most the
context) and keeps one position's scores. With a cache, each block keeps the keys and values of
the positions already read, ``[L, 2, H, T_max, D]``; a new character costs one position's
projections, its attention over the cached keys and values, and one position's MLP. Both
samplers draw from the same scores with the same keys, so they write the same text.

The cache holds while the text fits the context. Past it, the uncached sampler (as nanoGPT's)
reads the last ``context`` characters at positions ``0 .. context-1``: every character's
position shifts at every step, so every cached key and value would change; the cached sampler
then recomputes the window at each step as the uncached one does, and the text stays the same.
``benchmarks/sampling_cache.py`` measures what the cache saves.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.nn import embedding, layer_norm, mlp
from jaxdl.validate import require_positive_float, require_positive_int

from .model import GPT, forward


def _draw(logits: jax.Array, key: jax.Array, temperature: jax.Array, top_k: int | None):
    """One character id from ``softmax(logits / temperature)`` among the ``top_k`` likeliest."""
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[0]:
        kth = jax.lax.top_k(logits, top_k)[0][-1]
        logits = jnp.where(logits < kth, -jnp.inf, logits)
    return jax.random.categorical(key, logits).astype(jnp.int32)


def _window_logits(params: GPT, buffer: jax.Array, pos: jax.Array, heads: int) -> jax.Array:
    """The scores for character ``pos`` from the whole window before it (no cache)."""
    context = params.wpe.shape[0]
    start = jnp.maximum(pos - context, 0)
    window = jax.lax.dynamic_slice(buffer, (start,), (min(context, buffer.shape[0]),))
    return forward(params, window[None, :], heads=heads)[0, pos - 1 - start]


@functools.partial(jax.jit, static_argnames=("heads", "length", "top_k"))
def _sample(params, prompt, key, temperature, *, heads, length, top_k):
    n = prompt.shape[0]
    buffer = jnp.zeros((n + length,), jnp.int32).at[:n].set(prompt)

    def step(carry, k):
        buffer, pos = carry  # pos: the index of the character to write
        char = _draw(_window_logits(params, buffer, pos, heads), k, temperature, top_k)
        return (buffer.at[pos].set(char), pos + 1), None

    (buffer, _), _ = jax.lax.scan(step, (buffer, jnp.int32(n)), jax.random.split(key, length))
    return buffer[n:]


def empty_cache(params: GPT, *, heads: int) -> jax.Array:
    """Zeros for every block's keys and values at every position, ``[L, 2, H, T_max, D]``."""
    layers, c = params.blocks.ln_1.shape
    return jnp.zeros((layers, 2, heads, params.wpe.shape[0], c // heads), params.wte.dtype)


def decode_step(
    params: GPT, cache: jax.Array, char: jax.Array, pos: jax.Array, *, heads: int
) -> tuple[jax.Array, jax.Array]:
    """Read one character at position ``pos`` (below the context) with the positions before it
    cached: the next character's scores ``[V]`` and the cache with ``pos``'s keys and values.

    The same arithmetic as :func:`~.model.forward` at one position: embedding, then per block
    ``x + attention(layer_norm(x))`` over the cached keys and values of positions ``<= pos``,
    ``x + mlp(layer_norm(x))``; the tied head on the final layer norm.
    """
    c = params.wte.shape[1]
    d = c // heads
    pos = jnp.asarray(pos, jnp.int32)
    x = (params.wte[char] + params.wpe[pos])[None, None, :]  # [1, 1, C]
    visible = (jnp.arange(params.wpe.shape[0]) <= pos)[None, :]  # [1, T_max]

    def block(x, inputs):
        w, kv = inputs  # kv: [2, H, T_max, D]
        qkv = (layer_norm.layer_norm(x, w.ln_1)[0, 0] @ w.w_qkv).reshape(3, heads, d)
        zero = jnp.zeros((), pos.dtype)
        kv = jax.lax.dynamic_update_slice(kv, qkv[1:, :, None, :], (zero, zero, pos, zero))
        s = jnp.einsum("hd,htd->ht", qkv[0], kv[0]) * (1 / math.sqrt(d))
        p = jax.nn.softmax(jnp.where(visible, s, -jnp.inf), axis=-1)
        o = jnp.einsum("ht,htd->hd", p, kv[1]).reshape(1, 1, c)
        x = x + o @ w.w_attn
        x = x + mlp.mlp(layer_norm.layer_norm(x, w.ln_2), w.w_fc, w.w_mlp)
        return x, kv

    x, cache = jax.lax.scan(block, x, (params.blocks, cache))
    logits = embedding.lm_head(layer_norm.layer_norm(x, params.ln_f), params.wte)
    return logits[0, 0], cache


@functools.partial(jax.jit, static_argnames=("heads", "length", "top_k"))
def _sample_cached(params, prompt, key, temperature, *, heads, length, top_k):
    context = params.wpe.shape[0]
    n = prompt.shape[0]
    buffer = jnp.zeros((n + length,), jnp.int32).at[:n].set(prompt)

    def read(cache, inputs):  # the prompt but its last character, into the cache
        char, pos = inputs
        return decode_step(params, cache, char, pos, heads=heads)[1], None

    cache, _ = jax.lax.scan(read, empty_cache(params, heads=heads),
                            (prompt[:-1], jnp.arange(n - 1, dtype=jnp.int32)))  # fmt: skip

    def step(carry, k):
        buffer, cache, pos = carry  # pos: the index of the character to write

        def cached(cache):
            return decode_step(params, cache, buffer[pos - 1], pos - 1, heads=heads)

        def window(cache):  # past the context: positions shift, recompute as uncached
            return _window_logits(params, buffer, pos, heads), cache

        logits, cache = jax.lax.cond(pos <= context, cached, window, cache)
        char = _draw(logits, k, temperature, top_k)
        return (buffer.at[pos].set(char), cache, pos + 1), None

    carry = (buffer, cache, jnp.int32(n))
    (buffer, _, _), _ = jax.lax.scan(step, carry, jax.random.split(key, length))
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
    cache: bool = True,
) -> np.ndarray:
    """``length`` character ids drawn one at a time after ``prompt`` (ids, at least one).

    Each step draws the next character from ``softmax(logits / temperature)`` restricted to the
    ``top_k`` likeliest (nanoGPT's ``sample.py`` defaults: 0.8 and 200), the scores computed
    from the last ``context`` characters. Seeded by ``key``: the same key gives the same text,
    with the key-value cache (``cache=True``) or without it. The whole generation is one
    compiled ``lax.scan`` over a fixed-size buffer.
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
    out = (_sample_cached if cache else _sample)(
        params,
        jnp.asarray(prompt),
        key,
        jnp.asarray(temperature, params.wte.dtype),
        heads=heads,
        length=length,
        top_k=top_k,
    )
    return np.asarray(out)
