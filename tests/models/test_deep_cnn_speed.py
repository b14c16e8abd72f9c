"""Smoke test of benchmarks/deep_cnn_speed.py at minimal sizes (the real run is not a test)."""

import importlib.util
from pathlib import Path

import pytest


def _benchmark():
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "deep_cnn_speed.py"
    spec = importlib.util.spec_from_file_location("benchmarks_deep_cnn_speed", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_smoke(capsys):
    results = _benchmark().main(["--batch-sizes", "2", "--steps", "1", "--no-torch"])
    assert set(results) == {2} and set(results[2]) == {"jaxdl", "flax"}
    assert all(rate > 0 for rate in results[2].values())
    out = capsys.readouterr().out
    assert "jaxdl / flax" in out and "compile" in out


def test_benchmark_rejects_bad_sizes():
    with pytest.raises(SystemExit) as exit_info:
        _benchmark().main(["--steps", "0"])
    assert exit_info.value.code == 2
