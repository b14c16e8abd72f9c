"""U-Net demo: seed 004's masked BCE plus a symmetry penalty, on a synthetic task.

    python demos/unet.py [--alpha 10] [--plot unet.png]

Synthetic data (see :mod:`jaxdl.milestones.unet`): noisy images of mirror-symmetric blobs,
a symmetric target mask with 30% of its labels NaN. The same U-Net is trained without and with
the penalty; the penalty makes its output more symmetric.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alpha", type=float, default=10.0, help="weight of the penalty")
    parser.add_argument("--plot", help="write input, target and predictions as PNG")
    args = parser.parse_args(argv)
    from jaxdl.milestones import unet
    from jaxdl.plotting import save_figure
    from jaxdl.validate import require_writable_file

    if args.plot:
        require_writable_file("--plot", args.plot)  # before the training, not after

    report = unet.run(unet.Config(alpha=args.alpha))
    for name in ("without_penalty", "with_penalty"):
        r = report.result[name]
        print(
            f"{name.replace('_', ' ')}: output symmetry error {r['output_symmetry_error']:.4f}, "
            f"pixel accuracy {r['pixel_accuracy']:.3f}"
        )
    if args.plot:
        print(f"plot written to {save_figure(unet.plot(report), args.plot)}")


if __name__ == "__main__":
    main()
