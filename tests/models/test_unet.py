import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.cli import main
from jaxdl.milestones import unet as milestone
from jaxdl.models import unet
from tests.scripts import load_script

ROOT = Path(__file__).resolve().parents[2]

# The CLI test and the demo test share one real run (training twice is the slow part).
_real_run, _runs = milestone.run, {}


def _shared_run(config):
    if config not in _runs:
        _runs[config] = _real_run(config)
    return _runs[config]


def test_shapes_and_float32_under_x64():
    graphdef, state = unet.init(jax.random.key(0))
    x = jnp.zeros((2, 8, 8, 1), jnp.float32)
    logits, features = unet.apply(graphdef, state, x)
    assert logits.shape == (2, 8, 8, 1) and features.shape == (2, 8, 8, 8)
    assert logits.dtype == jnp.float32
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(state))


@pytest.mark.parametrize("shape", [(2, 7, 8, 1), (2, 8, 8, 2), (8, 8, 1)])
def test_bad_input_shape(shape):
    graphdef, state = unet.init(jax.random.key(0))
    with pytest.raises(ValueError, match="U-Net input must have shape"):
        unet.apply(graphdef, state, jnp.zeros(shape, jnp.float32))


def test_bad_width():
    with pytest.raises(ValueError, match="base must be a positive integer"):
        unet.UNet(rngs=__import__("flax").nnx.Rngs(0), base=0)


def test_synthetic_task_is_symmetric_with_nan_labels():
    x, y, target = milestone.symmetric_task(
        key=jax.random.key(0), batch=4, size=8, noise=0.5, missing=0.3
    )
    assert x.shape == y.shape == target.shape == (4, 8, 8, 1) and x.dtype == jnp.float32
    np.testing.assert_array_equal(target, jnp.swapaxes(target, 1, 2))
    assert not np.array_equal(x, jnp.swapaxes(x, 1, 2))  # the noise is not symmetric
    nan = np.isnan(np.asarray(y))
    assert 0.1 < nan.mean() < 0.5
    np.testing.assert_array_equal(np.asarray(y)[~nan], np.asarray(target)[~nan])


def test_penalty_makes_the_output_more_symmetric(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(milestone, "run", _shared_run)
    plot = tmp_path / "unet.png"
    assert main(["run", "unet", "--json", "--plot", str(plot)]) == 0
    out = json.loads(capsys.readouterr().out)
    r = out["result"]
    without, with_ = r["without_penalty"], r["with_penalty"]
    assert with_["output_symmetry_error"] < 0.5 * without["output_symmetry_error"]
    assert with_["feature_symmetry_error"] < 0.1 * without["feature_symmetry_error"]
    assert with_["pixel_accuracy"] > 0.8 and without["pixel_accuracy"] > 0.8
    assert out["checks"] and all(c["passed"] for c in out["checks"])
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_demo_prints_both_runs(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(milestone, "run", _shared_run)
    demo = load_script("demos", "unet")
    demo.main(["--plot", str(tmp_path / "demo.png")])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("without penalty: output symmetry error")
    assert lines[1].startswith("with penalty: output symmetry error")
    errors = [float(line.split("error ")[1].split(",")[0]) for line in lines[:2]]
    assert errors[1] < errors[0]
    assert lines[2].startswith("plot written to") and (tmp_path / "demo.png").exists()


@pytest.mark.parametrize(
    "args", [["--size", "15"], ["--alpha", "-1"], ["--missing", "1.0"], ["--noise", "nan"]]
)
def test_cli_bad_config_exit_2(args, capsys):
    assert main(["run", "unet", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("jaxdl: error:") and err.count("\n") == 1
