"""Training speed of the deep CNN: jaxdl's jitted step vs the Flax twin vs PyTorch, same process.

Each contender runs the same train step (TFLearn's network, dropout on, softmax cross-entropy
plus the L2 penalty, Adam, float32) on the same random batch; the figure is training images per
second over ``--steps`` steps after a warm-up, with compilation timed separately. PyTorch is
optional: it is measured only when importable (it is never a dependency of jaxdl).

Besides the model as shipped, ``--variants`` times the alternatives considered for the two
layers whose implementation matters on XLA:CPU: LRN as eleven shifted slices or as
``lax.reduce_window`` (shipped: a banded matmul over channels), and max-pool as
``lax.reduce_window`` (shipped: reshape and max); and the hand-written backward pass
(``deep_cnn.loss_and_grad``) in place of ``jax.grad``.

Usage::

    python benchmarks/deep_cnn_speed.py [--batch-sizes 64 128] [--steps 30] [--variants]

Timings on a shared machine are noisy: compare ratios measured in the same run.

Measured once (2026-11, jax 0.11.2, torch 2.11.0, 30 steps; one run each, so +-10% noise), on an
idle 16-core host pinned to two cores (``taskset -c 0,1``, ``JAX_PLATFORMS=cpu``), images/s:

=========================  =========  =========
contender                  batch 64   batch 128
=========================  =========  =========
jaxdl (jax.grad)           1288       1376
jaxdl hand backward        1816       1546
Flax NNX twin              773        883
PyTorch                    906        1349
jaxdl LRN as 11 slices     644        667
jaxdl pool reduce_window   878        947
=========================  =========  =========

On all 16 cores jaxdl / PyTorch was 0.88x (batch 64) and 1.03x (batch 128); jaxdl / Flax 1.44x and
1.72x. On an H100 GPU the jaxdl step ran about 195k / 252k / 819k images/s at batch 64 / 128 /
1024 (Flax twin 97k / 168k / 624k).
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from jaxdl import layers
from jaxdl.models import deep_cnn, flax_cnn

LEARNING_RATE = 1e-3


def make_batch(batch_size: int, seed: int = 0) -> tuple[jax.Array, jax.Array]:
    rng = np.random.default_rng(seed)
    x = rng.random((batch_size, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, batch_size).astype(np.int32)
    return jnp.asarray(x), jnp.asarray(y)


# ----------------------------------------------------------------------------- contenders


def jaxdl_step(*, hand_backward: bool = False) -> tuple[Callable, Callable]:
    """``(init(key) -> state, step(state, x, y) -> (state, loss))`` for jaxdl's model."""
    opt = optax.adam(LEARNING_RATE)

    def init(key):
        params = deep_cnn.init_params(key)
        return params, opt.init(params), jnp.zeros((), jnp.uint32)

    def step(state, x, y):
        params, opt_state, t = state
        key = jax.random.fold_in(jax.random.key(0), t)
        if hand_backward:
            loss, grads = deep_cnn.loss_and_grad(params, x, y, key=key, train=True)
        else:
            loss, grads = jax.value_and_grad(deep_cnn.loss)(params, x, y, key=key, train=True)
        updates, opt_state = opt.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state, t + 1), loss

    return init, jax.jit(step, donate_argnums=0)


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
        return layers.softmax_cross_entropy(logits, y) + layers.l2_penalty(kernels)

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
            size = 2 * layers.LRN_DEPTH_RADIUS + 1
            lrn = dict(size=size, alpha=layers.LRN_ALPHA * size, beta=layers.LRN_BETA, k=1.0)
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
        loss = loss + layers.L2_WEIGHT_DECAY * 0.5 * (
            net.conv1.weight.square().sum() + net.conv2.weight.square().sum()
        )
        loss.backward()
        opt.step()
        return loss.detach()

    return torch, step


# ------------------------------------------------------------------ layer alternatives


def lrn_slices(x, **_):
    """LRN with the window sum written as eleven shifted, zero-padded slices."""
    r, c = layers.LRN_DEPTH_RADIUS, x.shape[-1]
    padded = jnp.pad(x * x, ((0, 0), (0, 0), (0, 0), (r, r)))
    sq = sum(padded[..., i : i + c] for i in range(2 * r + 1))
    return x * (layers.LRN_BIAS + layers.LRN_ALPHA * sq) ** -layers.LRN_BETA


def lrn_reduce_window(x, **_):
    """LRN with the window sum as ``lax.reduce_window`` (the Flax twin's)."""
    return flax_cnn.tf_lrn(x)


def pool_reduce_window(x):
    """2x2/2 max-pool with ``lax.reduce_window`` and 'SAME' padding."""
    return lax.reduce_window(x, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "SAME")


@contextlib.contextmanager
def patched(**replacements) -> Iterator[None]:
    """Temporarily replace functions of :mod:`jaxdl.layers` (the model looks them up per call)."""
    saved = {name: getattr(layers, name) for name in replacements}
    for name, fn in replacements.items():
        setattr(layers, name, fn)
    try:
        yield
    finally:
        for name, fn in saved.items():
            setattr(layers, name, fn)


# ------------------------------------------------------------------------------- timing


def time_jax(init, step, batch_size: int, steps: int) -> tuple[float, float]:
    """``(compile seconds, images per second)`` for a jitted JAX step."""
    x, y = make_batch(batch_size)
    state = init(jax.random.key(0))
    start = time.perf_counter()
    state, loss = step(state, x, y)
    loss.block_until_ready()
    compile_s = time.perf_counter() - start
    for _ in range(2):  # warm-up
        state, loss = step(state, x, y)
    loss.block_until_ready()
    start = time.perf_counter()
    for _ in range(steps):
        state, loss = step(state, x, y)
    loss.block_until_ready()
    if not np.isfinite(float(loss)):
        raise RuntimeError("non-finite loss in the benchmark")
    return compile_s, steps * batch_size / (time.perf_counter() - start)


def time_torch(torch_and_step, batch_size: int, steps: int) -> float:
    torch, step = torch_and_step
    x, y = make_batch(batch_size)
    x = torch.from_numpy(np.array(x)).permute(0, 3, 1, 2).contiguous()
    y = torch.from_numpy(np.array(y)).long()
    for _ in range(3):
        step(x, y)
    start = time.perf_counter()
    for _ in range(steps):
        loss = step(x, y)
    float(loss)
    return steps * batch_size / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> dict[int, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--variants", action="store_true", help="also time layer alternatives")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if present")
    args = parser.parse_args(argv)
    if args.steps < 1 or any(b < 1 for b in args.batch_sizes):
        parser.error("--steps and --batch-sizes must be positive")

    torch_and_step = None if args.no_torch else torch_step()
    if torch_and_step is not None:
        torch = torch_and_step[0]
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}, {args.steps} steps per figure")
    results: dict[int, dict[str, float]] = {}
    for batch in args.batch_sizes:
        rates: dict[str, float] = {}
        contenders = [("jaxdl", jaxdl_step, {}), ("flax", flax_step, None)]
        if args.variants:
            contenders += [
                ("jaxdl hand backward", lambda: jaxdl_step(hand_backward=True), {}),
                ("jaxdl LRN slices", jaxdl_step, {"lrn": lrn_slices}),
                ("jaxdl LRN reduce_window", jaxdl_step, {"lrn": lrn_reduce_window}),
                ("jaxdl pool reduce_window", jaxdl_step, {"max_pool": pool_reduce_window}),
            ]
        for name, make, patch in contenders:
            with patched(**(patch or {})):
                compile_s, rate = time_jax(*make(), batch, args.steps)
            rates[name] = rate
            print(f"batch {batch:4d}  {name:<25} {rate:9.0f} img/s  (compile {compile_s:.1f} s)")
        if torch_and_step is not None:
            rates["pytorch"] = time_torch(torch_and_step, batch, args.steps)
            print(f"batch {batch:4d}  {'pytorch':<26} {rates['pytorch']:9.0f} img/s")
        for name, rate in rates.items():
            if name != "jaxdl":
                print(f"batch {batch:4d}  jaxdl / {name:<25} {rates['jaxdl'] / rate:6.2f}x")
        results[batch] = rates
    return results


if __name__ == "__main__":
    main()
