"""Convolution as image filtering (Sobel & Feldman 1968; seed 004's "edge detection, sharpen, emboss").

Seed 004 shows that a convolution with a hand-chosen kernel detects edges, sharpens or embosses
an image, and that a CNN stacks such convolutions with kernels it learns. This chapter runs
the named kernels below through the deep CNN's own
:func:`jaxdl.nn.affine.conv2d` on MNIST digits (the embedded real sample) or on any image file,
and checks the responses that theory predicts: zero edges on flat regions, an unchanged mean
under a blur, a constant Sobel response on a ramp.

The kernels are chosen, not learnt; the one gradient of the chapter is the filter bank's
input gradient, the path by which a CNN learns such kernels.

Before a CNN learns its kernels, image processing chose them by hand: an edge detector, a
sharpening mask, an emboss, box and Gaussian blurs, Sobel's gradient operators (1968). Each is
a small ``[kh, kw]`` array of weights slid over the image, which is exactly what the CNN's
first layer does with ``C_out`` learnt kernels. This chapter applies the named kernels with
the *same* function the deep CNN uses, :func:`jaxdl.nn.affine.conv2d` (NHWC images, HWIO
kernels), stacking all of them as the output channels of one convolution: a filter bank is a
convolution layer with fixed weights.

Like every framework, ``conv2d`` computes a cross-correlation (the kernel is not flipped).
The symmetric kernels do not care; for Sobel and emboss it fixes the sign: ``sobel-x`` as
written here responds **positively** to brightness increasing to the right (along ``W``),
``sobel-y`` to brightness increasing downwards (along ``H``).

Borders: the CNN pads with zeros (``padding="zero"``), which makes a dark frame look like an
edge. For filtering the image is first padded by reflection (the default), by repeating the
edge pixels, or circularly (``"wrap"``: then a kernel that sums to one preserves the mean of
the image exactly), and then convolved.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxdl.gradcheck import GradCheck
from jaxdl.milestones import Milestone
from jaxdl.nn.affine import conv2d
from jaxdl.report import Report
from jaxdl.validate import check_limits, require_positive_int

MILESTONE = Milestone(
    "image-filters",
    1968,
    "Sobel & Feldman; seed 004",
    "hand-picked convolution kernels filter images",
)

Padding = Literal["reflect", "edge", "wrap", "zero"]
PADDINGS: tuple[str, ...] = ("reflect", "edge", "wrap", "zero")


def gaussian_kernel(size: int = 5, sigma: float = 1.0) -> np.ndarray:
    """A ``[size, size]`` Gaussian blur kernel, ``exp(-(i**2 + j**2) / (2 sigma**2))``, summing to 1.

    Args:
      size: odd side length, at least 1.
      sigma: standard deviation in pixels, positive.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1 or size % 2 == 0:
        raise ValueError(f"Gaussian kernel size must be a positive odd integer, got {size!r}")
    if not (isinstance(sigma, int | float) and math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"Gaussian sigma must be a finite positive number, got {sigma!r}")
    r = np.arange(size) - size // 2
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2.0 * sigma**2))
    return g / g.sum()


#: The named kernels, ``[kh, kw]`` float64 arrays (cross-correlation orientation, see above).
KERNELS: dict[str, np.ndarray] = {
    # Laplacian-style outline: sums to 0, so flat regions go to 0 and edges light up.
    "edge": np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], dtype=np.float64),
    # Identity plus a Laplacian: sums to 1, flat regions unchanged, edges exaggerated.
    "sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=np.float64),
    # Difference along the diagonal plus the pixel itself: a raised, lit-from-the-top-left look.
    "emboss": np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], dtype=np.float64),
    "box-blur": np.full((3, 3), 1.0 / 9.0),
    "gaussian-blur": gaussian_kernel(5, 1.0),
    # Sobel & Feldman (1968): smoothing across, central difference along.
    "sobel-x": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64),
    "sobel-y": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=np.float64),
}


def kernel(name: str) -> np.ndarray:
    """The named kernel (a copy); ``ValueError`` listing the known names otherwise."""
    if name not in KERNELS:
        raise ValueError(f"unknown filter {name!r}; known filters: {', '.join(KERNELS)}")
    return KERNELS[name].copy()


def _check_image(image: ArrayLike, min_side: int) -> jax.Array:
    shape = np.shape(image)
    if len(shape) != 2:
        raise ValueError(
            f"a grayscale image must have shape [H, W], got shape {shape}; "
            "convert colour images with to_grayscale first"
        )
    if min(shape) < min_side:
        raise ValueError(
            f"image of shape {shape} is too small for a {min_side}x{min_side} kernel; "
            f"each side must be at least {min_side}"
        )
    x = jnp.asarray(image, dtype=jnp.result_type(float))
    if not bool(jnp.all(jnp.isfinite(x))):
        raise ValueError("image contains NaN or infinite pixels")
    return x


def _stack_kernels(kernels: Sequence[ArrayLike]) -> jax.Array:
    """Centre every kernel in a common odd ``[k, k]`` frame and stack them as HWIO ``[k, k, 1, K]``."""
    arrays = [np.asarray(k, dtype=np.float64) for k in kernels]
    if not arrays:
        raise ValueError("no kernels given; pass at least one")
    for k in arrays:
        if k.ndim != 2 or k.shape[0] % 2 == 0 or k.shape[1] % 2 == 0:
            raise ValueError(f"a kernel must have shape [kh, kw] with odd sides, got {k.shape}")
        if not np.all(np.isfinite(k)):
            raise ValueError("kernel contains NaN or infinite weights")
    side = max(max(k.shape) for k in arrays)
    frame = np.zeros((side, side, 1, len(arrays)))
    for i, k in enumerate(arrays):
        top, left = (side - k.shape[0]) // 2, (side - k.shape[1]) // 2
        frame[top : top + k.shape[0], left : left + k.shape[1], 0, i] = k
    return jnp.asarray(frame, dtype=jnp.result_type(float))


def apply_kernels(
    image: ArrayLike, kernels: Sequence[ArrayLike], *, padding: Padding = "reflect"
) -> jax.Array:
    """Filter one grayscale image with several kernels in one :func:`jaxdl.nn.affine.conv2d` call.

    ``out[k, h, w] = sum_{i, j} padded[h + i, w + j] kernel_k[i, j]`` (cross-correlation).

    Args:
      image: ``[H, W]`` grayscale pixels (any scale; finite).
      kernels: ``K`` kernels, each ``[kh, kw]`` with odd sides (smaller ones are centred in
        zeros to share one frame, which does not change their response).
      padding: how the border is extended: ``"reflect"`` (mirror, without repeating the edge
        pixel), ``"edge"`` (repeat it), ``"wrap"`` (circular) or ``"zero"`` (what the CNN does).

    Returns:
      ``[K, H, W]``: one filtered image per kernel, same size as the input.
    """
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {', '.join(PADDINGS)}, got {padding!r}")
    bank = _stack_kernels(kernels)
    side = bank.shape[0]
    x = _check_image(image, min_side=side if padding == "reflect" else 1)
    r = side // 2
    if padding != "zero":
        # conv2d pads r zeros on each side itself; pre-padding r real pixels and cropping the
        # r-pixel zero band afterwards leaves the response computed from real pixels only.
        x = jnp.pad(x, r, mode=padding)
    y = conv2d(x[None, :, :, None], bank, jnp.zeros((bank.shape[3],), bank.dtype))[0]
    if padding != "zero":
        y = y[r:-r, r:-r] if r else y
    return jnp.moveaxis(y, -1, 0)


def apply_filter(image: ArrayLike, name: str, *, padding: Padding = "reflect") -> jax.Array:
    """Filter a ``[H, W]`` grayscale image with the named kernel; returns ``[H, W]``."""
    return apply_kernels(image, [kernel(name)], padding=padding)[0]


def filter_bank(
    image: ArrayLike, names: Sequence[str] | None = None, *, padding: Padding = "reflect"
) -> dict[str, jax.Array]:
    """Every named filter (or those in ``names``) applied to ``image``, in one convolution."""
    names = list(KERNELS) if names is None else list(names)
    out = apply_kernels(image, [kernel(n) for n in names], padding=padding)
    return dict(zip(names, out, strict=True))


#: ITU-R BT.601 luma weights, the usual RGB-to-gray conversion.
LUMA = np.array([0.299, 0.587, 0.114])


def to_grayscale(pixels: ArrayLike) -> np.ndarray:
    """A float64 ``[H, W]`` image in [0, 1] from gray, RGB or RGBA pixels.

    Integer pixels are divided by their type's maximum (255 for ``uint8``); RGB becomes gray by
    the BT.601 luma weights ``0.299 R + 0.587 G + 0.114 B``; an alpha channel is dropped.

    Raises:
      ValueError: on a shape that is not ``[H, W]``, ``[H, W, 1]``, ``[H, W, 3]`` or
        ``[H, W, 4]``, on an empty image, or on non-finite pixels.
    """
    a = np.asarray(pixels)
    if a.ndim == 3 and a.shape[2] in (1, 3, 4):
        pass
    elif a.ndim != 2:
        raise ValueError(
            f"an image must have shape [H, W] or [H, W, C] with C in (1, 3, 4), got {a.shape}"
        )
    if a.size == 0:
        raise ValueError(f"the image is empty (shape {a.shape})")
    if np.issubdtype(a.dtype, np.integer):
        a = a / np.iinfo(a.dtype).max
    elif np.issubdtype(a.dtype, np.bool_):
        a = a.astype(np.float64)
    a = np.asarray(a, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        raise ValueError("the image contains NaN or infinite pixels")
    if a.ndim == 3:
        a = a[:, :, 0] if a.shape[2] == 1 else a[:, :, :3] @ LUMA
    return a


#: Largest image :func:`load_grayscale` decodes (2048 x 2048): each filtered response of a
#: bigger one takes over 32 MB in float64, one per kernel. Checked from the file's header,
#: before decoding, so a small file that claims huge dimensions never reaches memory.
MAX_PIXELS = 2048 * 2048


def load_grayscale(path: str | Path) -> np.ndarray:
    """Read an image file (PNG natively; JPEG and others through Pillow) as gray ``[H, W]``.

    Raises:
      ValueError: if the path does not exist or is a directory, the image has more than
        :data:`MAX_PIXELS` pixels (read from its header, before decoding), it cannot be decoded
        as an image, or has a shape that :func:`to_grayscale` refuses.
    """
    import matplotlib.image
    from PIL import Image

    path = Path(path)
    if path.is_dir():
        raise ValueError(f"image file {str(path)!r} is a directory; give an image file")
    if not path.is_file():
        raise ValueError(f"image file {str(path)!r} does not exist")
    too_large = (
        f"image {str(path)!r} has more than {MAX_PIXELS} pixels (2048 x 2048); scale it down first"
    )
    try:
        with Image.open(path) as image:  # reads the header only
            width, height = image.size
    except Image.DecompressionBombError:  # Pillow's own, far larger, limit
        raise ValueError(too_large) from None
    except Exception as error:  # PIL.UnidentifiedImageError, SyntaxError, OSError, ValueError
        raise ValueError(
            f"could not read {str(path)!r} as an image ({type(error).__name__}: {error}); "
            "pass a PNG or JPEG file"
        ) from None
    if width * height > MAX_PIXELS:
        raise ValueError(f"{too_large} (it is {width} x {height})")
    try:
        pixels = matplotlib.image.imread(path)
    except Exception as error:  # a header that parses over data that does not decode
        raise ValueError(
            f"could not read {str(path)!r} as an image ({type(error).__name__}: {error}); "
            "pass a PNG or JPEG file"
        ) from None
    return to_grayscale(pixels)


def filter_grid(
    images: Sequence[ArrayLike],
    names: Sequence[str] | None = None,
    *,
    padding: Padding = "reflect",
    row_labels: Sequence[str] | None = None,
):
    """A figure with one row per image: the original, then each filtered result.

    Each panel is scaled to its own range (edges and Sobel responses are signed).

    Returns:
      A :class:`matplotlib.figure.Figure`.
    """
    from jaxdl.plotting import COLUMN_WIDTH, new_figure

    names = list(KERNELS) if names is None else list(names)
    if not images:
        raise ValueError("no images given; pass at least one")
    cols = 1 + len(names)
    panel = min(1.6, COLUMN_WIDTH / cols)  # inches per image, all in the docs' column
    fig, axes = new_figure(cols, len(images), size=(panel * cols, (panel + 0.35) * len(images)))
    axes = np.asarray(axes).reshape(len(images), cols)
    for row, image in enumerate(images):
        filtered = filter_bank(image, names, padding=padding)
        panels = [("original", np.asarray(image))] + [
            (n, np.asarray(v)) for n, v in filtered.items()
        ]
        for col, (title, pixels) in enumerate(panels):
            ax = axes[row, col]
            ax.imshow(pixels, cmap="gray", interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(title.replace("-", "\n"), fontsize=8)
        if row_labels is not None:
            axes[row, 0].set_ylabel(row_labels[row], fontsize=8)
    return fig


@dataclasses.dataclass(frozen=True)
class Config:
    """Which images to filter and how."""

    image: str | None = dataclasses.field(
        default=None,
        metadata={"help": "an image file (PNG, or JPEG via Pillow); default: MNIST digits"},
    )
    digits: int = dataclasses.field(
        default=3,
        metadata={
            "bounds": (1, 10_000),
            "help": "how many MNIST test digits to filter (without --image)",
        },
    )
    padding: Literal["reflect", "edge", "wrap", "zero"] = dataclasses.field(
        default="reflect", metadata={"help": "how the border is extended ('zero' as in the CNN)"}
    )

    def __post_init__(self):
        check_limits(self)
        require_positive_int("digits", self.digits)
        if self.padding not in PADDINGS:
            raise ValueError(f"padding must be one of {', '.join(PADDINGS)}, got {self.padding!r}")


def load_images(config: Config) -> tuple[list[np.ndarray], list[str]]:
    """The gray ``[H, W]`` images in [0, 1] to filter, with a label for each."""
    if config.image is not None:
        return [load_grayscale(config.image)], [config.image]
    from jaxdl.data import mnist

    split = mnist("test", source="sample")
    if config.digits > len(split.labels):
        raise ValueError(
            f"digits must be at most {len(split.labels)} (the sample's test size), "
            f"got {config.digits}"
        )
    images = [split.images[i] / 255.0 for i in range(config.digits)]
    return images, [f"MNIST test #{i}: {int(split.labels[i])}" for i in range(config.digits)]


def gradient_checks(*, key: jax.Array) -> list[GradCheck]:
    """The filter bank is a convolution layer: its input gradient is the hand-derived one.

    The kernels are chosen, not learnt, so nothing here is trained; but the CNN that learns
    them backpropagates through exactly this convolution. With the bank's kernels fixed,
    ``L(x) = sum(conv2d(x, K) * r)`` for a random ``r`` has gradient ``conv2d_backward(x, K, r)``
    in the image, checked against ``jax.grad`` and finite differences.
    """
    from jaxdl.gradcheck import check_gradient, standard_normal
    from jaxdl.nn.affine import conv2d_backward

    bank = _stack_kernels(list(KERNELS.values()))
    k_x, k_r = jax.random.split(key)
    x = jax.random.uniform(k_x, (1, 9, 9, 1), bank.dtype)
    r = standard_normal(k_r, (1, 9, 9, bank.shape[-1]), bank.dtype)
    bias = jnp.zeros((bank.shape[-1],), bank.dtype)
    return [
        check_gradient(
            "image-filters: the filter bank's input gradient",
            jax.jit(lambda x: jnp.sum(conv2d(x, bank, bias) * r)),
            jax.jit(lambda x: conv2d_backward(x, bank, r)[0]),
            x,
        )
    ]


def run(config: Config = Config()) -> Report:
    """Filter the images with every named kernel; report each response's range and flat-region check."""
    images, labels = load_images(config)
    first = images[0]
    responses = filter_bank(first, padding=config.padding)
    ranges = {name: [float(np.min(out)), float(np.max(out))] for name, out in responses.items()}
    # Known responses, checked on a flat image of the same size: zero-sum kernels give 0,
    # kernels summing to 1 give the image back.
    flat = np.full(first.shape, 0.5)
    flat_error = max(
        float(np.max(np.abs(np.asarray(out) - 0.5 * KERNELS[name].sum())))
        for name, out in filter_bank(flat, padding="edge").items()
    )
    return Report(
        milestone="image-filters",
        config=config,
        result={
            "images": labels,
            "image_shape": list(first.shape),
            "filters": list(KERNELS),
            "response_range": ranges,
            "flat_image_max_error": flat_error,
        },
        checks=[],
        headline=(
            f"{len(KERNELS)} kernels through conv2d on {len(images)} image(s) "
            f"of {first.shape[0]}x{first.shape[1]}"
        ),
        plot_data={"images": images, "labels": labels},
    )


def plot(report: Report):
    """The grid: one row per image, the original then each filtered result."""
    return filter_grid(
        report.plot_data["images"],
        padding=report.config.padding,
        row_labels=report.plot_data["labels"],
    )
