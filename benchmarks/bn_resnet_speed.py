"""Hand rules vs autodiff in the training path of the batch-norm and ResNet chapters.

Times the train steps the chapters run (``jaxdl.training.trainer.train`` chunks: forward,
backward, SGD update, on the device in one ``lax.scan``) with each chapter's ``backward``
setting: ``hand`` (the ``custom_vjp`` rules of :mod:`jaxdl.nn.batch_norm` and
:mod:`jaxdl.nn.residual`) and ``autodiff`` (``jax.grad`` of the pure forwards). The two take
turns, round after round, so both meet the same load on a shared machine; each figure is the
median over ``--rounds`` rounds and the ratio ``hand / autodiff`` is the median of the
per-round ratios (below 1: the hand rules are faster). The load average is printed.

Usage::

    python benchmarks/bn_resnet_speed.py [--steps 200] [--rounds 5] [--float64]
                                         [--resnet-n 3] [--resnet-steps 20]
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp


def contenders(args) -> dict[str, dict[str, object]]:
    """``{case: {backward: timed_call}}``, each compiled once before timing."""
    from jaxdl.data.digits import flattened, load_pooled
    from jaxdl.milestones import batch_norm, resnet
    from jaxdl.training import trainer

    dtype = jnp.float64 if args.float64 else jnp.float32
    key = jax.random.key(0)
    train_bn, _ = flattened("sample", dtype)
    feed_bn = trainer.sampled(train_bn, batch_size=batch_norm.BATCH, key=key)
    net_bn = batch_norm.init_net(key, batch_norm=True, dtype=dtype)
    train_rn, _ = load_pooled("sample", args.resnet_side)
    feed_rn = trainer.sampled(train_rn, batch_size=resnet.BATCH, key=key)
    n = args.resnet_n
    net_rn = resnet.init_net(key, n, (4, 8, 16))

    def timed(loss, net, optimizer, feed, steps, has_aux):
        def once() -> float:
            start = time.perf_counter()
            run = trainer.train(loss, net, optimizer, feed, steps=steps, has_aux=has_aux)
            jax.block_until_ready(run.state.params)
            return time.perf_counter() - start

        return once

    cases = {
        f"BN MLP 3x100, {args.steps} steps of 60": {
            b: timed(batch_norm.LOSSES[b], net_bn, batch_norm._sgd(1.0), feed_bn, args.steps, False)
            for b in ("hand", "autodiff")
        },
        f"ResNet-{6 * n + 2} widths 4/8/16, {args.resnet_steps} steps of 32": {
            b: timed(
                resnet.LOSSES[(True, b)],
                net_rn,
                resnet._optimizer(0.1),
                feed_rn,
                args.resnet_steps,
                True,
            )
            for b in ("hand", "autodiff")
        },
    }
    return cases


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="BN MLP steps per timing")
    parser.add_argument("--resnet-steps", type=int, default=20, help="ResNet steps per timing")
    parser.add_argument("--resnet-n", type=int, default=3, help="ResNet blocks per stage")
    parser.add_argument("--resnet-side", type=int, default=16, choices=(8, 16, 32))
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds")
    parser.add_argument("--float64", action="store_true", help="the BN MLP in float64")
    args = parser.parse_args(argv)
    for name in ("steps", "resnet_steps", "resnet_n", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.float64:
        jax.config.update("jax_enable_x64", True)

    from jaxdl import machine

    before = machine.snapshot()
    print(f"load average at start {before}; {jax.devices()[0].device_kind}")
    for case, calls in contenders(args).items():
        start = time.perf_counter()
        for call in calls.values():
            call()  # compile
        print(f"\n{case} (compiled both in {time.perf_counter() - start:.1f} s)")
        times = {b: [] for b in calls}
        for r in range(args.rounds):
            order = list(calls) if r % 2 == 0 else list(calls)[::-1]
            for b in order:
                times[b].append(calls[b]())
        ratios = [h / a for h, a in zip(times["hand"], times["autodiff"], strict=True)]
        for b, ts in times.items():
            print(
                f"  {b:9s} median {statistics.median(ts) * 1e3:8.1f} ms  (min {min(ts) * 1e3:.1f})"
            )
        print(
            f"  hand / autodiff: {statistics.median(ratios):.3f} "
            f"(range {min(ratios):.3f}-{max(ratios):.3f})"
        )
    print("\n" + machine.verdict(before))


if __name__ == "__main__":
    main()
