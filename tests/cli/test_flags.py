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


def test_run_dir_quoted_names_and_a_chapter_s_options_become_flags():
    parser = build_parser()
    train = argparse.Namespace(command="train")
    message = "run_dir '/r' already holds a run; pass resume=True or choose another run_dir"
    assert _in_flags(message, parser, train) == (
        "--out '/r' already holds a run; pass --resume or choose another --out"
    )
    assert _in_flags("process_id=3 must be in [0, `num_processes`)", parser, train) == (
        "--process-id 3 must be in [0, --num-processes)"
    )
    assert _in_flags("in /tmp/run_dir/x", parser, train) == "in /tmp/run_dir/x"  # a path
    transformer = argparse.Namespace(command="run", milestone="transformer")
    assert _in_flags("`prompt` needs sample=True", parser, transformer) == (
        "--prompt needs --sample"
    )
