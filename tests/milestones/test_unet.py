import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from jax.test_util import check_grads

from jaxdl import losses
from jaxdl.cli import main
from jaxdl.gradcheck import check_gradient
from jaxdl.milestones import unet as milestone
from jaxdl.milestones import unet as ml
from tests.scripts import load_script

SHAPES = [(5,), (2, 3, 3, 1)]  # few shapes: one compile each
FEATURE_SHAPES = [(1, 3, 3, 1), (2, 4, 4, 2)]


def probabilities(shape):
    return hnp.arrays(np.float64, shape, elements=st.floats(0.02, 0.98))


def labels_with_nans(shape):
    return st.tuples(
        hnp.arrays(np.float64, shape, elements=st.sampled_from([0.0, 1.0])),
        hnp.arrays(np.bool_, shape),
    ).map(lambda t: np.where(t[1], np.nan, t[0]))


@st.composite
def problems(draw):
    shape = draw(st.sampled_from(SHAPES))
    return draw(probabilities(shape)), draw(labels_with_nans(shape))


_bce = jax.jit(ml.masked_bce)
_bce_grad = jax.jit(ml.masked_bce_grad)
_bce_auto = jax.jit(jax.grad(ml.masked_bce))
_logit = jax.jit(ml.masked_bce_with_logits)
_logit_grad = jax.jit(ml.masked_bce_with_logits_grad)
_logit_auto = jax.jit(jax.grad(ml.masked_bce_with_logits))


@given(
    st.sampled_from(SHAPES).flatmap(
        lambda s: st.tuples(
            probabilities(s), hnp.arrays(np.float64, s, elements=st.sampled_from([0.0, 1.0]))
        )
    )
)
def test_without_nan_equals_plain_bce(case):
    a, y = case
    np.testing.assert_allclose(_bce(a, y), losses.binary_cross_entropy(a, y), rtol=1e-12)
    np.testing.assert_allclose(_bce_grad(a, y), losses.binary_cross_entropy_grad(a, y), rtol=1e-12)
    z = np.log(a) - np.log1p(-a)
    np.testing.assert_allclose(_logit(z, y), losses.binary_cross_entropy(a, y), rtol=1e-9)


@given(problems())
def test_hand_gradient_equals_autodiff_and_masked_entries_get_zero(case):
    a, y = case
    masked = np.isnan(y)
    for auto in (_bce_auto(a, y), _bce_grad(a, y)):
        assert np.all(np.isfinite(auto))
        assert np.all(np.asarray(auto)[masked] == 0.0)  # exactly zero
    np.testing.assert_allclose(_bce_grad(a, y), _bce_auto(a, y), rtol=1e-10, atol=1e-14)
    z = np.log(a) - np.log1p(-a)
    np.testing.assert_allclose(_logit_grad(z, y), _logit_auto(z, y), rtol=1e-10, atol=1e-14)
    assert np.all(np.asarray(_logit_auto(z, y))[masked] == 0.0)


@given(problems(), st.sampled_from([0.0, 1.0, np.nan, np.inf]))
def test_nan_labels_anywhere_keep_gradients_finite(case, junk):
    # The trap: a prediction of exactly 0 or 1 (log 0) or junk behind a NaN label must not leak.
    a, y = case
    masked = np.isnan(y)
    assume(masked.any())
    a = np.where(masked, junk, a)
    value = _bce(a, y)
    grad = _bce_auto(a, y)
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    assert np.all(np.asarray(grad)[masked] == 0.0)
    np.testing.assert_allclose(value, _bce(np.where(masked, 0.5, a), y), rtol=1e-15)
    assert np.all(np.isfinite(_logit_auto(np.where(masked, junk, 0.0), y)))


def test_unguarded_version_shows_the_trap():
    # Masking only the output (jnp.where after the log) gives NaN gradients: what we avoid.
    a = jnp.array([0.0, 0.3])
    y = jnp.array([jnp.nan, 1.0])

    def naive(a):
        per = y * jnp.log(a) + (1 - y) * jnp.log1p(-a)
        return -jnp.sum(jnp.where(jnp.isnan(y), 0.0, per))

    assert np.isfinite(naive(a))
    assert not np.isfinite(jax.grad(naive)(a)).all()
    assert np.isfinite(jax.grad(ml.masked_bce)(a, y)).all()


def test_all_masked_is_zero():
    a = jnp.full((3,), 0.4)
    y = jnp.full((3,), jnp.nan)
    assert float(ml.masked_bce(a, y)) == 0.0
    assert np.all(np.asarray(jax.grad(ml.masked_bce)(a, y)) == 0.0)


@given(
    st.sampled_from(FEATURE_SHAPES).flatmap(
        lambda s: hnp.arrays(np.float64, s, elements=st.floats(-5, 5))
    )
)
def test_symmetry_term_zero_exactly_for_symmetric_maps(f):
    sym = f + np.swapaxes(f, 1, 2)
    assert float(ml.symmetry_mse(sym)) == 0.0
    assert np.all(np.asarray(ml.symmetry_mse_grad(sym)) == 0.0)
    anti = f - np.swapaxes(f, 1, 2)
    assume(np.abs(anti).max() > 1e-6)
    assert float(ml.symmetry_mse(f)) > 0.0


_sym_auto = jax.jit(jax.grad(ml.symmetry_mse))
_sym_grad = jax.jit(ml.symmetry_mse_grad)


@given(
    st.sampled_from(FEATURE_SHAPES).flatmap(
        lambda s: hnp.arrays(np.float64, s, elements=st.floats(-5, 5))
    )
)
def test_symmetry_gradient_equals_autodiff(f):
    np.testing.assert_allclose(_sym_grad(f), _sym_auto(f), rtol=1e-10, atol=1e-14)


def test_combined_loss_three_way_checks():
    for check in ml.gradient_checks(key=jax.random.key(0)):
        assert check.passed, check
    a = jnp.array([[0.2, 0.7], [0.4, 0.9]]).reshape(1, 2, 2, 1)
    y = jnp.array([[1.0, jnp.nan], [0.0, 1.0]]).reshape(1, 2, 2, 1)
    f = jnp.arange(8.0).reshape(1, 2, 2, 2)
    check_grads(
        jax.jit(lambda a, f: ml.masked_symmetric_loss(a, y, f, alpha=0.5)),
        (a, f),
        order=1,
        modes=["rev"],
    )
    c = check_gradient(
        "combined",
        jax.jit(lambda p: ml.masked_symmetric_loss(p[0], y, p[1], alpha=0.5)),
        jax.jit(lambda p: ml.masked_symmetric_loss_grad(p[0], y, p[1], alpha=0.5)),
        (a, f),
    )
    assert c.passed
    # Value by hand: mean BCE over the 3 labelled pixels plus 0.5 * mean((F - F^T)^2).
    bce = -(np.log(0.2) + np.log(0.6) + np.log(0.9)) / 3
    d = np.asarray(f - jnp.swapaxes(f, 1, 2))
    assert float(ml.masked_symmetric_loss(a, y, f, alpha=0.5)) == pytest.approx(
        bce + 0.5 * np.mean(d**2), rel=1e-12
    )


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: ml.masked_bce(jnp.ones((2, 2)) / 2, jnp.ones((4,))), "predictions have shape"),
        (lambda: ml.symmetry_mse(jnp.ones((1, 2, 3, 1))), "H == W"),
        (lambda: ml.symmetry_mse(jnp.ones((2, 2))), r"\[B, H, W, C\]"),
        (
            lambda: ml.masked_symmetric_loss(
                jnp.ones(2) / 2, jnp.ones(2), jnp.ones((1, 2, 2, 1)), alpha=-1.0
            ),
            "alpha must be >= 0",
        ),
        (
            lambda: ml.masked_symmetric_loss(
                jnp.ones(2) / 2, jnp.ones(2), jnp.ones((1, 2, 2, 1)), alpha=float("nan")
            ),
            "alpha must be a finite number",
        ),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# The CLI test and the demo test share one real run (training twice is the slow part).
_real_run, _runs = milestone.run, {}


def _shared_run(config):
    if config not in _runs:
        _runs[config] = _real_run(config)
    return _runs[config]


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
