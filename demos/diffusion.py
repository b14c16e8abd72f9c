"""Denoising diffusion (2020) demo: DDPM learns Sohl-Dickstein et al.'s swiss roll, or, with
``--paper``, MNIST digits with a small U-Net.

    python demos/diffusion.py [--steps N] [--paper] [--plot PATH]

Trains the ε-network, samples 500 points by running the reverse process from pure noise with
1000 steps and with 10, and prints how near the samples lie to the roll (a Chamfer distance,
beside that of noise and of fresh data). With ``--paper`` (minutes): the Fréchet distance
between generated and test digits in a CNN's features per number of sampling steps, beside
that of held-out real digits, and how far the samples lie from their nearest training digits.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def print_tour(r: dict) -> None:
    """The swiss roll's numbers."""
    print(f"{r['steps']} steps: loss {r['first_loss']:.3f} -> {r['final_loss']:.3f} "
          f"({r['train_seconds']:.1f} s)")  # fmt: skip
    print(f"Chamfer distance to the roll: noise {r['chamfer_noise']:.3f}, "
          f"fresh data {r['chamfer_data']:.3f}")  # fmt: skip
    for row in r["chamfer_by_sampling_steps"]:
        print(f"  {row['sampling_steps']:>5} sampling steps: {row['chamfer']:.3f}")


def print_paper(r: dict) -> None:
    """The digits' numbers."""
    print(f"{r['data']}; U-Net of {r['parameters']:,} parameters, {r['steps']} steps: loss "
          f"{r['first_loss']:.3f} -> {r['final_loss']:.3f} ({r['train_seconds']:.0f} s)")  # fmt: skip
    print(f"Fréchet distance to {r['reference_digits']} test digits in the CNN's features "
          f"(classifier test accuracy {r['classifier_test_accuracy']:.1%}), "
          f"{r['digits_compared']} digits each:")  # fmt: skip
    for row in r["frechet_by_sampling_steps"]:
        print(f"  {row['sampling_steps']:>5} sampling steps: {row['frechet']:.3f}")
    print(f"  held-out real digits: {r['frechet_held_out_real']:.3f}")
    print(f"distance to the nearest training digit: generated "
          f"{r['nearest_training_distance_generated']:.2f}, held-out real "
          f"{r['nearest_training_distance_held_out_real']:.2f}")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    """Run the chapter's experiment and print its numbers."""
    from jaxdl.milestones import diffusion

    defaults = diffusion.Config()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=defaults.steps, help="optimizer steps")
    parser.add_argument("--paper", action="store_true", help="digits with a U-Net (minutes)")
    parser.add_argument("--plot", help="write the figure here (PNG)")
    args = parser.parse_args(argv)
    if args.plot:
        from jaxdl.validate import require_writable_file

        require_writable_file("--plot", args.plot)
    report = diffusion.run(diffusion.Config(steps=args.steps, paper=args.paper))
    (print_paper if args.paper else print_tour)(report.result)
    print(f"(the paper: FID {report.result['paper_cifar10_fid']} on CIFAR-10 images; "
          "not comparable)")  # fmt: skip
    if args.plot:
        from jaxdl.plotting import save_figure

        save_figure(diffusion.plot(report), args.plot)


if __name__ == "__main__":
    main()
