import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from jax.test_util import check_grads

from jaxdl.cli import main
from jaxdl.milestones import least_squares as ls
from tests.strategies import finite_floats, float_arrays

# A few fixed shapes, so that Hypothesis examples reuse compiled code.
N_POINTS = st.sampled_from([3, 7])
DESIGN_SHAPES = st.sampled_from([(4, 2), (9, 3)])


def _seed_loop(b, m, coordinates):
    # The seed's compute_error_for_line_given_points, verbatim in spirit.
    total = 0
    for x, y in coordinates:
        total += (y - (m * x + b)) ** 2
    return total / float(len(coordinates))


def test_seed_example_is_22():
    assert float(ls.line_error(1, 2, [[3, 6], [6, 9], [12, 18]])) == 22.0


@given(data=st.data(), b=finite_floats(-5, 5), m=finite_floats(-5, 5))
def test_line_error_matches_the_seed_loop(data, b, m):
    points = data.draw(float_arrays((data.draw(N_POINTS), 2), -5, 5))
    assert float(ls.line_error(b, m, points)) == pytest.approx(
        _seed_loop(b, m, points.tolist()), rel=1e-12, abs=1e-12
    )


@given(data=st.data(), b=finite_floats(-5, 5), m=finite_floats(-5, 5))
def test_line_gradient_by_hand_equals_autodiff(data, b, m):
    points = jnp.asarray(data.draw(float_arrays((data.draw(N_POINTS), 2), -5, 5)))
    hand = ls.line_error_grad(b, m, points)
    auto = jax.grad(ls.line_error, argnums=(0, 1))(b, m, points)
    np.testing.assert_allclose(hand, auto, rtol=1e-10, atol=1e-10)
    check_grads(
        lambda b, m: ls.line_error(b, m, points),
        (jnp.float64(b), jnp.float64(m)),
        order=1,
        modes=["rev"],
    )


@given(data=st.data())
def test_design_gradient_by_hand_equals_autodiff(data):
    n, f = data.draw(DESIGN_SHAPES)
    x = jnp.asarray(data.draw(float_arrays((n, f), -3, 3)))
    y = jnp.asarray(data.draw(float_arrays((n,), -3, 3)))
    theta = jnp.asarray(data.draw(float_arrays((f,), -3, 3)))
    hand = ls.design_mse_grad(theta, x, y)
    auto = jax.grad(ls.design_mse)(theta, x, y)
    np.testing.assert_allclose(hand, auto, rtol=1e-10, atol=1e-10)
    check_grads(lambda t: ls.design_mse(t, x, y), (theta,), order=1, modes=["rev"])


def _well_posed_design(data):
    n, f = data.draw(DESIGN_SHAPES)
    x = data.draw(float_arrays((n, f - 1), -3, 3))
    x = np.concatenate([np.ones((n, 1)), x], axis=1)  # intercept column, as in seed 001
    assume(np.linalg.cond(x) < 1e4)
    y = data.draw(float_arrays((n,), -10, 10))
    return jnp.asarray(x), jnp.asarray(y)


@given(data=st.data())
def test_gradient_vanishes_at_the_closed_form_solution(data):
    x, y = _well_posed_design(data)
    theta = ls.solve(x, y)
    grad = ls.design_mse_grad(theta, x, y)
    scale = 1 + 2 * float(jnp.max(jnp.abs(x).T @ jnp.abs(y))) / x.shape[0]
    assert float(jnp.max(jnp.abs(grad))) <= 1e-10 * scale


@given(data=st.data())
def test_no_perturbed_point_has_lower_error(data):
    x, y = _well_posed_design(data)
    theta = ls.solve(x, y)
    delta = jnp.asarray(data.draw(float_arrays((x.shape[1],), -1, 1)))
    assume(float(jnp.max(jnp.abs(delta))) > 1e-6)
    best = float(ls.design_mse(theta, x, y))
    other = float(ls.design_mse(theta + delta, x, y))
    # The increase is exactly delta^T X^T X delta / N > 0 for a full-rank X.
    expected = float(delta @ (x.T @ x) @ delta) / x.shape[0]
    assert other >= best
    assert other - best == pytest.approx(expected, rel=1e-6, abs=1e-9 * (1 + best))


@given(data=st.data())
def test_line_fit_agrees_with_design_solve_and_numpy(data):
    points = data.draw(float_arrays((data.draw(N_POINTS), 2), -5, 5))
    assume(np.ptp(points[:, 0]) > 0.1)
    line = ls.fit_line(points)
    design = np.stack([np.ones(len(points)), points[:, 0]], axis=1)
    reference, *_ = np.linalg.lstsq(design, points[:, 1], rcond=None)
    np.testing.assert_allclose([line.b, line.m], reference, rtol=1e-8, atol=1e-8)


def test_wheat_and_bread_line():
    line = ls.fit_line(ls.WHEAT_AND_BREAD)
    assert float(line.b) == pytest.approx(4.107299, abs=1e-6)
    assert float(line.m) == pytest.approx(2.218978, abs=1e-6)
    assert float(ls.line_error(line.b, line.m, ls.WHEAT_AND_BREAD)) == pytest.approx(
        0.034745, abs=1e-6
    )


def test_seed_001_multivariate_solution():
    theta = ls.solve(ls.SEED_001_X, ls.SEED_001_Y)
    np.testing.assert_allclose(theta, [98.104, -13.029, 1.133], atol=1e-3)


def test_rank_deficient_design_reports_its_rank():
    x = np.array(ls.SEED_001_X)
    dependent = np.concatenate([x, x[:, 1:2] + x[:, 2:3]], axis=1)  # 4th = x1 + x2
    with pytest.raises(ValueError, match=r"rank 3 < 4 columns"):
        ls.solve(dependent, ls.SEED_001_Y)


@pytest.mark.parametrize(
    "points", [[[2.0, 1.0], [2.0, 3.0], [2.0, 5.0]], [[1.0, 2.0]]], ids=["same-x", "one-point"]
)
def test_line_through_degenerate_points_is_refused(points):
    with pytest.raises(ValueError, match=r"cannot fit a unique line.*rank 1 < 2"):
        ls.fit_line(points)


@pytest.mark.parametrize(
    "points",
    [np.zeros((3, 3)), np.zeros((0, 2)), np.zeros(4)],
    ids=["three-columns", "empty", "flat"],
)
def test_points_of_wrong_shape(points):
    with pytest.raises(ValueError, match=r"points must have shape \[N, 2\]"):
        ls.line_error(1, 2, points)


def test_design_and_targets_of_different_lengths():
    with pytest.raises(ValueError, match=r"x of shape \(5, 3\) and y of shape \(4,\)"):
        ls.solve(ls.SEED_001_X, ls.SEED_001_Y[:4])


def test_theta_of_wrong_length():
    with pytest.raises(ValueError, match=r"theta must have shape"):
        ls.design_mse(jnp.zeros(2), ls.SEED_001_X, ls.SEED_001_Y)


def test_non_finite_data_is_refused():
    y = list(ls.SEED_001_Y)
    y[2] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        ls.solve(ls.SEED_001_X, y)


def test_cli_json_and_plot(tmp_path, capsys):
    plot = tmp_path / "ls.png"
    assert main(["run", "least-squares", "--json", "--plot", str(plot)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["milestone"] == "least-squares"
    result = out["result"]
    assert result["seed_example_error"] == 22.0
    assert result["solution"]["b"] == pytest.approx(4.107299, abs=1e-6)
    assert result["solution"]["m"] == pytest.approx(2.218978, abs=1e-6)
    np.testing.assert_allclose(result["seed_001_theta"], [98.104, -13.029, 1.133], atol=1e-3)
    assert result["min_error_increase_nearby"] > 0
    assert out["checks"] and all(c["passed"] for c in out["checks"])
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_bad_argument_exits_2(capsys):
    assert main(["run", "least-squares", "--nearby", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("jaxdl: error:") and err.count("\n") == 1
