import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from jaxdl.cli import main
from jaxdl.gradcheck import check_gradient
from jaxdl.milestones import tabular_mlp
from jaxdl.milestones.tabular_mlp import (
    Dense,
    Sequential,
    forward,
    init_params,
    loss_and_grad,
    loss_value,
    predict,
)
from tests.scripts import load_script
from tests.strategies import float_arrays

# A few fixed architectures: Hypothesis draws the numbers, not the shapes (no recompiles).
ARCHITECTURES = {
    "seed": ((Dense(12, "relu"), Dense(8, "relu"), Dense(1, "sigmoid")), "binary_crossentropy"),
    "tanh-linear-mse": ((Dense(5, "tanh"), Dense(3, None), Dense(2, None)), "mse"),
    "softplus-sigmoid-mse": ((Dense(4, "softplus"), Dense(2, "sigmoid")), "mse"),
}


@functools.cache
def _hand_and_autodiff(name):
    """One jitted function per architecture: Hypothesis examples reuse its compilation."""
    layers, loss = ARCHITECTURES[name]

    @jax.jit
    def both(params, x, y):
        hand = loss_and_grad(layers, params, x, y, loss=loss)
        auto = jax.value_and_grad(lambda p: loss_value(layers, p, x, y, loss=loss))(params)
        _, _, pre = forward(layers, params, x)
        margins = [
            jnp.min(jnp.abs(z))
            for layer, z in zip(layers, pre, strict=True)
            if layer.activation == "relu"
        ]
        return hand, auto, jnp.min(jnp.stack(margins)) if margins else jnp.inf

    return both


def _point(name, seed, x=None):
    layers, _ = ARCHITECTURES[name]
    k_params, k_y, k_x = jax.random.split(jax.random.key(seed), 3)
    params = init_params(layers, 3, key=k_params, dtype=jnp.float64)
    y = jax.random.bernoulli(k_y, 0.5, (6, layers[-1].units)).astype(jnp.float64)
    if x is None:
        x = jax.random.normal(k_x, (6, 3), jnp.float64)
    return params, jnp.asarray(x), y


@given(
    name=st.sampled_from(sorted(ARCHITECTURES)),
    x=float_arrays((6, 3), -2, 2),
    seed=st.integers(0, 2**16),
)
def test_hand_backprop_matches_autodiff(name, x, seed):
    params, x, y = _point(name, seed, x)
    (value, hand), (auto_value, auto), relu_margin = _hand_and_autodiff(name)(params, x, y)
    # ReLU has no derivative at 0: stay away from the kink in every ReLU layer.
    assume(float(relu_margin) > 1e-4)
    assert float(value) == pytest.approx(float(auto_value), rel=1e-12)
    for h, a in zip(jax.tree.leaves(hand), jax.tree.leaves(auto), strict=True):
        np.testing.assert_allclose(h, a, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_hand_backprop_matches_finite_differences(name):
    layers, loss = ARCHITECTURES[name]
    params, x, y = _point(name, 7)
    check = check_gradient(
        name,
        jax.jit(lambda p: loss_value(layers, p, x, y, loss=loss)),
        jax.jit(lambda p: loss_and_grad(layers, p, x, y, loss=loss)[1]),
        params,
    )
    assert check.passed, check


def _blobs(n=120, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(size=(n, 2)) + 2.0 * y[:, None]
    return x, y


def test_fit_learns_separable_blobs_and_compiles_once():
    x, y = _blobs()
    model = Sequential([Dense(8, "relu"), Dense(1, "sigmoid")]).build(2, key=jax.random.key(0))
    model.compile(optax.adam(0.01), "binary_crossentropy")
    history = model.fit(
        x, y, epochs=30, batch_size=16, key=jax.random.key(1), validation_data=(x, y)
    )
    assert history.loss.shape == (30,) and history.val_accuracy.shape == (30,)
    assert history.loss[-1] < history.loss[0]
    assert model.evaluate(x, y)["accuracy"] > 0.9
    assert history.val_accuracy[-1] == pytest.approx(model.evaluate(x, y)["accuracy"])
    assert model.predict(x[:5]).shape == (5, 1)
    assert model.params[0].w.dtype == jnp.float32
    # A second fit with the same shapes reuses the trainer's compiled loop.
    from jaxdl.training import trainer

    before = trainer._chunk._cache_size()
    model.fit(x, y, epochs=30, batch_size=16, key=jax.random.key(2), validation_data=(x, y))
    assert trainer._chunk._cache_size() == before


def test_optax_sgd_matches_hand_update():
    x, y = _blobs(20)
    model = Sequential([Dense(3, "tanh"), Dense(1, "sigmoid")]).build(2, key=jax.random.key(0))
    model.compile(optax.sgd(0.1), "binary_crossentropy")
    start = model.params
    model.fit(x, y, epochs=1, batch_size=20, key=jax.random.key(0))
    _, grads = loss_and_grad(
        model.layers,
        start,
        x.astype(np.float32),
        y[:, None].astype(np.float32),
        loss="binary_crossentropy",
    )
    expected = jax.tree.map(lambda p, g: p - 0.1 * g, start, grads)
    for a, b in zip(jax.tree.leaves(model.params), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_summary_counts_parameters():
    model = Sequential([Dense(12, "relu"), Dense(8, "relu"), Dense(1, "sigmoid")])
    model.build(8, key=jax.random.key(0))
    # Keras' count for seed 001's model: 8*12+12 + 12*8+8 + 8+1 = 221.
    assert model.summary().endswith("total params: 221")
    assert predict(model.layers, model.params, np.zeros((2, 8))).shape == (2, 1)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Sequential([]), "at least one Dense"),
        (lambda: Sequential([Dense(0, "relu")]), "units must be a positive integer"),
        (lambda: Sequential([Dense(3, "swish")]), "unknown activation 'swish'"),
        (lambda: Sequential([Dense(3, "heaviside")]), "unknown activation"),
        (lambda: Sequential([(3, "relu")]), "must be a Dense"),
        (
            lambda: Sequential([Dense(1, None)]).compile(optax.adam(0.1), "binary_crossentropy"),
            "sigmoid output",
        ),
        (
            lambda: Sequential([Dense(1, "sigmoid")]).compile(optax.adam(0.1), "hinge"),
            "unknown loss",
        ),
        (
            lambda: Sequential([Dense(1, "sigmoid")]).compile("adam", "mse"),
            "optax.GradientTransformation",
        ),
        (
            lambda: Sequential([Dense(1, "sigmoid")]).evaluate(np.zeros((2, 2)), np.zeros(2)),
            "not built",
        ),
        (lambda: Sequential([Dense(1, "sigmoid")]).build(0, key=jax.random.key(0)), "input_dim"),
    ],
)
def test_bad_models(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.fixture
def model():
    m = Sequential([Dense(2, "relu"), Dense(1, "sigmoid")]).build(2, key=jax.random.key(0))
    return m.compile(optax.adam(0.01), "binary_crossentropy")


@pytest.mark.parametrize(
    "x, y, kwargs, match",
    [
        (np.zeros((4, 3)), np.zeros(4), {}, r"shape \[N, 2\]"),
        (np.zeros((4, 2)), np.zeros(5), {}, "targets must have shape"),
        (np.full((4, 2), np.nan), np.zeros(4), {}, "NaN"),
        (np.zeros((0, 2)), np.zeros(0), {}, "empty"),
        (np.zeros((4, 2)), np.zeros(4), {"epochs": 0}, "epochs"),
        (np.zeros((4, 2)), np.zeros(4), {"batch_size": 5}, "exceeds the 4"),
    ],
)
def test_bad_fit_input(model, x, y, kwargs, match):
    settings = dict(epochs=1, batch_size=2, key=jax.random.key(0)) | kwargs
    with pytest.raises(ValueError, match=match):
        model.fit(x, y, **settings)


def test_fit_before_compile():
    m = Sequential([Dense(1, "sigmoid")]).build(2, key=jax.random.key(0))
    with pytest.raises(ValueError, match="not compiled"):
        m.fit(np.zeros((4, 2)), np.zeros(4), epochs=1, batch_size=2, key=jax.random.key(0))


@pytest.fixture(scope="module")
def seed_run():
    """Seed 001's full run: 150 epochs, batches of 10, Adam 1e-3 (one jitted scan)."""
    return tabular_mlp.run(tabular_mlp.Config())


def test_seed_run_beats_the_majority_baseline_on_held_out_rows(seed_run):
    result = seed_run.result
    assert result["majority_baseline"] == pytest.approx(223 / 332)
    # Measured 0.741 (seed 0); the margin covers float and platform differences.
    assert result["test_accuracy"] >= 0.72
    assert result["test_accuracy"] >= result["majority_baseline"] + 0.04
    assert result["train_accuracy"] > result["test_accuracy"]  # 150 epochs overfit 200 rows
    assert result["last_epoch_loss"] < 0.5 * result["first_epoch_loss"]
    assert seed_run.checks_passed


def test_plot(seed_run, tmp_path):
    from jaxdl.plotting import save_figure

    path = save_figure(tabular_mlp.plot(seed_run), tmp_path / "t.png")
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_gradient_checks():
    import jax

    checks = tabular_mlp.gradient_checks(key=jax.random.key(0))
    assert checks and all(c.passed for c in checks)


def test_cli_short_run_and_listing(capsys):
    assert main(["run", "tabular-mlp", "--epochs", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["config"]["epochs"] == 3 and 0.0 <= out["result"]["test_accuracy"] <= 1.0
    assert main(["list", "--json"]) == 0
    listed = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    assert listed["tabular-mlp"]["year"] == 2015 and "PIMA" in listed["tabular-mlp"]["summary"]


@pytest.mark.parametrize(
    "args", [["--epochs", "0"], ["--batch-size", "201"], ["--lr", "-1"], ["--batch-size", "0"]]
)
def test_cli_bad_arguments_exit_2(args, capsys):
    assert main(["run", "tabular-mlp", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("jaxdl: error:") and err.count("\n") == 1


def test_demo(capsys):
    demo = load_script("demos", "tabular_mlp")
    scores = demo.main(epochs=20)
    out = capsys.readouterr().out
    assert "200 train rows, 332 test rows" in out and "total params: 209" in out
    assert "Epoch 20/20 - loss:" in out and "held-out test acc:" in out
    assert 0.6 < scores["accuracy"] <= 1.0
