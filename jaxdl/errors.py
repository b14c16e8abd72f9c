"""Errors that jaxdl raises besides ``ValueError`` for bad input."""

from __future__ import annotations


class DivergenceError(ArithmeticError):
    """An iteration produced a non-finite value: the result must not be reported as an answer.

    Attributes:
      step: the first step (1-based) whose value was not finite.
      what: the quantity that blew up (``"x"``, ``"loss"``, ...).
    """

    def __init__(
        self,
        what: str,
        step: int,
        hint: str = "try a smaller learning rate",
        *,
        reason: str = "became non-finite",
    ):
        self.what = what
        self.step = step
        super().__init__(f"diverged: {what} {reason} at step {step}; {hint}")


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped by Ctrl-C (a ``KeyboardInterrupt``) between or during epochs.

    Attributes:
      epoch: the 1-based epoch that was running.
      saved_epoch: the last epoch whose checkpoint is saved (0: none, or no run directory).
      run_dir: the run directory, or ``None`` when the run saved nothing.
    """

    def __init__(self, *, epoch: int, saved_epoch: int, run_dir: str | None):
        self.epoch, self.saved_epoch, self.run_dir = epoch, saved_epoch, run_dir
        saved = "no epoch is saved" if not saved_epoch else f"saved after epoch {saved_epoch}"
        super().__init__(f"interrupted in epoch {epoch}; {saved}")


def first_non_finite(values) -> int | None:
    """Index of the first non-finite entry along axis 0 of ``values`` (any trailing shape).

    Returns ``None`` when every entry is finite. Runs on the host, once, after a jitted loop.
    """
    import numpy as np

    values = np.asarray(values)
    bad = ~np.isfinite(values.reshape(values.shape[0], -1)).all(axis=1)
    return int(np.argmax(bad)) if bad.any() else None


def check_finite(what: str, values, hint: str = "try a smaller learning_rate") -> None:
    """:class:`DivergenceError` naming the first step (1-based, along axis 0) of ``values`` that
    is not finite; nothing when every value is.

    For a loop that returns its losses: one host check, once, after the jitted loop.
    """
    bad = first_non_finite(values)
    if bad is not None:
        raise DivergenceError(what, bad + 1, hint)
