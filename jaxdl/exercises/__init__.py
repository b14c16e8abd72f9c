"""Graded exercises: write a hand gradient yourself, and let the project's own proof judge it.

Every chapter proves its hand-derived gradients with the same Hypothesis property: draw
inputs, compute the hand gradient and :func:`jax.grad` of the pure forward function in
float64, and demand that they agree. An :class:`Exercise` turns that property on the learner:

- ``jaxdl exercise NAME`` writes :func:`stub` ``(NAME)``: the function's signature (taken from
  the project's own solution, so it cannot drift), a docstring stating the task, and an empty
  body;
- ``jaxdl grade FILE`` runs :func:`grade_file`: the learner's file is loaded in a subprocess
  with a time limit (:mod:`jaxdl.exercises.worker`), which receives each input and answers
  with numbers only; Hypothesis, ``jax.grad`` and the comparison stay in the trusted process
  (:func:`jaxdl.exercises.judge.judge_file`), so the file cannot fake its grade. The verdict is
  a pass, or the smallest failing input Hypothesis found and how far the learner's gradient is
  from ``jax.grad`` there, with a hint when the learner's answers equal one of the exercise's
  known wrong answers (:class:`Hint`: a missing ``1/B``, a forgotten path); a file that cannot
  be judged (syntax error, wrong signature, an exception, a hang, a call of ``jax.grad`` or its
  kin) gets one line.

Adding an exercise is one :class:`Exercise` entry in :data:`EXERCISES` (see
:mod:`jaxdl.exercises.catalog`): the tests then prove that the project's solution passes and
that the entry's ``mistake`` fails, and the CLI offers it.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

#: Examples Hypothesis draws for a grade (before shrinking a failure).
DEFAULT_EXAMPLES = 30
#: Seconds a grade may take, start-up and compilation included.
DEFAULT_TIMEOUT = 120.0
#: The first line of every stub names its exercise, so that ``jaxdl grade FILE`` needs no more.
HEADER = "# jaxdl exercise: {name}"
_HEADER_RE = re.compile(r"^#\s*jaxdl exercise:\s*([a-z0-9-]+)\s*$", re.MULTILINE)


class Hint(NamedTuple):
    """A known wrong answer and what it means.

    ``answer(**inputs)`` computes the wrong answer (on the trusted side, like the truth); when
    the learner's answers equal it on every input the grader tried, the verdict says ``text``,
    which names the mistake. ``body``, when given, is a stub body that makes this mistake (the
    tests grade it and expect ``text``).
    """

    text: str
    answer: Callable[..., Any]
    body: str = ""


@dataclasses.dataclass(frozen=True)
class Exercise:
    """One graded hand gradient. Its fields:

    - name: the command-line name, e.g. ``"debye-slope"``.
    - chapter: the docs chapter (module name) that teaches it, e.g. ``"gradient_descent"``.
    - solution: ``"module:function"``, the project's own hand gradient; the learner writes a
      function of the same name and parameters.
    - task: the stub's docstring: what to compute, the shapes, and what may be used. It states
      the forward function, never the answer.
    - imports: the stub's import lines (names the learner may use).
    - inputs: a function returning a Hypothesis strategy of ``dict`` objects: the named inputs.
    - truth: ``truth(**inputs)``, the gradient by :func:`jax.grad` (or :func:`jax.vjp`) of the
      pure forward function.
    - mistake: the body of a subtly wrong solution (the tests prove it fails; the docs show
      what the grader says about it).
    - returns: names of the parts of a tuple the function returns (for the verdict's "where").
    - call: ``call(function, inputs)`` calls the learner's function; by default with the
      inputs named like the solution's parameters, in its order.
    - hints: known wrong answers (:class:`Hint`), checked in order when the learner's fails.
    """

    name: str
    chapter: str
    solution: str
    task: str
    imports: str
    inputs: Callable[[], Any]
    truth: Callable[..., Any]
    mistake: str
    returns: tuple[str, ...] = ()
    call: Callable[[Callable, dict], Any] | None = None
    hints: tuple[Hint, ...] = ()

    @property
    def function(self) -> str:
        """The name of the function the learner writes."""
        return self.solution.split(":")[1]

    def solution_function(self) -> Callable:
        """The project's own hand gradient (imported on demand)."""
        module, name = self.solution.split(":")
        return getattr(importlib.import_module(module), name)

    def signature(self) -> inspect.Signature:
        """The solution's signature, which the learner's function must share."""
        return inspect.signature(self.solution_function())

    def call_learner(self, function: Callable, inputs: dict) -> Any:
        """The learner's gradient on ``inputs``."""
        if self.call is not None:
            return self.call(function, inputs)
        return function(*(inputs[name] for name in self.signature().parameters))


def _exercises() -> tuple[Exercise, ...]:
    from jaxdl.exercises.catalog import EXERCISES as entries

    return entries


def names() -> list[str]:
    """Every exercise's name, in the order of the chapters."""
    return [e.name for e in _exercises()]


def get(name: str) -> Exercise:
    """The exercise called ``name``; ``ValueError`` listing the known names otherwise."""
    for exercise in _exercises():
        if exercise.name == name:
            return exercise
    raise ValueError(f"unknown exercise {name!r}; known exercises: {', '.join(names())}")


def _def_line(exercise: Exercise) -> str:
    signature = exercise.signature()
    params = []
    for p in signature.parameters.values():
        text = p.name if p.annotation is inspect.Parameter.empty else f"{p.name}: {p.annotation}"
        if p.default is not inspect.Parameter.empty:
            text += f" = {p.default!r}"
        if p.kind is p.KEYWORD_ONLY and "*" not in params:
            params.append("*")
        params.append(text)
    returns = signature.return_annotation
    arrow = "" if returns is inspect.Signature.empty else f" -> {returns}"
    line = f"def {exercise.function}({', '.join(params)}){arrow}:"
    if len(line) <= 88:
        return line
    return f"def {exercise.function}(\n" + "".join(f"    {p},\n" for p in params) + f"){arrow}:"


def _indent(text: str, spaces: int = 4) -> str:
    pad = " " * spaces
    return "\n".join(pad + line if line.strip() else "" for line in text.strip("\n").splitlines())


def default_path(name: str) -> str:
    """Where ``jaxdl exercise NAME`` writes the stub by default: ``<function>.py``."""
    return f"{get(name).function}.py"


def stub(name: str, *, path: str | None = None, body: str | None = None) -> str:
    """The exercise file for ``name``: header, imports, signature, docstring, empty body.

    ``path`` is the file's name in the grading command it shows; ``body`` replaces the empty
    body (the tests write solutions this way).
    """
    exercise = get(name)
    path = path or default_path(name)
    docstring = '"""' + exercise.task.strip("\n") + '\n"""'
    body = body if body is not None else "raise NotImplementedError  # your code here"
    return (
        f"{HEADER.format(name=exercise.name)}\n"
        f"# Write the body of {exercise.function}, then check it with:\n"
        f"#     jaxdl grade {path}\n"
        "# The grader compares your gradient with jax.grad of the forward function, in float64,\n"
        "# on inputs that Hypothesis draws; so do not call jax.grad, jax.vjp, jax.jacobian\n"
        "# (or any of their kin) yourself: a file that does is refused.\n"
        "from __future__ import annotations\n\n"
        f"{exercise.imports.strip()}\n\n\n"
        f"{_def_line(exercise)}\n"
        f"{_indent(docstring)}\n"
        f"{_indent(body)}\n"
    )


def solution_body(name: str) -> str:
    """A body that calls the project's own solution (what the tests grade as the right answer)."""
    exercise = get(name)
    module, function = exercise.solution.split(":")
    args = ", ".join(
        f"{p.name}={p.name}" if p.kind is p.KEYWORD_ONLY else p.name
        for p in exercise.signature().parameters.values()
    )
    return f"from {module} import {function} as _project\n\nreturn _project({args})"


def exercise_of(path: str | os.PathLike, text: str | None = None) -> str:
    """The exercise a file is for: its ``# jaxdl exercise: NAME`` line, or else the one exercise
    whose function it defines. ``ValueError`` if neither says."""
    text = Path(path).read_text(errors="replace") if text is None else text
    match = _HEADER_RE.search(text)
    if match:
        get(match.group(1))  # a known name, or ValueError
        return match.group(1)
    defined = set(re.findall(r"^def\s+([A-Za-z_]\w*)\s*\(", text, re.MULTILINE))
    found = [e.name for e in _exercises() if e.function in defined]
    if len(found) == 1:
        return found[0]
    raise ValueError(
        f"{path}: cannot tell which exercise this file is for (no '# jaxdl exercise: NAME' "
        "line); name it: exercise=NAME"
    )


class Verdict(NamedTuple):
    """What the grader says about one file."""

    exercise: str
    passed: bool
    kind: str  # pass | mismatch | bad-output | raised | not-written | bad-file | timeout | crash
    message: str  # one line
    details: tuple[str, ...] = ()  # for a mismatch: the smallest failing input, line by line
    examples: int = 0  # inputs tried
    hint: str = ""  # for a mismatch that equals a known wrong answer: what the mistake is

    def as_json(self) -> dict:
        return {**self._asdict(), "details": list(self.details)}

    def lines(self) -> list[str]:
        """The verdict as printed: the one-line message, the hint, then the details."""
        return [self.message, *([f"hint: {self.hint}"] if self.hint else []), *self.details]


def grade_file(
    path: str | os.PathLike,
    *,
    exercise: str | None = None,
    examples: int = DEFAULT_EXAMPLES,
    timeout: float = DEFAULT_TIMEOUT,
) -> Verdict:
    """Grade a learner's file: :func:`jaxdl.exercises.judge.judge_file` (Hypothesis, ``jax.grad``
    and the comparison in this process; the learner's code in a subprocess that only answers
    with numbers), stopped after ``timeout`` seconds.

    Raises:
      ValueError: the file does not exist, is not a regular file (a directory, a FIFO,
        ``/dev/null``), is not UTF-8 text, or which exercise it is for cannot be told.
    """
    from jaxdl.exercises.judge import judge_file
    from jaxdl.validate import require_regular_file

    path = require_regular_file("FILE", path, hint="give the .py file 'jaxdl exercise' wrote")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"FILE {str(path)!r} is not UTF-8 text (byte {error.start}: "
            f"{error.object[error.start : error.start + 1]!r}); Python source must be UTF-8"
        ) from None
    name = exercise or exercise_of(path, text)
    get(name)
    try:  # a syntax error needs no subprocess
        compile(text, str(path), "exec")
    except SyntaxError as error:
        message = f"{path.name}, line {error.lineno}: syntax error: {error.msg}"
        return Verdict(name, False, "bad-file", message)
    return judge_file(path, name, examples=examples, timeout=timeout)


__all__ = [
    "DEFAULT_EXAMPLES",
    "DEFAULT_TIMEOUT",
    "Exercise",
    "Hint",
    "Verdict",
    "default_path",
    "exercise_of",
    "get",
    "grade_file",
    "names",
    "solution_body",
    "stub",
]
