"""Seed 000's gradient descent (Debye, 1909) on ``x**5 - 2 x**3 - 2``, from x = 0.5.

Prints what the seed printed, the point before each step, then where it ended:

    python demos/gradient_descent.py [--steps 60] [--lr 0.01] [--start 0.5]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import jax

from jaxdl.cli.options import add_config_arguments, config_from_args
from jaxdl.milestones import gradient_descent as gd


def main(argv: Sequence[str] | None = None) -> None:
    """Descend Debye's curve with the slope worked out by hand and print the path."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_config_arguments(parser, gd.Config)
    config = config_from_args(gd.Config, parser.parse_args(argv))
    jax.config.update("jax_enable_x64", True)  # the seed computes with Python floats
    path = gd.descend(
        gd.debye_slope, config.start, learning_rate=config.learning_rate, steps=config.steps
    )
    for previous_x in path[:-1].tolist():
        print(previous_x)
    print(f"The local minimum occurs at {float(path[-1]):f}")
    print(f"After {config.steps} iterations x = {float(path[-1]):.6f}")
    print(f"(the true local minimum is sqrt(6/5) = {gd.LOCAL_MINIMUM:.6f})")


if __name__ == "__main__":
    main()
