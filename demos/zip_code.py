"""LeCun et al. (1989) demo: the zip-code network, trained by SGD and by the paper's diagonal
Newton method, pass by pass, with the paper's table beside ours.

    python demos/zip_code.py                 # the paper's 23 passes, both methods
    python demos/zip_code.py --passes 3 --method newton

Prints, after each pass, what lecun1989-repro prints (MSE, error and misses on each set), then
the table: the paper (1989), lecun1989-repro (2022) and jaxdl.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=23, help="passes (default: the paper's 23)")
    parser.add_argument("--method", choices=("both", "sgd", "newton"), default="both")
    parser.add_argument("--train-size", type=int, default=7291)
    parser.add_argument("--test-size", type=int, default=2007)
    parser.add_argument("--data", default="sample", help="sample, download or an IDX directory")
    args = parser.parse_args(argv)

    import jax

    jax.config.update("jax_enable_x64", True)
    from jaxdl.milestones import zip_code

    config = zip_code.Config(
        passes=args.passes,
        method=args.method,
        train_size=args.train_size,
        test_size=args.test_size,
        data=args.data,
    )
    report = zip_code.run(config)
    result = report.result
    print(result["data"])
    sizes = {"train": result["train_digits"], "test": result["test_digits"]}
    for method, curves in result["curves"].items():
        print(f"\n{zip_code.LABELS[method]}")
        for p in range(1, len(curves["test_error"])):
            print(p)
            for split, n in sizes.items():
                error = curves[f"{split}_error"][p]
                print(
                    f"eval: split {split:5s}. loss {curves[f'{split}_mse'][p]:e}. "
                    f"error {100 * error:.2f}%. misses: {round(error * n)}"
                )
    print()
    print(zip_code.format_table(result))


if __name__ == "__main__":
    main()
