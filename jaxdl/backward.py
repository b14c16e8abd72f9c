"""The one switch between hand-derived and autodiff backward passes.

Every op module of :mod:`jaxdl.nn` (and :mod:`jaxdl.losses`), when imported, registers its pure
forward and its hand rule (the same forward with the hand gradient as a ``jax.custom_vjp``)
under one name. It sits below both: they import it, and it imports neither at load time (the
first lookup of an op not yet registered loads them by name, :data:`PROVIDERS`). A network
takes ``backward`` and builds itself from :func:`ops`: ``ops("hand").conv2d`` is the hand
rule, ``ops("autodiff").conv2d`` the pure forward that ``jax.grad`` differentiates, and
``ops("auto")`` whichever :data:`BACKWARD_BY_PLATFORM` chose for the platform. A new op needs
one :func:`register` call in its module; no table here changes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Literal

import jax
import jax.numpy as jnp

#: How a network's gradient is computed: the hand rules, autodiff of the pure forwards, or the
#: platform's default.
Backward = Literal["auto", "hand", "autodiff"]
BACKWARDS: tuple[str, ...] = ("auto", "hand", "autodiff")
#: The default backward pass per JAX platform, chosen by ``benchmarks/deep_cnn_speed.py`` (which
#: times both on the same train step); a platform not listed keeps the autodiff reference.
BACKWARD_BY_PLATFORM = {"cpu": "hand"}

_FORWARDS: dict[str, dict[str, Callable]] = {"hand": {}, "autodiff": {}}


def register(name: str, pure: Callable, hand: Callable) -> None:
    """Make ``pure`` and its hand rule ``hand`` available as ``ops(...).<name>``."""
    _FORWARDS["autodiff"][name] = pure
    _FORWARDS["hand"][name] = hand


#: The packages whose modules register ops, loaded by name the first time an op is looked up
#: that is not registered yet (a chapter need not import every op module it builds from; the
#: switch itself imports neither at load time: they import it).
PROVIDERS = ("jaxdl.nn", "jaxdl.losses")


def _load_providers() -> None:
    import importlib

    for provider in PROVIDERS:
        importlib.import_module(provider)


class Ops:
    """The ops a network is built from, with one choice of backward pass (``ops.conv2d``, ...).

    :meth:`replace` swaps single ops (a benchmark's alternative implementation, say).
    """

    __slots__ = ("backward", "_replaced")

    def __init__(self, backward: str, **replaced: Callable):
        self.backward = backward
        self._replaced = replaced

    def replace(self, **replaced: Callable) -> Ops:
        """These ops with ``name=function`` swapped in."""
        return Ops(self.backward, **{**self._replaced, **replaced})

    def __getattr__(self, name: str) -> Callable:
        if name in self._replaced:
            return self._replaced[name]
        if name not in _FORWARDS[self.backward]:
            _load_providers()
        try:
            return _FORWARDS[self.backward][name]
        except KeyError:
            known = ", ".join(sorted(_FORWARDS[self.backward]))
            raise AttributeError(f"no op {name!r}; registered ops: {known}") from None

    def _key(self) -> tuple:
        return (self.backward, tuple(sorted(self._replaced.items(), key=lambda kv: kv[0])))

    def __repr__(self) -> str:
        return f"Ops({self.backward!r}{''.join(f', {k}=...' for k in self._replaced)})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Ops) and other._key() == self._key()

    def __hash__(self) -> int:
        return hash(self._key())


#: The pure forwards: ``jax.grad`` differentiates them by autodiff (the reference).
AUTODIFF = Ops("autodiff")
#: The same forwards with the hand gradients as ``custom_vjp`` rules.
HAND = Ops("hand")


def platform_choice(by_platform: dict[str, str], platform: str | None = None) -> str:
    """What a per-platform table (measured by a benchmark) picks for ``platform`` (default: JAX's
    default backend); a platform it does not list gets the autodiff reference."""
    return by_platform.get(platform or jax.default_backend(), "autodiff")


def default_backward(platform: str | None = None) -> str:
    """The backward pass ``"auto"`` means on ``platform`` (default: JAX's default backend)."""
    return platform_choice(BACKWARD_BY_PLATFORM, platform)


def ops(backward: Backward | Ops = "auto") -> Ops:
    """:data:`HAND` for ``"hand"``, :data:`AUTODIFF` for ``"autodiff"``, the platform's choice
    for ``"auto"``; an :class:`Ops` as is."""
    if isinstance(backward, Ops):
        return backward
    if backward == "auto":
        backward = default_backward()
    if backward == "hand":
        return HAND
    if backward == "autodiff":
        return AUTODIFF
    raise ValueError(f"backward must be one of {BACKWARDS}, got {backward!r}")


def with_gradient(loss: Callable, loss_grad: Callable) -> Callable:
    """``loss(params, *data)`` as a ``jax.custom_vjp`` whose gradient is ``loss_grad``.

    For a chapter's scalar loss whose hand gradient with respect to ``params`` is written out
    whole (backpropagation through time, say) rather than op by op: ``jax.value_and_grad`` of
    the result, and so the shared trainer, runs ``loss_grad``. ``data`` are constants (their
    cotangents are zero).
    """

    @jax.custom_vjp
    def rule(params, *data):
        return loss(params, *data)

    def rule_fwd(params, *data):
        return loss(params, *data), (params, data)

    def rule_bwd(saved, g):
        params, data = saved
        grads = jax.tree.map(lambda d: g * d, loss_grad(params, *data))
        return (grads, *(jax.tree.map(jnp.zeros_like, d) for d in data))

    rule.defvjp(rule_fwd, rule_bwd)
    functools.update_wrapper(rule, loss)
    return rule
