"""Every core of the machine: XLA:CPU split into one device per core, before JAX starts.

XLA:CPU runs one device's program on about one core for most of a convnet's work (its
convolutions do not spread over the intra-op threads), so on a CPU the way to use every core is
data parallelism: JAX is told to present the CPU as several devices, and a training step splits
its batch across them (:mod:`jaxdl.training.sharding`). Whether that pays is a property of the
workload, measured by ``benchmarks/every_core.py``: a convnet gains, a tiny MLP loses (its step
is shorter than the cost of the gradients' all-reduce), and each trainer decides from its own
measurement.

The device count must be set before JAX's first computation. The ``jaxdl`` command calls
:func:`arrange` at start; a program that imports jaxdl does the same, first thing::

    import jaxdl.host_devices
    jaxdl.host_devices.arrange()      # one CPU device per core (or JAXDL_HOST_DEVICES of them)

which is ``jax.config.update("jax_num_cpu_devices", n)``. Programs that use one device run as
before (they use the first); :func:`arrange` changes which devices exist, not any result.

- ``JAXDL_HOST_DEVICES=N`` asks for ``N`` devices (``1``: today's single device);
- a device count already in ``XLA_FLAGS`` (``--xla_force_host_platform_device_count``) is left
  as it is, and so is a run of several processes (:mod:`jaxdl.training.distributed`), where
  each process keeps the devices its launcher gave it.
"""

from __future__ import annotations

import os

import jax

from jaxdl import machine

#: The environment variable that sets the number of CPU devices (default: every core).
ENV_VAR = "JAXDL_HOST_DEVICES"
_XLA_FLAG = "--xla_force_host_platform_device_count"


def requested(environ: dict[str, str] | None = None) -> int:
    """The CPU devices asked for: ``JAXDL_HOST_DEVICES``, else one per core.

    Raises:
      ValueError: if ``JAXDL_HOST_DEVICES`` is not a positive whole number.
    """
    environ = os.environ if environ is None else environ
    value = environ.get(ENV_VAR, "").strip()
    if not value:
        return machine.cores()
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{ENV_VAR} must be a positive whole number of devices, got {value!r}")
    return int(value)


def arrange(*, multiprocess: bool = False, environ: dict[str, str] | None = None) -> int:
    """Present the CPU as :func:`requested` devices; returns the count asked of JAX (``1`` when
    nothing was changed).

    Must run before JAX's first computation. Nothing changes when ``XLA_FLAGS`` already sets the
    count, for a run of several processes (``multiprocess``), or when JAX is already running (a
    notebook that computed something first: it keeps its devices).
    """
    environ = os.environ if environ is None else environ
    if multiprocess or _XLA_FLAG in environ.get("XLA_FLAGS", ""):
        return 1
    count = requested(environ)
    try:
        jax.config.update("jax_num_cpu_devices", count)
    except RuntimeError:  # the backend started already: its devices stay as they are
        return 1
    return count


__all__ = ["ENV_VAR", "arrange", "requested"]
