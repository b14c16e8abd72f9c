"""The ops networks are built from, one home each, every one with its hand-derived gradient.

Each module is one op or a small family: the pure forward, the hand backward beside it (the
formula in its docstring, as llm.c pairs ``layernorm_forward`` with ``layernorm_backward``), the
``jax.custom_vjp`` rule built from the two (``*_hand``), and ``gradient_checks`` for
``jaxdl check``. :mod:`~jaxdl.nn.backward` is the one switch between the hand rules and autodiff
that every network takes.

- :mod:`~jaxdl.nn.affine`: dense and 2-D convolution layers.
- :mod:`~jaxdl.nn.pooling`: 2x2 max-pooling.
- :mod:`~jaxdl.nn.lrn`: local response normalisation.
- :mod:`~jaxdl.nn.dropout`: inverted dropout.
- :mod:`~jaxdl.nn.batch_norm`: batch normalization, training and evaluation modes.
- :mod:`~jaxdl.nn.residual`: the residual block (two 3x3 convolutions with batch norm).
- :mod:`~jaxdl.nn.embedding`: token and position embeddings, and the tied language-model head.
- :mod:`~jaxdl.nn.layer_norm`: layer normalisation without bias.
- :mod:`~jaxdl.nn.attention`: multi-head self-attention (causal or unmasked) with a fused QKV
  projection.
- :mod:`~jaxdl.nn.mlp`: the exact GELU and the Transformer's 4x MLP.
- :mod:`~jaxdl.nn.shared_conv`: shared weights with a bias per unit (the 1989 zip-code net).
- :mod:`~jaxdl.nn.table_conv`: a convolution through a connection table (its H2).
- :mod:`~jaxdl.nn.patch_embed`: the Vision Transformer's patches, class token and positions.
- :mod:`~jaxdl.nn.silu`: the sigmoid-weighted linear unit of DDPM's networks.
- :mod:`~jaxdl.nn.time_embedding`: the sinusoidal embedding of a diffusion step.

The losses (softmax cross-entropy, the L2 penalty, ...) live in :mod:`jaxdl.losses` and register
with the same switch.
"""

from jaxdl import losses  # noqa: F401  (registers the losses with the switch)
from jaxdl.nn import (
    affine,
    attention,
    batch_norm,
    dropout,
    embedding,
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
)
from jaxdl.nn.backward import AUTODIFF, BACKWARDS, HAND, Backward, Ops, default_backward, ops

#: Every op module, for ``jaxdl check`` (each has ``gradient_checks``).
OP_MODULES = (
    affine,
    pooling,
    lrn,
    dropout,
    shared_conv,
    table_conv,
    batch_norm,
    residual,
    embedding,
    layer_norm,
    attention,
    mlp,
    patch_embed,
    silu,
    time_embedding,
)

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
