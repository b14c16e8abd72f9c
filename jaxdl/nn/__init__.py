"""The ops networks are built from, one home each, every one with its hand-derived gradient.

Each module is one op or a small family: the pure forward, the hand backward beside it (the
formula in its docstring, as llm.c pairs ``layernorm_forward`` with ``layernorm_backward``), the
``jax.custom_vjp`` rule built from the two (``*_hand``), and ``gradient_checks`` for
``jaxdl check``.

One naming throughout: a function that takes the upstream gradient ``g`` and returns the
gradients of the op's inputs is a backward pass, ``<op>_backward(inputs..., g)`` (its inputs
checked, its formula in its docstring). Where the custom_vjp rule keeps values from the forward
pass, ``<op>_backward_saved(saved..., g)`` computes the same from them, unchecked (the building
block of a network's hand backward, as :func:`~jaxdl.milestones.transformer.model.gpt_backward`
is). ``*_grad`` is kept for the gradient of a scalar (``loss_grad``, ``mse_grad``) and for an
activation's elementwise derivative (``relu_grad``). :mod:`~jaxdl.backward` is the one switch between the hand rules and autodiff
that every network takes.

- :mod:`~jaxdl.nn.affine`: dense and 2-D convolution layers.
- :mod:`~jaxdl.nn.pooling`: 2x2 max-pooling.
- :mod:`~jaxdl.nn.lrn`: local response normalisation.
- :mod:`~jaxdl.nn.dropout`: inverted dropout.
- :mod:`~jaxdl.nn.batch_norm`: batch normalization, training and evaluation modes.
- :mod:`~jaxdl.nn.residual`: the residual block (two 3x3 convolutions with batch norm).
- :mod:`~jaxdl.nn.embedding`: token and position embeddings, and the tied language-model head.
- :mod:`~jaxdl.nn.layer_norm`: layer normalisation without bias.
- :mod:`~jaxdl.nn.attention`: causal multi-head self-attention with a fused QKV projection.
- :mod:`~jaxdl.nn.mlp`: the exact GELU and the Transformer's 4x MLP.
- :mod:`~jaxdl.nn.shared_conv`: shared weights with a bias per unit (the 1989 zip-code net).
- :mod:`~jaxdl.nn.table_conv`: a convolution through a connection table (its H2).
- :mod:`~jaxdl.nn.patch_embed`: the Vision Transformer's patches, class token and positions.
- :mod:`~jaxdl.nn.silu`: the sigmoid-weighted linear unit of DDPM's networks.
- :mod:`~jaxdl.nn.time_embedding`: the sinusoidal embedding of a diffusion step.
- :mod:`~jaxdl.nn.group_norm`: group normalisation (DDPM's U-Net).
- :mod:`~jaxdl.nn.upsample`: nearest-neighbour upsampling by two (a U-Net's way up).

The losses (softmax cross-entropy, the L2 penalty, ...) live in :mod:`jaxdl.losses` and register
with the same switch when imported: a network whose loss is built from the switch
(``ops.softmax_cross_entropy``) imports :mod:`jaxdl.losses` itself.

Importing this package registers every op's rules with the switch (the imports below); the op
modules ``jaxdl check`` runs, :data:`OP_MODULES`, are found on the file system.
"""

from jaxdl.backward import AUTODIFF, BACKWARDS, HAND, Backward, Ops, default_backward, ops
from jaxdl.nn import (  # noqa: F401  (each registers its rules with the switch)
    affine,
    attention,
    batch_norm,
    dropout,
    embedding,
    group_norm,
    layer_norm,
    lrn,
    mlp,
    patch_embed,
    pooling,
    residual,
    shared_conv,
    silu,
    table_conv,
    time_embedding,
    upsample,
)


def _op_modules() -> tuple:
    """Every module of this package with ``gradient_checks`` (an op module), by name: found on
    the file system, so a new op module is checked by ``jaxdl check`` without a list to edit."""
    import importlib
    import pkgutil

    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        if not info.name.startswith("_"):
            module = importlib.import_module(f"{__name__}.{info.name}")
            if callable(getattr(module, "gradient_checks", None)):
                found.append(module)
    return tuple(found)


def __getattr__(name: str):
    if name == "OP_MODULES":  # every op module (discovered on first use, once)
        modules = _op_modules()
        globals()["OP_MODULES"] = modules
        return modules
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AUTODIFF",
    "BACKWARDS",
    "HAND",
    "OP_MODULES",
    "Backward",
    "Ops",
    "default_backward",
    "ops",
]
