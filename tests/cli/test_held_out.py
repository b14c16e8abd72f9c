"""The held-out check: an 8000/2000 IDX set written here (the embedded sample, a subset of MNIST)
goes through ``jaxdl data mnist --source DIR`` and ``jaxdl train deep-cnn --data DIR``."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jaxdl.cli import main
from jaxdl.data import mnist
from jaxdl.data.mnist import FILES
from tests.data.idxfiles import write_idx

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def subset_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("mnist-subset")
    for split in ("train", "test"):
        data = mnist(split)  # 8000 / 2000 real digits
        write_idx(directory / (FILES[(split, "images")] + ".gz"), data.images, compress=True)
        write_idx(directory / FILES[(split, "labels")], data.labels, compress=False)
    return directory


def test_data_mnist_accepts_an_8000_2000_set_and_says_it_is_not_the_official_files(subset_dir):
    done = subprocess.run(
        [sys.executable, "-m", "jaxdl", "data", "mnist", "--source", str(subset_dir), "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    out = json.loads(done.stdout)
    assert out["splits"]["train"]["count"] == 8000 and out["splits"]["test"]["count"] == 2000
    assert out["splits"]["test"]["per_class"] == [200] * 10
    assert out["official_mnist"] is False


def test_train_deep_cnn_on_an_8000_2000_set(subset_dir, tmp_path, capsys):
    # One short epoch: 800 training images (validation fraction 0.9), scored on all 2000.
    argv = ["train", "deep-cnn", "--data", str(subset_dir), "--epochs", "1",
            "--validation-fraction", "0.9", "--out", str(tmp_path / "run"), "--json"]  # fmt: skip
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)["result"]
    assert result["examples"] == {"train": 800, "validation": 7200, "test": 2000}
    assert 0.1 < result["test_accuracy"] <= 1.0 and np.isfinite(result["test_loss"])
