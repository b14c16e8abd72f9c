"""The benchmarks import and check their arguments (deep_cnn_speed, zip_code, gpt_parity,
sampling_cache).

deep_cnn_speed: a full smoke run (batch 2, one step) costs two train-step compilations, about 20 s of CPU, so it
is left out of the suite: ``python benchmarks/deep_cnn_speed.py --batch-sizes 2 --steps 1``.
"""

import pytest

from tests.scripts import load_script


def test_benchmark_rejects_bad_sizes():
    with pytest.raises(SystemExit) as exit_info:
        load_script("benchmarks", "deep_cnn_speed").main(["--steps", "0"])
    assert exit_info.value.code == 2


def test_zip_code_benchmark_rejects_bad_sizes_before_any_work():
    # A smoke run (python benchmarks/zip_code.py --passes 1 --train-size 50 [--no-torch]) costs
    # a compilation of the 23-pass program; here only the argument check.
    for bad in (["--passes", "0"], ["--train-size", "0"]):
        with pytest.raises(SystemExit) as exit_info:
            load_script("benchmarks", "zip_code").main(bad)
        assert exit_info.value.code == 2


def test_gpt_parity_and_sampling_cache_reject_bad_arguments_before_any_work():
    # The parity run needs PyTorch (python benchmarks/gpt_parity.py, about a minute for its 20
    # steps); its arguments are checked before PyTorch is imported.
    for bad in (["--steps", "0"], ["--steps", "2001"], ["--plot"]):
        with pytest.raises(SystemExit) as exit_info:
            load_script("benchmarks", "gpt_parity").main(bad)
        assert exit_info.value.code == 2
    with pytest.raises(SystemExit) as exit_info:
        load_script("benchmarks", "sampling_cache").main(["--rounds", "0"])
    assert exit_info.value.code == 2
