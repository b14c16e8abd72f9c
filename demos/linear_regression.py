"""Seed 000's linear regression (1950s) on wheat and bread prices, and seed 001's multivariate SGD.

python demos/linear_regression.py [--steps 100] [--lr 0.01] [--start-b 1] [--start-m 1]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import jax

from jaxdl.cli.options import add_config_arguments, config_from_args
from jaxdl.milestones import least_squares as ls
from jaxdl.milestones import linear_regression as lr


def main(argv: Sequence[str] | None = None) -> None:
    """Run the seed's gradient_descent_runner, compare with least squares, then seed 001's SGD."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_config_arguments(parser, lr.Config)
    config = config_from_args(lr.Config, parser.parse_args(argv))
    jax.config.update("jax_enable_x64", True)  # the seed computes with Python floats
    path = lr.fit(
        ls.WHEAT_AND_BREAD,
        start=(config.start_b, config.start_m),
        learning_rate=config.learning_rate,
        steps=config.steps,
    )
    print(
        f"Starting gradient descent at b = {config.start_b:g}, m = {config.start_m:g}, "
        f"error = {float(path.mse[0]):f}"
    )
    print("Running...")
    print(
        f"After {config.steps} iterations b = {float(path.b[-1]):f}, m = {float(path.m[-1]):f}, "
        f"error = {float(path.mse[-1]):f}"
    )
    best = ls.fit_line(ls.WHEAT_AND_BREAD)
    best_error = float(ls.line_error(best.b, best.m, ls.WHEAT_AND_BREAD))
    print(
        f"Least squares:           b = {float(best.b):f}, m = {float(best.m):f}, "
        f"error = {best_error:f}"
    )
    sgd = lr.sgd_until_converged(ls.SEED_001_X, ls.SEED_001_Y, learning_rate=0.01, epsilon=1e-4)
    t0, t1, t2 = sgd.theta.tolist()
    print(f"Done: theta0 : {t0:f}, theta1 : {t1:f}, theta2 : {t2:f} ({sgd.passes} passes)")


if __name__ == "__main__":
    main()
