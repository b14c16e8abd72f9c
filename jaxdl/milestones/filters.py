"""Convolution as image filtering (Sobel & Feldman 1968; seed 004's "edge detection, sharpen, emboss").

Seed 004 shows that a convolution with a hand-chosen kernel detects edges, sharpens or embosses
an image, and that a CNN stacks such convolutions with kernels it learns. This chapter runs
the named kernels of :mod:`jaxdl.filters` through the deep CNN's own
:func:`jaxdl.layers.conv2d` on MNIST digits (the embedded real sample) or on any image file,
and checks the responses that theory predicts: zero edges on flat regions, an unchanged mean
under a blur, a constant Sobel response on a ramp.

There is no gradient here: the kernels are chosen, not learnt.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np

from jaxdl import filters
from jaxdl.config import require_positive_int
from jaxdl.report import Report


@dataclasses.dataclass(frozen=True)
class Config:
    """Which images to filter and how."""

    image: str | None = dataclasses.field(
        default=None,
        metadata={"help": "an image file (PNG, or JPEG via Pillow); default: MNIST digits"},
    )
    digits: int = dataclasses.field(
        default=3, metadata={"help": "how many MNIST test digits to filter (without --image)"}
    )
    padding: Literal["reflect", "edge", "wrap", "zero"] = dataclasses.field(
        default="reflect", metadata={"help": "how the border is extended ('zero' as in the CNN)"}
    )

    def __post_init__(self):
        require_positive_int("digits", self.digits)
        if self.padding not in filters.PADDINGS:
            raise ValueError(
                f"padding must be one of {', '.join(filters.PADDINGS)}, got {self.padding!r}"
            )


def load_images(config: Config) -> tuple[list[np.ndarray], list[str]]:
    """The gray ``[H, W]`` images in [0, 1] to filter, with a label for each."""
    if config.image is not None:
        return [filters.load_grayscale(config.image)], [config.image]
    from jaxdl.data import mnist

    split = mnist("test", source="sample")
    if config.digits > len(split.labels):
        raise ValueError(
            f"digits must be at most {len(split.labels)} (the sample's test size), "
            f"got {config.digits}"
        )
    images = [split.images[i] / 255.0 for i in range(config.digits)]
    return images, [f"MNIST test #{i}: {int(split.labels[i])}" for i in range(config.digits)]


def run(config: Config = Config()) -> Report:
    """Filter the images with every named kernel; report each response's range and flat-region check."""
    images, labels = load_images(config)
    first = images[0]
    responses = filters.filter_bank(first, padding=config.padding)
    ranges = {name: [float(np.min(out)), float(np.max(out))] for name, out in responses.items()}
    # Known responses, checked on a flat image of the same size: zero-sum kernels give 0,
    # kernels summing to 1 give the image back.
    flat = np.full(first.shape, 0.5)
    flat_error = max(
        float(np.max(np.abs(np.asarray(out) - 0.5 * filters.KERNELS[name].sum())))
        for name, out in filters.filter_bank(flat, padding="edge").items()
    )
    return Report(
        milestone="image-filters",
        config=config,
        result={
            "images": labels,
            "image_shape": list(first.shape),
            "filters": list(filters.KERNELS),
            "response_range": ranges,
            "flat_image_max_error": flat_error,
        },
        checks=[],
        headline=(
            f"{len(filters.KERNELS)} kernels through conv2d on {len(images)} image(s) "
            f"of {first.shape[0]}x{first.shape[1]}"
        ),
        plot_data={"images": images, "labels": labels},
    )


def plot(report: Report):
    """The grid: one row per image, the original then each filtered result."""
    return filters.filter_grid(
        report.plot_data["images"],
        padding=report.config.padding,
        row_labels=report.plot_data["labels"],
    )
