"""jaxdl: the history of deep learning as working, verified, fast JAX code.

The shared building blocks are importable from here; each milestone lives in
:mod:`jaxdl.milestones` (``from jaxdl.milestones import gradient_descent``).
"""

from jaxdl import activations, gradcheck, losses, optim
from jaxdl.errors import DivergenceError
from jaxdl.gradcheck import GradCheck, check_gradient, numerical_gradient
from jaxdl.report import Report

__version__ = "0.1.0"

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
