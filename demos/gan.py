"""Goodfellow et al.'s generative adversarial nets: an MLP generator against an MLP
discriminator on MNIST, both backward passes by hand.

Trains the two players in turn, then prints the Gaussian Parzen window estimate of the test
log-likelihood beside the paper's Table 1, the classes of the samples (mode collapse shows as
an uneven histogram) and the generator's gradient at the start under both of its losses.

    python demos/gan.py                       # the shipped sample, 3000 steps
    python demos/gan.py --paper --data DIR    # 40,000 steps, 10,000 Parzen samples
"""

from __future__ import annotations

import argparse

import jax

from jaxdl.milestones import gan


def main(argv: list[str] | None = None) -> None:
    """Run the chapter's experiment and print its numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=gan.STEPS_DEFAULT)
    parser.add_argument("--hidden", type=int, default=gan.HIDDEN)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--data", default="sample", help="sample or a directory of IDX files")
    parser.add_argument("--paper", action="store_true", help="longer, as many samples as Table 1")
    args = parser.parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    config = gan.Config(
        steps=args.steps, hidden=args.hidden, samples=args.samples, data=args.data, paper=args.paper
    )
    result = gan.run(config).result
    p = result["parzen"]
    print(
        f"Parzen window log-likelihood of the test digits: {p['ours']:.1f} +- "
        f"{p['ours_standard_error']:.1f} nats (sigma {p['sigma']}, {p['samples']} samples); "
        f"the paper's Table 1: {p['paper']:.0f} +- {p['paper_standard_error']:.0f}"
    )
    print("samples per class (read by a softmax classifier):", result["class_histogram"])
    start = result["generator_gradient_at_start"]
    print(
        f"G's gradient norm at its start against the trained D (D(G(z)) = "
        f"{start['mean_D_of_fakes']:.1e}): minimax {start['minimax']:.2e}, "
        f"non-saturating {start['non_saturating']:.2e}"
    )


if __name__ == "__main__":
    main()
