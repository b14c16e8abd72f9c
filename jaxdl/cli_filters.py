"""``jaxdl filters [--image PATH] --out PNG``: the filter grid (original, then each kernel).

A thin command over :mod:`jaxdl.milestones.filters`: options become its ``Config``; bad input
(a missing or unreadable image, a wrong shape) raises ``ValueError``, which ``jaxdl`` turns into
one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json

from jaxdl.config import add_config_arguments, config_from_args


def cmd_filters(args: argparse.Namespace) -> int:
    from jaxdl.milestones import filters as chapter
    from jaxdl.plotting import save_figure

    config = config_from_args(chapter.Config, args)
    report = chapter.run(config)
    save_figure(chapter.plot(report), args.out)
    if args.json:
        print(json.dumps(report.as_json() | {"out": args.out}))
    else:
        print(f"image-filters: {report.headline}")
        for name, (low, high) in report.result["response_range"].items():
            print(f"  {name:>13}: response in [{low:+.3f}, {high:+.3f}]")
        print(f"grid written to {args.out}")
    return 0


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register the ``filters`` subcommand on ``jaxdl``'s subparsers."""
    from jaxdl.milestones import filters as chapter

    p = commands.add_parser(
        "filters", help="filter MNIST digits or an image with classic convolution kernels"
    )
    add_config_arguments(p, chapter.Config)
    p.add_argument("--out", required=True, metavar="PNG", help="where to write the grid (PNG)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=cmd_filters)
