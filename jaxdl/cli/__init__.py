"""The ``jaxdl`` command: one parser, one subcommand module each.

- :mod:`~jaxdl.cli.run`: ``list``, ``run NAME``, ``check``, ``tour`` (the milestones).
- :mod:`~jaxdl.cli.train`: ``train MODEL`` (MNIST with checkpoints, metrics, resume).
- :mod:`~jaxdl.cli.data`: ``data mnist`` (what data is here and whether its bytes check out).
- :mod:`~jaxdl.cli.exercise`: ``exercise [NAME]``, ``grade FILE`` (graded hand gradients).
- :mod:`~jaxdl.cli.options`: frozen dataclasses become command-line options.

On start, :func:`jaxdl.cache.enable` turns on the persistent XLA compilation cache (moved or
turned off with ``JAXDL_COMPILATION_CACHE``), so a second run of a command skips compilation,
and :func:`jaxdl.host_devices.arrange` presents the CPU as one device per core (set with
``JAXDL_HOST_DEVICES``), so that a trainer whose step gains from it can split its batch.

Thin by design: options are parsed into frozen dataclasses and handed to library code. Bad input
exits with status 2 and one line (argparse's usage errors included); a failed check, a
divergence or a file that cannot be written mid-run (a full disk) with 1; Ctrl-C with 130,
SIGTERM with 143 and SIGHUP with 129, one line each, at any moment (see
:mod:`jaxdl.interrupts`). Never a traceback for any of these.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

from jaxdl import interrupts
from jaxdl.cli.status import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from jaxdl.errors import DivergenceError


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error reported in one line (its own usage block goes to --help)."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The ``jaxdl`` parser with every subcommand.

    Given the command line ``argv``, only the chapter that ``jaxdl run NAME`` names is imported
    for its options (``jaxdl list``, ``train``, ``data`` import none); without it, every
    chapter's options are built.
    """
    from jaxdl.cli import data, exercise, run, train

    parser = _Parser(
        prog="jaxdl",
        description="The history of deep learning as verified, jitted JAX code.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run.add_commands(commands, argv)
    data.add_parser(commands)
    train.add_train_command(commands)
    exercise.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the subcommand; returns the exit status.

    Called without ``argv`` (the ``jaxdl`` command, ``python -m jaxdl``), it owns the process:
    it handles SIGINT, SIGTERM and SIGHUP (:func:`jaxdl.interrupts.install`) and, after one of
    them, ends the process itself with ``128 + signal`` (:func:`jaxdl.interrupts.exit_now`).
    """
    own_process = argv is None
    if own_process:
        interrupts.install()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = args = None
        with interrupts.deferred():  # the imports of JAX and the chapters: never unwound halfway
            parser = build_parser(argv)
            args = parser.parse_args(argv)
            from jaxdl import cache, host_devices
        args.argv = argv
        if own_process:  # (a caller of main(argv) keeps the devices its process has)
            host_devices.arrange(multiprocess=_several_processes(args))  # before any computation
        cache.enable(notify=lambda note: print(f"jaxdl: {note}", file=sys.stderr))
        status = args.handler(args)
        interrupts.check()  # a signal whose raise was dropped somewhere: never a status of 0
        if own_process:
            interrupts.closing()  # one now, in the exit, ends the process with its status
        return status
    except ValueError as error:
        print(f"jaxdl: error: {_in_flags(str(error), parser, args)}", file=sys.stderr)
        return EXIT_USAGE
    except DivergenceError as error:
        print(f"jaxdl: {error}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as error:  # a full disk or a directory made read-only during the run
        print(f"jaxdl: error: {_os_error_line(error)}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt as stop:
        status = interrupts.status(EXIT_INTERRUPTED)
        print(f"jaxdl: {_interrupted_line(stop)}", file=sys.stderr, flush=True)
        if own_process:
            interrupts.exit_now(status)
        return status


def _several_processes(args: argparse.Namespace) -> bool:
    """Whether this command joins a run of several processes (``jaxdl train --coordinator``)."""
    from jaxdl.training import distributed

    given = (getattr(args, n, None) for n in ("coordinator", "num_processes", "process_id"))
    return distributed.requested(*given)


#: Library argument names whose option has another name (``run_dir`` is ``--out``).
_ALIASES = {"run_dir": "out"}


def _in_flags(message: str, parser: argparse.ArgumentParser, args) -> str:
    """``message`` with the library's argument names as this command's options: the library
    names what it was given, the command its flags.

    ``batch_size=64`` becomes ``--batch-size 64``, ``resume=True`` ``--resume``, a quoted
    ```prompt``` ``--prompt``, and ``run_dir``, the library's name of ``--out``, that option.
    """
    import re

    command = _innermost(parser, args)
    if command is parser:
        return message
    for action in command._actions:
        flags = [o for o in action.option_strings if o.startswith("--")]
        if not flags or action.dest == "help":
            continue
        names = [action.dest, *(k for k, v in _ALIASES.items() if v == action.dest)]
        for name in names:
            message = re.sub(rf"(?<![\w-]){name}=True\b", flags[0], message)
            message = re.sub(rf"(?<![\w-]){name}=", flags[0] + " ", message)
            message = message.replace(f"`{name}`", flags[0])
            if name in _ALIASES:  # no word of prose: safe to translate where it stands alone
                message = re.sub(rf"(?<![\w/.-]){name}(?![\w/.-])", flags[0], message)
    return message


def _innermost(parser: argparse.ArgumentParser, args) -> argparse.ArgumentParser:
    """The (sub)command parser ``args`` went through last (``jaxdl run transformer``'s)."""
    while True:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        name = getattr(args, subs[0].dest, None) if subs else None
        if name not in (subs[0].choices if subs else {}):
            return parser
        parser = subs[0].choices[name]


def _interrupted_line(stop: KeyboardInterrupt) -> str:
    """``interrupted`` (Ctrl-C) or ``stopped by SIGTERM``, and what the command said it saved."""
    received = interrupts.received()
    what = "interrupted" if received in (None, signal.SIGINT) else interrupts.Interrupted(received)
    detail = getattr(stop, "line", None)
    return f"{what} {detail}" if detail else str(what)


def _os_error_line(error: OSError) -> str:
    where = f" {error.filename!r}" if error.filename else ""
    return f"{error.strerror or error}{where}" if error.strerror else str(error)


__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]
