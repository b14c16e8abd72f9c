"""benchmarks/deep_cnn_speed.py imports and checks its arguments.

A full smoke run (batch 2, one step) costs two train-step compilations, about 20 s of CPU, so it
is left out of the suite: ``python benchmarks/deep_cnn_speed.py --batch-sizes 2 --steps 1``.
"""

import importlib.util
from pathlib import Path

import pytest


def _benchmark():
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "deep_cnn_speed.py"
    spec = importlib.util.spec_from_file_location("benchmarks_deep_cnn_speed", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_rejects_bad_sizes():
    with pytest.raises(SystemExit) as exit_info:
        _benchmark().main(["--steps", "0"])
    assert exit_info.value.code == 2
