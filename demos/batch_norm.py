"""Ioffe & Szegedy's Figure 1: a 3 x 100 sigmoid net on MNIST with and without batch norm.

Trains both nets from the same small Gaussian weights on the same batches of 60 and prints
test accuracy at a few step counts (Figure 1a), the tracked sigmoid input's percentiles
(Figure 1b, c), and the BN net's accuracy in evaluation mode against training mode.

    python demos/batch_norm.py                    # the shipped sample, 2000 steps
    python demos/batch_norm.py --paper --data DIR # the paper's 50,000 steps on full MNIST
"""

from __future__ import annotations

import argparse

import jax

from jaxdl.milestones import batch_norm


def main(argv: list[str] | None = None) -> None:
    """Run the chapter's experiment and print the paper's figure as tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=batch_norm.STEPS)
    parser.add_argument("--eval-every", type=int, default=200)
    parser.add_argument("--data", default="sample", help="sample or a directory of IDX files")
    parser.add_argument("--paper", action="store_true", help="50,000 steps, as the paper")
    args = parser.parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    config = batch_norm.Config(
        steps=args.steps, eval_every=args.eval_every, data=args.data, paper=args.paper
    )
    result = batch_norm.run(config).result
    print(f"{'step':>6}  {'without BN':>10}  {'with BN':>8}   (test accuracy, Figure 1a)")
    for row in result["test_accuracy"]:
        print(f"{row['step']:>6}  {row['without_bn']:>10.4f}  {row['with_bn']:>8.4f}")
    print("\ninput of one last-layer sigmoid at the end, percentiles 15/50/85 (Figure 1b, c):")
    for name, pct in result["percentiles_final"].items():
        label = name.replace("_", " ").replace("bn", "BN")
        print(f"  {label:>10}: {pct['p15']:+.2f} {pct['p50']:+.2f} {pct['p85']:+.2f}")
    modes = result["bn_modes_test_accuracy"]
    print(
        f"\nBN net on class-sorted test batches: eval mode {modes['eval_mode']:.4f}, "
        f"left in training mode {modes['train_mode_class_sorted_batches']:.4f}"
    )


if __name__ == "__main__":
    main()
