"""``jaxdl data mnist``: what MNIST data is here, how much, and whether its bytes check out."""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np

from jaxdl.data.batches import Batch
from jaxdl.data.mnist import (
    SPLITS,
    DownloadError,
    FileCheck,
    default_cache_dir,
    is_official_mnist,
    mnist_with_checks,
)
from jaxdl.report import strict_json
from jaxdl.validate import require_writable_file

MAX_SHOW = 400

EPILOG = """\
sources:
  sample     8000 train / 2000 test real MNIST digits shipped with jaxdl (offline, default)
  download   the full MNIST (60000 / 10000): mirrors tried in order, each file checked against
             its published SHA-256, cached in $JAXDL_DATA/mnist (here: {cache})
  DIR        a directory with the four IDX files, gzipped or not, e.g. train-images-idx3-ubyte.gz:
             any number of 28x28 images with labels 0-9 (MNIST, a subset, Fashion-MNIST, ...);
             whether they are the official MNIST is reported from their SHA-256

Without network access, download the four files by hand from any MNIST mirror and pass their
directory. MNIST is by Y. LeCun and C. Cortes, licensed CC BY-SA 3.0.
Exit status: 0 the files are valid (official MNIST or not), 1 a download failed, 2 bad input
(a missing, corrupt or invalid file, a bad option)."""


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add ``data`` (with its ``mnist`` subcommand) to the ``jaxdl`` command parser."""
    data = commands.add_parser("data", help="inspect and check the datasets (MNIST)")
    datasets = data.add_subparsers(dest="dataset", required=True, metavar="DATASET")
    p = datasets.add_parser(
        "mnist",
        help="MNIST counts per split and class, with checksum status",
        description="Load MNIST from a source, validate every file, and report counts per\n"
        "split and class and whether each file matches its published checksum.",
        epilog=EPILOG.format(cache=default_cache_dir() / "mnist"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--source",
        default="sample",
        metavar="sample|download|DIR",
        help="where the digits come from (default: %(default)s)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--show",
        nargs=2,
        metavar=("N", "PATH"),
        help="write a PNG grid of the first N training digits with their labels",
    )
    p.set_defaults(handler=cmd_data_mnist)


def _parse_show(show: list[str] | None) -> tuple[int, str] | None:
    if show is None:
        return None
    count, path = show
    try:
        n = int(count)
    except ValueError:
        raise ValueError(f"--show N must be an integer, got {count!r}") from None
    if not 1 <= n <= MAX_SHOW:
        raise ValueError(f"--show N must be between 1 and {MAX_SHOW}, got {n}")
    require_writable_file("--show PATH", path)
    return n, path


def digit_grid(images: np.ndarray, labels: np.ndarray):
    """A figure showing each ``images[i]`` (``[N, 28, 28]``) titled by ``labels[i]``."""
    from jaxdl.plotting import new_figure

    n = len(images)
    cols = min(n, 10)
    rows = math.ceil(n / cols)
    fig, axes = new_figure(cols, rows, size=(0.9 * cols + 0.3, 1.0 * rows + 0.3))
    axes = np.atleast_1d(axes).ravel()
    for i, ax in enumerate(axes):
        ax.set_axis_off()
        if i < n:
            ax.imshow(images[i], cmap="gray_r", vmin=0, vmax=255)
            ax.set_title(str(int(labels[i])), fontsize=9)
    return fig


def cmd_data_mnist(args: argparse.Namespace) -> int:
    show = _parse_show(args.show)
    splits: dict[str, Batch] = {}
    checks: list[FileCheck] = []
    try:
        for split in SPLITS:
            splits[split], split_checks = mnist_with_checks(split, args.source)
            checks.extend(split_checks)
    except DownloadError as error:
        print(f"jaxdl: {error}", file=sys.stderr)
        return 1
    verified = is_official_mnist(checks)
    if show is not None:
        from jaxdl.plotting import save_figure

        n, path = show
        train = splits["train"]
        n = min(n, len(train.labels))
        save_figure(digit_grid(train.images[:n], train.labels[:n]), path)
    summary = {
        "source": str(args.source),
        "splits": {
            name: {
                "count": int(len(data.labels)),
                "per_class": np.bincount(data.labels, minlength=10).tolist(),
                "image_shape": list(data.images.shape[1:]),
            }
            for name, data in splits.items()
        },
        "files": [c._asdict() for c in checks],
        "all_verified": verified,
        "official_mnist": verified,
        "show": show[1] if show else None,
    }
    if args.json:
        print(strict_json(summary))
    else:
        _print_summary(summary)
    return 0


def _print_summary(summary: dict) -> None:
    print(f"MNIST from {summary['source']}")
    header = ["split", "count"] + [str(d) for d in range(10)]
    rows = [
        [name, str(s["count"])] + [str(c) for c in s["per_class"]]
        for name, s in summary["splits"].items()
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print(
            "  ".join(
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    print()
    for f in summary["files"]:
        where = f["location"] if f["location"].endswith(f["file"]) else f["file"]
        print(f"{f['status']:<28}  sha256 {f['sha256'][:16]}...  {where}")
    if summary["official_mnist"]:
        print("\nofficial MNIST: yes (every file matches its published SHA-256)")
    else:
        print(
            "\nofficial MNIST: no (valid IDX files in MNIST's format whose bytes differ from "
            "the published MNIST: a subset, another dataset, or modified files)"
        )
    if summary["show"]:
        print(f"\ndigits written to {summary['show']}")
