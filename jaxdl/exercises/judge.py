"""The judge: the trusted side of a grade. It draws the inputs, computes the truth, compares.

The property is the one the project's own hand gradients pass: for inputs Hypothesis draws,
the learner's gradient must equal :func:`jax.grad` of the pure forward function in float64
(relative tolerance :data:`RTOL`). On a failure Hypothesis shrinks the input to the smallest
one it can find that still fails, and the verdict shows it with the entry that is furthest off.

The learner's file never runs in this process: a :class:`Learner` is a subprocess
(:mod:`jaxdl.exercises.worker`) that loads it, receives each input Hypothesis draws, and sends
back only numbers (arrays in NPZ, no pickles), which :func:`check_returned` checks (count,
shape, a real dtype) before :func:`compare` holds them against ``jax.grad``. Hypothesis, the
truth, the comparison and the verdict all live here, so a file that replaces any of them in
its own process changes nothing; a grade that judged no input is a failure, never a pass. A
file that names ``jax.grad`` or its kin (:data:`AUTODIFF`: ``jax.vjp``, ``jax.jacobian``,
``jax.linear_transpose``, ...) or imports JAX's internals is refused before it runs
(:func:`autodiff_calls`, a static check), and the learner's process makes those functions raise
while the learner's code runs.

When the learner's gradient is wrong, :func:`matching_hint` holds its answers against the
exercise's known wrong answers (:class:`jaxdl.exercises.Hint`, computed here like the truth):
one that equals the learner's on every input tried names the likely mistake in the verdict.

Everything that can go wrong with the file itself (it does not parse, raises on import, lacks
the function, takes other parameters, raises, returns the wrong structure or shape, hangs,
ends its process) becomes a one-line verdict naming the line of the learner's file where it
applies. At the end the learner's process group and every process it started are killed.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import io
import json
import os
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time
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


#: Kinds of failure the learner's process may report (anything else is refused).
LEARNER_KINDS = frozenset({"not-written", "raised", "bad-output", "bad-file", "autodiff"})
#: The largest message either side accepts (bytes).
MAX_MESSAGE = 256 * 2**20


class _Stop(BaseException):
    """The grade ends now (the learner's process hung, died or spoke nonsense): not an input
    Hypothesis should shrink, so it is no ``Exception``."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind, self.message = kind, message


class _Failure(Exception):
    """A failed example; Hypothesis shrinks it and raises it again for the smallest input."""

    def __init__(self, kind: str, message: str, details: tuple[str, ...] = ()):
        super().__init__(message)
        self.kind, self.message, self.details = kind, message, details


#: The functions of ``jax`` that would compute the answer instead of the learner: a file that
#: names one is refused, and in the learner's process (:mod:`jaxdl.exercises.worker`) they raise.
AUTODIFF = ("grad", "value_and_grad", "vjp", "jvp", "jacobian", "jacfwd", "jacrev", "hessian",
            "linearize", "linear_transpose")  # fmt: skip
#: Modules of JAX that hold the machinery behind :data:`AUTODIFF`: a file importing one is refused.
INTERNALS = ("jax._src", "jax.interpreters", "jax.experimental.jet")


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


def _expected(exercise: Exercise, truth: Any) -> list[tuple[str, Any]]:
    """The leaves of an answer computed here (the truth, a known wrong answer), named."""
    if exercise.returns and isinstance(truth, tuple) and not hasattr(truth, "_fields"):
        return [
            (f"{label}.{name}" if name else label, leaf)
            for label, part in zip(exercise.returns, truth, strict=True)
            for name, leaf in _leaves(part)
        ]
    return _leaves(truth)


def _off(value: np.ndarray, expected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(|value - expected|, allowed)``, entry by entry (NaN and inf are never allowed)."""
    expected = np.asarray(expected, np.float64)
    value = np.asarray(value, np.float64)
    atol = ATOL * max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    off = np.abs(value - expected)
    off = np.where(np.isnan(value) | np.isinf(value), np.inf, off)
    return off, atol + RTOL * np.abs(expected)


def agrees(got: list[np.ndarray], expected: Any, exercise: Exercise) -> bool:
    """Whether the learner's arrays ``got`` equal the answer ``expected`` (within tolerance)."""
    want = _expected(exercise, expected)
    if len(got) != len(want):
        return False
    for (_, leaf), value in zip(want, got, strict=True):
        leaf = np.asarray(leaf)
        if np.shape(value) != leaf.shape:
            return False
        off, allowed = _off(value, leaf)
        if not (off <= allowed).all():
            return False
    return True


def matching_hint(exercise: Exercise, answered: list[tuple[dict, list[np.ndarray]]]) -> str:
    """The text of the first known wrong answer equal to the learner's on every input of
    ``answered`` (pairs of inputs and the learner's arrays), else ``""``."""
    if not answered:
        return ""
    for hint in exercise.hints:
        if all(agrees(got, hint.answer(**inputs), exercise) for inputs, got in answered):
            return hint.text
    return ""


def compare(exercise: Exercise, mine: Any, truth: Any, inputs: dict) -> None:
    """Raise :class:`_Failure` unless ``mine`` matches ``truth`` leaf by leaf."""
    import jax

    want = _expected(exercise, truth)
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
        off, allowed = _off(value, expected)
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


def send(fd: int, kind: bytes, payload: bytes) -> None:
    """Write one framed message: ``kind`` (one byte), the payload's length, the payload."""
    data = kind + struct.pack(">Q", len(payload)) + payload
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_exactly(fd: int, n: int, deadline: float | None) -> bytes:
    parts, left = [], n
    while left:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def receive(fd: int, deadline: float | None) -> tuple[bytes, bytes]:
    """One framed message ``(kind, payload)``; ``EOFError`` at the end, ``TimeoutError`` after
    ``deadline`` (``time.monotonic``), ``ValueError`` for a frame too long."""
    head = _read_exactly(fd, 9, deadline)
    (length,) = struct.unpack(">Q", head[1:])
    if length > MAX_MESSAGE:
        raise ValueError(f"a message of {length} bytes")
    return head[:1], _read_exactly(fd, length, deadline)


def describe(tree: Any) -> Any:
    """The structure of an exercise's inputs as JSON: dicts, tuples, lists, NamedTuples of the
    project (by ``module:name``), and ``None`` for each array (a leaf)."""
    if isinstance(tree, dict):
        return {"dict": {key: describe(tree[key]) for key in sorted(tree)}}  # as jax orders
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):
        kind = type(tree)
        return {"named": f"{kind.__module__}:{kind.__qualname__}",
                "items": [describe(v) for v in tree]}  # fmt: skip
    if isinstance(tree, tuple | list):
        return {type(tree).__name__: [describe(v) for v in tree]}
    return None


def rebuild(description: Any, leaves) -> Any:
    """The inverse of :func:`describe`, taking the arrays from the iterator ``leaves``."""
    import importlib

    if description is None:
        return next(leaves)
    if "dict" in description:
        return {key: rebuild(value, leaves) for key, value in description["dict"].items()}
    if "named" in description:
        module, name = description["named"].split(":")
        if module.split(".")[0] != "jaxdl":
            raise ValueError(f"not a type of the project: {module}")
        kind = getattr(importlib.import_module(module), name)
        return kind(*(rebuild(v, leaves) for v in description["items"]))
    kind = tuple if "tuple" in description else list
    return kind(rebuild(v, leaves) for v in description.get("tuple", description.get("list")))


def autodiff_calls(source: str) -> tuple[str, int] | None:
    """The first ``jax.grad``-like name in ``source`` and its line, else ``None`` (a static
    check: ``import jax as j; j.grad``, ``from jax import vjp``, ``jax.value_and_grad``)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    aliases = {"jax"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            aliases |= {a.asname or a.name for a in node.names if a.name == "jax"}
            for alias in node.names:
                if _internal(alias.name):
                    return alias.name, node.lineno
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and _internal(node.module or ""):
            return node.module, node.lineno
        if isinstance(node, ast.Attribute) and node.attr in ("_src", "interpreters"):
            return f"jax.{node.attr}", node.lineno
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "jax":
            for alias in node.names:
                if alias.name in AUTODIFF:
                    return f"jax.{alias.name}", node.lineno
        if (
            isinstance(node, ast.Attribute)
            and node.attr in AUTODIFF
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
        ):
            return f"jax.{node.attr}", node.lineno
    return None


def _internal(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in INTERNALS)


class Learner:
    """The learner's process (:mod:`jaxdl.exercises.worker`), in a session of its own.

    ``deadline`` (``time.monotonic()``) bounds every wait for it; :meth:`close` kills its
    process group and every process it started, whatever session they moved to.
    """

    def __init__(self, deadline: float | None = None):
        self.deadline, self._closed = deadline, False
        requests, self._requests = os.pipe()
        self._replies, replies = os.pipe()
        self._stderr = tempfile.TemporaryFile()
        command = [sys.executable, "-m", "jaxdl.exercises.worker", str(requests), str(replies)]
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            pass_fds=(requests, replies),
            start_new_session=True,  # its own process group: a timeout ends all of it
        )
        os.close(requests)
        os.close(replies)

    @property
    def alive(self) -> bool:
        """Whether the process can still be asked (not closed, not ended)."""
        return not self._closed and self.process.poll() is None

    def ask(self, kind: bytes, payload: bytes) -> tuple[bytes, bytes]:
        """Send one request and wait for the answer; :class:`_Stop` when none comes."""
        try:
            send(self._requests, kind, payload)
            return receive(self._replies, self.deadline)
        except TimeoutError:
            raise _Stop("timeout", "") from None
        except (EOFError, BrokenPipeError):
            raise _Stop("crash", self._ended()) from None
        except ValueError as error:
            raise _Stop("crash", f"its process sent {error}, not an answer") from None

    def _ended(self) -> str:
        try:
            status = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            status = None
        self._stderr.seek(0)
        err = self._stderr.read()[-4000:].decode(errors="replace")
        last = next((s for s in reversed(err.strip().splitlines()) if s.strip()), "no message")
        return f"exit status {status}: {last.strip()[:200]}"

    def load(self, path: Path, name: str) -> None:
        """Load the learner's file; :class:`_Failure` (``bad-file``) when it cannot be used."""
        kind, payload = self.ask(b"L", json.dumps({"path": str(path), "name": name}).encode())
        if kind == b"F":
            raise _learner_failure(payload)
        if kind != b"R":
            raise _Stop("crash", "its process did not say it loaded the file")

    def call(self, inputs: dict) -> list[np.ndarray]:
        """The learner's answer to ``inputs``: its returned arrays, as sent."""
        import jax

        buffer = io.BytesIO()
        leaves = [np.asarray(leaf) for leaf in jax.tree.leaves(inputs)]
        np.savez(buffer, *leaves, structure=_structure(inputs))
        kind, payload = self.ask(b"C", buffer.getvalue())
        if kind == b"F":
            raise _learner_failure(payload)
        if kind != b"A":
            raise _Stop("crash", "its process sent something that is not an answer")
        try:
            with np.load(io.BytesIO(payload), allow_pickle=False) as npz:
                return [npz[f"arr_{i}"] for i in range(len(npz.files))]
        except Exception as error:  # noqa: BLE001 - a forged or broken answer
            raise _Stop("crash", f"its process sent an unreadable answer ({error})") from None

    def call_many(self, inputs: list[dict]) -> list[list[np.ndarray] | _Failure]:
        """The learner's answers to many ``inputs``, in one exchange."""
        import jax

        arrays = {f"{i}_{j}": np.asarray(leaf) for i, one in enumerate(inputs)
                  for j, leaf in enumerate(jax.tree.leaves(one))}  # fmt: skip
        buffer = io.BytesIO()
        structure = _structure(inputs[0]) if inputs else np.zeros(0, np.uint8)
        np.savez(buffer, count=np.asarray(len(inputs)), structure=structure, **arrays)
        kind, payload = self.ask(b"B", buffer.getvalue())
        if kind != b"Y":
            raise _Stop("crash", "its process sent something that is not an answer")
        try:
            with np.load(io.BytesIO(payload), allow_pickle=False) as npz:
                meta = json.loads(npz["meta"].tobytes())
                answers = []
                for i, entry in enumerate(meta[: len(inputs)]):
                    if "count" in entry:
                        answers.append([npz[f"{i}_{k}"] for k in range(int(entry["count"]))])
                    else:
                        answers.append(_learner_failure(json.dumps(entry).encode()))
        except _Stop:
            raise
        except Exception as error:  # noqa: BLE001 - a forged or broken answer
            raise _Stop("crash", f"its process sent an unreadable answer ({error})") from None
        if len(answers) != len(inputs):
            raise _Stop("crash", "its process answered fewer inputs than it was sent")
        return answers

    def close(self) -> None:
        """Kill the learner's process, its group, and every process it started."""
        if self._closed:
            return
        self._closed = True
        for fd in (self._requests, self._replies):
            with contextlib.suppress(OSError):
                os.close(fd)
        kill_tree(self.process.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        self._stderr.close()


def _structure(inputs: dict) -> np.ndarray:
    return np.frombuffer(json.dumps(describe(inputs)).encode(), np.uint8)


def _learner_failure(payload: bytes) -> _Failure:
    try:
        data = json.loads(payload)
        kind, message = data["kind"], str(data["message"])
    except (ValueError, KeyError, TypeError):
        raise _Stop("crash", "its process sent a failure that cannot be read") from None
    if kind not in LEARNER_KINDS:
        raise _Stop("crash", f"its process sent an unknown verdict {str(kind)[:40]!r}")
    return _Failure(kind, " ".join(message.split())[:400])


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), ()):
            found.append(child)
            todo.append(child)
    return found


def kill_tree(pid: int) -> None:
    """SIGKILL process ``pid``, its process group, and all its descendants, a descendant in a
    new session too: all are stopped first (so that none forks, and none is orphaned out of
    sight, while they are counted), then killed."""
    for _ in range(3):
        try:
            family = [pid, *_descendants(pid)] if os.path.isdir("/proc") else [pid]
        except OSError:
            family = [pid]
        for member in family:
            with contextlib.suppress(OSError):
                os.kill(member, signal.SIGSTOP)
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
        for member in family:
            with contextlib.suppress(OSError):
                os.kill(member, signal.SIGKILL)
        if len(family) == 1:
            break


def check_returned(exercise: Exercise, got: list[np.ndarray]) -> list[np.ndarray]:
    """The learner's arrays, if they are real numbers (a complex one is refused)."""
    for value in got:
        if value.dtype.kind == "c":
            raise _Failure(
                "bad-output",
                f"{exercise.function} returned complex numbers ({value.dtype}); the gradient "
                "of a real function is real",
            )
        if value.dtype.kind not in "fiu":
            raise _Failure(
                "bad-output",
                f"{exercise.function} returned an array of {value.dtype}, not of numbers",
            )
    return got


def _answer_key(leaves) -> bytes:
    """An input's identity: its arrays' dtypes, shapes and bytes."""
    return b"|".join(f"{a.dtype}{a.shape}".encode() + a.tobytes() for a in map(np.asarray, leaves))


class _Grading:
    """One grading by Hypothesis: the inputs drawn, the learner's answers by input, and how many
    inputs were judged so far."""

    def __init__(self, exercise: Exercise, learner: Learner):
        self.exercise, self.learner = exercise, learner
        self.judged = 0
        self.drawn: list | None = None  # while only drawing the first inputs
        self.batch: list[dict] = []
        self.answered: dict[bytes, list[np.ndarray] | _Failure] = {}  # the answers, by input

    def check(self, inputs) -> None:
        """The property: the learner's answer for ``inputs`` is the truth (else a _Failure)."""
        import jax

        if self.drawn is not None:
            self.drawn.append(inputs)
            return
        truth = self.exercise.truth(**inputs)
        answer = self.answered.get(_answer_key(jax.tree.leaves(inputs)))
        if answer is None:
            answer = self.learner.call(inputs)
        if isinstance(answer, _Failure):
            raise answer
        compare(self.exercise, check_returned(self.exercise, answer), truth, inputs)
        self.judged += 1

    def run(self, n: int, phases) -> None:
        """``n`` examples through the property, in ``phases``."""
        from hypothesis import HealthCheck, given, settings

        # A fresh function per run (Hypothesis decorates each once), of the same source: so,
        # derandomized, each run draws the same inputs (those answered in one exchange
        # first), until a failure, which it shrinks.
        prop = self.check

        def case(inputs):
            prop(inputs)

        given(self.exercise.inputs())(
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

    def answer_in_one_exchange(self, examples: int) -> None:
        """Draw the first ``examples`` inputs only, and have the learner answer them all at once."""
        import jax
        from hypothesis import Phase

        self.drawn = []
        self.run(examples, (Phase.generate,))
        self.batch, self.drawn = self.drawn, None
        for inputs, answer in zip(self.batch, self.learner.call_many(self.batch), strict=True):
            self.answered[_answer_key(jax.tree.leaves(inputs))] = answer

    def hint(self) -> str:
        """For a mismatch: the known mistake the learner's answers match, or ``""``."""
        import jax

        pairs = [(x, self.answered[_answer_key(jax.tree.leaves(x))]) for x in self.batch]
        return matching_hint(self.exercise, [p for p in pairs if isinstance(p[1], list)])


def run_property(exercise: Exercise, learner: Learner, *, examples: int):
    """Hypothesis's verdict on the learner's function: ``(kind, message, details, judged,
    hint)``; ``judged``: the inputs on which the learner's answer was compared with
    ``jax.grad``; ``hint``: for a mismatch, the known mistake the answers match, or ``""``."""
    from hypothesis import Phase
    from hypothesis.errors import HypothesisException
    from hypothesis.reporting import with_reporter

    grading = _Grading(exercise, learner)
    try:
        with with_reporter(lambda *_: None):
            # One input first, unshrunk: a function that raises, returns nothing or the wrong
            # shapes gets its one-line verdict at once instead of after a long shrink.
            try:
                grading.run(1, (Phase.generate,))
            except _Failure as failure:
                if failure.kind != "mismatch":
                    raise
            grading.answer_in_one_exchange(examples)
            grading.run(examples, (Phase.generate, Phase.shrink))
    except _Failure as failure:
        hint = grading.hint() if failure.kind == "mismatch" else ""
        return failure.kind, failure.message, failure.details, grading.judged, hint
    except HypothesisException as error:  # e.g. Flaky: the same input passed, then failed
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        message = f"{exercise.function}: {type(error).__name__}: {first[:160]}"
        return "raised", message, (), grading.judged, ""
    return "pass", "", (), grading.judged, ""


def judge_file(
    path: str | Path,
    name: str,
    *,
    examples: int,
    timeout: float | None = None,
    learner: Learner | None = None,
) -> Verdict:
    """Grade ``path`` for exercise ``name``: the learner's code in a :class:`Learner` process,
    Hypothesis, ``jax.grad`` and the comparison here (float64); at most ``timeout`` seconds.

    ``learner``: a process to load the file into (the tests grade many files in one; it is
    closed if the grade ends in a timeout or a crash); by default a new one, closed at the end.
    """
    import jax

    with jax.enable_x64(True):  # float64 here, without changing the caller's setting
        return _judge_file(Path(path), name, examples, timeout, learner)


def _judge_file(path: Path, name: str, examples: int, timeout, learner) -> Verdict:
    exercise = get(name)
    start = time.monotonic()
    source = path.read_text(errors="replace")
    found = autodiff_calls(source)
    if found is not None:
        uses = "uses" if found[0].startswith(("jax._src", "jax.interp", "jax.exp")) else "calls"
        message = (
            f"FAIL {name}: {path.name}, line {found[1]}: {uses} {found[0]}; the grader compares "
            f"your hand gradient with jax.grad, so write {exercise.function} without it"
        )
        return Verdict(name, False, "autodiff", message)
    own = learner is None or not learner.alive
    learner = Learner() if own else learner
    learner.deadline = None if timeout is None else start + timeout
    stopped = False
    try:
        try:
            learner.load(path, name)
        except _Failure as failure:
            return Verdict(name, False, failure.kind, failure.message)
        kind, message, details, judged, hint = run_property(exercise, learner, examples=examples)
    except _Stop as stop:
        stopped = True
        if stop.kind == "timeout":
            message = (
                f"{path.name}: no verdict within {timeout:g} s (an endless loop? a very slow "
                "function?); the grader stopped it"
            )
        else:
            message = f"{path.name}: the learner's process ended without an answer ({stop.message})"
        return Verdict(name, False, stop.kind, f"FAIL {name}: {message}")
    finally:
        if own or stopped:
            learner.close()
    if kind == "pass" and judged == 0:
        kind, message = "crash", f"no input was judged ({path.name} answered none)"
    if kind == "pass":
        message = (
            f"PASS {name}: {exercise.function} in {path.name} equals jax.grad on all {judged} "
            "inputs Hypothesis drew (float64)"
        )
        return Verdict(name, True, kind, message, (), judged)
    return Verdict(name, False, kind, f"FAIL {name}: {message}", details, judged, hint)
