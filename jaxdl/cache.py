"""jaxdl's persistent XLA compilation cache: the second run of a command skips compilation.

Most of a milestone's first run is XLA compiling its jitted functions. JAX can keep every
compiled program on disk, keyed by the program, the JAX/XLA versions and the device, and load it
in a later process instead of compiling again. The ``jaxdl`` command turns that on when it starts
(:func:`enable`), for every program however quick its compilation was:

- the cache lives in ``$XDG_CACHE_HOME/jaxdl/xla`` (``~/.cache/jaxdl/xla`` without
  ``XDG_CACHE_HOME``);
- ``JAXDL_COMPILATION_CACHE=DIR`` puts it in ``DIR`` instead; ``JAXDL_COMPILATION_CACHE=0``
  (or ``off``, or empty) turns it off;
- a cache directory already configured for JAX itself (``JAX_COMPILATION_CACHE_DIR`` or
  ``jax.config``) is left as it is.

Deleting the directory is always safe: the next run compiles and fills it again.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path

import jax

ENV_VAR = "JAXDL_COMPILATION_CACHE"
_OFF = ("", "0", "off", "false", "no")


def default_dir(environ: dict[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/jaxdl/xla``, else ``~/.cache/jaxdl/xla``."""
    environ = os.environ if environ is None else environ
    cache_home = environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache_home).expanduser() / "jaxdl" / "xla"


def configured_dir(environ: dict[str, str] | None = None) -> Path | None:
    """The directory ``JAXDL_COMPILATION_CACHE`` asks for: a path, the default, or ``None`` (off)."""
    environ = os.environ if environ is None else environ
    if ENV_VAR not in environ:
        return default_dir(environ)
    value = environ[ENV_VAR].strip()
    if value.lower() in _OFF:
        return None
    return Path(value).expanduser()


def enable(
    environ: dict[str, str] | None = None, *, notify: Callable[[str], None] | None = None
) -> Path | None:
    """Turn on the persistent compilation cache (see the module docstring); returns its directory.

    Call before the first compilation. Returns ``None`` when it is turned off, and JAX's own
    directory when one was configured already.

    Raises:
      ValueError: if the directory named by ``JAXDL_COMPILATION_CACHE`` cannot be created or
        written. (When the default directory cannot be, the cache stays off and ``notify``
        is told why, a warning by default: a read-only home should not stop a command.)
    """
    environ = os.environ if environ is None else environ
    existing = jax.config.jax_compilation_cache_dir
    if existing:
        return Path(existing)
    directory = configured_dir(environ)
    if directory is None:
        return None
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if not os.access(directory, os.W_OK | os.X_OK):
            raise PermissionError(f"{directory} is not writable")
    except OSError as error:
        if ENV_VAR in environ:
            raise ValueError(
                f"{ENV_VAR}={environ[ENV_VAR]!r}: cannot use it as the compilation cache "
                f"({error}); name a writable directory, or 0 to turn the cache off"
            ) from None
        (notify or warnings.warn)(f"compilation cache off: cannot use {directory}: {error}")
        return None
    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return directory
