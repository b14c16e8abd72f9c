import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from jax.test_util import check_grads

from jaxdl.cli import main
from jaxdl.errors import DivergenceError
from jaxdl.milestones import gradient_descent as gd
from tests.strategies import finite_floats


@given(x=finite_floats(-3, 3))
def test_hand_slope_equals_autodiff(x):
    assert float(gd.debye_slope(x)) == pytest.approx(
        float(jax.grad(gd.debye_error)(x)), rel=1e-12, abs=1e-12
    )
    check_grads(gd.debye_error, (jnp.float64(x),), order=1, modes=["rev"])


def test_seed_numbers():
    path = gd.descend(gd.debye_slope, 0.5, learning_rate=0.01, steps=60)
    assert path.shape == (61,)
    assert float(path[0]) == 0.5
    assert float(path[-1]) == pytest.approx(1.092837, abs=1e-6)


def test_converges_to_sqrt_six_fifths():
    path = gd.descend(gd.debye_slope, 0.5, learning_rate=0.01, steps=2000)
    assert float(path[-1]) == pytest.approx(math.sqrt(6 / 5), abs=1e-10)


def test_generic_minimize_matches_hand_slope():
    hand = gd.descend(gd.debye_slope, 0.5, learning_rate=0.01, steps=60)
    auto = gd.minimize(gd.debye_error, 0.5, learning_rate=0.01, steps=60)
    np.testing.assert_allclose(hand, auto, rtol=1e-12)


def test_minimize_a_vector_function():
    path = gd.minimize(
        lambda v: jnp.sum((v - 3.0) ** 2), jnp.zeros(3), learning_rate=0.1, steps=200
    )
    np.testing.assert_allclose(path[-1], 3.0, atol=1e-8)


def test_divergence_names_the_step():
    with pytest.raises(DivergenceError, match="step 6") as info:
        gd.descend(gd.debye_slope, 0.5, learning_rate=1.0, steps=60)
    assert info.value.step == 6


@pytest.mark.parametrize(
    "kwargs", [dict(learning_rate=0.0), dict(learning_rate=float("nan")), dict(steps=0)]
)
def test_bad_settings(kwargs):
    settings = dict(learning_rate=0.01, steps=60) | kwargs
    with pytest.raises(ValueError):
        gd.descend(gd.debye_slope, 0.5, **settings)


def test_cli_json_and_plot(tmp_path, capsys):
    plot = tmp_path / "gd.png"
    assert main(["run", "gradient-descent", "--json", "--plot", str(plot)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["milestone"] == "gradient-descent"
    assert out["config"] == {"start": 0.5, "learning_rate": 0.01, "steps": 60}
    assert out["result"]["x"] == pytest.approx(1.092837, abs=1e-6)
    assert out["checks"] and all(c["passed"] for c in out["checks"])
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args", [["--lr", "-1"], ["--lr", "nan"], ["--steps", "-5"]])
def test_cli_bad_arguments_exit_2(args, capsys):
    assert main(["run", "gradient-descent", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("jaxdl: error:") and err.count("\n") == 1


def test_cli_divergence_exit_1(capsys):
    assert main(["run", "gradient-descent", "--lr", "1"]) == 1
    assert "non-finite at step 6" in capsys.readouterr().err
