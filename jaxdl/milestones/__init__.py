"""The milestones, in historical order.

Each milestone is one module in this package, named like its command-line name
(``image-filters`` is :mod:`jaxdl.milestones.image_filters`), that reads top to bottom as a
chapter of the story: its data, model, loss, hand gradients and training live there, and only
what a second chapter needs moves to a shared module of the package. A chapter that holds
several concepts grows into a package of the same name (``jaxdl/milestones/transformer/``: its
model, training and sampling modules), whose ``__init__`` declares the milestone and offers the
interface below. Besides its model, loss and update functions, a milestone module exposes the same small
interface, which the ``jaxdl`` command, the tour and the tests use:

- ``MILESTONE``: the chapter's declaration, ``Milestone(name, year, people, summary)`` with
  literal arguments (and ``month`` to order chapters of one year). The registry finds every
  module of this package that declares one, reads the declarations without importing the
  chapters (so ``jaxdl list`` stays instant), and orders them by date: a new chapter is its
  module (plus its test, demo and docs page); no list here or in the docs changes.
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

import ast
import dataclasses
import functools
import importlib
from pathlib import Path
from types import ModuleType


@dataclasses.dataclass(frozen=True)
class Milestone:
    """One chapter of the history, as its module declares it (``MILESTONE = Milestone(...)``)."""

    name: str  # command-line name, e.g. "gradient-descent"; the module is named like it
    year: int
    people: str
    summary: str
    month: int = 0  # orders the chapters of one year (1-12; 0: unknown)

    @property
    def module(self) -> str:
        """The module that implements it: ``jaxdl.milestones.<name with underscores>``."""
        return f"{__name__}.{self.name.replace('-', '_')}"

    def load(self) -> ModuleType:
        """The chapter's module."""
        return importlib.import_module(self.module)


def _chapter_name(path: Path) -> str:
    """The module name of the chapter whose declaration is in ``path`` (a module, or a
    package's ``__init__.py``)."""
    return path.parent.name if path.name == "__init__.py" else path.stem


def _declaration(path: Path) -> Milestone | None:
    """The ``MILESTONE = Milestone(...)`` of the chapter at ``path`` (a module or a package's
    ``__init__.py``), read without importing it."""
    for node in ast.parse(path.read_text(encoding="utf-8"), str(path)).body:
        if (
            isinstance(node, ast.Assign)
            and [getattr(t, "id", None) for t in node.targets] == ["MILESTONE"]
            and isinstance(node.value, ast.Call)
        ):
            call = node.value
            try:
                args = [ast.literal_eval(a) for a in call.args]
                kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
            except ValueError as error:
                raise ValueError(f"{path.name}: MILESTONE must use literal arguments") from error
            milestone = Milestone(*args, **kwargs)
            module = _chapter_name(path)
            if milestone.name.replace("-", "_") != module:
                raise ValueError(f"{module} declares {milestone.name!r}: name it {module}")
            return milestone
    return None


@functools.cache
def discover() -> tuple[Milestone, ...]:
    """Every chapter (module or package) of this package that declares a ``MILESTONE``, oldest
    first."""
    here = Path(__file__).parent
    paths = sorted([*here.glob("[!_]*.py"), *here.glob("[!_]*/__init__.py")])
    found = [_declaration(path) for path in paths]
    return tuple(sorted((m for m in found if m), key=lambda m: (m.year, m.month)))


def __getattr__(name: str):
    if name == "MILESTONES":  # every milestone, oldest first (discovered on first use)
        return discover()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get(name: str) -> Milestone:
    """The milestone called ``name``; ``ValueError`` listing the known names otherwise."""
    for milestone in discover():
        if milestone.name == name:
            return milestone
    known = ", ".join(m.name for m in discover())
    raise ValueError(f"unknown milestone {name!r}; known milestones: {known}")


def all_gradient_checks(*, seed: int) -> list:
    """Every hand-derived gradient of the package (``jaxdl check``), at random points.

    The shared activations, losses and ops (:mod:`jaxdl.nn`) first, then every chapter's
    ``gradient_checks`` in historical order, each given ``jax.random.key(seed)``: the points of
    ``provider.gradient_checks(key=jax.random.key(seed))`` called alone (a chapter's page, a
    test), so that a persistent compilation cache serves both with the same programs.
    """
    import jax

    from jaxdl import activations, losses, nn

    providers = [activations, losses, *nn.OP_MODULES] + [m.load() for m in discover()]
    return [c for p in providers for c in p.gradient_checks(key=jax.random.key(seed))]
