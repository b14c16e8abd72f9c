"""Milestone 5 demo: Trask's network on seed 003's "Litter Rip!" survey, then on XOR.

Prints what the seed prints: the mean |error| every 10000 steps and the output after training,
from the same starting weights (NumPy seed 1), computed by one jitted ``lax.scan``.
"""

from __future__ import annotations

import jax
import numpy as np


def main() -> None:
    jax.config.update("jax_enable_x64", True)  # the seed is a float64 NumPy program
    from jaxdl.milestones import backprop as bp

    batch = bp.dataset("litter")
    result = bp.train(bp.seed_init_params(), batch, steps=60000, error="y - l2")
    for error in np.asarray(result.mean_abs_error[::10000]):
        print("Avg l2_error after 10,000 more iterations: " + str(error))
    print("Output After Training:")
    print(np.asarray(bp.predict(result.params, batch.x)))

    xor = bp.dataset("xor")
    result = bp.train(bp.seed_init_params(), xor, steps=60000)
    print(
        "XOR output after 60000 steps:",
        np.round(np.asarray(bp.predict(result.params, xor.x))[:, 0], 4),
    )


if __name__ == "__main__":
    main()
