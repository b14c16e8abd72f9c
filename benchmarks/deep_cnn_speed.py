"""Training speed of the deep CNN: jaxdl's jitted step vs the Flax twin vs PyTorch, same process.

Each contender runs the same train step (TFLearn's network, dropout on, softmax cross-entropy
plus the L2 penalty, Adam, float32) on the same random batch. PyTorch is optional: it is
measured only when importable (it is never a dependency of jaxdl).

The contenders take turns: each round runs ``--steps`` steps of every contender in a rotating
order, so all of them meet the same load on a shared machine; the figure per contender is the
median over ``--rounds`` rounds, and each ``jaxdl / X`` ratio is the median of the per-round
ratios (their range is printed too). Compilation is timed separately. The load average is
printed before and after.

``jaxdl`` is the step as ``jaxdl train deep-cnn`` runs it by default: the platform's default
backward pass (:func:`jaxdl.nn.default_backward`), with the batch split across every CPU device
(the script presents the CPU as one device per core before JAX starts, as the ``jaxdl`` command
does: :func:`jaxdl.host_devices.arrange`, ``JAXDL_HOST_DEVICES=N`` for another count) whenever
:func:`jaxdl.training.sharding.devices_for` would split it. ``jaxdl one device`` is the same step
on the first device alone; ``jaxdl hand`` and ``jaxdl autodiff`` force each backward pass on
one device. ``--variants`` adds the backward pass written out layer by layer
(``deep_cnn.loss_and_grad``), the layer alternatives in :data:`VARIANTS` and the compiler
options in :data:`COMPILER_VARIANTS`, to re-make the implementation choices of :mod:`jaxdl.nn`
on another machine.

Usage::

    python benchmarks/deep_cnn_speed.py [--batch-sizes 64 128] [--steps 20] [--rounds 5]
                                        [--variants] [--no-flax] [--no-torch]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

from jaxdl import host_devices

if __name__ == "__main__":
    host_devices.arrange()  # one CPU device per core, as the jaxdl command: before JAX starts

import jax  # noqa: E402  (after the device count is set)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from jax import lax  # noqa: E402

from jaxdl import losses, machine, nn  # noqa: E402
from jaxdl.models import deep_cnn, flax_cnn  # noqa: E402
from jaxdl.nn import affine, pooling  # noqa: E402
from jaxdl.nn import lrn as lrn_op  # noqa: E402
from jaxdl.training.sharding import AUTO, devices_for  # noqa: E402

LEARNING_RATE = 1e-3


def make_batch(batch_size: int, seed: int = 0) -> tuple[jax.Array, jax.Array]:
    rng = np.random.default_rng(seed)
    x = rng.random((batch_size, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, batch_size).astype(np.int32)
    return jnp.asarray(x), jnp.asarray(y)


# ----------------------------------------------------------------------------- contenders


def jaxdl_step(
    *, backward: str | nn.Ops = "auto", written_out: bool = False, compiler_options=None
) -> tuple[Callable, Callable]:
    """``(init(key) -> state, step(state, x, y) -> (state, loss))`` for jaxdl's model."""
    opt = optax.adam(LEARNING_RATE)

    def init(key):
        params = deep_cnn.init_params(key)
        return params, opt.init(params), jnp.zeros((), jnp.uint32)

    def step(state, x, y):
        params, opt_state, t = state
        key = jax.random.fold_in(jax.random.key(0), t)
        if written_out:
            loss, grads = deep_cnn.loss_and_grad(params, x, y, key=key, train=True)
        else:
            loss, grads = jax.value_and_grad(deep_cnn.loss)(
                params, x, y, key=key, train=True, backward=backward
            )
        updates, opt_state = opt.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state, t + 1), loss

    return init, jax.jit(step, donate_argnums=0, compiler_options=compiler_options)


def sharded_step() -> tuple[Callable, Callable, Callable]:
    """jaxdl's step with the batch split across every device (parameters replicated; XLA adds
    the gradients' all-reduce), as ``jaxdl train`` runs it: ``(init, step, place(x, y))``."""
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    mesh = Mesh(np.array(jax.devices()), ("batch",))
    replicated = NamedSharding(mesh, PartitionSpec())
    split = NamedSharding(mesh, PartitionSpec("batch"))
    init, step = jaxdl_step()
    step = jax.jit(
        step.__wrapped__,
        donate_argnums=0,
        in_shardings=(replicated, split, split),
        out_shardings=(replicated, replicated),
    )

    def place(x, y):
        return jax.device_put(x, split), jax.device_put(y, split)

    return (lambda key: jax.device_put(init(key), replicated)), step, place


def flax_step() -> tuple[Callable, Callable]:
    """The same for the Flax NNX twin, kept pure through ``nnx.split`` / ``nnx.merge``."""
    opt = optax.adam(LEARNING_RATE)
    graphdef = None

    def init(key):
        nonlocal graphdef
        graphdef, state = flax_cnn.from_params(deep_cnn.init_params(key))
        return state, opt.init(state), jnp.zeros((), jnp.uint32)

    def loss_fn(state, x, y, key):
        logits = flax_cnn.apply(graphdef, state, x, key=key, train=True)
        kernels = [state[name]["kernel"].get_value() for name in deep_cnn.CONV_SHAPES]
        return losses.softmax_cross_entropy(logits, y) + losses.l2_penalty(kernels)

    def step(train_state, x, y):
        state, opt_state, t = train_state
        key = jax.random.fold_in(jax.random.key(0), t)
        loss, grads = jax.value_and_grad(loss_fn)(state, x, y, key)
        updates, opt_state = opt.update(grads, opt_state, state)
        return (optax.apply_updates(state, updates), opt_state, t + 1), loss

    return init, jax.jit(step, donate_argnums=0)


def torch_step():
    """The same network and step in PyTorch (NHWC flatten order, TF-style LRN), or ``None``."""
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return None

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = torch.nn.Conv2d(1, 32, 3, padding=1)
            self.conv2 = torch.nn.Conv2d(32, 64, 3, padding=1)
            self.fc1 = torch.nn.Linear(7 * 7 * 64, 128)
            self.fc2 = torch.nn.Linear(128, 256)
            self.fc3 = torch.nn.Linear(256, 10)

        def forward(self, x):
            # PyTorch's LRN divides alpha by the window size: multiply by 11 to get TF's.
            size = 2 * lrn_op.LRN_DEPTH_RADIUS + 1
            lrn = dict(size=size, alpha=lrn_op.LRN_ALPHA * size, beta=lrn_op.LRN_BETA, k=1.0)
            h = F.local_response_norm(F.max_pool2d(F.relu(self.conv1(x)), 2), **lrn)
            h = F.local_response_norm(F.max_pool2d(F.relu(self.conv2(h)), 2), **lrn)
            h = h.permute(0, 2, 3, 1).flatten(1)  # NHWC order, as in jaxdl
            h = F.dropout(torch.tanh(self.fc1(h)), 0.2, self.training)
            h = F.dropout(torch.tanh(self.fc2(h)), 0.2, self.training)
            return self.fc3(h)

    torch.manual_seed(0)
    net = Net().train()
    opt = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE)

    def step(x, y):
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x), y)
        loss = loss + losses.L2_WEIGHT_DECAY * 0.5 * (
            net.conv1.weight.square().sum() + net.conv2.weight.square().sum()
        )
        loss.backward()
        opt.step()
        return loss.detach()

    return torch, step


# ------------------------------------------------------------------ layer alternatives


def pool_reduce_window(x):
    """2x2/2 max-pool with ``lax.reduce_window`` and 'SAME' padding (autodiff backward)."""
    return lax.reduce_window(x, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "SAME")


def _conv2d_kernel_grad_patches(x, g, kh, kw):
    """``dw`` as one contraction of the ``kh kw`` shifted copies ``[B, H, W, kh kw C]`` with
    ``g`` over ``B, H, W`` (XLA:CPU's matmul path instead of the convolution)."""
    if x.shape[-1] == 1:
        return affine._conv2d_kernel_backward(x, g, kh, kw)
    (low_h, high_h), (low_w, high_w) = affine._same_padding(kh), affine._same_padding(kw)
    b, h, w, c = x.shape
    xp = jnp.pad(x, ((0, 0), (low_h, high_h), (low_w, high_w), (0, 0)))
    patches = jnp.concatenate(
        [xp[:, i : i + h, j : j + w, :] for i in range(kh) for j in range(kw)], axis=-1
    )
    dw = lax.dot_general(patches, g, (((0, 1, 2), (0, 1, 2)), ((), ())))
    return dw.reshape(kh, kw, c, g.shape[-1])


def _conv2d_patches_grad(x, w, g):
    dx, _, db = affine.conv2d_backward(x, w, g)
    return dx, _conv2d_kernel_grad_patches(x, g, *w.shape[:2]), db


_conv2d_patches = affine.affine_rule(affine.conv2d, _conv2d_patches_grad)

#: Alternatives to the hand-backward layers, as :class:`jaxdl.nn.Ops` (``--variants``).
VARIANTS = {
    "LRN reduce_window": nn.HAND.replace(lrn=flax_cnn.tf_lrn),
    "pool reduce_window": nn.HAND.replace(max_pool=pool_reduce_window),
    "pool reshape-max autodiff": nn.HAND.replace(max_pool=pooling.max_pool),
    "kernel grad patches": nn.HAND.replace(conv2d=_conv2d_patches),
}

#: XLA compiler options to time against the defaults (``--variants``; CPU only). jaxlib 0.10.2
#: hands convolutions, dots and reductions to YNNPACK; the first turns its convolutions off
#: (back to XLA's Eigen convolution).
COMPILER_VARIANTS = {
    "YNNPACK convolutions off": {
        "xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,"
        "LIBRARY_FUSION_TYPE_REDUCE"
    },
}


# ------------------------------------------------------------------------------- timing


def prepare_jax(init, step, batch_size: int, place=None) -> tuple[float, Callable[[int], float]]:
    """``(compile seconds, run)`` for a jitted JAX step; ``run(n)`` times ``n`` steps (seconds).

    ``place(x, y)`` puts the batch on its devices (a sharded step)."""
    x, y = make_batch(batch_size)
    if place is not None:
        x, y = place(x, y)
    state = init(jax.random.key(0))
    start = time.perf_counter()
    state, loss = step(state, x, y)
    loss.block_until_ready()
    compile_s = time.perf_counter() - start
    for _ in range(2):  # warm-up
        state, loss = step(state, x, y)
    loss.block_until_ready()

    def run(steps: int) -> float:
        nonlocal state
        start = time.perf_counter()
        for _ in range(steps):
            state, loss = step(state, x, y)
        loss.block_until_ready()
        seconds = time.perf_counter() - start
        if not np.isfinite(float(loss)):
            raise RuntimeError("non-finite loss in the benchmark")
        return seconds

    return compile_s, run


def prepare_torch(torch_and_step, batch_size: int) -> Callable[[int], float]:
    torch, step = torch_and_step
    x, y = make_batch(batch_size)
    x = torch.from_numpy(np.array(x)).permute(0, 3, 1, 2).contiguous()
    y = torch.from_numpy(np.array(y)).long()
    for _ in range(3):
        step(x, y)

    def run(steps: int) -> float:
        start = time.perf_counter()
        for _ in range(steps):
            loss = step(x, y)
        float(loss)
        return time.perf_counter() - start

    return run


def interleaved(
    runs: dict[str, Callable[[int], float]], steps: int, rounds: int, cpu: dict | None = None
) -> dict:
    """Seconds per round for each contender, the contenders taking turns (order rotated).

    Taking turns makes every round's contenders meet the same load, so a ratio is computed
    within each round and the median over rounds is reported. ``cpu``, if given, collects the
    process's CPU seconds per round by name: on a machine shared with other jobs a JAX
    contender's CPU time moves far less than its wall time (PyTorch's spinning threads count
    as CPU time, so its figure is only meaningful with one thread).
    """
    names = list(runs)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            start = time.process_time()
            seconds[name].append(runs[name](steps))
            if cpu is not None:
                cpu.setdefault(name, []).append(time.process_time() - start)
    return seconds


def main(argv: list[str] | None = None) -> dict[int, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--steps", type=int, default=20, help="steps per contender per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of turns (median reported)")
    parser.add_argument("--variants", action="store_true", help="also time layer alternatives")
    parser.add_argument("--no-flax", action="store_true", help="skip the Flax NNX twin")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if present")
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        help="PyTorch's intra-op threads (default: its own choice); on a loaded machine one "
        "thread can beat a spinning team",
    )
    args = parser.parse_args(argv)
    if args.steps < 1 or args.rounds < 1 or any(b < 1 for b in args.batch_sizes):
        parser.error("--steps, --rounds and --batch-sizes must be positive")
    if args.torch_threads is not None and args.torch_threads < 1:
        parser.error("--torch-threads must be positive")

    torch_and_step = None if args.no_torch else torch_step()
    if torch_and_step is not None:
        torch = torch_and_step[0]
        if args.torch_threads is not None:
            torch.set_num_threads(args.torch_threads)
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    before = machine.snapshot()
    print(
        f"jax {jax.__version__} on {jax.devices()[0].platform}, {os.cpu_count()} CPUs, "
        f"{jax.device_count()} devices, default backward {nn.default_backward()!r}; "
        f"{args.rounds} rounds of "
        f"{args.steps} steps per contender"
    )
    results: dict[int, dict[str, float]] = {}
    for batch in args.batch_sizes:
        split = devices_for(AUTO, splits_batch=deep_cnn.SPLITS_BATCH, batch_size=batch) > 1
        contenders = [
            ("jaxdl", sharded_step if split else jaxdl_step),
            *([("jaxdl one device", jaxdl_step)] if split else []),
            ("jaxdl hand", lambda: jaxdl_step(backward="hand")),
            ("jaxdl autodiff", lambda: jaxdl_step(backward="autodiff")),
        ]
        if not args.no_flax:
            contenders.append(("flax", flax_step))
        if args.variants:
            contenders += [
                ("jaxdl written-out backward", lambda: jaxdl_step(written_out=True)),
                *(
                    (f"jaxdl {name}", lambda ops=ops: jaxdl_step(backward=ops))
                    for name, ops in VARIANTS.items()
                ),
            ]
            if jax.default_backend() == "cpu":
                contenders += [
                    (f"jaxdl {name}", lambda o=options: jaxdl_step(compiler_options=o))
                    for name, options in COMPILER_VARIANTS.items()
                ]
        runs: dict[str, Callable[[int], float]] = {}
        for name, make in contenders:
            init, step, *place = make()
            compile_s, runs[name] = prepare_jax(init, step, batch, *place)
            print(f"batch {batch:4d}  {name:<28} compiled in {compile_s:.1f} s")
        if torch_and_step is not None:
            runs["pytorch"] = prepare_torch(torch_and_step, batch)
        cpu: dict[str, list[float]] = {}
        seconds = interleaved(runs, args.steps, args.rounds, cpu)
        rates = {name: args.steps * batch / statistics.median(s) for name, s in seconds.items()}
        for name, rate in rates.items():
            cpu_ms = 1000 * statistics.median(cpu[name]) / args.steps
            print(
                f"batch {batch:4d}  {name:<28} {rate:9.0f} img/s  (median of {args.rounds}); "
                f"CPU {cpu_ms:.0f} ms/step"
            )
        for name in rates:
            if name != "jaxdl":
                ratios = [o / j for j, o in zip(seconds["jaxdl"], seconds[name], strict=True)]
                print(
                    f"batch {batch:4d}  jaxdl / {name:<28} {statistics.median(ratios):6.2f}x  "
                    f"(rounds {min(ratios):.2f}-{max(ratios):.2f})"
                )
        results[batch] = rates
    print(machine.verdict(before))
    return results


if __name__ == "__main__":
    main()
