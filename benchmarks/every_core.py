"""Does a workload gain from every core? Each chapter's train step on one CPU device and split
across all of them, same process, same batch.

XLA:CPU is presented as one device per core (:func:`jaxdl.host_devices.arrange`, set before JAX
starts). For each workload the same jitted step (the chapter's loss and its hand gradients, an
Adam update) runs twice: on the first device alone, and with the parameters replicated and the
batch split along its first axis over every device (``jax.sharding``; XLA adds the gradients'
all-reduce). The two take turns, ``--rounds`` rounds of ``--steps`` steps each; the figure is
examples per second (median over the rounds) and the ratio ``split / one`` (median of the
per-round ratios). A workload whose ratio is above 1 by more than its rounds' spread is worth
splitting; the trainers' defaults follow this table (``jaxdl.models`` ``SPLITS_BATCH``).

Usage::

    python benchmarks/every_core.py [--steps 20] [--rounds 5] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from jaxdl import host_devices

if __name__ == "__main__":
    host_devices.arrange()  # before JAX's first computation

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from jax.sharding import Mesh, NamedSharding, PartitionSpec  # noqa: E402

from jaxdl import machine  # noqa: E402
from jaxdl.data.batches import Batch  # noqa: E402

Workload = tuple[Callable, object, object]  # (loss(params, batch) -> scalar, params, batch)


def _digits(batch: int, side: int = 28) -> Batch:
    key = jax.random.key(1)
    images = jax.random.uniform(key, (batch, side, side, 1), jnp.float32)
    return Batch(images, jax.random.randint(key, (batch,), 0, 10))


def _mnist_model(name: str, batch: int) -> Workload:
    from jaxdl import models

    model = models.get(name)
    params = model.init_params(jax.random.key(0))
    dropout = jax.random.key(2)

    def loss(p, b):
        logits = model.apply(p, b.images, key=dropout, train=True)
        return models.objective(logits, b.labels, model.l2_penalty(p))

    return loss, params, _digits(batch)


def _batch_norm(batch: int) -> Workload:
    from jaxdl.milestones import batch_norm as bn

    net = bn.init_net(jax.random.key(0), batch_norm=True)
    digits = _digits(batch)
    return bn.loss_hand, net, Batch(digits.images.reshape(batch, -1), digits.labels)


def _resnet(batch: int) -> Workload:
    from jaxdl.milestones import resnet

    config = resnet.Config()
    net = resnet.init_net(jax.random.key(0), config.n_deep, config.widths())
    loss = resnet.LOSSES[(True, "hand")]
    return (lambda p, b: loss(p, b)[0]), net, _digits(batch, config.side)


def _gpt(batch: int) -> Workload:
    from jaxdl.milestones import transformer as tr

    config = tr.PAPER
    data = tr.load_text(None, context=config["context"])
    params = tr.init_gpt(
        key=jax.random.key(0),
        vocab=len(data.chars),
        context=config["context"],
        layers=config["layers"],
        width=config["width"],
    )
    windows = tr.random_windows(
        jnp.asarray(data.train), jax.random.key(1), batch=batch, context=config["context"]
    )
    return tr.loss_function(config["heads"], tr.default_engine()), params, windows


def _vit(batch: int) -> Workload:
    from jaxdl.milestones import vit

    c = vit.Config()
    params = vit.init_vit(key=jax.random.key(0), patch=c.patch, layers=c.layers, width=c.width)
    loss = vit.loss_function(c.heads, "hand")
    return (lambda p, b: loss(p, b)[0]), params, _digits(batch)


def _diffusion(batch: int) -> Workload:
    from jaxdl.milestones import diffusion as dm

    c = dm.Config()
    params = dm.init_net(jax.random.key(0), width=c.width, depth=c.depth, embed=c.embed)
    key = jax.random.key(1)
    x0 = dm.swiss_roll(batch, key=key)
    draws = dm.Batch(x0, jax.random.randint(key, (batch,), 1, dm.T + 1), jnp.ones_like(x0))
    return dm.loss_function("hand"), params, draws


#: name -> (batch size, builder): the batch each chapter trains with.
WORKLOADS: dict[str, tuple[int, Callable[[int], Workload]]] = {
    "deep-cnn b64": (64, lambda b: _mnist_model("deep-cnn", b)),
    "deep-cnn b128": (128, lambda b: _mnist_model("deep-cnn", b)),
    "mlp b64": (64, lambda b: _mnist_model("mlp", b)),
    "batch-norm b60": (60, _batch_norm),
    "resnet b32": (32, _resnet),
    "transformer b12": (12, _gpt),
    "vit b32": (32, _vit),
    "diffusion b256": (256, _diffusion),
}


def _step(loss: Callable) -> Callable:
    opt = optax.adam(1e-3)

    def step(params, opt_state, batch):
        value, grads = jax.value_and_grad(loss)(params, batch)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    return step, opt


def _prepare(workload: Workload, split: bool) -> Callable[[int], float]:
    """``run(n)``: seconds for ``n`` steps, the first device alone or split over all."""
    loss, params, batch = workload
    step, opt = _step(loss)
    state = (params, opt.init(params))
    if split:
        mesh = Mesh(np.array(jax.devices()), ("batch",))
        copy = NamedSharding(mesh, PartitionSpec())
        state = jax.device_put(state, copy)
        batch = jax.device_put(batch, NamedSharding(mesh, PartitionSpec("batch")))
        jitted = jax.jit(step, donate_argnums=(0, 1), out_shardings=(copy, copy, copy))
    else:
        jitted = jax.jit(step, donate_argnums=(0, 1))
    params, opt_state = jax.tree.map(jnp.copy, state)
    for _ in range(3):  # compile and warm up
        params, opt_state, value = jitted(params, opt_state, batch)
    value.block_until_ready()

    def run(steps: int) -> float:
        nonlocal params, opt_state
        start = time.perf_counter()
        for _ in range(steps):
            params, opt_state, value = jitted(params, opt_state, batch)
        value.block_until_ready()
        if not np.isfinite(float(value)):
            raise RuntimeError("non-finite loss in the benchmark")
        return time.perf_counter() - start

    return run


def measure(name: str, steps: int, rounds: int) -> dict[str, float]:
    """Examples per second on one device and split, and the median ratio with its range."""
    batch, build = WORKLOADS[name]
    workload = build(batch)
    runs = {"one": _prepare(workload, split=False), "split": _prepare(workload, split=True)}
    seconds: dict[str, list[float]] = {"one": [], "split": []}
    for r in range(rounds):
        for which in ("one", "split") if r % 2 == 0 else ("split", "one"):
            seconds[which].append(runs[which](steps))
    ratios = [o / s for o, s in zip(seconds["one"], seconds["split"], strict=True)]
    return {
        "one": steps * batch / statistics.median(seconds["one"]),
        "split": steps * batch / statistics.median(seconds["split"]),
        "ratio": statistics.median(ratios),
        "low": min(ratios),
        "high": max(ratios),
    }


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="steps per contender per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of turns (median reported)")
    parser.add_argument("--only", nargs="+", choices=tuple(WORKLOADS), help="these workloads")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.rounds < 1:
        parser.error("--steps and --rounds must be positive")
    devices = jax.device_count()
    if devices < 2:
        parser.error(
            f"JAX sees {devices} device: nothing to split across (run it as a script, which "
            f"arranges one device per core, or unset {host_devices.ENV_VAR})"
        )
    print(
        f"jax {jax.__version__}, {machine.cores()} cores, {devices} CPU devices; "
        f"{args.rounds} rounds of {args.steps} steps"
    )
    before = machine.snapshot()
    table = {}
    print(f"{'workload':<18}{'one device':>14}{'split':>14}{'split/one':>11}  rounds")
    for name in args.only or WORKLOADS:
        row = table[name] = measure(name, args.steps, args.rounds)
        print(
            f"{name:<18}{row['one']:>10.0f} ex/s{row['split']:>10.0f} ex/s{row['ratio']:>10.2f}x"
            f"  {row['low']:.2f}-{row['high']:.2f}"
        )
    print(machine.verdict(before))
    return table


if __name__ == "__main__":
    main()
