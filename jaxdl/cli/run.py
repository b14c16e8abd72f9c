"""``jaxdl list | run | check | tour``: the milestones from the command line.

Each chapter's frozen ``Config`` becomes the options of ``jaxdl run NAME`` (see
:mod:`jaxdl.cli.options`). The classic chapters reproduce NumPy float64 programs digit for
digit, so these commands switch JAX to float64; ``jaxdl train`` stays in float32.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence

from jaxdl import milestones
from jaxdl.cli.options import add_config_arguments, config_from_args
from jaxdl.cli.status import EXIT_FAILED, EXIT_OK
from jaxdl.report import strict_json
from jaxdl.validate import SEED, require_int, require_writable_file


def _chapters() -> list[tuple[milestones.Milestone, object]]:
    return [(m, m.load()) for m in milestones.MILESTONES]


def _print_table(rows: list[Sequence[object]], header: Sequence[str]) -> None:
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for i, row in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))


def _format_value(value: object) -> str:
    from jaxdl.report import to_jsonable

    value = to_jsonable(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        flat = json.dumps(value)
        return flat if len(flat) <= 100 else flat[:97] + "..."
    if isinstance(value, dict):
        return ", ".join(f"{k}={_format_value(v)}" for k, v in value.items())
    return str(value)


def _check_rows(checks) -> list[list[object]]:
    return [
        [
            c.name,
            f"{c.autodiff_error:.2e}",
            f"{c.finite_difference_error:.2e}",
            "ok" if c.passed else f"FAILED{': ' + c.problem if c.problem else ''}",
        ]
        for c in checks
    ]


CHECK_HEADER = ("gradient check", "vs jax.grad", "vs finite diff", "")


def cmd_list(args: argparse.Namespace) -> int:
    rows = [[m.name, m.year, m.people, m.summary] for m in milestones.MILESTONES]
    if args.json:
        keys = ("name", "year", "people", "summary")
        print(strict_json([dict(zip(keys, row, strict=True)) for row in rows]))
    else:
        _print_table(rows, ("milestone", "year", "people", "what it shows"))
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    module = args.module
    config = config_from_args(module.Config, args)
    if args.plot:
        require_writable_file("--plot", args.plot)
    report = module.run(config)
    if args.plot:
        from jaxdl.plotting import save_figure

        save_figure(module.plot(report), args.plot)
    if args.json:
        print(strict_json(report.as_json()))
    else:
        print(f"{report.milestone}: {report.headline}")
        for key, value in report.result.items():
            print(f"  {key}: {_format_value(value)}")
        if report.checks:
            print()
            _print_table(_check_rows(report.checks), CHECK_HEADER)
        if args.plot:
            print(f"\nplot written to {args.plot}")
    return EXIT_OK if report.checks_passed else EXIT_FAILED


def cmd_check(args: argparse.Namespace) -> int:
    low, high = SEED
    require_int("--seed", args.seed, minimum=low, maximum=high)
    checks = milestones.all_gradient_checks(seed=args.seed)
    passed = all(c.passed for c in checks)
    if args.json:
        print(strict_json({"passed": passed, "checks": [c.as_dict() for c in checks]}))
    else:
        _print_table(_check_rows(checks), CHECK_HEADER)
        failed = sum(not c.passed for c in checks)
        print(f"\n{len(checks) - failed} passed, {failed} failed")
    return EXIT_OK if passed else EXIT_FAILED


def _checked(report) -> str:
    """The tour's word on a run's hand gradients: those it checked itself, or, for a chapter
    whose rules are its ops' (checked once per op), where they are checked."""
    if not report.checks_passed:
        return "FAILED"
    if not report.checks:
        return "its ops': jaxdl check"
    return f"{len(report.checks)} checked, ok"


def cmd_tour(args: argparse.Namespace) -> int:
    plots = _plot_directory(args.plots)
    rows, reports = [], []
    for milestone, module in _chapters():
        start = time.perf_counter()
        report = module.run(module.Config())
        seconds = time.perf_counter() - start
        reports.append(report)
        if plots is not None:
            from jaxdl.plotting import save_figure

            save_figure(module.plot(report), plots / f"{module.__name__.rsplit('.', 1)[1]}.png")
        rows.append(
            [milestone.name, milestone.year, report.headline, _checked(report), f"{seconds:.1f}"]
        )
        if not args.json:
            print(f"[{milestone.year}] {milestone.name}: {report.headline}", flush=True)
    if args.json:
        print(strict_json([r.as_json() for r in reports]))
    else:
        print()
        _print_table(rows, ("milestone", "year", "headline", "hand gradients", "seconds"))
    return EXIT_OK if all(r.checks_passed for r in reports) else EXIT_FAILED


def _plot_directory(path: str | None):
    """The directory for the tour's figures, created and proven writable before any run."""
    if path is None:
        return None
    from jaxdl.validate import writable_directory

    return writable_directory(path, option="--plots")


def _float64(handler):
    """Run ``handler`` with JAX in float64, as the NumPy originals computed."""

    def wrapped(args: argparse.Namespace) -> int:
        import jax

        jax.config.update("jax_enable_x64", True)
        return handler(args)

    return wrapped


def _run_options(sub: argparse.ArgumentParser, milestone: milestones.Milestone) -> None:
    """``jaxdl run NAME``'s options: the chapter's ``Config`` fields, ``--json`` and ``--plot``."""
    module = milestone.load()
    add_config_arguments(sub, module.Config)
    sub.add_argument("--json", action="store_true", help="print one JSON object")
    sub.add_argument(
        "--plot",
        metavar="PATH",
        help="write the milestone's figure (PNG; PDF or SVG for a .pdf or .svg path)",
    )
    sub.set_defaults(handler=_float64(cmd_run), module=module)


def add_commands(commands: argparse._SubParsersAction, argv: Sequence[str] | None = None) -> None:
    """Add ``list``, ``run``, ``check`` and ``tour`` to the ``jaxdl`` parser's subcommands.

    ``jaxdl run NAME`` gets the options of chapter ``NAME`` only, the one ``argv`` names (every
    chapter's when ``argv`` is ``None``): the other chapters are not imported.
    """
    argv = None if argv is None else list(argv)
    wanted = argv[1] if argv and len(argv) > 1 and argv[0] == "run" else None
    p = commands.add_parser("list", help="the milestones, oldest first")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(handler=cmd_list)

    p = commands.add_parser("run", help="run one milestone's experiment")
    names = p.add_subparsers(dest="milestone", required=True, metavar="MILESTONE")
    for milestone in milestones.MILESTONES:
        sub = names.add_parser(milestone.name, help=milestone.summary)
        if argv is None or milestone.name == wanted:
            _run_options(sub, milestone)

    p = commands.add_parser("check", help="every hand gradient vs jax.grad vs finite differences")
    p.add_argument("--seed", type=int, default=0, help="seed for the random points")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=_float64(cmd_check))

    p = commands.add_parser("tour", help="run every milestone with its defaults, in order")
    p.add_argument("--json", action="store_true", help="print a JSON list of reports")
    p.add_argument(
        "--plots", metavar="DIR", help="also write each chapter's figure to DIR/<chapter>.png"
    )
    p.set_defaults(handler=_float64(cmd_tour))
