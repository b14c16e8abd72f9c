"""LeCun et al. 1989: the 9760-parameter network, its hand backpropagation, the diagonal
Newton method's curvature against the exact Gauss-Newton diagonal, and small training runs."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jaxdl.cli import main
from jaxdl.data import digits
from jaxdl.milestones import zip_code as zc
from tests.scripts import load_script
from tests.strategies import float_arrays

TINY = dict(passes=2, train_size=300, test_size=100)


# ------------------------------------------------------------------------- the network


def test_parameter_count_per_layer_is_the_papers():
    params = zc.init_params(key=jax.random.key(0))
    assert zc.layer_sizes(params) == {"h1": 1068, "h2": 2592, "h3": 5790, "out": 310}
    assert zc.layer_sizes(params) == zc.PARAMETERS_PER_LAYER
    assert sum(np.size(p) for p in params) == zc.PARAMETERS == 9760
    # every H1 unit has its own bias; the 25 weights of a map are shared
    assert params.h1_b.shape == (8, 8, 12) and params.h1_w.shape == (5, 5, 1, 12)
    # each H2 map reads 8 distinct H1 maps
    assert all(len(set(row)) == 8 for row in zc.H2_TABLE) and len(zc.H2_TABLE) == 12


@pytest.mark.parametrize(
    "init, fan_ins", [("F", (25, 200, 192, 30)), ("sqrt", (5, 200**0.5, 192**0.5, 30**0.5))]
)
def test_initial_weights_lie_within_2_4_over_the_fan_in(init, fan_ins):
    params = zc.init_params(key=jax.random.key(1), init=init)
    for w, f in zip((params.h1_w, params.h2_w, params.h3_w, params.out_w), fan_ins, strict=True):
        bound = 2.4 / f
        assert float(jnp.abs(w).max()) <= bound and float(jnp.abs(w).max()) > 0.9 * bound
    assert all(float(jnp.abs(b).max()) == 0.0 for b in params[1::2])
    with pytest.raises(ValueError, match="init"):
        zc.init_params(key=jax.random.key(1), init="xavier")


def test_shrink_averages_areas_and_scales_to_plus_minus_one():
    blank, ink = np.zeros((1, 28, 28), np.uint8), np.full((1, 28, 28), 255, np.uint8)
    np.testing.assert_allclose(digits.shrink(blank), -1.0)
    np.testing.assert_allclose(digits.shrink(ink), 1.0, rtol=1e-12)
    a = digits._area_matrix(28, 16)
    np.testing.assert_allclose(a.sum(axis=1), 1.0)  # each output pixel is an average
    np.testing.assert_allclose(a.sum(axis=0), 16 / 28)  # each input pixel counts equally
    dot = np.zeros((1, 28, 28), np.uint8)
    dot[0, 14, 14] = 255
    small = (digits.shrink(dot) + 1) / 2 * 255  # back to ink units: the total ink is kept
    assert small.sum() * (28 / 16) ** 2 == pytest.approx(255.0)
    with pytest.raises(ValueError, match="uint8"):
        digits.shrink(np.zeros((1, 28, 28)))


def test_the_stand_in_data():
    train, test = digits.load_digits("sample", train_size=zc.PAPER_TRAIN, test_size=zc.PAPER_TEST)
    assert train.images.shape == (7291, 16, 16, 1) and test.images.shape == (2000, 16, 16, 1)
    assert float(train.images.min()) == -1.0 and float(train.images.max()) <= 1.0
    np.testing.assert_array_equal(jnp.argmax(train.targets, axis=1), train.labels)
    assert set(np.unique(np.asarray(train.targets))) == {-1.0, 1.0}


# ------------------------------------------------------------ hand gradients and curvature

_LOSS_GRAD = jax.jit(zc.loss_grad)
_AUTO_GRAD = jax.jit(jax.grad(zc.loss))
# the chapter's own compiled programs (run() checks the curvature with them: compiled once)
_CURVATURE = zc._curvature_jit
_GAUSS_NEWTON = zc._gauss_newton_jit


@jax.jit
def _random_params(key: jax.Array, scale: jax.Array) -> zc.Params:
    params = zc.init_params(key=key)
    keys = jax.random.split(jax.random.fold_in(key, 1), len(params))
    return zc.Params(
        *(
            p * scale + 0.1 * jax.random.normal(k, p.shape)
            for p, k in zip(params, keys, strict=True)
        )
    )


def _params(seed: int, scale: float) -> zc.Params:
    """Random weights (initial ones, scaled, plus noise: nonzero biases) in one compiled call."""
    return _random_params(jax.random.key(seed), jnp.asarray(scale))


@given(
    seed=st.integers(0, 2**16),
    scale=st.floats(0.5, 2.0),
    x=float_arrays((1, 16, 16, 1), -1, 1),
    label=st.integers(0, 9),
)
def test_backpropagation_is_jax_grad(seed, scale, x, label):
    params = _params(seed, scale)
    t = jnp.where(jnp.arange(10)[None] == label, 1.0, -1.0)
    hand, auto = _LOSS_GRAD(params, x, t), _AUTO_GRAD(params, x, t)
    for h, a in zip(hand, auto, strict=True):
        np.testing.assert_allclose(h, a, rtol=1e-10, atol=1e-13)


@given(seed=st.integers(0, 2**16), scale=st.floats(0.5, 2.0), x=float_arrays((1, 16, 16, 1), -1, 1))
def test_curvature_is_the_exact_gauss_newton_diagonal_where_one_path_leads_to_the_outputs(
    seed, scale, x
):
    params = _params(seed, scale)
    hand, exact = _CURVATURE(params, x), _GAUSS_NEWTON(params, x)
    for name in ("h3_w", "h3_b", "out_w", "out_b"):
        np.testing.assert_allclose(
            getattr(hand, name), getattr(exact, name), rtol=1e-10, atol=1e-16, err_msg=name
        )
    for name in ("h1_w", "h1_b", "h2_w", "h2_b"):  # cross terms dropped: an estimate, >= 0
        h, g = np.asarray(getattr(hand, name)), np.asarray(getattr(exact, name))
        assert (h >= 0).all() and not np.allclose(h, g, rtol=1e-6), name


def test_one_layer_net_the_estimate_is_exact():
    # With H1..H3 frozen, the output layer is a one-layer tanh net on H3's outputs: exact.
    params = _params(0, 1.0)
    x = jax.random.uniform(jax.random.key(5), (1, 16, 16, 1), minval=-1, maxval=1)

    @jax.jit
    def exact_diagonal(params, x):
        h3 = zc.forward(params, x).h3
        jac = jax.jacrev(lambda w: jnp.tanh(h3 @ w + params.out_b[None]))(params.out_w)
        return 2 / 10 * jnp.sum(jac[0] ** 2, axis=0)  # jac [1, 10, 30, 10] -> [30, 10]

    np.testing.assert_allclose(_CURVATURE(params, x).out_w, exact_diagonal(params, x), rtol=1e-12)


def test_run_measures_how_far_the_lower_layers_are(tiny_report):
    acc = tiny_report.result["curvature_vs_gauss_newton"]
    for layer in ("h3", "out"):
        assert acc[layer]["median_ratio"] == pytest.approx(1.0, abs=1e-10)
        assert acc[layer]["max_relative_error"] < 1e-10
    assert acc["h1"]["max_relative_error"] > 1e-3 and acc["h2"]["max_relative_error"] > 1e-3


# ------------------------------------------------------------------------------ training


@pytest.fixture(scope="module")
def tiny_report():
    return zc.run(zc.Config(**TINY))


def test_both_methods_learn_and_the_table_is_printed(tiny_report):
    result = tiny_report.result
    assert list(result["table"]) == [
        "paper (1989)",
        "lecun1989-repro, SGD (2022)",
        "jaxdl, SGD",
        "jaxdl, diagonal Newton",
    ]
    for method in ("sgd", "newton"):
        curve = result["curves"][method]["train_mse"]
        assert curve.shape == (3,) and curve[-1] < curve[0]
        assert result["curves"][method]["test_error"][-1] < 0.5
    assert tiny_report.checks_passed and len(tiny_report.checks) == 1
    assert "| paper (1989) | 0.14% | 5.00% | 2.50e-03 | 1.80e-02 |" in zc.format_table(result)
    assert json.dumps(tiny_report.as_json())  # JSON-ready


def test_plot_draws_curves_kernels_and_misses(tiny_report, tmp_path):
    from jaxdl.plotting import save_figure

    fig = zc.plot(tiny_report)
    assert len(fig.axes) == 1 + 12 + 10
    assert save_figure(fig, tmp_path / "z.png").read_bytes()[:4] == b"\x89PNG"


def test_training_compiles_once_per_setting_and_takes_the_paper_order(tiny_report):
    # the fixture compiled this setting (sizes, passes, method); new step sizes reuse it
    train, test = digits.load_digits(
        "sample", train_size=TINY["train_size"], test_size=TINY["test_size"]
    )
    params = zc.init_params(key=jax.random.key(0))
    before = zc._one_pass._cache_size()
    result = zc.train(params, train, test, method="sgd", passes=2, learning_rate=0.02)
    assert zc._one_pass._cache_size() == before
    # one digit at a time, in order, pass after pass: the steps taken by hand
    step = jax.jit(zc.sgd_step)
    hyper = zc.Hyper(*(jnp.asarray(v) for v in (0.02, 0.0, 0.0, 0.0)))
    by_hand = params
    for _ in range(2):
        for i in range(TINY["train_size"]):
            by_hand = step(by_hand, train.images[i : i + 1], train.targets[i : i + 1], hyper)
    for a, b in zip(result.params, by_hand, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_newton_step_divides_by_mu_plus_the_running_curvature():
    train, _ = digits.load_digits("sample", train_size=2, test_size=1)
    params = zc.init_params(key=jax.random.key(0))
    h = jax.tree.map(lambda p: jnp.full_like(p, 0.5), params)
    hyper = zc.Hyper(0.0, 1e-3, 0.02, 0.25)
    x, t = train.images[:1], train.targets[:1]
    new, h_new = jax.jit(zc.newton_step)(params, h, x, t, hyper)
    g, c = _LOSS_GRAD(params, x, t), _CURVATURE(params, x)
    for name in zc.Params._fields:
        expected_h = 0.75 * 0.5 + 0.25 * getattr(c, name)
        np.testing.assert_allclose(getattr(h_new, name), expected_h, rtol=1e-12)
        step = 1e-3 / (0.02 + expected_h) * getattr(g, name)
        np.testing.assert_allclose(
            getattr(new, name), getattr(params, name) - step, rtol=1e-12, atol=1e-15
        )


@pytest.mark.parametrize(
    "bad",
    [
        dict(passes=0),
        dict(learning_rate=-1.0),
        dict(mu=0.0),
        dict(gamma=1.5),
        dict(method="adam"),
        dict(init="xavier"),
        dict(train_size=0),
        dict(seed=-1),
    ],
)
def test_config_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        zc.Config(**bad)


def test_paper_flag_means_23_passes():
    assert zc.Config(paper=True, passes=2).total_passes == 23
    assert zc.Config().total_passes == zc.Config().passes


def test_cli_options_become_the_config_and_json_carries_the_table(capsys, monkeypatch, tiny_report):
    seen = []
    monkeypatch.setattr(zc, "run", lambda config: seen.append(config) or tiny_report)
    args = [
        "run",
        "zip-code",
        "--json",
        "--passes",
        "3",
        "--method",
        "sgd",
        "--init",
        "F",
        "--train-size",
        "100",
        "--test-size",
        "50",
        "--mu",
        "0.01",
        "--paper",
    ]
    assert main(args) == 0
    assert seen == [
        zc.Config(
            passes=3, method="sgd", init="F", train_size=100, test_size=50, mu=0.01, paper=True
        )
    ]
    out = json.loads(capsys.readouterr().out)
    assert out["result"]["table"]["paper (1989)"]["test_error"] == 0.05
    assert set(out["result"]["curves"]) == {"sgd", "newton"}
    back = zc.report_from_json(out)  # what the docs page does with the 23-pass run
    assert back.config == tiny_report.config and len(zc.plot(back).axes) == 23


def test_demo_prints_each_pass_and_the_table(capsys, monkeypatch, tiny_report):
    seen = []
    monkeypatch.setattr(zc, "run", lambda config: seen.append(config) or tiny_report)
    load_script("demos", "zip_code").main(["--passes", "2", "--train-size", "300"])
    assert seen[0].passes == 2 and seen[0].train_size == 300 and seen[0].method == "both"
    out = capsys.readouterr().out
    assert "| paper (1989) | 0.14% | 5.00% |" in out and "| jaxdl, diagonal Newton |" in out
    assert out.count("eval: split train.") == 4 and "misses:" in out
