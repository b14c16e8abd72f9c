"""Trask's NumPy loop against jaxdl's compiled scan, timed in the same process.

1. The 60000-step XOR run from the seed's weights: the seed's NumPy program
   (:func:`jaxdl.milestones.backprop.seed_numpy_loop`) vs :func:`~jaxdl.milestones.backprop.train`
   (one ``lax.scan`` in one ``jit``). jaxdl is timed twice: the first call (trace + compile + run)
   and the steady state (best of ``--repeats`` later calls, fresh weights each time), each
   including the move of the results to the host.
2. ``--count`` networks from different keys for each hidden width, in one vmapped call each,
   against the NumPy time for one network multiplied by ``--count``; with their success rates.

    python benchmarks/backprop.py [--steps 60000] [--count 1000] [--widths 2 3 4 8]

Timings on a shared machine are noisy: compare ratios from one run, not across machines.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import jax
import numpy as np


def _seconds(fn) -> float:
    start = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - start


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
    for width in args.widths:
        key = jax.random.key(width)
        start = time.perf_counter()
        outputs = bp.train_many(batch, key=key, count=args.count, hidden=width, steps=args.steps)
        rate = float(bp.solved(outputs, batch.y).mean())
        many_s = time.perf_counter() - start
        figures[f"width_{width}"] = {"seconds_with_compile": many_s, "success_rate": rate}
        print(
            f"  hidden {width}: {many_s:8.2f} s incl. compile "
            f"({numpy_s * args.count / many_s:6.1f}x NumPy estimate), solves XOR {rate:.1%}"
        )
    return figures


if __name__ == "__main__":
    main()
