import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jax.test_util import check_grads

from jaxdl import optim
from jaxdl.cli import main
from jaxdl.errors import DivergenceError
from jaxdl.milestones import least_squares as ls
from jaxdl.milestones import linear_regression as lr
from tests.strategies import finite_floats, float_arrays

N_POINTS = st.sampled_from([3, 7])


def _seed_step_gradient(b_current, m_current, points, learning_rate):
    # The seed's step_gradient, as printed.
    b_gradient = 0
    m_gradient = 0
    n = float(len(points))
    for x, y in points:
        b_gradient += -(2 / n) * (y - ((m_current * x) + b_current))
        m_gradient += -(2 / n) * x * (y - ((m_current * x) + b_current))
    return [b_current - learning_rate * b_gradient, m_current - learning_rate * m_gradient]


@given(data=st.data(), b=finite_floats(-5, 5), m=finite_floats(-5, 5))
def test_step_gradient_is_a_step_against_autodiff_gradient(data, b, m):
    points = jnp.asarray(data.draw(float_arrays((data.draw(N_POINTS), 2), -5, 5)))
    line = lr.step_gradient(lr.Line(jnp.float64(b), jnp.float64(m)), points, 0.01)
    d_b, d_m = jax.grad(ls.line_error, argnums=(0, 1))(b, m, points)
    np.testing.assert_allclose(line, [b - 0.01 * d_b, m - 0.01 * d_m], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        line, _seed_step_gradient(b, m, points.tolist(), 0.01), rtol=1e-10, atol=1e-12
    )


@given(data=st.data())
def test_sample_gradient_by_hand_equals_autodiff(data):
    theta, x = (jnp.asarray(data.draw(float_arrays((3,), -5, 5))) for _ in range(2))
    y = jnp.float64(data.draw(finite_floats(-5, 5)))
    hand = lr.sample_gradient(theta, x, y)
    np.testing.assert_allclose(hand, jax.grad(lr.sample_cost)(theta, x, y), rtol=1e-10, atol=1e-10)
    check_grads(lambda t: lr.sample_cost(t, x, y), (theta,), order=1, modes=["rev"])


def test_seed_hundred_steps():
    path = lr.fit(ls.WHEAT_AND_BREAD, start=(1, 1), learning_rate=0.01, steps=100)
    assert path.b.shape == path.m.shape == path.mse.shape == (101,)
    assert (float(path.b[0]), float(path.m[0])) == (1.0, 1.0)
    assert float(path.b[-1]) == pytest.approx(3.304462, abs=1e-6)
    assert float(path.m[-1]) == pytest.approx(2.966063, abs=1e-6)
    assert float(path.mse[-1]) == pytest.approx(0.11706, abs=1e-5)
    assert np.all(np.diff(np.asarray(path.mse)) < 0)  # the error falls at every step


def test_matches_the_seed_loop_step_by_step():
    path = lr.fit(ls.WHEAT_AND_BREAD, learning_rate=0.01, steps=20)
    b, m = 1.0, 1.0
    for i in range(1, 21):
        b, m = _seed_step_gradient(b, m, ls.WHEAT_AND_BREAD, 0.01)
        assert float(path.b[i]) == pytest.approx(b, rel=1e-13)
        assert float(path.m[i]) == pytest.approx(m, rel=1e-13)


def test_enough_steps_reach_least_squares():
    final = lr.fit(ls.WHEAT_AND_BREAD, learning_rate=0.01, steps=100_000).final
    best = ls.fit_line(ls.WHEAT_AND_BREAD)
    assert float(final.b) == pytest.approx(float(best.b), abs=1e-9)
    assert float(final.m) == pytest.approx(float(best.m), abs=1e-9)
    assert float(best.b) == pytest.approx(4.107299, abs=1e-6)


@pytest.mark.parametrize(
    "optimizer", [optim.gradient_descent(0.01), optax.sgd(0.01)], ids=["jaxdl", "optax"]
)
def test_optax_gives_the_same_trajectory(optimizer):
    hand = lr.fit(ls.WHEAT_AND_BREAD, learning_rate=0.01, steps=100)
    concise = lr.fit_with_optimizer(ls.WHEAT_AND_BREAD, optimizer, steps=100)
    for a, b in zip(hand, concise, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_fit_compiles_once_per_step_count():
    lr._fit_path.clear_cache()
    for rate in (0.01, 0.02, 0.03):
        lr.fit(ls.WHEAT_AND_BREAD, start=(rate, 1.0), learning_rate=rate, steps=50)
    assert lr._fit_path._cache_size() == 1


def test_seed_001_sgd_with_fixed_stopping_rule():
    result = lr.sgd_until_converged(ls.SEED_001_X, ls.SEED_001_Y, learning_rate=0.01, epsilon=1e-4)
    assert result.passes == 2608
    assert result.converged
    np.testing.assert_allclose(result.theta, [97.72, -13.22, 1.34], atol=5e-3)
    # Constant-step SGD stops near, not at, the least-squares optimum.
    best = ls.solve(ls.SEED_001_X, ls.SEED_001_Y)
    assert 0.1 < float(jnp.max(jnp.abs(result.theta - best))) < 0.5


def test_sgd_gives_up_at_the_pass_cap():
    result = lr.sgd_until_converged(ls.SEED_001_X, ls.SEED_001_Y, max_passes=100)
    assert result.passes == 100 and not result.converged


def test_gradient_descent_divergence_names_the_step():
    with pytest.raises(DivergenceError, match="rose above its starting value at step 1"):
        lr.fit(ls.WHEAT_AND_BREAD, learning_rate=1.0, steps=100)


def test_non_finite_divergence_names_the_step():
    # The start's error is finite (1e306) but the first step overflows it.
    with pytest.raises(DivergenceError, match="non-finite at step 1"):
        lr.fit(ls.WHEAT_AND_BREAD, start=(1e153, 0.0), learning_rate=10.0, steps=5)


def test_sgd_divergence_names_the_pass():
    with pytest.raises(DivergenceError, match="theta became non-finite at step 41"):
        lr.sgd_until_converged(ls.SEED_001_X, ls.SEED_001_Y, learning_rate=0.5)


@pytest.mark.parametrize(
    "kwargs", [dict(learning_rate=0.0), dict(learning_rate=float("inf")), dict(steps=0)]
)
def test_bad_settings(kwargs):
    settings = dict(learning_rate=0.01, steps=10) | kwargs
    with pytest.raises(ValueError):
        lr.fit(ls.WHEAT_AND_BREAD, **settings)


def test_bad_points():
    with pytest.raises(ValueError, match=r"points must have shape \[N, 2\]"):
        lr.fit([[1.0, 2.0, 3.0]], learning_rate=0.01, steps=10)
    with pytest.raises(ValueError, match="points must be finite"):
        lr.fit([[1.0, float("nan")]], learning_rate=0.01, steps=10)


def test_cli_json_and_plot(tmp_path, capsys):
    plot = tmp_path / "lr.png"
    assert main(["run", "linear-regression", "--json", "--plot", str(plot)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["config"] == {"steps": 100, "learning_rate": 0.01, "start_b": 1.0, "start_m": 1.0}
    result = out["result"]
    assert result["b"] == pytest.approx(3.304462, abs=1e-6)
    assert result["m"] == pytest.approx(2.966063, abs=1e-6)
    assert result["mse"] == pytest.approx(0.11706, abs=1e-5)
    assert result["least_squares"]["b"] == pytest.approx(4.107299, abs=1e-6)
    assert result["least_squares"]["m"] == pytest.approx(2.218978, abs=1e-6)
    assert result["seed_001_sgd"]["passes"] == 2608
    assert out["checks"] and all(c["passed"] for c in out["checks"])
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_options(capsys):
    assert main(["run", "linear-regression", "--json", "--steps", "3", "--lr", "0.02"]) == 0
    out = json.loads(capsys.readouterr().out)
    expected = lr.fit(ls.WHEAT_AND_BREAD, learning_rate=0.02, steps=3).final
    assert out["result"]["b"] == pytest.approx(float(expected.b), rel=1e-12)


@pytest.mark.parametrize("args", [["--lr", "0"], ["--steps", "-1"], ["--start-b", "inf"]])
def test_cli_bad_arguments_exit_2(args, capsys):
    assert main(["run", "linear-regression", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("jaxdl: error:") and err.count("\n") == 1


def test_cli_divergence_exit_1(capsys):
    assert main(["run", "linear-regression", "--lr", "1"]) == 1
    assert "diverged" in capsys.readouterr().err
