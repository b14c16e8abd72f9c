"""``python -m jaxdl.exercises.worker REQUESTS REPLIES``: the learner's process.

:class:`jaxdl.exercises.judge.Learner` starts it; the learner's code runs here and nowhere else.
It holds no verdict and no truth: the trusted process (``jaxdl grade``) draws the inputs with
Hypothesis, computes :func:`jax.grad`, sends the inputs here, and checks the numbers this process
sends back. So whatever the learner's file does to this process (replace the judge's functions,
Hypothesis, the exercise's truth; write to any descriptor it finds; exit) can only make its own
answers wrong or missing, never make a wrong gradient pass.

The conversation, on two pipes (descriptors ``REQUESTS`` and ``REPLIES``), one framed message
at a time (:func:`jaxdl.exercises.judge.send` / :func:`~jaxdl.exercises.judge.receive`):

- ``L`` + JSON ``{"path", "name"}``: load the file; answer ``R`` (ready) or ``F`` (failure).
- ``C`` + NPZ of the input leaves: call the function; answer ``A`` + NPZ of the returned
  leaves, or ``F`` + JSON ``{"kind", "message"}`` (it raised, returned nothing, ...).
- ``B`` + NPZ of many inputs (``i_j``: leaf ``j`` of input ``i``; ``count``): answer ``Y`` +
  NPZ of every answer (``i_k``) and ``meta``, one JSON entry per input (its count of arrays,
  or its failure). One exchange for all the inputs Hypothesis draws first.

While the learner's code runs, :data:`~jaxdl.exercises.judge.AUTODIFF` (``jax.grad``,
``jax.vjp``, ``jax.jacobian``, ``jax.linear_transpose``, ...) raise, in ``jax`` and in the
module that defines them: the exercise is to write the gradient by hand (the trusted side also
refuses a file that names them, before it runs).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys


class AutodiffRefused(Exception):
    """The learner's code called ``jax.grad`` or one of its kin."""


def _refuse(name: str):
    def refused(*args, **kwargs):
        raise AutodiffRefused(
            f"jax.{name} is not allowed in an exercise: the grader compares your hand gradient "
            "with it, so write the gradient yourself"
        )

    return refused


@contextlib.contextmanager
def _no_autodiff():
    import jax
    import jax._src.api as api

    from jaxdl.exercises.judge import AUTODIFF

    # jax's names and the module that defines them (reached by `from jax._src.api import grad`)
    saved = [(where, name, getattr(where, name)) for where in (jax, api) for name in AUTODIFF
             if hasattr(where, name)]  # fmt: skip
    for where, name, _ in saved:
        setattr(where, name, _refuse(name))
    try:
        yield
    finally:
        for where, name, value in saved:
            setattr(where, name, value)


def _failure(failure) -> tuple[bytes, bytes]:
    return b"F", json.dumps({"kind": failure.kind, "message": failure.message}).encode()


def _describe_raise(error: BaseException, exercise, path) -> tuple[bytes, bytes]:
    from jaxdl.exercises.judge import _describe, _Failure, _where

    where = _where(error, path)
    if isinstance(error, AutodiffRefused):
        return _failure(_Failure("autodiff", f"{error}{where}"))
    if isinstance(error, NotImplementedError):
        return _failure(
            _Failure(
                "not-written",
                f"{exercise.function} is not written yet: replace 'raise NotImplementedError' "
                f"with your code{where}",
            )
        )
    return _failure(_Failure("raised", f"{exercise.function} raised {_describe(error)}{where}"))


def serve(requests: int, replies: int) -> None:
    """Answer the trusted process until it closes ``requests``."""
    from pathlib import Path

    import jax
    import numpy as np

    from jaxdl.exercises import get
    from jaxdl.exercises.judge import _Failure, load, receive, send

    jax.config.update("jax_enable_x64", True)
    function = exercise = path = None
    while True:
        try:
            kind, payload = receive(requests, None)
        except EOFError:
            return
        if kind == b"L":
            request = json.loads(payload)
            path, exercise = Path(request["path"]), get(request["name"])
            sys.path.insert(0, str(path.resolve().parent))  # the learner may import a helper
            try:
                with _no_autodiff():
                    function = load(path, exercise)
            except _Failure as failure:
                send(replies, *_failure(failure))
                continue
            except AutodiffRefused as error:
                send(replies, *_failure(_Failure("autodiff", str(error))))
                continue
            send(replies, b"R", b"")
        elif kind in (b"C", b"B"):
            with np.load(io.BytesIO(payload), allow_pickle=False) as npz:
                arrays = {key: npz[key] for key in npz.files}
            structure = json.loads(arrays.pop("structure").tobytes() or b"null")
            if kind == b"C":
                send(replies, *_answer(exercise, function, path, structure, arrays))
                continue
            count = int(arrays.pop("count"))  # a batch: "i_j", leaf j of input i
            meta, answers = [], {}
            for i in range(count):
                leaves = {f"arr_{key.split('_')[1]}": v for key, v in arrays.items()
                          if key.split("_")[0] == str(i)}  # fmt: skip
                kind_i, reply = _answer(exercise, function, path, structure, leaves)
                if kind_i == b"F":
                    meta.append(json.loads(reply))
                    continue
                with np.load(io.BytesIO(reply), allow_pickle=False) as npz:
                    meta.append({"count": len(npz.files)})
                    answers |= {f"{i}_{key[4:]}": npz[key] for key in npz.files}
            buffer = io.BytesIO()
            meta_bytes = np.frombuffer(json.dumps(meta).encode(), np.uint8)
            np.savez(buffer, meta=meta_bytes, **answers)
            send(replies, b"Y", buffer.getvalue())


def _answer(exercise, function, path, structure, arrays: dict) -> tuple[bytes, bytes]:
    """The learner's answer to one input: ``(b"A", NPZ)`` or ``(b"F", JSON)``."""
    import jax
    import numpy as np

    from jaxdl.exercises.judge import _Failure, rebuild

    leaves = [arrays[f"arr_{i}"] for i in range(len(arrays))]
    try:
        inputs = rebuild(structure, iter(leaves))
    except (ValueError, KeyError, TypeError, StopIteration, ImportError, AttributeError) as e:
        return _failure(_Failure("bad-output", f"the grader sent inputs it cannot read: {e}"))
    try:
        with _no_autodiff(), contextlib.redirect_stdout(io.StringIO()):
            mine = exercise.call_learner(function, inputs)
    except BaseException as error:  # noqa: BLE001 - SystemExit too: it is the answer
        return _describe_raise(error, exercise, path)
    if mine is None:
        message = f"{exercise.function} returned None (a missing return?)"
        return _failure(_Failure("bad-output", message))
    try:
        got = [np.asarray(leaf) for leaf in jax.tree.leaves(mine)]
        buffer = io.BytesIO()
        np.savez(buffer, *got)
    except Exception as error:  # noqa: BLE001
        message = f"{exercise.function} returned something that is not arrays: {error}"
        return _failure(_Failure("bad-output", message[:300]))
    return b"A", buffer.getvalue()


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when the grading process ends (even by SIGKILL), so that a
    learner's endless loop never outlives its grade."""
    import ctypes
    import signal

    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent ended before the request took hold
        os._exit(1)


def main(argv: list[str]) -> int:
    requests, replies = (int(fd) for fd in argv)
    _die_with_parent()
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # the learner's prints (even from C) vanish
    from jaxdl import cache

    try:
        cache.enable()
    except ValueError:
        pass  # a bad JAXDL_COMPILATION_CACHE only costs compilation time here
    serve(requests, replies)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
