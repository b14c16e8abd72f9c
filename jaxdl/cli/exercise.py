"""``jaxdl exercise [NAME]`` and ``jaxdl grade FILE``: graded hand gradients.

``jaxdl exercise`` lists the exercises; ``jaxdl exercise NAME`` writes the stub of one (the
function's signature and docstring, an empty body) to ``<function>.py`` or ``--out PATH``, never
over an existing file unless ``--force``. ``jaxdl grade FILE`` judges the learner's function
(which runs in a subprocess that only answers with numbers) with a time limit (see
:mod:`jaxdl.exercises`): exit status 0 when it passes, 1
when it fails or cannot be judged (one line, never a traceback), 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from jaxdl import exercises
from jaxdl.cli.status import EXIT_FAILED, EXIT_OK
from jaxdl.validate import require_writable_file


def cmd_exercise(args: argparse.Namespace) -> int:
    if args.name is None:
        rows = [(e.name, e.chapter, f"{e.function}(...)") for e in _all()]
        width = max(len(r[0]) for r in rows)
        for name, chapter, function in rows:
            print(f"{name.ljust(width)}  {function}  (chapter: {chapter})")
        print("\njaxdl exercise NAME writes one; jaxdl grade FILE grades it")
        return EXIT_OK
    exercises.get(args.name)  # ValueError naming the known exercises
    path = args.out or exercises.default_path(args.name)
    if Path(path).exists() and not args.force:
        raise ValueError(f"{path} exists; pass --force to overwrite it, or --out PATH")
    require_writable_file("--out", path)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(exercises.stub(args.name, path=path))
    print(f"wrote {path}: write the body of {exercises.get(args.name).function}, then run")
    print(f"  jaxdl grade {path}")
    return EXIT_OK


def _all():
    return [exercises.get(name) for name in exercises.names()]


def cmd_grade(args: argparse.Namespace) -> int:
    if args.examples < 1 or args.examples > 10_000:
        raise ValueError(f"--examples must lie in [1, 10000], got {args.examples}")
    if not 0 < args.timeout <= 3600:
        raise ValueError(f"--timeout must lie in (0, 3600] seconds, got {args.timeout}")
    verdict = exercises.grade_file(
        args.file, exercise=args.exercise, examples=args.examples, timeout=args.timeout
    )
    if args.json:
        print(json.dumps(verdict.as_json()))
    else:
        print("\n".join(verdict.lines()))
    return EXIT_OK if verdict.passed else EXIT_FAILED


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``exercise`` and ``grade`` to the ``jaxdl`` parser's subcommands."""
    p = commands.add_parser("exercise", help="list the graded exercises, or write one")
    p.add_argument("name", nargs="?", metavar="NAME", help="the exercise (omit to list them)")
    p.add_argument("--out", metavar="PATH", help="where to write it (default: <function>.py)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(handler=cmd_exercise)

    p = commands.add_parser("grade", help="grade your hand gradient against jax.grad")
    p.add_argument("file", metavar="FILE", help="a file written by 'jaxdl exercise NAME'")
    p.add_argument("--exercise", metavar="NAME", help="the exercise, if FILE does not say")
    p.add_argument(
        "--examples",
        type=int,
        default=exercises.DEFAULT_EXAMPLES,
        help="inputs Hypothesis draws (default %(default)s)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=exercises.DEFAULT_TIMEOUT,
        help="seconds before the grade is stopped (default %(default)s)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=cmd_grade)
