"""Seed 000's least squares (Legendre, 1805): the error of a line, and the line that minimises it.

python demos/least_squares.py
"""

from __future__ import annotations

import jax

from jaxdl.milestones import least_squares as ls


def main() -> None:
    """Print the seed's example error, then the least-squares fits of both seeds' data."""
    jax.config.update("jax_enable_x64", True)  # the seed computes with Python floats
    error = float(ls.line_error(1, 2, [[3, 6], [6, 9], [12, 18]]))
    print(f"compute_error_for_line_given_points(1, 2, [[3,6],[6,9],[12,18]]) = {error}")
    line = ls.fit_line(ls.WHEAT_AND_BREAD)
    mse = float(ls.line_error(line.b, line.m, ls.WHEAT_AND_BREAD))
    print(
        f"Least squares for wheat and bread: b = {float(line.b):.6f}, m = {float(line.m):.6f}, "
        f"error = {mse:.6f}"
    )
    theta = ls.solve(ls.SEED_001_X, ls.SEED_001_Y)
    print(
        "Least squares for seed 001: "
        + ", ".join(f"theta{i} : {t:f}" for i, t in enumerate(theta.tolist()))
    )
    try:
        ls.fit_line([[2.0, 1.0], [2.0, 3.0]])
    except ValueError as refusal:
        print(f"All x equal: {refusal}")


if __name__ == "__main__":
    main()
