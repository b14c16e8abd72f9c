"""The seed's pure-Python loops against jaxdl's jitted scans, timed in the same process.

Cases: Debye's descent (60 steps), the wheat/bread linear regression (100 and 100000 steps) and
seed 001's per-sample SGD (until its stopping rule fires, 2608 passes). The baselines are
written as the seed wrote them, with Python floats and lists. For jaxdl, the first call
(trace + compile + run) and the steady state (best of ``--repeats`` later calls) are reported
separately; each call includes moving the result to the host, as a user's call would.

    python benchmarks/classic_loops.py [--repeats 5]

Timings on a shared machine are noisy: compare ratios from one run, not across machines.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence

import jax

# --- The seed's loops, as printed (bugs of seed 001 fixed) -------------------------------------

WHEAT_AND_BREAD = [[0.5, 5], [0.6, 5.5], [0.8, 6], [1.1, 6.8], [1.4, 7]]


def seed_debye(current_x=0.5, learning_rate=0.01, num_iterations=60):
    def slope_at_given_x_value(x):
        return 5 * x**4 - 6 * x**2

    for _ in range(num_iterations):
        previous_x = current_x
        current_x += -learning_rate * slope_at_given_x_value(previous_x)
    return current_x


def seed_step_gradient(b_current, m_current, points, learningRate):  # noqa: N803 (seed's name)
    b_gradient = 0
    m_gradient = 0
    N = float(len(points))  # noqa: N806
    for i in range(0, len(points)):
        x = points[i][0]
        y = points[i][1]
        b_gradient += -(2 / N) * (y - ((m_current * x) + b_current))
        m_gradient += -(2 / N) * x * (y - ((m_current * x) + b_current))
    new_b = b_current - (learningRate * b_gradient)
    new_m = m_current - (learningRate * m_gradient)
    return [new_b, new_m]


def seed_gradient_descent_runner(points, starting_b, starting_m, learning_rate, num_iterations):
    b = starting_b
    m = starting_m
    for _ in range(num_iterations):
        b, m = seed_step_gradient(b, m, points, learning_rate)
    return [b, m]


def seed_001_sgd(alpha=0.01, epsilon=0.0001):
    x = [(1, 0.0, 3), (1, 1.0, 3), (1, 2.0, 3), (1, 3.0, 2), (1, 4.0, 4)]
    y = [95.364, 97.217205, 75.195834, 60.105519, 49.342380]
    error0 = 0
    cnt = 0
    theta0 = theta1 = theta2 = 0
    while True:
        cnt = cnt + 1
        for i in range(len(x)):
            diff = y[i] - (theta0 + theta1 * x[i][1] + theta2 * x[i][2])
            theta0 = theta0 + alpha * diff * x[i][0]
            theta1 = theta1 + alpha * diff * x[i][1]
            theta2 = theta2 + alpha * diff * x[i][2]
        error1 = 0
        for lp in range(len(x)):
            error1 += (y[lp] - (theta0 + theta1 * x[lp][1] + theta2 * x[lp][2])) ** 2 / 2
        if abs(error1 - error0) < epsilon:
            break
        error0 = error1
    return [theta0, theta1, theta2], cnt


# --- Timing --------------------------------------------------------------------------------------


def _seconds(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _steady(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    times = [_seconds(fn)[0] for _ in range(repeats)]
    return min(times), statistics.median(times)


def main(argv: Sequence[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per case (default 5)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    jax.config.update("jax_enable_x64", True)  # the same float64 numbers as the seed

    from jaxdl.milestones import gradient_descent as gd
    from jaxdl.milestones import least_squares as ls
    from jaxdl.milestones import linear_regression as lr

    def jax_debye():
        return float(gd.descend(gd.debye_slope, 0.5, learning_rate=0.01, steps=60)[-1])

    def jax_regression(steps):
        def call():
            final = lr.fit(ls.WHEAT_AND_BREAD, learning_rate=0.01, steps=steps).final
            return [float(final.b), float(final.m)]

        return call

    def jax_sgd():
        result = lr.sgd_until_converged(ls.SEED_001_X, ls.SEED_001_Y)
        return [float(t) for t in result.theta], result.passes

    from jaxdl import machine

    before = machine.snapshot()
    cases = [
        ("Debye descent, 60 steps", seed_debye, jax_debye),
        (
            "linear regression, 100 steps",
            lambda: seed_gradient_descent_runner(WHEAT_AND_BREAD, 1, 1, 0.01, 100),
            jax_regression(100),
        ),
        (
            "linear regression, 100000 steps",
            lambda: seed_gradient_descent_runner(WHEAT_AND_BREAD, 1, 1, 0.01, 100_000),
            jax_regression(100_000),
        ),
        ("seed 001 SGD, until it stops", seed_001_sgd, jax_sgd),
    ]

    rows = []
    for name, baseline, ours in cases:
        first, ours_out = _seconds(ours)  # trace + compile + run
        base_best, base_median = _steady(baseline, args.repeats)
        ours_best, ours_median = _steady(ours, args.repeats)
        same = _close(baseline(), ours_out)
        rows.append(
            dict(
                case=name,
                python_s=base_best,
                jaxdl_s=ours_best,
                speedup=base_best / ours_best,
                compile_s=max(first - ours_best, 0.0),
                python_median_s=base_median,
                jaxdl_median_s=ours_median,
                same_result=same,
            )
        )

    header = ("case", "python", "jaxdl", "python/jaxdl", "jaxdl compile", "same result")
    table = [header] + [
        (
            r["case"],
            _fmt(r["python_s"]),
            _fmt(r["jaxdl_s"]),
            f"{r['speedup']:.3g}x",
            _fmt(r["compile_s"]),
            "yes" if r["same_result"] else "NO",
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    print(f"steady state = best of {args.repeats} calls; compile = first call minus steady state")
    for i, row in enumerate(table):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}")
    print(machine.verdict(before))
    return rows


def _fmt(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def _close(a, b) -> bool:
    import numpy as np

    def flat(v):
        if isinstance(v, tuple | list):
            return [x for item in v for x in flat(item)]
        return [float(v)]

    return bool(np.allclose(flat(a), flat(b), rtol=1e-9, atol=1e-12))


if __name__ == "__main__":
    main()
