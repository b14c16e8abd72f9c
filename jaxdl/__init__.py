"""jaxdl: the history of deep learning as working, verified, fast JAX code.

The shared building blocks are importable from here; each milestone lives in
:mod:`jaxdl.milestones` (``from jaxdl.milestones import gradient_descent``).

The names below are loaded on first use (PEP 562): ``import jaxdl`` does not import JAX, so the
``jaxdl`` command can take charge of Ctrl-C before the long imports start (see
:mod:`jaxdl.interrupts`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

#: Public name -> (module, attribute or None for the module itself).
_LAZY = {
    "DivergenceError": ("jaxdl.errors", "DivergenceError"),
    "GradCheck": ("jaxdl.gradcheck", "GradCheck"),
    "Report": ("jaxdl.report", "Report"),
    "activations": ("jaxdl.activations", None),
    "check_gradient": ("jaxdl.gradcheck", "check_gradient"),
    "gradcheck": ("jaxdl.gradcheck", None),
    "losses": ("jaxdl.losses", None),
    "numerical_gradient": ("jaxdl.gradcheck", "numerical_gradient"),
    "optim": ("jaxdl.optim", None),
}

if TYPE_CHECKING:  # for type checkers and IDEs; at run time, __getattr__ loads them
    from jaxdl import activations, gradcheck, losses, optim
    from jaxdl.errors import DivergenceError
    from jaxdl.gradcheck import GradCheck, check_gradient, numerical_gradient
    from jaxdl.report import Report


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'jaxdl' has no attribute {name!r}")
    module, attribute = _LAZY[name]
    value = importlib.import_module(module)
    value = value if attribute is None else getattr(value, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "DivergenceError",
    "GradCheck",
    "Report",
    "activations",
    "check_gradient",
    "gradcheck",
    "losses",
    "numerical_gradient",
    "optim",
]
