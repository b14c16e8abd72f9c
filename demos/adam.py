"""Kingma & Ba's Figure 1: logistic regression on MNIST, Adam against AdaGrad and SGD Nesterov.

Trains multiclass logistic regression (L2 penalty, batches of 128, step alpha / sqrt(t)) with
each optimizer written by hand and prints the training cost per pass; then Reddi, Kale & Kumar's
problem on which Adam ends at the worst point and AMSGrad at the best.

    python demos/adam.py                     # the shipped sample, 45 passes
    python demos/adam.py --paper --data DIR  # and Figure 2(a)'s MLP, on full MNIST
"""

from __future__ import annotations

import argparse

import jax

from jaxdl.milestones import adam


def main(argv: list[str] | None = None) -> None:
    """Run the chapter's experiment and print the paper's figures as tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=adam.PAPER_PASSES)
    parser.add_argument("--data", default="sample", help="sample or a directory of IDX files")
    parser.add_argument("--paper", action="store_true", help="Figure 2(a)'s MLP too")
    args = parser.parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    report = adam.run(adam.Config(passes=args.passes, data=args.data, paper=args.paper))
    curves = report.plot_data
    for title, key in (
        ("Figure 1, logistic regression", "figure_1"),
        ("Figure 2(a), MLP", "figure_2a"),
    ):
        if not curves[key]:
            continue
        print(f"{title}: training cost after each pass (test accuracy at the end)")
        names = [adam.LABELS[c.name] for c in curves[key]]
        print(f"{'pass':>5}  " + "  ".join(f"{n:>12}" for n in names))
        passes = len(curves[key][0].cost_per_pass)
        for p in sorted({0, passes // 4, passes // 2, passes - 1}):
            print(f"{p + 1:>5}  " + "  ".join(f"{c.cost_per_pass[p]:>12.4f}" for c in curves[key]))
        print(f"{'test':>5}  " + "  ".join(f"{c.test_accuracy:>12.4f}" for c in curves[key]))
        print()
    print("Reddi et al.'s problem (best x = -1), x after 3000 steps:")
    for rule, x in report.result["reddi_final_x"].items():
        print(f"  {adam.LABELS[rule]:>8}: {x:+.4f}")


if __name__ == "__main__":
    main()
