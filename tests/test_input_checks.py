"""Inputs that once trained silently or crashed: each now a clear error, nothing lost, nothing
silently wrong (fit's data checks, gzip bombs, a full disk, output paths, empty gradient checks,
booleans, one writer per run directory)."""

from __future__ import annotations

import errno
import gzip
import os
import re
import signal
import struct
import subprocess
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.cli import main
from jaxdl.data import idx
from jaxdl.gradcheck import check_gradient
from jaxdl.training import checkpoints as ckpt
from jaxdl.training import loop, rundir
from jaxdl.validate import require_writable_file
from tests.data.idxfiles import small_mnist_files, write_directory

ROOT = Path(__file__).resolve().parents[1]


# --- fit's data checks ------------------------------------------------------------------------


def images(n=8, dtype=np.float32):
    return np.random.default_rng(0).random((n, 4, 4, 1)).astype(dtype)


@pytest.mark.parametrize(
    "data, message",
    [
        ((images() * 255).round(), "the uint8 0..255 scale"),
        ((images(), np.array([0, 1, 2, 2**32 + 3, 0, 1, 2, 0], np.int64)), "beyond int32"),
        ((images(), np.array([0, 1, -(2**32) + 7, 0, 1, 2, 0, 1], np.int64)), "beyond int32"),
    ],
    ids=["float-images-0..255", "label-2**32+3", "label--2**32+7"],
)
def test_fit_refuses_data_it_would_train_on_wrongly(data, message):
    if isinstance(data, np.ndarray):
        data = (data, np.zeros(8, np.int32))
    with pytest.raises(ValueError, match=message):
        loop._check_data("training", data)


def test_fit_takes_bfloat16_images():
    batch = loop._check_data("training", (jnp.asarray(images(), jnp.bfloat16), np.zeros(8, int)))
    assert batch.images.dtype == jnp.float32 and batch.labels.dtype == jnp.int32


def test_a_numpy_float32_learning_rate_is_a_learning_rate():
    from jaxdl.milestones import tabular_mlp
    from jaxdl.training import Recipe

    assert Recipe(learning_rate=np.float32(0.01)).learning_rate == np.float32(0.01)
    assert tabular_mlp.Config(learning_rate=np.float32(0.01))


def test_a_boolean_setting_refuses_a_string():
    from jaxdl.milestones import tabular_mlp

    with pytest.raises(ValueError, match="standardize must be True or False, got 'no'"):
        tabular_mlp.Config(standardize="no")


# --- gradient checks --------------------------------------------------------------------------


@pytest.mark.parametrize("params", [{}, None, [], np.zeros((0,))])
def test_a_gradient_check_of_nothing_does_not_pass(params):
    with pytest.raises(ValueError, match="no parameters to check"):
        check_gradient("nothing", lambda p: 0.0, lambda p: p, params)


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
def test_half_precision_parameters_pass_a_correct_gradient(dtype):
    x = jnp.linspace(-1, 1, 5, dtype=dtype)
    check = check_gradient(
        "sin^2", lambda p: jnp.sum(jnp.sin(p) ** 2), lambda p: 2 * jnp.sin(p) * jnp.cos(p), x
    )
    assert check.passed, check


# --- IDX files: gzip bombs --------------------------------------------------------------------

GOOD = idx.encode_idx((np.arange(30 * 28 * 28) % 256).astype(np.uint8).reshape(30, 28, 28))
BOMB = gzip.compress(bytes(100_000_000), compresslevel=9)  # 100 MB of zeros in ~100 kB


@pytest.mark.parametrize(
    "data, message",
    [
        (gzip.compress(GOOD) + BOMB, "trailing bytes"),  # a valid member, then the bomb
        (gzip.compress(GOOD + bytes(20_000_000)), "trailing bytes"),  # one member
        (gzip.compress(struct.pack(">HBB3I", 0, 8, 3, 2_000_000, 28, 28)) + BOMB,
         "more than the 1,073,741,824 jaxdl reads"),  # a header that claims 1.5 GB
    ],
    ids=["second-member", "one-member", "huge-header"],
)  # fmt: skip
def test_a_gzip_bomb_is_refused_without_being_expanded(data, message, monkeypatch):
    expanded = []
    real = idx.zlib.decompressobj

    class Counting:
        def __init__(self, *args):
            self.inner = real(*args)

        def decompress(self, data, max_length=0):
            out = self.inner.decompress(data, max_length)
            expanded.append(len(out))
            return out

        def __getattr__(self, name):
            return getattr(self.inner, name)

    monkeypatch.setattr(idx.zlib, "decompressobj", Counting)
    with pytest.raises(idx.MnistDataError, match=message):
        idx.parse_idx(idx.decompress(data, name="bomb.gz"), name="bomb.gz", magic=2051)
    assert sum(expanded) <= len(GOOD) + 2 * 1024


def test_gzip_members_and_small_files_still_read():
    assert idx.decompress(gzip.compress(GOOD[:100]) + gzip.compress(GOOD[100:]), name="m") == GOOD
    labels = idx.encode_idx(np.arange(5, dtype=np.uint8))
    assert idx.decompress(gzip.compress(labels), name="l") == labels
    with pytest.raises(idx.MnistDataError, match="corrupt or truncated"):
        idx.decompress(gzip.compress(GOOD)[:-10], name="t")


# --- output paths -----------------------------------------------------------------------------


def test_plot_paths_that_cannot_be_a_file_are_refused_first(tmp_path):
    (tmp_path / "dangling").symlink_to(tmp_path / "no" / "such" / "target.png")
    for path, message in [
        (f"{tmp_path}/newdir/", "is a directory"),
        (str(tmp_path / "dangling"), "is a symbolic link to"),
        ("/dev/full", "is not a regular file"),
    ]:
        with pytest.raises(ValueError, match=message):
            require_writable_file("--plot", path)


def test_a_pdf_path_gets_a_pdf(tmp_path):
    from jaxdl.plotting import new_figure, save_figure

    fig, _ = new_figure()
    save_figure(fig, tmp_path / "x.pdf")
    save_figure(fig, tmp_path / "x.svg")
    save_figure(fig, tmp_path / "x")
    assert (tmp_path / "x.pdf").read_bytes()[:5] == b"%PDF-"
    assert b"<svg" in (tmp_path / "x.svg").read_bytes()[:500]
    assert (tmp_path / "x").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- run directories --------------------------------------------------------------------------


def test_a_full_disk_during_a_save_is_one_error_and_leaves_no_partial(tmp_path, monkeypatch):
    saves = ckpt.Checkpoints(tmp_path)
    state = {"w": np.ones(3)}
    saves.save(1, state, state, {"epoch": 1})

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ckpt, "_write", full)
    with pytest.raises(OSError) as info:
        saves.save(2, state, state, {"epoch": 2})
    message = str(info.value)
    assert "\n" not in message and "cannot save the checkpoint of epoch 2" in message
    assert "No space left on device" in message and "epoch 1 is kept" in message
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["1"]


def run_cli(argv, capsys):
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_resume_of_a_directory_with_no_run_is_refused(tmp_path, capsys):
    status, _, err = run_cli(["train", "mlp", "--resume", "--out", str(tmp_path / "typo")], capsys)
    assert status == 2 and "holds no run to continue" in err and err.count("\n") == 1
    assert not (tmp_path / "typo").exists()


def test_resume_with_fewer_epochs_than_the_run_finished_is_refused(tmp_path, capsys):
    for epoch in ("2", "3"):
        (tmp_path / "checkpoints" / epoch).mkdir(parents=True)
    status, _, err = run_cli(
        ["train", "mlp", "--epochs", "1", "--resume", "--out", str(tmp_path)], capsys
    )
    assert status == 2 and "has already trained 3 epochs, more than --epochs 1" in err


def test_out_is_created_only_after_the_data_is_checked(tmp_path, capsys):
    data = write_directory(tmp_path / "idx", small_mnist_files(), compress=False)
    path = data / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    out = tmp_path / "run"
    status, _, err = run_cli(["train", "mlp", "--data", str(data), "--out", str(out)], capsys)
    assert status == 2 and "truncated" in err
    assert not out.exists()


HOLD = """
import sys
from jaxdl.training import rundir
rundir.acquire(sys.argv[1])
print("locked", flush=True)
sys.stdin.read()
"""


def test_the_lock_names_its_holder_and_dies_with_it(tmp_path):
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)], cwd=ROOT, text=True,
        env=os.environ | {"PYTHONPATH": str(ROOT)}, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert child.stdout.readline() == "locked\n"
        with pytest.raises(rundir.RunDirBusy, match=f"is in use by process {child.pid} on "):
            rundir.acquire(tmp_path)
        with pytest.raises(rundir.RunDirBusy):
            rundir.prepare(tmp_path, resume=False)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    # killed, it left its lock file but no lock
    assert (tmp_path / rundir.LOCK_FILE).exists()
    rundir.prepare(tmp_path, resume=False)
    assert rundir.holds(tmp_path)
    rundir.prepare(tmp_path, resume=False)  # this process holds it already: no refusal
    rundir.release(tmp_path)
    assert not rundir.holds(tmp_path)


# --- lstm --csv ---------------------------------------------------------------------------------


def test_a_csv_that_would_block_mislead_or_overflow_is_refused(tmp_path, monkeypatch):
    from jaxdl.data import text

    os.mkfifo(tmp_path / "fifo.csv")
    (tmp_path / "twice.csv").write_text("text,label,label\ngood,1,0\nbad,0,1\n")
    (tmp_path / "one.csv").write_text("text,label\ngood,1\nfine,1\n")
    (tmp_path / "rows.csv").write_text("text,label\n" + "good,1\nbad,0\n" * 3)
    monkeypatch.setattr(text, "MAX_CSV_ROWS", 5)
    for name, message in [
        ("fifo.csv", "is not a regular file (a FIFO"),
        ("twice.csv", "'label' 2 times"),
        ("one.csv", "all 2 labels are 1; a classifier of one class learns nothing"),
        ("rows.csv", "more than 5 rows"),
    ]:
        with pytest.raises(ValueError, match=re.escape(message)):
            text.read_labelled_csv(tmp_path / name)


# --- FIFOs and empty paths: refused at once, before --out is made ----------------------------


def test_a_fifo_as_transformer_text_is_refused_at_once_and_out_is_not_made(tmp_path):
    fifo, out = tmp_path / "fifo", tmp_path / "run"
    os.mkfifo(fifo)
    argv = ["run", "transformer", "--text", str(fifo), "--out", str(out)]
    child = subprocess.run(
        [sys.executable, "-m", "jaxdl", *argv], cwd=ROOT, capture_output=True, text=True,
        env=os.environ | {"PYTHONPATH": str(ROOT)}, timeout=120,  # before: blocked for ever
    )  # fmt: skip
    assert child.returncode == 2, child.stderr
    assert child.stderr.count("\n") == 1 and "is a FIFO, not a regular file" in child.stderr
    assert not out.exists()


def test_empty_text_a_prompt_without_sample_and_a_fifo_out_are_refused_in_one_line(
    tmp_path, capsys
):
    fifo, out = tmp_path / "fifo", tmp_path / "run"
    os.mkfifo(fifo)
    cases = [
        (["run", "transformer", "--text", "", "--out", str(out)], "the path is empty"),
        (["run", "transformer", "--prompt", "ROMEO:"], "--prompt needs --sample"),
        (["exercise", "sigmoid", "--out", str(fifo), "--force"], "not a regular file (a FIFO)"),
    ]
    for argv, words in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1, err
    assert not out.exists()


def test_a_newton_step_or_an_initial_spread_beyond_its_ceiling_is_refused(capsys):
    for argv, words in [
        (["run", "zip-code", "--epsilon", "1e20"], "epsilon must be at most 1 "),
        (["run", "batch-norm", "--init-std", "1e20"], "init std must be at most 100 "),
    ]:
        assert main(argv) == 2, argv  # before: accepted
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1, err


def test_a_text_of_one_repeated_character_is_refused(tmp_path, capsys):
    text = tmp_path / "a.txt"
    text.write_text("a" * 5000)
    assert main(["run", "transformer", "--text", str(text)]) == 2  # before: a loss of 0
    err = capsys.readouterr().err
    assert "one character repeated" in err and err.count("\n") == 1


def test_a_subnormal_temperature_is_refused(capsys):
    assert main(["run", "transformer", "--sample", "--temperature", "1e-310"]) == 2
    err = capsys.readouterr().err
    assert "temperature must be at least 1e-06" in err and err.count("\n") == 1
