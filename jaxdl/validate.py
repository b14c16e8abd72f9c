"""Value checks shared by every chapter, model and command: one clear ``ValueError`` each.

Checks run on the host at the boundaries people call (a ``Config``, a public function, the
trainer's entry), never inside a jitted loop.
"""

from __future__ import annotations

import math
import os
import stat
import tempfile
from pathlib import Path

import numpy as np


def _is_int(value) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def require_int(
    name: str, value: int, *, minimum: int | None = None, maximum: int | None = None
) -> None:
    """``ValueError`` unless ``value`` is an integer (Python or NumPy) within the bounds given."""
    if not _is_int(value):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be an integer <= {maximum}, got {value!r}")


def require_positive_int(name: str, value: int) -> None:
    """``ValueError`` unless ``value`` is an integer >= 1."""
    if not _is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _is_real(value) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def require_positive_float(name: str, value: float) -> None:
    """``ValueError`` unless ``value`` is a finite number > 0 (Python's or NumPy's, any width)."""
    if not _is_real(value) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")


def writable_directory(path: str | Path, *, option: str) -> Path:
    """``path`` as a directory, created if needed and proven writable, before any work.

    Args:
      path: the directory the user named.
      option: how the user named it (``"--out"``), for the message.

    Raises:
      ValueError: ``path`` is a file, or cannot be created or written.
    """
    directory = Path(path)
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"{option} {str(path)!r} is a file; give a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as error:
        raise ValueError(
            f"{option} {str(path)!r} is not writable ({error.strerror or error}); choose another"
        ) from None
    return directory


def require_writable_file(option: str, path: str | os.PathLike) -> Path:
    """``path`` exactly as given, once it is known that a file can be written there.

    Called before any work, so that a run never ends in a traceback over its output. Refused
    with a ``ValueError`` naming ``option``: an empty path, an existing directory or a path
    ending in ``/``, a dangling symbolic link, a device (``/dev/full``), a path under
    a file, a directory that cannot be written (read-only, no permission), an existing file
    that cannot be replaced. Missing parent directories are fine (they are created on save);
    nothing is left behind by the check.
    """
    text = os.fspath(path)
    if not text:
        raise ValueError(f"{option} needs a file path, got an empty string")
    target = Path(text)
    if target.is_dir() or text.endswith(("/", os.sep)):
        example = target / "figure.png"
        raise ValueError(f"{option} {text!r} is a directory; give a file path such as {example}")
    if target.is_symlink() and not target.exists():
        raise ValueError(
            f"{option} {text!r} is a symbolic link to {os.readlink(target)!r}, which does not "
            "exist; give another path"
        )
    if target.exists() and not target.is_file():
        kind = "a FIFO" if target.is_fifo() else "a socket" if target.is_socket() else "a device"
        raise ValueError(f"{option} {text!r} is not a regular file ({kind}); give a file path")
    ancestor = target.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ValueError(f"{option} {text!r} lies under {str(ancestor)!r}, which is a file")
    try:
        with tempfile.TemporaryFile(dir=ancestor):
            pass
    except OSError as error:
        raise ValueError(
            f"{option} {text!r}: cannot write in {str(ancestor)!r} ({error.strerror or error})"
        ) from None
    if target.exists() and not os.access(target, os.W_OK):
        raise ValueError(f"{option} {text!r} exists and cannot be replaced (read-only)")
    return target


def require_regular_file(what: str, path: str | os.PathLike, *, hint: str = "") -> Path:
    """``path``, once it is known to be an existing regular file that can be opened for reading.

    Refused with one ``ValueError`` naming ``what`` (``"--text"``, ``"CSV file"``): an empty
    path, a missing file, a directory, a FIFO, socket or device (``/dev/null``: reading it would
    block forever or give nothing), a file that cannot be read. Nothing is opened that could
    block: only ``stat`` is asked. ``hint`` ends the message (what to give instead).
    """
    text = os.fspath(path)
    hint = f"; {hint}" if hint else ""
    if not text:
        raise ValueError(f"{what} needs a file path, got an empty string{hint}")
    target = Path(text)
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        raise ValueError(f"{what} {text!r}: no such file{hint}") from None
    except OSError as error:
        raise ValueError(f"{what} {text!r}: cannot read: {error.strerror or error}{hint}") from None
    if stat.S_ISDIR(mode):
        raise ValueError(f"{what} {text!r} is a directory, not a file{hint}")
    if not stat.S_ISREG(mode):
        kind = (
            "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
        )
        raise ValueError(
            f"{what} {text!r} is {kind}, not a regular file (reading it could block forever "
            f"or give nothing){hint}"
        )
    if not os.access(target, os.R_OK):
        raise ValueError(f"{what} {text!r} cannot be read (no permission){hint}")
    return target


# ``(smallest, largest)`` of the integer run settings several configs share. A config field
# declares its bounds beside it, ``field(default=..., metadata={"bounds": STEPS})`` (or its own
# tuple), and :func:`check_limits` enforces them. Beyond the largest, a run would exhaust memory
# long after starting (a trace kept per step, weights growing with the square of a width, a
# million networks trained at once) or overflow (a seed wider than 32 bits); it is refused in
# one line before anything is allocated.
STEPS = (1, 10_000_000)  # optimizer steps of one run
EPOCHS = (1, 100_000)  # passes over a data set
WIDTH = (1, 4096)  # units of a hidden layer
BATCH = (1, 65_536)  # examples per step
SEED = (0, 2**32 - 1)  # a PRNG seed: 32 bits
NETWORKS = (1, 10_000)  # networks trained side by side


# ``(largest value, why no larger one is useful)`` of real-valued settings whose natural range
# has no top; a config field declares its own, ``metadata={"ceiling": LEARNING_RATE_CEILING}``.
# Beyond these a run computes nothing but overflow: a NaN loss (a ``DivergenceError``) or
# saturated units that report a meaningless but finite answer.
LEARNING_RATE_CEILING = (
    1e6,
    "a step a million times the gradient already leaves every chapter's useful range; "
    "larger ones only overflow",
)
PENALTY_CEILING = (1e6, "a penalty a million times the data loss already leaves the data unlearned")
NOISE_CEILING = (100.0, "the images lie in [0, 1]: beyond 100 times their range the input is noise")


def check_limits(config) -> None:
    """``ValueError`` for the first field of dataclass ``config`` outside its bounds.

    A field's bounds are ``metadata["bounds"] = (smallest, largest)``; one message states them:
    ``steps must be an integer between 1 and 10000000, got ...``. Fields annotated ``bool`` must
    hold a bool (``standardize='no'`` meant True). A real-valued field must not exceed its
    ceiling (``metadata["ceiling"] = (largest, why)``), and the message says why. Fields
    without bounds are left to the config's own checks.
    """
    import dataclasses

    for field in dataclasses.fields(config):
        flag = getattr(config, field.name)
        if field.type in (bool, "bool") and not isinstance(flag, bool | np.bool_):
            name = field.name.replace("_", " ")  # 'no' is truthy: it would have meant True
            raise ValueError(f"{name} must be True or False, got {flag!r}")
        ceiling = field.metadata.get("ceiling")
        if ceiling is not None:
            high, why = ceiling
            value = getattr(config, field.name)
            if _is_real(value) and value > high:
                name = field.name.replace("_", " ")
                raise ValueError(f"{name} must be at most {high:g} ({why}), got {value!r}")
        if "bounds" not in field.metadata:
            continue
        low, high = field.metadata["bounds"]
        value = getattr(config, field.name)
        if not _is_int(value) or not low <= value <= high:
            name = field.name.replace("_", " ")
            raise ValueError(f"{name} must be an integer between {low} and {high}, got {value!r}")


def require_finite(name: str, values) -> None:
    """``ValueError`` if ``values`` (when concrete: skipped under ``jit``) holds a NaN or an inf.

    For the public ``predict`` functions: a NaN feature would give an answer that looks like
    one. Inside a jitted loop the check would cost a host sync per step, so it is skipped there.
    """
    import jax

    if isinstance(values, jax.core.Tracer):
        return
    array = np.asarray(values)
    if array.size and not np.isfinite(array).all():
        first = np.unravel_index(int(np.argmax(~np.isfinite(array))), array.shape)
        raise ValueError(
            f"{name} hold NaN or infinite values ({int((~np.isfinite(array)).sum())} of "
            f"{array.size}, the first at index {tuple(map(int, first))})"
        )


def require_rank(name: str, x, rank: int, layout: str) -> None:
    """``ValueError`` unless ``x`` has ``rank`` axes (``layout`` names them, e.g. ``[B, H, W, C]``)."""
    import jax.numpy as jnp

    if jnp.ndim(x) != rank:
        raise ValueError(f"{name} must have rank {rank} ({layout}), got shape {jnp.shape(x)}")
