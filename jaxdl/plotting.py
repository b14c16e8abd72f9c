"""Figures without global state: plain ``matplotlib.figure.Figure`` objects, never pyplot.

Working on ``Figure`` directly needs no GUI backend, is safe off the main thread (the metrics
writer draws in a worker) and displays in notebooks all the same.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

#: Width in inches of the docs' text column (752 px at matplotlib's 100 dpi, less a margin):
#: figures drawn no wider are shown at their drawn size, so their text stays readable.
COLUMN_WIDTH = 7.4


def new_figure(ncols: int = 1, nrows: int = 1, *, size: tuple[float, float] | None = None):
    """A figure with a grid of axes: returns ``(figure, axes)`` (axes squeezed like pyplot).

    The default size gives each panel 4.5 x 3.6 inches, narrowed to :data:`COLUMN_WIDTH`.
    """
    size = size or (min(4.5 * ncols, COLUMN_WIDTH), 3.6 * nrows)
    fig = Figure(figsize=size, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=True)
    return fig, axes


#: Formats chosen by the path's suffix; any other suffix (or none) gets PNG.
FORMATS = ("png", "pdf", "svg")


def figure_format(path: str | Path) -> str:
    """``"pdf"`` or ``"svg"`` for a path with that suffix, else ``"png"``."""
    suffix = Path(path).suffix.lower().lstrip(".")
    return suffix if suffix in FORMATS else "png"


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` to exactly ``path`` (parent directories created); return the path.

    PDF or SVG for a path ending ``.pdf`` or ``.svg``, PNG otherwise (``--plot x.pdf`` used to
    hold PNG bytes). The format is given explicitly: left to infer it, matplotlib appends
    ``.png`` to a name without a suffix, so ``--plot /tmp`` wrote ``/tmp.png``. Check the path
    before any work with :func:`jaxdl.validate.require_writable_file`.
    """
    path = Path(path)
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, format=figure_format(path))
    return path
