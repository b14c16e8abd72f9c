"""The Vision Transformer's input layer (Dosovitskiy et al. 2021): an image cut into patches,
each patch projected linearly, a learned class token in front and a learned position embedding
added, with its backward pass by hand.

For images ``[B, H, W, C]`` and square patches of side ``P`` (dividing ``H`` and ``W``), the
image becomes ``N = (H / P)(W / P)`` patches, read row by row over the grid, each flattened to
``P² C`` numbers in ``(row, column, channel)`` order; then::

    z = patches(x) W + b                      W [P² C, D], b [D]      z [B, N, D]
    t = [cls, z_1, ..., z_N] + E_pos          cls [D], E_pos [N + 1, D]   t [B, N + 1, D]

(the paper's equation 1). The projection is a convolution of kernel ``P`` and stride ``P``,
written here as what it is, one matrix product per patch. Its backward pass::

    ∂L/∂E_pos = Σ_b g[b]                      ∂L/∂cls = Σ_b g[b, 0]
    ∂L/∂W = Σ_{b, n} patches(x)[b, n]ᵀ g[b, 1 + n]        ∂L/∂b = Σ_{b, n} g[b, 1 + n]
    ∂L/∂x = unpatch(g[:, 1:] Wᵀ)              each patch's gradient put back where it was cut

``patch_embed`` is the pure forward, ``patch_embed_backward`` the backward by hand,
``patch_embed_hand`` the forward with that backward as its ``jax.custom_vjp`` rule.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxdl.backward import register
from jaxdl.gradcheck import normal_draws, vjp_checks
from jaxdl.nn._matmul import matmul_rows, weight_backward
from jaxdl.validate import require_rank


def patchify(x: ArrayLike, patch: int) -> jax.Array:
    """``[B, H, W, C]`` -> ``[B, N, P² C]``: the patches row by row, each flattened in
    ``(row, column, channel)`` order."""
    x = jnp.asarray(x)
    b, h, w, c = x.shape
    grid = x.reshape(b, h // patch, patch, w // patch, patch, c).transpose(0, 1, 3, 2, 4, 5)
    return grid.reshape(b, (h // patch) * (w // patch), patch * patch * c)


def unpatchify(p: ArrayLike, patch: int, shape: tuple[int, int, int, int]) -> jax.Array:
    """The inverse of :func:`patchify`: ``[B, N, P² C]`` back to the image ``shape``
    ``[B, H, W, C]`` (a permutation, so it is also :func:`patchify`'s transpose)."""
    b, h, w, c = shape
    grid = jnp.asarray(p).reshape(b, h // patch, w // patch, patch, patch, c)
    return grid.transpose(0, 1, 3, 2, 4, 5).reshape(shape)


def _check(x, w, b, cls, pos, patch) -> None:
    require_rank("patch_embed input", x, 4, "[B, H, W, C]")
    _, h, wd, c = jnp.shape(x)
    if (
        isinstance(patch, bool)
        or not isinstance(patch, int)
        or patch < 1
        or h % patch
        or wd % patch
    ):
        raise ValueError(
            f"patch must be a positive integer dividing the image's sides {h} and {wd}, "
            f"got {patch!r}"
        )
    n = (h // patch) * (wd // patch)
    d = jnp.shape(w)[-1] if jnp.ndim(w) == 2 else None
    want = {"w": (patch * patch * c, d), "b": (d,), "cls": (d,), "pos": (n + 1, d)}
    got = {"w": jnp.shape(w), "b": jnp.shape(b), "cls": jnp.shape(cls), "pos": jnp.shape(pos)}
    if d is None or got != want:
        raise ValueError(
            f"patch_embed: images {jnp.shape(x)} in patches of {patch} need w [P² C, D] = "
            f"[{patch * patch * c}, D], b [D], cls [D] and pos [N + 1, D] = [{n + 1}, D]; "
            f"got w {got['w']}, b {got['b']}, cls {got['cls']}, pos {got['pos']}"
        )


def _forward(x, w, b, cls, pos, patch):
    p = patchify(x, patch)
    z = matmul_rows(p, w) + b[None, None, :]
    front = jnp.broadcast_to(cls[None, None, :], (z.shape[0], 1, z.shape[2]))
    tokens = jnp.concatenate([front, z], axis=1)
    return tokens + pos[None, :, :], p


def patch_embed(
    x: ArrayLike, w: ArrayLike, b: ArrayLike, cls: ArrayLike, pos: ArrayLike, patch: int
) -> jax.Array:
    """The token sequence ``[cls, patches(x) W + b] + E_pos``.

    Args:
      x: images ``[B, H, W, C]``.
      w: the patch projection ``[P² C, D]``.
      b: its bias ``[D]``.
      cls: the class token ``[D]``.
      pos: the position embedding ``[N + 1, D]`` (row 0 the class token's).
      patch: the patch side ``P``, dividing ``H`` and ``W``.

    Returns:
      ``[B, N + 1, D]``.
    """
    _check(x, w, b, cls, pos, patch)
    return _forward(*(jnp.asarray(a) for a in (x, w, b, cls, pos)), patch)[0]


def _backward(p, w, shape, patch, g):
    """The backward pass from the saved patches (see :func:`patch_embed_backward`)."""
    g_z = g[:, 1:]
    d_x = unpatchify(matmul_rows(g_z, w.T), patch, shape)
    d_w = weight_backward(p, g_z)
    d_b = jnp.sum(g_z, axis=(0, 1))
    return d_x, d_w, d_b, jnp.sum(g[:, 0], axis=0), jnp.sum(g, axis=0)


def patch_embed_backward(
    x: ArrayLike,
    w: ArrayLike,
    b: ArrayLike,
    cls: ArrayLike,
    pos: ArrayLike,
    patch: int,
    g: ArrayLike,
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array, jax.Array]:
    """Gradient of :func:`patch_embed` given ``g = ∂L/∂t [B, N + 1, D]`` (module formulas).

    The class token and the position rows are added to every image: their gradients sum
    ``g`` over the batch. The projection is one matrix shared by every patch: its gradient sums
    ``patchᵀ g`` over every patch of every image. The image's gradient is each patch's
    ``g Wᵀ``, put back in place (cutting into patches only moves numbers; its transpose moves
    them back).

    Returns:
      ``(dx [B, H, W, C], dW [P² C, D], db [D], dcls [D], dpos [N + 1, D])``.
    """
    _check(x, w, b, cls, pos, patch)
    x, w, g = jnp.asarray(x), jnp.asarray(w), jnp.asarray(g)
    return _backward(patchify(x, patch), w, x.shape, patch, g)


@functools.partial(jax.custom_vjp, nondiff_argnums=(5,))
def _patch_embed_rule(x, w, b, cls, pos, patch):
    return _forward(x, w, b, cls, pos, patch)[0]


def _patch_embed_fwd(x, w, b, cls, pos, patch):
    # The images are kept, not their patches: they are alive anyway (the batch), and cutting
    # them again in the backward pass is a reshape.
    return _forward(x, w, b, cls, pos, patch)[0], (x, w)


def _patch_embed_bwd(patch, saved, g):
    x, w = saved
    return _backward(patchify(x, patch), w, x.shape, patch, g)


_patch_embed_rule.defvjp(_patch_embed_fwd, _patch_embed_bwd)


def patch_embed_hand(
    x: ArrayLike, w: ArrayLike, b: ArrayLike, cls: ArrayLike, pos: ArrayLike, patch: int
) -> jax.Array:
    """:func:`patch_embed` whose gradient is :func:`patch_embed_backward` (a ``custom_vjp``
    rule). The forward saves the images and the projection."""
    _check(x, w, b, cls, pos, patch)
    return _patch_embed_rule(*(jnp.asarray(a) for a in (x, w, b, cls, pos)), patch)


register("patch_embed", patch_embed, patch_embed_hand)


def gradient_checks(*, key: jax.Array) -> list:
    """Two 4x6 two-channel images in 2x2 patches (6 patches, width 3): formula and rule vs
    ``jax.grad`` vs finite differences."""
    normal = normal_draws(key, pool=512)
    x = normal((2, 4, 6, 2))
    w, b, cls, pos = normal((8, 3), 0.5), normal((3,)), normal((3,)), normal((7, 3))
    g = normal((2, 7, 3))
    return vjp_checks(
        "nn.patch_embed",
        lambda *a: patch_embed(*a, 2),
        lambda *a: patch_embed_backward(*a[:-1], 2, a[-1]),
        lambda *a: patch_embed_hand(*a, 2),
        (x, w, b, cls, pos),
        g,
    )
