"""The milestones, in historical order.

Each milestone is one module in this package, named like its command-line name
(``image-filters`` is :mod:`jaxdl.milestones.image_filters`), that reads top to bottom as a
chapter of the story: its data, model, loss, hand gradients and training live there, and only
what a second chapter needs moves to a shared module of the package. Besides its model, loss and update functions, a milestone module exposes the same small
interface, which the ``jaxdl`` command, the tour and the tests use:

- ``Config``: a frozen dataclass of the run's settings (its fields become ``jaxdl run NAME``
  options; ``metadata={"help": ...}`` documents them); ``__post_init__`` rejects bad values with
  ``ValueError``.
- ``run(config: Config) -> jaxdl.report.Report``: the seed's experiment with those settings.
- ``plot(report) -> matplotlib.figure.Figure``: the figure people want to see
  (``jaxdl run NAME --plot PATH`` writes it as PNG).
- ``gradient_checks(*, key) -> list[GradCheck]``: every hand-derived gradient of the chapter,
  compared with ``jax.grad`` and finite differences at random points.
"""

from __future__ import annotations

import dataclasses
import importlib
from types import ModuleType


@dataclasses.dataclass(frozen=True)
class Milestone:
    """One chapter of the history."""

    name: str  # command-line name, e.g. "gradient-descent"
    year: int
    people: str
    summary: str
    module: str  # the module that implements it

    def load(self) -> ModuleType:
        """The chapter's module."""
        return importlib.import_module(self.module)


def _m(name: str, year: int, people: str, summary: str, module: str) -> Milestone:
    return Milestone(name, year, people, summary, f"jaxdl.milestones.{module}")


#: Every milestone, oldest first.
MILESTONES: tuple[Milestone, ...] = (
    _m(
        "least-squares", 1805, "Legendre", "fit a line by minimising squared error", "least_squares"
    ),
    _m("gradient-descent", 1909, "Debye", "walk downhill along the slope", "gradient_descent"),
    _m("linear-regression", 1950, "(1950s)", "fit a line by gradient descent", "linear_regression"),
    _m(
        "perceptron",
        1958,
        "Rosenblatt; Minsky & Papert 1969",
        "learn OR, fail on XOR",
        "perceptron",
    ),
    _m(
        "image-filters",
        1968,
        "Sobel & Feldman; seed 004",
        "hand-picked convolution kernels filter images",
        "image_filters",
    ),
    _m("backprop", 1986, "Rumelhart, Hinton & Williams", "a hidden layer solves XOR", "backprop"),
    _m("elman-rnn", 1990, "Elman", "a recurrent net finds structure in time", "elman_rnn"),
    _m("lstm", 1997, "Hochreiter & Schmidhuber", "LSTM remembers what the RNN forgets", "lstm"),
    _m("deep-cnn", 2012, "Krizhevsky et al.; TFLearn", "convolutional net on MNIST", "deep_cnn"),
    _m(
        "tabular-mlp",
        2015,
        "Chollet (Keras); Smith et al. 1988 data",
        "Keras-style MLP on the PIMA diabetes table",
        "tabular_mlp",
    ),
    _m(
        "unet",
        2015,
        "Ronneberger, Fischer & Brox",
        "U-Net with masked BCE and a symmetry penalty",
        "unet",
    ),
)


def get(name: str) -> Milestone:
    """The milestone called ``name``; ``ValueError`` listing the known names otherwise."""
    for milestone in MILESTONES:
        if milestone.name == name:
            return milestone
    known = ", ".join(m.name for m in MILESTONES)
    raise ValueError(f"unknown milestone {name!r}; known milestones: {known}")


def all_gradient_checks(*, seed: int) -> list:
    """Every hand-derived gradient of the package (``jaxdl check``), at random points.

    The shared activations and losses first, then every chapter's ``gradient_checks`` in
    historical order; ``seed`` makes the points reproducible.
    """
    import jax

    from jaxdl import activations, losses

    providers = [activations, losses] + [m.load() for m in MILESTONES]
    key = jax.random.key(seed)
    checks = []
    for provider in providers:
        key, subkey = jax.random.split(key)
        checks.extend(provider.gradient_checks(key=subkey))
    return checks
