"""He et al.'s degradation problem: plain vs residual nets, shallow vs deep, on MNIST digits.

Trains four nets (plain and residual, 6n + 2 layers for a shallow and a deep n) with the same
widths, batches and steps, and prints each one's final training error and test error beside the
paper's CIFAR-10 test errors.

    python demos/resnet.py                      # the tour's miniature: 8 and 20 layers
    python demos/resnet.py --paper              # 20 and 56 layers, longer (many minutes)
"""

from __future__ import annotations

import argparse

import jax

from jaxdl.milestones import resnet


def main(argv: list[str] | None = None) -> None:
    """Run the chapter's experiment and print Figure 6's numbers as a table."""
    defaults = resnet.Config()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--n-deep", type=int, default=defaults.n_deep)
    parser.add_argument("--side", type=int, default=defaults.side)
    parser.add_argument("--width-divisor", type=int, default=defaults.width_divisor)
    parser.add_argument("--data", default="sample", help="sample or a directory of IDX files")
    parser.add_argument("--paper", action="store_true", help="20 and 56 layers, longer")
    args = parser.parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    config = resnet.Config(
        steps=args.steps,
        n_deep=args.n_deep,
        side=args.side,
        width_divisor=args.width_divisor,
        data=args.data,
        paper=args.paper,
    )
    result = resnet.run(config).result
    print(f"{result['input']}, widths {result['widths']}, {result['steps']} steps")
    print(f"{'net':>10}  {'training error':>14}  {'test error':>10}")
    for row in result["errors"]:
        print(f"{row['net']:>10}  {row['final_training_error']:>14.2%}  {row['test_error']:>10.2%}")
    print("\nthe paper's CIFAR-10 test errors (Table 6):")
    for net, error in result["paper_cifar10_test_error_percent"].items():
        print(f"{net:>10}  {error:.2f}%")
    print(f"plain nets: {result['paper_plain_cifar10']}")


if __name__ == "__main__":
    main()
