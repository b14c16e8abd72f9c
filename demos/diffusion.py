"""Denoising diffusion (2020) demo: DDPM learns Sohl-Dickstein et al.'s swiss roll.

    python demos/diffusion.py [--steps N] [--plot PATH]

Trains the ε-network, samples 500 points by running the reverse process from pure noise with
1000 steps and with 10, and prints how near the samples lie to the roll (a Chamfer distance,
beside that of noise and of fresh data).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    """Run the chapter's experiment and print its numbers."""
    from jaxdl.milestones import diffusion

    defaults = diffusion.Config()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=defaults.steps, help="optimizer steps")
    parser.add_argument("--plot", help="write the reverse process's figure here (PNG)")
    args = parser.parse_args(argv)
    if args.plot:
        from jaxdl.validate import require_writable_file

        require_writable_file("--plot", args.plot)
    report = diffusion.run(diffusion.Config(steps=args.steps))
    r = report.result
    print(f"{r['steps']} steps: loss {r['first_loss']:.3f} -> {r['final_loss']:.3f} "
          f"({r['train_seconds']:.1f} s)")  # fmt: skip
    print(f"Chamfer distance to the roll: noise {r['chamfer_noise']:.3f}, "
          f"fresh data {r['chamfer_data']:.3f}")  # fmt: skip
    for row in r["chamfer_by_sampling_steps"]:
        print(f"  {row['sampling_steps']:>5} sampling steps: {row['chamfer']:.3f}")
    print(f"(the paper: FID {r['paper_cifar10_fid']} on CIFAR-10 images; not comparable)")
    if args.plot:
        from jaxdl.plotting import save_figure

        save_figure(diffusion.plot(report), args.plot)


if __name__ == "__main__":
    main()
