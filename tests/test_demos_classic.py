"""Smoke tests of the classic demos: each prints the seed's numbers."""

import pytest

from tests.scripts import load_script


def _demo(name: str):
    return load_script("demos", name)


def _seed_debye_prints(start=0.5, learning_rate=0.01, steps=60):
    lines, current_x = [], start
    for _ in range(steps):
        previous_x = current_x
        current_x += -learning_rate * (5 * previous_x**4 - 6 * previous_x**2)
        lines.append(previous_x)
    return lines, current_x


def test_gradient_descent_demo(capsys):
    _demo("gradient_descent").main([])
    lines = capsys.readouterr().out.splitlines()
    printed, final = _seed_debye_prints()
    assert [float(v) for v in lines[:60]] == pytest.approx(printed, rel=1e-13)
    assert (
        lines[60]
        == f"The local minimum occurs at {final:f}"
        == "The local minimum occurs at 1.092837"
    )
    assert lines[61] == "After 60 iterations x = 1.092837"


def test_gradient_descent_demo_options(capsys):
    _demo("gradient_descent").main(["--steps", "3", "--lr", "0.02"])
    lines = capsys.readouterr().out.splitlines()
    printed, _ = _seed_debye_prints(learning_rate=0.02, steps=3)
    assert [float(v) for v in lines[:3]] == pytest.approx(printed, rel=1e-13)
    assert lines[4] == "After 3 iterations x = " + f"{_seed_debye_prints(0.5, 0.02, 3)[1]:.6f}"


def test_least_squares_demo(capsys):
    _demo("least_squares").main()
    out = capsys.readouterr().out
    assert "compute_error_for_line_given_points(1, 2, [[3,6],[6,9],[12,18]]) = 22.0" in out
    assert "b = 4.107299, m = 2.218978, error = 0.034745" in out
    assert "theta0 : 98.104083, theta1 : -13.028774, theta2 : 1.132818" in out
    assert "rank 1 < 2" in out


def test_linear_regression_demo(capsys):
    _demo("linear_regression").main([])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Starting gradient descent at b = 1, m = 1, error = 17.670000"
    assert lines[2] == "After 100 iterations b = 3.304462, m = 2.966063, error = 0.117058"
    assert "b = 4.107299, m = 2.218978, error = 0.034745" in lines[3]
    assert lines[4] == (
        "Done: theta0 : 97.719942, theta1 : -13.224322, theta2 : 1.341832 (2608 passes)"
    )


def test_linear_regression_demo_rejects_bad_options():
    with pytest.raises(ValueError, match="learning rate"):
        _demo("linear_regression").main(["--lr", "-1"])
