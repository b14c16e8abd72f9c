"""The zip-code network's 23 passes: jaxdl's one compiled scan against a per-example PyTorch loop.

Both train the same network (per-unit biases, the same H2 connection table, tanh, targets +-1,
mean squared error) from the same initial weights, one digit at a time in the same order, with
plain SGD (learning rate 0.03), and measure both sets' error and MSE after every pass. jaxdl's
time is its first call, compilation included (``jaxdl.milestones.zip_code.train``), and a
second call, as a second ``jaxdl run zip-code`` finds the program in its compilation cache;
PyTorch's is its loop as lecun1989-repro writes it (forward, ``loss.backward()``, an in-place update).

    python benchmarks/zip_code.py [--passes 23] [--dtype float64|float32] [--torch-threads N]

PyTorch is not a dependency of jaxdl: without it the script times jaxdl alone and says so. The
comparison needs ``torch`` importable (any CPU build). Timings on a shared machine are noisy:
compare the ratio from one run, and give the machine's load (``uptime``) beside it.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import numpy as np


def _jaxdl_seconds(zc, params, train, test, passes: int) -> tuple[float, object]:
    import jax

    start = time.perf_counter()
    result = zc.train(params, train, test, method="sgd", passes=passes, learning_rate=0.03)
    jax.block_until_ready(result.params)
    return time.perf_counter() - start, result


def torch_loop(zc, params, train, test, *, passes: int, dtype: str, learning_rate: float = 0.03):
    """lecun1989-repro's training loop for the same network; returns (seconds, test errors)."""
    import torch
    import torch.nn.functional as F

    tdt = {"float64": torch.float64, "float32": torch.float32}[dtype]

    def tensor(a, perm=None):
        a = np.asarray(a)
        return torch.tensor(a.transpose(perm) if perm else a, dtype=tdt)

    # jaxdl's layouts -> PyTorch's: kernels HWIO -> OIHW, per-unit biases HWC -> CHW.
    w = {
        "h1_w": tensor(params.h1_w, (3, 2, 0, 1)),
        "h1_b": tensor(params.h1_b, (2, 0, 1)),
        "h2_w": tensor(params.h2_w, (3, 2, 0, 1)),
        "h2_b": tensor(params.h2_b, (2, 0, 1)),
        "h3_w": tensor(params.h3_w),
        "h3_b": tensor(params.h3_b),
        "out_w": tensor(params.out_w),
        "out_b": tensor(params.out_b),
    }
    # jaxdl flattens H2 as [h, w, c]; PyTorch's maps are [c, h, w]: reorder H3's rows to match.
    order = np.arange(4 * 4 * 12).reshape(4, 4, 12).transpose(2, 0, 1).ravel()
    w["h3_w"] = w["h3_w"][order]
    for v in w.values():
        v.requires_grad_(True)
    groups = {}  # the table's distinct rows -> the H2 maps that read them
    for o, row in enumerate(zc.H2_TABLE):
        groups.setdefault(row, []).append(o)

    def net(x):
        x = F.pad(x, (2, 2, 2, 2), "constant", -1.0)
        x = torch.tanh(F.conv2d(x, w["h1_w"], stride=2) + w["h1_b"])
        x = F.pad(x, (2, 2, 2, 2), "constant", -1.0)
        parts = [
            (maps, F.conv2d(x[:, list(row)], w["h2_w"][maps], stride=2))
            for row, maps in groups.items()
        ]
        y = torch.cat([p for _, p in parts], dim=1)
        index = [o for maps, _ in parts for o in maps]
        y = y[:, np.argsort(index)] + w["h2_b"]
        x = torch.tanh(y).flatten(start_dim=1)
        x = torch.tanh(x @ w["h3_w"] + w["h3_b"])
        return torch.tanh(x @ w["out_w"] + w["out_b"])

    xtr, ytr = tensor(train.images, (0, 3, 1, 2)), tensor(train.targets)
    xte, yte = tensor(test.images, (0, 3, 1, 2)), tensor(test.targets)
    errors = []
    start = time.perf_counter()
    for _ in range(passes):
        for i in range(xtr.shape[0]):
            loss = torch.mean((net(xtr[i : i + 1]) - ytr[i : i + 1]) ** 2)
            for v in w.values():
                v.grad = None
            loss.backward()
            with torch.no_grad():
                for v in w.values():
                    v -= learning_rate * v.grad
        with torch.no_grad():
            measured = []
            for x, y in ((xtr, ytr), (xte, yte)):
                out = net(x)
                measured.append(torch.mean((out - y) ** 2).item())  # the MSE, as jaxdl measures
                measured.append(torch.mean((out.argmax(1) != y.argmax(1)).to(tdt)).item())
            errors.append(measured[-1])  # the test error
    return time.perf_counter() - start, errors


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=23)
    parser.add_argument("--train-size", type=int, default=7291)
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    parser.add_argument("--torch-threads", type=int, default=None)
    parser.add_argument("--no-torch", action="store_true", help="time jaxdl alone")
    args = parser.parse_args(argv)
    if args.passes < 1 or args.train_size < 1:
        parser.error("--passes and --train-size must be at least 1")

    import jax

    jax.config.update("jax_enable_x64", args.dtype == "float64")
    from jaxdl import machine
    from jaxdl.data import digits
    from jaxdl.milestones import zip_code as zc

    train, test = digits.load_digits("sample", train_size=args.train_size, test_size=zc.PAPER_TEST)
    params = zc.init_params(key=jax.random.key(0))
    steps = args.passes * len(train.labels)
    print(
        f"zip-code network, {args.passes} passes x {len(train.labels)} digits = {steps:,} "
        f"presentations, plain SGD, {args.dtype}, JAX on {jax.default_backend()}"
    )
    before = machine.snapshot()
    jaxdl_s, result = _jaxdl_seconds(zc, params, train, test, args.passes)
    figures = {
        "steps": steps,
        "jaxdl_s": jaxdl_s,
        "jaxdl_test_error": float(result.curves.test_error[-1]),
    }
    print(
        f"  jaxdl (one jit, compile included)  {jaxdl_s:8.2f} s  "
        f"{1e6 * jaxdl_s / steps:7.1f} us/digit  test error "
        f"{100 * figures['jaxdl_test_error']:.2f}%"
    )
    figures["jaxdl_compiled_s"], _ = _jaxdl_seconds(zc, params, train, test, args.passes)
    print(
        f"  jaxdl, program already compiled     {figures['jaxdl_compiled_s']:8.2f} s  "
        f"{1e6 * figures['jaxdl_compiled_s'] / steps:7.1f} us/digit  (a second call, or a "
        "second run of the jaxdl command: its compilation cache)"
    )
    torch = None
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            print("  PyTorch: not installed (pip install torch to compare)")
    if torch is not None:
        if args.torch_threads:
            torch.set_num_threads(args.torch_threads)
        torch_s, errors = torch_loop(zc, params, train, test, passes=args.passes, dtype=args.dtype)
        figures.update(torch_s=torch_s, torch_test_error=errors[-1], speedup=torch_s / jaxdl_s)
        print(
            f"  PyTorch {torch.__version__} per-example loop ({torch.get_num_threads()} threads)"
            f"  {torch_s:8.2f} s  {1e6 * torch_s / steps:7.1f} us/digit  test error "
            f"{100 * errors[-1]:.2f}%"
        )
        print(
            f"  jaxdl is {torch_s / jaxdl_s:.1f}x faster, compilation included; "
            f"{torch_s / figures['jaxdl_compiled_s']:.1f}x with the program compiled"
        )
    print("  " + machine.verdict(before))
    return figures


if __name__ == "__main__":
    from jaxdl import host_devices

    host_devices.arrange()  # one CPU device per core, as the jaxdl command: the passes'
    main()  # measurements run on the second while the next pass trains on the first
