"""Trask's NumPy loop against jaxdl's compiled scan, timed in the same process.

1. The 60000-step XOR run from the seed's weights: the seed's NumPy program
   (:func:`jaxdl.milestones.backprop.seed_numpy_loop`) vs :func:`~jaxdl.milestones.backprop.train`
   (one ``lax.scan`` in one ``jit``). jaxdl is timed twice: the first call (trace + compile + run)
   and the steady state (best of ``--repeats`` later calls, fresh weights each time), each
   including the move of the results to the host.
2. ``--count`` networks from different keys for each hidden width, in one vmapped call each,
   against the NumPy time for one network multiplied by ``--count``; with their success rates.
   Each width is also run as a plain ``jit(vmap(scan))`` of the same update written inline
   (:func:`plain_many`, the reference for what the library call should cost), and the ratio
   jaxdl / plain is printed, first call (compile included) and steady state.

    python benchmarks/backprop.py [--steps 60000] [--count 1000] [--widths 2 3 4 8]

Timings on a shared machine are noisy: compare ratios from one run, not across machines.
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Sequence

import jax
import numpy as np


def _seconds(fn) -> float:
    start = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - start


@functools.partial(jax.jit, static_argnames=("hidden", "steps"))
def plain_many(keys, x, y, *, hidden: int, steps: int):
    """The reference: Trask's update written inline, ``jit(vmap(scan))``, no library code."""

    def one(key):
        k0, k1 = jax.random.split(key)
        syn0 = jax.random.uniform(k0, (x.shape[1], hidden), x.dtype, minval=-1.0, maxval=1.0)
        syn1 = jax.random.uniform(k1, (hidden, 1), x.dtype, minval=-1.0, maxval=1.0)

        def step(carry, _):
            syn0, syn1 = carry
            l1 = jax.nn.sigmoid(x @ syn0)
            l2 = jax.nn.sigmoid(l1 @ syn1)
            l2_delta = (l2 - y) * l2 * (1 - l2)
            l1_delta = (l2_delta @ syn1.T) * l1 * (1 - l1)
            return (syn0 - x.T @ l1_delta, syn1 - l1.T @ l2_delta), None

        (syn0, syn1), _ = jax.lax.scan(step, (syn0, syn1), length=steps)
        return jax.nn.sigmoid(jax.nn.sigmoid(x @ syn0) @ syn1)

    return jax.vmap(one)(keys)


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60000)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--widths", type=int, nargs="*", default=[2, 3, 4, 8])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    from jaxdl.milestones import backprop as bp

    batch, params0 = bp.dataset("xor"), bp.seed_init_params()
    x, y = np.asarray(batch.x), np.asarray(batch.y)
    from jaxdl import machine

    before = machine.snapshot()
    start = time.perf_counter()
    bp.seed_numpy_loop(x, y, params0.syn0, params0.syn1, steps=args.steps)
    numpy_s = time.perf_counter() - start
    first_s = _seconds(lambda: bp.train(params0, batch, steps=args.steps).params)
    steady_s = min(
        _seconds(
            lambda r=r: bp.train(bp.seed_init_params(seed=1 + r), batch, steps=args.steps).params
        )
        for r in range(args.repeats)
    )
    figures = {
        "numpy_s": numpy_s,
        "jaxdl_first_call_s": first_s,
        "jaxdl_steady_s": steady_s,
        "steady_speedup": numpy_s / steady_s,
        "compile_included_speedup": numpy_s / first_s,
    }
    print(f"{args.steps}-step XOR run (float64, one network)")
    print(f"  seed's NumPy loop       {numpy_s:9.3f} s")
    print(
        f"  jaxdl first call        {first_s:9.3f} s  ({numpy_s / first_s:6.1f}x, compile included)"
    )
    print(f"  jaxdl steady state      {steady_s:9.3f} s  ({numpy_s / steady_s:6.1f}x)")
    print(f"\n{args.count} networks per width, one vmapped call each ({args.steps} steps)")
    print(f"  NumPy estimate: {numpy_s:.3f} s x {args.count} = {numpy_s * args.count:.1f} s")
    print("  (first: compile included; steady: best of --repeats later calls)")
    for width in args.widths:
        key = jax.random.key(width)
        keys = jax.random.split(key, args.count)

        def ours(width=width, key=key):
            return bp.train_many(batch, key=key, count=args.count, hidden=width, steps=args.steps)

        def plain(width=width, keys=keys):
            return plain_many(keys, batch.x, batch.y, hidden=width, steps=args.steps)

        start = time.perf_counter()
        outputs = ours()
        rate = float(bp.solved(outputs, batch.y).mean())
        many_s = time.perf_counter() - start
        plain_first_s = _seconds(plain)
        many_steady_s = min(_seconds(ours) for _ in range(args.repeats))
        plain_steady_s = min(_seconds(plain) for _ in range(args.repeats))
        figures[f"width_{width}"] = {
            "seconds_with_compile": many_s,
            "steady_s": many_steady_s,
            "plain_seconds_with_compile": plain_first_s,
            "plain_steady_s": plain_steady_s,
            "success_rate": rate,
        }
        print(
            f"  hidden {width}: {many_s:8.2f} s incl. compile "
            f"({numpy_s * args.count / many_s:6.1f}x NumPy estimate), solves XOR {rate:.1%}"
        )
        print(
            f"  hidden {width}: plain jit(vmap(scan)) {plain_first_s:.2f} s first, "
            f"{plain_steady_s:.2f} s steady; jaxdl {many_s:.2f} s first, {many_steady_s:.2f} s steady"
        )
        print(
            f"  hidden {width}: jaxdl / plain  {many_s / plain_first_s:5.2f}x first call, "
            f"{many_steady_s / plain_steady_s:5.2f}x steady"
        )
    print(machine.verdict(before))
    return figures


if __name__ == "__main__":
    main()
