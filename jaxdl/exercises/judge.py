"""The judge: load a learner's file and run the exercise's Hypothesis property on it.

The property is the one the project's own hand gradients pass: for inputs Hypothesis draws,
the learner's gradient must equal :func:`jax.grad` of the pure forward function in float64
(relative tolerance :data:`RTOL`). On a failure Hypothesis shrinks the input to the smallest
one it can find that still fails, and the verdict shows it with the entry that is furthest off.

Everything that can go wrong with the file itself (it does not parse, raises on import, lacks
the function, takes other parameters, raises, returns the wrong structure or shape) becomes a
one-line verdict naming the line of the learner's file where it applies. Runs in the process
that calls it: :func:`jaxdl.exercises.grade_file` calls it in a subprocess with a time limit.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import sys
import traceback
import types
from pathlib import Path
from typing import Any

import numpy as np

from jaxdl.exercises import Exercise, Verdict, get

#: Relative tolerance of the comparison (float64 arithmetic agrees to ~1e-14; a wrong formula
#: is off by far more).
RTOL = 1e-7
#: Absolute tolerance, as a fraction of the largest entry of ``jax.grad``'s answer (at least 1).
ATOL = 1e-9


class _Failure(Exception):
    """A failed example; Hypothesis shrinks it and raises it again for the smallest input."""

    def __init__(self, kind: str, message: str, details: tuple[str, ...] = ()):
        super().__init__(message)
        self.kind, self.message, self.details = kind, message, details


def _where(error: BaseException, path: Path) -> str:
    """``" (line N of FILE)"`` for the deepest frame in the learner's file, else ``""``."""
    line = None
    for frame in traceback.extract_tb(error.__traceback__):
        if Path(frame.filename).resolve() == path.resolve():
            line = frame.lineno
    return f" (line {line} of {path.name})" if line else ""


def _describe(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(error).__name__}: {first[:160]}" if first else type(error).__name__


def load(path: Path, exercise: Exercise) -> types.FunctionType:
    """The learner's function from ``path``; :class:`_Failure` (kind ``bad-file``) if unusable."""
    source = path.read_text(errors="replace")
    try:
        code = compile(source, str(path), "exec")
    except SyntaxError as error:
        raise _Failure(
            "bad-file", f"{path.name}, line {error.lineno}: syntax error: {error.msg}"
        ) from None
    module = types.ModuleType(f"jaxdl_exercise_{exercise.function}")
    module.__file__ = str(path)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(code, module.__dict__)
    except BaseException as error:  # noqa: BLE001 - SystemExit too: the learner's code is judged
        if isinstance(error, KeyboardInterrupt):
            raise
        raise _Failure(
            "bad-file", f"{path.name} raised {_describe(error)} on import{_where(error, path)}"
        ) from None
    function = module.__dict__.get(exercise.function)
    if not callable(function):
        raise _Failure("bad-file", f"{path.name} defines no function {exercise.function}(...)")
    expected = exercise.signature()
    try:
        got = inspect.signature(function)
    except (TypeError, ValueError):
        got = None
    if got is None or list(got.parameters) != list(expected.parameters):
        theirs = f"{exercise.function}{_plain(got)}" if got else "something else"
        raise _Failure(
            "bad-file",
            f"{path.name}: {theirs} has the wrong parameters; the exercise needs "
            f"{exercise.function}{_plain(expected)}",
        )
    return function


def _plain(signature: inspect.Signature) -> str:
    return "(" + ", ".join(signature.parameters) + ")"


def _leaves(tree: Any) -> list[tuple[str, Any]]:
    import jax

    flat, _ = jax.tree_util.tree_flatten_with_path(tree)
    return [(_name(keys), leaf) for keys, leaf in flat]


def _name(keys) -> str:
    import jax

    text = "".join(jax.tree_util.keystr((k,)) for k in keys)
    return text.lstrip(".")


def _format(value: Any, prefix: str) -> str:
    text = np.array2string(
        np.asarray(value), precision=6, separator=", ", threshold=60, prefix=prefix
    )
    return prefix + text


def _format_inputs(inputs: dict, order) -> tuple[str, ...]:
    lines = []
    for name in sorted(inputs, key=lambda n: order.index(n) if n in order else len(order)):
        value = inputs[name]
        for leaf_name, leaf in _leaves(value):
            full = f"{name}.{leaf_name}" if leaf_name else name
            lines.extend(_format(leaf, f"  {full} = ").splitlines())
    return tuple(lines)


def compare(exercise: Exercise, mine: Any, truth: Any, inputs: dict) -> None:
    """Raise :class:`_Failure` unless ``mine`` matches ``truth`` leaf by leaf."""
    import jax

    if exercise.returns and isinstance(truth, tuple) and not hasattr(truth, "_fields"):
        want = [
            (f"{label}.{name}" if name else label, leaf)
            for label, part in zip(exercise.returns, truth, strict=True)
            for name, leaf in _leaves(part)
        ]
    else:
        want = _leaves(truth)
    names = ", ".join(n or "the gradient" for n, _ in want)
    if mine is None:
        raise _Failure("bad-output", f"{exercise.function} returned None (a missing return?)")
    try:
        got = [np.asarray(leaf) for leaf in jax.tree.leaves(mine)]
    except Exception as error:  # noqa: BLE001
        raise _Failure(
            "bad-output", f"{exercise.function} returned something that is not arrays: {error}"
        ) from None
    if len(got) != len(want):
        raise _Failure(
            "bad-output",
            f"{exercise.function} returned {len(got)} array(s); jax.grad gives {len(want)} "
            f"({names})",
        )
    for (name, expected), value in zip(want, got, strict=True):
        expected = np.asarray(expected)
        if value.shape != expected.shape:
            raise _Failure(
                "bad-output",
                f"{exercise.function} returned shape {value.shape}"
                f"{' for ' + name if name else ''}; jax.grad's has shape {expected.shape}",
            )
    for (name, expected), value in zip(want, got, strict=True):
        expected = np.asarray(expected, np.float64)
        value = np.asarray(value, np.float64)
        atol = ATOL * max(1.0, float(np.max(np.abs(expected), initial=0.0)))
        allowed = atol + RTOL * np.abs(expected)
        off = np.abs(value - expected)
        off = np.where(np.isnan(value) | np.isinf(value), np.inf, off)
        bad = ~(off <= allowed)
        if not bad.any():
            continue
        ratio = np.where(bad, off / allowed, 0.0)
        worst = np.unravel_index(int(np.argmax(ratio)), value.shape)
        at = f"{name}[{', '.join(map(str, worst))}]" if value.shape else name or "the gradient"
        message = (
            f"{exercise.function} differs from jax.grad at {at}: yours {value[worst]:.10g}, "
            f"jax.grad {expected[worst]:.10g} (|difference| {off[worst]:.3g}; "
            f"{int(bad.sum())} of {bad.size} entries{' of ' + name if name else ''} differ)"
        )
        details = (
            "the smallest failing input Hypothesis found:",
            *_format_inputs(inputs, list(exercise.signature().parameters)),
        )
        raise _Failure("mismatch", message, details)


def run_property(exercise: Exercise, function, *, examples: int, path: Path | None = None):
    """Hypothesis's verdict on ``function``: ``(kind, message, details, examples_tried)``."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import HypothesisException
    from hypothesis.reporting import with_reporter

    here = path or Path("<solution>")
    tried = 0

    def prop(inputs):
        nonlocal tried
        tried += 1
        truth = exercise.truth(**inputs)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                mine = exercise.call_learner(function, inputs)
        except NotImplementedError as error:
            raise _Failure(
                "not-written",
                f"{exercise.function} is not written yet: replace 'raise NotImplementedError' "
                f"with your code{_where(error, here)}",
            ) from None
        except Exception as error:  # noqa: BLE001 - the learner's exception is the verdict
            raise _Failure(
                "raised", f"{exercise.function} raised {_describe(error)}{_where(error, here)}"
            ) from None
        compare(exercise, mine, truth, inputs)

    def run(n: int, phases):
        def case(inputs):  # a fresh function per run: Hypothesis decorates each once
            prop(inputs)

        given(exercise.inputs())(
            settings(
                max_examples=n,
                derandomize=True,
                database=None,
                deadline=None,
                report_multiple_bugs=False,
                suppress_health_check=list(HealthCheck),
                phases=phases,
                print_blob=False,
            )(case)
        )()

    try:
        with with_reporter(lambda *_: None):
            # One input first, unshrunk: a function that raises, returns nothing or the wrong
            # shapes gets its one-line verdict at once instead of after a long shrink.
            try:
                run(1, (Phase.generate,))
            except _Failure as failure:
                if failure.kind != "mismatch":
                    raise
            run(examples, (Phase.generate, Phase.shrink))
    except _Failure as failure:
        return failure.kind, failure.message, failure.details, tried
    except HypothesisException as error:  # e.g. Flaky: the same input passed, then failed
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        return "raised", f"{exercise.function}: {type(error).__name__}: {first[:160]}", (), tried
    return "pass", "", (), tried


def judge_file(path: str | Path, name: str, *, examples: int) -> Verdict:
    """Load ``path`` and run exercise ``name``'s property on it, in this process (float64)."""
    import jax

    jax.config.update("jax_enable_x64", True)
    path = Path(path)
    exercise = get(name)
    sys.path.insert(0, str(path.resolve().parent))  # the learner may import a helper file
    try:
        function = load(path, exercise)
    except _Failure as failure:
        return Verdict(name, False, failure.kind, failure.message)
    finally:
        sys.path.pop(0)
    kind, message, details, tried = run_property(exercise, function, examples=examples, path=path)
    if kind == "pass":
        message = (
            f"PASS {name}: {exercise.function} in {path.name} equals jax.grad on all {tried} "
            "inputs Hypothesis drew (float64)"
        )
        return Verdict(name, True, kind, message, (), tried)
    return Verdict(name, False, kind, f"FAIL {name}: {message}", details, tried)
