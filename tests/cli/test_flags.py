"""Library errors name the argument (``devices=3``); the command speaks in its own flags."""

import argparse

from jaxdl.cli import _in_flags, build_parser


def test_argument_names_become_the_commands_flags():
    parser = build_parser()
    args = argparse.Namespace(command="train")
    message = "devices=3 asks for more; learning_rate=1e+38 may be too large; batch_size=36 ..."
    assert _in_flags(message, parser, args) == (
        "--devices 3 asks for more; --lr 1e+38 may be too large; --batch-size 36 ..."
    )
    assert _in_flags("resume=True needs a run directory", parser, args).startswith("--resume ")
    # Words that merely contain an argument's name are left alone.
    assert _in_flags("max_devices=2", parser, args) == "max_devices=2"
    assert _in_flags("devices=3", parser, None) == "devices=3"
