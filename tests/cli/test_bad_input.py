"""Bad input on the command line: exit status 2 (130 for Ctrl-C), one line on stderr, never a
traceback, and nothing computed or written first.

The cases are the issue's (118 tried as a new user would), one per class: bounds on sizes and
seeds, output paths, data files, options argparse refuses, interrupted training.
"""

import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from jaxdl.cli import main
from tests.data.idxfiles import small_mnist_files, write_directory

ROOT = Path(__file__).resolve().parents[2]


def _file(d):
    (d / "file").write_text("not a directory")
    return d / "file"


def _dir_named_png(d):
    (d / "d.png").mkdir()
    return d / "d.png"


def _latin1_csv(d):
    (d / "reviews.csv").write_bytes(b"text,label\ngood,1\ncaf\xe9,0\n")
    return d / "reviews.csv"


def _huge_png(d):
    from tests.milestones.test_image_filters import _png_header

    (d / "huge.img").write_bytes(_png_header(20000, 20000))
    return d / "huge.img"


def _truncated_idx(d):
    write_directory(d / "idx", small_mnist_files(), compress=False)
    path = d / "idx" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    return d / "idx"


# (argv with {tmp} placeholders or callables of the temporary directory, expected stderr text)
CASES = {
    "steps-too-large": (["run", "gradient-descent", "--steps", "100000000000"],
                        "steps must be an integer between 1 and 10000000"),
    "steps-beyond-int64": (["run", "linear-regression", "--steps", "99999999999999999999"],
                           "steps must be an integer between 1 and 10000000"),
    "seed-beyond-64-bits": (["run", "perceptron", "--seed", str(2**70)],
                            "seed must be an integer between 0 and 4294967295"),
    "seeds-a-billion-networks": (["run", "backprop", "--seeds", "1000000000"],
                                 "seeds must be an integer between 0 and 10000"),
    "hidden-a-hundred-million": (["run", "elman-rnn", "--hidden", "100000000"],
                                 "hidden must be an integer between 1 and 4096"),
    "lstm-hidden": (["run", "lstm", "--hidden", "100000000"], "between 1 and 4096"),
    "unet-size": (["run", "unet", "--size", "100000"], "size must be an integer between 2"),
    "check-seed": (["check", "--seed", str(2**70)], "--seed must be an integer <= 4294967295"),
    "train-seed": (["train", "mlp", "--seed", str(2**70)], "between 0 and 4294967295"),
    "train-epochs-zero": (["train", "mlp", "--epochs", "0"], "between 1 and 100000"),
    "train-batch-huge": (["train", "mlp", "--batch-size", "10000000"], "between 1 and 65536"),
    "train-lr-nan": (["train", "mlp", "--lr", "nan"], "learning rate must be a finite number"),
    "not-an-integer": (["run", "gradient-descent", "--steps", "ten"], "invalid int value: 'ten'"),
    "unknown-chapter": (["run", "no-such-chapter"], "invalid choice: 'no-such-chapter'"),
    "unknown-option": (["run", "gradient-descent", "--stepz", "3"], "unrecognized arguments"),
    "plot-is-a-directory": (["run", "gradient-descent", "--plot", "{tmp}"], "is a directory"),
    "plot-directory-named-png": (["run", "gradient-descent", "--plot", _dir_named_png],
                                 "is a directory"),
    "plot-under-a-file": (["run", "gradient-descent", "--plot", lambda d: _file(d) / "x.png"],
                          "which is a file"),
    "plot-read-only": (["run", "gradient-descent", "--plot", "/proc/jaxdl.png"],
                       "cannot write in '/proc'"),
    "show-is-a-directory": (["data", "mnist", "--show", "4", "{tmp}"], "is a directory"),
    "train-out-under-a-file": (["train", "mlp", "--out", lambda d: _file(d) / "run"],
                               "is not writable"),
    "resume-without-out": (["train", "mlp", "--resume"], "--resume needs --out"),
    "source-missing": (["data", "mnist", "--source", "{tmp}/none"], "is not a directory"),
    "source-is-a-file": (["data", "mnist", "--source", _file], "is not a directory"),
    "source-truncated-idx": (["data", "mnist", "--source", _truncated_idx],
                             "truncated: header says shape (30, 28, 28)"),
    "train-data-truncated-idx": (["train", "mlp", "--data", _truncated_idx], "truncated"),
    "csv-is-a-directory": (["run", "lstm", "--csv", "{tmp}"], "is a directory"),
    "csv-not-utf8": (["run", "lstm", "--csv", _latin1_csv],
                     "reviews.csv line 3: not UTF-8 text (byte 0xe9"),
    "image-20000x20000": (["run", "image-filters", "--image", _huge_png],
                          "more than 4194304 pixels"),
    "image-is-a-directory": (["run", "image-filters", "--image", "{tmp}"], "is a directory"),
    "validation-fraction": (["train", "mlp", "--validation-fraction", "1.5"],
                            "validation_fraction"),
}  # fmt: skip


def _argv(argv, tmp_path):
    out = []
    for word in argv:
        if callable(word):
            word = str(word(tmp_path))
        out.append(word.replace("{tmp}", str(tmp_path)))
    return out


@pytest.mark.parametrize("argv, message", list(CASES.values()), ids=list(CASES))
def test_bad_input_exits_2_with_one_line_and_no_traceback(argv, message, tmp_path, capsys):
    try:
        status = main(_argv(argv, tmp_path))
    except SystemExit as stop:  # argparse's own refusals
        status = stop.code
    captured = capsys.readouterr()
    assert status == 2, captured
    assert "Traceback" not in captured.err
    lines = captured.err.splitlines()
    assert len(lines) == 1 and message in lines[0], lines
    assert lines[0].startswith("jaxdl")
    assert not [p for p in tmp_path.rglob("*.png") if p.is_file()]  # nothing plotted first


def test_a_real_process_prints_one_line_and_no_traceback():
    done = subprocess.run(
        [sys.executable, "-m", "jaxdl", "run", "backprop", "--seeds", "1000000000"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_ctrl_c_during_training_exits_130_with_one_line_saying_how_to_continue(tmp_path):
    run = tmp_path / "run"
    # Short epochs (800 training images), many of them: the signal lands while one runs.
    argv = ["train", "mlp", "--epochs", "50", "--validation-fraction", "0.9", "--out", str(run)]
    child = subprocess.Popen(
        [sys.executable, "-m", "jaxdl", *argv], cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=os.environ | {"PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        for line in child.stdout:  # wait, deterministically, for the end of epoch 1
            if line.startswith("epoch   1"):
                child.send_signal(signal.SIGINT)
                break
        status = child.wait(timeout=300)
    finally:
        child.kill()
    err = child.stderr.read()
    assert status == 130, err
    assert err.count("\n") == 1 and "Traceback" not in err
    found = re.fullmatch(
        r"jaxdl: interrupted in epoch (\d+); saved after epoch (\d+); "
        r"continue with `(.*)`\n",
        err,
    )
    assert found, err
    epoch, saved = int(found[1]), int(found[2])
    assert saved == epoch - 1 and (run / "checkpoints" / str(saved)).is_dir()
    command = shlex.split(found[3])
    assert command[:2] == ["jaxdl", "train"] and command[-3:] == ["--resume", "--out", str(run)]
