import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jax.test_util import check_grads

from jaxdl import losses
from jaxdl.cli import main
from jaxdl.errors import DivergenceError
from jaxdl.milestones import backprop as bp
from tests.scripts import load_script
from tests.strategies import float_arrays
from tests.trees import assert_trees_match


def _allclose_tree(a, b, rtol=1e-10, atol=1e-12):
    assert_trees_match(a, b, rtol=rtol, atol=atol)


# ---------------------------------------------------------------- seed reproduction


@pytest.fixture(scope="module")
def xor_run():
    batch, params0 = bp.dataset("xor"), bp.seed_init_params()
    return params0, bp.train(params0, batch, steps=60000)


def test_seed_init_draws_what_np_random_seed_1_draws():
    state = np.random.get_state()  # noqa: NPY002 (the seed uses the global RNG)
    try:
        np.random.seed(1)  # noqa: NPY002
        syn0 = 2 * np.random.random((3, 4)) - 1  # noqa: NPY002
        syn1 = 2 * np.random.random((4, 1)) - 1  # noqa: NPY002
    finally:
        np.random.set_state(state)  # noqa: NPY002
    params = bp.seed_init_params()
    np.testing.assert_array_equal(params.syn0, syn0)
    np.testing.assert_array_equal(params.syn1, syn1)


def test_xor_reproduces_the_seed_and_its_numpy_loop(xor_run):
    params0, result = xor_run
    outputs = np.asarray(bp.predict(result.params, bp.XOR_INPUTS))[:, 0]
    np.testing.assert_allclose(outputs, bp.SEED_XOR_OUTPUTS, atol=5e-5)
    syn0, syn1, _, l2 = bp.seed_numpy_loop(
        bp.XOR_INPUTS, bp.XOR_TARGETS, params0.syn0, params0.syn1, steps=60000
    )
    np.testing.assert_allclose(result.params.syn0, syn0, rtol=0, atol=1e-9)
    np.testing.assert_allclose(result.params.syn1, syn1, rtol=0, atol=1e-9)
    np.testing.assert_allclose(l2[:, 0], bp.SEED_XOR_OUTPUTS, atol=5e-5)
    assert result.mean_abs_error.shape == (60000,) and result.loss.shape == (60001,)


def test_litter_rip_reproduces_the_printed_errors():
    batch, params0 = bp.dataset("litter"), bp.seed_init_params()
    result = bp.train(params0, batch, steps=60000, error="y - l2")
    trace = np.asarray(result.mean_abs_error[::10000])
    np.testing.assert_allclose(trace, bp.SEED_LITTER_ERRORS, rtol=6e-4)
    outputs = np.asarray(bp.predict(result.params, batch.x))[:, 0]
    np.testing.assert_allclose(outputs, bp.SEED_LITTER_OUTPUTS, atol=5e-5)
    # the seed's sign convention is the same step, bit for bit
    other = bp.train(params0, batch, steps=60000, error="l2 - y")
    _allclose_tree(result.params, other.params, rtol=0, atol=0)


def test_seed_numpy_loop_prints_the_litter_figures():
    p = bp.seed_init_params()
    _, _, printed, _ = bp.seed_numpy_loop(
        bp.LITTER_INPUTS, bp.LITTER_TARGETS, p.syn0, p.syn1, steps=60000, print_every=10000
    )
    np.testing.assert_allclose(printed, bp.SEED_LITTER_ERRORS, rtol=6e-4)


def test_training_compiles_once_per_configuration():
    batch = bp.dataset("xor")
    bp.train(bp.init_params(key=jax.random.key(0)), batch, steps=7)
    before = bp._train._cache_size()
    bp.train(bp.init_params(key=jax.random.key(1)), batch, steps=7)
    assert bp._train._cache_size() == before


def test_jax_keys_path_learns_xor():
    batch = bp.dataset("xor")
    result = bp.train(bp.init_params(key=jax.random.key(3)), batch, steps=20000)
    assert bool(bp.solved(bp.predict(result.params, batch.x)[None], batch.y)[0])
    assert float(result.loss[-1]) < float(result.loss[0])


# -------------------------------------------------------------- hand gradients
# Jitted once here, so that Hypothesis examples (all of one shape) reuse one compiled program.
_LOSS, _LOSS_GRAD, _AUTO_GRAD = jax.jit(bp.loss), jax.jit(bp.loss_grad), jax.jit(jax.grad(bp.loss))
_SCRATCH_GRAD, _SCRATCH_AUTO = jax.jit(bp.scratch_loss_grad), jax.jit(jax.grad(bp.scratch_loss))
_BCE_LOSS, _BCE_GRAD = jax.jit(bp.bce_loss), jax.jit(bp.bce_loss_grad)
_BCE_AUTO = jax.jit(jax.grad(bp.bce_loss))


@given(
    syn0=float_arrays((3, 4), -3, 3),
    syn1=float_arrays((4, 1), -3, 3),
    x=float_arrays((4, 3), -2, 2),
    y=float_arrays((4, 1), 0, 1),
)
def test_trask_deltas_are_the_gradient_of_half_sse(syn0, syn1, x, y):
    params = bp.Params(jnp.asarray(syn0), jnp.asarray(syn1))
    batch = bp.TrainingSet(jnp.asarray(x), jnp.asarray(y))
    _allclose_tree(_LOSS_GRAD(params, batch), _AUTO_GRAD(params, batch))
    # finite differences (in every argument: weights and data) judge the same function
    check_grads(_LOSS, (params, batch), order=1, modes=["rev"])
    # seed 001's network: the full SSE has exactly twice the gradient
    _allclose_tree(_SCRATCH_GRAD(params, batch), _SCRATCH_AUTO(params, batch))


@given(
    w1=float_arrays((4, 2), -3, 3),
    b1=float_arrays((4, 1), -1, 1),
    w2=float_arrays((1, 4), -3, 3),
    b2=float_arrays((1, 1), -1, 1),
    x=float_arrays((2, 5), -2, 2),
    y=st.lists(st.sampled_from([0.0, 1.0]), min_size=5, max_size=5),
)
def test_seed_002_cross_entropy_gradients(w1, b1, w2, b2, x, y):
    params = bp.BCEParams(*(jnp.asarray(a) for a in (w1, b1, w2, b2)))
    x, y = jnp.asarray(x), jnp.asarray([y])
    _allclose_tree(_BCE_GRAD(params, x, y), _BCE_AUTO(params, x, y))
    check_grads(_BCE_LOSS, (params, x, y), order=1, modes=["rev"])


@given(
    a=float_arrays((3, 2), 0.02, 0.98),
    y=st.lists(st.sampled_from([0.0, 1.0]), min_size=6, max_size=6),
)
def test_binary_cross_entropy_gradient(a, y):
    a, y = jnp.asarray(a), jnp.asarray(y, dtype=jnp.float64).reshape(3, 2)
    np.testing.assert_allclose(
        losses.binary_cross_entropy_grad(a, y),
        jax.grad(losses.binary_cross_entropy)(a, y),
        rtol=1e-10,
    )
    check_grads(lambda p: losses.binary_cross_entropy(p, y), (a,), order=1, modes=["rev"], eps=1e-6)


def test_binary_cross_entropy_value_by_hand():
    a, y = jnp.array([0.5, 0.25]), jnp.array([1.0, 0.0])
    expected = -(np.log(0.5) + np.log(0.75)) / 2
    assert float(losses.binary_cross_entropy(a, y)) == pytest.approx(expected, rel=1e-12)


def test_gradient_checks_all_pass():
    checks = bp.gradient_checks(key=jax.random.key(0))
    assert len(checks) == 3  # the dense stack's three are its op module's (tests/nn)
    assert all(c.passed for c in checks), [c for c in checks if not c.passed]


# ------------------------------------------------------------------ relatives


def test_network_from_scratch_loss_falls_monotonically():
    for seed in range(3):
        params, sse_trace = bp.train_from_scratch(key=jax.random.key(seed))
        trace = np.asarray(sse_trace)
        assert trace.shape == (1501,)
        assert np.all(np.diff(trace) < 0), f"key {seed}: loss rose somewhere"
        assert trace[-1] < 0.01 * trace[0]
        np.testing.assert_allclose(trace[-1], bp.scratch_loss(params, bp.dataset("xor")))


def test_cross_entropy_net_learns_xor_and_rejects_bad_targets():
    x, y = bp.XOR_INPUTS[:, :2].T, bp.XOR_TARGETS.T
    params = bp.init_bce_params(key=jax.random.key(0), n_in=2, hidden=4)
    final, trace = bp.train_bce(params, x, y, steps=3000, learning_rate=1.0)
    assert float(trace[-1]) < 0.1 * float(trace[0])
    with pytest.raises(ValueError, match="binary targets"):
        bp.train_bce(params, x, y * 0.5, steps=10, learning_rate=1.0)
    with pytest.raises(ValueError, match="shapes do not chain"):
        bp.train_bce(params, x.T, y, steps=10, learning_rate=1.0)


def test_cross_entropy_divergence_names_the_step():
    x, y = bp.XOR_INPUTS[:, :2].T, bp.XOR_TARGETS.T
    params = bp.init_bce_params(key=jax.random.key(0), n_in=2, hidden=4)
    with pytest.raises(DivergenceError, match=r"loss became non-finite at step \d+") as info:
        bp.train_bce(params, x, y, steps=50, learning_rate=1e5)
    assert 1 <= info.value.step <= 50


# ------------------------------------------------------------------ many networks


def test_vmapped_networks_match_single_runs_and_one_hidden_unit_fails():
    batch = bp.dataset("xor")
    key = jax.random.key(7)
    outputs = bp.train_many(batch, key=key, count=3, hidden=4, steps=500)
    assert outputs.shape == (3, 4, 1)
    for i, k in enumerate(jax.random.split(key, 3)):
        single = bp.train(bp.init_params(key=k, hidden=4), batch, steps=500)
        np.testing.assert_allclose(outputs[i], bp.predict(single.params, batch.x), rtol=1e-9)
    # one hidden unit (and no output bias) cannot represent XOR; eight nearly always can
    narrow = bp.train_many(batch, key=key, count=50, hidden=1, steps=3000)
    wide = bp.train_many(batch, key=key, count=50, hidden=8, steps=3000)
    assert float(bp.solved(narrow, batch.y).mean()) == 0.0
    assert float(bp.solved(wide, batch.y).mean()) >= 0.8


# ------------------------------------------------------------------ bad input


def test_bad_input_is_one_clear_value_error_each():
    batch, params = bp.dataset("xor"), bp.seed_init_params()
    cases = [
        (params, bp.TrainingSet(batch.x[:, :2], batch.y), "X has 2 columns"),
        (params, bp.TrainingSet(batch.x, batch.y[:3]), "y has shape"),
        (params, bp.TrainingSet(batch.x, batch.y[:, 0]), "y has shape"),
        (bp.Params(params.syn0, params.syn1[:3]), batch, "syn1 has shape"),
        (params, bp.TrainingSet(batch.x.at[0, 0].set(jnp.nan), batch.y), "X contains NaN"),
        (params, bp.TrainingSet(batch.x, batch.y.at[1, 0].set(jnp.nan)), "y contains NaN"),
        (params, bp.TrainingSet(batch.x[0], batch.y), "matrix"),
    ]
    for p, b, message in cases:
        with pytest.raises(ValueError, match=message):
            bp.train(p, b, steps=5)
    for hidden in (0, -1, 2.5):
        with pytest.raises(ValueError, match="hidden width"):
            bp.init_params(key=jax.random.key(0), hidden=hidden)
        with pytest.raises(ValueError, match="hidden"):
            bp.Config(hidden=hidden)
    with pytest.raises(ValueError, match="steps"):
        bp.train(params, batch, steps=0)
    with pytest.raises(ValueError, match="error must be"):
        bp.train(params, batch, steps=5, error="y-l2")
    with pytest.raises(ValueError, match="seeds"):
        bp.Config(seeds=-1)
    with pytest.raises(ValueError, match="binary"):
        bp.check_binary_targets(np.array([0.0, 2.0]))


def test_divergence_names_the_step():
    # Trask's loss is bounded by N/2, so only an overflowing step can break it: absurd targets
    # (1e150) and step size (1e200) make the first update infinite, the second loss NaN.
    batch = bp.dataset("xor")
    batch = bp.TrainingSet(batch.x, batch.y * 1e150)
    with pytest.raises(DivergenceError, match="loss became non-finite at step 1;") as info:
        bp.train(bp.seed_init_params(), batch, steps=20, learning_rate=1e200)
    assert info.value.step == 1


# ------------------------------------------------------------------ command line


def test_cli_default_run_reproduces_the_seed(tmp_path, capsys):
    plot = tmp_path / "backprop.png"
    assert main(["run", "backprop", "--json", "--plot", str(plot)]) == 0
    out = json.loads(capsys.readouterr().out)
    result = out["result"]
    np.testing.assert_allclose(result["outputs"], bp.SEED_XOR_OUTPUTS, atol=5e-5)
    assert len(result["error_trace"]) == 6
    assert "success_rate" not in result
    assert out["checks"] and all(c["passed"] for c in out["checks"])
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_litter_with_seeds(capsys):
    args = ["run", "backprop", "--data", "litter", "--steps", "600", "--seeds", "8"]
    assert main([*args, "--init", "key", "--hidden", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)["result"]
    assert len(result["outputs"]) == 4
    assert len(result["error_trace"]) == 6 and result["error_trace_steps"][1] == 100
    assert 0.0 <= result["success_rate"] <= 1.0


@pytest.mark.parametrize(
    "args",
    [["--hidden", "0"], ["--steps", "0"], ["--seeds", "-2"], ["--lr", "nan"]],
)
def test_cli_bad_arguments_exit_2(args, capsys):
    assert main(["run", "backprop", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("jaxdl: error:") and err.count("\n") == 1


# ------------------------------------------------------------------ demo and benchmark


def _script(folder: str, name: str = "backprop"):
    return load_script(folder, name)


def test_demo_prints_the_seed_figures(capsys):
    _script("demos").main()
    lines = capsys.readouterr().out.splitlines()
    printed = [float(line.split(": ")[1]) for line in lines if line.startswith("Avg l2_error")]
    np.testing.assert_allclose(printed, bp.SEED_LITTER_ERRORS, rtol=6e-4)
    assert "Output After Training:" in lines
    assert lines[-1] == "XOR output after 60000 steps: [0.0026 0.9967 0.997  0.0039]"


def test_benchmark_smoke(capsys):
    figures = _script("benchmarks").main(
        ["--steps", "60", "--count", "4", "--widths", "2", "--repeats", "1"]
    )
    assert figures["jaxdl_steady_s"] > 0 and 0 <= figures["width_2"]["success_rate"] <= 1
    assert figures["width_2"]["plain_steady_s"] > 0
    out = capsys.readouterr().out
    assert "steady state" in out and "jaxdl / plain" in out
