"""Seed 004's convolution as image filtering: edge detection, sharpen, emboss, blurs, Sobel.

Filters the first MNIST test digits of the embedded sample (or an image file) with the named
kernels, through the same ``conv2d`` the deep CNN uses, and writes the grid.

    python demos/filters.py [IMAGE] [--out filters.png]
"""

from __future__ import annotations

import argparse

import numpy as np

from jaxdl.milestones import image_filters as chapter
from jaxdl.milestones import image_filters as filters
from jaxdl.plotting import save_figure
from jaxdl.validate import require_writable_file


def main(argv: list[str] | None = None) -> str:
    """Filter, print each kernel and the response range, write the grid; returns its path."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", nargs="?", help="an image file (default: MNIST digits)")
    parser.add_argument("--out", default="filters.png", help="where to write the grid")
    args = parser.parse_args(argv)
    require_writable_file("--out", args.out)  # before the filtering, not after
    report = chapter.run(chapter.Config(image=args.image))
    for name, (low, high) in report.result["response_range"].items():
        kernel = np.array2string(
            np.asarray(filters.KERNELS[name]), precision=3, suppress_small=True
        )
        print(f"{name} kernel:\n{kernel}")
        print(f"  response on {report.result['images'][0]}: [{low:+.3f}, {high:+.3f}]")
    save_figure(chapter.plot(report), args.out)
    print(f"grid written to {args.out}")
    return args.out


if __name__ == "__main__":
    main()
