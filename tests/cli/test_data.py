"""``jaxdl data mnist``: counts, checksum status, the digit grid, and its failures."""

from __future__ import annotations

import functools
import gzip
import json

import numpy as np
import pytest
from matplotlib.image import imread

from jaxdl.cli import data as command
from jaxdl.cli import main
from jaxdl.data.idx import encode_idx
from jaxdl.data.mnist import FILES, mnist_with_checks
from tests.data.idxfiles import small_mnist_files, write_directory


def test_json_reports_counts_per_split_and_class(capsys):
    assert main(["data", "mnist", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["splits"]["train"]["count"] == 8000
    assert out["splits"]["test"]["per_class"] == [200] * 10
    assert out["splits"]["train"]["image_shape"] == [28, 28]
    assert out["all_verified"] and len(out["files"]) == 4
    assert {f["status"] for f in out["files"]} == {"verified"}


def test_table_and_show_writes_a_labelled_grid(capsys, tmp_path):
    path = tmp_path / "digits" / "grid.png"
    assert main(["data", "mnist", "--show", "12", str(path)]) == 0
    out = capsys.readouterr().out
    assert "train   8000  800" in out and "test    2000  200" in out
    assert out.count("verified") == 4 and f"digits written to {path}" in out
    image = imread(path)
    assert image.ndim == 3 and image.shape[1] > image.shape[0] > 100  # 2 rows of 10


def test_help_says_how_to_get_the_full_dataset(capsys):
    with pytest.raises(SystemExit) as info:
        main(["data", "mnist", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert "60000 / 10000" in text and "$JAXDL_DATA" in text and "CC BY-SA 3.0" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--show", "0", "x.png"], "--show N must be between 1 and 400, got 0"),
        (["--show", "many", "x.png"], "--show N must be an integer, got 'many'"),
        (["--source", "no/such/dir"], "'no/such/dir' is not a directory"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, argv, message):
    assert main(["data", "mnist", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_a_small_directory_loads_and_is_reported_as_not_official(capsys, tmp_path):
    # Was exit 2: "expected 60000 images, found 30".
    write_directory(tmp_path, small_mnist_files(), compress=True)
    assert main(["data", "mnist", "--source", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "train     30" in out and "official MNIST: no" in out


def test_full_size_files_that_differ_from_mnist_are_reported_not_refused(capsys, tmp_path):
    for split, count in (("train", 60000), ("test", 10000)):
        images = np.zeros((count, 28, 28), np.uint8)
        labels = (np.arange(count) % 10).astype(np.uint8)
        for kind, array in (("images", images), ("labels", labels)):
            path = tmp_path / (FILES[(split, kind)] + ".gz")
            path.write_bytes(gzip.compress(encode_idx(array), compresslevel=1))
    assert main(["data", "mnist", "--source", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["splits"]["train"]["per_class"] == [6000] * 10
    assert {f["status"] for f in out["files"]} == {"differs from published MNIST"}
    assert not out["all_verified"] and not out["official_mnist"]


def test_show_writes_exactly_the_path_given(capsys, tmp_path):
    path = tmp_path / "grid"  # no suffix: matplotlib used to append .png
    assert main(["data", "mnist", "--show", "3", str(path)]) == 0
    assert path.read_bytes()[:4] == b"\x89PNG" and not (tmp_path / "grid.png").exists()


@pytest.mark.parametrize(
    "target, message",
    [
        (lambda d: d, "is a directory; give a file path"),
        (lambda d: d / "d.png" if (d / "d.png").mkdir() is None else None, "is a directory"),
        (lambda d: d / "file" / "x.png" if (d / "file").write_text("x") else None,
         "which is a file"),
        (lambda d: "/proc/jaxdl-grid.png", "cannot write in '/proc'"),
    ],
    ids=["directory", "directory-named-png", "under-a-file", "read-only"],
)  # fmt: skip
def test_a_bad_show_path_is_refused_before_any_work(capsys, monkeypatch, tmp_path, target, message):
    def no_loading(*args, **kwargs):
        raise AssertionError("loaded data before checking the output path")

    monkeypatch.setattr(command, "mnist_with_checks", no_loading)
    assert main(["data", "mnist", "--show", "4", str(target(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_failed_download_exits_1_with_one_line(capsys, monkeypatch, tmp_path, closed_port_url):
    patched = functools.partial(mnist_with_checks, mirrors=[closed_port_url], cache_dir=tmp_path)
    monkeypatch.setattr(command, "mnist_with_checks", patched)
    assert main(["data", "mnist", "--source", "download"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "could not get train-images-idx3-ubyte.gz" in err
    assert closed_port_url in err and "by hand" in err
