"""What the key-value cache saves when the GPT writes text: the cached and the uncached sampler
(:func:`jaxdl.milestones.transformer.sample`, ``cache=True`` / ``cache=False``), same weights,
same key, same text.

Two models: nanoGPT's CPU configuration (4 layers, 4 heads, width 128, context 64) and its GPU
configuration (6 layers, 6 heads, width 384, context 256), each with freshly initialised weights
(the cost of a step does not depend on what the weights learned) and tiny Shakespeare's 65
characters. Each writes ``context - 1`` characters after a one-character prompt (the cache
holds throughout) and, with ``--past``, ``3 * context`` characters (past the context each step
recomputes the window, as nanoGPT's sampler does). Compilation is excluded; the two samplers
take turns and the median of ``--rounds`` is printed in characters per second, with the load
average before and after. The texts are checked equal.

Usage::

    python benchmarks/sampling_cache.py [--rounds 3] [--past]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import jax
import numpy as np

from jaxdl.milestones import transformer as tr

MODELS = {
    "CPU config (4x128, context 64)": dict(layers=4, heads=4, width=128, context=64),
    "GPU config (6x384, context 256)": dict(layers=6, heads=6, width=384, context=256),
}


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def measure(model: dict, length: int, rounds: int) -> dict[bool, float]:
    params = tr.init_gpt(key=jax.random.key(0), vocab=65, context=model["context"],
                         layers=model["layers"], width=model["width"])  # fmt: skip
    prompt = np.array([0])
    kw = dict(key=jax.random.key(1), heads=model["heads"], length=length)
    texts = {cache: tr.sample(params, prompt, cache=cache, **kw) for cache in (True, False)}
    if not np.array_equal(texts[True], texts[False]):
        raise AssertionError("the cached and the uncached sampler wrote different texts")
    seconds: dict[bool, list[float]] = {True: [], False: []}
    for r in range(rounds):
        for cache in (True, False) if r % 2 == 0 else (False, True):
            start = time.perf_counter()
            tr.sample(params, prompt, cache=cache, **kw)
            seconds[cache].append(time.perf_counter() - start)
    return {cache: length / statistics.median(s) for cache, s in seconds.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="timed runs of each sampler")
    parser.add_argument("--past", action="store_true", help="also 3 x context characters")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be positive")
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}, {os.cpu_count()} CPUs; "
          f"load average {_load()}")  # fmt: skip
    for name, model in MODELS.items():
        lengths = [model["context"] - 1] + ([3 * model["context"]] if args.past else [])
        for length in lengths:
            rate = measure(model, length, args.rounds)
            print(f"{name}, {length} characters: cached {rate[True]:8.0f} chars/s, uncached "
                  f"{rate[False]:8.0f} chars/s, speed-up {rate[True] / rate[False]:5.2f}x "
                  "(same text)")  # fmt: skip
    print(f"load average {_load()}")


if __name__ == "__main__":
    main()
